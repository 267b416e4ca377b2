/*
 * pvm internals shared by the driver's files (not installed).
 * One `struct pvm_guest` carries a guest's whole state.  The engine thread
 * only posts commands (pvm_ops.c); the monitor thread (pvm_monitor.c) owns
 * ptrace, the devices and the dirty log, and executes every command.
 */
#ifndef REMUS_PVM_IMPL_H
#define REMUS_PVM_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"
#include "hv/pvm/pvm_store.h"

#define PVM_FRAME_MIN 14u          /* an Ethernet header: the shortest frame */

enum pvm_cmd {
	PVM_CMD_NONE,
	PVM_CMD_SPAWN,      /* fork + seize the stub */
	PVM_CMD_SETCPU,     /* load cmd_vcpu into the stopped stub */
	PVM_CMD_START,
	PVM_CMD_SUSPEND,
	PVM_CMD_RESUME,
	PVM_CMD_DIRTY,
	PVM_CMD_SAVE_CPU,
	PVM_CMD_SAVE_DEV,
	PVM_CMD_ANNOUNCE,
	PVM_CMD_STORE_SAVE, /* arg: struct hv_blob * */
	PVM_CMD_STORE_REQ,  /* arg: struct pvm_store_cmd * */
	PVM_CMD_QUIT,
	PVM_CMD_HANDOFF,    /* stop + detach the paused guest, then the thread ends */
	PVM_CMD_ADOPT,      /* seize a handed-off guest (instead of SPAWN) */
};

/* What the monitor does with the guest next (monitor-thread private). */
enum pvm_run {
	PVM_R_IDLE,         /* built, not started */
	PVM_R_RUN,          /* executing (or stopped, to be resumed) */
	PVM_R_WAIT,         /* inside PVM_HC_WAIT, no event yet */
	PVM_R_PAUSED,       /* suspended by the engine */
	PVM_R_DEAD,         /* exited or crashed; process reaped */
};

/* The console's bounded, never-blocking output (pvm_console.c). */
#define PVM_CONSOLE_BUF (64u << 10)
struct pvm_console {
	int fd;                         /* where bytes go (ours or console_fd) */
	int own_fd;                     /* our non-blocking reopen, or -1 */
	bool is_socket, escape;
	uint8_t *buf;                   /* ring of PVM_CONSOLE_BUF */
	size_t head, len;
	uint64_t dropped;               /* guest bytes that did not fit */
};
int pvm_console_init(struct pvm_console *c, int fd, struct remus_err *err);
void pvm_console_write(struct pvm_console *c, const uint8_t *p, size_t n);
void pvm_console_flush(struct pvm_console *c);
bool pvm_console_pending(const struct pvm_console *c);
void pvm_console_free(struct pvm_console *c);

/* Outcome of one hypercall. */
enum pvm_hc_next { PVM_HC_CONT, PVM_HC_BLOCK, PVM_HC_STOP };

struct pvm_guest {
	char name[64];
	char *tap_name, *disk_path;
	uint64_t ram_bytes, nr_pfns;
	int ram_fd;
	uint8_t *ram;                   /* the monitor's mapping of guest RAM */
	int cpu;                        /* pin target, -1: none */
	struct hv_net_hook net;
	struct hv_disk_hook disk_io;
	uint8_t mac[6], ip[4], gw[4], prefix;

	/* devices */
	int console_fd, tap_fd, disk_fd;
	struct pvm_console con;         /* in front of console_fd */
	struct pvm_emu emu;             /* counters, clock, events; rxq is a ring */
	struct pvm_frame *rxq;          /* PVM_EMU_MAX_RXQ slots */
	uint32_t rxq_head;
	int64_t mono_offset;            /* guest mono = host mono + offset */
	struct pvm_store *store;        /* the guest's store (monitor thread only) */
	struct hv_blob store_out;       /* scratch for the guest's store replies */

	/* dirty log */
	enum hv_dirty_mode dirty_mode;
	bool cow;                       /* RAM under a synchronous WP uffd (pvm_cow.c) */
	struct pvm_cow *cow_state;      /* made when the stub is up */
	int pagemap_fd;
	uint64_t *dev_dirty;            /* bitmap: pages the monitor wrote */
	uint64_t *scan_bits;            /* scratch bitmap */
	uint64_t *hashes;               /* HV_DIRTY_HASH: per-page hash */
	void *scan_vec;                 /* PAGEMAP_SCAN result regions */

	/* the guest process (monitor thread only) */
	pid_t pid;
	bool stopped;                   /* in a ptrace stop */
	enum pvm_run run;
	bool paused_in_wait;
	bool started;                   /* start() was called */
	struct user_regs_struct hc_regs; /* regs at the current hypercall stop */
	uint64_t entry;                 /* ELF entry; 0 for a restored guest */
	pid_t adopt_pid;                /* adopt: the handed-off guest process */
	bool exitkill;                  /* PTRACE_O_EXITKILL in force (set before it runs) */
	struct pvm_vcpu *vcpu_in;       /* restore: vCPU to load */

