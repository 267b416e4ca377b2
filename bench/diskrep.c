/*
 * diskrep benchmark, ratios against baselines measured in the same run:
 *   replicated write throughput (builtin primary -> backup over a
 *   socketpair, every epoch committed through the journal) / local writes;
 *   resync throughput (identical images: hashes only; fully different
 *   images: every block sent) / sequential read of the image.
 */
#include "diskrep/diskrep.h"
#include "rows.h"

#include <fcntl.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IMG       (64u << 20)
#define WRITE_SZ  (64u << 10)
#define EPOCH_SZ  (1u << 20)    /* bytes written per epoch */

struct bench { char dir[256], pimg[300], bimg[300], pst[300], bst[300]; int sv[2]; };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(int rc, const char *what, const struct remus_err *err)
{
	if (rc < 0) {
		fprintf(stderr, "bench diskrep: %s: %s\n", what, err ? err->msg : "");
		exit(1);
	}
}

static void fill(const char *path, unsigned seed)
{
	uint8_t *buf = malloc(EPOCH_SZ);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	for (size_t i = 0; i < EPOCH_SZ; i++)
		buf[i] = (uint8_t)(i * 131 + seed);
	for (unsigned off = 0; off < IMG; off += EPOCH_SZ)
		check(pwrite(fd, buf, EPOCH_SZ, off) == EPOCH_SZ ? 0 : -1, "fill", NULL);
	fsync(fd);
	close(fd);
	free(buf);
}

/* Baseline: the same writes straight to a local file, then fdatasync
 * (and, if per_epoch, an fdatasync at every epoch boundary as well). */
static double local_writes(const char *path, const uint8_t *data, bool per_epoch)
{
	int fd = open(path, O_WRONLY);
	double t = now_s();
	for (unsigned off = 0; off < IMG; off += WRITE_SZ) {
		check(pwrite(fd, data, WRITE_SZ, off) == WRITE_SZ ? 0 : -1, "local write", NULL);
		if (per_epoch && (off + WRITE_SZ) % EPOCH_SZ == 0)
			fdatasync(fd);
	}
	fdatasync(fd);
	t = now_s() - t;
	close(fd);
	return IMG / t;
}

struct backup_arg { struct diskrep *b; uint64_t until_epoch; bool stop_at_sync; };

/* Backup thread: commit every epoch as soon as it is complete. */
static void *backup_thread(void *arg)
{
	struct backup_arg *a = arg;
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	struct remus_err err = { 0 };
	struct diskrep_event ev;
	for (;;) {
		check(ops->receive(a->b, &ev, &err), "receive", &err);
		if (ev.type == DISKREP_EV_SYNC_DONE && a->stop_at_sync)
			break;
		if (ev.type == DISKREP_EV_EPOCH_READY) {
			check(ops->commit(a->b, ev.epoch, &err), "commit", &err);
			if (ev.epoch == a->until_epoch)
				break;
		}
	}
	return NULL;
}

static void open_pair(struct bench *bn, struct diskrep **p, struct diskrep **b, uint64_t start)
{
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	struct remus_err err = { 0 };
	struct diskrep_config pc = { .role = DISKREP_PRIMARY, .image = bn->pimg, .state_dir = bn->pst,
	                             .peer_fd = bn->sv[1], .block_size = 65536, .start_epoch = start };
	struct diskrep_config bc = { .role = DISKREP_BACKUP, .image = bn->bimg, .state_dir = bn->bst,
	                             .peer_fd = bn->sv[0], .block_size = 65536 };
	check(ops->open(&pc, p, &err), "open primary", &err);
	check(ops->open(&bc, b, &err), "open backup", &err);
}

/* Run one resync (backup in a thread); bytes of image per second. */
static double timed_resync(struct bench *bn, struct diskrep *p, struct diskrep *b)
{
	struct backup_arg a = { .b = b, .stop_at_sync = true };
	struct remus_err err = { 0 };
	pthread_t t;
	double s = now_s();
	pthread_create(&t, NULL, backup_thread, &a);
	check(diskrep_backend("builtin")->resync(p, DISKREP_RESYNC_FULL, NULL, NULL, &err),
	    "resync", &err);
	pthread_join(t, NULL);
	(void)bn;
	return IMG / (now_s() - s);
}

