/* Coalescing TCP segments on write to the TUN device (GRO in userspace).
 *
 * Consecutive in-order segments of one TCP flow in a write batch become one
 * super-packet: the first packet's headers (fixed up for the new length),
 * then the payloads of the others, handed to the kernel in one writev with
 * a vnet header that describes the segmentation. The kernel delivers it to
 * the socket as if its own GRO had merged the segments.
 *
 * The kernel trusts a merged packet's checksum (it arrives as
 * CHECKSUM_PARTIAL), so every segment's own checksum is verified before it
 * is merged; a segment that fails is written alone and the kernel drops it.
 * Merging rules follow the kernel's tcp_gro_receive: same addresses, ports,
 * IP header fields, ACK number, window and options; only ACK (and PSH on
 * the last segment) set; payloads of one size, the last may be shorter.
 *
 * Packets of different flows may be written in a different order than
 * given; packets of one flow never are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "client/util/cursor.h"
#include "client/util/log.h"
#include "tun/gso.h"

#define TCP_ACK 0x10
#define TCP_PSH 0x08

/* Segments per super-packet; the 64 KiB length limit usually comes first. */
#define GRO_MAX_SEGS 64u
/* How many recent groups a packet looks through for its flow. */
#define GRO_LOOKBACK 8u
#define GRO_NONE 0xffffu

/* What the merge decision needs from one packet, parsed once. */
struct gro_pkt {
	uint16_t next;   /* next packet of the same group */
	uint16_t plen;   /* TCP payload length */
	uint8_t l4;      /* TCP header offset, 0 = not mergeable */
	uint8_t thlen;
	uint8_t v6;
	uint8_t flags;
	uint8_t csum;    /* 0 unknown, 1 verified, 2 bad */
};

struct gro_grp {
	uint16_t first, last;
	uint16_t nseg;
	uint16_t seg_size;
	uint32_t next_seq;
	uint32_t l4_len; /* TCP header + all payloads */
	uint8_t closed;  /* a short or PSH segment ended it */
	uint8_t psh;
};

struct tun_gro {
	struct gro_pkt pkt[TUN_BATCH_MAX];
	struct gro_grp grp[TUN_BATCH_MAX];
	struct iovec iov[GRO_MAX_SEGS + 1];
};

struct tun_gro *tun_gro_new(void)
{
	return calloc(1, sizeof(struct tun_gro));
}

void tun_gro_free(struct tun_gro *g)
{
	free(g);
}

static const uint8_t *pkt_data(const struct tun_pkt *p)
{
	return p->buf + p->off;
}

/* Fill gp for a TCP packet we could merge, else leave gp->l4 = 0. */
static void gro_parse(struct gro_pkt *gp, const struct tun_pkt *p)
{
	const uint8_t *ip = pkt_data(p);
	size_t len = p->len, l4, thlen;

	memset(gp, 0, sizeof(*gp));
	gp->next = GRO_NONE;
	if (len < 40)
		return;
	if (ip[0] == 0x45) {
		/* No options, not a fragment. */
		if (get_be16(ip + 2) != len || ip[9] != IPPROTO_TCP ||
		    (get_be16(ip + 6) & 0x3fff) != 0)
			return;
		l4 = 20;
	} else if ((ip[0] >> 4) == 6) {
		if (len < 60 || (size_t)get_be16(ip + 4) + 40 != len ||
		    ip[6] != IPPROTO_TCP)
			return;
		l4 = 40;
		gp->v6 = 1;
	} else {
		return;
	}
	thlen = (size_t)(ip[l4 + 12] >> 4) * 4;
	if (thlen < 20 || l4 + thlen > len)
		return;
	gp->plen = (uint16_t)(len - l4 - thlen);
	gp->thlen = (uint8_t)thlen;
	gp->flags = ip[l4 + 13];
	gp->l4 = (uint8_t)l4;
}

static int gro_same_flow(const struct tun_pkt *a, const struct gro_pkt *ga,
			 const struct tun_pkt *b, const struct gro_pkt *gb)
{
	const uint8_t *x = pkt_data(a), *y = pkt_data(b);

	if (ga->v6 != gb->v6)
		return 0;
	if (ga->v6 ? memcmp(x + 8, y + 8, 32) : memcmp(x + 12, y + 12, 8))
		return 0;
	return memcmp(x + ga->l4, y + gb->l4, 4) == 0;
}

