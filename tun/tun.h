/* The TUN device: open it, and move IP packets in batches.
 *
 * The device carries bare IP packets (IFF_TUN | IFF_NO_PI); the fd is
 * non-blocking, so the daemon drives it from a uv_poll_t and drains it with
 * tun_read_batch() until the kernel has nothing left or the batch is full.
 *
 * Buffers belong to the caller and are sized at start: every packet is read
 * `headroom` bytes into its buffer and at least `tailroom` bytes are left
 * free behind it, because the ESP layer seals in place (ESP header and IV go
 * in front, padding, trailer and ICV behind). Nothing here allocates per
 * packet.
 *
 * Addresses, MTU, link state and routes are set through platform/plat.h; this
 * module only owns the fd. The device is not persistent: closing the fd (or
 * the daemon dying) removes it together with its addresses and routes.
 *
 * Offload (TUN_OPEN_OFFLOAD): with IFF_VNET_HDR and TUNSETOFFLOAD the kernel
 * hands us TCP (and, from Linux 6.2, UDP) segmentation-offload "super-packets"
 * of up to 64 KiB in one read, and accepts coalesced TCP super-packets in one
 * write. tun_read_batch() splits super-packets into MTU-sized IP packets with
 * correct checksums (finishing partial checksums the kernel left to us), so
 * the caller sees the same plain IP packets either way; tun_write_batch()
 * merges consecutive in-order TCP segments of a flow into one write. Both
 * cut syscalls per packet by an order of magnitude for bulk TCP.
 */
#ifndef VPN_TUN_TUN_H
#define VPN_TUN_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Packets handed in one call are processed in chunks of at most this many;
 * it sizes the coalescing tables allocated at open. */
#define TUN_BATCH_MAX 256u

/* Largest IP packet the kernel can hand us: a GSO super-packet (IPv6:
 * 40-byte header plus a 65535-byte payload). */
#define TUN_GSO_MAX (65535u + 40u)

enum tun_open_flags {
	/* Ask for IFF_VNET_HDR with TSO/USO offloads; falls back to the plain
	 * device (with a log line) when the kernel refuses. */
	TUN_OPEN_OFFLOAD = 1u << 0,
};

struct tun_stats {
	uint64_t rx_pkts;       /* IP packets delivered to the caller */
	uint64_t rx_bytes;
	uint64_t rx_reads;      /* read syscalls that returned a packet */
	uint64_t rx_gso;        /* super-packets split */
	uint64_t rx_dropped;    /* truncated, malformed or unsplittable */
	uint64_t tx_pkts;       /* IP packets accepted by the kernel */
	uint64_t tx_bytes;
	uint64_t tx_writes;     /* write syscalls */
	uint64_t tx_coalesced;  /* packets that rode in a super-packet */
	uint64_t tx_dropped;    /* the kernel refused the packet */
};

/* The split of a super-packet still being handed out across calls. */
struct tun_gso_pending {
	uint32_t start;     /* where the super-packet begins in the scratch buffer */
	uint32_t len;       /* its length, 0 = nothing pending */
	uint32_t l4_off;    /* TCP/UDP header offset */
	uint32_t hdr_len;   /* IP + L4 header length */
	uint32_t seg_size;  /* payload bytes per segment */
	uint32_t off;       /* payload offset of the next segment */
	uint16_t idx;       /* index of the next segment */
	uint8_t proto;      /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t v6;
};

struct tun_dev {
	int fd;
	int ifindex;
	char ifname[IFNAMSIZ];
	unsigned offload;   /* TUN_F_* the kernel accepted; 0 = plain device */
	int coalesce;       /* tun_write_batch merges TCP segments */
	struct tun_stats stats;

	/* Offload mode only, allocated at open. */
	uint8_t *gso_buf;   /* scratch for one super-packet */
	struct tun_gso_pending gso;
	struct tun_gro *gro;
	int warned_rx;      /* log the first dropped read only */
	int warned_tx;      /* log the first refused write only */
};

/* One packet in a caller-owned buffer: the IP packet is buf[off, off+len). */
struct tun_pkt {
	uint8_t *buf;
	uint32_t cap;
	uint32_t off;
	uint32_t len;
};

/* Create a TUN device. `name_hint` is an interface name or a pattern with
 * "%d" ("vpn%d"); NULL means "vpn%d". Returns 0 or -errno (-EPERM without
 * CAP_NET_ADMIN, -EBUSY when a named device is in use). */
int tun_open(struct tun_dev *t, const char *name_hint, unsigned flags);

/* Close the fd, which removes the device. Safe on a closed or zeroed dev. */
void tun_close(struct tun_dev *t);

/* Read up to n packets. Each packet lands at pkts[i].buf + headroom, with
 * at least `tailroom` bytes of pkts[i].cap left behind it; off and len are
 * set. Returns the number of packets (0 when the device is empty), or
 * -errno when the first read fails for a reason other than EAGAIN (a later
 * failure ends the batch early; a lasting one shows on the next call).
 * Truncated or malformed packets are dropped and counted, never returned.
 * Buffers must hold headroom + tailroom + the device MTU; -EINVAL when a
 * buffer cannot hold even a minimal packet. */
int tun_read_batch(struct tun_dev *t, struct tun_pkt *pkts, unsigned n,
		   uint32_t headroom, uint32_t tailroom);

/* Write n packets (buf[off, off+len) each). Every packet is consumed: the
 * kernel takes it, or it is dropped and counted (malformed, or no room in
 * the kernel, as on a full NIC queue). Returns the number taken, or -errno
 * when the device itself fails (-EIO: the link is down). With coalescing
 * on, the IP and TCP headers of the first packet of a merged run are
 * rewritten in place. */
int tun_write_batch(struct tun_dev *t, struct tun_pkt *pkts, unsigned n);

/* The inner MTU that keeps ESP packets within `path_mtu`:
 * path_mtu >= outer + 8 (SPI, seq) + iv + roundup(mtu + 2, block) + icv.
 * `outer` is the outer IP header plus UDP encapsulation (IPv4 + UDP: 28,
 * IPv6 + UDP: 48). `block` is the cipher's padding unit (4 for AEADs like
 * AES-GCM, 16 for AES-CBC). Returns the MTU or -EINVAL when nothing fits.
 * Example: 1500, IPv4+UDP, AES-GCM-16 (iv 8, block 4, icv 16) -> 1438. */
int tun_esp_mtu(unsigned path_mtu, unsigned outer, unsigned iv, unsigned block,
		unsigned icv);

#ifdef __cplusplus
}
#endif
#endif
