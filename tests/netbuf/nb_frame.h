/*
 * Test/bench helper: the frames the fake guest sends (Ethernet + IPv4/IPv6
 * UDP or ARP) carrying a kind and a sequence number, and their parsers.
 */
#ifndef REMUS_TESTS_NB_FRAME_H
#define REMUS_TESTS_NB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define NB_MAGIC "NBT1"
#define NB_PAYLOAD_LEN 24   /* magic, kind, seq, 8-byte timestamp, pad */

enum nb_kind { NB_V4 = 4, NB_V6 = 6, NB_ARP = 1 };

struct nb_addrs {
	uint8_t guest_mac[6], gw_mac[6];
	uint8_t v4_src[4], v4_dst[4];
	uint8_t v6_src[16], v6_dst[16];
	uint16_t port;
};

/* Build one frame into buf (at least 128 bytes); returns its length. */
size_t nb_frame_build(uint8_t *buf, const struct nb_addrs *a, enum nb_kind kind,
		      uint32_t seq, uint64_t stamp);
/* Parse a UDP payload; 0 and kind/seq/stamp on success, -1 if not ours. */
int nb_payload_parse(const uint8_t *p, size_t len, enum nb_kind *kind,
		     uint32_t *seq, uint64_t *stamp);
/* Parse an Ethernet ARP frame from mac; 0 and seq on success, else -1. */
int nb_arp_parse(const uint8_t *f, size_t len, const uint8_t mac[6], uint32_t *seq);

#endif
