/* Typed parsers: one payload view in, one small struct out. Each parser is
 * confined to a cursor over the payload's own body; every refusal logs one
 * line with the offset inside the buffer the view came from. */
#include <errno.h>
#include <string.h>

#include "client/ike/codec.h"
#include "client/ike/codec_int.h"

#define REFUSE(p, err, rel, ...) \
	ike_refuse((err), (p)->type, (p)->inner, (p)->off + (rel), __VA_ARGS__)

/* ---- SA ---------------------------------------------------------------------- */

/* Attributes of one transform (RFC 7296 3.3.5). Sets *unknown for anything
 * other than one TV KEY_LENGTH: such a transform is to be rejected, not the
 * whole message (3.3.6). */
static int parse_attrs(const struct ike_payload *p, struct cur *c, size_t base,
		       uint16_t *key_bits, bool *unknown)
{
	bool have_key = false;

	*key_bits = 0;
	*unknown = false;
	while (cur_left(c)) {
		size_t at = base + c->off;
		uint16_t atype, v;

		if (cur_be16(c, &atype) || cur_be16(c, &v))
			return REFUSE(p, IKE_ERR_ATTR_LENGTH, at,
				      "attribute header cut off");
		if (!(atype & IKE_ATTR_FORMAT_TV)) {
			/* TLV: v is the value's length */
			if (cur_skip(c, v))
				return REFUSE(p, IKE_ERR_ATTR_LENGTH, at,
					      "attribute %u value of %u octets, %zu left",
					      atype & IKE_ATTR_TYPE_MASK, v, cur_left(c));
			*unknown = true;
			continue;
		}
		if ((atype & IKE_ATTR_TYPE_MASK) != IKE_ATTR_KEY_LENGTH || v == 0) {
			*unknown = true;
			continue;
		}
		if (have_key)
			return REFUSE(p, IKE_ERR_ATTR_DUPLICATE, at,
				      "second KEY_LENGTH attribute");
		have_key = true;
		*key_bits = v;
	}
	return 0;
}

static int parse_xform(const struct ike_payload *p, struct cur *c, size_t base,
		       struct ike_proposal *prop, uint8_t *more_out)
{
	size_t at = base + c->off;
	uint8_t more, reserved, type, reserved2;
	uint16_t tlen, id, key_bits;
	struct cur t;
	bool unknown;
	int err;

	if (cur_u8(c, &more) || cur_u8(c, &reserved) || cur_be16(c, &tlen))
		return REFUSE(p, IKE_ERR_XFORM_LENGTH, at, "transform header cut off");
	if (tlen < IKE_XFORM_HDR_LEN)
		return REFUSE(p, IKE_ERR_XFORM_LENGTH, at, "length %u", tlen);
	if (cur_sub(c, tlen - 4u, &t))
		return REFUSE(p, IKE_ERR_XFORM_LENGTH, at,
			      "length %u, %zu octets left in proposal", tlen,
			      cur_left(c) + 4);
	if (more != IKE_XFORM_LAST && more != IKE_XFORM_MORE)
		return REFUSE(p, IKE_ERR_XFORM_LAST_FLAG, at, "value %u", more);
	cur_u8(&t, &type);
	cur_u8(&t, &reserved2);
	cur_be16(&t, &id);
	err = parse_attrs(p, &t, at + 4, &key_bits, &unknown);
	if (err)
		return err;
	*more_out = more;
	if (unknown || type < IKE_XFORM_ENCR || type > IKE_XFORM_ESN) {
		if (prop->n_ignored < UINT8_MAX)
			prop->n_ignored++;
		return 0;
	}
	if (ike_proposal_add(prop, type, id, key_bits))
		return REFUSE(p, IKE_ERR_TOO_MANY_XFORMS, at,
			      "more than %d transforms of type %u",
			      IKE_PROPOSAL_MAX_PER_TYPE, type);
	return 0;
}

