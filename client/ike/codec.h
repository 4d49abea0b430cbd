/* IKEv2 message codec (RFC 7296 section 3, RFC 7383 2.5).
 *
 * Decoding happens in two steps. ike_decode() checks the header and walks
 * the Next Payload chain with a bounds-checked cursor, producing a list of
 * payload views (type, critical bit, offset and length into the caller's
 * buffer); structural rules are enforced there: every length is checked
 * before use, an unknown payload with the critical bit refuses the message,
 * payloads that may appear only once must not repeat, SK/SKF must be last.
 * Then typed parsers (ike_parse_*) turn one view into a small struct whose
 * pointers still point into the buffer; fixed bounds replace allocation.
 *
 * The SK payload's inner chain is walked by ike_decode_inner() once the
 * bytes are decrypted (codec_sk.c does both through client/ike/sk.h).
 *
 * Builders write through a struct wbuf (client/util/cursor.h) and chain the
 * Next Payload fields themselves.
 *
 * Errors: 0 or a negative code. The codec's own codes are -1000 .. -1099
 * (enum ike_err, ike_strerror()); anything else is a negative errno
 * (-ENOSPC when a builder runs out of room, -EINVAL for a misuse).
 * ike_err_notify() gives the Notify type to answer with, 0 meaning "drop
 * silently". Every refusal of wire data writes exactly one log line (module
 * "ike") naming the payload and its offset. */
#ifndef VPN_IKE_CODEC_H
#define VPN_IKE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ike/proposal.h"
#include "client/ike/wire.h"
#include "client/util/cursor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors --------------------------------------------------------------- */

enum ike_err {
	IKE_ERR_FIRST = -1000,
	/* header and chain */
	IKE_ERR_HDR_TRUNCATED = -1000,     /* fewer than 28 octets */
	IKE_ERR_HDR_MAJOR_VERSION = -1001, /* major version is not 2 */
	IKE_ERR_HDR_LENGTH = -1002,        /* length field != datagram length */
	IKE_ERR_PL_TRUNCATED = -1003,      /* generic payload header cut off */
	IKE_ERR_PL_LENGTH_SHORT = -1004,   /* payload length < 4 */
	IKE_ERR_PL_LENGTH_OVERRUN = -1005, /* payload length beyond the data */
	IKE_ERR_TRAILING_DATA = -1006,     /* bytes after the last payload */
	IKE_ERR_CRITICAL_UNSUPPORTED = -1007, /* unknown payload, critical bit set */
	IKE_ERR_DUPLICATE = -1008,         /* payload allowed once appears twice */
	IKE_ERR_SK_NOT_LAST = -1009,       /* data follows SK / SKF */
	IKE_ERR_MISPLACED = -1010,         /* SK/SKF inside SK, or nested otherwise */
	IKE_ERR_TOO_MANY_PAYLOADS = -1011, /* more than IKE_MAX_PAYLOADS */
	IKE_ERR_MISSING_PAYLOAD = -1012,   /* exchange table: required absent */
	IKE_ERR_UNEXPECTED_PAYLOAD = -1013, /* exchange table: not allowed here */
	/* SA payload */
	IKE_ERR_SA_EMPTY = -1020,
	IKE_ERR_PROP_LENGTH = -1021,
	IKE_ERR_PROP_LAST_FLAG = -1022,
	IKE_ERR_PROP_NUMBER = -1023,
	IKE_ERR_PROP_PROTOCOL = -1024,
	IKE_ERR_PROP_SPI_SIZE = -1025,
	IKE_ERR_TOO_MANY_PROPOSALS = -1026,
	IKE_ERR_XFORM_LENGTH = -1027,
	IKE_ERR_XFORM_LAST_FLAG = -1028,
	IKE_ERR_XFORM_COUNT = -1029,
	IKE_ERR_TOO_MANY_XFORMS = -1030,
	IKE_ERR_ATTR_LENGTH = -1031,
	IKE_ERR_ATTR_DUPLICATE = -1032,
	/* other payloads */
	IKE_ERR_KE_LENGTH = -1040,
	IKE_ERR_ID_LENGTH = -1041,
	IKE_ERR_CERT_LENGTH = -1042,
	IKE_ERR_CERTREQ_LENGTH = -1043,
	IKE_ERR_AUTH_LENGTH = -1044,
	IKE_ERR_NONCE_LENGTH = -1045,
	IKE_ERR_NOTIFY_LENGTH = -1046,
	IKE_ERR_NOTIFY_SPI_SIZE = -1047,
	IKE_ERR_NOTIFY_DATA = -1048, /* data length wrong for the notify type */
	IKE_ERR_DELETE_LENGTH = -1049,
	IKE_ERR_DELETE_SPI_SIZE = -1050,
	IKE_ERR_TS_LENGTH = -1051,
	IKE_ERR_TS_COUNT = -1052,
	IKE_ERR_TS_TYPE = -1053,
	IKE_ERR_TOO_MANY_TS = -1054,
	IKE_ERR_SK_LENGTH = -1055,
	IKE_ERR_SKF_LENGTH = -1056,
	IKE_ERR_SKF_NUMBER = -1057, /* number 0, total 0, or number > total */
	IKE_ERR_CP_LENGTH = -1058,
	IKE_ERR_CP_TYPE = -1059,
	IKE_ERR_CP_ATTR_LENGTH = -1060,
	IKE_ERR_TOO_MANY_CP_ATTRS = -1061,
	IKE_ERR_EAP_LENGTH = -1062,
	/* fragment reassembly (frag.h) */
	IKE_ERR_FRAG_DUPLICATE = -1070,
	IKE_ERR_FRAG_TOTAL = -1071,   /* total smaller than the one being collected */
	IKE_ERR_FRAG_TOO_MANY = -1072, /* total above IKE_FRAG_MAX */
	IKE_ERR_FRAG_TOO_BIG = -1073, /* reassembled size above IKE_FRAG_MAX_BYTES */
	IKE_ERR_FRAG_TIMEOUT = -1074,
	IKE_ERR_FRAG_STALE = -1075,   /* fragment of an older message */
	IKE_ERR_FRAG_MTU = -1076,     /* MTU too small to carry any fragment */
	/* proposals (proposal.h) */
	IKE_ERR_PROPSTR_KEYWORD = -1080,
	IKE_ERR_PROPSTR_SYNTAX = -1081,
	IKE_ERR_PROPSTR_INCOMPLETE = -1082,
	IKE_ERR_PROPSTR_MIXED = -1083,
	IKE_ERR_PROPSTR_TOO_MANY = -1084,
	IKE_ERR_PROPOSAL_MISMATCH = -1085,
	IKE_ERR_LAST = -1099,
};

