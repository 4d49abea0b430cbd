/* Proposals: strongSwan-style strings to and from struct ike_proposal, and
 * the check of a responder's choice against our offer. */
#include "client/ike/proposal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/ike/codec.h"
#include "client/util/log.h"

int ike_proposal_add(struct ike_proposal *p, uint8_t type, uint16_t id,
		     uint16_t key_bits)
{
	if (type < IKE_XFORM_ENCR || type > IKE_XFORM_ESN)
		return -EINVAL;
	if (p->n[type] >= IKE_PROPOSAL_MAX_PER_TYPE)
		return -ENOSPC;
	p->x[type][p->n[type]].id = id;
	p->x[type][p->n[type]].key_bits = key_bits;
	p->n[type]++;
	return 0;
}

int ike_encr_is_aead(uint16_t encr_id)
{
	switch (encr_id) {
	case IKE_ENCR_AES_CCM_8:
	case IKE_ENCR_AES_CCM_12:
	case IKE_ENCR_AES_CCM_16:
	case IKE_ENCR_AES_GCM_8:
	case IKE_ENCR_AES_GCM_12:
	case IKE_ENCR_AES_GCM_16:
	case IKE_ENCR_CHACHA20_POLY1305:
		return 1;
	default:
		return 0;
	}
}

/* ---- keywords ---------------------------------------------------------------- */

struct keyword {
	const char *name;
	uint8_t type;
	uint16_t id;
	uint16_t key_bits;
};

