/*
 * remusctl: status and stats rendered as text (or JSON as is), and the
 * progress protect draws while a guest synchronises.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "remusd/remusctl.h"

/* Text rendering of one guest's status object. */
static void print_guest(struct json_object *g)
{
	struct json_object *v;
	static const char *const keys[] = {
		"role", "state", "peer", "epoch", "acked", "checkpoints", "discarded", "stretched",
		"interval_ms", "last_pause_us", "avg_pause_us", "max_pause_us", "message",
	};

	json_object_object_get_ex(g, "name", &v);
	printf("%s\n", json_object_get_string(v));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_object_get_ex(g, keys[i], &v) && json_object_get_string(v)[0])
			printf("  %-14s %s\n", keys[i], json_object_get_string(v));
	if (json_object_object_get_ex(g, "failover", &v))
		printf("  %-14s %s\n", "failover", json_object_to_json_string(v));
}

/* The daemon's quorum line (absent from an older daemon's JSON). */
static void print_quorum(struct json_object *root)
{
	struct json_object *q, *b, *t;

	if (json_object_object_get_ex(root, "quorum", &q) &&
	    json_object_object_get_ex(q, "backend", &b) && json_object_object_get_ex(q, "text", &t))
		printf("quorum (%s): %s\n", json_object_get_string(b), json_object_get_string(t));
}

/* status/stats: JSON as is, or a short text rendering. */
int remusctl_status(const struct opts *o, uint16_t type, const char *guest)
{
	uint8_t req[CTL_HDR_LEN + CTL_GUEST_MAX + 16];
	struct ctl_msg rep;
	struct ctl_conn *c = NULL;
	struct json_object *root, *arr;
	int rc = remusctl_call(o, req, ctl_encode_guest_req(req, sizeof(req), type, 1, guest ? guest : ""),
	              &rep, &c);

	if (rc < 0)
		return 1;
	if (rep.code < 0 || rep.format != CTL_FMT_JSON) {
		fprintf(stderr, "remusctl: %.*s\n", (int)rep.payload_len, rep.payload);
		ctl_conn_free(c);
		return 1;
	}
	if (o->json) {
		printf("%.*s\n", (int)rep.payload_len, rep.payload);
	} else if ((root = json_tokener_parse(rep.payload)) != NULL) {
		if (json_object_object_get_ex(root, "guests", &arr))
			for (size_t i = 0; i < json_object_array_length(arr); i++)
				print_guest(json_object_array_get_idx(arr, i));
		print_quorum(root);
		json_object_put(root);
	}
	ctl_conn_free(c);
	return 0;
}

/* What `protect` shows of a guest while it synchronises. */
struct sync_view {
	char state[32], msg[512];
	unsigned round;
	uint64_t done, total;                 /* pages of this RAM round */
	uint64_t ram_bytes;                   /* RAM bytes sent, all rounds */
	uint64_t disk_done, disk_total;       /* disk bytes compared */
	uint64_t disk_blocks;                 /* disk blocks that differed */
	uint64_t sync_ms, sync_bytes, precopy_pages;
};