/* Text for a codec code; for other negative values strerror(-err). */
const char *ike_strerror(int err);
/* The Notify type to answer a request refused with `err`, or 0 when the
 * message is to be dropped without an answer (header damage, fragments,
 * local configuration errors). */
uint16_t ike_err_notify(int err);

/* Names for logs; "?" for values we do not know. */
const char *ike_payload_name(uint8_t type);
const char *ike_exchange_name(uint8_t exchange);
const char *ike_notify_name(uint16_t type);

/* ---- decoded message -------------------------------------------------------- */

#define IKE_MAX_PAYLOADS 64

struct ike_header {
	uint64_t spi_i;
	uint64_t spi_r;
	uint8_t next;     /* first payload */
	uint8_t version;  /* major << 4 | minor */
	uint8_t exchange;
	uint8_t flags;
	uint32_t msgid;
	uint32_t length;
};

/* One payload: a view into the buffer the chain was decoded from. */
struct ike_payload {
	uint8_t type;
	uint8_t next;     /* Next Payload field (for SK/SKF: the first inner payload) */
	bool critical;
	bool known;       /* a type this codec understands */
	bool inner;       /* found inside a decrypted SK/SKF */
	size_t hdr_off;   /* offset of the generic header */
	size_t off;       /* offset of the body */
	size_t len;       /* body length (Payload Length - 4) */
	const uint8_t *data; /* == buffer + off */
};

struct ike_chain {
	const uint8_t *buf;
	size_t len;
	unsigned n;
	struct ike_payload pl[IKE_MAX_PAYLOADS];
	/* On IKE_ERR_CRITICAL_UNSUPPORTED: the type to put in the notify. */
	uint8_t bad_type;
};

struct ike_msg {
	struct ike_header hdr;
	struct ike_chain chain;
};

