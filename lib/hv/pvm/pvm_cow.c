/*
 * Copy-on-write capture for pvm guests created with cow_capture.
 *
 * Such a guest's RAM is registered with a *synchronous* write-protect
 * userfaultfd (the stub makes it, the monitor takes it with pidfd_getfd),
 * instead of the WP-async one the other guests use for their dirty log.
 * Every page starts protected once the guest wrote it and the scan saw it;
 * the guest's first write to a protected page faults into the handler
 * thread here, which unprotects it (the page counts as written at the
 * next scan) — that fault is the tracking cost such a guest pays.
 *
 * A capture: with the guest paused, the dirty scan (pvm_dirty.c) lists the
 * written pages and write-protects them again (contiguous runs, one ioctl
 * each); pvm_cow_begin publishes that list and wakes the copy-out helper,
 * and the guest may resume.  The helper copies the list into the capture
 * buffer on another CPU.  A guest write to a listed page not yet copied
 * faults into the handler, which copies that page first, then unprotects
 * it; a device model about to write guest RAM (pvm_cow_guard) does the
 * same.  So every page lands in the buffer with its content as at the
 * pause.  Each page is copied once: helper and handler claim it with one
 * atomic exchange, the loser waits for the winner's copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"

enum { PAGE_PENDING = 0, PAGE_CLAIMED = 1, PAGE_COPIED = 2 };

struct pvm_cow {
	int uffd;                       /* the guest's WP userfaultfd (our copy) */
	int stopfd;                     /* eventfd: threads exit */
	pthread_t handler, helper;
	bool handler_up, helper_up;
	pthread_mutex_t mu;
	pthread_cond_t cv;              /* helper wake-up, capture done */
	/* the capture in progress (list, state, buffer), under mu except the
	 * per-page state words and the copies they guard */
	bool active;                    /* begun, not yet waited for */
	bool go;                        /* helper: a new list to copy */
	bool quit, hold;
	uint64_t *list;                 /* captured pfns, list order */
	size_t n, list_cap;
	uint32_t *idx;                  /* per pfn: list index + 1, 0 = not captured */
	_Atomic uint8_t *state;         /* per list index */
	uint8_t *pages;                 /* n pages, list order */
	size_t pages_cap;               /* in pages */
	atomic_size_t done;
	struct pvm_cow_stats st;        /* under mu */
};

/* Does this kernel offer synchronous write-protect on shmem? */
bool pvm_uffd_wp_sync_supported(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, UFFDIO_API, &api) == 0 && (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	close(fd);
	return ok;
}

/* (Un)protect [pfn, pfn+n) in the guest; unprotecting wakes a faulter. */
static int cow_wp(struct pvm_cow *c, uint64_t pfn, uint64_t n, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = PVM_RAM_BASE + pfn * PVM_PAGE_SIZE, .len = n * PVM_PAGE_SIZE },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(c->uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
}

/* Copy list entry i into the buffer unless someone else does; either way
 * return once it is there.  `locked`: the caller holds c->mu. */
