/*
 * libFuzzer target: the builtin backend's wire messages.  The input is a
 * byte stream of frames as a hostile primary would send them; each frame is
 * parsed and delivered to a real backup handle (64 KiB image in a temp
 * dir), which must reject bad ones without applying anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>

#include "diskrep/internal.h"

#define IMG (64u * 1024)

static struct diskrep *backup;
static const struct diskrep_ops *ops;
static char dir[256];

/* Leave no temp dir behind when libFuzzer exits. */
static void cleanup(void)
{
	char cmd[300];
	ops->close(backup);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return;
}

/* libFuzzer may leave without running atexit handlers: remove the dirs
 * of earlier runs whose process is gone. */
static void remove_stale(const char *tmp)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "for d in '%s'/fuzz_diskrep.*; do [ -d \"$d\" ] || continue; "
	    "kill -0 \"${d##*.}\" 2>/dev/null || rm -rf \"$d\"; done", tmp);
	if (system(cmd) != 0)
		return;
}

/* One backup handle for the whole run (fuzzers have no main). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char img[300], st[300];
	struct remus_err err = { 0 };
	/* tmpfs when available: the resync messages fsync the state file */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	(void)argc; (void)argv;

	tmp = tmp && *tmp ? tmp : "/tmp";
	remove_stale(tmp);
	snprintf(dir, sizeof(dir), "%s/fuzz_diskrep.%d", tmp, (int)getpid());
	if (mkdir(dir, 0700) < 0)
		abort();
	snprintf(img, sizeof(img), "%s/b.img", dir);
	snprintf(st, sizeof(st), "%s/st", dir);
	mkdir(st, 0700);
	FILE *f = fopen(img, "w");
	if (f == NULL || ftruncate(fileno(f), IMG) < 0)
		abort();
	fclose(f);
	ops = diskrep_backend("builtin");
	struct diskrep_config c = { .role = DISKREP_BACKUP, .image = img, .state_dir = st,
	                            .peer_fd = -1, .block_size = 4096, .stage_mem_cap = 8192 };
	if (ops->open(&c, &backup, &err) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct diskrep_event ev;
	struct drw_msg m;

	while (size > 0) {
		size_t len = size;
		if (size >= DRW_HDR_LEN) {      /* cut at the length the header claims */
			size_t want = (size_t)DRW_HDR_LEN + get_le32(data + 4);
			if (want < len)
				len = want;
		}
		if (drw_parse(data, len, &m, &err) == 0 && m.type == DRW_HASH_REPLY)
			(void)drw_hash_at(&m, m.count - 1);
		if (ops->deliver(backup, data, len, &ev, &err) < 0 && err.msg[0] == '\0')
			abort();                    /* every refusal names its reason */
		data += len;
		size -= len;
	}
	ops->discard_uncommitted(backup, &err);
	return 0;
}
