/* TUN device: open, close, batched read and write. See tun.h. */
#define _GNU_SOURCE
#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client/util/cursor.h"
#include "client/util/log.h"
#include "tun/gso.h"

#define MOD "tun"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

/* The smallest IP packet we can parse at all (an IPv6 header). */
#define TUN_MIN_ROOM 40u

/* Room in front of the scratch area: a super-packet's first bytes are read
 * straight into the caller's buffer (so ordinary packets need no copy) and
 * moved here when it turns out to be a super-packet, making it contiguous. */
#define TUN_GSO_GAP 4096u

static int tun_set_offload(int fd)
{
	unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	/* USO needs Linux 6.2; older kernels reject the unknown bits. */
	if (ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		return (int)(base | TUN_F_USO4 | TUN_F_USO6);
	if (ioctl(fd, TUNSETOFFLOAD, base) == 0)
		return (int)base;
	return -errno;
}

static int tun_create(struct tun_dev *t, const char *hint, int vnet)
{
	struct ifreq ifr;
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		vlog_err(MOD, "open /dev/net/tun: %s", strerror(-err));
		return err;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, hint, strlen(hint));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		vlog_err(MOD, "TUNSETIFF %s: %s", hint, strerror(-err));
		return err;
	}
	if (vnet) {
		int off = tun_set_offload(fd);

		if (off < 0) {
			close(fd);
			vlog_notice(MOD, "TUNSETOFFLOAD refused (%s); plain device",
				    strerror(-off));
			return off;
		}
		t->offload = (unsigned)off;
	}
	t->fd = fd;
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = '\0';
	return 0;
}

int tun_open(struct tun_dev *t, const char *name_hint, unsigned flags)
{
	const char *hint = name_hint ? name_hint : "vpn%d";
	int err = -1;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (hint[0] == '\0' || strlen(hint) >= IFNAMSIZ || strchr(hint, '/')) {
		vlog_err(MOD, "bad interface name '%s'", hint);
		return -EINVAL;
	}
	if (flags & TUN_OPEN_OFFLOAD) {
		t->gso_buf = malloc(TUN_GSO_GAP + TUN_GSO_MAX);
		t->gro = tun_gro_new();
		if (!t->gso_buf || !t->gro) {
			tun_close(t);
			return -ENOMEM;
		}
		err = tun_create(t, hint, 1);
		if (err == -EPERM || err == -EBUSY) {
			tun_close(t);
			return err;
		}
		t->coalesce = err == 0;
	}
	if (err) {
		/* Plain device: no vnet header, nothing to split or merge. */
		free(t->gso_buf);
		tun_gro_free(t->gro);
		t->gso_buf = NULL;
		t->gro = NULL;
		t->offload = 0;
		err = tun_create(t, hint, 0);
		if (err)
			return err;
	}
	t->ifindex = (int)if_nametoindex(t->ifname);
	if (t->ifindex <= 0) {
		err = -errno;
		vlog_err(MOD, "%s: no ifindex: %s", t->ifname, strerror(-err));
		tun_close(t);
		return err;
	}
	vlog_info(MOD, "%s: created (ifindex %d, offload 0x%x)", t->ifname,
		  t->ifindex, t->offload);
	return 0;
}

void tun_close(struct tun_dev *t)
{
	if (t->fd >= 0) {
		close(t->fd);
		vlog_info(MOD, "%s: closed", t->ifname);
	}
	t->fd = -1;
	free(t->gso_buf);
	t->gso_buf = NULL;
	tun_gro_free(t->gro);
	t->gro = NULL;
	t->gso.len = 0;
}

/* The length the IP header claims must be exactly what we read: shorter
 * means the read was truncated, anything else is not a packet we can
 * forward. */
