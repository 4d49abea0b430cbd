/* Signature AUTH: the classic methods (1 RSA PKCS#1 with SHA-1, 9/10/11
 * ECDSA of RFC 4754) and RFC 7427 digital signatures (method 14), where the
 * AUTH data is a one-octet length, an ASN.1 AlgorithmIdentifier and the
 * signature. We sign with RFC 7427 when the gateway announced
 * SIGNATURE_HASH_ALGORITHMS, else with the classic method of our key. */
#include <errno.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

/* DER AlgorithmIdentifiers (RFC 7427 Appendix A lists these encodings). */
static const uint8_t alg_rsa_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
static const uint8_t alg_rsa_sha384[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00};
static const uint8_t alg_rsa_sha512[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00};
static const uint8_t alg_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t alg_ecdsa_sha384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t alg_ecdsa_sha512[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					   0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
static const uint8_t alg_ed25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

/* OIDs (contents only) met inside AlgorithmIdentifiers. */
static const uint8_t oid_rsa_pkcs1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01}; /* + 0b/0c/0d/05 */
static const uint8_t oid_rsa_pss[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a};
static const uint8_t oid_ecdsa[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03}; /* + 02/03/04 */
static const uint8_t oid_ed25519[] = {0x2b, 0x65, 0x70};
static const uint8_t oid_sha2[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02}; /* + 01/02/03 */
static const uint8_t oid_sha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};

struct sig_alg {
	enum crypto_sig_scheme scheme;
	enum crypto_hash hash;
};

/* ---- a minimal DER reader over the cursor ---- */

static int der_next(struct cur *c, uint8_t *tag, struct cur *content)
{
	uint8_t t, l0, b;
	size_t len = 0;
	int i;

	if (cur_u8(c, &t) || cur_u8(c, &l0))
		return -EBADMSG;
	if (l0 & 0x80) {
		int n = l0 & 0x7f;

		if (n == 0 || n > 2)
			return -EBADMSG; /* indefinite or absurdly long: not in an AlgorithmIdentifier */
		for (i = 0; i < n; i++) {
			if (cur_u8(c, &b))
				return -EBADMSG;
			len = len << 8 | b;
		}
	} else {
		len = l0;
	}
	*tag = t;
	return cur_sub(c, len, content) ? -EBADMSG : 0;
}

static bool oid_is(const struct cur *oid, const uint8_t *prefix, size_t plen,
		   size_t extra)
{
	return cur_left(oid) == plen + extra && !memcmp(cur_pos(oid), prefix, plen);
}

static int sha2_from_oid(const struct cur *oid, enum crypto_hash *h)
{
	if (oid_is(oid, oid_sha1, sizeof(oid_sha1), 0)) {
		*h = CRYPTO_HASH_SHA1;
		return 0;
	}
	if (!oid_is(oid, oid_sha2, sizeof(oid_sha2), 1))
		return -ENOTSUP;
	switch (cur_pos(oid)[sizeof(oid_sha2)]) {
	case 1: *h = CRYPTO_HASH_SHA256; return 0;
	case 2: *h = CRYPTO_HASH_SHA384; return 0;
	case 3: *h = CRYPTO_HASH_SHA512; return 0;
	default: return -ENOTSUP;
	}
}

/* RSASSA-PSS-params (RFC 4055): the hash, MGF1 with the same hash, and the
 * salt length equal to the hash length are what we verify. */
static int parse_pss_params(struct cur *params, struct sig_alg *out)
{
	struct cur seq, field, alg, oid;
	uint8_t tag;

	out->scheme = CRYPTO_SIG_RSA_PSS;
	out->hash = CRYPTO_HASH_SHA1; /* the ASN.1 default */
	if (der_next(params, &tag, &seq) || tag != 0x30)
		return -EBADMSG;
	while (cur_left(&seq)) {
		if (der_next(&seq, &tag, &field))
			return -EBADMSG;
		if (tag == 0xa0) { /* [0] hashAlgorithm */
			if (der_next(&field, &tag, &alg) || tag != 0x30 ||
			    der_next(&alg, &tag, &oid) || tag != 0x06)
				return -EBADMSG;
			if (sha2_from_oid(&oid, &out->hash))
				return -ENOTSUP;
		}
		/* [1] MGF (MGF1 with the same hash in practice), [2] salt
		 * length, [3] trailer: crypto_verify checks the signature with
		 * MGF1(hash) and salt = hash length; other choices fail there. */
	}
	return 0;
}

