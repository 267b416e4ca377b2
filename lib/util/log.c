/*
 * Program logging.  The configuration is the program's, set once by main()
 * through log_init(); it is the one piece of process-wide state here,
 * because a logger has to be reachable from every signal-free call site.
 */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static struct log_cfg log_state = { "remus", 0, 0 };

void log_init(const struct log_cfg *cfg)
{
	log_state = *cfg;
	if (log_state.to_syslog)
		openlog(log_state.progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void log_vwrite(int pri, int with_errno, const char *fmt, va_list ap)
{
	char buf[1024];
	int saved = errno;
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (with_errno) {
		n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(saved));
	}
	if (log_state.to_syslog) {
		syslog(pri, "%s", buf);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		fprintf(stderr, "%s[%ld.%03ld]: %s\n", log_state.progname,
		    (long)ts.tv_sec, ts.tv_nsec / 1000000, buf);
	}
	errno = saved;
}

#define LOG_BODY(pri, e) do { va_list ap; va_start(ap, fmt); \
	log_vwrite(pri, e, fmt, ap); va_end(ap); } while (0)

void log_warn(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 1); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, 0); }

void log_debug(const char *fmt, ...)
{
	if (log_state.verbose)
		LOG_BODY(LOG_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}
