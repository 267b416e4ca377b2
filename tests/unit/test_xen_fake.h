/* A fake Xen host for the driver's unit tests: libxc, libxenguest and
 * libxenstore functions are replaced at link time (-Wl,--wrap=) by wrappers
 * working on this state.  Handles and returned buffers are heap allocated,
 * so ASan reports any the driver leaks. */
#ifndef TEST_XEN_FAKE_H
#define TEST_XEN_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#define FAKE_MAX_NODES 128
#define FAKE_CHUNK 16      /* bytes of fake libxc records per checkpoint */

struct fake_node {
	char path[96];
	char value[64];
	unsigned owner, other_id, other_perm;   /* two permission entries */
};

/* Which call fails next (name of the libxc/xs function), and with what. */
struct fake_fail {
	const char *fn;
	int nth;                /* fail the nth call (1-based) of fn */
	int err;                /* errno */
};

struct fake_xen {
	/* the protected / restored domain */
	uint32_t domid;
	bool exists, hvm, paused, suspended, crashed, never_suspends;
	bool coop_suspended;        /* suspended itself (control/shutdown) */
	int fast_resumes, slow_resumes, xs_resumes;
	bool shadow_paging;         /* xc_physinfo reports PHYSCAP_shadow */
	unsigned shutdown_reason;
	uint32_t created_domid;     /* what xc_domain_create hands out */
	int domains_created, domains_destroyed, unpauses, introduced;
	unsigned long store_mfn_introduced;
	unsigned max_vcpus;         /* xc_domain_max_vcpus of the replica */
	uint64_t paging_pool_bytes; /* xc_set_paging_mempool_size of the replica */
	/* libxl */
	int libxl_open, userdata_stored, disks_added, nics_added;
	uint8_t *libxl_restore_data;   /* what the fake libxl restore read (heap) */
	size_t libxl_restore_bytes;
	char libxl_restore_name[64];   /* c_info.name it was given */
	bool json_hvm;              /* the fake JSON parser reports an HVM guest */
	char disk_path_added[64];   /* pdev_path of the last disk added */
	char userdata[128];         /* the last stored configuration (truncated) */
	uint64_t json_max_memkb;    /* what the fake JSON parser reports */
	/* xenstore */
	struct fake_node nodes[FAKE_MAX_NODES];
	int nnodes;
	/* handles and transactions */
	int xc_open, xs_open, tx_open, tx_committed, tx_aborted;
	/* fake libxc loop */
	int save_checkpoints;       /* checkpoints written by the fake save */
	int restore_checkpoints;    /* checkpoints accepted by the fake restore */
	int restore_result;         /* last return of the checkpoint callback */
	bool restore_failed_over;
	bool restore_saw_end;       /* the fake restore read libxc's END */
	/* libxl_domain_rename and the @releaseDomain watch (test_xen_fake_rename.c) */
	int renames, watches;
	int watch_pipe[2];          /* readable: a watch event is pending */
	uint32_t release_on_watch;  /* this domain is released when a watch is set */
	/* A test's own libxc stream (test_xen_fake_pages.c), instead of the
	 * fixed chunks: the fake save writes checkpoint n's libxc records
	 * with put_libxc (0 ok), the fake restore reads libxc's records with
	 * read_libxc: 1 a CHECKPOINT record was read (the checkpoint callback
	 * follows), 2 END, 0 the stream stopped. */
	int (*put_libxc)(int fd, int n);
	int (*read_libxc)(int fd);
	/* failure injection */
	struct fake_fail fail;
	int calls[48];
};

extern struct fake_xen fake;

void fake_reset(void);
void fake_set_node(const char *path, const char *value, unsigned owner,
    unsigned other_id, unsigned other_perm);
const struct fake_node *fake_get_node(const char *path);
/* How often fn (a wrapped function's name) was called since the reset. */
int fake_calls(const char *fn);
/* Domain id's xenstore nodes go away and @releaseDomain fires. */
void fake_release_domain(uint32_t id);

#endif
