/*
 * Program logging.  The configuration is the program's, set once by main()
 * through log_init(); it is the one piece of process-wide state here,
 * because a logger has to be reachable from every signal-free call site.
 */
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
/* the entry is about the caller, not this file: no CODE_FILE/LINE/FUNC */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

struct log_state {
	struct log_cfg cfg;
	bool to_journal;
};

static struct log_state log_state = { { "remus", 0, 0 }, false };

bool log_stream_is_journal(const char *journal_stream, const struct stat *st)
{
	unsigned long long dev, ino;
	int end = 0;

	if (journal_stream == NULL ||
	    sscanf(journal_stream, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    journal_stream[end] != 0)
		return false;
	return (unsigned long long)st->st_dev == dev && (unsigned long long)st->st_ino == ino;
}

void log_init(const struct log_cfg *cfg)
{
	struct stat st;

	log_state.cfg = *cfg;
	log_state.to_journal = !cfg->to_syslog && fstat(STDERR_FILENO, &st) == 0 &&
	                       log_stream_is_journal(getenv("JOURNAL_STREAM"), &st);
	if (log_state.cfg.to_syslog)
		openlog(log_state.cfg.progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_format_time(const struct timespec *ts, char *buf, size_t cap)
{
	struct tm tm;
	size_t n;
	int m;

	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L || gmtime_r(&ts->tv_sec, &tm) == NULL)
		return -1;
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return -1;
	m = snprintf(buf + n, cap - n, ".%03ldZ", ts->tv_nsec / 1000000L);
	if (m < 0 || (size_t)m >= cap - n)
		return -1;
	return (int)n + m;
}

int log_format_line(char *buf, size_t cap, const struct timespec *ts, const char *prog,
                    pid_t pid, const char *msg)
{
	char when[64];
	int n;

	if (log_format_time(ts, when, sizeof(when)) < 0)
		return -1;
	n = snprintf(buf, cap, "%s %s[%ld]: %s", when, prog, (long)pid, msg);
	if (n < 0)
		return -1;
	return (size_t)n >= cap ? (int)cap - 1 : n;
}

/* The journal entry: PRIORITY, MESSAGE, the identifier, GUEST, EPOCH. */
static int log_journal(int pri, const struct log_about *about, const char *msg)
{
	char f[5][1200];
	struct iovec iov[5];
	int n = 0;

	snprintf(f[n++], sizeof(f[0]), "PRIORITY=%d", pri);
	snprintf(f[n++], sizeof(f[0]), "MESSAGE=%s", msg);
	snprintf(f[n++], sizeof(f[0]), "SYSLOG_IDENTIFIER=%s", log_state.cfg.progname);
	if (about && about->guest)
		snprintf(f[n++], sizeof(f[0]), "GUEST=%s", about->guest);
	if (about && about->has_epoch)
		snprintf(f[n++], sizeof(f[0]), "EPOCH=%" PRIu64, about->epoch);
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){ .iov_base = f[i], .iov_len = strlen(f[i]) };
	return sd_journal_sendv(iov, n);
}

static void log_vwrite(int pri, int with_errno, const struct log_about *about,
                       const char *fmt, va_list ap)
{
	char buf[1024], line[1200];
	int saved = errno;
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (with_errno) {
		n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(saved));
	}
	if (log_state.cfg.to_syslog) {
		syslog(pri, "%s", buf);
	} else if (!log_state.to_journal || log_journal(pri, about, buf) < 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (log_format_line(line, sizeof(line), &ts, log_state.cfg.progname, getpid(), buf) < 0)
			snprintf(line, sizeof(line), "%s[%ld]: %s", log_state.cfg.progname,
			         (long)getpid(), buf);
		fprintf(stderr, "%s\n", line);
	}
	errno = saved;
}

#define LOG_BODY(pri, e, about) do { va_list ap; va_start(ap, fmt); \
	log_vwrite(pri, e, about, fmt, ap); va_end(ap); } while (0)

void log_warn(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 1, NULL); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 0, NULL); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, 0, NULL); }

void log_debug(const char *fmt, ...)
{
	if (log_state.cfg.verbose)
		LOG_BODY(LOG_DEBUG, 0, NULL);
}

void log_about(int pri, const struct log_about *about, const char *fmt, ...)
{
	if (pri >= LOG_DEBUG && !log_state.cfg.verbose)
		return;
	LOG_BODY(pri, 0, about);
}

void fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1, NULL);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0, NULL);
	exit(1);
}
