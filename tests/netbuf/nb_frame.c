/*
 * Frames of the fake guest used by the netbuf tests and bench.  The seq
 * travels in the UDP payload (IP) or in the target hardware address (ARP).
 */
#include <string.h>
#include <arpa/inet.h>

#include "nb_frame.h"

/* Internet checksum over a buffer, folded into an accumulator. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* Final one's-complement checksum value. */
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Big-endian 16-bit store into a header. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Payload: magic, kind, seq (BE), stamp (host order), zero pad. */
static void payload_build(uint8_t *p, enum nb_kind kind, uint32_t seq, uint64_t stamp)
{
	uint32_t be = htonl(seq);

	memset(p, 0, NB_PAYLOAD_LEN);
	memcpy(p, NB_MAGIC, 4);
	p[4] = (uint8_t)kind;
	memcpy(p + 5, &be, 4);
	memcpy(p + 9, &stamp, 8);
}

/* IPv4 UDP, valid header checksum, UDP checksum omitted. */
static size_t build_v4(uint8_t *f, const struct nb_addrs *a, uint32_t seq, uint64_t stamp)
{
	uint8_t *ip = f + 14, *udp = ip + 20;
	size_t ulen = 8 + NB_PAYLOAD_LEN;

	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + ulen));
	put16(ip + 4, (uint16_t)seq);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, a->v4_src, 4);
	memcpy(ip + 16, a->v4_dst, 4);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	put16(udp, 40000);
	put16(udp + 2, a->port);
	put16(udp + 4, (uint16_t)ulen);
	put16(udp + 6, 0);   /* no checksum: allowed for IPv4 */
	payload_build(udp + 8, NB_V4, seq, stamp);
	return 14 + 20 + ulen;
}

/* IPv6 UDP with its mandatory checksum. */
static size_t build_v6(uint8_t *f, const struct nb_addrs *a, uint32_t seq, uint64_t stamp)
{
	uint8_t *ip = f + 14, *udp = ip + 40, pseudo[40] = { 0 };
	size_t ulen = 8 + NB_PAYLOAD_LEN;
	uint32_t sum;

	put16(f + 12, 0x86dd);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)ulen);
	ip[6] = 17;
	ip[7] = 64;
	memcpy(ip + 8, a->v6_src, 16);
	memcpy(ip + 24, a->v6_dst, 16);
	put16(udp, 40000);
	put16(udp + 2, a->port);
	put16(udp + 4, (uint16_t)ulen);
	put16(udp + 6, 0);
	payload_build(udp + 8, NB_V6, seq, stamp);
	memcpy(pseudo, ip + 8, 32);
	put16(pseudo + 34, (uint16_t)ulen);
	pseudo[39] = 17;
	sum = csum_add(csum_add(0, pseudo, 40), udp, ulen);
	put16(udp + 6, csum_fold(sum) ? csum_fold(sum) : 0xffff);
	return 14 + 40 + ulen;
}

/* ARP request "who has v4_dst's gateway" with the seq in the target MAC. */
static size_t build_arp(uint8_t *f, const struct nb_addrs *a, uint32_t seq)
{
	uint8_t *arp = f + 14;
	uint32_t be = htonl(seq);

	memset(f, 0xff, 6);   /* broadcast */
	put16(f + 12, 0x0806);
	put16(arp, 1);
	put16(arp + 2, 0x0800);
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, 1);
	memcpy(arp + 8, a->guest_mac, 6);
	memcpy(arp + 14, a->v4_src, 4);
	memset(arp + 18, 0, 6);
	memcpy(arp + 18, &be, 4);
	memcpy(arp + 24, a->v4_src, 3);
	arp[27] = 1;   /* x.y.z.1, the gateway */
	return 14 + 28 + 18;   /* padded to the Ethernet minimum */
}

/* Ethernet frame from the guest MAC to the gateway (ARP: broadcast). */
size_t nb_frame_build(uint8_t *buf, const struct nb_addrs *a, enum nb_kind kind,
		      uint32_t seq, uint64_t stamp)
{
	memset(buf, 0, 128);
	memcpy(buf, a->gw_mac, 6);
	memcpy(buf + 6, a->guest_mac, 6);
	if (kind == NB_V4)
		return build_v4(buf, a, seq, stamp);
	if (kind == NB_V6)
		return build_v6(buf, a, seq, stamp);
	return build_arp(buf, a, seq);
}

/* Bounded parse of a received payload: length first, then magic, kind. */
int nb_payload_parse(const uint8_t *p, size_t len, enum nb_kind *kind,
		     uint32_t *seq, uint64_t *stamp)
{
	uint32_t be;

	if (len < NB_PAYLOAD_LEN || memcmp(p, NB_MAGIC, 4) ||
	    (p[4] != NB_V4 && p[4] != NB_V6))
		return -1;
	*kind = p[4];
	memcpy(&be, p + 5, 4);
	*seq = ntohl(be);
	memcpy(stamp, p + 9, 8);
	return 0;
}

/* Bounded parse of an ARP frame; only the guest's (by sender MAC) count. */
int nb_arp_parse(const uint8_t *f, size_t len, const uint8_t mac[6], uint32_t *seq)
{
	uint32_t be;

	if (len < 14 + 28 || f[12] != 0x08 || f[13] != 0x06 ||
	    memcmp(f + 14 + 8, mac, 6))
		return -1;
	memcpy(&be, f + 14 + 18, 4);
	*seq = ntohl(be);
	return 0;
}
