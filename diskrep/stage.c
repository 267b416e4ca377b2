/*
 * The backup's staging store: the writes of uncommitted epochs, in arrival
 * order.  Data stays in memory up to a cap; beyond it, it is appended to a
 * spill file so a large epoch cannot exhaust the backup's memory.
 */
#include "diskrep/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Open (truncating) the spill file; nothing staged survives a restart. */
int dr_stage_init(struct dr_stage *s, const char *spill_path, size_t mem_cap,
                  struct remus_err *err)
{
	memset(s, 0, sizeof(*s));
	s->mem_cap = mem_cap;
	s->spill_fd = open(spill_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->spill_fd < 0)
		return remus_err_sys(err, errno, "open spill file %s", spill_path);
	return 0;
}

/* Free every staged record and close the spill file. */
void dr_stage_free(struct dr_stage *s)
{
	for (size_t i = s->head; i < s->count; i++)
		free(s->recs[i].data);
	free(s->recs);
	if (s->spill_fd >= 0)
		close(s->spill_fd);
	memset(s, 0, sizeof(*s));
	s->spill_fd = -1;
}

/* Make room for one more record, compacting consumed ones first. */
static int stage_reserve(struct dr_stage *s, struct remus_err *err)
{
	if (s->head > 0 && s->count == s->cap) {
		memmove(s->recs, s->recs + s->head, (s->count - s->head) * sizeof(*s->recs));
		s->count -= s->head;
		s->head = 0;
	}
	if (s->count < s->cap)
		return 0;
	size_t ncap = s->cap ? s->cap * 2 : 64, bytes;
	if (!ck_mul_size(ncap, sizeof(*s->recs), &bytes))
		return remus_err_set(err, -ENOMEM, "staging index overflow");
	void *p = realloc(s->recs, bytes);
	if (p == NULL)
		return remus_err_set(err, -ENOMEM, "staging index of %zu records", ncap);
	s->recs = p;
	s->cap = ncap;
	return 0;
}

/* Stage one write of `epoch`; in memory if it fits the cap, else spilled. */
int dr_stage_add(struct dr_stage *s, uint64_t epoch, uint64_t off,
                 const void *data, uint32_t len, struct remus_err *err)
{
	struct dr_stage_rec r = { .epoch = epoch, .offset = off, .len = len };
	int rc;

	if ((rc = stage_reserve(s, err)) < 0)
		return rc;
	if (s->mem_used + len <= s->mem_cap) {
		r.data = malloc(len);
		if (r.data == NULL)
			return remus_err_set(err, -ENOMEM, "staging %u bytes", len);
		memcpy(r.data, data, len);
		s->mem_used += len;
	} else {
		r.spill_off = s->spill_len;
		if ((rc = io_pwrite_all(s->spill_fd, data, len, s->spill_len)) < 0)
			return remus_err_sys(err, rc, "spill %u staged bytes", len);
		s->spill_len += len;
		s->spilled_bytes += len;
	}
	s->recs[s->count++] = r;
	return 0;
}

/* Fetch a staged record's data into `buf` (len bytes). */
int dr_stage_read(struct dr_stage *s, const struct dr_stage_rec *r, void *buf,
                  struct remus_err *err)
{
	int rc;
	if (r->data) {
		memcpy(buf, r->data, r->len);
		return 0;
	}
	if ((rc = io_pread_all(s->spill_fd, buf, r->len, r->spill_off)) < 0)
		return remus_err_sys(err, rc, "read spilled record at %llu",
		    (unsigned long long)r->spill_off);
	return 0;
}

/* Free a record's memory (spilled data is reclaimed by truncation). */
static void rec_release(struct dr_stage *s, struct dr_stage_rec *r)
{
	if (r->data) {
		s->mem_used -= r->len;
		free(r->data);
		r->data = NULL;
	}
}

/* Empty spill file once nothing refers to it. */
static void stage_reset_spill(struct dr_stage *s)
{
	for (size_t i = s->head; i < s->count; i++)
		if (s->recs[i].data == NULL)
			return;
	if (s->spill_len && ftruncate(s->spill_fd, 0) == 0)
		s->spill_len = 0;
}

/* Remove the committed epochs (they sit at the front, in order). */
void dr_stage_pop_through(struct dr_stage *s, uint64_t upto)
{
	while (s->head < s->count && s->recs[s->head].epoch <= upto)
		rec_release(s, &s->recs[s->head++]);
	if (s->head == s->count)
		s->head = s->count = 0;
	stage_reset_spill(s);
}

/* Remove the epochs from `from` on (they sit at the back). */
void dr_stage_drop_from(struct dr_stage *s, uint64_t from)
{
	while (s->count > s->head && s->recs[s->count - 1].epoch >= from)
		rec_release(s, &s->recs[--s->count]);
	if (s->head == s->count)
		s->head = s->count = 0;
	stage_reset_spill(s);
}
