/*
 * The backup's on-disk formats: journal validation (a journal slot read
 * back after a crash may be torn or damaged: hostile input, checked whole
 * before any record is replayed) and the checksummed state file (epoch and
 * consistency, written at resync and promote).  The commit path that writes
 * journals is in commit.c.
 */
#include "diskrep/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

static const char JMAGIC[8] = "RMSDJRNL", JEND[8] = "RMSDJEND", SMAGIC[8] = "RMSDSTAT";

/* ---- journal validation (hostile input: the file may be torn) ---------- */

/* Check the fixed header and that the file size matches what it claims. */
static int scan_header(const uint8_t *h, uint64_t file_size, uint64_t image_bytes,
                       struct dr_journal_info *info, struct remus_err *err)
{
	uint64_t want;
	if (memcmp(h, JMAGIC, 8) != 0 || get_le32(h + 8) != 1 || get_le32(h + 12) != 0)
		return remus_err_set(err, DISKREP_ECORRUPT, "journal header: bad magic/version");
	info->epoch = get_le64(h + 16);
	info->nr_records = get_le64(h + 24);
	info->payload_bytes = get_le64(h + 32);
	info->image_bytes = get_le64(h + 40);
	if (info->image_bytes != image_bytes)
		return remus_err_set(err, DISKREP_ECORRUPT,
		    "journal is for a %llu-byte image, this one has %llu",
		    (unsigned long long)info->image_bytes, (unsigned long long)image_bytes);
	if (info->nr_records > DR_JMAX_RECS ||
	    !ck_add_u64(DR_JHDR_LEN + DR_JTRL_LEN, info->nr_records * DR_JREC_LEN, &want) ||
	    !ck_add_u64(want, info->payload_bytes, &want) || want != file_size)
		return remus_err_set(err, DISKREP_ECORRUPT,
		    "journal of epoch %llu: %llu records + %llu bytes do not fill the %llu-byte file",
		    (unsigned long long)info->epoch, (unsigned long long)info->nr_records,
		    (unsigned long long)info->payload_bytes, (unsigned long long)file_size);
	return 0;
}

/* Read and check record i's header at *pos. */
static int scan_record_hdr(int fd, uint64_t *pos, uint64_t i, uint64_t image_bytes,
                           uint64_t *off, uint32_t *len, uint8_t rh[DR_JREC_LEN],
                           struct remus_err *err)
{
	int rc = io_pread_all(fd, rh, DR_JREC_LEN, *pos);
	if (rc < 0)
		return remus_err_sys(err, rc, "read journal record %llu", (unsigned long long)i);
	*off = get_le64(rh);
	*len = get_le32(rh + 8);
	if (get_le32(rh + 12) != 0 || *len > DISKREP_MAX_WRITE ||
	    diskrep_check_range(image_bytes, *off, *len, err) < 0)
		return remus_err_set(err, DISKREP_ECORRUPT,
		    "journal record %llu at file offset %llu: offset %llu length %u invalid",
		    (unsigned long long)i, (unsigned long long)*pos,
		    (unsigned long long)*off, *len);
	*pos += DR_JREC_LEN;
	return 0;
}

/* One pass over the records: hash them, and hand them to fn if given. */
static int scan_records(int fd, const uint8_t *hdr, const struct dr_journal_info *info,
                        uint8_t *buf, dr_journal_rec_fn fn, void *arg,
                        uint64_t *end_pos, XXH64_hash_t *hash, struct remus_err *err)
{
	XXH64_state_t st;
	uint64_t pos = DR_JHDR_LEN, total = 0, off = 0;
	uint8_t rh[DR_JREC_LEN];
	uint32_t len = 0;
	int rc;

	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr, DR_JHDR_LEN);
	for (uint64_t i = 0; i < info->nr_records; i++) {
		if ((rc = scan_record_hdr(fd, &pos, i, info->image_bytes, &off, &len, rh, err)) < 0)
			return rc;
		if (!ck_add_u64(total, len, &total) || total > info->payload_bytes)
			return remus_err_set(err, DISKREP_ECORRUPT,
			    "journal record %llu overruns the declared payload", (unsigned long long)i);
		if ((rc = io_pread_all(fd, buf, len, pos)) < 0)
			return remus_err_sys(err, rc, "read journal record %llu data", (unsigned long long)i);
		pos += len;
		XXH64_update(&st, rh, DR_JREC_LEN);
		XXH64_update(&st, buf, len);
		if (fn && (rc = fn(arg, off, buf, len, err)) < 0)
			return rc;
	}
	if (total != info->payload_bytes)
		return remus_err_set(err, DISKREP_ECORRUPT, "journal payload %llu != declared %llu",
		    (unsigned long long)total, (unsigned long long)info->payload_bytes);
	*end_pos = pos;
	*hash = XXH64_digest(&st);
	return 0;
}