/* A u64 member of a status object (0 if absent). */
static uint64_t jget_u64(struct json_object *g, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(g, k, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

/* The state (and sync progress) of one guest, from status JSON. */
static int poll_state(const struct opts *o, const char *guest, struct sync_view *sv)
{
	uint8_t req[CTL_HDR_LEN + CTL_GUEST_MAX + 16];
	struct ctl_msg rep;
	struct ctl_conn *c = NULL;
	struct json_object *root, *arr, *g, *v;
	int rc = remusctl_call(o, req, ctl_encode_guest_req(req, sizeof(req), CTL_STATUS, 1, guest), &rep, &c);

	if (rc < 0)
		return rc;
	root = rep.code == 0 ? json_tokener_parse(rep.payload) : NULL;
	ctl_conn_free(c);
	if (root == NULL || !json_object_object_get_ex(root, "guests", &arr) ||
	    json_object_array_length(arr) < 1) {
		json_object_put(root);
		return -EPROTO;
	}
	g = json_object_array_get_idx(arr, 0);
	snprintf(sv->state, sizeof(sv->state), "%s",
	         json_object_object_get_ex(g, "state", &v) ? json_object_get_string(v) : "?");
	snprintf(sv->msg, sizeof(sv->msg), "%s",
	         json_object_object_get_ex(g, "message", &v) ? json_object_get_string(v) : "");
	sv->round = (unsigned)jget_u64(g, "sync_round");
	sv->done = jget_u64(g, "sync_done");
	sv->total = jget_u64(g, "sync_total");
	sv->ram_bytes = jget_u64(g, "sync_bytes_sent");
	sv->disk_done = jget_u64(g, "sync_disk_done");
	sv->disk_total = jget_u64(g, "sync_disk_total");
	sv->disk_blocks = jget_u64(g, "sync_disk_blocks");
	sv->sync_ms = jget_u64(g, "sync_ms");
	sv->sync_bytes = jget_u64(g, "sync_bytes");
	sv->precopy_pages = jget_u64(g, "precopy_pages");
	json_object_put(root);
	return 0;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

/* One progress line: RAM round and pages, disk compared and sent. */
static void progress_line(const char *guest, const struct sync_view *sv, bool tty)
{
	unsigned pct = sv->total ? (unsigned)(sv->done * 100 / sv->total) : 0, bar = pct / 5;

	printf("%ssyncing %s: RAM round %u [%.*s%*s] %3u%% of %" PRIu64 " pages",
	       tty ? "\r\033[K" : "", guest, sv->round, (int)bar, "####################",
	       (int)(20 - bar), "", pct, sv->total);
	if (sv->disk_total)
		printf(" | disk %.0f/%.0f MiB compared, %" PRIu64 " blocks sent", mib(sv->disk_done),
		       mib(sv->disk_total), sv->disk_blocks);
	printf("%s", tty ? "" : "\n");
	fflush(stdout);
}

/* Not a tty (logs): a line only when the RAM round changes or the disk
 * advanced by a quarter — never carriage returns. */
static bool worth_a_line(const struct sync_view *sv, const struct sync_view *last)
{
	if (sv->round != last->round)
		return true;
	return sv->disk_total && sv->disk_done * 4 / sv->disk_total !=
	       last->disk_done * 4 / (last->disk_total ? last->disk_total : sv->disk_total);
}

/* After protect was accepted: draw progress until protected or failed. */
int remusctl_wait_protected(const struct opts *o, const char *guest)
{
	struct sync_view sv, last = { .round = 0 };
	struct timespec d = { 0, 50000000 };
	bool tty = isatty(STDOUT_FILENO), drawn = false;

	for (unsigned i = 0; i < o->wait_s * 20; i++) {
		if (poll_state(o, guest, &sv) < 0)
			return 1;
		if (strcmp(sv.state, "protected") == 0) {
			if (drawn && tty)
				printf("\r\033[K");
			printf("%s: protected: synchronised in %.2f s, %u RAM rounds (%" PRIu64
			       " pages), %.1f MiB sent", guest, (double)sv.sync_ms / 1000.0, sv.round,
			       sv.precopy_pages, mib(sv.sync_bytes));
			if (sv.disk_total)
				printf(", disk %.0f MiB compared, %" PRIu64 " blocks sent",
				       mib(sv.disk_total), sv.disk_blocks);
			printf("\n");
			return 0;
		}
		if (strcmp(sv.state, "syncing") != 0 && strcmp(sv.state, "idle") != 0) {
			printf("%s%s: %s: %s\n", drawn && tty ? "\r\033[K" : "", guest, sv.state, sv.msg);
			return 1;
		}
		if (sv.total && (tty || worth_a_line(&sv, &last))) {
			progress_line(guest, &sv, tty);
			drawn = true;
			last = sv;
		}
		nanosleep(&d, NULL);
	}
	fprintf(stderr, "\nremusctl: %s not protected within %u s\n", guest, o->wait_s);
	return 1;
}
