/*
 * Crash-consistency trial driver for diskrep's builtin backend.
 *
 *   diskrep-trial crash TRIALS SEED DIR
 *     Each trial: a primary (a separate, forked process) resyncs, then
 *     writes random data in epochs; the backup (this process) stages and
 *     commits with a random lag; the primary is SIGKILLed at a random
 *     point (sometimes mid-frame).  The backup, discarded and reopened,
 *     must equal byte for byte the reference image of its last committed
 *     epoch, rebuilt here from the same seed.
 *
 *   diskrep-trial commit-crash SEED DIR
 *     The backup process exits at every fault point of commit(N) in turn;
 *     on reopen (recovery) the image must be exactly N-1 (crash before the
 *     journal was complete) or exactly N (after).
 */
#include "diskrep/diskrep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMG_BYTES   (256u * 1024)
#define BLOCK       4096u
#define BASE_EPOCH  2u      /* commit-crash mode: epochs committed before the crash */

struct rng { uint64_t s; };

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static uint64_t rnd_below(struct rng *r, uint64_t n)
{
	return rnd(r) % n;
}

static void die(const char *what, const struct remus_err *err)
{
	fprintf(stderr, "FAIL: %s: %s\n", what, err ? err->msg : strerror(errno));
	_exit(1);
}

/* One write of the deterministic workload. */
struct wr { uint64_t off; size_t len; uint8_t data[16 * 512]; };

/* The workload of epoch e of trial `seed`: same answer in every process. */
static int epoch_writes(uint64_t seed, uint64_t e, struct wr *w, int max)
{
	struct rng r = { seed * 1000003u + e * 7919u + 1 };
	int n = 1 + (int)rnd_below(&r, (uint64_t)max);
	for (int i = 0; i < n; i++) {
		w[i].len = 512 * (1 + rnd_below(&r, 16));
		w[i].off = 512 * rnd_below(&r, (IMG_BYTES - w[i].len) / 512 + 1);
		for (size_t j = 0; j < w[i].len; j++)
			w[i].data[j] = (uint8_t)rnd(&r);
	}
	return n;
}

/* Reference image: initial content plus epochs 1..upto applied in order. */
static void reference(uint64_t seed, uint64_t upto, uint8_t *img)
{
	static struct wr w[8];
	struct rng r = { seed + 99 };
	for (size_t i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(rnd(&r) >> 11);
	for (uint64_t e = 1; e <= upto; e++) {
		int n = epoch_writes(seed, e, w, 8);
		for (int i = 0; i < n; i++)
			memcpy(img + w[i].off, w[i].data, w[i].len);
	}
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0)
		die(path, NULL);
}

static void read_file(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, len) != (ssize_t)len || close(fd) < 0)
		die(path, NULL);
}

static void fresh_dir(const char *path)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", path, path);
	if (system(cmd) != 0)
		die(path, NULL);
}

/* Primary side of a trial: resync, then epochs, then (maybe) a torn frame
 * and a self-kill.  Runs in its own process. */
static void primary_run(const char *dir, int fd, uint64_t seed, uint64_t epochs,
                        int64_t tear_at)
{
	static struct wr w[8];
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	struct diskrep_config cfg = { .role = DISKREP_PRIMARY, .peer_fd = fd, .block_size = BLOCK };
	char img[4096], st[4096];
	struct remus_err err = { 0 };
	struct diskrep *d;
	int64_t nwrites = 0;

	snprintf(img, sizeof(img), "%s/primary.img", dir);
	snprintf(st, sizeof(st), "%s/pstate", dir);
	cfg.image = img;
	cfg.state_dir = st;
	if (ops->open(&cfg, &d, &err) < 0 || ops->resync(d, DISKREP_RESYNC_FULL, NULL, NULL, &err) < 0)
		die("primary open/resync", &err);
	for (uint64_t e = 1; e <= epochs; e++) {
		int n = epoch_writes(seed, e, w, 8);
		for (int i = 0; i < n; i++, nwrites++) {
			if (nwrites == tear_at) {   /* half a WRITE frame, then die */
				uint8_t hdr[8] = { 1, 0, 0, 0 };
				uint32_t body = 16 + 4096;
				memcpy(hdr + 4, &body, 4);
				if (write(fd, hdr, 8) != 8 || write(fd, w[i].data, 100) != 100)
					_exit(3);
				raise(SIGKILL);
			}
			if (ops->write(d, w[i].off, w[i].data, w[i].len, &err) < 0)
				die("primary write", &err);
		}
		if (ops->epoch_mark(d, e, &err) < 0)
			die("primary epoch_mark", &err);
	}
	ops->close(d);
	_exit(0);
}

