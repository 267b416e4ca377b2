/*
 * remusctl store GUEST read|write|ls|rm PATH [VALUE]: a request of the
 * tools on the store of a guest running here (a primary, or a backup that
 * took over), through the driver (hv_ops.store_request).  A write is
 * applied at once and carried to the backup by the next checkpoint.  The
 * reply is text: a value's bytes outside printable ASCII as \xHH, a
 * listing one name a line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "remusd/ctl_proto.h"
#include "remusd/session_impl.h"

/* Value bytes as text: printable ASCII, newline and tab as they are,
 * backslash and everything else escaped; cut at cap with "...". */
static void value_text(const uint8_t *v, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (o + 8 >= cap) {
			snprintf(out + o, cap - o, "...");
			return;
		}
		if (v[i] == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\\\");
		else if ((v[i] >= 0x20 && v[i] < 0x7f) || v[i] == '\n' || v[i] == '\t')
			out[o++] = (char)v[i];
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", v[i]);
	}
	out[o] = '\0';
}

/* NUL-terminated names as one a line. */
static void names_text(const uint8_t *v, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++)
		out[o++] = v[i] ? (char)v[i] : '\n';
	if (o + 5 >= cap && n > o)
		o += (size_t)snprintf(out + o, cap - o, "...");
	out[o] = '\0';
}

int remusd_session_store(struct remusd_session *s, const struct ctl_msg *m, char *out,
                         size_t cap, struct remus_err *err)
{
	struct hv_store_req q = { .path = m->path, .path_len = m->path_len,
	                          .value = m->store_value, .value_len = m->store_value_len };
	struct hv_blob res = { 0 };
	int rc;

	switch (m->store_op) {
	case CTL_STORE_READ:  q.op = HV_STORE_READ; break;
	case CTL_STORE_WRITE: q.op = HV_STORE_WRITE; break;
	case CTL_STORE_LS:    q.op = HV_STORE_LS; break;
	default:              q.op = HV_STORE_RM; break;
	}
	out[0] = '\0';
	pthread_mutex_lock(&s->lock);   /* s->guest changes under it (take-over) */
	if (s->guest == NULL)
		rc = remus_err_set(err, -ENOENT, "guest %s does not run here%s", s->name,
		                   s->primary ? "" : " (this host holds its replica)");
	else if (s->hv->store_request == NULL)
		rc = remus_err_set(err, -ENOTSUP, "guest %s: driver %s keeps no store", s->name,
		                   s->hv->name);
	else
		rc = s->hv->store_request(s->guest, &q, &res, err);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0 && q.op == HV_STORE_READ)
		value_text(res.data, res.len, out, cap);
	else if (rc == 0 && q.op == HV_STORE_LS)
		names_text(res.data, res.len, out, cap);
	else if (rc == 0)
		snprintf(out, cap, "ok");
	hv_blob_free(&res);
	if (rc < 0)
		remus_err_wrap(err, "guest %s: store", s->name);
	return rc;
}
