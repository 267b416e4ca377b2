/*
 * QMP client for the device model of an HVM domain, the protocol libxl's
 * libxl__ev_qmp speaks (libxl_qmp.c, Xen 4.17): QEMU greets with
 * {"QMP": {"version": {"qemu": {...}}, ...}}, we answer qmp_capabilities,
 * then send {"execute": CMD, "arguments": {...}, "id": N} one at a time and
 * wait for the reply carrying the same id; asynchronous events ({"event":
 * ...}) may arrive at any point and are skipped.  A file descriptor for a
 * command (add-fd) travels with the command's first byte (SCM_RIGHTS).
 */
#include "hv/xen/xen_qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct xen_qmp {
	int fd;
	struct xen_qmp_parser parser;
	char buf[4096];                 /* bytes read, not yet parsed */
	size_t off, len;
	int64_t next_id;
	int qemu_major, qemu_minor, qemu_micro;
	/* After a failure other than QEMU refusing a command (a bad or
	 * misnumbered answer, a hang-up, a timeout) the byte stream is out of
	 * step: the next command reconnects instead of reading stale answers,
	 * so `cont` still reaches QEMU after a bad answer to `stop`. */
	bool broken;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

void xen_qmp_msg_free(struct xen_qmp_msg *m)
{
	if (m->obj != NULL)
		json_object_put(m->obj);
	memset(m, 0, sizeof(*m));
}

int xen_qmp_parser_init(struct xen_qmp_parser *p, struct remus_err *err)
{
	p->msg_bytes = 0;
	p->tok = json_tokener_new_ex(XEN_QMP_MAX_DEPTH);
	if (p->tok == NULL)
		return remus_err_sys(err, ENOMEM, "qmp: allocating the JSON parser");
	json_tokener_set_flags(p->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
	    JSON_TOKENER_VALIDATE_UTF8);
	return 0;
}

void xen_qmp_parser_free(struct xen_qmp_parser *p)
{
	if (p->tok != NULL)
		json_tokener_free(p->tok);
	p->tok = NULL;
}

/* A member of an object with the wanted JSON type, or NULL. */
static struct json_object *member(struct json_object *o, const char *key, json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* QEMU's version from the greeting's QMP.version.qemu (-1 when absent). */
static void classify_greeting(struct json_object *qmp, struct xen_qmp_msg *m)
{
	struct json_object *v = member(qmp, "version", json_type_object), *q, *n;
	int *parts[3] = { &m->qemu_major, &m->qemu_minor, &m->qemu_micro };
	static const char *const names[3] = { "major", "minor", "micro" };

	for (int i = 0; i < 3; i++)
		*parts[i] = -1;
	if (v == NULL || (q = member(v, "qemu", json_type_object)) == NULL)
		return;
	for (int i = 0; i < 3; i++) {
		n = member(q, names[i], json_type_int);
		if (n != NULL) {
			int64_t x = json_object_get_int64(n);
			*parts[i] = x >= 0 && x <= 0xffff ? (int)x : -1;
		}
	}
}

/* What kind of QMP message a parsed object is; the id must be an integer. */
static int classify(struct json_object *o, struct xen_qmp_msg *m, struct remus_err *err)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object))
		return remus_err_set(err, XEN_QMP_EPROTO, "qmp: a message is a JSON %s, not an object",
		    json_type_to_name(json_object_get_type(o)));
	if (json_object_object_get_ex(o, "id", &v)) {
		if (!json_object_is_type(v, json_type_int))
			return remus_err_set(err, XEN_QMP_EPROTO, "qmp: a message's id is not an integer");
		m->has_id = true;
		m->id = json_object_get_int64(v);
	}
	if ((v = member(o, "QMP", json_type_object)) != NULL) {
		m->kind = XEN_QMP_GREETING;
		classify_greeting(v, m);
	} else if (json_object_object_get_ex(o, "return", &v)) {
		m->kind = XEN_QMP_RETURN;
		m->ret = v;
	} else if (json_object_object_get_ex(o, "error", &v)) {
		struct json_object *c, *d;

		if (!json_object_is_type(v, json_type_object) ||
		    (c = member(v, "class", json_type_string)) == NULL ||
		    (d = member(v, "desc", json_type_string)) == NULL)
			return remus_err_set(err, XEN_QMP_EPROTO,
			    "qmp: an error reply without a class and desc string");
		m->kind = XEN_QMP_ERROR;
		m->err_class = json_object_get_string(c);
		m->err_desc = json_object_get_string(d);
	} else if ((v = member(o, "event", json_type_string)) != NULL) {
		m->kind = XEN_QMP_EVENT;
		m->event = json_object_get_string(v);
	} else {
		return remus_err_set(err, XEN_QMP_EPROTO,
		    "qmp: a message that is no greeting, return, error or event");
	}
	return 0;
}

