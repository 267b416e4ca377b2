/*
 * remus.conf: the daemon's configuration, INI in the spirit of xl.cfg.
 *
 *   [global]                      listen_address, listen_port, key_file,
 *                                 control_socket, log_level, tls, unsafe,
 *                                 heartbeat_interval_ms, heartbeat_timeout_ms,
 *                                 metrics_listen, quorum, quorum_settle_ms,
 *                                 failover, state_dir
 *   [guest NAME]                  type, image, mem, tap, mac, ip, disk, peer,
 *                                 interval, netbuf, diskrep, drbd_resource,
 *                                 compression, capture, unsafe
 *
 * Parsing is all-or-nothing: a file is parsed into a fresh structure that
 * is only returned when every line and every cross-key rule is valid; any
 * error names file:line, the section and the key.  Reload keeps the old
 * structure on error.  See docs/config.md.
 */
#ifndef REMUS_REMUSD_CONFIG_H
#define REMUS_REMUSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define REMUSD_CONF_MAX_BYTES  (1u << 20)
#define REMUSD_MAX_GUESTS      64u
#define REMUSD_NAME_MAX        64u     /* incl. NUL; same as RNET_NAME_MAX */
#define REMUSD_PATH_MAX        256u
#define REMUSD_HOST_MAX        256u
#define REMUSD_SUN_PATH_MAX    108u
#define REMUSD_DEFAULT_PORT    7575u
#define REMUSD_DEFAULT_CTL     "/run/remus/remusd.sock"
#define REMUSD_DEFAULT_STATE_DIR "/var/lib/remus"

#define REMUSD_ERRORS(X) \
	X(REMUSD_ECONF, -4001, "the configuration is invalid (file:line in msg)")
enum remusd_conf_error { REMUSD_ERRORS(REMUS_ERR_ENUM) };

enum remusd_guest_type { REMUSD_GUEST_PVM, REMUSD_GUEST_XEN };
enum remusd_capture { REMUSD_CAPTURE_COPY, REMUSD_CAPTURE_COW };
/* [guest] reprotect: off (default) or auto: a primary left unprotected
 * (promoted by a failover, or its backup lost) protects itself again to
 * its peer as soon as the peer's remusd answers, with back-off. */
enum remusd_reprotect { REMUSD_REPROTECT_OFF, REMUSD_REPROTECT_AUTO };

enum remusd_netbuf {
	REMUSD_NETBUF_INLINE, REMUSD_NETBUF_NFQUEUE, REMUSD_NETBUF_PLUG, REMUSD_NETBUF_NONE
};
/* quorum = none | corosync: who judges a lost peer (remusd/quorum.h) */
enum remusd_quorum_kind { REMUSD_QUORUM_NONE, REMUSD_QUORUM_COROSYNC };
#define REMUSD_QUORUM_SETTLE_DEFAULT 5000u   /* ms: > corosync's token + consensus */
/* failover = auto: remusd fails over itself (gated by quorum); cluster: it
 * only reports the lost primary, the cluster manager promotes (OCF agent) */
enum remusd_failover { REMUSD_FAILOVER_AUTO, REMUSD_FAILOVER_CLUSTER };
enum remusd_log_level { REMUSD_LOG_WARN, REMUSD_LOG_INFO, REMUSD_LOG_DEBUG };

/* Options that weaken the replication guarantee (need explicit consent). */
#define REMUSD_UNSAFE_NO_NETBUF  0x1u   /* outputs not held until ack */
#define REMUSD_UNSAFE_NO_DISKREP 0x2u   /* disk not replicated */
#define REMUSD_UNSAFE_BLACKHOLE  0x4u   /* no real backup: discard stream */
/* diskrep = drbd: stock DRBD writes the backup's disk at once, so after a
 * failover the disk may be ahead of the restored memory by the writes of
 * the one epoch that was not acknowledged (docs/diskrep.md). */
#define REMUSD_UNSAFE_DRBD_DISK_AHEAD 0x8u
#define REMUSD_DRBD_RES_MAX      65u    /* incl. NUL */
#define REMUSD_NBD_DEV_MAX       16u    /* "/dev/nbd" + up to 4 digits, NUL */

