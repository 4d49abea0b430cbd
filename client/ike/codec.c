/* IKEv2 codec: error texts, names, header decoding and the payload chain
 * walker. Typed parsers live in codec_parse.c, builders in codec_build.c. */
#include "client/ike/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/ike/codec_int.h"
#include "client/util/log.h"

/* ---- errors ----------------------------------------------------------------- */

struct err_info {
	int code;
	const char *text;
	uint16_t notify;
};

static const struct err_info err_table[] = {
	{IKE_ERR_HDR_TRUNCATED, "message shorter than the IKE header", 0},
	{IKE_ERR_HDR_MAJOR_VERSION, "unsupported IKE major version", IKE_N_INVALID_MAJOR_VERSION},
	{IKE_ERR_HDR_LENGTH, "header length does not match the message", 0},
	{IKE_ERR_PL_TRUNCATED, "payload header truncated", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_PL_LENGTH_SHORT, "payload length below 4", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_PL_LENGTH_OVERRUN, "payload length beyond the message", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TRAILING_DATA, "data after the last payload", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_CRITICAL_UNSUPPORTED, "unsupported critical payload", IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD},
	{IKE_ERR_DUPLICATE, "payload repeated", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_SK_NOT_LAST, "encrypted payload is not the last", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_MISPLACED, "payload in a place it cannot be", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TOO_MANY_PAYLOADS, "too many payloads", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_MISSING_PAYLOAD, "required payload missing", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_UNEXPECTED_PAYLOAD, "payload not allowed in this message", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_SA_EMPTY, "SA payload without proposals", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_PROP_LENGTH, "bad proposal length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_PROP_LAST_FLAG, "bad last/more proposal flag", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_PROP_NUMBER, "bad proposal number", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_PROP_PROTOCOL, "unknown proposal protocol", IKE_N_NO_PROPOSAL_CHOSEN},
	{IKE_ERR_PROP_SPI_SIZE, "bad proposal SPI size", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TOO_MANY_PROPOSALS, "too many proposals", IKE_N_NO_PROPOSAL_CHOSEN},
	{IKE_ERR_XFORM_LENGTH, "bad transform length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_XFORM_LAST_FLAG, "bad last/more transform flag", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_XFORM_COUNT, "transform count does not match", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TOO_MANY_XFORMS, "too many transforms", IKE_N_NO_PROPOSAL_CHOSEN},
	{IKE_ERR_ATTR_LENGTH, "bad transform attribute length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_ATTR_DUPLICATE, "transform attribute repeated", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_KE_LENGTH, "bad KE payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_ID_LENGTH, "bad ID payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_CERT_LENGTH, "bad CERT payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_CERTREQ_LENGTH, "bad CERTREQ payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_AUTH_LENGTH, "bad AUTH payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_NONCE_LENGTH, "nonce length outside 16..256", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_NOTIFY_LENGTH, "bad Notify payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_NOTIFY_SPI_SIZE, "bad Notify SPI size", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_NOTIFY_DATA, "bad Notify data for its type", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_DELETE_LENGTH, "bad Delete payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_DELETE_SPI_SIZE, "bad Delete SPI size", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TS_LENGTH, "bad traffic selector length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TS_COUNT, "traffic selector count does not match", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TS_TYPE, "unsupported traffic selector type", IKE_N_TS_UNACCEPTABLE},
	{IKE_ERR_TOO_MANY_TS, "too many traffic selectors", IKE_N_TS_UNACCEPTABLE},
	{IKE_ERR_SK_LENGTH, "empty encrypted payload", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_SKF_LENGTH, "bad encrypted fragment length", 0},
	{IKE_ERR_SKF_NUMBER, "bad fragment number or total", 0},
	{IKE_ERR_CP_LENGTH, "bad CP payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_CP_TYPE, "unknown CP type", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_CP_ATTR_LENGTH, "bad configuration attribute length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_TOO_MANY_CP_ATTRS, "too many configuration attributes", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_EAP_LENGTH, "bad EAP payload length", IKE_N_INVALID_SYNTAX},
	{IKE_ERR_FRAG_DUPLICATE, "duplicate fragment", 0},
	{IKE_ERR_FRAG_TOTAL, "fragment total lower than before", 0},
	{IKE_ERR_FRAG_TOO_MANY, "too many fragments", 0},
	{IKE_ERR_FRAG_TOO_BIG, "reassembled message too big", 0},
	{IKE_ERR_FRAG_TIMEOUT, "fragment reassembly timed out", 0},
	{IKE_ERR_FRAG_STALE, "fragment of an older message", 0},
	{IKE_ERR_FRAG_MTU, "MTU too small for a fragment", 0},
	{IKE_ERR_PROPSTR_KEYWORD, "unknown algorithm keyword", 0},
	{IKE_ERR_PROPSTR_SYNTAX, "malformed proposal string", 0},
	{IKE_ERR_PROPSTR_INCOMPLETE, "proposal lacks a required algorithm", 0},
	{IKE_ERR_PROPSTR_MIXED, "proposal mixes AEAD and non-AEAD algorithms", 0},
	{IKE_ERR_PROPSTR_TOO_MANY, "too many proposals or algorithms", 0},
	{IKE_ERR_PROPOSAL_MISMATCH, "chosen proposal was not offered", IKE_N_NO_PROPOSAL_CHOSEN},
};

static const struct err_info *err_lookup(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return &err_table[i];
	return NULL;
}

const char *ike_strerror(int err)
{
	const struct err_info *e = err_lookup(err);

	if (e)
		return e->text;
	if (err <= IKE_ERR_FIRST && err >= IKE_ERR_LAST)
		return "unknown IKE codec error";
	return strerror(err < 0 ? -err : err);
}

uint16_t ike_err_notify(int err)
{
	const struct err_info *e = err_lookup(err);

	return e ? e->notify : 0;
}

/* ---- names -------------------------------------------------------------------- */

const char *ike_payload_name(uint8_t type)
{
	switch (type) {
	case IKE_PT_NONE: return "NONE";
	case IKE_PT_SA: return "SA";
	case IKE_PT_KE: return "KE";
	case IKE_PT_IDI: return "IDi";
	case IKE_PT_IDR: return "IDr";
	case IKE_PT_CERT: return "CERT";
	case IKE_PT_CERTREQ: return "CERTREQ";
	case IKE_PT_AUTH: return "AUTH";
	case IKE_PT_NONCE: return "Nonce";
	case IKE_PT_NOTIFY: return "Notify";
	case IKE_PT_DELETE: return "Delete";
	case IKE_PT_VENDOR: return "Vendor ID";
	case IKE_PT_TSI: return "TSi";
	case IKE_PT_TSR: return "TSr";
	case IKE_PT_SK: return "SK";
	case IKE_PT_CP: return "CP";
	case IKE_PT_EAP: return "EAP";
	case IKE_PT_GSPM: return "GSPM";
	case IKE_PT_SKF: return "SKF";
	default: return "?";
	}
}

const char *ike_exchange_name(uint8_t exchange)
{
	switch (exchange) {
	case IKE_EXCH_IKE_SA_INIT: return "IKE_SA_INIT";
	case IKE_EXCH_IKE_AUTH: return "IKE_AUTH";
	case IKE_EXCH_CREATE_CHILD_SA: return "CREATE_CHILD_SA";
	case IKE_EXCH_INFORMATIONAL: return "INFORMATIONAL";
	case IKE_EXCH_IKE_SESSION_RESUME: return "IKE_SESSION_RESUME";
	case IKE_EXCH_IKE_INTERMEDIATE: return "IKE_INTERMEDIATE";
	default: return "?";
	}
}

const char *ike_notify_name(uint16_t type)
{
	switch (type) {
	case IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD: return "UNSUPPORTED_CRITICAL_PAYLOAD";
	case IKE_N_INVALID_IKE_SPI: return "INVALID_IKE_SPI";
	case IKE_N_INVALID_MAJOR_VERSION: return "INVALID_MAJOR_VERSION";
	case IKE_N_INVALID_SYNTAX: return "INVALID_SYNTAX";
	case IKE_N_INVALID_MESSAGE_ID: return "INVALID_MESSAGE_ID";
	case IKE_N_INVALID_SPI: return "INVALID_SPI";
	case IKE_N_NO_PROPOSAL_CHOSEN: return "NO_PROPOSAL_CHOSEN";
	case IKE_N_INVALID_KE_PAYLOAD: return "INVALID_KE_PAYLOAD";
	case IKE_N_AUTHENTICATION_FAILED: return "AUTHENTICATION_FAILED";
	case IKE_N_SINGLE_PAIR_REQUIRED: return "SINGLE_PAIR_REQUIRED";
	case IKE_N_NO_ADDITIONAL_SAS: return "NO_ADDITIONAL_SAS";
	case IKE_N_INTERNAL_ADDRESS_FAILURE: return "INTERNAL_ADDRESS_FAILURE";
	case IKE_N_FAILED_CP_REQUIRED: return "FAILED_CP_REQUIRED";
	case IKE_N_TS_UNACCEPTABLE: return "TS_UNACCEPTABLE";
	case IKE_N_INVALID_SELECTORS: return "INVALID_SELECTORS";
	case IKE_N_UNACCEPTABLE_ADDRESSES: return "UNACCEPTABLE_ADDRESSES";
	case IKE_N_UNEXPECTED_NAT_DETECTED: return "UNEXPECTED_NAT_DETECTED";
	case IKE_N_TEMPORARY_FAILURE: return "TEMPORARY_FAILURE";
	case IKE_N_CHILD_SA_NOT_FOUND: return "CHILD_SA_NOT_FOUND";
	case IKE_N_INITIAL_CONTACT: return "INITIAL_CONTACT";
	case IKE_N_SET_WINDOW_SIZE: return "SET_WINDOW_SIZE";
	case IKE_N_ADDITIONAL_TS_POSSIBLE: return "ADDITIONAL_TS_POSSIBLE";
	case IKE_N_IPCOMP_SUPPORTED: return "IPCOMP_SUPPORTED";
	case IKE_N_NAT_DETECTION_SOURCE_IP: return "NAT_DETECTION_SOURCE_IP";
	case IKE_N_NAT_DETECTION_DESTINATION_IP: return "NAT_DETECTION_DESTINATION_IP";
	case IKE_N_COOKIE: return "COOKIE";
	case IKE_N_USE_TRANSPORT_MODE: return "USE_TRANSPORT_MODE";
	case IKE_N_HTTP_CERT_LOOKUP_SUPPORTED: return "HTTP_CERT_LOOKUP_SUPPORTED";
	case IKE_N_REKEY_SA: return "REKEY_SA";
	case IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED: return "ESP_TFC_PADDING_NOT_SUPPORTED";
	case IKE_N_NON_FIRST_FRAGMENTS_ALSO: return "NON_FIRST_FRAGMENTS_ALSO";
	case IKE_N_MOBIKE_SUPPORTED: return "MOBIKE_SUPPORTED";
	case IKE_N_ADDITIONAL_IP4_ADDRESS: return "ADDITIONAL_IP4_ADDRESS";
	case IKE_N_ADDITIONAL_IP6_ADDRESS: return "ADDITIONAL_IP6_ADDRESS";
	case IKE_N_NO_ADDITIONAL_ADDRESSES: return "NO_ADDITIONAL_ADDRESSES";
	case IKE_N_UPDATE_SA_ADDRESSES: return "UPDATE_SA_ADDRESSES";
	case IKE_N_COOKIE2: return "COOKIE2";
	case IKE_N_NO_NATS_ALLOWED: return "NO_NATS_ALLOWED";
	case IKE_N_AUTH_LIFETIME: return "AUTH_LIFETIME";
	case IKE_N_MULTIPLE_AUTH_SUPPORTED: return "MULTIPLE_AUTH_SUPPORTED";
	case IKE_N_ANOTHER_AUTH_FOLLOWS: return "ANOTHER_AUTH_FOLLOWS";
	case IKE_N_REDIRECT_SUPPORTED: return "REDIRECT_SUPPORTED";
	case IKE_N_REDIRECT: return "REDIRECT";
	case IKE_N_REDIRECTED_FROM: return "REDIRECTED_FROM";
	case IKE_N_EAP_ONLY_AUTHENTICATION: return "EAP_ONLY_AUTHENTICATION";
	case IKE_N_CHILDLESS_IKEV2_SUPPORTED: return "CHILDLESS_IKEV2_SUPPORTED";
	case IKE_N_IKEV2_FRAGMENTATION_SUPPORTED: return "IKEV2_FRAGMENTATION_SUPPORTED";
	case IKE_N_SIGNATURE_HASH_ALGORITHMS: return "SIGNATURE_HASH_ALGORITHMS";
	case IKE_N_USE_PPK: return "USE_PPK";
	case IKE_N_INTERMEDIATE_EXCHANGE_SUPPORTED: return "INTERMEDIATE_EXCHANGE_SUPPORTED";
	case IKE_N_KEEP_OLD_IKE_SA: return "KEEP_OLD_IKE_SA";
	default: return "?";
	}
}

/* ---- refusals ------------------------------------------------------------------- */

int ike_refuse(int err, uint8_t pt, bool inner, size_t off, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	vlog_warn("ike", "refused %s payload (type %u) at %s offset %zu: %s: %s",
		  ike_payload_name(pt), pt, inner ? "inner" : "message", off,
		  ike_strerror(err), detail);
	return err;
}

/* ---- header ----------------------------------------------------------------------- */

int ike_decode_header(const uint8_t *buf, size_t len, struct ike_header *h)
{
	struct cur c;
	const uint8_t *spis;

	cur_init(&c, buf, len);
	/* SPIs by hand: gcc's sanitizer builds see cur_be64's halves as
	 * possibly uninitialised and -Werror stops the build. */
	if (cur_ptr(&c, 2 * IKE_SPI_LEN, &spis) ||
	    cur_u8(&c, &h->next) || cur_u8(&c, &h->version) ||
	    cur_u8(&c, &h->exchange) || cur_u8(&c, &h->flags) ||
	    cur_be32(&c, &h->msgid) || cur_be32(&c, &h->length)) {
		vlog_warn("ike", "refused message of %zu octets: %s", len,
			  ike_strerror(IKE_ERR_HDR_TRUNCATED));
		return IKE_ERR_HDR_TRUNCATED;
	}
	h->spi_i = (uint64_t)get_be32(spis) << 32 | get_be32(spis + 4);
	h->spi_r = (uint64_t)get_be32(spis + 8) << 32 | get_be32(spis + 12);
	/* RFC 7296 3.1: a higher minor version is fine, another major is not. */
	if (h->version >> 4 != IKE_VERSION_MAJOR) {
		vlog_warn("ike", "refused message: %s (version 0x%02x, exchange %u)",
			  ike_strerror(IKE_ERR_HDR_MAJOR_VERSION), h->version,
			  h->exchange);
		return IKE_ERR_HDR_MAJOR_VERSION;
	}
	if (h->length != len) {
		vlog_warn("ike", "refused message: %s (header says %u, got %zu)",
			  ike_strerror(IKE_ERR_HDR_LENGTH), h->length, len);
		return IKE_ERR_HDR_LENGTH;
	}
	return 0;
}

/* ---- chain walker ----------------------------------------------------------------- */

static bool type_known(uint8_t t)
{
	return (t >= IKE_PT_SA && t <= IKE_PT_EAP) || t == IKE_PT_SKF;
}

/* RFC 7296 3.x: these may appear several times in one message; all other
 * known payloads once (SA carries several proposals inside one payload). */
static bool type_repeatable(uint8_t t)
{
	return t == IKE_PT_NOTIFY || t == IKE_PT_CERT || t == IKE_PT_CERTREQ ||
	       t == IKE_PT_DELETE || t == IKE_PT_VENDOR;
}

static int walk(const uint8_t *buf, size_t len, size_t start, uint8_t first,
		bool inner, struct ike_chain *ch)
{
	struct cur c;
	uint8_t type = first;
	uint32_t seen = 0;

	ch->buf = buf;
	ch->len = len;
	ch->n = 0;
	ch->bad_type = 0;
	cur_init(&c, buf, len);
	cur_skip(&c, start); /* start <= len: callers checked */

	while (type != IKE_PT_NONE) {
		size_t at = c.off;
		uint8_t next, flags;
		uint16_t plen;
		struct cur body;
		struct ike_payload *p;

		if (cur_u8(&c, &next) || cur_u8(&c, &flags) || cur_be16(&c, &plen))
			return ike_refuse(IKE_ERR_PL_TRUNCATED, type, inner, at,
					  "%zu octets left", len - at);
		if (plen < IKE_PAYLOAD_HDR_LEN)
			return ike_refuse(IKE_ERR_PL_LENGTH_SHORT, type, inner, at,
					  "length %u", plen);
		if (cur_sub(&c, plen - IKE_PAYLOAD_HDR_LEN, &body))
			return ike_refuse(IKE_ERR_PL_LENGTH_OVERRUN, type, inner, at,
					  "length %u, %zu octets left", plen,
					  len - at);
		if (!type_known(type)) {
			if (flags & IKE_PAYLOAD_FLAG_CRITICAL) {
				ch->bad_type = type;
				return ike_refuse(IKE_ERR_CRITICAL_UNSUPPORTED, type,
						  inner, at, "critical bit set");
			}
			/* RFC 7296 2.5: skip unknown non-critical payloads. */
			vlog_debug("ike", "skipping unknown payload type %u at offset %zu",
				   type, at);
		} else {
			if (!type_repeatable(type) && (seen & IKE_PT_BIT(type)))
				return ike_refuse(IKE_ERR_DUPLICATE, type, inner, at,
						  "second %s payload",
						  ike_payload_name(type));
			seen |= IKE_PT_BIT(type);
			if ((type == IKE_PT_SK || type == IKE_PT_SKF) && inner)
				return ike_refuse(IKE_ERR_MISPLACED, type, inner, at,
						  "encrypted payload inside an encrypted payload");
		}
		if (ch->n >= IKE_MAX_PAYLOADS)
			return ike_refuse(IKE_ERR_TOO_MANY_PAYLOADS, type, inner, at,
					  "limit %d", IKE_MAX_PAYLOADS);
		p = &ch->pl[ch->n++];
		p->type = type;
		p->next = next;
		p->critical = flags & IKE_PAYLOAD_FLAG_CRITICAL;
		p->known = type_known(type);
		p->inner = inner;
		p->hdr_off = at;
		p->off = at + IKE_PAYLOAD_HDR_LEN;
		p->len = body.len;
		p->data = buf + p->off;

		/* SK/SKF's Next Payload names the first inner payload: the
		 * outer chain ends here and nothing may follow (3.14). */
		if (type == IKE_PT_SK || type == IKE_PT_SKF) {
			if (cur_left(&c))
				return ike_refuse(IKE_ERR_SK_NOT_LAST, type, inner, at,
						  "%zu octets follow it", cur_left(&c));
			return 0;
		}
		type = next;
	}
	if (cur_left(&c))
		return ike_refuse(IKE_ERR_TRAILING_DATA, IKE_PT_NONE, inner, c.off,
				  "%zu octets after the last payload", cur_left(&c));
	return 0;
}

int ike_decode(const uint8_t *buf, size_t len, struct ike_msg *m)
{
	int err = ike_decode_header(buf, len, &m->hdr);

	if (err) {
		m->chain.buf = buf;
		m->chain.len = len;
		m->chain.n = 0;
		m->chain.bad_type = 0;
		return err;
	}
	return walk(buf, len, IKE_HDR_LEN, m->hdr.next, false, &m->chain);
}

int ike_decode_inner(const uint8_t *buf, size_t len, uint8_t first,
		     struct ike_chain *c)
{
	return walk(buf, len, 0, first, true, c);
}

const struct ike_payload *ike_chain_find(const struct ike_chain *c, uint8_t type)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->pl[i].type == type)
			return &c->pl[i];
	return NULL;
}

unsigned ike_chain_count(const struct ike_chain *c, uint8_t type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n; i++)
		n += c->pl[i].type == type;
	return n;
}

/* Reads the type without the full parse (no log line for a broken notify:
 * whoever uses it parses it properly and gets the refusal then). */
uint16_t ike_peek_notify_type(const struct ike_payload *p)
{
	if (p->type != IKE_PT_NOTIFY || p->len < IKE_NOTIFY_HDR_LEN)
		return 0;
	return get_be16(p->data + 2);
}

const struct ike_payload *ike_chain_find_notify(const struct ike_chain *c,
						uint16_t notify_type)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->pl[i].type == IKE_PT_NOTIFY &&
		    ike_peek_notify_type(&c->pl[i]) == notify_type)
			return &c->pl[i];
	return NULL;
}