static int spi_size_ok(uint8_t proto, uint8_t size)
{
	if (proto == IKE_PROTO_IKE)
		return size == 0 || size == IKE_SPI_LEN;
	return size == IKE_CHILD_SPI_LEN;
}

static int parse_proposal(const struct ike_payload *p, struct cur *c,
			  struct ike_sa_payload *out, uint8_t *more_out)
{
	size_t at = c->off;
	uint8_t more, reserved, num, proto, spi_size, ntrans, xmore = IKE_XFORM_MORE;
	uint16_t plen;
	unsigned count = 0;
	struct cur pc;
	struct ike_proposal *prop;
	int err;

	if (cur_u8(c, &more) || cur_u8(c, &reserved) || cur_be16(c, &plen))
		return REFUSE(p, IKE_ERR_PROP_LENGTH, at, "proposal header cut off");
	if (plen < IKE_PROP_HDR_LEN)
		return REFUSE(p, IKE_ERR_PROP_LENGTH, at, "length %u", plen);
	if (cur_sub(c, plen - 4u, &pc))
		return REFUSE(p, IKE_ERR_PROP_LENGTH, at,
			      "length %u, %zu octets left in SA", plen,
			      cur_left(c) + 4);
	if (more != IKE_PROP_LAST && more != IKE_PROP_MORE)
		return REFUSE(p, IKE_ERR_PROP_LAST_FLAG, at, "value %u", more);
	if (out->n >= IKE_MAX_PROPOSALS)
		return REFUSE(p, IKE_ERR_TOO_MANY_PROPOSALS, at, "limit %d",
			      IKE_MAX_PROPOSALS);
	cur_u8(&pc, &num);
	cur_u8(&pc, &proto);
	cur_u8(&pc, &spi_size);
	cur_u8(&pc, &ntrans);
	/* 3.3.1: numbered from one, each one more than the previous; a
	 * response carries the number of the proposal it accepted. */
	if (num == 0 || (out->n && num != out->p[out->n - 1].num + 1))
		return REFUSE(p, IKE_ERR_PROP_NUMBER, at, "number %u after %u", num,
			      out->n ? out->p[out->n - 1].num : 0);
	if (proto != IKE_PROTO_IKE && proto != IKE_PROTO_AH && proto != IKE_PROTO_ESP)
		return REFUSE(p, IKE_ERR_PROP_PROTOCOL, at, "protocol %u", proto);
	if (!spi_size_ok(proto, spi_size))
		return REFUSE(p, IKE_ERR_PROP_SPI_SIZE, at,
			      "SPI size %u for protocol %u", spi_size, proto);
	prop = &out->p[out->n];
	memset(prop, 0, sizeof(*prop));
	prop->num = num;
	prop->protocol = proto;
	prop->spi_len = spi_size;
	if (cur_bytes(&pc, prop->spi, spi_size))
		return REFUSE(p, IKE_ERR_PROP_LENGTH, at, "SPI cut off");
	while (cur_left(&pc)) {
		if (xmore == IKE_XFORM_LAST)
			return REFUSE(p, IKE_ERR_XFORM_LAST_FLAG, at + 4 + pc.off,
				      "transform after the last one");
		err = parse_xform(p, &pc, at + 4, prop, &xmore);
		if (err)
			return err;
		count++;
	}
	if (xmore != IKE_XFORM_LAST && count)
		return REFUSE(p, IKE_ERR_XFORM_LAST_FLAG, at,
			      "last transform flagged \"more\"");
	if (count != ntrans || count == 0)
		return REFUSE(p, IKE_ERR_XFORM_COUNT, at,
			      "header says %u transforms, found %u", ntrans, count);
	out->n++;
	*more_out = more;
	return 0;
}

