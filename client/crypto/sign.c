/* Signatures for IKEv2 AUTH: RSASSA-PKCS1-v1_5 and RSASSA-PSS (RFC 7427),
 * ECDSA as raw r || s (RFC 4754) or DER (RFC 7427), and Ed25519 (RFC 8420). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/rsa.h>

#include "client/crypto/internal.h"
#include "client/crypto/pki_internal.h"
#include "client/util/log.h"

/* Bytes of one ECDSA integer for the key's curve (r and s of RFC 4754). */
static size_t ec_scalar_len(const EVP_PKEY *pkey)
{
	const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pkey);

	if (!ec)
		return 0;
	return (EC_GROUP_order_bits(EC_KEY_get0_group(ec)) + 7) / 8;
}

/* Does the scheme fit the key? */
static int scheme_fits(const EVP_PKEY *pkey, enum crypto_sig_scheme s)
{
	switch (crypto_pkey_type(pkey)) {
	case CRYPTO_KEY_RSA:
		return s == CRYPTO_SIG_RSA_PKCS1 || s == CRYPTO_SIG_RSA_PSS;
	case CRYPTO_KEY_EC_P256:
	case CRYPTO_KEY_EC_P384:
	case CRYPTO_KEY_EC_P521:
		return s == CRYPTO_SIG_ECDSA_RAW || s == CRYPTO_SIG_ECDSA_DER;
	case CRYPTO_KEY_ED25519:
		return s == CRYPTO_SIG_ED25519;
	default:
		return 0;
	}
}

/* Prepares ctx for signing or verifying with the scheme's padding. */
static int sig_ctx_init(EVP_MD_CTX *ctx, EVP_PKEY *pkey, enum crypto_sig_scheme s,
			enum crypto_hash h, int sign)
{
	const EVP_MD *md = s == CRYPTO_SIG_ED25519 ? NULL : crypto_evp_md(h);
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (s != CRYPTO_SIG_ED25519 && !md)
		return -EINVAL;
	ok = sign ? EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey)
		  : EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey);
	if (!ok)
		return -EINVAL;
	if (s == CRYPTO_SIG_RSA_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
	else if (s == CRYPTO_SIG_RSA_PSS)
		/* RFC 7427 / RFC 8247: MGF1 with the message hash, salt as long
		 * as the hash (-1 means exactly that). */
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, -1);
	return ok ? 0 : -EINVAL;
}

size_t crypto_sign_max_len(const struct crypto_privkey *k)
{
	if (!k)
		return 0;
	/* For ECDSA the DER form is the longer one (r || s plus headers). */
	return EVP_PKEY_size(k->pkey);
}

/* DER ECDSA-Sig-Value -> r || s, each padded to the curve size. */
static int ecdsa_der_to_raw(const EVP_PKEY *pkey, const uint8_t *der, size_t der_len,
			    uint8_t *out, size_t *out_len)
{
	size_t n = ec_scalar_len(pkey);
	ECDSA_SIG *sig = ECDSA_SIG_from_bytes(der, der_len);
	const BIGNUM *r, *s;
	int err = 0;

	if (!sig || !n)
		err = -EINVAL;
	else if (*out_len < 2 * n)
		err = -ENOSPC;
	if (!err) {
		ECDSA_SIG_get0(sig, &r, &s);
		if (!BN_bn2bin_padded(out, n, r) || !BN_bn2bin_padded(out + n, n, s))
			err = -EINVAL;
		else
			*out_len = 2 * n;
	}
	ECDSA_SIG_free(sig);
	return err;
}

int crypto_sign(const struct crypto_privkey *k, enum crypto_sig_scheme s,
		enum crypto_hash h, const uint8_t *data, size_t len, uint8_t *sig,
		size_t *sig_len)
{
	size_t max, got;
	uint8_t *buf;
	EVP_MD_CTX ctx;
	int err;

	if (!k || (!data && len) || !sig || !sig_len)
		return -EINVAL;
	if (!scheme_fits(k->pkey, s)) {
		vlog_warn(CRYPTO_LOG, "signature scheme %d does not fit a key of "
			  "type %d", (int)s, (int)crypto_pkey_type(k->pkey));
		return -EINVAL;
	}
	max = EVP_PKEY_size(k->pkey);
	buf = malloc(max);
	if (!buf)
		return -ENOMEM;
	EVP_MD_CTX_init(&ctx);
	err = sig_ctx_init(&ctx, k->pkey, s, h, 1);
	got = max;
	if (!err && !EVP_DigestSign(&ctx, buf, &got, data, len))
		err = -EINVAL;
	EVP_MD_CTX_cleanup(&ctx);
	if (!err) {
		if (s == CRYPTO_SIG_ECDSA_RAW) {
			err = ecdsa_der_to_raw(k->pkey, buf, got, sig, sig_len);
		} else if (got > *sig_len) {
			err = -ENOSPC;
		} else {
			memcpy(sig, buf, got);
			*sig_len = got;
		}
	}
	free(buf);
	if (err)
		crypto_clear_errors();
	return err;
}

/* r || s -> DER, so one EVP verify path serves both ECDSA encodings. */
static int ecdsa_raw_to_der(const EVP_PKEY *pkey, const uint8_t *raw, size_t raw_len,
			    uint8_t **der, size_t *der_len)
{
	size_t n = ec_scalar_len(pkey);
	ECDSA_SIG *sig;
	BIGNUM *r, *s;

	if (!n || raw_len != 2 * n)
		return -EBADMSG;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, n, NULL);
	s = BN_bin2bn(raw + n, n, NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return -ENOMEM;
	}
	if (!ECDSA_SIG_to_bytes(der, der_len, sig)) {
		ECDSA_SIG_free(sig);
		return -ENOMEM;
	}
	ECDSA_SIG_free(sig);
	return 0;
}

int crypto_verify(const struct crypto_pubkey *k, enum crypto_sig_scheme s,
		  enum crypto_hash h, const uint8_t *data, size_t len,
		  const uint8_t *sig, size_t sig_len)
{
	uint8_t *der = NULL;
	EVP_MD_CTX ctx;
	int err;

	if (!k || (!data && len) || !sig || !sig_len)
		return -EINVAL;
	if (!scheme_fits(k->pkey, s))
		return -EINVAL;
	if (s == CRYPTO_SIG_ECDSA_RAW) {
		err = ecdsa_raw_to_der(k->pkey, sig, sig_len, &der, &sig_len);
		if (err)
			return err;
		sig = der;
	}
	EVP_MD_CTX_init(&ctx);
	err = sig_ctx_init(&ctx, k->pkey, s, h, 0);
	if (!err && EVP_DigestVerify(&ctx, sig, sig_len, data, len) != 1)
		err = -EBADMSG;
	EVP_MD_CTX_cleanup(&ctx);
	OPENSSL_free(der);
	crypto_clear_errors();
	return err;
}