/* Decode a whole message (without the non-ESP marker). */
int ike_decode(const uint8_t *buf, size_t len, struct ike_msg *m);
/* Only the 28-octet header (version and length checked against len). */
int ike_decode_header(const uint8_t *buf, size_t len, struct ike_header *h);
/* Walk the decrypted inner payloads of an SK payload (or a reassembled
 * message), starting with the type from the SK's Next Payload field. */
int ike_decode_inner(const uint8_t *buf, size_t len, uint8_t first,
		     struct ike_chain *c);

/* First payload of a type, NULL if absent; count of a type. */
const struct ike_payload *ike_chain_find(const struct ike_chain *c, uint8_t type);
unsigned ike_chain_count(const struct ike_chain *c, uint8_t type);
/* First Notify of a given notify type (parsed), NULL if absent. */
const struct ike_payload *ike_chain_find_notify(const struct ike_chain *c,
						uint16_t notify_type);

/* ---- typed payloads ------------------------------------------------------------
 * Each parser refuses a view of another type with -EINVAL. */

#define IKE_MAX_TS 16
#define IKE_MAX_CP_ATTRS 32

struct ike_sa_payload {
	unsigned n;
	struct ike_proposal p[IKE_MAX_PROPOSALS];
};

struct ike_ke {
	uint16_t group;
	const uint8_t *data;
	size_t len;
};

struct ike_id {
	uint8_t type;
	const uint8_t *data;  /* identification data */
	size_t len;
	const uint8_t *body;  /* whole body from the ID type on: the AUTH input */
	size_t body_len;
};

/* CERT and CERTREQ share the layout. */
struct ike_cert {
	uint8_t encoding;
	const uint8_t *data;
	size_t len;
};

struct ike_auth {
	uint8_t method;
	const uint8_t *data;
	size_t len;
};

struct ike_nonce {
	const uint8_t *data;
	size_t len;
};

struct ike_notify {
	uint8_t protocol;
	uint8_t spi_len;
	uint16_t type;
	const uint8_t *spi;
	const uint8_t *data;
	size_t len;
};

struct ike_delete {
	uint8_t protocol;
	uint8_t spi_len;
	uint16_t n_spi;
	const uint8_t *spis; /* n_spi * spi_len octets */
};

struct ike_vendor {
	const uint8_t *data;
	size_t len;
};

struct ike_ts {
	uint8_t type;      /* IKE_TS_IPV4_ADDR_RANGE / IKE_TS_IPV6_ADDR_RANGE */
	uint8_t ip_proto;
	uint16_t start_port;
	uint16_t end_port;
	uint8_t start[16]; /* 4 or 16 octets used */
	uint8_t end[16];
};

struct ike_ts_list {
	unsigned n;
	struct ike_ts ts[IKE_MAX_TS];
};

struct ike_sk {
	uint8_t first;      /* type of the first inner payload */
	size_t aad_len;     /* octets before the body: header, earlier payloads, SK header */
	const uint8_t *body; /* IV || ciphertext || ICV */
	size_t len;
};

struct ike_skf {
	uint16_t num;       /* 1-based */
	uint16_t total;
	uint8_t first;      /* first inner type; meaningful in fragment 1 only */
	size_t aad_len;     /* includes the fragment number and total */
	const uint8_t *body;
	size_t len;
};

struct ike_cp_attr {
	uint16_t type;
	uint16_t len;
	const uint8_t *val;
};

struct ike_cp {
	uint8_t cfg_type;
	unsigned n;
	struct ike_cp_attr a[IKE_MAX_CP_ATTRS];
};

struct ike_eap {
	uint8_t code;        /* 1 request, 2 response, 3 success, 4 failure */
	uint8_t id;
	uint8_t type;        /* method, for request/response; 0 otherwise */
	const uint8_t *msg;  /* the whole EAP message (RFC 3748 4) */
	size_t len;
};