static int gro_csum_ok(const struct tun_pkt *p, struct gro_pkt *gp)
{
	if (!gp->csum)
		gp->csum = tun_l4_csum_ok(pkt_data(p), p->len, gp->l4, gp->v6,
					  IPPROTO_TCP) ? 1 : 2;
	return gp->csum == 1;
}

/* Can packet b follow the group whose head is a? Flow already matched. */
static int gro_headers_match(const uint8_t *a, const struct gro_pkt *ga,
			     const uint8_t *b, const struct gro_pkt *gb)
{
	const uint8_t *ta = a + ga->l4, *tb = b + gb->l4;

	if (ga->thlen != gb->thlen)
		return 0;
	if (ga->v6) {
		/* Traffic class, flow label, hop limit. */
		if (memcmp(a, b, 4) || a[7] != b[7])
			return 0;
	} else if (a[1] != b[1] || memcmp(a + 6, b + 6, 4)) {
		/* TOS; DF, TTL, protocol. */
		return 0;
	}
	/* ACK number, window, options. */
	return memcmp(ta + 8, tb + 8, 4) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
	       memcmp(ta + 20, tb + 20, ga->thlen - 20u) == 0;
}

static int gro_can_append(struct tun_gro *g, const struct gro_grp *grp,
			  struct tun_pkt *pkts, unsigned i)
{
	struct gro_pkt *gh = &g->pkt[grp->first], *gp = &g->pkt[i];
	const uint8_t *head = pkt_data(&pkts[grp->first]), *p = pkt_data(&pkts[i]);
	size_t l3 = gh->v6 ? 0 : 20;

	if (grp->closed || grp->nseg >= GRO_MAX_SEGS)
		return 0;
	if ((gp->flags & (uint8_t)~TCP_PSH) != TCP_ACK || gp->plen == 0 ||
	    gp->plen > grp->seg_size)
		return 0;
	if (get_be32(p + gp->l4 + 4) != grp->next_seq)
		return 0;
	/* IPv4 total length and IPv6 payload length are 16 bits. */
	if (l3 + grp->l4_len + gp->plen > 65535)
		return 0;
	if (!gro_headers_match(head, gh, p, gp))
		return 0;
	return gro_csum_ok(&pkts[grp->first], gh) && gro_csum_ok(&pkts[i], gp);
}

static void gro_start(struct tun_gro *g, struct gro_grp *grp,
		      const struct tun_pkt *pkts, unsigned i)
{
	const struct gro_pkt *gp = &g->pkt[i];

	memset(grp, 0, sizeof(*grp));
	grp->first = grp->last = (uint16_t)i;
	grp->nseg = 1;
	grp->seg_size = gp->plen;
	/* Only a pure ACK with data can have followers. */
	grp->closed = !gp->l4 || gp->flags != TCP_ACK || gp->plen == 0;
	if (gp->l4) {
		grp->next_seq = get_be32(pkt_data(&pkts[i]) + gp->l4 + 4) + gp->plen;
		grp->l4_len = (uint32_t)gp->thlen + gp->plen;
	}
}

static void gro_append(struct tun_gro *g, struct gro_grp *grp, unsigned i)
{
	const struct gro_pkt *gp = &g->pkt[i];

	g->pkt[grp->last].next = (uint16_t)i;
	grp->last = (uint16_t)i;
	grp->nseg++;
	grp->next_seq += gp->plen;
	grp->l4_len += gp->plen;
	if (gp->flags & TCP_PSH) {
		grp->psh = 1;
		grp->closed = 1;
	}
	if (gp->plen < grp->seg_size)
		grp->closed = 1;
}

/* Rewrite the head's headers for the merged length and describe the
 * segmentation in h. */