/* Backup side: receive until the link dies, committing with `lag`, and
 * SIGKILL the primary after `kill_after` messages. */
static void backup_run(struct diskrep *d, pid_t child, uint64_t kill_after, uint64_t lag)
{
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	struct remus_err err = { 0 };
	struct diskrep_event ev;
	uint64_t msgs = 0;
	int rc;

	while ((rc = ops->receive(d, &ev, &err)) == 0) {
		if (++msgs == kill_after)
			kill(child, SIGKILL);
		if (ev.type == DISKREP_EV_EPOCH_READY && ev.epoch > lag &&
		    ops->commit(d, ev.epoch - lag, &err) < 0)
			die("backup commit", &err);
	}
	if (rc != DISKREP_EPEER)
		die("backup receive", &err);
	if (ops->discard_uncommitted(d, &err) < 0)
		die("discard", &err);
}

static struct diskrep *backup_open(const char *dir, size_t cap, const struct diskrep_fault *f,
                                   int fd, struct remus_err *err)
{
	static char img[4096], st[4096];
	struct diskrep_config cfg = { .role = DISKREP_BACKUP, .peer_fd = fd, .block_size = BLOCK,
	                              .stage_mem_cap = cap, .image = img, .state_dir = st };
	struct diskrep *d = NULL;
	snprintf(img, sizeof(img), "%s/backup.img", dir);
	snprintf(st, sizeof(st), "%s/bstate", dir);
	if (f)
		cfg.fault = *f;
	if (diskrep_backend("builtin")->open(&cfg, &d, err) < 0)
		return NULL;
	return d;
}

/* Compare the backup image with the reference of `epoch`. */
static void check_image(const char *dir, uint64_t seed, uint64_t epoch, const char *ctx)
{
	static uint8_t ref[IMG_BYTES], got[IMG_BYTES];
	char path[4200];
	snprintf(path, sizeof(path), "%s/backup.img", dir);
	reference(seed, epoch, ref);
	read_file(path, got, IMG_BYTES);
	if (memcmp(ref, got, IMG_BYTES) != 0) {
		size_t i = 0;
		while (ref[i] == got[i])
			i++;
		fprintf(stderr, "FAIL: %s: backup differs from epoch %llu reference at byte %zu\n",
		    ctx, (unsigned long long)epoch, i);
		_exit(1);
	}
}

/* Set up both images with the initial content; the backup's is stale in
 * a few blocks so the resync has work to do. */
static void setup_images(const char *dir, uint64_t seed)
{
	static uint8_t img[IMG_BYTES];
	char p[4200], sub[4200];
	fresh_dir(dir);
	reference(seed, 0, img);
	snprintf(p, sizeof(p), "%s/primary.img", dir);
	write_file(p, img, IMG_BYTES);
	memset(img + (seed % 60) * BLOCK, 0xee, 3 * BLOCK);
	snprintf(p, sizeof(p), "%s/backup.img", dir);
	write_file(p, img, IMG_BYTES);
	snprintf(sub, sizeof(sub), "%s/pstate", dir);
	fresh_dir(sub);
	snprintf(sub, sizeof(sub), "%s/bstate", dir);
	fresh_dir(sub);
}

struct trial_stats { int killed, torn, partial, spilled; };

