/*
 * Store guest: checks PVM_HC_STORE's refusals of bad arguments (exit 31..36
 * naming the first that failed), prints "store checks ok", watches "w"
 * (relative, token "t") and then, for every watch event, prints
 * "event PATH TOKEN value=V boot=B" (V the node's value, "-" if none).
 * It sleeps in WAIT until PVM_EV_STORE wakes it.
 */
#include "rt.h"

static int64_t hc5(uint64_t op, const void *a, uint64_t len, void *out, uint64_t cap)
{
	register uint64_t r10 __asm__("r10") = (uint64_t)out;
	register uint64_t r8 __asm__("r8") = cap;
	int64_t r;
	__asm__ volatile("syscall" : "=a"(r) : "a"((uint64_t)PVM_HC_STORE), "D"(op), "S"(a), "d"(len),
	                 "r"(r10), "r"(r8) : "rcx", "r11", "memory");
	return r;
}

static void put(const char *s, uint64_t n)
{
	hc3(PVM_HC_CONSOLE_WRITE, (uint64_t)s, n, 0);
}

void guest_main(uint64_t base, uint64_t bytes)
{
	static char ev[512], val[128];
	struct pvm_info info;
	int64_t n;

	(void)bytes;
	/* out outside RAM; arg longer than any request; out too small, nothing consumed */
	if (hc5(PVM_STORE_EVENT, 0, 0, (void *)0x1000, 16) != -PVM_EFAULT)
		hc_exit(31);
	if (hc5(PVM_STORE_READ, (void *)base, PVM_STORE_PATH_MAX + 2 + PVM_STORE_VALUE_MAX, ev, 16) !=
	    -PVM_E2BIG)
		hc_exit(32);
	if (hc5(PVM_STORE_WATCH, "w\0t", 3, 0, 0) != 0)
		hc_exit(33);
	if (hc5(PVM_STORE_EVENT, 0, 0, ev, 2) != -PVM_EMSGSIZE)
		hc_exit(34);
	if (hc5(PVM_STORE_EVENT, 0, 0, ev, sizeof(ev)) != 3 || ev[0] != 'w' || ev[2] != 't')
		hc_exit(35);
	if (hc5(PVM_STORE_READ, "/local", 6, val, sizeof(val)) != -PVM_EACCES)
		hc_exit(36);
	rt_puts("store checks ok\n");
	for (;;) {
		uint64_t e = (uint64_t)hc3(PVM_HC_WAIT, ~0ULL, 0, 0);
		if (!(e & PVM_EV_STORE))
			continue;
		while ((n = hc5(PVM_STORE_EVENT, 0, 0, ev, sizeof(ev) - 1)) > 0) {
			uint64_t pl = rt_strlen(ev), i;
			int64_t v = hc5(PVM_STORE_READ, "w", 1, val, sizeof(val) - 1);
			char line[700];
			uint64_t k = 0;
			const char *parts[] = { "event ", ev, " ", ev + pl + 1, " value=",
			                        v < 0 ? "-" : val, " boot=" };
			ev[n] = '\0';
			if (v >= 0)
				val[v] = '\0';
			for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
				for (const char *p = parts[i]; *p && k < 600; p++)
					line[k++] = *p;
			hc3(PVM_HC_INFO, (uint64_t)&info, sizeof(info), 0);
			line[k++] = (char)('0' + info.boot_count % 10);
			line[k++] = '\n';
			put(line, k);
		}
	}
}
