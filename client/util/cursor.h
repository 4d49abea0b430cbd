/* Bounds-checked cursors over byte buffers.
 *
 * Every byte that comes from the wire is read through a `struct cur`: each
 * read checks the remaining length first and fails without moving when the
 * data is short, so a lying length field can never make us read past the
 * buffer. Sub-cursors (`cur_sub`) confine a payload's parser to the bytes its
 * own length field claims, after that claim was checked against the parent.
 *
 * Writing goes through a `struct wbuf` with a sticky error: once a put does
 * not fit, the buffer stays full and `wbuf_err` reports -ENOSPC, so builders
 * can emit a whole message and check once at the end.
 *
 * All functions are inline: they sit on the per-packet path. */
#ifndef VPN_UTIL_CURSOR_H
#define VPN_UTIL_CURSOR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cur {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline void cur_init(struct cur *c, const void *p, size_t len)
{
	c->p = (const uint8_t *)p;
	c->len = len;
	c->off = 0;
}

static inline size_t cur_left(const struct cur *c) { return c->len - c->off; }
static inline const uint8_t *cur_pos(const struct cur *c) { return c->p + c->off; }

static inline int cur_skip(struct cur *c, size_t n)
{
	if (cur_left(c) < n)
		return -ENODATA;
	c->off += n;
	return 0;
}

/* Borrow a pointer to the next n bytes and advance past them. */
static inline int cur_ptr(struct cur *c, size_t n, const uint8_t **out)
{
	if (cur_left(c) < n)
		return -ENODATA;
	*out = c->p + c->off;
	c->off += n;
	return 0;
}

static inline int cur_bytes(struct cur *c, void *out, size_t n)
{
	if (cur_left(c) < n)
		return -ENODATA;
	memcpy(out, c->p + c->off, n);
	c->off += n;
	return 0;
}

/* Confine a parser to the next n bytes: `sub` covers them, `c` moves past. */
static inline int cur_sub(struct cur *c, size_t n, struct cur *sub)
{
	if (cur_left(c) < n)
		return -ENODATA;
	cur_init(sub, c->p + c->off, n);
	c->off += n;
	return 0;
}

static inline int cur_u8(struct cur *c, uint8_t *v)
{
	if (cur_left(c) < 1)
		return -ENODATA;
	*v = c->p[c->off++];
	return 0;
}

static inline int cur_be16(struct cur *c, uint16_t *v)
{
	const uint8_t *b;

	if (cur_left(c) < 2)
		return -ENODATA;
	b = c->p + c->off;
	*v = (uint16_t)((uint16_t)b[0] << 8 | b[1]);
	c->off += 2;
	return 0;
}

static inline int cur_be32(struct cur *c, uint32_t *v)
{
	const uint8_t *b;

	if (cur_left(c) < 4)
		return -ENODATA;
	b = c->p + c->off;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	c->off += 4;
	return 0;
}

static inline int cur_be64(struct cur *c, uint64_t *v)
{
	uint32_t hi = 0, lo = 0;

	if (cur_left(c) < 8)
		return -ENODATA;
	cur_be32(c, &hi);
	cur_be32(c, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Big-endian helpers for fixed offsets that were already bounds-checked. */
static inline uint16_t get_be16(const uint8_t *b) { return (uint16_t)((uint16_t)b[0] << 8 | b[1]); }
static inline uint32_t get_be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t get_be64(const uint8_t *b)
{
	return (uint64_t)get_be32(b) << 32 | get_be32(b + 4);
}
static inline void put_be16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *b, uint64_t v)
{
	put_be32(b, (uint32_t)(v >> 32));
	put_be32(b + 4, (uint32_t)v);
}

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err; /* 0, or -ENOSPC once something did not fit */
};

static inline void wbuf_init(struct wbuf *w, void *p, size_t cap)
{
	w->p = (uint8_t *)p;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

static inline int wbuf_err(const struct wbuf *w) { return w->err; }

/* Reserve n bytes and return where they start, or NULL (sticky error). */
static inline uint8_t *wbuf_reserve(struct wbuf *w, size_t n)
{
	uint8_t *at;

	if (w->err || w->cap - w->len < n) {
		w->err = -ENOSPC;
		return NULL;
	}
	at = w->p + w->len;
	w->len += n;
	return at;
}

static inline void wbuf_put(struct wbuf *w, const void *src, size_t n)
{
	uint8_t *at = wbuf_reserve(w, n);

	if (at && n)
		memcpy(at, src, n);
}

static inline void wbuf_zero(struct wbuf *w, size_t n)
{
	uint8_t *at = wbuf_reserve(w, n);

	if (at)
		memset(at, 0, n);
}

static inline void wbuf_u8(struct wbuf *w, uint8_t v)
{
	uint8_t *at = wbuf_reserve(w, 1);

	if (at)
		*at = v;
}

static inline void wbuf_be16(struct wbuf *w, uint16_t v)
{
	uint8_t *at = wbuf_reserve(w, 2);

	if (at)
		put_be16(at, v);
}

static inline void wbuf_be32(struct wbuf *w, uint32_t v)
{
	uint8_t *at = wbuf_reserve(w, 4);

	if (at)
		put_be32(at, v);
}

static inline void wbuf_be64(struct wbuf *w, uint64_t v)
{
	uint8_t *at = wbuf_reserve(w, 8);

	if (at)
		put_be64(at, v);
}

/* Back-patch a 16-bit length at an offset that was reserved earlier. */
static inline void wbuf_patch_be16(struct wbuf *w, size_t off, uint16_t v)
{
	if (!w->err && off + 2 <= w->len)
		put_be16(w->p + off, v);
}

static inline void wbuf_patch_be32(struct wbuf *w, size_t off, uint32_t v)
{
	if (!w->err && off + 4 <= w->len)
		put_be32(w->p + off, v);
}

#ifdef __cplusplus
}
#endif
#endif
