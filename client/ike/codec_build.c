/* Payload builders. Each payload starts with a generic header whose Next
 * Payload octet is filled in by the payload that follows, and whose length
 * is patched when the payload is complete; errors are sticky so a message
 * can be built in one go and checked once. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "client/ike/codec.h"

static int fail(struct ike_builder *b, int err)
{
	if (!b->err)
		b->err = err;
	return b->err;
}

static int state(struct ike_builder *b)
{
	if (!b->err && wbuf_err(&b->w))
		b->err = wbuf_err(&b->w);
	return b->err;
}

static void reset(struct ike_builder *b, uint8_t *buf, size_t cap)
{
	wbuf_init(&b->w, buf, cap);
	b->err = 0;
	b->next_at = SIZE_MAX;
	b->first = IKE_PT_NONE;
	b->has_hdr = false;
	b->sk_hdr = SIZE_MAX;
	b->sk_inner = 0;
	b->sk_iv_len = 0;
}

void ike_build_init(struct ike_builder *b, uint8_t *buf, size_t cap,
		    const struct ike_header *h)
{
	reset(b, buf, cap);
	b->has_hdr = true;
	wbuf_be64(&b->w, h->spi_i);
	wbuf_be64(&b->w, h->spi_r);
	wbuf_u8(&b->w, IKE_PT_NONE); /* patched by the first payload */
	wbuf_u8(&b->w, h->version ? h->version : IKE_VERSION_BYTE);
	wbuf_u8(&b->w, h->exchange);
	wbuf_u8(&b->w, h->flags);
	wbuf_be32(&b->w, h->msgid);
	wbuf_be32(&b->w, 0); /* patched by ike_build_finish / _sk_close */
	b->next_at = IKE_HDR_OFF_NEXT;
	state(b);
}

void ike_build_init_chain(struct ike_builder *b, uint8_t *buf, size_t cap)
{
	reset(b, buf, cap);
}

int ike_build_finish(struct ike_builder *b, size_t *len)
{
	if (b->sk_hdr != SIZE_MAX)
		return fail(b, -EINVAL); /* an SK payload is closed by _sk_close */
	if (state(b))
		return b->err;
	if (b->has_hdr)
		wbuf_patch_be32(&b->w, IKE_HDR_OFF_LENGTH, (uint32_t)b->w.len);
	*len = b->w.len;
	return 0;
}

/* Open a payload: returns the offset of its generic header, or SIZE_MAX. */
static size_t begin(struct ike_builder *b, uint8_t type, bool critical)
{
	size_t at = b->w.len;
	uint8_t *h;

	if (b->err)
		return SIZE_MAX;
	h = wbuf_reserve(&b->w, IKE_PAYLOAD_HDR_LEN);
	if (!h) {
		state(b);
		return SIZE_MAX;
	}
	h[0] = IKE_PT_NONE;
	h[1] = critical ? IKE_PAYLOAD_FLAG_CRITICAL : 0;
	h[2] = h[3] = 0;
	if (b->next_at == SIZE_MAX)
		b->first = type;
	else
		b->w.p[b->next_at] = type;
	b->next_at = at;
	return at;
}

static int end(struct ike_builder *b, size_t at)
{
	size_t len;

	if (at == SIZE_MAX || state(b))
		return b->err ? b->err : fail(b, -ENOSPC);
	len = b->w.len - at;
	if (len > UINT16_MAX)
		return fail(b, -EMSGSIZE);
	wbuf_patch_be16(&b->w, at + 2, (uint16_t)len);
	return 0;
}

int ike_build_raw(struct ike_builder *b, uint8_t type, bool critical,
		  const void *data, size_t len)
{
	size_t at = begin(b, type, critical);

	wbuf_put(&b->w, data, len);
	return end(b, at);
}

/* ---- SA -------------------------------------------------------------------- */

static void put_xform(struct ike_builder *b, uint8_t type,
		      const struct ike_xform *x, bool last)
{
	size_t at = b->w.len;

	wbuf_u8(&b->w, last ? IKE_XFORM_LAST : IKE_XFORM_MORE);
	wbuf_u8(&b->w, 0);
	wbuf_be16(&b->w, 0);
	wbuf_u8(&b->w, type);
	wbuf_u8(&b->w, 0);
	wbuf_be16(&b->w, x->id);
	if (x->key_bits) {
		wbuf_be16(&b->w, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH);
		wbuf_be16(&b->w, x->key_bits);
	}
	wbuf_patch_be16(&b->w, at + 2, (uint16_t)(b->w.len - at));
}