	/* engine <-> monitor */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int evfd;
	enum pvm_cmd cmd;
	void *cmd_arg;
	int cmd_rc;
	bool cmd_done;
	struct remus_err cmd_err;
	bool executing;                 /* guest may be running: kick it */
	enum hv_run_state state;        /* published under mu */
	int exit_code;
	char reason[128];
};

/* pvm_ops.c: what construction paths share (create, restore, adopt). */
int pvm_post(struct pvm_guest *g, enum pvm_cmd c, void *arg, struct remus_err *err);
int pvm_guest_alloc(const struct hv_guest_config *cfg, uint64_t ram_bytes,
                    struct pvm_guest **out, struct remus_err *err);
int pvm_map_ram(struct pvm_guest *g, struct remus_err *err);
void pvm_take_emu(struct pvm_guest *g, const struct pvm_emu *e);
bool pvm_want_exact(void);
int pvm_start_monitor(struct pvm_guest *g, enum pvm_cmd first, struct remus_err *err);
void pvm_destroy(struct hv_guest *hg);

/* pvm_handoff.c: hv_ops hand_off/adopt, and the monitor-thread halves. */
int pvm_hand_off(struct hv_guest *hg, struct hv_handoff *out, struct remus_err *err);
int pvm_adopt(const struct hv_guest_config *cfg, const struct hv_handoff *in,
              struct hv_guest **out, struct remus_err *err);
int pvm_handoff_detach(struct pvm_guest *g, struct remus_err *err);
int pvm_adopt_seize(struct pvm_guest *g, struct remus_err *err);
int pvm_adopt_arm(struct pvm_guest *g, struct remus_err *err);

/* pvm_stub.c: fork the stub, seize it, wait for its stop. */
int pvm_stub_spawn(struct pvm_guest *g, struct remus_err *err);
bool pvm_uffd_wp_async_supported(void);

/* pvm_monitor.c */
void *pvm_monitor_main(void *arg);
void pvm_guest_fail(struct pvm_guest *g, enum hv_run_state st, int code,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int pvm_get_vcpu(struct pvm_guest *g, struct pvm_vcpu *v, struct remus_err *err);
int pvm_set_vcpu(struct pvm_guest *g, const struct pvm_vcpu *v, struct remus_err *err);

/* pvm_hcall.c */
enum pvm_hc_next pvm_hcall(struct pvm_guest *g, struct user_regs_struct *r);
uint32_t pvm_wait_events(struct pvm_guest *g, uint64_t deadline, bool consume);
uint64_t pvm_guest_mono(const struct pvm_guest *g);
/* A guest range as a monitor pointer; NULL if not inside RAM. */
uint8_t *pvm_gptr(struct pvm_guest *g, uint64_t gva, uint64_t len);
void pvm_net_poll(struct pvm_guest *g);

/* pvm_cow.c: copy-on-write capture of cow guests.  The stub leaves its
 * synchronous WP userfaultfd at this fd number for the monitor to take. */
#define PVM_COW_UFFD_FD 3
bool pvm_uffd_wp_sync_supported(void);
int pvm_cow_attach(struct pvm_guest *g, struct remus_err *err);
void pvm_cow_detach(struct pvm_guest *g);
/* Write-protect the listed pages (runs, one ioctl each): dirty tracking
 * of cow guests, and the capture's protection. */
int pvm_cow_protect(struct pvm_guest *g, const struct hv_pfn_list *l, struct remus_err *err);
/* The monitor is about to write [off, off+len) of guest RAM. */
void pvm_cow_guard(struct pvm_guest *g, uint64_t off, uint64_t len);
int pvm_cow_begin(struct pvm_guest *g, const struct hv_pfn_list *l, struct remus_err *err);
int pvm_cow_wait(struct pvm_guest *g, const uint8_t **pages, struct remus_err *err);

/* pvm_store_dev.c: the store device.  PVM_HC_STORE; the tools' requests
 * (PVM_CMD_STORE_REQ) run on the monitor thread too. */
struct pvm_store_cmd {
	const struct hv_store_req *req;
	struct hv_blob *out;
};
int64_t pvm_hc_store(struct pvm_guest *g, const struct user_regs_struct *r);
int pvm_store_cmd_req(struct pvm_guest *g, const struct pvm_store_cmd *c, struct remus_err *err);

/* pvm_dirty.c */
int pvm_dirty_init(struct pvm_guest *g, bool want_exact, struct remus_err *err);
void pvm_dirty_free(struct pvm_guest *g);
void pvm_dirty_mark(struct pvm_guest *g, uint64_t off, uint64_t len);
int pvm_dirty_collect(struct pvm_guest *g, struct hv_pfn_list *out,
                      struct remus_err *err);

#endif
