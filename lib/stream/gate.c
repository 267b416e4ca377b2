/*
 * The checkpoint gate (gate.h).  Every byte goes through the stream reader
 * once, in pieces no larger than what the reader takes for its current
 * item, so a checkpoint's end is known at the exact byte where its libxl
 * CHECKPOINT_END ends; bytes are copied into the gate's buffer as the
 * reader consumes them.
 */
#include "stream/gate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void stream_gate_init(struct stream_gate *g, uint64_t max_held)
{
	struct stream_reader_cfg rc = { .start = STREAM_START_LIBXL };

	memset(g, 0, sizeof(*g));
	g->max_held = max_held;
	stream_reader_init(&g->rd, &rc);
}

void stream_gate_free(struct stream_gate *g)
{
	stream_reader_free(&g->rd);
	free(g->buf);
	memset(g, 0, sizeof(*g));
}

static int gate_fail(struct stream_gate *g, int code)
{
	g->failed = true;
	return code;
}

/* Keep n more bytes; the buffer never grows past what is held + n. */
static int gate_keep(struct stream_gate *g, const uint8_t *p, size_t n)
{
	if (n > g->cap - g->len) {
		size_t cap = g->cap ? g->cap : 64u << 10;
		uint8_t *nb;

		while (cap - g->len < n) {
			if (cap > SIZE_MAX / 2)
				return remus_err_set(&g->err, -ENOMEM, "checkpoint gate: %zu bytes", g->len + n);
			cap *= 2;
		}
		if ((nb = realloc(g->buf, cap)) == NULL)
			return remus_err_sys(&g->err, ENOMEM, "checkpoint gate: holding %zu bytes",
			                     g->len + n);
		g->buf = nb;
		g->cap = cap;
	}
	memcpy(g->buf + g->len, p, n);
	g->len += n;
	return 0;
}

int stream_gate_feed(struct stream_gate *g, const void *data, size_t len)
{
	const uint8_t *p = data;
	struct stream_rec rec;
	size_t used;
	int done = 0, rc;

	if (g->failed)
		return remus_err_set(&g->err, g->err.code ? g->err.code : -EPROTO, "%s",
		                     g->err.msg[0] ? g->err.msg : "checkpoint gate failed");
	while (len > 0) {
		if (g->ended)
			return gate_fail(g, remus_err_set(&g->err, STREAM_E_AFTER_END,
			    "checkpoint gate: %zu bytes after the stream's END", len));
		rc = stream_reader_feed(&g->rd, p, len, &used, &rec);
		if (rc < 0)
			return gate_fail(g, remus_err_set(&g->err, rc, "checkpoint gate: %s", g->rd.err.msg));
		if (rc == 0 && used == 0)
			break;      /* the reader takes nothing more (not expected) */
		if (gate_keep(g, p, used) < 0)
			return gate_fail(g, g->err.code);
		p += used;
		len -= used;
		if (g->rd.checkpoints > g->checkpoints) {
			g->checkpoints = g->rd.checkpoints;
			g->rel = g->len;
			done++;
		} else if (g->rd.pos == STREAM_POS_DONE) {
			g->rel = g->len;
			g->ended = true;
		}
		if (g->len - g->rel > g->max_held)
			return gate_fail(g, remus_err_set(&g->err, STREAM_E_TOO_BIG,
			    "checkpoint gate: checkpoint %" PRIu64 " holds more than %" PRIu64
			    " bytes before its CHECKPOINT_END (one checkpoint is bounded by the guest's RAM)",
			    g->checkpoints + 1, g->max_held));
	}
	return done;
}

/* Also after a failure: what completed before the bad byte was whole and
 * checked, whether it arrived in an earlier call or in the failing one. */
const uint8_t *stream_gate_released(const struct stream_gate *g, size_t *len)
{
	*len = g->rel;
	return g->buf;
}

void stream_gate_consume(struct stream_gate *g)
{
	memmove(g->buf, g->buf + g->rel, g->len - g->rel);
	g->len -= g->rel;
	g->rel = 0;
}

size_t stream_gate_held(const struct stream_gate *g)
{
	return g->len - g->rel;
}
