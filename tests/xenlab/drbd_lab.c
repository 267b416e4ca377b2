/*
 * The drbd diskrep backend against real DRBD (lab only, inside dom0): one
 * process per side of a DRBD pair, driven by lines on stdin, one answer
 * line each ("ok ...", or "FAIL what: why").
 *   drbd-lab primary|backup RESOURCE MINOR BACKING LOCAL_HOST LOCAL_ADDR
 *            PEER_HOST PEER_ADDR CONF_DIR
 * commands: write OFF LEN BYTE | mark EPOCH | commit EPOCH | promote |
 *           state | quit
 * The answers are the only lines on stdout: the drbd tools the backend runs
 * write to stderr instead.
 */
#include "diskrep/diskrep.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LAB_MAX_WRITE (1u << 20)

static FILE *answers;

static void answer_err(const char *what, const struct remus_err *err)
{
	fprintf(answers, "FAIL %s: %s\n", what, err->msg);
	fflush(answers);
}

static void answer_ok(const char *text)
{
	fprintf(answers, "ok%s%s\n", text[0] ? " " : "", text);
	fflush(answers);
}

/* One command line; false when the driver should stop. */
static bool run_command(const struct diskrep_ops *ops, struct diskrep *d, const char *line)
{
	static uint8_t buf[LAB_MAX_WRITE];
	struct remus_err err = { 0 };
	struct diskrep_counters c;
	uint64_t off, len, epoch;
	unsigned byte;
	char text[160];
	struct timespec t0, t1;

	if (sscanf(line, "write %" SCNu64 " %" SCNu64 " %u", &off, &len, &byte) == 3) {
		if (len == 0 || len > LAB_MAX_WRITE) {
			fprintf(answers, "FAIL write: length %" PRIu64 " outside 1..%u\n", len, LAB_MAX_WRITE);
			fflush(answers);
			return true;
		}
		memset(buf, (int)(byte & 0xff), (size_t)len);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (ops->write(d, off, buf, (size_t)len, &err) < 0 || ops->flush(d, &err) < 0) {
			answer_err("write", &err);
		} else {
			/* write + flush: with protocol C, until the peer's disk has it */
			clock_gettime(CLOCK_MONOTONIC, &t1);
			snprintf(text, sizeof(text), "us=%lld",
			    (long long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
			answer_ok(text);
		}
	} else if (sscanf(line, "mark %" SCNu64, &epoch) == 1) {
		if (ops->epoch_mark(d, epoch, &err) < 0)
			answer_err("mark", &err);
		else
			answer_ok("");
	} else if (sscanf(line, "commit %" SCNu64, &epoch) == 1) {
		if (ops->commit(d, epoch, &err) < 0)
			answer_err("commit", &err);
		else
			answer_ok("");
	} else if (strcmp(line, "promote") == 0) {
		if (ops->discard_uncommitted(d, &err) < 0 || ops->promote(d, &err) < 0)
			answer_err("promote", &err);
		else
			answer_ok("");
	} else if (strcmp(line, "state") == 0) {
		ops->counters(d, &c);
		snprintf(text, sizeof(text), "consistent=%d peer_lost=%d writes=%" PRIu64
		    " marked=%" PRIu64 " committed=%" PRIu64, c.consistent, c.peer_lost, c.writes,
		    c.epochs_marked, c.committed_epoch);
		answer_ok(text);
	} else if (strcmp(line, "quit") == 0) {
		return false;
	} else {
		fprintf(answers, "FAIL unknown command: %s\n", line);
		fflush(answers);
	}
	return true;
}

int main(int argc, char **argv)
{
	const struct diskrep_ops *ops = diskrep_backend("drbd");
	struct diskrep_config cfg = { .unsafe = true, .peer_fd = -1 };
	struct remus_err err = { 0 };
	struct diskrep *d;
	char line[256];

	/* answers keep the original stdout; the tools' output goes to stderr */
	int fd = dup(STDOUT_FILENO);

	if (fd < 0 || (answers = fdopen(fd, "w")) == NULL || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		perror("drbd-lab: stdout");
		return 2;
	}
	if (argc != 10 || ops == NULL) {
		fprintf(stderr, "usage: drbd-lab primary|backup RESOURCE MINOR BACKING LOCAL_HOST "
		    "LOCAL_ADDR PEER_HOST PEER_ADDR CONF_DIR\n");
		return 2;
	}
	cfg.role = strcmp(argv[1], "primary") == 0 ? DISKREP_PRIMARY : DISKREP_BACKUP;
	cfg.drbd = (struct diskrep_drbd_config){
		.resource = argv[2], .minor = (unsigned)strtoul(argv[3], NULL, 10),
		.backing_disk = argv[4], .local_host = argv[5], .local_addr = argv[6],
		.peer_host = argv[7], .peer_addr = argv[8], .conf_dir = argv[9],
	};
	if (ops->open(&cfg, &d, &err) < 0) {
		answer_err("open", &err);
		return 1;
	}
	answer_ok("ready");
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (!run_command(ops, d, line))
			break;
	}
	ops->close(d);
	fclose(answers);
	return 0;
}
