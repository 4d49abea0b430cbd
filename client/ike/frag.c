/* RFC 7383 fragmentation: fragment planning and building, and bounded
 * reassembly of decrypted fragments. */
#include "client/ike/frag.h"

#include <errno.h>
#include <string.h>

#include "client/ike/codec_int.h"
#include "client/util/log.h"

/* ---- sending ------------------------------------------------------------------ */

size_t ike_frag_max_msg(size_t mtu, bool ipv6, bool natt)
{
	size_t over = (ipv6 ? 40 : 20) + 8 + (natt ? IKE_NON_ESP_MARKER_LEN : 0);

	return mtu > over ? mtu - over : 0;
}

/* Octets of one fragment message before its inner data. */
static size_t frag_fixed(size_t iv_len)
{
	return IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN + IKE_SKF_HDR_LEN + iv_len;
}

/* Inner data + padding + pad length octet, rounded to the cipher block. */
static size_t padded(size_t chunk, size_t block)
{
	return (chunk + 1 + block - 1) / block * block;
}

int ike_frag_compute_plan(size_t inner_len, size_t max_msg, size_t iv_len,
			  size_t icv_len, size_t block_len,
			  struct ike_frag_plan *plan)
{
	size_t block = block_len ? block_len : 1;
	size_t fixed = frag_fixed(iv_len) + icv_len, avail, chunk, count;

	if (inner_len == 0)
		return -EINVAL;
	if (max_msg <= fixed + 1) {
		vlog_warn("ike", "cannot fragment: %s (message limit %zu, overhead %zu)",
			  ike_strerror(IKE_ERR_FRAG_MTU), max_msg, fixed + 1);
		return IKE_ERR_FRAG_MTU;
	}
	avail = (max_msg - fixed) / block * block; /* room for padded data */
	if (avail < 2) {
		vlog_warn("ike", "cannot fragment: %s (message limit %zu, block %zu)",
			  ike_strerror(IKE_ERR_FRAG_MTU), max_msg, block);
		return IKE_ERR_FRAG_MTU;
	}
	chunk = avail - 1; /* the pad length octet */
	count = (inner_len + chunk - 1) / chunk;
	if (count > UINT16_MAX) {
		vlog_warn("ike", "cannot fragment %zu octets: %s (%zu fragments)",
			  inner_len, ike_strerror(IKE_ERR_FRAG_TOO_MANY), count);
		return IKE_ERR_FRAG_TOO_MANY;
	}
	plan->chunk = chunk;
	plan->count = (uint16_t)count;
	plan->iv_len = iv_len;
	plan->icv_len = icv_len;
	plan->block_len = block;
	return 0;
}

int ike_frag_build(const struct ike_header *h, uint8_t first,
		   const uint8_t *inner, size_t inner_len,
		   const struct ike_frag_plan *plan, uint16_t num, uint8_t *buf,
		   size_t cap, size_t *aad_len, size_t *chunk_len, size_t *msg_len)
{
	struct wbuf w;
	size_t start, chunk, plen, total;

	if (num == 0 || num > plan->count || plan->chunk == 0)
		return -EINVAL;
	start = (size_t)(num - 1) * plan->chunk;
	if (start >= inner_len)
		return -EINVAL;
	chunk = inner_len - start < plan->chunk ? inner_len - start : plan->chunk;
	plen = IKE_PAYLOAD_HDR_LEN + IKE_SKF_HDR_LEN + plan->iv_len +
	       padded(chunk, plan->block_len) + plan->icv_len;
	total = IKE_HDR_LEN + plen;
	if (plen > UINT16_MAX)
		return -EMSGSIZE;
	if (total > cap)
		return -ENOSPC;

	wbuf_init(&w, buf, cap);
	wbuf_be64(&w, h->spi_i);
	wbuf_be64(&w, h->spi_r);
	wbuf_u8(&w, IKE_PT_SKF);
	wbuf_u8(&w, h->version ? h->version : IKE_VERSION_BYTE);
	wbuf_u8(&w, h->exchange);
	wbuf_u8(&w, h->flags);
	wbuf_be32(&w, h->msgid);
	wbuf_be32(&w, (uint32_t)total);
	wbuf_u8(&w, num == 1 ? first : IKE_PT_NONE);
	wbuf_u8(&w, 0);
	wbuf_be16(&w, (uint16_t)plen);
	wbuf_be16(&w, num);
	wbuf_be16(&w, plan->count);
	*aad_len = w.len;
	wbuf_zero(&w, plan->iv_len);
	wbuf_put(&w, inner + start, chunk);
	if (wbuf_err(&w))
		return wbuf_err(&w);
	*chunk_len = chunk;
	*msg_len = total;
	return 0;
}

