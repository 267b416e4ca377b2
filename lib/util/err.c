/* Error messages attached to a caller-owned context (see err.h). */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int remus_err_set(struct remus_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int remus_err_sys(struct remus_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (errnum < 0)
		errnum = -errnum;
	if (err == NULL)
		return -errnum;
	err->code = -errnum;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -errnum;
}

int remus_err_wrap(struct remus_err *err, const char *fmt, ...)
{
	char prefix[REMUS_ERR_MSG_MAX], old[REMUS_ERR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is acceptable: the message is for humans. */
	int n = snprintf(err->msg, sizeof(err->msg), "%.200s: ", prefix);
	if (n > 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, "%.*s",
		    (int)(sizeof(err->msg) - (size_t)n - 1), old);
	return err->code;
}

void remus_err_clear(struct remus_err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