static int put_proposal(struct ike_builder *b, const struct ike_proposal *p,
			uint8_t num, bool last)
{
	size_t at = b->w.len;
	unsigned total = 0, done = 0;

	for (unsigned t = IKE_XFORM_ENCR; t < IKE_PROPOSAL_NTYPES; t++) {
		if (p->n[t] > IKE_PROPOSAL_MAX_PER_TYPE)
			return fail(b, -EINVAL);
		total += p->n[t];
	}
	if (total == 0 || total > UINT8_MAX || p->spi_len > IKE_SPI_LEN)
		return fail(b, -EINVAL);
	wbuf_u8(&b->w, last ? IKE_PROP_LAST : IKE_PROP_MORE);
	wbuf_u8(&b->w, 0);
	wbuf_be16(&b->w, 0);
	wbuf_u8(&b->w, num);
	wbuf_u8(&b->w, p->protocol);
	wbuf_u8(&b->w, p->spi_len);
	wbuf_u8(&b->w, (uint8_t)total);
	wbuf_put(&b->w, p->spi, p->spi_len);
	/* Type by type in strongSwan's order (RFC 7296 3.3 leaves it free):
	 * then our messages match what gateways send, byte for byte. */
	static const uint8_t order[] = {IKE_XFORM_ENCR, IKE_XFORM_INTEG, IKE_XFORM_PRF,
					IKE_XFORM_DH, IKE_XFORM_ESN};
	for (unsigned k = 0; k < sizeof(order); k++)
		for (unsigned i = 0; i < p->n[order[k]]; i++)
			put_xform(b, order[k], &p->x[order[k]][i], ++done == total);
	if (b->w.len - at > UINT16_MAX)
		return fail(b, -EMSGSIZE);
	wbuf_patch_be16(&b->w, at + 2, (uint16_t)(b->w.len - at));
	return state(b);
}

int ike_build_sa(struct ike_builder *b, const struct ike_proposal *p, size_t n)
{
	size_t at;

	if (n == 0 || n > IKE_MAX_PROPOSALS)
		return fail(b, -EINVAL);
	at = begin(b, IKE_PT_SA, false);
	for (size_t i = 0; i < n && !b->err; i++)
		put_proposal(b, &p[i], p[i].num ? p[i].num : (uint8_t)(i + 1),
			     i + 1 == n);
	return end(b, at);
}

/* ---- simple payloads ----------------------------------------------------------- */

int ike_build_ke(struct ike_builder *b, uint16_t group, const void *data,
		 size_t len)
{
	size_t at = begin(b, IKE_PT_KE, false);

	wbuf_be16(&b->w, group);
	wbuf_be16(&b->w, 0);
	wbuf_put(&b->w, data, len);
	return end(b, at);
}

int ike_build_id(struct ike_builder *b, uint8_t pt, uint8_t id_type,
		 const void *data, size_t len)
{
	size_t at;

	if (pt != IKE_PT_IDI && pt != IKE_PT_IDR)
		return fail(b, -EINVAL);
	at = begin(b, pt, false);
	wbuf_u8(&b->w, id_type);
	wbuf_zero(&b->w, 3);
	wbuf_put(&b->w, data, len);
	return end(b, at);
}

static int build_cert(struct ike_builder *b, uint8_t pt, uint8_t encoding,
		      const void *data, size_t len)
{
	size_t at = begin(b, pt, false);

	wbuf_u8(&b->w, encoding);
	wbuf_put(&b->w, data, len);
	return end(b, at);
}

int ike_build_cert(struct ike_builder *b, uint8_t encoding, const void *data,
		   size_t len)
{
	return build_cert(b, IKE_PT_CERT, encoding, data, len);
}

int ike_build_certreq(struct ike_builder *b, uint8_t encoding, const void *data,
		      size_t len)
{
	return build_cert(b, IKE_PT_CERTREQ, encoding, data, len);
}

int ike_build_auth(struct ike_builder *b, uint8_t method, const void *data,
		   size_t len)
{
	size_t at = begin(b, IKE_PT_AUTH, false);

	wbuf_u8(&b->w, method);
	wbuf_zero(&b->w, 3);
	wbuf_put(&b->w, data, len);
	return end(b, at);
}

int ike_build_nonce(struct ike_builder *b, const void *data, size_t len)
{
	return ike_build_raw(b, IKE_PT_NONCE, false, data, len);
}

int ike_build_vendor(struct ike_builder *b, const void *data, size_t len)
{
	return ike_build_raw(b, IKE_PT_VENDOR, false, data, len);
}

int ike_build_notify(struct ike_builder *b, uint8_t protocol, const void *spi,
		     uint8_t spi_len, uint16_t type, const void *data, size_t len)
{
	size_t at = begin(b, IKE_PT_NOTIFY, false);

	wbuf_u8(&b->w, protocol);
	wbuf_u8(&b->w, spi_len);
	wbuf_be16(&b->w, type);
	wbuf_put(&b->w, spi, spi_len);
	wbuf_put(&b->w, data, len);
	return end(b, at);
}

