/* Segmentation offload helpers for the TUN device (internal to tun/, exposed
 * for the tests).
 *
 * With IFF_VNET_HDR every packet on the fd is preceded by a virtio_net_hdr.
 * Reading, the kernel may hand us a TCP or UDP super-packet (gso_type set)
 * and/or a packet whose L4 checksum holds only the pseudo-header sum
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM: we finish it). Writing, we may merge
 * consecutive TCP segments of one flow into a super-packet that the kernel
 * treats like a GRO-merged packet.
 *
 * All of these parse bytes the kernel gave us or the network sent us, so
 * every offset is checked against the packet length first.
 */
#ifndef VPN_TUN_GSO_H
#define VPN_TUN_GSO_H

#include <stddef.h>
#include <stdint.h>

#include "tun/tun.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The virtio_net_hdr that IFF_VNET_HDR puts in front of every packet, in
 * host byte order (the TUN default on little-endian hosts and, without
 * TUNSETVNETBE, on big-endian ones). Our own copy: <linux/virtio_net.h>
 * does not compile as C++ and lacks GSO_UDP_L4 before Linux 6.2; gso.c
 * checks the two agree. */
struct tun_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;     /* not trusted: we derive it from the packet */
	uint16_t gso_size;    /* payload bytes per segment */
	uint16_t csum_start;  /* where the L4 checksum starts */
	uint16_t csum_offset; /* where, after csum_start, it is stored */
};

enum {
	TUN_VNET_F_NEEDS_CSUM = 1,
	TUN_VNET_GSO_NONE = 0,
	TUN_VNET_GSO_TCPV4 = 1,
	TUN_VNET_GSO_UDP = 3, /* UFO: never negotiated, refused */
	TUN_VNET_GSO_TCPV6 = 4,
	TUN_VNET_GSO_UDP_L4 = 5,
	TUN_VNET_GSO_ECN = 0x80,
};

/* Ones' complement sum of len bytes added to sum, not folded. */
uint64_t tun_csum_add(uint64_t sum, const uint8_t *p, size_t len);
/* Fold to 16 bits (not complemented). */
uint16_t tun_csum_fold(uint64_t sum);
/* Pseudo-header sum for IPv4 (addrs at ip+12) or IPv6 (addrs at ip+8). */
uint64_t tun_csum_pseudo(const uint8_t *ip, int v6, uint8_t proto,
			 uint32_t l4_len);
/* 1 when the TCP/UDP checksum of an IP packet (no IPv6 extension headers,
 * l4 at ip+l4_off) is correct. */
int tun_l4_csum_ok(const uint8_t *ip, size_t len, size_t l4_off, int v6,
		   uint8_t proto);

/* Finish a partial checksum the kernel left (NEEDS_CSUM on a packet that is
 * not a super-packet). Returns 0 or -EINVAL when the offsets lie. */
int tun_gso_finish_csum(uint8_t *pkt, size_t len,
			const struct tun_vnet_hdr *h);

/* Check a super-packet and fill `g` so tun_gso_segment() can cut it.
 * Returns 0 or -EINVAL (bad offsets, unknown type, header mismatch). */
int tun_gso_prepare(struct tun_gso_pending *g, const uint8_t *pkt, size_t len,
		    const struct tun_vnet_hdr *h);

/* Write the next segment of `pkt` (described by g) to out (cap bytes), with
 * IP and L4 headers fixed up and checksums computed. Returns the segment
 * length, 0 when all segments are out, -ENOSPC when out is too small. */
int tun_gso_segment(struct tun_gso_pending *g, const uint8_t *pkt,
		    uint8_t *out, size_t cap);

/* One write syscall carrying npkts packets (shared by the plain and the
 * coalescing path). Returns 0 when taken; the (positive) errno when the
 * packets were dropped and counted; -errno when the device failed. */
struct iovec;
int tun_write_one(struct tun_dev *t, const struct iovec *iov, int cnt,
		  unsigned npkts);

/* Coalescing of a write batch (tun_write_batch with offload). */
struct tun_gro;
struct tun_gro *tun_gro_new(void);
void tun_gro_free(struct tun_gro *g);
/* Merge and write pkts[0..n) (n <= TUN_BATCH_MAX) to t->fd in order per
 * flow. Returns packets written or -errno from the first write. */
int tun_gro_write(struct tun_dev *t, struct tun_pkt *pkts, unsigned n);

#ifdef __cplusplus
}
#endif
#endif
