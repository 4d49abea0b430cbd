/* The packet buffer pool: one allocation for all buffers, one for the
 * descriptors, and a stack of free indices so get/put are O(1) and touch one
 * cache line of bookkeeping each. */
#include "client/esp/pkt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/util/log.h"

#define PKT_POOL_MAX_COUNT (1u << 20)
#define PKT_POOL_MAX_BUF (1u << 20)

struct pkt_pool {
	uint8_t *mem;
	struct pkt *desc;
	uint32_t *free_idx; /* stack of free descriptor indices */
	size_t nfree;
	size_t count;
	size_t buf_size;
};

int pkt_pool_new(size_t count, size_t buf_size, struct pkt_pool **out)
{
	struct pkt_pool *pool;
	size_t i;

	*out = NULL;
	if (count == 0 || count > PKT_POOL_MAX_COUNT ||
	    buf_size < PKT_HEADROOM + PKT_TAILROOM + 64 || buf_size > PKT_POOL_MAX_BUF)
		return -EINVAL;
	buf_size = (buf_size + PKT_ALIGN - 1) / PKT_ALIGN * PKT_ALIGN;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->mem = aligned_alloc(PKT_ALIGN, count * buf_size);
	pool->desc = calloc(count, sizeof(*pool->desc));
	pool->free_idx = calloc(count, sizeof(*pool->free_idx));
	if (!pool->mem || !pool->desc || !pool->free_idx) {
		pkt_pool_free(pool);
		return -ENOMEM;
	}
	pool->count = count;
	pool->buf_size = buf_size;
	for (i = 0; i < count; i++) {
		struct pkt *p = &pool->desc[i];

		p->buf = pool->mem + i * buf_size;
		p->size = (uint32_t)buf_size;
		p->pool_idx = (uint32_t)i;
		p->in_use = 0;
		pkt_reset(p);
		/* Hand out low indices first: they are the ones still warm. */
		pool->free_idx[count - 1 - i] = (uint32_t)i;
	}
	pool->nfree = count;
	*out = pool;
	return 0;
}

void pkt_pool_free(struct pkt_pool *pool)
{
	if (!pool)
		return;
	free(pool->mem);
	free(pool->desc);
	free(pool->free_idx);
	free(pool);
}

size_t pkt_pool_count(const struct pkt_pool *pool) { return pool->count; }
size_t pkt_pool_avail(const struct pkt_pool *pool) { return pool->nfree; }
size_t pkt_pool_buf_size(const struct pkt_pool *pool) { return pool->buf_size; }

struct pkt *pkt_get(struct pkt_pool *pool)
{
	struct pkt *p;

	if (pool->nfree == 0)
		return NULL;
	p = &pool->desc[pool->free_idx[--pool->nfree]];
	p->in_use = 1;
	pkt_reset(p);
	return p;
}

size_t pkt_get_bulk(struct pkt_pool *pool, struct pkt **out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[i] = pkt_get(pool);
		if (!out[i])
			break;
	}
	return i;
}

int pkt_put(struct pkt_pool *pool, struct pkt *p)
{
	if (!p || p->pool_idx >= pool->count || &pool->desc[p->pool_idx] != p ||
	    !p->in_use) {
		vlog_err("esp", "pkt_put: buffer %p is not an outstanding buffer of this pool",
			 (void *)p);
		return -EINVAL;
	}
	p->in_use = 0;
	pool->free_idx[pool->nfree++] = p->pool_idx;
	return 0;
}