/* Validate the whole journal, then (only if valid) replay it through fn. */
int dr_journal_scan(int fd, uint64_t image_bytes, struct dr_journal_info *info,
                    dr_journal_rec_fn fn, void *arg, struct remus_err *err)
{
	uint8_t hdr[DR_JHDR_LEN], trl[DR_JTRL_LEN], *buf = NULL;
	XXH64_hash_t hash;
	uint64_t end;
	struct stat sb;
	int rc;

	if (fstat(fd, &sb) < 0)
		return remus_err_sys(err, errno, "stat journal");
	if (sb.st_size == 0)
		return 1;
	if ((uint64_t)sb.st_size < DR_JHDR_LEN + DR_JTRL_LEN)
		return remus_err_set(err, DISKREP_ECORRUPT, "journal of %lld bytes is torn",
		    (long long)sb.st_size);
	if ((rc = io_pread_all(fd, hdr, sizeof(hdr), 0)) < 0)
		return remus_err_sys(err, rc, "read journal header");
	if ((rc = scan_header(hdr, (uint64_t)sb.st_size, image_bytes, info, err)) < 0)
		return rc;
	if ((buf = malloc(DISKREP_MAX_WRITE)) == NULL)
		return remus_err_set(err, -ENOMEM, "journal buffer");
	if ((rc = scan_records(fd, hdr, info, buf, NULL, NULL, &end, &hash, err)) < 0)
		goto out;
	if ((rc = io_pread_all(fd, trl, sizeof(trl), end)) < 0) {
		rc = remus_err_sys(err, rc, "read journal trailer");
		goto out;
	}
	if (memcmp(trl, JEND, 8) != 0 || get_le64(trl + 8) != hash) {
		rc = remus_err_set(err, DISKREP_ECORRUPT,
		    "journal of epoch %llu: trailer missing or checksum mismatch",
		    (unsigned long long)info->epoch);
		goto out;
	}
	if (fn)
		rc = scan_records(fd, hdr, info, buf, fn, arg, &end, &hash, err);
out:
	free(buf);
	return rc;
}

/* ---- state file --------------------------------------------------------- */

/* Decode the committed-state record; checksummed, fixed size. */
int dr_state_parse(const uint8_t *buf, size_t len, struct dr_state *st,
                   struct remus_err *err)
{
	if (len != DR_STATE_LEN || memcmp(buf, SMAGIC, 8) != 0 || get_le32(buf + 8) != 1 ||
	    get_le64(buf + 32) != XXH64(buf, 32, 0))
		return remus_err_set(err, DISKREP_ECORRUPT,
		    "state file (%zu bytes): bad magic, version or checksum", len);
	st->flags = get_le32(buf + 12);
	st->epoch = get_le64(buf + 16);
	st->image_bytes = get_le64(buf + 24);
	if (st->flags & ~DR_STATE_CONSISTENT)
		return remus_err_set(err, DISKREP_ECORRUPT, "state file: unknown flags %#x", st->flags);
	return 0;
}

/* Load <dir>/state; -ENOENT when the backup has never been synced. */
int dr_state_load(const char *dir, struct dr_state *st, struct remus_err *err)
{
	char path[4096];
	uint8_t buf[DR_STATE_LEN + 1];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/state", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ENOENT : remus_err_sys(err, errno, "open %s", path);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return remus_err_sys(err, errno, "read %s", path);
	return dr_state_parse(buf, (size_t)n, st, err);
}

/* Replace <dir>/state atomically: temp file, fsync, rename, fsync dir. */
int dr_state_store(const char *dir, const struct dr_state *st,
                   const struct diskrep_fault *f, struct remus_err *err)
{
	char tmp[4096], path[4096];
	uint8_t buf[DR_STATE_LEN] = { 0 };
	int fd = -1, dfd = -1, rc;

	memcpy(buf, SMAGIC, 8);
	put_le32(buf + 8, 1);
	put_le32(buf + 12, st->flags);
	put_le64(buf + 16, st->epoch);
	put_le64(buf + 24, st->image_bytes);
	put_le64(buf + 32, XXH64(buf, 32, 0));
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", dir);
	snprintf(path, sizeof(path), "%s/state", dir);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return remus_err_sys(err, errno, "create %s", tmp);
	if ((rc = io_pwrite_all(fd, buf, sizeof(buf), 0)) < 0 || fsync(fd) < 0) {
		rc = remus_err_sys(err, rc < 0 ? rc : errno, "write %s", tmp);
		goto out;
	}
	if ((rc = dr_fault(f, "state:tmp-synced", err)) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		rc = remus_err_sys(err, errno, "rename %s", tmp);
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) < 0) {
		rc = remus_err_sys(err, errno, "fsync directory %s", dir);
		goto out;
	}
	rc = dr_fault(f, "state:renamed", err);
out:
	if (dfd >= 0)
		close(dfd);
	close(fd);
	return rc;
}