int ike_parse_sa(const struct ike_payload *p, struct ike_sa_payload *out)
{
	struct cur c;
	uint8_t more = IKE_PROP_MORE;
	int err;

	if (p->type != IKE_PT_SA)
		return -EINVAL;
	out->n = 0;
	if (p->len == 0)
		return REFUSE(p, IKE_ERR_SA_EMPTY, 0, "no proposal");
	cur_init(&c, p->data, p->len);
	while (cur_left(&c)) {
		if (more == IKE_PROP_LAST)
			return REFUSE(p, IKE_ERR_PROP_LAST_FLAG, c.off,
				      "proposal after the last one");
		err = parse_proposal(p, &c, out, &more);
		if (err)
			return err;
	}
	if (more != IKE_PROP_LAST)
		return REFUSE(p, IKE_ERR_PROP_LAST_FLAG, 0,
			      "last proposal flagged \"more\"");
	return 0;
}

/* ---- KE, ID, CERT, CERTREQ, AUTH, Nonce, Vendor ------------------------------------ */

int ike_parse_ke(const struct ike_payload *p, struct ike_ke *out)
{
	if (p->type != IKE_PT_KE)
		return -EINVAL;
	if (p->len <= IKE_KE_HDR_LEN)
		return REFUSE(p, IKE_ERR_KE_LENGTH, 0, "body of %zu octets", p->len);
	out->group = get_be16(p->data);
	out->data = p->data + IKE_KE_HDR_LEN;
	out->len = p->len - IKE_KE_HDR_LEN;
	return 0;
}

int ike_parse_id(const struct ike_payload *p, struct ike_id *out)
{
	size_t dlen;

	if (p->type != IKE_PT_IDI && p->type != IKE_PT_IDR)
		return -EINVAL;
	if (p->len < IKE_ID_HDR_LEN)
		return REFUSE(p, IKE_ERR_ID_LENGTH, 0, "body of %zu octets", p->len);
	out->type = p->data[0];
	dlen = p->len - IKE_ID_HDR_LEN;
	switch (out->type) {
	case IKE_ID_IPV4_ADDR:
		if (dlen != 4)
			return REFUSE(p, IKE_ERR_ID_LENGTH, 0,
				      "IPv4 identity of %zu octets", dlen);
		break;
	case IKE_ID_IPV6_ADDR:
		if (dlen != 16)
			return REFUSE(p, IKE_ERR_ID_LENGTH, 0,
				      "IPv6 identity of %zu octets", dlen);
		break;
	case IKE_ID_NULL: /* RFC 7619 3: empty */
		if (dlen)
			return REFUSE(p, IKE_ERR_ID_LENGTH, 0,
				      "ID_NULL with %zu octets", dlen);
		break;
	default:
		if (!dlen)
			return REFUSE(p, IKE_ERR_ID_LENGTH, 0, "empty identity of type %u",
				      out->type);
	}
	out->data = p->data + IKE_ID_HDR_LEN;
	out->len = dlen;
	out->body = p->data;
	out->body_len = p->len;
	return 0;
}

int ike_parse_cert(const struct ike_payload *p, struct ike_cert *out)
{
	if (p->type != IKE_PT_CERT)
		return -EINVAL;
	if (p->len < 2)
		return REFUSE(p, IKE_ERR_CERT_LENGTH, 0, "body of %zu octets", p->len);
	out->encoding = p->data[0];
	out->data = p->data + 1;
	out->len = p->len - 1;
	return 0;
}

int ike_parse_certreq(const struct ike_payload *p, struct ike_cert *out)
{
	if (p->type != IKE_PT_CERTREQ)
		return -EINVAL;
	if (p->len < 1)
		return REFUSE(p, IKE_ERR_CERTREQ_LENGTH, 0, "no encoding octet");
	out->encoding = p->data[0];
	out->data = p->data + 1;
	out->len = p->len - 1;
	/* 3.7: for X.509 a concatenation of 20-octet SHA-1 key hashes. */
	if (out->encoding == IKE_CERT_X509_SIG && out->len % IKE_CERTREQ_HASH_LEN)
		return REFUSE(p, IKE_ERR_CERTREQ_LENGTH, 1,
			      "%zu octets is not a list of SHA-1 hashes", out->len);
	return 0;
}

