/*
 * A small synchronous QMP client for the device model libxl starts per HVM
 * domain (QEMU's control socket <run dir>/qmp-libxl-<domid>): greeting,
 * qmp_capabilities, then one command at a time, each with an id; events in
 * between are skipped.  Replies are hostile input: one message is at most
 * XEN_QMP_MAX_MSG bytes and XEN_QMP_MAX_DEPTH levels deep, and must be a
 * greeting, a return, an error or an event.
 */
#ifndef REMUS_HV_XEN_QMP_H
#define REMUS_HV_XEN_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "util/err.h"

#define XEN_QMP_MAX_MSG   (64u * 1024u)
#define XEN_QMP_MAX_DEPTH 16
/* How long one command may take (libxl allows the log-dirty switch 10 s). */
#define XEN_QMP_TIMEOUT_MS 10000

/* Codes of QMP failures (beyond -errno of the socket).  The Xen driver's
 * own codes lie in hv's range of the one error space (lib/util/err.h),
 * from -2101 (it was -5001, control protocol's CTL_EPROTO). */
#define XEN_QMP_EPROTO  (-71)    /* -EPROTO: not QMP, or out of order */
#define XEN_QMP_ERRORS(X) \
	X(XEN_QMP_ECMD, -2101, "QEMU answered the command with an error")
enum xen_qmp_error { XEN_QMP_ERRORS(REMUS_ERR_ENUM) };

enum xen_qmp_kind {
	XEN_QMP_GREETING,        /* {"QMP": {"version": ...}} */
	XEN_QMP_RETURN,          /* {"return": ..., "id": N} */
	XEN_QMP_ERROR,           /* {"error": {"class", "desc"}, "id": N} */
	XEN_QMP_EVENT,           /* {"event": "NAME", ...} */
};

/* One classified message; pointers borrow from `obj`. */
struct xen_qmp_msg {
	enum xen_qmp_kind kind;
	struct json_object *obj;  /* the whole message (owned) */
	bool has_id;
	int64_t id;
	struct json_object *ret;  /* RETURN: the "return" value */
	const char *err_class, *err_desc;   /* ERROR */
	const char *event;        /* EVENT: its name */
	int qemu_major, qemu_minor, qemu_micro;  /* GREETING (-1 if absent) */
};
void xen_qmp_msg_free(struct xen_qmp_msg *m);

/* Framing of the byte stream into messages (no I/O: the fuzz target's). */
struct xen_qmp_parser {
	struct json_tokener *tok;
	size_t msg_bytes;         /* bytes fed into the current message */
};
int  xen_qmp_parser_init(struct xen_qmp_parser *p, struct remus_err *err);
void xen_qmp_parser_free(struct xen_qmp_parser *p);
/*
 * Feed up to len bytes: 1 and *out filled when a message completed (*used
 * bytes consumed: feed the rest again), 0 when all len bytes were consumed
 * without completing one, XEN_QMP_EPROTO with a message naming what was
 * wrong otherwise (the parser is then unusable).
 */
int xen_qmp_parser_feed(struct xen_qmp_parser *p, const char *buf, size_t len,
    size_t *used, struct xen_qmp_msg *out, struct remus_err *err);

struct xen_qmp;
/* Connect to the QMP socket at path, read the greeting, negotiate. */
int  xen_qmp_connect(struct xen_qmp **out, const char *path, struct remus_err *err);
void xen_qmp_close(struct xen_qmp *q);
/* Whether the greeting named QEMU >= major.minor.micro. */
bool xen_qmp_version_at_least(const struct xen_qmp *q, int major, int minor, int micro);
/*
 * Run one command.  args (may be NULL) is consumed.  payload_fd >= 0 is
 * passed along with the command (SCM_RIGHTS, as libxl does for add-fd).
 * On success *ret (if not NULL) gets a reference to the "return" value,
 * which the caller puts.  An error reply fails with XEN_QMP_ECMD and QEMU's
 * class and desc in err.
 */
int xen_qmp_exec(struct xen_qmp *q, const char *cmd, struct json_object *args,
    int payload_fd, struct json_object **ret, struct remus_err *err);

#endif
