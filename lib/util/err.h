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
#include "util/api.h"

REMUS_API_BEGIN

#define REMUS_ERR_MSG_MAX 512

/*
 * One error space: codes cross module borders (an engine returns what the
 * transport or a backend returned), so no two modules' codes may be equal.
 * -1 .. -999 are -errno; each module owns one thousand below, and lists its
 * codes once as MODULE_ERRORS(X), X(name, value, text), from which its enum
 * is made (tests/unit/test_errspace.c checks ranges, collisions and texts).
 */
#define REMUS_ERR_SPAN         1000
#define REMUS_ERR_BASE_NETBUF  (-1000)  /* netbuf/netbuf.h      NETBUF_E*  */
#define REMUS_ERR_BASE_HV      (-2000)  /* lib/hv/hv.h HV_E*; drivers' own from -2101 */
#define REMUS_ERR_BASE_RNET    (-3000)  /* lib/net/net.h        RNET_E*    */
#define REMUS_ERR_BASE_REMUSD  (-4000)  /* remusd/config.h      REMUSD_E*  */
#define REMUS_ERR_BASE_CTL     (-5000)  /* remusd/ctl_proto.h   CTL_E*     */
#define REMUS_ERR_BASE_STREAM  (-6000)  /* lib/stream/stream.h  STREAM_E_* */
#define REMUS_ERR_BASE_DISKREP (-7000)  /* diskrep/diskrep.h    DISKREP_E* */
#define REMUS_ERR_BASE_CKPT    (-8000)  /* lib/ckpt/ckpt.h      CKPT_E*    */
/* Turns one X(name, value, text) of a MODULE_ERRORS list into an enumerator. */
#define REMUS_ERR_ENUM(name, value, text) name = (value),

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

REMUS_API_END

#endif
