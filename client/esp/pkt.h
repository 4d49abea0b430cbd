/* Packet buffers for the data path: a pool of fixed-size buffers allocated
 * once at start, and the descriptor (`struct pkt`) that TUN, ESP and the
 * transports hand each other.
 *
 * Outbound, a packet is read from the TUN device into a pool buffer at
 * PKT_HEADROOM, ESP seals it in place (prepending its header and IV into the
 * headroom, appending padding, pad length, next header and ICV into the
 * tailroom) and a transport may prepend its own framing (RFC 9329 length,
 * non-ESP marker) before sending. No byte of the packet is copied on the way.
 *
 * Sizes, for a path MTU of 1500 (the largest we plan buffers for):
 *
 *   headroom  PKT_HEADROOM = 64 >= 6 (RFC 9329 2-byte length + 4-byte
 *             non-ESP marker) + 8 (SPI, sequence number) + 16 (largest IV,
 *             AES-CBC) = 30; rounded up to a cache line so the inner packet
 *             (what TUN reads and the cipher walks) starts 64-byte aligned.
 *   data      PKT_DATA_MAX = 1500: the largest inner packet. The TUN MTU the
 *             session sets is always lower (1500 minus outer IP, UDP and ESP
 *             overhead, see esp_inner_mtu), so any packet TUN hands us fits.
 *             The largest datagram a 1500 path carries (1472 bytes of UDP
 *             payload over IPv4) fits as well.
 *   tailroom  PKT_TAILROOM = 64 >= 15 (largest padding, CBC block 16) + 1 (pad
 *             length) + 1 (next header) + 32 (largest ICV, HMAC-SHA2-512-256)
 *             = 49; rounded up to a cache line.
 *   buffer    PKT_BUF_SIZE = 64 + 1500 + 64 = 1628, rounded up to 1664
 *             (26 cache lines). A pool of 4096 buffers is 6.5 MiB.
 *
 * Pools are not thread-safe: one pool belongs to one loop thread. */
#ifndef VPN_ESP_PKT_H
#define VPN_ESP_PKT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PKT_PREFIX_MAX 6   /* RFC 9329 length (2) + non-ESP marker (4) */
#define PKT_ESP_HDR_MAX 24 /* SPI (4) + sequence number (4) + IV (up to 16) */
#define PKT_HEADROOM 64
#define PKT_DATA_MAX 1500
#define PKT_TRAILER_MAX 49 /* padding (15) + pad length + next header + ICV (32) */
#define PKT_TAILROOM 64
#define PKT_ALIGN 64
#define PKT_BUF_SIZE                                                            \
	((PKT_HEADROOM + PKT_DATA_MAX + PKT_TAILROOM + PKT_ALIGN - 1) /         \
	 PKT_ALIGN * PKT_ALIGN)

/* A packet: `len` bytes at `data`, inside the buffer [buf, buf + size). The
 * room before and after the packet is where ESP and the transports grow it.
 * Descriptors that are not from a pool (views into a receive buffer) have
 * pool_idx PKT_NO_POOL and must never be given to pkt_put. */
struct pkt {
	uint8_t *data;
	uint32_t len;
	uint32_t size;
	uint8_t *buf;
	uint32_t pool_idx;
	uint32_t in_use; /* guards against a double pkt_put */
};

#define PKT_NO_POOL UINT32_MAX

static inline size_t pkt_headroom(const struct pkt *p) { return (size_t)(p->data - p->buf); }
static inline size_t pkt_tailroom(const struct pkt *p)
{
	return p->size - pkt_headroom(p) - p->len;
}

/* Grow the packet at the front by n bytes; returns the new start, or NULL
 * (packet unchanged) when the headroom is too small. */
static inline uint8_t *pkt_push(struct pkt *p, size_t n)
{
	if (pkt_headroom(p) < n)
		return NULL;
	p->data -= n;
	p->len += (uint32_t)n;
	return p->data;
}

/* Drop n bytes from the front; NULL if the packet is shorter. */
static inline uint8_t *pkt_pull(struct pkt *p, size_t n)
{
	if (p->len < n)
		return NULL;
	p->data += n;
	p->len -= (uint32_t)n;
	return p->data;
}

/* Grow the packet at the end by n bytes; returns where they start or NULL. */
static inline uint8_t *pkt_append(struct pkt *p, size_t n)
{
	uint8_t *at;

	if (pkt_tailroom(p) < n)
		return NULL;
	at = p->data + p->len;
	p->len += (uint32_t)n;
	return at;
}

/* Drop n bytes from the end; -1 if the packet is shorter. */
static inline int pkt_trim(struct pkt *p, size_t n)
{
	if (p->len < n)
		return -1;
	p->len -= (uint32_t)n;
	return 0;
}

/* Empty packet at the standard headroom (or less if the buffer is small). */
static inline void pkt_reset(struct pkt *p)
{
	size_t head = p->size > 2 * PKT_HEADROOM ? PKT_HEADROOM : 0;

	p->data = p->buf + head;
	p->len = 0;
}

/* Point a descriptor at memory that is not pool-owned: `len` bytes at
 * `data` with `head` writable bytes before and `tail` after. */
static inline void pkt_view(struct pkt *p, uint8_t *data, size_t len, size_t head,
			    size_t tail)
{
	p->buf = data - head;
	p->data = data;
	p->len = (uint32_t)len;
	p->size = (uint32_t)(head + len + tail);
	p->pool_idx = PKT_NO_POOL;
	p->in_use = 1;
}

struct pkt_pool;

/* Allocate `count` buffers of `buf_size` bytes each (at least
 * PKT_HEADROOM + PKT_TAILROOM + 64; rounded up to PKT_ALIGN), all at once.
 * -EINVAL for absurd sizes, -ENOMEM. */
int pkt_pool_new(size_t count, size_t buf_size, struct pkt_pool **out);
void pkt_pool_free(struct pkt_pool *pool);
size_t pkt_pool_count(const struct pkt_pool *pool);
size_t pkt_pool_avail(const struct pkt_pool *pool);
size_t pkt_pool_buf_size(const struct pkt_pool *pool);

/* Take a buffer, reset to an empty packet at PKT_HEADROOM. NULL when the
 * pool is exhausted: the caller drops (that is the bound on memory). */
struct pkt *pkt_get(struct pkt_pool *pool);
/* Fill `out` with up to n buffers; returns how many it got. */
size_t pkt_get_bulk(struct pkt_pool *pool, struct pkt **out, size_t n);
/* Return a buffer. A descriptor from another pool, a view, or one already
 * returned is refused with -EINVAL (and logged): a bug, never a crash. */
int pkt_put(struct pkt_pool *pool, struct pkt *p);

#ifdef __cplusplus
}
#endif
#endif