struct remusd_guest_conf {
	char name[REMUSD_NAME_MAX];
	unsigned line;                  /* of the [guest NAME] header */
	uint32_t type;                  /* enum remusd_guest_type */
	char image[REMUSD_PATH_MAX];
	uint32_t mem_mb;
	char tap[16];                   /* IFNAMSIZ */
	bool has_mac;
	uint8_t mac[6];
	char ip[48];                    /* IPv4/IPv6, optional /prefix */
	char disk[REMUSD_PATH_MAX];
	char peer_host[REMUSD_HOST_MAX];
	uint16_t peer_port;             /* 0: no peer configured */
	uint32_t interval_ms;
	uint32_t netbuf;                /* enum remusd_netbuf */
	uint32_t diskrep;               /* enum diskrep_kind (diskrep/kind.h) */
	char drbd_resource[REMUSD_DRBD_RES_MAX]; /* diskrep = drbd: the adopted resource */
	char nbd_device[REMUSD_NBD_DEV_MAX];     /* xen + builtin: /dev/nbdN served here */
	uint32_t compress;              /* enum rnet_compress */
	uint32_t capture;               /* enum remusd_capture */
	uint32_t unsafe;                /* REMUSD_UNSAFE_* */
	uint32_t reprotect;             /* enum remusd_reprotect */
};

struct remusd_conf {
	char listen_addr[REMUSD_HOST_MAX];
	uint16_t listen_port;
	char key_file[REMUSD_PATH_MAX];
	char control_socket[REMUSD_SUN_PATH_MAX];
	uint32_t log_level;             /* enum remusd_log_level */
	bool tls;
	uint32_t hb_interval_ms, hb_timeout_ms;
	char metrics_host[REMUSD_HOST_MAX];   /* metrics_listen's numeric address */
	uint16_t metrics_port;          /* 0: no metrics endpoint (default) */
	uint32_t unsafe_files;          /* [global] unsafe = file-permissions */
	uint32_t quorum;                /* enum remusd_quorum_kind (quorum.h) */
	uint32_t quorum_settle_ms;      /* how long a lost peer's verdict waits for
	                                 * the cluster to notice a partition */
	uint32_t failover;              /* enum remusd_failover */
	char state_dir[REMUSD_PATH_MAX];  /* ownership generations (generation.h) */
	char file_warning[REMUSD_PATH_MAX + 256]; /* what that override let pass */
	size_t nguests;
	struct remusd_guest_conf guests[REMUSD_MAX_GUESTS];
};

/* Parse text (named `name` in messages) into a new conf. */
int remusd_conf_parse(const char *name, const char *text, size_t len,
		      struct remusd_conf **out, struct remus_err *err);
/* Read and parse a file (at most REMUSD_CONF_MAX_BYTES). */
int remusd_conf_load(const char *path, struct remusd_conf **out, struct remus_err *err);
/* All-or-nothing reload: *cur is replaced (and the old one freed) only if
 * the new file is entirely valid; on error *cur is untouched. */
int remusd_conf_reload(const char *path, struct remusd_conf **cur, struct remus_err *err);
void remusd_conf_free(struct remusd_conf *c);
/* The config file and every file it names (key, images, disks) owned by
 * root or us and not writable by group/others; else REMUSD_ECONF naming
 * the file, or with unsafe_files the reason in c->file_warning (to log).
 * remusd_conf_load/reload call it. */
int remusd_conf_check_files(const char *conf_path, struct remusd_conf *c, struct remus_err *err);

const struct remusd_guest_conf *remusd_conf_guest(const struct remusd_conf *c,
						  const char *name);
/* Names for status output and messages. */
const char *remusd_netbuf_name(uint32_t v);
const char *remusd_guest_type_name(uint32_t v);

/* "host:port" or "[v6addr]:port" into host (cap bytes) and *port; with
 * port_optional a bare host leaves *port as it is.  NULL, or what is wrong
 * with v (to follow it in a message). */
const char *remusd_split_hostport(const char *v, bool port_optional, char *host, size_t cap,
                                  uint16_t *port);

#endif