int ike_parse_sa(const struct ike_payload *p, struct ike_sa_payload *out);
int ike_parse_ke(const struct ike_payload *p, struct ike_ke *out);
int ike_parse_id(const struct ike_payload *p, struct ike_id *out);
int ike_parse_cert(const struct ike_payload *p, struct ike_cert *out);
int ike_parse_certreq(const struct ike_payload *p, struct ike_cert *out);
int ike_parse_auth(const struct ike_payload *p, struct ike_auth *out);
int ike_parse_nonce(const struct ike_payload *p, struct ike_nonce *out);
int ike_parse_notify(const struct ike_payload *p, struct ike_notify *out);
int ike_parse_delete(const struct ike_payload *p, struct ike_delete *out);
int ike_parse_vendor(const struct ike_payload *p, struct ike_vendor *out);
int ike_parse_ts(const struct ike_payload *p, struct ike_ts_list *out);
int ike_parse_sk(const struct ike_payload *p, struct ike_sk *out);
int ike_parse_skf(const struct ike_payload *p, struct ike_skf *out);
int ike_parse_cp(const struct ike_payload *p, struct ike_cp *out);
int ike_parse_eap(const struct ike_payload *p, struct ike_eap *out);
/* Dispatch on the view's type (what the fuzzer and debug dumps use); 0 for
 * types without a typed parser. */
int ike_parse_any(const struct ike_payload *p);

/* Notify data of the types that carry structured data. Each checks the
 * notify type and the data length (IKE_ERR_NOTIFY_DATA). */
int ike_notify_invalid_ke(const struct ike_notify *n, uint16_t *group);
int ike_notify_u32(const struct ike_notify *n, uint32_t *v); /* AUTH_LIFETIME */
int ike_notify_hash_algs(const struct ike_notify *n, uint16_t *algs, size_t max,
			 size_t *count);
int ike_notify_keep_old(const struct ike_notify *n, bool *question, uint8_t *code);

/* ---- builders --------------------------------------------------------------- */

struct ike_builder {
	struct wbuf w;
	int err;          /* sticky: first error of any builder call */
	size_t next_at;   /* offset of the Next Payload octet to patch; SIZE_MAX none */
	uint8_t first;    /* chain mode: type of the first payload written */
	bool has_hdr;
	size_t sk_hdr;    /* offset of the open SK payload's header; SIZE_MAX none */
	size_t sk_inner;  /* where its inner payloads start (after the IV) */
	size_t sk_iv_len;
};

/* A message: writes the header (length patched by ike_build_finish). */
void ike_build_init(struct ike_builder *b, uint8_t *buf, size_t cap,
		    const struct ike_header *h);
/* A bare payload chain (the inner payloads to fragment, tests): b->first
 * tells the type of the first payload. */
void ike_build_init_chain(struct ike_builder *b, uint8_t *buf, size_t cap);
/* Patch the header length; returns the sticky error, *len the size. */
int ike_build_finish(struct ike_builder *b, size_t *len);

/* Generic: an opaque body (Vendor ID, Nonce, unknown types in tests). */
int ike_build_raw(struct ike_builder *b, uint8_t type, bool critical,
		  const void *data, size_t len);
int ike_build_sa(struct ike_builder *b, const struct ike_proposal *p, size_t n);
int ike_build_ke(struct ike_builder *b, uint16_t group, const void *data,
		 size_t len);
/* pt is IKE_PT_IDI or IKE_PT_IDR. */
int ike_build_id(struct ike_builder *b, uint8_t pt, uint8_t id_type,
		 const void *data, size_t len);
int ike_build_cert(struct ike_builder *b, uint8_t encoding, const void *data,
		   size_t len);
int ike_build_certreq(struct ike_builder *b, uint8_t encoding, const void *data,
		      size_t len);
int ike_build_auth(struct ike_builder *b, uint8_t method, const void *data,
		   size_t len);
int ike_build_nonce(struct ike_builder *b, const void *data, size_t len);
int ike_build_notify(struct ike_builder *b, uint8_t protocol, const void *spi,
		     uint8_t spi_len, uint16_t type, const void *data, size_t len);
int ike_build_delete(struct ike_builder *b, uint8_t protocol, uint8_t spi_len,
		     const void *spis, uint16_t n_spi);
int ike_build_vendor(struct ike_builder *b, const void *data, size_t len);
/* pt is IKE_PT_TSI or IKE_PT_TSR. */
int ike_build_ts(struct ike_builder *b, uint8_t pt, const struct ike_ts *ts,
		 size_t n);