int ike_parse_auth(const struct ike_payload *p, struct ike_auth *out)
{
	if (p->type != IKE_PT_AUTH)
		return -EINVAL;
	if (p->len <= IKE_AUTH_HDR_LEN)
		return REFUSE(p, IKE_ERR_AUTH_LENGTH, 0, "body of %zu octets", p->len);
	out->method = p->data[0];
	out->data = p->data + IKE_AUTH_HDR_LEN;
	out->len = p->len - IKE_AUTH_HDR_LEN;
	return 0;
}

int ike_parse_nonce(const struct ike_payload *p, struct ike_nonce *out)
{
	if (p->type != IKE_PT_NONCE)
		return -EINVAL;
	if (p->len < IKE_NONCE_MIN_LEN || p->len > IKE_NONCE_MAX_LEN)
		return REFUSE(p, IKE_ERR_NONCE_LENGTH, 0, "%zu octets", p->len);
	out->data = p->data;
	out->len = p->len;
	return 0;
}

int ike_parse_vendor(const struct ike_payload *p, struct ike_vendor *out)
{
	if (p->type != IKE_PT_VENDOR)
		return -EINVAL;
	out->data = p->data;
	out->len = p->len;
	return 0;
}

/* ---- Notify --------------------------------------------------------------------- */

/* Data lengths fixed by the notify's definition, for the types whose data
 * we read. lo/hi inclusive. */
static int notify_data_bounds(uint16_t type, size_t *lo, size_t *hi)
{
	switch (type) {
	case IKE_N_NAT_DETECTION_SOURCE_IP:
	case IKE_N_NAT_DETECTION_DESTINATION_IP:
		*lo = *hi = IKE_NATD_HASH_LEN;
		return 1;
	case IKE_N_COOKIE:
		*lo = 1;
		*hi = IKE_COOKIE_MAX_LEN;
		return 1;
	case IKE_N_COOKIE2:
		*lo = IKE_COOKIE2_MIN_LEN;
		*hi = IKE_COOKIE2_MAX_LEN;
		return 1;
	case IKE_N_INVALID_KE_PAYLOAD:
		*lo = *hi = 2;
		return 1;
	case IKE_N_AUTH_LIFETIME:
		*lo = *hi = 4;
		return 1;
	case IKE_N_ADDITIONAL_IP4_ADDRESS:
		*lo = *hi = 4;
		return 1;
	case IKE_N_ADDITIONAL_IP6_ADDRESS:
		*lo = *hi = 16;
		return 1;
	case IKE_N_KEEP_OLD_IKE_SA:
		*lo = *hi = IKE_KEEP_OLD_DATA_LEN;
		return 1;
	default:
		return 0;
	}
}