int xen_qmp_parser_feed(struct xen_qmp_parser *p, const char *buf, size_t len,
    size_t *used, struct xen_qmp_msg *out, struct remus_err *err)
{
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t chunk = len;
	int rc;

	memset(out, 0, sizeof(*out));
	*used = 0;
	/* Never let one message grow past the bound, nor json-c's int length. */
	if (chunk > XEN_QMP_MAX_MSG + 1 - p->msg_bytes)
		chunk = XEN_QMP_MAX_MSG + 1 - p->msg_bytes;
	o = json_tokener_parse_ex(p->tok, buf, (int)chunk);
	jerr = json_tokener_get_error(p->tok);
	if (o == NULL && jerr == json_tokener_continue) {
		p->msg_bytes += chunk;
		*used = chunk;
		if (p->msg_bytes > XEN_QMP_MAX_MSG)
			return remus_err_set(err, XEN_QMP_EPROTO,
			    "qmp: a message is longer than %u bytes", XEN_QMP_MAX_MSG);
		return 0;
	}
	if (o == NULL)
		return remus_err_set(err, XEN_QMP_EPROTO, "qmp: bad JSON after %zu bytes of a message: %s",
		    p->msg_bytes + json_tokener_get_parse_end(p->tok), json_tokener_error_desc(jerr));
	*used = json_tokener_get_parse_end(p->tok);
	json_tokener_reset(p->tok);
	p->msg_bytes = 0;
	out->obj = o;
	if ((rc = classify(o, out, err)) < 0) {
		xen_qmp_msg_free(out);
		return rc;
	}
	return 1;
}

