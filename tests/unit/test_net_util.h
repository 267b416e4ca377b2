/* Helpers shared by the rnet unit tests: key files, paired handshakes run
 * on two threads, and a single-threaded pump between two connections. */
#ifndef REMUS_TEST_NET_UTIL_H
#define REMUS_TEST_NET_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/net.h"

struct side {
	struct rnet_params p;
	struct rnet_key key;
	int fd;
	bool primary;
	int rc;
	struct remus_err err;
	struct rnet_conn *conn;
	pthread_t th;
};

/* A temporary folder holding key files; removed by tkeys_cleanup. */
struct tkeys {
	char dir[160];
	char good[192], other[192];
};

void tkeys_setup(struct tkeys *k);
/* The key folder of one test file's group (cmocka group setup/teardown). */
extern struct tkeys tkeys_group;
int tkeys_group_setup(void **state);
int tkeys_group_teardown(void **state);
void tkeys_cleanup(struct tkeys *k);
/* Write `content` to dir/name with `mode`; returns the path in buf. */
void tkeys_write(struct tkeys *k, const char *name, const char *content, int mode,
		 char *buf, size_t cap);

/* Default caps and params for a side holding the key at path. */
void side_init(struct side *s, const char *keypath, bool primary);
/* Run both handshakes over a socketpair, concurrently. */
void side_pair_handshake(struct side *pri, struct side *bak);
/* Both sides with the key at keypath, a 30 s heartbeat timeout, their
 * handshakes run and asserted to succeed. */
void side_pair_up(struct side *pri, struct side *bak, const char *keypath);
void side_free(struct side *s);

/* Move bytes between two connections until `done(arg)` or a bound on
 * rounds; returns true if done. Messages go to the callback. */
typedef void (*pump_msg_fn)(void *arg, bool at_primary, const struct rnet_msg *m);
bool pump(struct rnet_conn *a, struct rnet_conn *b, pump_msg_fn fn, void *arg,
	  bool (*done)(void *arg), int *err_rc, struct remus_err *err);

/* Two connected, authenticated rnet ends (primary, backup) over a
 * socketpair, with a long heartbeat timeout; the stream-loop tests. */
struct tlink {
	struct tkeys keys;
	struct side pri, bak;
};
void tlink_up(struct tlink *l);
void tlink_down(struct tlink *l);
/* Flush everything queued on c, waiting at most wait_ms. */
void conn_flush_all(struct rnet_conn *c, unsigned wait_ms);
/* A test primary: read c until ACK(n) arrived (*acks: the last ACK seen),
 * the peer is gone, or wait_ms passed. */
void conn_wait_ack(struct rnet_conn *c, uint64_t *acks, uint64_t n, unsigned wait_ms);
/* How many fds this process has open (leak checks). */
int open_fd_count(void);

#endif