static void one_trial(const char *dir, uint64_t seed, struct trial_stats *ts)
{
	struct rng r = { seed * 31 + 5 };
	uint64_t epochs = 2 + rnd_below(&r, 10), lag = rnd_below(&r, 3);
	uint64_t kill_after = 1 + rnd_below(&r, epochs * 6 + 12);
	int64_t tear_at = rnd_below(&r, 4) == 0 ? (int64_t)rnd_below(&r, epochs * 4 + 1) : -1;
	size_t cap = rnd_below(&r, 2) ? 8192 : 0;
	struct remus_err err = { 0 };
	struct diskrep_counters c;
	struct diskrep *d;
	int sv[2], status;
	pid_t pid;

	setup_images(dir, seed);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", NULL);
	if ((d = backup_open(dir, cap, NULL, sv[0], &err)) == NULL)
		die("backup open", &err);
	if ((pid = fork()) < 0)
		die("fork", NULL);
	if (pid == 0) {
		close(sv[0]);
		primary_run(dir, sv[1], seed, epochs, tear_at);
	}
	close(sv[1]);
	backup_run(d, pid, kill_after, lag);
	waitpid(pid, &status, 0);
	close(sv[0]);
	diskrep_backend("builtin")->counters(d, &c);
	diskrep_backend("builtin")->close(d);
	ts->killed += WIFSIGNALED(status);
	ts->torn += WIFSIGNALED(status) && tear_at >= 0;
	ts->partial += c.committed_epoch > 0 && c.committed_epoch < epochs;
	ts->spilled += c.spilled_bytes > 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		fprintf(stderr, "FAIL: seed %llu: primary exited %d\n", (unsigned long long)seed,
		    WEXITSTATUS(status));
		_exit(1);
	}
	if (WIFEXITED(status) && c.committed_epoch != epochs - (lag < epochs ? lag : epochs)) {
		fprintf(stderr, "FAIL: seed %llu: clean run committed %llu of %llu (lag %llu)\n",
		    (unsigned long long)seed, (unsigned long long)c.committed_epoch,
		    (unsigned long long)epochs, (unsigned long long)lag);
		_exit(1);
	}
	if (c.committed_epoch > 0 && c.resync_blocks_applied != 3) {
		fprintf(stderr, "FAIL: seed %llu: resync of 3 stale blocks applied %llu\n",
		    (unsigned long long)seed, (unsigned long long)c.resync_blocks_applied);
		_exit(1);
	}
	uint64_t before = c.committed_epoch;
	if ((d = backup_open(dir, cap, NULL, -1, &err)) == NULL)   /* restart */
		die("backup reopen", &err);
	diskrep_backend("builtin")->counters(d, &c);
	if (c.consistent && c.committed_epoch != before)
		die("reopen changed the committed epoch", NULL);
	diskrep_backend("builtin")->close(d);
	char ctx[64];
	snprintf(ctx, sizeof(ctx), "seed %llu", (unsigned long long)seed);
	if (c.consistent)
		check_image(dir, seed, c.committed_epoch, ctx);
	else if (!WIFSIGNALED(status))
		die("backup inconsistent after a clean run", NULL);
}

static int crash_mode(int trials, uint64_t seed, const char *dir)
{
	struct trial_stats ts = { 0 };
	for (int i = 0; i < trials; i++)
		one_trial(dir, seed + (uint64_t)i, &ts);
	printf("diskrep crash trials: %d passed (seeds %llu..%llu): primary killed in %d "
	    "(%d mid-frame), %d ended between first and last epoch, %d spilled\n", trials,
	    (unsigned long long)seed, (unsigned long long)seed + (uint64_t)trials - 1,
	    ts.killed, ts.torn, ts.partial, ts.spilled);
	/* a run that never killed anything would prove nothing */
	return trials < 20 || (ts.killed > 0 && ts.partial > 0 && ts.spilled > 0) ? 0 : 1;
}

/* ---- commit-crash mode --------------------------------------------------- */

struct fault_plan { int target, hits; char last[64]; };

static int exit_at_point(void *arg, const char *point)
{
	struct fault_plan *p = arg;
	if (strncmp(point, "recover:", 8) == 0)    /* the open's own replay */
		return 0;
	if (++p->hits == p->target) {
		fprintf(stderr, "crash at %s (#%d)\n", point, p->hits);
		_exit(strncmp(point, "commit:journal-record", 21) == 0 ||
		      strcmp(point, "commit:begin") == 0 ? 98 : 99);
	}
	return 0;
}

static int exit_at_recover(void *arg, const char *point)
{
	struct fault_plan *p = arg;
	if (strcmp(point, "recover:record") == 0 && ++p->hits == p->target)
		_exit(97);
	return 0;
}

/* In a child: stage epoch BASE+1 from a real primary and commit it,
 * exiting at fault point #target.  Exits 0 if commit finished first. */
static void commit_child(const char *dir, uint64_t seed, int target)
{
	static struct wr w[8];
	const struct diskrep_ops *ops = diskrep_backend("builtin");
	struct fault_plan plan = { .target = target };
	struct diskrep_fault f = { &plan, exit_at_point };
	struct remus_err err = { 0 };
	struct diskrep_config pc = { .role = DISKREP_PRIMARY, .block_size = BLOCK,
	                             .start_epoch = BASE_EPOCH };
	struct diskrep *p, *b;
	struct diskrep_event ev;
	char img[4200], st[4200];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair", NULL);
	snprintf(img, sizeof(img), "%s/primary.img", dir);
	snprintf(st, sizeof(st), "%s/pstate", dir);
	pc.image = img;
	pc.state_dir = st;
	pc.peer_fd = sv[1];
	if (ops->open(&pc, &p, &err) < 0 || (b = backup_open(dir, 4096, &f, sv[0], &err)) == NULL)
		die("commit child open", &err);
	int n = epoch_writes(seed, BASE_EPOCH + 1, w, 8);
	for (int i = 0; i < n; i++)
		if (ops->write(p, w[i].off, w[i].data, w[i].len, &err) < 0)
			die("write", &err);
	if (ops->epoch_mark(p, BASE_EPOCH + 1, &err) < 0)
		die("mark", &err);
	do {
		if (ops->receive(b, &ev, &err) < 0)
			die("receive", &err);
	} while (ev.type != DISKREP_EV_EPOCH_READY);
	if (ops->commit(b, BASE_EPOCH + 1, &err) < 0)
		die("commit", &err);
	_exit(0);
}