/* Wait until fd is ready for events; -ETIMEDOUT after XEN_QMP_TIMEOUT_MS. */
static int qmp_wait(struct xen_qmp *q, short events, const char *what, struct remus_err *err)
{
	struct pollfd pfd = { .fd = q->fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, XEN_QMP_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return remus_err_sys(err, errno, "qmp: waiting to %s on %s", what, q->path);
	if (n == 0)
		return remus_err_set(err, -ETIMEDOUT, "qmp: QEMU did not %s within %u ms (%s)",
		    what, XEN_QMP_TIMEOUT_MS, q->path);
	return 0;
}

/* The next message from QEMU (greeting, reply or event). */
static int qmp_read_msg(struct xen_qmp *q, struct xen_qmp_msg *m, struct remus_err *err)
{
	size_t used;
	ssize_t n;
	int rc;

	for (;;) {
		if (q->off < q->len) {
			rc = xen_qmp_parser_feed(&q->parser, q->buf + q->off, q->len - q->off,
			    &used, m, err);
			q->off += used;
			if (rc != 0)
				return rc < 0 ? remus_err_wrap(err, "%s", q->path) : 0;
			continue;
		}
		q->off = q->len = 0;
		if ((rc = qmp_wait(q, POLLIN, "answer", err)) < 0)
			return rc;
		n = read(q->fd, q->buf, sizeof(q->buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return remus_err_sys(err, errno, "qmp: reading from %s", q->path);
		if (n == 0)
			return remus_err_set(err, -EPIPE, "qmp: QEMU closed %s%s", q->path,
			    q->parser.msg_bytes ? " in the middle of a message" : "");
		q->len = (size_t)n;
	}
}

/* Write all of text; the first byte carries payload_fd when >= 0. */
static int qmp_write(struct xen_qmp *q, const char *text, size_t len, int payload_fd,
    struct remus_err *err)
{
	size_t off = 0;
	ssize_t n;
	int rc;

	while (off < len) {
		if ((rc = qmp_wait(q, POLLOUT, "accept a command", err)) < 0)
			return rc;
		if (payload_fd >= 0 && off == 0) {
			union {
				char buf[CMSG_SPACE(sizeof(int))];
				struct cmsghdr align;
			} ctl;
			struct iovec iov = { .iov_base = (void *)text, .iov_len = 1 };
			struct msghdr mh = {
				.msg_iov = &iov, .msg_iovlen = 1,
				.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
			};
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

			memset(ctl.buf, 0, sizeof(ctl.buf));
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &payload_fd, sizeof(int));
			n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
		} else {
			n = send(q->fd, text + off, len - off, MSG_NOSIGNAL);
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return remus_err_sys(err, errno, "qmp: writing to %s", q->path);
		off += (size_t)n;
	}
	return 0;
}

/* Add a member to a request being built; val is consumed (NULL = skip
 * for arguments; a failed allocation of val fails).  -ENOMEM on failure. */
static int qmp_request_add(struct json_object *req, const char *key, struct json_object *val)
{
	if (val == NULL)
		return strcmp(key, "arguments") == 0 ? 0 : -ENOMEM;
	if (req == NULL || json_object_object_add(req, key, val) != 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

/* Send one command and wait for the reply with its id, skipping events. */
static int qmp_call(struct xen_qmp *q, const char *cmd, struct json_object *args,
    int payload_fd, struct json_object **ret, struct remus_err *err)
{
	struct json_object *req = json_object_new_object();
	struct xen_qmp_msg m = { 0 };
	int64_t id = q->next_id++;
	const char *text;
	size_t len;
	int rc;

	if (ret != NULL)
		*ret = NULL;
	if ((rc = qmp_request_add(req, "arguments", args)) == 0 &&
	    (rc = qmp_request_add(req, "execute", json_object_new_string(cmd))) == 0)
		rc = qmp_request_add(req, "id", json_object_new_int64(id));
	if (rc < 0) {
		json_object_put(req);
		return remus_err_sys(err, ENOMEM, "qmp: building the %s command", cmd);
	}
	text = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
	rc = text == NULL ? remus_err_sys(err, ENOMEM, "qmp: encoding the %s command", cmd) :
	    qmp_write(q, text, len, payload_fd, err);
	json_object_put(req);
	if (rc < 0)
		return remus_err_wrap(err, "%s", cmd);
	for (;;) {
		if ((rc = qmp_read_msg(q, &m, err)) < 0)
			return remus_err_wrap(err, "%s", cmd);
		if (m.kind != XEN_QMP_EVENT)
			break;
		xen_qmp_msg_free(&m);
	}
	if (m.kind == XEN_QMP_GREETING || !m.has_id || m.id != id) {
		rc = remus_err_set(err, XEN_QMP_EPROTO,
		    "qmp: %s: expected the reply with id %lld from %s, got %s", cmd, (long long)id,
		    q->path, m.kind == XEN_QMP_GREETING ? "a greeting" :
		    !m.has_id ? "a reply without id" : "a reply with another id");
	} else if (m.kind == XEN_QMP_ERROR) {
		rc = remus_err_set(err, XEN_QMP_ECMD, "qmp: QEMU refused %s: %s (%s)", cmd,
		    m.err_desc, m.err_class);
	} else {
		if (ret != NULL)
			*ret = json_object_get(m.ret);
		rc = 0;
	}
	xen_qmp_msg_free(&m);
	return rc;
}

static int qmp_dial(struct xen_qmp *q, struct remus_err *err);

int xen_qmp_exec(struct xen_qmp *q, const char *cmd, struct json_object *args,
    int payload_fd, struct json_object **ret, struct remus_err *err)
{
	int rc;

	if (q->broken && (rc = qmp_dial(q, err)) < 0) {
		json_object_put(args);
		return remus_err_wrap(err, "qmp: %s not sent: reconnecting after an earlier error", cmd);
	}
	rc = qmp_call(q, cmd, args, payload_fd, ret, err);
	if (rc < 0 && rc != XEN_QMP_ECMD)
		q->broken = true;
	return rc;
}

bool xen_qmp_version_at_least(const struct xen_qmp *q, int major, int minor, int micro)
{
	if (q->qemu_major != major)
		return q->qemu_major > major;
	if (q->qemu_minor != minor)
		return q->qemu_minor > minor;
	return q->qemu_micro >= micro;
}

/* The greeting comes first; then the capabilities negotiation. */
static int qmp_handshake(struct xen_qmp *q, struct remus_err *err)
{
	struct xen_qmp_msg m = { 0 };
	int rc;

	if ((rc = qmp_read_msg(q, &m, err)) < 0)
		return remus_err_wrap(err, "greeting");
	if (m.kind != XEN_QMP_GREETING) {
		xen_qmp_msg_free(&m);
		return remus_err_set(err, XEN_QMP_EPROTO, "qmp: %s did not start with a QMP greeting",
		    q->path);
	}
	q->qemu_major = m.qemu_major;
	q->qemu_minor = m.qemu_minor;
	q->qemu_micro = m.qemu_micro;
	xen_qmp_msg_free(&m);
	return qmp_call(q, "qmp_capabilities", NULL, -1, NULL, err);
}

/* A fresh connection (and parser) to q->path, greeted and negotiated;
 * q->broken stays set while it fails. */
static int qmp_dial(struct xen_qmp *q, struct remus_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (q->fd >= 0)
		close(q->fd);
	xen_qmp_parser_free(&q->parser);
	q->off = q->len = 0;
	q->broken = true;
	if ((rc = xen_qmp_parser_init(&q->parser, err)) < 0)
		return rc;
	memcpy(sa.sun_path, q->path, strlen(q->path));
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0)
		return remus_err_sys(err, errno, "qmp: socket");
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return remus_err_sys(err, errno,
		    "qmp: connecting to the device model's QMP socket %s (is QEMU running for this domain?)",
		    q->path);
	if ((rc = qmp_handshake(q, err)) < 0)
		return rc;
	q->broken = false;
	return 0;
}

int xen_qmp_connect(struct xen_qmp **out, const char *path, struct remus_err *err)
{
	struct xen_qmp *q;
	int rc;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return remus_err_set(err, -ENAMETOOLONG, "qmp: socket path %s is too long", path);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return remus_err_sys(err, ENOMEM, "qmp: allocating the client");
	q->fd = -1;
	q->next_id = 1;
	snprintf(q->path, sizeof(q->path), "%s", path);
	if ((rc = qmp_dial(q, err)) < 0) {
		xen_qmp_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

void xen_qmp_close(struct xen_qmp *q)
{
	if (q == NULL)
		return;
	if (q->fd >= 0)
		close(q->fd);
	xen_qmp_parser_free(&q->parser);
	free(q);
}
