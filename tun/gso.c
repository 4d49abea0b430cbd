/* Checksums and the splitting of super-packets read from the TUN device.
 * See gso.h. */
#define _GNU_SOURCE
#include "tun/gso.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>

#include "client/util/cursor.h"

_Static_assert(sizeof(struct tun_vnet_hdr) == sizeof(struct virtio_net_hdr),
	       "vnet header layout");
_Static_assert(TUN_VNET_F_NEEDS_CSUM == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
		       TUN_VNET_GSO_TCPV4 == VIRTIO_NET_HDR_GSO_TCPV4 &&
		       TUN_VNET_GSO_TCPV6 == VIRTIO_NET_HDR_GSO_TCPV6 &&
		       TUN_VNET_GSO_UDP == VIRTIO_NET_HDR_GSO_UDP &&
		       TUN_VNET_GSO_ECN == VIRTIO_NET_HDR_GSO_ECN,
	       "vnet header constants");

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

uint64_t tun_csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	/* Add 32-bit words in host order into a wide accumulator and fold
	 * once at the end (RFC 1071: the sum is byte-order independent up to
	 * a final swap). Callers pass even lengths except for the last piece
	 * of a packet, whose odd byte is the high half of a 16-bit word. */
	uint64_t acc = 0;
	uint32_t w32;
	uint16_t w16;

	while (len >= 4) {
		memcpy(&w32, p, 4);
		acc += w32;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		acc += w16;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&w16, last, 2);
		acc += w16;
	}
	return sum + be16toh(tun_csum_fold(acc));
}

