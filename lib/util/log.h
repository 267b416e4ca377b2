/*
 * Logging for programs (remusd, remusctl, pvm, tools) in the OpenBSD daemon
 * style: log_warn()/log_warnx()/log_info()/log_debug(), fatal()/fatalx().
 * Libraries do not log; they return errors (err.h).  The "x" variants do
 * not append strerror(errno).
 *
 * On stderr each line is "2026-12-07T13:05:01.123Z PROG[PID]: message"
 * (UTC, milliseconds).  When stderr is the systemd journal (JOURNAL_STREAM
 * names it) messages go to the journal with PRIORITY=, MESSAGE= and, from
 * log_about(), GUEST= and EPOCH=.
 */
#ifndef REMUS_UTIL_LOG_H
#define REMUS_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <time.h>

struct log_cfg {
	const char *progname;   /* prefix of every line */
	int verbose;            /* 0 info, 1 debug */
	int to_syslog;          /* 1: syslog instead of stderr */
};

/* What a message is about: the journal's GUEST= and EPOCH= fields. */
struct log_about {
	const char *guest;      /* NULL: no guest */
	uint64_t epoch;
	bool has_epoch;
};

/* Set once from main(); the only writer is main.  Detects the journal. */
void log_init(const struct log_cfg *cfg);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A message about one guest (and epoch): pri is LOG_WARNING, LOG_INFO or
 * LOG_DEBUG (the latter only with verbose). */
void log_about(int pri, const struct log_about *about, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "2026-12-07T13:05:01.123Z" (UTC, milliseconds truncated) into buf;
 * the length, or -1 if cap is too small or the time out of range. */
int log_format_time(const struct timespec *ts, char *buf, size_t cap);

/* One stderr line without its newline: "TIME PROG[PID]: msg"; the length
 * (truncated to cap - 1 like snprintf), or -1 on a bad time. */
int log_format_line(char *buf, size_t cap, const struct timespec *ts, const char *prog,
                    pid_t pid, const char *msg);

/* Whether JOURNAL_STREAM ("DEV:INODE", may be NULL) names the stream whose
 * fstat is st: only then is stderr the journal (not merely inherited). */
bool log_stream_is_journal(const char *journal_stream, const struct stat *st);

#endif