static int parse_algid(const uint8_t *der, size_t len, struct sig_alg *out)
{
	struct cur c, seq, oid;
	uint8_t tag;

	cur_init(&c, der, len);
	if (der_next(&c, &tag, &seq) || tag != 0x30 || cur_left(&c))
		return -EBADMSG;
	if (der_next(&seq, &tag, &oid) || tag != 0x06)
		return -EBADMSG;
	if (oid_is(&oid, oid_rsa_pss, sizeof(oid_rsa_pss), 0))
		return parse_pss_params(&seq, out);
	if (oid_is(&oid, oid_rsa_pkcs1, sizeof(oid_rsa_pkcs1), 1)) {
		out->scheme = CRYPTO_SIG_RSA_PKCS1;
		switch (cur_pos(&oid)[sizeof(oid_rsa_pkcs1)]) {
		case 0x05: out->hash = CRYPTO_HASH_SHA1; return 0;
		case 0x0b: out->hash = CRYPTO_HASH_SHA256; return 0;
		case 0x0c: out->hash = CRYPTO_HASH_SHA384; return 0;
		case 0x0d: out->hash = CRYPTO_HASH_SHA512; return 0;
		default: return -ENOTSUP;
		}
	}
	if (oid_is(&oid, oid_ecdsa, sizeof(oid_ecdsa), 1)) {
		out->scheme = CRYPTO_SIG_ECDSA_DER;
		switch (cur_pos(&oid)[sizeof(oid_ecdsa)]) {
		case 0x02: out->hash = CRYPTO_HASH_SHA256; return 0;
		case 0x03: out->hash = CRYPTO_HASH_SHA384; return 0;
		case 0x04: out->hash = CRYPTO_HASH_SHA512; return 0;
		default: return -ENOTSUP;
		}
	}
	if (oid_is(&oid, oid_ed25519, sizeof(oid_ed25519), 0)) {
		out->scheme = CRYPTO_SIG_ED25519;
		out->hash = CRYPTO_HASH_SHA512; /* ignored by Ed25519 */
		return 0;
	}
	return -ENOTSUP;
}

int ike_auth_verify_sig(struct ike_sa *sa, const struct crypto_cert *cert,
			const struct ike_auth *auth, const uint8_t *octets,
			size_t octets_len)
{
	const struct crypto_pubkey *pk;
	struct sig_alg alg;
	const uint8_t *sig = auth->data;
	size_t sig_len = auth->len;
	int err;

	(void)sa;
	if (!cert)
		return -EINVAL;
	pk = crypto_cert_pubkey(cert);
	switch (auth->method) {
	case IKE_AUTH_RSA_SIG:
		alg = (struct sig_alg){CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA1};
		break;
	case IKE_AUTH_ECDSA_SHA256_P256:
		alg = (struct sig_alg){CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA256};
		break;
	case IKE_AUTH_ECDSA_SHA384_P384:
		alg = (struct sig_alg){CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA384};
		break;
	case IKE_AUTH_ECDSA_SHA512_P521:
		alg = (struct sig_alg){CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA512};
		break;
	case IKE_AUTH_DIGITAL_SIG: {
		size_t alen;

		if (auth->len < 1 || (alen = auth->data[0]) + 1 > auth->len) {
			vlog_warn(IKE_LOG, "AUTH method 14: AlgorithmIdentifier length beyond the payload");
			return -EBADMSG;
		}
		err = parse_algid(auth->data + 1, alen, &alg);
		if (err) {
			vlog_warn(IKE_LOG, "AUTH method 14: signature algorithm not supported");
			return err;
		}
		sig = auth->data + 1 + alen;
		sig_len = auth->len - 1 - alen;
		break;
	}
	default:
		vlog_warn(IKE_LOG, "AUTH method %u not supported", auth->method);
		return -ENOTSUP;
	}
	err = crypto_verify(pk, alg.scheme, alg.hash, octets, octets_len, sig, sig_len);
	if (err)
		vlog_warn(IKE_LOG, "AUTH signature (method %u) does not verify: %d",
			  auth->method, err);
	return err;
}

static bool peer_takes(const struct ike_sa *sa, uint16_t h)
{
	size_t i;

	for (i = 0; i < sa->n_peer_hash_algs; i++)
		if (sa->peer_hash_algs[i] == h)
			return true;
	return false;
}