int ike_parse_notify(const struct ike_payload *p, struct ike_notify *out)
{
	size_t lo, hi;

	if (p->type != IKE_PT_NOTIFY)
		return -EINVAL;
	if (p->len < IKE_NOTIFY_HDR_LEN)
		return REFUSE(p, IKE_ERR_NOTIFY_LENGTH, 0, "body of %zu octets", p->len);
	out->protocol = p->data[0];
	out->spi_len = p->data[1];
	out->type = get_be16(p->data + 2);
	if (out->spi_len != 0 && out->spi_len != IKE_CHILD_SPI_LEN &&
	    out->spi_len != IKE_SPI_LEN)
		return REFUSE(p, IKE_ERR_NOTIFY_SPI_SIZE, 1, "%s with SPI size %u",
			      ike_notify_name(out->type), out->spi_len);
	if (p->len - IKE_NOTIFY_HDR_LEN < out->spi_len)
		return REFUSE(p, IKE_ERR_NOTIFY_LENGTH, 0,
			      "%s: SPI of %u octets in a body of %zu",
			      ike_notify_name(out->type), out->spi_len, p->len);
	out->spi = p->data + IKE_NOTIFY_HDR_LEN;
	out->data = out->spi + out->spi_len;
	out->len = p->len - IKE_NOTIFY_HDR_LEN - out->spi_len;
	/* RFC 7296 3.10.1: REKEY_SA names the Child SA being rekeyed. */
	if (out->type == IKE_N_REKEY_SA && out->spi_len != IKE_CHILD_SPI_LEN)
		return REFUSE(p, IKE_ERR_NOTIFY_SPI_SIZE, 1, "REKEY_SA with SPI size %u",
			      out->spi_len);
	if (notify_data_bounds(out->type, &lo, &hi) && (out->len < lo || out->len > hi))
		return REFUSE(p, IKE_ERR_NOTIFY_DATA,
			      IKE_NOTIFY_HDR_LEN + out->spi_len,
			      "%s with %zu octets of data",
			      ike_notify_name(out->type), out->len);
	if (out->type == IKE_N_SIGNATURE_HASH_ALGORITHMS && out->len % 2)
		return REFUSE(p, IKE_ERR_NOTIFY_DATA, IKE_NOTIFY_HDR_LEN + out->spi_len,
			      "SIGNATURE_HASH_ALGORITHMS with odd length %zu", out->len);
	return 0;
}

static int notify_refuse(const struct ike_notify *n, const char *what)
{
	return ike_refuse(IKE_ERR_NOTIFY_DATA, IKE_PT_NOTIFY, false, 0,
			  "%s: %s (%zu octets)", ike_notify_name(n->type), what,
			  n->len);
}

int ike_notify_invalid_ke(const struct ike_notify *n, uint16_t *group)
{
	if (n->type != IKE_N_INVALID_KE_PAYLOAD)
		return -EINVAL;
	if (n->len != 2)
		return notify_refuse(n, "need a 2-octet group");
	*group = get_be16(n->data);
	return 0;
}

int ike_notify_u32(const struct ike_notify *n, uint32_t *v)
{
	if (n->type != IKE_N_AUTH_LIFETIME)
		return -EINVAL;
	if (n->len != 4)
		return notify_refuse(n, "need 4 octets");
	*v = get_be32(n->data);
	return 0;
}

int ike_notify_hash_algs(const struct ike_notify *n, uint16_t *algs, size_t max,
			 size_t *count)
{
	size_t k = 0;

	if (n->type != IKE_N_SIGNATURE_HASH_ALGORITHMS)
		return -EINVAL;
	if (n->len % 2)
		return notify_refuse(n, "odd length");
	/* Keep the first `max`: more algorithms than we know are harmless. */
	for (size_t i = 0; i + 1 < n->len && k < max; i += 2)
		algs[k++] = get_be16(n->data + i);
	*count = k;
	return 0;
}

int ike_notify_keep_old(const struct ike_notify *n, bool *question, uint8_t *code)
{
	if (n->type != IKE_N_KEEP_OLD_IKE_SA)
		return -EINVAL;
	if (n->len != IKE_KEEP_OLD_DATA_LEN)
		return notify_refuse(n, "need 4 octets");
	*question = n->data[0] & IKE_KEEP_OLD_FLAG_QUESTION;
	*code = n->data[1];
	return 0;
}

/* ---- Delete ----------------------------------------------------------------------- */