static int tun_ip_len_ok(const uint8_t *p, size_t len)
{
	if (len < 20)
		return 0;
	switch (p[0] >> 4) {
	case 4:
		return (p[0] & 0x0f) >= 5 && get_be16(p + 2) == len;
	case 6:
		return len >= 40 && (size_t)get_be16(p + 4) + 40 == len;
	default:
		return 0;
	}
}

static void tun_drop_rx(struct tun_dev *t, const char *why, size_t len)
{
	t->stats.rx_dropped++;
	if (!t->warned_rx) {
		t->warned_rx = 1;
		vlog_warn(MOD, "%s: dropped a %zu-byte packet (%s); further drops only counted",
			  t->ifname, len, why);
	}
}

static void tun_deliver(struct tun_dev *t, struct tun_pkt *p, uint32_t off,
			uint32_t len)
{
	p->off = off;
	p->len = len;
	t->stats.rx_pkts++;
	t->stats.rx_bytes += len;
}

/* Read one packet into dst. Returns its length, 0 when it was dropped,
 * -errno (-EAGAIN: nothing to read). */
static int tun_read_plain(struct tun_dev *t, uint8_t *dst, size_t room)
{
	ssize_t r;

	do {
		r = read(t->fd, dst, room);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	t->stats.rx_reads++;
	if (!tun_ip_len_ok(dst, (size_t)r)) {
		tun_drop_rx(t, "truncated or not IP", (size_t)r);
		return 0;
	}
	return (int)r;
}

/* Read one packet (with its vnet header) into dst, or into the scratch area
 * when it is a super-packet. Returns the length of the packet in dst, 0
 * when a super-packet is now pending or the packet was dropped, -errno. */
static int tun_read_vnet(struct tun_dev *t, uint8_t *dst, size_t room)
{
	struct tun_vnet_hdr h;
	size_t first = room < TUN_GSO_GAP ? room : TUN_GSO_GAP;
	uint8_t *spill = t->gso_buf + TUN_GSO_GAP;
	struct iovec iov[3] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = dst, .iov_len = first },
		{ .iov_base = spill, .iov_len = TUN_GSO_MAX },
	};
	ssize_t r;
	size_t len;

	do {
		r = readv(t->fd, iov, 3);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	t->stats.rx_reads++;
	if ((size_t)r < sizeof(h)) {
		tun_drop_rx(t, "short vnet header", (size_t)r);
		return 0;
	}
	len = (size_t)r - sizeof(h);
	if (h.gso_type == TUN_VNET_GSO_NONE) {
		if (len > room) {
			tun_drop_rx(t, "larger than the buffer", len);
			return 0;
		}
		if (len > first)
			memcpy(dst + first, spill, len - first);
		if ((h.flags & TUN_VNET_F_NEEDS_CSUM) &&
		    tun_gso_finish_csum(dst, len, &h) < 0) {
			tun_drop_rx(t, "bad checksum offsets", len);
			return 0;
		}
		if (!tun_ip_len_ok(dst, len)) {
			tun_drop_rx(t, "truncated or not IP", len);
			return 0;
		}
		return (int)len;
	}
	/* A super-packet: its head went to dst, the rest to spill. */
	memcpy(spill - first, dst, first < len ? first : len);
	if (tun_gso_prepare(&t->gso, spill - first, len, &h) < 0) {
		tun_drop_rx(t, "malformed super-packet", len);
		return 0;
	}
	t->gso.start = (uint32_t)(TUN_GSO_GAP - first);
	t->stats.rx_gso++;
	return 0;
}

