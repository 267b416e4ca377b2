/*
 * kvstore: a key-value service on TCP and UDP port 7000.
 *   TCP, one command per line:  PUT key value -> "OK seq"
 *                               GET key       -> "VALUE value" | "NOTFOUND"
 *                               STATS         -> "STATS k=v ..."
 *   UDP, one command per datagram prefixed by a request id: "ID PUT k v"
 *   -> "ID OK seq" (the id is echoed on every reply).
 * A PUT is applied in RAM, appended to the log on the block device, and
 * acknowledged only after the log write has been flushed (group commit:
 * once per event-loop turn).  At boot the log is replayed.
 */
#include "guest/apps/kvlog.h"
#include "guest/net/netif.h"
#include "guest/rt/rt.h"

#define KV_PORT       7000
#define KV_BUCKETS    65536u
#define KV_LINE_MAX   (KVLOG_KEY_MAX + KVLOG_VAL_MAX + 16)
#define KV_REPLY_MAX  (KVLOG_VAL_MAX + 64)
#define KV_UDP_PENDING 256
#define KV_ID_MAX     32

struct kv_entry {
	struct kv_entry *next;
	uint16_t klen, vlen;
	uint8_t data[];          /* key then value */
};

struct kv_conn {
	struct net_tcp *c;
	bool waiting;            /* paused until the next commit */
	uint64_t ack_seq;        /* PUT to acknowledge after it (0: none) */
	char line[KV_LINE_MAX + 1];
};

struct kv_udp_reply {
	struct net_udp_peer peer;
	uint64_t seq;
	uint8_t idlen;
	char id[KV_ID_MAX];
};

struct kv {
	struct net *net;
	struct kv_entry **bucket;
	uint64_t keys, puts, gets, next_seq;
	bool has_disk, io_error;
	uint64_t disk_sectors, log_sector;
	struct kvlog_batch batch;
	struct kv_conn *conn[128];
	struct kv_udp_reply udp[KV_UDP_PENDING];
	unsigned nudp;
};

/* FNV-1a over the key. */
static uint32_t kv_hash(const uint8_t *k, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *k++) * 16777619u;
	return h;
}

/* Find the slot pointing at key's entry (or the empty end of its chain). */
static struct kv_entry **kv_slot(struct kv *kv, const uint8_t *k, size_t klen)
{
	struct kv_entry **pp = &kv->bucket[kv_hash(k, klen) % KV_BUCKETS];

	while (*pp && ((*pp)->klen != klen || memcmp((*pp)->data, k, klen)))
		pp = &(*pp)->next;
	return pp;
}

/* Store key=value in RAM (replacing an older value); false if out of memory. */
static bool kv_set(struct kv *kv, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct kv_entry **pp = kv_slot(kv, k, klen), *e;

	e = rt_malloc(sizeof(*e) + klen + vlen);
	if (!e)
		return false;
	e->klen = (uint16_t)klen;
	e->vlen = (uint16_t)vlen;
	memcpy(e->data, k, klen);
	memcpy(e->data + klen, v, vlen);
	if (*pp) {
		e->next = (*pp)->next;
		rt_free(*pp);
	} else {
		e->next = NULL;
		kv->keys++;
	}
	*pp = e;
	return true;
}

/* Replay callback: apply one logged PUT. */
static void kv_replay_one(void *user, uint64_t seq, const uint8_t *k, size_t klen,
			  const uint8_t *v, size_t vlen)
{
	(void)seq;
	if (!kv_set(user, k, klen, v, vlen))
		rt_panic(__FILE__, __LINE__, "out of memory replaying the log");
}

/* Block reads for replay. */
static int kv_disk_read(void *user, uint64_t sector, void *buf, uint64_t nsec)
{
	(void)user;
	return (int)hc_blk_read(sector, buf, nsec);
}

/* Split off the first space-separated word; the rest goes to rest/rlen. */
static size_t kv_word(const char *s, size_t len, const char **rest, size_t *rlen)
{
	size_t i = 0;

	while (i < len && s[i] != ' ')
		i++;
	*rest = i < len ? s + i + 1 : s + len;
	*rlen = i < len ? len - i - 1 : 0;
	return i;
}

