/* The IKEv2 PRFs (HMAC-SHA1/SHA2, RFC 7296 3.3.2, RFC 4868) and prf+
 * (RFC 7296 2.13). Used at SA setup only, so an HMAC_CTX on the stack per call
 * is fine here; the per-packet HMAC lives in cipher.c. */
#include <errno.h>
#include <string.h>

#include <openssl/hmac.h>

#include "client/crypto/internal.h"

const EVP_MD *crypto_prf_md(enum crypto_prf prf)
{
	switch (prf) {
	case CRYPTO_PRF_HMAC_SHA1:
		return EVP_sha1();
	case CRYPTO_PRF_HMAC_SHA2_256:
		return EVP_sha256();
	case CRYPTO_PRF_HMAC_SHA2_384:
		return EVP_sha384();
	case CRYPTO_PRF_HMAC_SHA2_512:
		return EVP_sha512();
	}
	return NULL;
}

size_t crypto_prf_len(enum crypto_prf prf)
{
	const EVP_MD *md = crypto_prf_md(prf);

	return md ? EVP_MD_size(md) : 0;
}

static int hmac_update_iov(HMAC_CTX *ctx, const struct crypto_iov *iov, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (iov[i].len && !HMAC_Update(ctx, iov[i].p, iov[i].len))
			return 0;
	return 1;
}

int crypto_prf(enum crypto_prf prf, const uint8_t *key, size_t key_len,
	       const struct crypto_iov *data, size_t ndata, uint8_t *out)
{
	const EVP_MD *md = crypto_prf_md(prf);
	HMAC_CTX ctx;
	int ok;

	if (!md || !out || (key_len && !key) || (ndata && !data))
		return -EINVAL;
	HMAC_CTX_init(&ctx);
	ok = HMAC_Init_ex(&ctx, key, key_len, md, NULL) &&
	     hmac_update_iov(&ctx, data, ndata) && HMAC_Final(&ctx, out, NULL);
	HMAC_CTX_cleanup(&ctx); /* wipes the keyed pads */
	if (!ok) {
		crypto_clear_errors();
		return -ENOMEM;
	}
	return 0;
}

int crypto_prf_plus(enum crypto_prf prf, const uint8_t *key, size_t key_len,
		    const struct crypto_iov *seed, size_t nseed, uint8_t *out,
		    size_t out_len)
{
	const EVP_MD *md = crypto_prf_md(prf);
	uint8_t t[CRYPTO_PRF_MAX_LEN];
	size_t hlen, done = 0, t_len = 0;
	HMAC_CTX ctx;
	int ok = 1;

	if (!md || (!out && out_len) || (key_len && !key) || (nseed && !seed))
		return -EINVAL;
	hlen = EVP_MD_size(md);
	/* The counter is one octet: T255 is the last block there is. */
	if (out_len > 255 * hlen)
		return -EINVAL;

	HMAC_CTX_init(&ctx);
	if (!HMAC_Init_ex(&ctx, key, key_len, md, NULL))
		ok = 0;
	for (unsigned n = 1; ok && done < out_len; n++) {
		uint8_t counter = (uint8_t)n;
		size_t take;

		/* Tn = prf(K, Tn-1 | S | n): re-init with a NULL key keeps the
		 * prepared key schedule. */
		ok = (n == 1 || HMAC_Init_ex(&ctx, NULL, 0, NULL, NULL)) &&
		     (!t_len || HMAC_Update(&ctx, t, t_len)) &&
		     hmac_update_iov(&ctx, seed, nseed) &&
		     HMAC_Update(&ctx, &counter, 1) && HMAC_Final(&ctx, t, NULL);
		if (!ok)
			break;
		t_len = hlen;
		take = out_len - done < hlen ? out_len - done : hlen;
		memcpy(out + done, t, take);
		done += take;
	}
	HMAC_CTX_cleanup(&ctx);
	crypto_wipe(t, sizeof(t));
	if (!ok) {
		crypto_wipe(out, out_len);
		crypto_clear_errors();
		return -ENOMEM;
	}
	return 0;
}