int ike_parse_delete(const struct ike_payload *p, struct ike_delete *out)
{
	size_t need;

	if (p->type != IKE_PT_DELETE)
		return -EINVAL;
	if (p->len < IKE_DELETE_HDR_LEN)
		return REFUSE(p, IKE_ERR_DELETE_LENGTH, 0, "body of %zu octets", p->len);
	out->protocol = p->data[0];
	out->spi_len = p->data[1];
	out->n_spi = get_be16(p->data + 2);
	out->spis = p->data + IKE_DELETE_HDR_LEN;
	/* 3.11: the IKE SA is named by the header's SPIs (size 0, no SPIs);
	 * AH/ESP SPIs are 4 octets. */
	if (out->protocol == IKE_PROTO_IKE) {
		if (out->spi_len != 0 || out->n_spi != 0)
			return REFUSE(p, IKE_ERR_DELETE_SPI_SIZE, 1,
				      "IKE SA delete with SPI size %u and %u SPIs",
				      out->spi_len, out->n_spi);
	} else if (out->protocol == IKE_PROTO_ESP || out->protocol == IKE_PROTO_AH) {
		if (out->spi_len != IKE_CHILD_SPI_LEN)
			return REFUSE(p, IKE_ERR_DELETE_SPI_SIZE, 1,
				      "protocol %u with SPI size %u", out->protocol,
				      out->spi_len);
	} else {
		return REFUSE(p, IKE_ERR_DELETE_SPI_SIZE, 0, "unknown protocol %u",
			      out->protocol);
	}
	need = (size_t)out->n_spi * out->spi_len;
	if (p->len - IKE_DELETE_HDR_LEN != need)
		return REFUSE(p, IKE_ERR_DELETE_LENGTH, 0,
			      "%u SPIs need %zu octets, body has %zu", out->n_spi,
			      need, p->len - IKE_DELETE_HDR_LEN);
	return 0;
}

/* ---- Traffic selectors -------------------------------------------------------------- */

int ike_parse_ts(const struct ike_payload *p, struct ike_ts_list *out)
{
	struct cur c;
	uint8_t count;

	if (p->type != IKE_PT_TSI && p->type != IKE_PT_TSR)
		return -EINVAL;
	out->n = 0;
	cur_init(&c, p->data, p->len);
	if (cur_u8(&c, &count) || cur_skip(&c, 3))
		return REFUSE(p, IKE_ERR_TS_LENGTH, 0, "body of %zu octets", p->len);
	if (count == 0)
		return REFUSE(p, IKE_ERR_TS_COUNT, 0, "no traffic selector");
	if (count > IKE_MAX_TS)
		return REFUSE(p, IKE_ERR_TOO_MANY_TS, 0, "%u selectors, limit %d", count,
			      IKE_MAX_TS);
	for (unsigned i = 0; i < count; i++) {
		size_t at = c.off;
		struct ike_ts *ts = &out->ts[i];
		uint16_t slen;
		size_t alen, want;
		struct cur s;

		if (cur_u8(&c, &ts->type) || cur_u8(&c, &ts->ip_proto) ||
		    cur_be16(&c, &slen))
			return REFUSE(p, IKE_ERR_TS_COUNT, at,
				      "selector %u of %u missing", i + 1, count);
		if (ts->type == IKE_TS_IPV4_ADDR_RANGE) {
			want = IKE_TS_IPV4_LEN;
			alen = 4;
		} else if (ts->type == IKE_TS_IPV6_ADDR_RANGE) {
			want = IKE_TS_IPV6_LEN;
			alen = 16;
		} else {
			return REFUSE(p, IKE_ERR_TS_TYPE, at, "type %u", ts->type);
		}
		if (slen != want)
			return REFUSE(p, IKE_ERR_TS_LENGTH, at,
				      "type %u with length %u", ts->type, slen);
		if (cur_sub(&c, want - 4, &s))
			return REFUSE(p, IKE_ERR_TS_LENGTH, at,
				      "length %u, %zu octets left", slen, cur_left(&c));
		memset(ts->start, 0, sizeof(ts->start));
		memset(ts->end, 0, sizeof(ts->end));
		cur_be16(&s, &ts->start_port);
		cur_be16(&s, &ts->end_port);
		cur_bytes(&s, ts->start, alen);
		cur_bytes(&s, ts->end, alen);
		out->n++;
	}
	if (cur_left(&c))
		return REFUSE(p, IKE_ERR_TS_COUNT, c.off,
			      "%zu octets after %u selectors", cur_left(&c), count);
	return 0;
}