/*
 * Execute one command.  Writes the reply to out (NUL-terminated) unless
 * the command is a PUT that waits for the commit: then returns its seq.
 */
static uint64_t kv_exec(struct kv *kv, const char *s, size_t len, char *out, size_t cap)
{
	const char *arg, *val;
	size_t alen, klen, vlen, cmd = kv_word(s, len, &arg, &alen);

	if (cmd == 3 && !memcmp(s, "PUT", 3)) {
		klen = kv_word(arg, alen, &val, &vlen);
		if (!klen || klen > KVLOG_KEY_MAX || vlen > KVLOG_VAL_MAX) {
			rt_snprintf(out, cap, "ERR bad key or value length");
			return 0;
		}
		if (kv->io_error) {
			rt_snprintf(out, cap, "ERR disk failed");
			return 0;
		}
		if (kv->has_disk && !kvlog_batch_add(&kv->batch, (const uint8_t *)arg, klen,
						     (const uint8_t *)val, vlen))
			return UINT64_MAX;     /* batch full: retry after the commit */
		if (!kv_set(kv, (const uint8_t *)arg, klen, (const uint8_t *)val, vlen)) {
			rt_snprintf(out, cap, "ERR out of memory");
			return 0;
		}
		kv->puts++;
		return kv->next_seq++;
	}
	if (cmd == 3 && !memcmp(s, "GET", 3)) {
		struct kv_entry *e = *kv_slot(kv, (const uint8_t *)arg, alen);
		kv->gets++;
		if (e)
			rt_snprintf(out, cap, "VALUE %.*s", (int)e->vlen, (const char *)e->data + e->klen);
		else
			rt_snprintf(out, cap, "NOTFOUND");
		return 0;
	}
	if (cmd == 5 && !memcmp(s, "STATS", 5)) {
		const struct net_stats *st = net_stats(kv->net);
		rt_snprintf(out, cap, "STATS keys=%llu puts=%llu gets=%llu seq=%llu rx=%llu "
			    "drop_short=%llu drop_checksum=%llu drop_malformed=%llu "
			    "drop_fragment=%llu drop_other=%llu retransmits=%llu",
			    (unsigned long long)kv->keys, (unsigned long long)kv->puts,
			    (unsigned long long)kv->gets, (unsigned long long)(kv->next_seq - 1),
			    (unsigned long long)st->rx_frames, (unsigned long long)st->drop_short,
			    (unsigned long long)st->drop_checksum,
			    (unsigned long long)st->drop_malformed,
			    (unsigned long long)st->drop_fragment, (unsigned long long)st->drop_other,
			    (unsigned long long)st->tcp_retransmits);
		return 0;
	}
	rt_snprintf(out, cap, "ERR unknown command");
	return 0;
}

/* Write one reply line (the caller checked there is room). */
static void kv_reply(struct kv_conn *kc, const char *s)
{
	size_t n = strlen(s);

	net_tcp_write(kc->c, s, n);
	net_tcp_write(kc->c, "\n", 1);
}

/* Serve complete lines while there is room for a reply and no commit pending. */
static void kv_serve(struct kv *kv, struct kv_conn *kc)
{
	char out[KV_REPLY_MAX];

	while (!kc->waiting && net_tcp_writable(kc->c) >= KV_REPLY_MAX + 1) {
		size_t avail = net_tcp_readable(kc->c), len = 0, off = 0;
		const uint8_t *p = NULL;
		bool found = false;
		uint64_t seq;

		while (!found && off < avail && off <= KV_LINE_MAX) {
			size_t run = net_tcp_peek(kc->c, off, &p);
			const uint8_t *nl = NULL;
			for (size_t i = 0; i < run && off + i <= KV_LINE_MAX; i++)
				if (p[i] == '\n') {
					nl = p + i;
					break;
				}
			if (nl) {
				len = off + (size_t)(nl - p);
				found = true;
			}
			off += run;
		}
		if (!found) {
			if (avail > KV_LINE_MAX) {
				kv_reply(kc, "ERR line too long");
				net_tcp_close(kc->c);
			} else if (net_tcp_eof(kc->c) || (avail == 0 && net_tcp_eof(kc->c))) {
				net_tcp_close(kc->c);
			}
			return;
		}
		net_tcp_read(kc->c, kc->line, len + 1);
		if (len && kc->line[len - 1] == '\r')
			len--;
		kc->line[len] = '\0';
		seq = kv_exec(kv, kc->line, len, out, sizeof(out));
		if (seq == UINT64_MAX) {
			/* the batch is full: keep the line and run it after the commit */
			kc->waiting = true;
			kc->ack_seq = 0;
			return;
		}
		if (seq) {
			if (!kv->has_disk) {
				rt_snprintf(out, sizeof(out), "OK %llu", (unsigned long long)seq);
			} else {
				kc->waiting = true;
				kc->ack_seq = seq;
				return;
			}
		}
		kv_reply(kc, out);
	}
}

