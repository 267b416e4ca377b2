/*
 * Fault trials of the checkpoint engine: kill the primary at a random
 * moment — while the guest is paused, between CHECKPOINT and
 * CHECKPOINT_END, right after a checkpoint was queued, or at a random time
 * while checkpoints stream — then check: the backup holds exactly one
 * complete checkpoint K, no older than the last one the primary saw
 * acknowledged (no acknowledged state lost), at most the partial one was
 * dropped, no guest output of an unapplied epoch was ever released, and
 * the replica restored from K runs on consistently.  Every fourth trial
 * captures copy-on-write: the guest runs on while its pages are copied,
 * its writes to captured pages copied first (the rig holds the copy-out
 * helper until one was), and the kill can land during that copy-out.
 * CKPT_TRIALS (default 50) trials, CKPT_SEED (default: time) seed.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tests/unit/ckpt_testlib.h"

static const char *const points[] = { "paused", "sent-checkpoint", "sent", NULL /* timer */ };

struct killer {
	struct rig *r;
	uint64_t after_us;
};

/* Kill the primary a random delay after it is protected (checkpoint 1
 * acknowledged), while checkpoints stream. */
static void *killer_main(void *arg)
{
	struct killer *k = arg;
	struct timespec d = { (time_t)(k->after_us / 1000000), (long)(k->after_us % 1000000) * 1000 };
	struct timespec tick = { 0, 1000000 };
	struct ckpt_sender *snd;
	struct ckpt_stats st = { 0 };

	for (int i = 0; i < 20000; i++) {   /* bounded: 20 s */
		if ((snd = __atomic_load_n(&k->r->snd, __ATOMIC_ACQUIRE)) != NULL) {
			ckpt_sender_stats(snd, &st);
			if (st.acked >= 1)
				break;
		}
		nanosleep(&tick, NULL);
	}
	nanosleep(&d, NULL);
	rig_kill(k->r);
	return NULL;
}

/* One trial; returns a short description for the log. */
static void trial(unsigned n, unsigned seed)
{
	struct rig r;
	struct ckpt_stats st;
	struct killer k;
	pthread_t kt;
	unsigned pick = (unsigned)rand_r(&seed) % 4;
	uint64_t replica, applied;

	/* every compression kind takes its share of the trials, and so does
	 * copy-on-write capture */
	if (n % 4 == 3)
		rig_up_cow(&r, true, n % 3);
	else
		rig_up(&r, true, n % 3);
	r.stop_point = points[pick] ? points[pick] : "never";
	r.stop_epoch = 2 + (unsigned)rand_r(&seed) % 8;
	k.r = &r;
	k.after_us = (unsigned)rand_r(&seed) % 50000;
	if (!points[pick])
		assert_int_equal(pthread_create(&kt, NULL, killer_main, &k), 0);
	run_until_fault(&r);
	if (!points[pick])
		pthread_join(kt, NULL);
	ckpt_receiver_stats(r.rcv, &st);
	applied = st.checkpoints;
	if (applied == 0) {
		/* killed during the initial sync: nothing was ever protected */
		assert_int_equal(r.acked_at_stop, 0);
		printf("trial %u: %s@%llu: killed during sync\n", n, r.stop_point,
		       (unsigned long long)r.stop_epoch);
		rig_down(&r);
		return;
	}
	if (applied < r.acked_at_stop)
		fail_msg("trial %u: backup holds %llu, primary saw %llu acknowledged", n,
		         (unsigned long long)applied, (unsigned long long)r.acked_at_stop);
	assert_true(st.discarded <= 1);
	memcpy(&replica, ckpt_receiver_ram(r.rcv) + COUNTER_OFF, sizeof(replica));
	if (replica != r.counter_at[applied])
		fail_msg("trial %u: replica counter %llu, checkpoint %llu had %llu", n,
		         (unsigned long long)replica, (unsigned long long)applied,
		         (unsigned long long)r.counter_at[applied]);
	failover_and_check(&r, r.counter_at[applied]);
	printf("trial %u%s: %s@%llu: backup at %llu (primary saw %llu acked), %llu partial dropped, "
	       "%llu frames released\n", n, r.cow ? " (cow)" : "", points[pick] ? points[pick] : "timer",
	       (unsigned long long)(points[pick] ? r.stop_epoch : k.after_us),
	       (unsigned long long)applied, (unsigned long long)r.acked_at_stop,
	       (unsigned long long)st.discarded, (unsigned long long)r.frames_out);
	rig_down(&r);
}

static void test_kill_primary_trials(void **state)
{
	const char *t = getenv("CKPT_TRIALS"), *s = getenv("CKPT_SEED");
	unsigned trials = t ? (unsigned)atoi(t) : 50;
	unsigned seed = s ? (unsigned)atoi(s) : (unsigned)time(NULL);

	(void)state;
	printf("ckpt fault trials: %u, seed %u\n", trials, seed);
	for (unsigned i = 0; i < trials; i++)
		trial(i, seed + i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_primary_trials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