/* ---- SK, SKF ------------------------------------------------------------------------ */

int ike_parse_sk(const struct ike_payload *p, struct ike_sk *out)
{
	if (p->type != IKE_PT_SK)
		return -EINVAL;
	if (p->len == 0)
		return REFUSE(p, IKE_ERR_SK_LENGTH, 0, "no data");
	out->first = p->next;
	out->aad_len = p->off;
	out->body = p->data;
	out->len = p->len;
	return 0;
}

int ike_parse_skf(const struct ike_payload *p, struct ike_skf *out)
{
	if (p->type != IKE_PT_SKF)
		return -EINVAL;
	if (p->len <= IKE_SKF_HDR_LEN)
		return REFUSE(p, IKE_ERR_SKF_LENGTH, 0, "body of %zu octets", p->len);
	out->num = get_be16(p->data);
	out->total = get_be16(p->data + 2);
	if (out->num == 0 || out->total == 0 || out->num > out->total)
		return REFUSE(p, IKE_ERR_SKF_NUMBER, 0, "fragment %u of %u", out->num,
			      out->total);
	out->first = p->next;
	out->aad_len = p->off + IKE_SKF_HDR_LEN;
	out->body = p->data + IKE_SKF_HDR_LEN;
	out->len = p->len - IKE_SKF_HDR_LEN;
	return 0;
}

/* ---- CP -------------------------------------------------------------------------------- */

/* Allowed value lengths (RFC 7296 3.15.1, RFC 8598 4): 0 always (a request
 * asks by sending the empty attribute) or the fixed size. */
static int cp_len_ok(uint16_t type, uint16_t len)
{
	switch (type) {
	case IKE_CP_INTERNAL_IP4_ADDRESS:
	case IKE_CP_INTERNAL_IP4_NETMASK:
	case IKE_CP_INTERNAL_IP4_DNS:
	case IKE_CP_INTERNAL_IP4_NBNS:
	case IKE_CP_INTERNAL_IP4_DHCP:
		return len == 0 || len == 4;
	case IKE_CP_INTERNAL_IP6_ADDRESS:
	case IKE_CP_INTERNAL_IP6_SUBNET:
		return len == 0 || len == 17;
	case IKE_CP_INTERNAL_IP6_DNS:
	case IKE_CP_INTERNAL_IP6_DHCP:
		return len == 0 || len == 16;
	case IKE_CP_INTERNAL_IP4_SUBNET:
		return len == 0 || len == 8;
	case IKE_CP_SUPPORTED_ATTRIBUTES:
		return len % 2 == 0;
	default:
		return 1;
	}
}

int ike_parse_cp(const struct ike_payload *p, struct ike_cp *out)
{
	struct cur c;

	if (p->type != IKE_PT_CP)
		return -EINVAL;
	out->n = 0;
	cur_init(&c, p->data, p->len);
	if (cur_u8(&c, &out->cfg_type) || cur_skip(&c, 3))
		return REFUSE(p, IKE_ERR_CP_LENGTH, 0, "body of %zu octets", p->len);
	if (out->cfg_type < IKE_CFG_REQUEST || out->cfg_type > IKE_CFG_ACK)
		return REFUSE(p, IKE_ERR_CP_TYPE, 0, "CFG type %u", out->cfg_type);
	while (cur_left(&c)) {
		size_t at = c.off;
		uint16_t type, len;
		const uint8_t *val;

		if (cur_be16(&c, &type) || cur_be16(&c, &len))
			return REFUSE(p, IKE_ERR_CP_ATTR_LENGTH, at,
				      "attribute header cut off");
		type &= IKE_CP_ATTR_TYPE_MASK;
		if (cur_ptr(&c, len, &val))
			return REFUSE(p, IKE_ERR_CP_ATTR_LENGTH, at,
				      "attribute %u of %u octets, %zu left", type, len,
				      cur_left(&c));
		if (!cp_len_ok(type, len))
			return REFUSE(p, IKE_ERR_CP_ATTR_LENGTH, at,
				      "attribute %u cannot have %u octets", type, len);
		if (out->n >= IKE_MAX_CP_ATTRS)
			return REFUSE(p, IKE_ERR_TOO_MANY_CP_ATTRS, at, "limit %d",
				      IKE_MAX_CP_ATTRS);
		out->a[out->n].type = type;
		out->a[out->n].len = len;
		out->a[out->n].val = val;
		out->n++;
	}
	return 0;
}