/* TCP events: attach state on open, serve on data/space, free on close. */
static void kv_tcp_event(struct net_tcp *c, enum net_tcp_event ev, void *user)
{
	struct kv *kv = user;
	struct kv_conn *kc = net_tcp_app(c);

	switch (ev) {
	case NET_TCP_OPEN:
		for (unsigned i = 0; i < 128; i++) {
			if (!kv->conn[i]) {
				kc = rt_calloc(1, sizeof(*kc));
				if (!kc)
					break;
				kc->c = c;
				kv->conn[i] = kc;
				net_tcp_set_app(c, kc);
				return;
			}
		}
		net_tcp_abort(c);
		return;
	case NET_TCP_DATA:
	case NET_TCP_SPACE:
		if (kc)
			kv_serve(kv, kc);
		return;
	case NET_TCP_CLOSED:
		for (unsigned i = 0; kc && i < 128; i++)
			if (kv->conn[i] == kc)
				kv->conn[i] = NULL;
		rt_free(kc);
		return;
	}
}

/* UDP: "ID COMMAND..." -> "ID REPLY" (PUT replies after the commit). */
static void kv_udp_event(struct net *n, void *user, const struct net_udp_peer *from,
			 uint16_t port, const uint8_t *data, size_t len)
{
	struct kv *kv = user;
	char line[KV_LINE_MAX + 1], out[KV_REPLY_MAX], reply[KV_REPLY_MAX + KV_ID_MAX + 2];
	const char *cmd;
	size_t clen, idlen;
	uint64_t seq;

	if (len > KV_LINE_MAX)
		return;
	memcpy(line, data, len);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	line[len] = '\0';
	idlen = kv_word(line, len, &cmd, &clen);
	if (!idlen || idlen > KV_ID_MAX)
		return;
	if (kv->nudp == KV_UDP_PENDING) {
		rt_snprintf(out, sizeof(out), "ERR busy");
		seq = 0;
	} else {
		seq = kv_exec(kv, cmd, clen, out, sizeof(out));
	}
	if (seq == UINT64_MAX) {
		rt_snprintf(out, sizeof(out), "ERR busy");
		seq = 0;
	}
	if (seq && kv->has_disk) {
		struct kv_udp_reply *r = &kv->udp[kv->nudp++];
		r->peer = *from;
		r->seq = seq;
		r->idlen = (uint8_t)idlen;
		memcpy(r->id, line, idlen);
		return;
	}
	if (seq)
		rt_snprintf(out, sizeof(out), "OK %llu", (unsigned long long)seq);
	int rl = rt_snprintf(reply, sizeof(reply), "%.*s %s", (int)idlen, line, out);
	net_udp_send(n, from, port, reply, (size_t)rl < sizeof(reply) ? (size_t)rl : sizeof(reply) - 1);
}

/* Write and flush the pending batch; true if it is durable. */
static bool kv_commit_batch(struct kv *kv)
{
	uint32_t nsec = kvlog_batch_seal(&kv->batch);

	if (kv->log_sector + nsec > kv->disk_sectors ||
	    hc_blk_write(kv->log_sector, kv->batch.buf, nsec) != 0 || hc_blk_flush() != 0) {
		kv->io_error = true;
		rt_printf("kvstore: log write failed at sector %llu\n",
			  (unsigned long long)kv->log_sector);
		return false;
	}
	kv->log_sector += nsec;
	return true;
}