/* Replicated writes: epochs of EPOCH_SZ, each committed by the backup. */
static double replicated_writes(struct diskrep *p, struct diskrep *b, const uint8_t *data)
{
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	struct backup_arg a = { .b = b, .until_epoch = IMG / EPOCH_SZ };
	struct remus_err err = { 0 };
	uint64_t epoch = 0;
	pthread_t t;
	double s = now_s();

	pthread_create(&t, NULL, backup_thread, &a);
	for (unsigned off = 0; off < IMG; off += WRITE_SZ) {
		check(ops->write(p, off, data, WRITE_SZ, &err), "write", &err);
		if ((off + WRITE_SZ) % EPOCH_SZ == 0)
			check(ops->epoch_mark(p, ++epoch, &err), "mark", &err);
	}
	check(ops->flush(p, &err), "flush", &err);
	pthread_join(t, NULL);
	return IMG / (now_s() - s);
}

static double seq_read(const char *path)
{
	uint8_t *buf = malloc(EPOCH_SZ);
	int fd = open(path, O_RDONLY);
	double t = now_s();
	for (unsigned off = 0; off < IMG; off += EPOCH_SZ)
		check(pread(fd, buf, EPOCH_SZ, off) == EPOCH_SZ ? 0 : -1, "read", NULL);
	t = now_s() - t;
	close(fd);
	free(buf);
	return IMG / t;
}

int main(void)
{
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	const char *tmp = getenv("TMPDIR");
	struct bench bn;
	struct diskrep *p, *b;
	uint8_t *data = malloc(WRITE_SZ);
	char cmd[300];

	snprintf(bn.dir, sizeof(bn.dir), "%s/bench_diskrep.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	check(mkdtemp(bn.dir) ? 0 : -1, "mkdtemp", NULL);
	snprintf(bn.pimg, sizeof(bn.pimg), "%s/p.img", bn.dir);
	snprintf(bn.bimg, sizeof(bn.bimg), "%s/b.img", bn.dir);
	snprintf(bn.pst, sizeof(bn.pst), "%s/pst", bn.dir);
	snprintf(bn.bst, sizeof(bn.bst), "%s/bst", bn.dir);
	mkdir(bn.pst, 0700);
	mkdir(bn.bst, 0700);
	memset(data, 0x6b, WRITE_SZ);
	fill(bn.pimg, 1);
	fill(bn.bimg, 2);                           /* every block differs */
	check(socketpair(AF_UNIX, SOCK_STREAM, 0, bn.sv), "socketpair", NULL);

	double rd = seq_read(bn.pimg);
	open_pair(&bn, &p, &b, 0);
	double rs_diff = timed_resync(&bn, p, b);
	double rs_same = timed_resync(&bn, p, b);
	double loc = local_writes(bn.pimg, data, false);
	double loc_ep = local_writes(bn.pimg, data, true);
	double rep = replicated_writes(p, b, data);
	ops->close(p);
	ops->close(b);

	printf("image %u MiB, writes of %u KiB, epochs of %u MiB\n", IMG >> 20, WRITE_SZ >> 10,
	    EPOCH_SZ >> 20);
	printf("local write            %8.1f MiB/s (baseline)\n", loc / 1048576);
	printf("local write+sync/epoch %8.1f MiB/s (baseline 2)\n", loc_ep / 1048576);
	printf("replicated write       %8.1f MiB/s  ratio %.2f / %.2f (commit through journal)\n",
	    rep / 1048576, rep / loc, rep / loc_ep);
	printf("sequential read        %8.1f MiB/s (baseline)\n", rd / 1048576);
	printf("resync, all differ     %8.1f MiB/s  ratio %.2f\n", rs_diff / 1048576, rs_diff / rd);
	printf("resync, identical      %8.1f MiB/s  ratio %.2f (hashes only)\n",
	    rs_same / 1048576, rs_same / rd);
	bench_row("diskrep replicated write", rep / 1048576, "MiB/s", loc_ep / 1048576, rep / loc_ep,
	          NULL, BENCH_NO_GOAL);
	bench_row("diskrep resync, all blocks differ", rs_diff / 1048576, "MiB/s", rd / 1048576,
	          rs_diff / rd, NULL, BENCH_NO_GOAL);
	bench_row("diskrep resync, identical", rs_same / 1048576, "MiB/s", rd / 1048576, rs_same / rd,
	          NULL, BENCH_NO_GOAL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bn.dir);
	free(data);
	return system(cmd) == 0 ? 0 : 1;
}