/* ---- receiving ---------------------------------------------------------------- */

void ike_frag_reset(struct ike_frag_reasm *r)
{
	r->active = false;
	r->msgid = 0;
	r->total = 0;
	r->have = 0;
	r->first = IKE_PT_NONE;
	r->deadline = 0;
	r->bytes = 0;
	r->seen = 0;
}

void ike_frag_init(struct ike_frag_reasm *r)
{
	ike_frag_reset(r);
}

static int frag_refuse(int err, uint32_t msgid, uint16_t num, uint16_t total,
		       const char *why)
{
	vlog_warn("ike", "refused fragment %u/%u of message %u: %s (%s)", num, total,
		  msgid, ike_strerror(err), why);
	return err;
}

static void start(struct ike_frag_reasm *r, uint32_t msgid, uint16_t total,
		  uint64_t deadline)
{
	ike_frag_reset(r);
	r->active = true;
	r->msgid = msgid;
	r->total = total;
	r->deadline = deadline;
}

int ike_frag_add(struct ike_frag_reasm *r, uint32_t msgid, uint16_t num,
		 uint16_t total, uint8_t next, const uint8_t *data, size_t len,
		 uint64_t now, uint64_t deadline)
{
	uint32_t bit;

	if (num == 0 || total == 0 || num > total)
		return frag_refuse(IKE_ERR_SKF_NUMBER, msgid, num, total,
				   "numbers out of range");
	if (total > IKE_FRAG_MAX)
		return frag_refuse(IKE_ERR_FRAG_TOO_MANY, msgid, num, total,
				   "more fragments than we accept");
	if (r->active && now >= r->deadline) {
		vlog_warn("ike", "dropped reassembly of message %u (%u of %u fragments): %s",
			  r->msgid, r->have, r->total,
			  ike_strerror(IKE_ERR_FRAG_TIMEOUT));
		ike_frag_reset(r);
	}
	if (r->active && msgid != r->msgid) {
		if (msgid < r->msgid)
			return frag_refuse(IKE_ERR_FRAG_STALE, msgid, num, total,
					   "older than the message being collected");
		vlog_info("ike", "dropped reassembly of message %u: message %u started",
			  r->msgid, msgid);
		ike_frag_reset(r);
	}
	if (r->active && total != r->total) {
		if (total < r->total)
			return frag_refuse(IKE_ERR_FRAG_TOTAL, msgid, num, total,
					   "collecting a larger total");
		/* RFC 7383 2.6: the sender re-fragmented into smaller pieces. */
		vlog_info("ike", "restarting reassembly of message %u: total %u -> %u",
			  msgid, r->total, total);
		ike_frag_reset(r);
	}
	if (!r->active)
		start(r, msgid, total, deadline);
	bit = (uint32_t)1 << (num - 1);
	if (r->seen & bit)
		return frag_refuse(IKE_ERR_FRAG_DUPLICATE, msgid, num, total,
				   "already have it");
	if (len > IKE_FRAG_MAX_BYTES - r->bytes) {
		frag_refuse(IKE_ERR_FRAG_TOO_BIG, msgid, num, total,
			    "dropping the whole message");
		ike_frag_reset(r);
		return IKE_ERR_FRAG_TOO_BIG;
	}
	if (len)
		memcpy(r->data + r->bytes, data, len);
	r->off[num - 1] = (uint32_t)r->bytes;
	r->len[num - 1] = (uint32_t)len;
	r->bytes += len;
	r->seen |= bit;
	r->have++;
	if (num == 1)
		r->first = next;
	return r->have == r->total ? 1 : 0;
}

int ike_frag_assemble(struct ike_frag_reasm *r, uint8_t *out, size_t cap,
		      size_t *len, uint8_t *first)
{
	size_t at = 0;

	if (!r->active || r->have != r->total)
		return -EAGAIN;
	if (cap < r->bytes)
		return -ENOSPC;
	for (unsigned i = 0; i < r->total; i++) {
		if (r->len[i])
			memcpy(out + at, r->data + r->off[i], r->len[i]);
		at += r->len[i];
	}
	*len = at;
	*first = r->first;
	ike_frag_reset(r);
	return 0;
}

int ike_frag_expire(struct ike_frag_reasm *r, uint64_t now)
{
	if (!r->active || now < r->deadline)
		return 0;
	vlog_warn("ike", "dropped reassembly of message %u (%u of %u fragments): %s",
		  r->msgid, r->have, r->total, ike_strerror(IKE_ERR_FRAG_TIMEOUT));
	ike_frag_reset(r);
	return IKE_ERR_FRAG_TIMEOUT;
}