int ike_build_delete(struct ike_builder *b, uint8_t protocol, uint8_t spi_len,
		     const void *spis, uint16_t n_spi)
{
	size_t at = begin(b, IKE_PT_DELETE, false);

	wbuf_u8(&b->w, protocol);
	wbuf_u8(&b->w, spi_len);
	wbuf_be16(&b->w, n_spi);
	wbuf_put(&b->w, spis, (size_t)spi_len * n_spi);
	return end(b, at);
}

int ike_build_ts(struct ike_builder *b, uint8_t pt, const struct ike_ts *ts,
		 size_t n)
{
	size_t at;

	if ((pt != IKE_PT_TSI && pt != IKE_PT_TSR) || n == 0 || n > IKE_MAX_TS)
		return fail(b, -EINVAL);
	for (size_t i = 0; i < n; i++)
		if (ts[i].type != IKE_TS_IPV4_ADDR_RANGE &&
		    ts[i].type != IKE_TS_IPV6_ADDR_RANGE)
			return fail(b, -EINVAL);
	at = begin(b, pt, false);
	wbuf_u8(&b->w, (uint8_t)n);
	wbuf_zero(&b->w, 3);
	for (size_t i = 0; i < n; i++) {
		bool v4 = ts[i].type == IKE_TS_IPV4_ADDR_RANGE;
		size_t alen = v4 ? 4 : 16;

		wbuf_u8(&b->w, ts[i].type);
		wbuf_u8(&b->w, ts[i].ip_proto);
		wbuf_be16(&b->w, v4 ? IKE_TS_IPV4_LEN : IKE_TS_IPV6_LEN);
		wbuf_be16(&b->w, ts[i].start_port);
		wbuf_be16(&b->w, ts[i].end_port);
		wbuf_put(&b->w, ts[i].start, alen);
		wbuf_put(&b->w, ts[i].end, alen);
	}
	return end(b, at);
}

int ike_build_cp(struct ike_builder *b, uint8_t cfg_type,
		 const struct ike_cp_attr *a, size_t n)
{
	size_t at = begin(b, IKE_PT_CP, false);

	wbuf_u8(&b->w, cfg_type);
	wbuf_zero(&b->w, 3);
	for (size_t i = 0; i < n; i++) {
		wbuf_be16(&b->w, a[i].type & IKE_CP_ATTR_TYPE_MASK);
		wbuf_be16(&b->w, a[i].len);
		wbuf_put(&b->w, a[i].val, a[i].len);
	}
	return end(b, at);
}

int ike_build_eap(struct ike_builder *b, const void *msg, size_t len)
{
	const uint8_t *m = msg;

	if (len < IKE_EAP_HDR_LEN || get_be16(m + 2) != len)
		return fail(b, -EINVAL);
	return ike_build_raw(b, IKE_PT_EAP, false, msg, len);
}

/* ---- SK ------------------------------------------------------------------------ */

int ike_build_sk_begin(struct ike_builder *b, size_t iv_len)
{
	size_t at;

	if (b->sk_hdr != SIZE_MAX)
		return fail(b, -EINVAL);
	at = begin(b, IKE_PT_SK, false);
	wbuf_zero(&b->w, iv_len);
	if (at == SIZE_MAX || state(b))
		return b->err ? b->err : fail(b, -ENOSPC);
	b->sk_hdr = at;
	b->sk_iv_len = iv_len;
	b->sk_inner = b->w.len;
	return 0;
}

size_t ike_build_sk_inner_len(const struct ike_builder *b)
{
	if (b->sk_hdr == SIZE_MAX)
		return 0;
	return b->w.len - b->sk_inner;
}

int ike_build_sk_close(struct ike_builder *b, size_t overhead, size_t *aad_len,
		       size_t *inner_len, size_t *msg_len)
{
	size_t inner, plen, total;

	if (b->sk_hdr == SIZE_MAX || overhead < b->sk_iv_len)
		return fail(b, -EINVAL);
	if (state(b))
		return b->err;
	inner = b->w.len - b->sk_inner;
	plen = IKE_PAYLOAD_HDR_LEN + overhead + inner;
	total = b->sk_hdr + plen;
	if (plen > UINT16_MAX)
		return fail(b, -EMSGSIZE);
	if (total > b->w.cap)
		return fail(b, -ENOSPC);
	wbuf_patch_be16(&b->w, b->sk_hdr + 2, (uint16_t)plen);
	if (b->has_hdr)
		wbuf_patch_be32(&b->w, IKE_HDR_OFF_LENGTH, (uint32_t)total);
	*aad_len = b->sk_hdr + IKE_PAYLOAD_HDR_LEN;
	*inner_len = inner;
	*msg_len = total;
	b->sk_hdr = SIZE_MAX;
	return 0;
}