int ike_build_cp(struct ike_builder *b, uint8_t cfg_type,
		 const struct ike_cp_attr *a, size_t n);
/* The whole EAP message; its own length field must match len. */
int ike_build_eap(struct ike_builder *b, const void *msg, size_t len);

/* The Encrypted payload: begin writes its header and reserves iv_len octets;
 * the payloads built next are its inner chain. close fixes the SK payload's
 * and the message's lengths for `overhead` = ike_sk_overhead(inner_len)
 * (IV + padding + pad length + ICV) and reports what ike_sk_seal() needs.
 * -ENOSPC when the sealed message would not fit the buffer. */
int ike_build_sk_begin(struct ike_builder *b, size_t iv_len);
size_t ike_build_sk_inner_len(const struct ike_builder *b);
int ike_build_sk_close(struct ike_builder *b, size_t overhead, size_t *aad_len,
		       size_t *inner_len, size_t *msg_len);

/* ---- SK protection glue (codec_sk.c; needs client/ike/sk.c) -------------------- */

struct crypto_cipher;

/* Close and seal the open SK payload: *len is the final message length. */
int ike_build_sk_seal(struct ike_builder *b, const struct crypto_cipher *c,
		      size_t *len);
/* Decrypt the SK payload of a decoded message in place (buf is the same
 * buffer m was decoded from) and walk its inner chain into `inner`.
 * -EBADMSG when the ICV does not verify (logged). */
int ike_sk_decrypt(const struct crypto_cipher *c, uint8_t *buf,
		   const struct ike_msg *m, struct ike_chain *inner);
/* Decrypt one SKF payload in place: *plain points at its fragment data. */
int ike_skf_decrypt(const struct crypto_cipher *c, uint8_t *buf,
		    const struct ike_msg *m, struct ike_skf *skf,
		    uint8_t **plain, size_t *plain_len);

/* ---- payloads required / allowed per message kind ------------------------------- */

enum ike_msg_kind {
	IKE_MSG_SA_INIT_REQ,
	IKE_MSG_SA_INIT_RESP,
	IKE_MSG_AUTH_REQ,            /* PSK / certificates: IDi, AUTH, ... */
	IKE_MSG_AUTH_RESP,
	IKE_MSG_AUTH_EAP_START_REQ,  /* first request without AUTH: EAP follows */
	IKE_MSG_AUTH_EAP_FIRST_RESP, /* IDr, [CERT], [AUTH], EAP */
	IKE_MSG_AUTH_EAP_REQ,        /* EAP round trips */
	IKE_MSG_AUTH_EAP_RESP,
	IKE_MSG_AUTH_EAP_FINAL_REQ,  /* AUTH from the MSK */
	IKE_MSG_AUTH_EAP_FINAL_RESP, /* AUTH, CP, SA, TS */
	IKE_MSG_CREATE_CHILD_REQ,
	IKE_MSG_CREATE_CHILD_RESP,
	IKE_MSG_REKEY_IKE_REQ,
	IKE_MSG_REKEY_IKE_RESP,
	IKE_MSG_INFO_REQ,
	IKE_MSG_INFO_RESP,
	IKE_MSG_KIND_COUNT,
};

#define IKE_PT_BIT(t) ((t) >= 32 && (t) < 64 ? (uint32_t)1 << ((t) - 32) : 0u)

struct ike_msg_rule {
	const char *name;
	uint8_t exchange;
	bool response;
	bool protected_;   /* payloads travel inside SK */
	uint32_t required; /* IKE_PT_BIT set */
	uint32_t allowed;  /* includes required */
	uint32_t together; /* all of these or none (SA, TSi, TSr) */
};

const struct ike_msg_rule *ike_msg_rule_of(enum ike_msg_kind kind);
/* Check a message against its rule. `payloads` is the chain holding the
 * message's payloads: the outer chain for IKE_SA_INIT, the decrypted inner
 * chain otherwise (outer then must be only the SK/SKF payload; pass NULL to
 * skip that check). A response carrying an error Notify (or, in
 * IKE_SA_INIT, a COOKIE) is exempt from the required set. */
int ike_check_payloads(enum ike_msg_kind kind, const struct ike_chain *outer,
		       const struct ike_chain *payloads);

#ifdef __cplusplus
}
#endif
#endif