static void gro_fix_head(uint8_t *ip, const struct gro_pkt *gh,
			 const struct gro_grp *grp, struct tun_vnet_hdr *h)
{
	uint8_t *th = ip + gh->l4;

	if (gh->v6) {
		put_be16(ip + 4, (uint16_t)grp->l4_len);
	} else {
		put_be16(ip + 2, (uint16_t)(20 + grp->l4_len));
		put_be16(ip + 10, 0);
		put_be16(ip + 10, (uint16_t)~tun_csum_fold(tun_csum_add(0, ip, 20)));
	}
	if (grp->psh)
		th[13] |= TCP_PSH;
	/* NEEDS_CSUM convention: the field holds the pseudo-header sum. */
	put_be16(th + 16, tun_csum_fold(tun_csum_pseudo(ip, gh->v6, IPPROTO_TCP,
							grp->l4_len)));
	memset(h, 0, sizeof(*h));
	h->flags = TUN_VNET_F_NEEDS_CSUM;
	h->gso_type = gh->v6 ? TUN_VNET_GSO_TCPV6 : TUN_VNET_GSO_TCPV4;
	h->hdr_len = (uint16_t)(gh->l4 + gh->thlen);
	h->gso_size = grp->seg_size;
	h->csum_start = gh->l4;
	h->csum_offset = 16;
}

static int gro_write_group(struct tun_dev *t, struct tun_pkt *pkts,
			   const struct gro_grp *grp)
{
	struct tun_gro *g = t->gro;
	struct tun_vnet_hdr h;
	struct gro_pkt *gh = &g->pkt[grp->first];
	struct tun_pkt *head = &pkts[grp->first];
	unsigned i, cnt = 2;
	int r;

	memset(&h, 0, sizeof(h));
	g->iov[0].iov_base = &h;
	g->iov[0].iov_len = sizeof(h);
	g->iov[1].iov_base = head->buf + head->off;
	g->iov[1].iov_len = head->len;
	if (grp->nseg == 1)
		return tun_write_one(t, g->iov, 2, 1);

	gro_fix_head(head->buf + head->off, gh, grp, &h);
	for (i = gh->next; i != GRO_NONE; i = g->pkt[i].next) {
		size_t hl = (size_t)g->pkt[i].l4 + g->pkt[i].thlen;

		g->iov[cnt].iov_base = pkts[i].buf + pkts[i].off + hl;
		g->iov[cnt].iov_len = g->pkt[i].plen;
		cnt++;
	}
	r = tun_write_one(t, g->iov, (int)cnt, grp->nseg);
	if (r == 0) {
		t->stats.tx_coalesced += grp->nseg;
	} else if (r == EINVAL) {
		/* The kernel refused our super-packet as malformed: merge no
		 * more from the next batch on rather than lose every run. */
		vlog_warn("tun", "%s: kernel refused a coalesced packet; coalescing off",
			  t->ifname);
		t->coalesce = 0;
	}
	return r;
}

int tun_gro_write(struct tun_dev *t, struct tun_pkt *pkts, unsigned n)
{
	struct tun_gro *g = t->gro;
	unsigned i, j, ngrp = 0, taken = 0;

	for (i = 0; i < n; i++) {
		struct gro_pkt *gp = &g->pkt[i];
		int joined = 0;

		gro_parse(gp, &pkts[i]);
		if (gp->l4) {
			/* The newest group of this flow decides: joining an
			 * older one would reorder the flow. */
			for (j = ngrp; j > 0 && ngrp - j < GRO_LOOKBACK; j--) {
				struct gro_grp *grp = &g->grp[j - 1];
				unsigned f = grp->first;

				if (!g->pkt[f].l4 ||
				    !gro_same_flow(&pkts[f], &g->pkt[f], &pkts[i], gp))
					continue;
				if (gro_can_append(g, grp, pkts, i)) {
					gro_append(g, grp, i);
					joined = 1;
				}
				break;
			}
		}
		if (!joined)
			gro_start(g, &g->grp[ngrp++], pkts, i);
	}
	for (j = 0; j < ngrp; j++) {
		int r = gro_write_group(t, pkts, &g->grp[j]);

		if (r < 0)
			return r;
		taken += r == 0 ? g->grp[j].nseg : 0;
	}
	return (int)taken;
}
