/*
 * dirtier: writes to a configurable number of pages per millisecond,
 * walking a configurable working set, and reports its progress rate once
 * a second ("dirtier: pages=... rate=... pages/s").  Configuration comes
 * from the first disk sector if it starts with "dirtier " followed by
 * "rate=PAGES_PER_MS ws=PAGES" (defaults: rate=100, ws=4096 = 16 MiB).
 */
#include "guest/rt/rt.h"

struct dirtier_cfg {
	uint64_t rate;   /* pages per millisecond */
	uint64_t ws;     /* working set in pages */
};

/* Parse "key=value" tokens after the "dirtier " prefix (unknown keys ignored). */
static void dirtier_parse(const char *s, size_t len, struct dirtier_cfg *cfg)
{
	size_t i = 0;

	while (i < len && s[i] && s[i] != '\n') {
		size_t start = i, eq = 0;
		uint64_t v;
		while (i < len && s[i] && s[i] != ' ' && s[i] != '\n') {
			if (s[i] == '=' && !eq)
				eq = i;
			i++;
		}
		if (eq && rt_parse_u64(s + eq + 1, i - eq - 1, &v)) {
			if (eq - start == 4 && !memcmp(s + start, "rate", 4))
				cfg->rate = v;
			else if (eq - start == 2 && !memcmp(s + start, "ws", 2))
				cfg->ws = v;
		}
		while (i < len && s[i] == ' ')
			i++;
	}
}

/* Read the configuration sector, if the machine has a disk. */
static void dirtier_config(struct dirtier_cfg *cfg)
{
	struct pvm_info info;
	char sec[PVM_SECTOR_SIZE];

	memset(&info, 0, sizeof(info));
	hc_info(&info, sizeof(info));
	if (info.disk_sectors && hc_blk_read(0, sec, 1) == 0 && !memcmp(sec, "dirtier ", 8))
		dirtier_parse(sec + 8, sizeof(sec) - 8, cfg);
	if (cfg->rate == 0)
		cfg->rate = 1;
	if (cfg->ws == 0)
		cfg->ws = 1;
	if (cfg->ws > PVM_RAM_MAX / PVM_PAGE_SIZE)   /* keeps ws * page size in range */
		cfg->ws = PVM_RAM_MAX / PVM_PAGE_SIZE;
}

/* Dirty pages at the configured rate and report progress. */
int main(void)
{
	struct dirtier_cfg cfg = { .rate = 100, .ws = 4096 };
	uint8_t *mem;
	uint64_t page = 0, done = 0, last_done = 0, tick, report;

	dirtier_config(&cfg);
	mem = rt_malloc(cfg.ws * PVM_PAGE_SIZE);
	if (!mem) {
		rt_printf("dirtier: cannot allocate %llu pages\n", (unsigned long long)cfg.ws);
		return 1;
	}
	rt_printf("dirtier: rate=%llu pages/ms ws=%llu pages\n",
		  (unsigned long long)cfg.rate, (unsigned long long)cfg.ws);
	tick = rt_now_ns();
	report = tick + 1000000000ull;
	for (;;) {
		for (uint64_t i = 0; i < cfg.rate; i++) {
			mem[page * PVM_PAGE_SIZE + (done % PVM_PAGE_SIZE)] = (uint8_t)done;
			page = page + 1 == cfg.ws ? 0 : page + 1;
			done++;
		}
		tick += 1000000ull;
		if (rt_now_ns() >= report) {
			rt_printf("dirtier: pages=%llu rate=%llu pages/s\n", (unsigned long long)done,
				  (unsigned long long)(done - last_done));
			last_done = done;
			report += 1000000000ull;
		}
		while (rt_now_ns() < tick)
			hc_wait(tick);
	}
}