static void cow_copy(struct pvm_guest *g, struct pvm_cow *c, size_t i, bool locked)
{
	uint8_t expect = PAGE_PENDING;

	if (atomic_compare_exchange_strong(&c->state[i], &expect, PAGE_CLAIMED)) {
		memcpy(c->pages + i * PVM_PAGE_SIZE, g->ram + c->list[i] * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
		atomic_store_explicit(&c->state[i], PAGE_COPIED, memory_order_release);
		if (atomic_fetch_add(&c->done, 1) + 1 == c->n) {
			if (!locked)
				pthread_mutex_lock(&c->mu);
			pthread_cond_broadcast(&c->cv);
			if (!locked)
				pthread_mutex_unlock(&c->mu);
		}
		return;
	}
	while (atomic_load_explicit(&c->state[i], memory_order_acquire) != PAGE_COPIED)
		sched_yield();
}

/* If pfn belongs to the capture in progress, make sure it is copied.
 * Returns true if this call did (or waited for) a copy.  Holds mu. */
static bool cow_ensure(struct pvm_guest *g, struct pvm_cow *c, uint64_t pfn)
{
	uint32_t i;

	if (!c->active || pfn >= g->nr_pfns || (i = c->idx[pfn]) == 0)
		return false;
	if (atomic_load_explicit(&c->state[i - 1], memory_order_acquire) == PAGE_COPIED)
		return false;
	cow_copy(g, c, i - 1, true);
	return true;
}

/* Handler thread: serve the guest's write faults. */
static void *cow_handler(void *arg)
{
	struct pvm_guest *g = arg;
	struct pvm_cow *c = g->cow_state;
	struct uffd_msg msg[16];

	for (;;) {
		struct pollfd p[2] = { { c->uffd, POLLIN, 0 }, { c->stopfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & (POLLERR | POLLHUP))
			break;
		ssize_t n = read(c->uffd, msg, sizeof(msg));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		for (size_t k = 0; k < (size_t)n / sizeof(msg[0]); k++) {
			if (msg[k].event != UFFD_EVENT_PAGEFAULT)
				continue;
			uint64_t pfn = (msg[k].arg.pagefault.address - PVM_RAM_BASE) / PVM_PAGE_SIZE;
			pthread_mutex_lock(&c->mu);
			c->st.faults++;
			if (cow_ensure(g, c, pfn))
				c->st.fault_copies++;
			pthread_mutex_unlock(&c->mu);
			/* -ENOENT/-EAGAIN: the range changed under us (guest gone):
			 * nothing waits then */
			cow_wp(c, pfn, 1, false);
		}
	}
	return NULL;
}

/* Helper thread: copy each new list out, on the CPUs the guest is not on. */
static void *cow_helper(void *arg)
{
	struct pvm_guest *g = arg;
	struct pvm_cow *c = g->cow_state;

	if (g->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1) {
			CPU_CLR(g->cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
	}
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->quit && (!c->go || c->hold))
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->quit)
			break;
		c->go = false;
		size_t n = c->n;
		pthread_mutex_unlock(&c->mu);
		for (size_t i = 0; i < n; i++)
			if (atomic_load_explicit(&c->state[i], memory_order_relaxed) == PAGE_PENDING)
				cow_copy(g, c, i, false);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Take the stub's userfaultfd and start the handler and helper. */
int pvm_cow_attach(struct pvm_guest *g, struct remus_err *err)
{
	struct pvm_cow *c;
	int pidfd, rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: copy-on-write state");
	c->uffd = c->stopfd = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	g->cow_state = c;
	if ((c->idx = calloc(g->nr_pfns, sizeof(*c->idx))) == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: copy-on-write index");
	pidfd = (int)syscall(SYS_pidfd_open, g->pid, 0);
	if (pidfd < 0)
		return remus_err_sys(err, errno, "pvm: pidfd_open of the guest");
	c->uffd = (int)syscall(SYS_pidfd_getfd, pidfd, PVM_COW_UFFD_FD, 0);
	rc = errno;
	close(pidfd);
	if (c->uffd < 0)
		return remus_err_sys(err, rc, "pvm: taking the guest's userfaultfd");
	if ((c->stopfd = eventfd(0, EFD_CLOEXEC)) < 0)
		return remus_err_sys(err, errno, "pvm: eventfd");
	if ((rc = pthread_create(&c->handler, NULL, cow_handler, g)) != 0)
		return remus_err_sys(err, rc, "pvm: write-fault handler thread");
	c->handler_up = true;
	if ((rc = pthread_create(&c->helper, NULL, cow_helper, g)) != 0)
		return remus_err_sys(err, rc, "pvm: copy-out thread");
	c->helper_up = true;
	return 0;
}

/* Stop the threads and drop everything (the guest is gone or going). */
void pvm_cow_detach(struct pvm_guest *g)
{
	struct pvm_cow *c = g->cow_state;
	uint64_t one = 1;

	if (c == NULL)
		return;
	if (c->handler_up) {
		if (write(c->stopfd, &one, sizeof(one)) != sizeof(one))
			abort();                /* an eventfd write of 1 cannot fail */
		pthread_join(c->handler, NULL);
	}
	if (c->helper_up) {
		pthread_mutex_lock(&c->mu);
		c->quit = true;
		c->hold = false;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->helper, NULL);
	}
	if (c->uffd >= 0)
		close(c->uffd);
	if (c->stopfd >= 0)
		close(c->stopfd);
	if (c->pages)
		munmap(c->pages, c->pages_cap * PVM_PAGE_SIZE);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->list);
	free((void *)c->state);
	free(c->idx);
	free(c);
	g->cow_state = NULL;
}

/* One ioctl per run costs about 1 us (pvm.md), one over the whole RAM
 * walks every page table entry for about 0.08 us a page: past this many
 * runs per page of RAM the single call is cheaper. */
#define WHOLE_RANGE_RUNS_PER_PAGE 12

/* Write-protect the listed pages: one ioctl per contiguous run, or one
 * over all RAM when the runs are many (pages already protected stay so). */
int pvm_cow_protect(struct pvm_guest *g, const struct hv_pfn_list *l, struct remus_err *err)
{
	struct pvm_cow *c = g->cow_state;
	size_t i = 0, j, runs = 0;
	int rc;

	if (c == NULL)
		return remus_err_set(err, HV_EBADSTATE, "pvm: copy-on-write guest without its userfaultfd");
	for (size_t k = 0; k < l->count; k++)
		runs += k == 0 || l->pfns[k] != l->pfns[k - 1] + 1;
	if (runs * WHOLE_RANGE_RUNS_PER_PAGE > g->nr_pfns) {
		if ((rc = cow_wp(c, 0, g->nr_pfns, true)) < 0)
			return remus_err_sys(err, -rc, "pvm: write-protecting all RAM");
		return 0;
	}
	while (i < l->count) {
		for (j = i + 1; j < l->count && l->pfns[j] == l->pfns[j - 1] + 1; j++)
			;
		if ((rc = cow_wp(c, l->pfns[i], j - i, true)) < 0)
			return remus_err_sys(err, -rc, "pvm: write-protecting pages %llu..%llu",
			                     (unsigned long long)l->pfns[i], (unsigned long long)l->pfns[j - 1]);
		i = j;
	}
	return 0;
}

/* Make the capture's buffers hold n pages (pre-faulted: copies never fault). */
static int cow_reserve(struct pvm_cow *c, size_t n, struct remus_err *err)
{
	if (n > c->list_cap) {
		uint64_t *l = realloc(c->list, n * sizeof(*l));
		if (l == NULL)
			return remus_err_sys(err, ENOMEM, "pvm: capture list of %zu", n);
		c->list = l;
		_Atomic uint8_t *s = realloc((void *)c->state, n);
		if (s == NULL)
			return remus_err_sys(err, ENOMEM, "pvm: capture state of %zu", n);
		c->state = s;
		c->list_cap = n;
	}
	if (n > c->pages_cap) {
		uint8_t *p = mmap(NULL, n * PVM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			return remus_err_sys(err, errno, "pvm: capture buffer of %zu pages", n);
		if (c->pages)
			munmap(c->pages, c->pages_cap * PVM_PAGE_SIZE);
		c->pages = p;
		c->pages_cap = n;
	}
	return 0;
}

/* Guest paused, l just collected (and protected) by the dirty scan:
 * publish it as the capture and start the copy-out. */
int pvm_cow_begin(struct pvm_guest *g, const struct hv_pfn_list *l, struct remus_err *err)
{
	struct pvm_cow *c = g->cow_state;
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (c->active) {
		rc = remus_err_set(err, HV_EBADSTATE, "pvm: capture_begin before the last capture_wait");
		goto out;
	}
	for (size_t i = 0; i < c->n; i++)          /* forget the last capture */
		c->idx[c->list[i]] = 0;
	c->n = 0;
	if ((rc = cow_reserve(c, l->count, err)) < 0)
		goto out;
	for (size_t i = 0; i < l->count; i++) {
		c->list[i] = l->pfns[i];
		c->idx[l->pfns[i]] = (uint32_t)i + 1;
		atomic_store_explicit(&c->state[i], PAGE_PENDING, memory_order_relaxed);
	}
	c->n = l->count;
	atomic_store(&c->done, 0);
	c->active = true;
	c->go = true;
	c->st.captures++;
	c->st.pages += l->count;
	pthread_cond_broadcast(&c->cv);
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Wait for the copy-out; the buffer stays valid until the next begin. */
int pvm_cow_wait(struct pvm_guest *g, const uint8_t **pages, struct remus_err *err)
{
	struct pvm_cow *c = g->cow_state;

	pthread_mutex_lock(&c->mu);
	if (!c->active) {
		pthread_mutex_unlock(&c->mu);
		return remus_err_set(err, HV_EBADSTATE, "pvm: capture_wait without capture_begin");
	}
	while (atomic_load(&c->done) < c->n) {
		c->hold = false;                /* a waiter always gets its pages */
		pthread_cond_broadcast(&c->cv);
		pthread_cond_wait(&c->cv, &c->mu);
	}
	c->active = false;
	*pages = c->pages;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* A device model is about to write guest RAM: copy captured pages first. */
void pvm_cow_guard(struct pvm_guest *g, uint64_t off, uint64_t len)
{
	struct pvm_cow *c = g->cow_state;

	if (c == NULL || len == 0)
		return;
	pthread_mutex_lock(&c->mu);
	for (uint64_t p = off / PVM_PAGE_SIZE; p <= (off + len - 1) / PVM_PAGE_SIZE; p++)
		if (cow_ensure(g, c, p))
			c->st.guard_copies++;
	pthread_mutex_unlock(&c->mu);
}

void pvm_cow_get_stats(struct hv_guest *hg, struct pvm_cow_stats *out)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	struct pvm_cow *c = g->cow_state;

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	pthread_mutex_unlock(&c->mu);
}

bool pvm_cow_captured(struct hv_guest *hg, uint64_t pfn)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	struct pvm_cow *c = g->cow_state;
	bool in;

	if (c == NULL || pfn >= g->nr_pfns)
		return false;
	pthread_mutex_lock(&c->mu);
	in = c->active && c->idx[pfn] != 0;
	pthread_mutex_unlock(&c->mu);
	return in;
}

void pvm_cow_hold(struct hv_guest *hg, bool hold)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	struct pvm_cow *c = g->cow_state;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->hold = hold;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}
