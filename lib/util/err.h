/*
 * Error reporting shared by every libremus module.
 *
 * Library functions return 0 or a negative code: -errno for a failed system
 * call, or a module's own named negative code for bad data.  The human
 * message goes into the caller's `struct remus_err`; libraries never print.
 */
#ifndef REMUS_UTIL_ERR_H
#define REMUS_UTIL_ERR_H

#include <stddef.h>

#define REMUS_ERR_MSG_MAX 512

struct remus_err {
	int code;                     /* last error code, 0 if none */
	char msg[REMUS_ERR_MSG_MAX];  /* what failed, where, and what to do */
};

/* Record an error and return `code` so callers can `return remus_err_set(...)`. */
int remus_err_set(struct remus_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like remus_err_set for a failed system call: appends strerror(errnum). */
int remus_err_sys(struct remus_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context ("restore: " + old message). */
int remus_err_wrap(struct remus_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void remus_err_clear(struct remus_err *err);

#endif