/* The first entry for a (type, id, key length) is the canonical spelling. */
static const struct keyword keywords[] = {
	{"aes128", IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, 128},
	{"aes192", IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, 192},
	{"aes256", IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, 256},
	{"aes", IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, 128},
	{"aes128gcm16", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 128},
	{"aes192gcm16", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 192},
	{"aes256gcm16", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 256},
	{"aes128gcm12", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_12, 128},
	{"aes192gcm12", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_12, 192},
	{"aes256gcm12", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_12, 256},
	{"aes128gcm8", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_8, 128},
	{"aes192gcm8", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_8, 192},
	{"aes256gcm8", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_8, 256},
	/* ICV length in bits, as strongSwan also accepts */
	{"aes128gcm128", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 128},
	{"aes192gcm128", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 192},
	{"aes256gcm128", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 256},
	{"aes128gcm96", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_12, 128},
	{"aes192gcm96", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_12, 192},
	{"aes256gcm96", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_12, 256},
	{"aes128gcm64", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_8, 128},
	{"aes192gcm64", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_8, 192},
	{"aes256gcm64", IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_8, 256},
	{"chacha20poly1305", IKE_XFORM_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0},
	{"sha1", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA1_96, 0},
	{"sha", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA1_96, 0},
	{"sha256", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0},
	{"sha2_256", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0},
	{"sha384", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_384_192, 0},
	{"sha2_384", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_384_192, 0},
	{"sha512", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_512_256, 0},
	{"sha2_512", IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_512_256, 0},
	{"prfsha1", IKE_XFORM_PRF, IKE_PRF_HMAC_SHA1, 0},
	{"prfsha256", IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0},
	{"prfsha384", IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0},
	{"prfsha512", IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_512, 0},
	{"modp2048", IKE_XFORM_DH, IKE_DH_MODP2048, 0},
	{"modp3072", IKE_XFORM_DH, IKE_DH_MODP3072, 0},
	{"modp4096", IKE_XFORM_DH, IKE_DH_MODP4096, 0},
	{"ecp256", IKE_XFORM_DH, IKE_DH_ECP256, 0},
	{"ecp384", IKE_XFORM_DH, IKE_DH_ECP384, 0},
	{"ecp521", IKE_XFORM_DH, IKE_DH_ECP521, 0},
	{"curve25519", IKE_XFORM_DH, IKE_DH_CURVE25519, 0},
	{"x25519", IKE_XFORM_DH, IKE_DH_CURVE25519, 0},
	{"curve448", IKE_XFORM_DH, IKE_DH_CURVE448, 0},
	{"x448", IKE_XFORM_DH, IKE_DH_CURVE448, 0},
	{"esn", IKE_XFORM_ESN, IKE_ESN_YES, 0},
	{"noesn", IKE_XFORM_ESN, IKE_ESN_NO, 0},
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static const struct keyword *keyword_find(const char *s, size_t len)
{
	for (size_t i = 0; i < NKEYWORDS; i++)
		if (strlen(keywords[i].name) == len &&
		    strncasecmp(keywords[i].name, s, len) == 0)
			return &keywords[i];
	return NULL;
}

static const struct keyword *keyword_of(uint8_t type, const struct ike_xform *x)
{
	for (size_t i = 0; i < NKEYWORDS; i++)
		if (keywords[i].type == type && keywords[i].id == x->id &&
		    keywords[i].key_bits == x->key_bits)
			return &keywords[i];
	return NULL;
}

/* strongSwan: an IKE proposal without PRF uses the PRFs of its integrity
 * algorithms. */
static int prf_of_integ(uint16_t integ, uint16_t *prf)
{
	switch (integ) {
	case IKE_INTEG_HMAC_SHA1_96: *prf = IKE_PRF_HMAC_SHA1; return 0;
	case IKE_INTEG_HMAC_SHA2_256_128: *prf = IKE_PRF_HMAC_SHA2_256; return 0;
	case IKE_INTEG_HMAC_SHA2_384_192: *prf = IKE_PRF_HMAC_SHA2_384; return 0;
	case IKE_INTEG_HMAC_SHA2_512_256: *prf = IKE_PRF_HMAC_SHA2_512; return 0;
	default: return -ENOENT;
	}
}

/* ---- parsing -------------------------------------------------------------------- */

struct perr {
	char *buf;
	size_t cap;
};

static int prop_fail(struct perr *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int prop_fail(struct perr *e, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog_warn("ike", "proposal string refused: %s: %s", ike_strerror(err), msg);
	if (e->buf && e->cap)
		snprintf(e->buf, e->cap, "%s", msg);
	return err;
}

bool ike_proposal_has(const struct ike_proposal *p, int type, const struct ike_xform *x)
{
	for (unsigned i = 0; i < p->n[type]; i++)
		if (p->x[type][i].id == x->id && p->x[type][i].key_bits == x->key_bits)
			return true;
	return false;
}

int ike_proposal_pick(const struct ike_proposal *theirs, const struct ike_proposal *ours,
		      int type, struct ike_proposal *out)
{
	unsigned m;

	if (!theirs->n[type] && !ours->n[type])
		return 0;
	for (m = 0; m < theirs->n[type]; m++) {
		const struct ike_xform *x = &theirs->x[type][m];

		if (ike_proposal_has(ours, type, x) ||
		    (type == IKE_XFORM_ESN && !ours->n[type] && x->id == IKE_ESN_NO))
			return ike_proposal_add(out, (uint8_t)type, x->id, x->key_bits);
	}
	return -ENOENT;
}

static int add_unique(struct ike_proposal *p, uint8_t type, uint16_t id,
		      uint16_t key_bits)
{
	struct ike_xform x = {id, key_bits};

	if (ike_proposal_has(p, type, &x))
		return 0;
	return ike_proposal_add(p, type, id, key_bits);
}

/* Rules strongSwan applies to a proposal once all its keywords are read. */
static int complete(struct ike_proposal *p, struct perr *e, const char *text,
		    int len)
{
	unsigned aead = 0, classic = 0;

	if (!p->n[IKE_XFORM_ENCR])
		return prop_fail(e, IKE_ERR_PROPSTR_INCOMPLETE,
				 "no encryption algorithm in '%.*s'", len, text);
	for (unsigned i = 0; i < p->n[IKE_XFORM_ENCR]; i++) {
		if (ike_encr_is_aead(p->x[IKE_XFORM_ENCR][i].id))
			aead++;
		else
			classic++;
	}
	if (aead && (classic || p->n[IKE_XFORM_INTEG]))
		return prop_fail(e, IKE_ERR_PROPSTR_MIXED,
				 "AEAD and classic algorithms mixed in '%.*s'", len,
				 text);
	if (classic && !p->n[IKE_XFORM_INTEG])
		return prop_fail(e, IKE_ERR_PROPSTR_INCOMPLETE,
				 "no integrity algorithm in '%.*s'", len, text);
	if (p->protocol == IKE_PROTO_IKE) {
		if (!p->n[IKE_XFORM_PRF]) {
			if (aead)
				return prop_fail(e, IKE_ERR_PROPSTR_INCOMPLETE,
						 "an AEAD proposal needs a prf in '%.*s'",
						 len, text);
			for (unsigned i = 0; i < p->n[IKE_XFORM_INTEG]; i++) {
				uint16_t prf;

				if (!prf_of_integ(p->x[IKE_XFORM_INTEG][i].id, &prf) &&
				    add_unique(p, IKE_XFORM_PRF, prf, 0))
					return prop_fail(e, IKE_ERR_PROPSTR_TOO_MANY,
							 "too many PRFs in '%.*s'", len,
							 text);
			}
		}
		if (!p->n[IKE_XFORM_DH])
			return prop_fail(e, IKE_ERR_PROPSTR_INCOMPLETE,
					 "no key exchange group in '%.*s'", len, text);
	} else if (!p->n[IKE_XFORM_ESN]) {
		ike_proposal_add(p, IKE_XFORM_ESN, IKE_ESN_NO, 0);
	}
	return 0;
}

static int parse_one(const char *text, size_t len, uint8_t protocol,
		     struct ike_proposal *p, struct perr *e)
{
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	p->protocol = protocol;
	while (i <= len) {
		size_t j = i;
		const struct keyword *k;

		while (j < len && text[j] != '-')
			j++;
		if (j == i)
			return prop_fail(e, IKE_ERR_PROPSTR_SYNTAX,
					 "empty algorithm in '%.*s'", (int)len, text);
		k = keyword_find(text + i, j - i);
		if (!k)
			return prop_fail(e, IKE_ERR_PROPSTR_KEYWORD,
					 "unknown algorithm '%.*s' in '%.*s'",
					 (int)(j - i), text + i, (int)len, text);
		if ((k->type == IKE_XFORM_ESN && protocol == IKE_PROTO_IKE) ||
		    (k->type == IKE_XFORM_PRF && protocol != IKE_PROTO_IKE))
			return prop_fail(e, IKE_ERR_PROPSTR_KEYWORD,
					 "'%s' is not valid in an %s proposal", k->name,
					 protocol == IKE_PROTO_IKE ? "IKE" : "ESP");
		if (add_unique(p, k->type, k->id, k->key_bits))
			return prop_fail(e, IKE_ERR_PROPSTR_TOO_MANY,
					 "more than %d algorithms of one kind in '%.*s'",
					 IKE_PROPOSAL_MAX_PER_TYPE, (int)len, text);
		i = j + 1;
	}
	return complete(p, e, text, (int)len);
}

int ike_proposals_parse(const char *s, uint8_t protocol,
			struct ike_proposal *out, size_t max, size_t *n,
			char *err, size_t err_cap)
{
	struct perr e = {err, err_cap};
	size_t count = 0;
	const char *at = s;

	if (err && err_cap)
		err[0] = '\0';
	*n = 0;
	if (protocol != IKE_PROTO_IKE && protocol != IKE_PROTO_ESP)
		return -EINVAL;
	for (;;) {
		const char *end = strchr(at, ',');
		size_t len = end ? (size_t)(end - at) : strlen(at);
		const char *t = at;
		int rc;

		/* spaces around commas are a common way to write lists */
		while (len && isspace((unsigned char)*t)) {
			t++;
			len--;
		}
		while (len && isspace((unsigned char)t[len - 1]))
			len--;
		if (len == 0)
			return prop_fail(&e, IKE_ERR_PROPSTR_SYNTAX,
					 "empty proposal in '%s'", s);
		if (count >= max || count >= IKE_MAX_PROPOSALS)
			return prop_fail(&e, IKE_ERR_PROPSTR_TOO_MANY,
					 "more than %zu proposals in '%s'",
					 max < IKE_MAX_PROPOSALS ? max : IKE_MAX_PROPOSALS, s);
		rc = parse_one(t, len, protocol, &out[count], &e);
		if (rc)
			return rc;
		out[count].num = (uint8_t)(count + 1);
		count++;
		if (!end)
			break;
		at = end + 1;
	}
	*n = count;
	return 0;
}

/* ---- formatting ------------------------------------------------------------------- */

static int append(char *out, size_t cap, size_t *len, const char *s)
{
	size_t l = strlen(s);

	if (*len + l + 1 > cap)
		return -ENOSPC;
	memcpy(out + *len, s, l + 1);
	*len += l;
	return 0;
}

static int format_one(const struct ike_proposal *p, char *out, size_t cap,
		      size_t *len)
{
	/* strongSwan's order: encryption, integrity, prf, key exchange, esn */
	static const uint8_t order[] = {IKE_XFORM_ENCR, IKE_XFORM_INTEG,
					IKE_XFORM_PRF, IKE_XFORM_DH, IKE_XFORM_ESN};
	bool first = true;

	for (size_t o = 0; o < sizeof(order); o++) {
		uint8_t t = order[o];

		for (unsigned i = 0; i < p->n[t]; i++) {
			const struct keyword *k = keyword_of(t, &p->x[t][i]);

			if (!k)
				return -EINVAL;
			if ((!first && append(out, cap, len, "-")) ||
			    append(out, cap, len, k->name))
				return -ENOSPC;
			first = false;
		}
	}
	return first ? -EINVAL : 0;
}

int ike_proposal_format(const struct ike_proposal *p, char *out, size_t cap)
{
	size_t len = 0;

	if (!cap)
		return -ENOSPC;
	out[0] = '\0';
	return format_one(p, out, cap, &len);
}

int ike_proposals_format(const struct ike_proposal *p, size_t n, char *out,
			 size_t cap)
{
	size_t len = 0;
	int err;

	if (!cap)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i && append(out, cap, &len, ","))
			return -ENOSPC;
		err = format_one(&p[i], out, cap, &len);
		if (err)
			return err;
	}
	return 0;
}