/* ---- EAP ---------------------------------------------------------------------------------- */

int ike_parse_eap(const struct ike_payload *p, struct ike_eap *out)
{
	uint16_t elen;

	if (p->type != IKE_PT_EAP)
		return -EINVAL;
	if (p->len < IKE_EAP_HDR_LEN)
		return REFUSE(p, IKE_ERR_EAP_LENGTH, 0, "body of %zu octets", p->len);
	out->code = p->data[0];
	out->id = p->data[1];
	elen = get_be16(p->data + 2);
	/* 3.16: the payload holds exactly one EAP message. */
	if (elen != p->len)
		return REFUSE(p, IKE_ERR_EAP_LENGTH, 2,
			      "EAP length %u in a body of %zu", elen, p->len);
	/* RFC 3748 4: Request/Response carry a type octet. */
	if ((out->code == 1 || out->code == 2) && elen < IKE_EAP_HDR_LEN + 1)
		return REFUSE(p, IKE_ERR_EAP_LENGTH, 0, "code %u without a type",
			      out->code);
	out->type = (out->code == 1 || out->code == 2) ? p->data[4] : 0;
	out->msg = p->data;
	out->len = p->len;
	return 0;
}

/* ---- dispatch --------------------------------------------------------------------------------- */

int ike_parse_any(const struct ike_payload *p)
{
	union {
		struct ike_sa_payload sa;
		struct ike_ke ke;
		struct ike_id id;
		struct ike_cert cert;
		struct ike_auth auth;
		struct ike_nonce nonce;
		struct ike_notify n;
		struct ike_delete d;
		struct ike_vendor v;
		struct ike_ts_list ts;
		struct ike_sk sk;
		struct ike_skf skf;
		struct ike_cp cp;
		struct ike_eap eap;
	} u;

	switch (p->type) {
	case IKE_PT_SA: return ike_parse_sa(p, &u.sa);
	case IKE_PT_KE: return ike_parse_ke(p, &u.ke);
	case IKE_PT_IDI:
	case IKE_PT_IDR: return ike_parse_id(p, &u.id);
	case IKE_PT_CERT: return ike_parse_cert(p, &u.cert);
	case IKE_PT_CERTREQ: return ike_parse_certreq(p, &u.cert);
	case IKE_PT_AUTH: return ike_parse_auth(p, &u.auth);
	case IKE_PT_NONCE: return ike_parse_nonce(p, &u.nonce);
	case IKE_PT_NOTIFY: return ike_parse_notify(p, &u.n);
	case IKE_PT_DELETE: return ike_parse_delete(p, &u.d);
	case IKE_PT_VENDOR: return ike_parse_vendor(p, &u.v);
	case IKE_PT_TSI:
	case IKE_PT_TSR: return ike_parse_ts(p, &u.ts);
	case IKE_PT_SK: return ike_parse_sk(p, &u.sk);
	case IKE_PT_SKF: return ike_parse_skf(p, &u.skf);
	case IKE_PT_CP: return ike_parse_cp(p, &u.cp);
	case IKE_PT_EAP: return ike_parse_eap(p, &u.eap);
	default: return 0;
	}
}
