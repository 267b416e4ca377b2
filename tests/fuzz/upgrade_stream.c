/* libFuzzer target: the live-update hand-over stream decoder.  A stream it
 * accepts must re-encode (canonical order) into one that decodes to the
 * same state. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/upgrade_stream.h"

/* The parts of two decoded states that must agree. */
static void same(const struct lu_state *a, const struct lu_state *b)
{
	if (a->hdr.nfds != b->hdr.nfds || a->hdr.old_pid != b->hdr.old_pid ||
	    a->hdr.config_gen != b->hdr.config_gen || a->has_daemon != b->has_daemon ||
	    a->nsessions != b->nsessions || a->nheld != b->nheld)
		abort();
	for (uint32_t i = 0; i < a->nsessions; i++) {
		const struct lu_session *x = &a->sessions[i], *y = &b->sessions[i];
		if (x->id != y->id || x->state != y->state || x->flags != y->flags || x->epoch != y->epoch ||
		    x->acked_epoch != y->acked_epoch || strcmp(x->name, y->name) ||
		    strcmp(x->peer, y->peer) || x->has_guest != y->has_guest ||
		    x->nstats != y->nstats || memcmp(x->stats, y->stats, sizeof(x->stats)))
			abort();
		if (x->has_replica != y->has_replica || (x->has_replica &&
		    (x->replica.ram_fd != y->replica.ram_fd ||
		     x->replica.state_len != y->replica.state_len ||
		     memcmp(x->replica.state, y->replica.state, x->replica.state_len))))
			abort();
		if (x->has_guest && (x->guest.blob_len != y->guest.blob_len ||
		    (x->guest.blob_len && memcmp(x->guest.blob, y->guest.blob, x->guest.blob_len))))
			abort();
	}
	for (uint32_t i = 0; i < a->nheld; i++)
		if (a->held[i].len != b->held[i].len || a->held[i].epoch != b->held[i].epoch ||
		    memcmp(a->held[i].frame, b->held[i].frame, a->held[i].len))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct lu_state st, again;
	struct stream_buf b;

	if (lu_decode(data, size, &st, &err) != 0) {
		if (st.sessions != NULL || st.held != NULL || err.code == 0)
			abort();
		return 0;
	}
	stream_buf_init(&b);
	if (lu_encode(&b, &st) != 0 ||
	    lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &again, &err) != 0)
		abort();
	same(&st, &again);
	lu_state_free(&again);
	lu_state_free(&st);
	stream_buf_free(&b);
	return 0;
}
