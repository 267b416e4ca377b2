/*
 * counter: prints a monotonically increasing counter on the console every
 * 100 ms (the counter lives in RAM, so a restored guest continues it).
 */
#include "guest/rt/rt.h"

#define COUNTER_PERIOD_NS 100000000ull

/* Print the counter every period, sleeping in the wait hypercall. */
int main(void)
{
	struct pvm_info info;
	uint64_t counter = 0, next;

	memset(&info, 0, sizeof(info));
	hc_info(&info, sizeof(info));
	rt_printf("counter: start name=%s boot=%llu\n", info.name,
		  (unsigned long long)info.boot_count);
	next = rt_now_ns();
	for (;;) {
		rt_printf("counter %llu\n", (unsigned long long)counter++);
		next += COUNTER_PERIOD_NS;
		while (rt_now_ns() < next)
			hc_wait(next);
	}
}