/* Baseline: backup resynced and at epoch BASE (both journal slots in use,
 * so the commit overwrites the slot of BASE-1); saved for every attempt. */
static void commit_baseline(const char *dir, uint64_t seed)
{
	char cmd[8600];
	pid_t pid;
	int status;

	setup_images(dir, seed);
	struct remus_err err = { 0 };
	struct diskrep *d;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    (d = backup_open(dir, 0, NULL, sv[0], &err)) == NULL)
		die("baseline", &err);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		primary_run(dir, sv[1], seed, BASE_EPOCH, -1);
	}
	close(sv[1]);
	backup_run(d, pid, 0, 0);
	waitpid(pid, &status, 0);
	diskrep_backend("builtin")->close(d);
	close(sv[0]);
	check_image(dir, seed, BASE_EPOCH, "baseline");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/base' && mkdir '%s/base' && cp -a '%s/backup.img' "
	    "'%s/primary.img' '%s/bstate' '%s/pstate' '%s/base/'", dir, dir, dir, dir, dir, dir, dir);
	if (system(cmd) != 0)
		die("save baseline", NULL);
}

static void restore_baseline(const char *dir)
{
	char cmd[4600];
	snprintf(cmd, sizeof(cmd), "cd '%s' && rm -rf bstate pstate && cp -a base/. .", dir);
	if (system(cmd) != 0)
		die("restore baseline", NULL);
}

/* Reopen in a child that dies after the first record recovery replays,
 * so recovery itself is interrupted; the next open must still finish. */
static void recovery_crash(const char *dir)
{
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		struct fault_plan plan = { .target = 1 };
		struct diskrep_fault f = { &plan, exit_at_recover };
		struct remus_err err = { 0 };
		if (backup_open(dir, 0, &f, -1, &err) == NULL)
			die("reopen with recovery fault", &err);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 97))
		die("recovery crash child failed", NULL);
}

static int commit_crash_mode(uint64_t seed, const char *dir)
{
	struct remus_err err = { 0 };
	struct diskrep_counters c;
	int target, points = 0, early = 0, late = 0;

	commit_baseline(dir, seed);
	for (target = 1;; target++) {
		int status;
		pid_t pid;
		restore_baseline(dir);
		if ((pid = fork()) == 0)
			commit_child(dir, seed, target);
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || (WEXITSTATUS(status) != 98 && WEXITSTATUS(status) != 99 &&
		                           WEXITSTATUS(status) != 0))
			die("commit child failed", NULL);
		if (WEXITSTATUS(status) == 99)      /* crash again, inside recovery */
			recovery_crash(dir);
		struct diskrep *d = backup_open(dir, 0, NULL, -1, &err);   /* recovery */
		if (d == NULL)
			die("reopen after commit crash", &err);
		diskrep_backend("builtin")->counters(d, &c);
		diskrep_backend("builtin")->close(d);
		uint64_t want = WEXITSTATUS(status) == 98 ? BASE_EPOCH : BASE_EPOCH + 1;
		if (c.committed_epoch != want) {
			fprintf(stderr, "FAIL: crash point #%d: recovered epoch %llu, want %llu\n",
			    target, (unsigned long long)c.committed_epoch, (unsigned long long)want);
			return 1;
		}
		check_image(dir, seed, want, "commit crash");
		if (WEXITSTATUS(status) == 0)
			break;
		points++;
		want == BASE_EPOCH ? early++ : late++;
	}
	printf("diskrep commit-crash: %d crash points (%d -> N-1, %d -> N), all recovered exactly\n",
	    points, early, late);
	return points > 0 && early > 0 && late > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && strcmp(argv[1], "crash") == 0)
		return crash_mode(atoi(argv[2]), strtoull(argv[3], NULL, 0), argv[4]);
	if (argc == 4 && strcmp(argv[1], "commit-crash") == 0)
		return commit_crash_mode(strtoull(argv[2], NULL, 0), argv[3]);
	fprintf(stderr, "usage: diskrep-trial crash TRIALS SEED DIR | commit-crash SEED DIR\n");
	return 2;
}