int ike_auth_sign(struct ike_sa *sa, const uint8_t *octets, size_t octets_len,
		  uint8_t *method, uint8_t *out, size_t *out_len)
{
	const struct crypto_privkey *k = sa->cfg.key;
	enum crypto_key_type kt;
	const uint8_t *algid = NULL;
	size_t algid_len = 0, sig_len;
	struct sig_alg alg;
	bool rfc7427 = sa->n_peer_hash_algs > 0;
	int err;

	if (!k)
		return -EINVAL;
	kt = crypto_privkey_type(k);
	switch (kt) {
	case CRYPTO_KEY_RSA:
		/* RFC 7427 4: a hash the gateway announced, else the classic
		 * method (SHA-1), which needs no announcement. */
		if (rfc7427 && peer_takes(sa, IKE_HASH_SHA2_256)) {
			alg = (struct sig_alg){CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA256};
			algid = alg_rsa_sha256, algid_len = sizeof(alg_rsa_sha256);
		} else if (rfc7427 && peer_takes(sa, IKE_HASH_SHA2_384)) {
			alg = (struct sig_alg){CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA384};
			algid = alg_rsa_sha384, algid_len = sizeof(alg_rsa_sha384);
		} else if (rfc7427 && peer_takes(sa, IKE_HASH_SHA2_512)) {
			alg = (struct sig_alg){CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA512};
			algid = alg_rsa_sha512, algid_len = sizeof(alg_rsa_sha512);
		} else {
			rfc7427 = false;
			alg = (struct sig_alg){CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA1};
			*method = IKE_AUTH_RSA_SIG;
		}
		break;
	case CRYPTO_KEY_EC_P256:
		alg = (struct sig_alg){rfc7427 ? CRYPTO_SIG_ECDSA_DER : CRYPTO_SIG_ECDSA_RAW,
				       CRYPTO_HASH_SHA256};
		algid = alg_ecdsa_sha256, algid_len = sizeof(alg_ecdsa_sha256);
		*method = IKE_AUTH_ECDSA_SHA256_P256;
		break;
	case CRYPTO_KEY_EC_P384:
		alg = (struct sig_alg){rfc7427 ? CRYPTO_SIG_ECDSA_DER : CRYPTO_SIG_ECDSA_RAW,
				       CRYPTO_HASH_SHA384};
		algid = alg_ecdsa_sha384, algid_len = sizeof(alg_ecdsa_sha384);
		*method = IKE_AUTH_ECDSA_SHA384_P384;
		break;
	case CRYPTO_KEY_EC_P521:
		alg = (struct sig_alg){rfc7427 ? CRYPTO_SIG_ECDSA_DER : CRYPTO_SIG_ECDSA_RAW,
				       CRYPTO_HASH_SHA512};
		algid = alg_ecdsa_sha512, algid_len = sizeof(alg_ecdsa_sha512);
		*method = IKE_AUTH_ECDSA_SHA512_P521;
		break;
	case CRYPTO_KEY_ED25519:
		if (!rfc7427)
			return -ENOTSUP; /* Ed25519 exists only as RFC 7427/8420 */
		alg = (struct sig_alg){CRYPTO_SIG_ED25519, CRYPTO_HASH_SHA512};
		algid = alg_ed25519, algid_len = sizeof(alg_ed25519);
		break;
	default:
		return -ENOTSUP;
	}
	/* ECDSA takes any hash: when the gateway did not announce the
	 * curve's own, one it did announce (RFC 7427 4). */
	if (rfc7427 && alg.scheme == CRYPTO_SIG_ECDSA_DER &&
	    !peer_takes(sa, alg.hash == CRYPTO_HASH_SHA256   ? IKE_HASH_SHA2_256
			    : alg.hash == CRYPTO_HASH_SHA384 ? IKE_HASH_SHA2_384
							     : IKE_HASH_SHA2_512)) {
		if (peer_takes(sa, IKE_HASH_SHA2_256)) {
			alg.hash = CRYPTO_HASH_SHA256;
			algid = alg_ecdsa_sha256, algid_len = sizeof(alg_ecdsa_sha256);
		} else if (peer_takes(sa, IKE_HASH_SHA2_384)) {
			alg.hash = CRYPTO_HASH_SHA384;
			algid = alg_ecdsa_sha384, algid_len = sizeof(alg_ecdsa_sha384);
		} else if (peer_takes(sa, IKE_HASH_SHA2_512)) {
			alg.hash = CRYPTO_HASH_SHA512;
			algid = alg_ecdsa_sha512, algid_len = sizeof(alg_ecdsa_sha512);
		}
	}
	if (rfc7427 && algid) {
		*method = IKE_AUTH_DIGITAL_SIG;
		if (*out_len < 1 + algid_len)
			return -ENOSPC;
		out[0] = (uint8_t)algid_len;
		memcpy(out + 1, algid, algid_len);
		sig_len = *out_len - 1 - algid_len;
		err = crypto_sign(k, alg.scheme, alg.hash, octets, octets_len,
				  out + 1 + algid_len, &sig_len);
		if (!err)
			*out_len = 1 + algid_len + sig_len;
		return err;
	}
	sig_len = *out_len;
	err = crypto_sign(k, alg.scheme, alg.hash, octets, octets_len, out, &sig_len);
	if (!err)
		*out_len = sig_len;
	return err;
}