uint16_t tun_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint64_t tun_csum_pseudo(const uint8_t *ip, int v6, uint8_t proto,
			 uint32_t l4_len)
{
	uint64_t sum = v6 ? tun_csum_add(0, ip + 8, 32) : tun_csum_add(0, ip + 12, 8);

	return sum + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

int tun_l4_csum_ok(const uint8_t *ip, size_t len, size_t l4_off, int v6,
		   uint8_t proto)
{
	size_t l4_len = len - l4_off;
	uint64_t sum;

	if (l4_off > len || l4_len < (proto == IPPROTO_TCP ? 20u : 8u))
		return 0;
	/* An IPv4 UDP datagram may go without a checksum. */
	if (!v6 && proto == IPPROTO_UDP && get_be16(ip + l4_off + 6) == 0)
		return 1;
	sum = tun_csum_pseudo(ip, v6, proto, (uint32_t)l4_len);
	sum = tun_csum_add(sum, ip + l4_off, l4_len);
	return tun_csum_fold(sum) == 0xffff;
}

static void tun_store_csum(uint8_t *field, uint64_t sum, int udp)
{
	uint16_t c = (uint16_t)~tun_csum_fold(sum);

	/* 0 means "no checksum" in UDP; its ones' complement twin is 0xffff. */
	if (udp && c == 0)
		c = 0xffff;
	put_be16(field, c);
}

int tun_gso_finish_csum(uint8_t *pkt, size_t len,
			const struct tun_vnet_hdr *h)
{
	size_t start = h->csum_start, at = (size_t)h->csum_start + h->csum_offset;

	if (at + 2 > len || start > len)
		return -EINVAL;
	/* The field holds the pseudo-header sum; summing over it completes
	 * the checksum as a NIC would. */
	tun_store_csum(pkt + at, tun_csum_add(0, pkt + start, len - start),
		       h->csum_offset == 6);
	return 0;
}

int tun_gso_prepare(struct tun_gso_pending *g, const uint8_t *pkt, size_t len,
		    const struct tun_vnet_hdr *h)
{
	uint8_t type = h->gso_type & (uint8_t)~TUN_VNET_GSO_ECN;
	size_t l4, hdr_len;
	int v6;

	memset(g, 0, sizeof(*g));
	if (len < 40 || len > TUN_GSO_MAX || h->gso_size == 0)
		return -EINVAL;
	v6 = (pkt[0] >> 4) == 6;
	if (v6) {
		if ((size_t)get_be16(pkt + 4) + 40 != len)
			return -EINVAL;
		/* Extension headers sit between the fixed header and L4;
		 * csum_start tells where L4 begins. */
		l4 = h->csum_start;
		if (l4 < 40)
			return -EINVAL;
	} else if ((pkt[0] >> 4) == 4) {
		l4 = (size_t)(pkt[0] & 0x0f) * 4;
		if (l4 < 20 || get_be16(pkt + 2) != len ||
		    (get_be16(pkt + 6) & 0x3fff) != 0)
			return -EINVAL;
	} else {
		return -EINVAL;
	}

	switch (type) {
	case TUN_VNET_GSO_TCPV4:
	case TUN_VNET_GSO_TCPV6:
		if (v6 != (type == TUN_VNET_GSO_TCPV6) || l4 + 20 > len)
			return -EINVAL;
		if (!v6 && pkt[9] != IPPROTO_TCP)
			return -EINVAL;
		hdr_len = l4 + (size_t)(pkt[l4 + 12] >> 4) * 4;
		if (hdr_len < l4 + 20)
			return -EINVAL;
		g->proto = IPPROTO_TCP;
		break;
	case TUN_VNET_GSO_UDP_L4:
		if (!v6 && pkt[9] != IPPROTO_UDP)
			return -EINVAL;
		hdr_len = l4 + 8;
		g->proto = IPPROTO_UDP;
		break;
	default:
		return -EINVAL;
	}
	if (hdr_len >= len)
		return -EINVAL;
	g->l4_off = (uint32_t)l4;
	g->hdr_len = (uint32_t)hdr_len;
	g->seg_size = h->gso_size;
	g->v6 = (uint8_t)v6;
	g->len = (uint32_t)len;
	return 0;
}

int tun_gso_segment(struct tun_gso_pending *g, const uint8_t *pkt,
		    uint8_t *out, size_t cap)
{
	size_t payload = g->len - g->hdr_len, chunk, seg_len, l4_len;
	uint8_t *l4 = out + g->l4_off;
	int last;

	if (g->off >= payload)
		return 0;
	chunk = payload - g->off < g->seg_size ? payload - g->off : g->seg_size;
	seg_len = g->hdr_len + chunk;
	if (seg_len > cap)
		return -ENOSPC;
	memcpy(out, pkt, g->hdr_len);
	memcpy(out + g->hdr_len, pkt + g->hdr_len + g->off, chunk);
	last = g->off + chunk == payload;
	l4_len = seg_len - g->l4_off;

	if (g->v6) {
		put_be16(out + 4, (uint16_t)(seg_len - 40));
	} else {
		put_be16(out + 2, (uint16_t)seg_len);
		/* Each segment is its own datagram and needs its own ID. */
		put_be16(out + 4, (uint16_t)(get_be16(pkt + 4) + g->idx));
		put_be16(out + 10, 0);
		put_be16(out + 10, (uint16_t)~tun_csum_fold(
					   tun_csum_add(0, out, g->l4_off)));
	}

	if (g->proto == IPPROTO_TCP) {
		put_be32(l4 + 4, get_be32(pkt + g->l4_off + 4) + g->off);
		/* FIN and PSH belong to the last segment, CWR to the first. */
		if (!last)
			l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (g->idx)
			l4[13] &= (uint8_t)~TCP_CWR;
		put_be16(l4 + 16, 0);
	} else {
		put_be16(l4 + 4, (uint16_t)l4_len);
		put_be16(l4 + 6, 0);
	}
	tun_store_csum(l4 + (g->proto == IPPROTO_TCP ? 16 : 6),
		       tun_csum_add(tun_csum_pseudo(out, g->v6, g->proto,
						    (uint32_t)l4_len),
				    l4, l4_len),
		       g->proto == IPPROTO_UDP);
	g->off += (uint32_t)chunk;
	g->idx++;
	return (int)seg_len;
}
