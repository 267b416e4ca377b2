/*
 * Logging for programs (remusd, remusctl, pvm, tools) in the OpenBSD daemon
 * style: log_warn()/log_warnx()/log_info()/log_debug(), fatal()/fatalx().
 * Libraries do not log; they return errors (err.h).  The "x" variants do
 * not append strerror(errno).
 */
#ifndef REMUS_UTIL_LOG_H
#define REMUS_UTIL_LOG_H

#include <stdarg.h>

struct log_cfg {
	const char *progname;   /* prefix of every line */
	int verbose;            /* 0 info, 1 debug */
	int to_syslog;          /* 1: syslog/journal instead of stderr */
};

/* Set once from main(); the only writer is main. */
void log_init(const struct log_cfg *cfg);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