int tun_read_batch(struct tun_dev *t, struct tun_pkt *pkts, unsigned n,
		   uint32_t headroom, uint32_t tailroom)
{
	unsigned i = 0;

	while (i < n) {
		struct tun_pkt *p = &pkts[i];
		uint8_t *dst;
		size_t room;
		int r;

		if (p->cap < (size_t)headroom + tailroom + TUN_MIN_ROOM)
			return i ? (int)i : -EINVAL;
		dst = p->buf + headroom;
		room = p->cap - headroom - tailroom;

		if (t->gso.len) {
			r = tun_gso_segment(&t->gso, t->gso_buf + t->gso.start, dst,
					    room);
			if (r > 0) {
				tun_deliver(t, p, headroom, (uint32_t)r);
				i++;
			} else {
				if (r < 0)
					tun_drop_rx(t, "segment larger than the buffer",
						    t->gso.hdr_len + t->gso.seg_size);
				t->gso.len = 0;
			}
			continue;
		}
		r = t->gso_buf ? tun_read_vnet(t, dst, room) : tun_read_plain(t, dst, room);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			if (i)
				break;
			vlog_err(MOD, "%s: read: %s", t->ifname, strerror(-r));
			return r;
		}
		if (r > 0) {
			tun_deliver(t, p, headroom, (uint32_t)r);
			i++;
		}
	}
	return (int)i;
}

/* Errors that lose this packet only; anything else means the device is
 * unusable and the caller must hear about it. */
static int tun_write_err_is_drop(int err)
{
	return err == -EINVAL || err == -EMSGSIZE || err == -EAGAIN ||
	       err == -ENOBUFS || err == -ENOMEM || err == -EFAULT;
}

int tun_write_one(struct tun_dev *t, const struct iovec *iov, int cnt,
		  unsigned npkts)
{
	ssize_t r;
	int err;

	do {
		r = writev(t->fd, iov, cnt);
	} while (r < 0 && errno == EINTR);
	t->stats.tx_writes++;
	if (r >= 0) {
		t->stats.tx_pkts += npkts;
		t->stats.tx_bytes += (size_t)r;
		return 0;
	}
	err = -errno;
	if (!tun_write_err_is_drop(err)) {
		vlog_err(MOD, "%s: write: %s", t->ifname, strerror(-err));
		return err;
	}
	t->stats.tx_dropped += npkts;
	if (!t->warned_tx) {
		t->warned_tx = 1;
		vlog_warn(MOD, "%s: kernel refused a packet (%s); further drops only counted",
			  t->ifname, strerror(-err));
	}
	return -err;
}

int tun_write_batch(struct tun_dev *t, struct tun_pkt *pkts, unsigned n)
{
	static const struct tun_vnet_hdr plain_hdr;
	unsigned i, taken = 0;

	if (t->gso_buf && t->coalesce) {
		for (i = 0; i < n; i += TUN_BATCH_MAX) {
			unsigned chunk = n - i < TUN_BATCH_MAX ? n - i : TUN_BATCH_MAX;
			int r = tun_gro_write(t, pkts + i, chunk);

			if (r < 0)
				return r;
			taken += (unsigned)r;
		}
		return (int)taken;
	}
	for (i = 0; i < n; i++) {
		struct iovec iov[2] = {
			{ .iov_base = (void *)&plain_hdr, .iov_len = sizeof(plain_hdr) },
			{ .iov_base = pkts[i].buf + pkts[i].off, .iov_len = pkts[i].len },
		};
		/* The plain device takes the packet alone; with a vnet header
		 * an all-zero one says "complete, not a super-packet". */
		int r = t->gso_buf ? tun_write_one(t, iov, 2, 1)
				   : tun_write_one(t, iov + 1, 1, 1);

		if (r < 0)
			return r;
		taken += r == 0;
	}
	return (int)taken;
}

int tun_esp_mtu(unsigned path_mtu, unsigned outer, unsigned iv, unsigned block,
		unsigned icv)
{
	unsigned fixed = outer + 8 + iv + icv, avail, mtu;

	/* RFC 4303 2.4: the trailer ends on a 4-byte boundary in any case. */
	if (block < 4)
		block = 4;
	if (block > 256 || path_mtu > 65535 || fixed >= path_mtu)
		return -EINVAL;
	avail = (path_mtu - fixed) / block * block;
	if (avail < 2 + 68)
		return -EINVAL;
	mtu = avail - 2;
	return (int)mtu;
}