/* Loop hook: group commit, then acknowledge and resume everyone waiting. */
static uint64_t kv_idle(void *user, struct net *n, uint64_t now_ms)
{
	struct kv *kv = user;
	char out[64], reply[KV_ID_MAX + 80];
	bool ok = true;

	(void)now_ms;
	if (kv->batch.nrec)
		ok = kv_commit_batch(kv);
	kvlog_batch_reset(&kv->batch, kv->next_seq);
	for (unsigned i = 0; i < kv->nudp; i++) {
		struct kv_udp_reply *r = &kv->udp[i];
		rt_snprintf(out, sizeof(out), ok ? "OK %llu" : "ERR disk failed",
			    (unsigned long long)r->seq);
		int rl = rt_snprintf(reply, sizeof(reply), "%.*s %s", r->idlen, r->id, out);
		net_udp_send(n, &r->peer, KV_PORT, reply, (size_t)rl);
	}
	kv->nudp = 0;
	for (unsigned i = 0; i < 128; i++) {
		struct kv_conn *kc = kv->conn[i];
		if (!kc || !kc->waiting)
			continue;
		kc->waiting = false;
		if (kc->ack_seq) {
			rt_snprintf(out, sizeof(out), ok ? "OK %llu" : "ERR disk failed",
				    (unsigned long long)kc->ack_seq);
			kv_reply(kc, out);
			kc->ack_seq = 0;
			kv_serve(kv, kc);
		} else {
			/* the PUT that did not fit is still in kc->line: run it now */
			uint64_t seq = kv_exec(kv, kc->line, strlen(kc->line), out, sizeof(out));
			if (seq && seq != UINT64_MAX) {
				kc->waiting = true;
				kc->ack_seq = seq;
			} else {
				kv_reply(kc, seq ? "ERR busy" : out);
				kv_serve(kv, kc);
			}
		}
	}
	return 0;
}

/* Replay the log, then serve TCP and UDP forever. */
int main(void)
{
	static struct kv kv;
	struct pvm_info info;
	struct kvlog_replay rp;
	struct netif_hooks hooks = { kv_idle, &kv };

	memset(&info, 0, sizeof(info));
	hc_info(&info, sizeof(info));
	kv.bucket = rt_calloc(KV_BUCKETS, sizeof(*kv.bucket));
	kv.batch.buf = rt_malloc(KVLOG_BATCH_MAX);
	kv.net = netif_open();
	if (!kv.bucket || !kv.batch.buf || !kv.net) {
		rt_printf("kvstore: %s\n", kv.net ? "out of memory" : "no NIC or no IPv4 address in PVM_HC_INFO");
		return 1;
	}
	kv.next_seq = 1;
	kv.disk_sectors = info.disk_sectors;
	kv.has_disk = info.disk_sectors > 0;
	if (kv.has_disk) {
		if (kvlog_replay(kv_disk_read, NULL, kv.disk_sectors, kv.batch.buf,
				 kv_replay_one, &kv, &rp) != 0) {
			rt_printf("kvstore: cannot read the log\n");
			return 1;
		}
		kv.next_seq = rp.next_seq;
		kv.log_sector = rp.next_sector;
		rt_printf("kvstore: replayed %llu records in %llu batches (%s)\n",
			  (unsigned long long)rp.records, (unsigned long long)rp.batches,
			  rp.stop ? rp.stop : "end of disk");
	} else {
		rt_printf("kvstore: no disk: PUTs are kept in RAM only\n");
	}
	kvlog_batch_reset(&kv.batch, kv.next_seq);
	if (net_tcp_listen(kv.net, KV_PORT, kv_tcp_event, &kv) ||
	    net_udp_bind(kv.net, KV_PORT, kv_udp_event, &kv))
		return 1;
	rt_printf("kvstore: ready on port %d\n", KV_PORT);
	netif_run(kv.net, &hooks);
}
