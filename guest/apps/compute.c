/*
 * compute: a fixed CPU + memory workload that reports its own work rate,
 * for the compute-slowdown bench (bench/compute.c: the same guest alone
 * and protected at 40 Hz).  One unit of work is COMPUTE_UNIT_STEPS steps
 * of a 64-bit mixing function, each reading one word and writing another
 * at pseudo-random places of a COMPUTE_WS_PAGES working set, so that the
 * guest both computes and dirties every page of its working set many
 * times per epoch (the dirty set a checkpoint copies is the whole working
 * set, the write faults of dirty tracking are paid once per page and
 * epoch).  Every COMPUTE_REPORT_NS of guest time it prints
 *
 *     compute units=U ns=T
 *
 * U the units done since boot, T the guest's monotonic clock (which runs
 * on through checkpoint pauses), so the reader's rate dU/dT is the work
 * the guest got done per second of wall time.
 */
#include "guest/rt/rt.h"

#define COMPUTE_WS_PAGES   1024u            /* 4 MiB */
#define COMPUTE_UNIT_STEPS 8192u
#define COMPUTE_REPORT_NS  50000000ull      /* 50 ms */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

int main(void)
{
	const uint64_t words = COMPUTE_WS_PAGES * PVM_PAGE_SIZE / sizeof(uint64_t);
	uint64_t *ws = rt_calloc(words, sizeof(uint64_t));
	uint64_t x = 1, units = 0, next;

	if (ws == NULL) {
		rt_printf("compute: cannot allocate %u pages\n", COMPUTE_WS_PAGES);
		return 1;
	}
	rt_printf("compute: ws=%u pages unit=%u steps\n", COMPUTE_WS_PAGES, COMPUTE_UNIT_STEPS);
	next = rt_now_ns() + COMPUTE_REPORT_NS;
	for (;;) {
		for (uint32_t i = 0; i < COMPUTE_UNIT_STEPS; i++) {
			x = mix(x ^ ws[x % words]);
			ws[(x >> 32) % words] += x;
		}
		units++;
		uint64_t now = rt_now_ns();
		if (now >= next) {
			rt_printf("compute units=%llu ns=%llu\n", (unsigned long long)units,
				  (unsigned long long)now);
			next = now + COMPUTE_REPORT_NS;
		}
	}
}