/* ---- selection check ------------------------------------------------------------------ */

static int mismatch(const struct ike_proposal *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int mismatch(const struct ike_proposal *c, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog_warn("ike", "refused chosen proposal #%u (protocol %u): %s", c->num,
		  c->protocol, msg);
	return IKE_ERR_PROPOSAL_MISMATCH;
}

int ike_proposal_match(const struct ike_proposal *offered, size_t n,
		       const struct ike_proposal *chosen, size_t *which)
{
	const struct ike_proposal *o = NULL;
	size_t idx = 0;

	for (size_t i = 0; i < n; i++) {
		if (offered[i].num == chosen->num &&
		    offered[i].protocol == chosen->protocol) {
			o = &offered[i];
			idx = i;
			break;
		}
	}
	if (!o)
		return mismatch(chosen, "no offered proposal with that number and protocol");
	if (chosen->n_ignored)
		return mismatch(chosen, "%u transforms we do not know",
				chosen->n_ignored);
	for (uint8_t t = IKE_XFORM_ENCR; t < IKE_PROPOSAL_NTYPES; t++) {
		if (chosen->n[t] > 1)
			return mismatch(chosen, "%u transforms of type %u", chosen->n[t], t);
		if (chosen->n[t] == 0) {
			/* IKE_AUTH carries no KE: responders drop the DH of
			 * Child SA proposals (RFC 7296 1.2). */
			if (o->n[t] && !(t == IKE_XFORM_DH && o->protocol != IKE_PROTO_IKE))
				return mismatch(chosen, "no transform of type %u", t);
			continue;
		}
		if (!o->n[t]) {
			/* "NONE" for a type we left out is the same as leaving it out */
			if ((t == IKE_XFORM_INTEG || t == IKE_XFORM_DH) &&
			    chosen->x[t][0].id == 0)
				continue;
			return mismatch(chosen, "type %u was not offered", t);
		}
		if (t == IKE_XFORM_DH && o->protocol != IKE_PROTO_IKE &&
		    chosen->x[t][0].id == IKE_DH_NONE)
			continue;
		if (!ike_proposal_has(o, t, &chosen->x[t][0]))
			return mismatch(chosen, "transform %u/%u (key %u) was not offered",
					t, chosen->x[t][0].id, chosen->x[t][0].key_bits);
	}
	*which = idx;
	return 0;
}
