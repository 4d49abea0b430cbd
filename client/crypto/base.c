/* Basics of the crypto layer: init, wiping, constant-time compare, the CSPRNG
 * and plain hashes. */
#include <errno.h>
#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "client/crypto/internal.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_init_once(void)
{
	/* BoringSSL initialises itself lazily; calling this up front moves the
	 * CPU feature probe out of the first packet's path. */
	CRYPTO_library_init();
}

int crypto_init(void)
{
	pthread_once(&crypto_once, crypto_init_once);
	return 0;
}

void crypto_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

int crypto_memeq(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int crypto_random(void *buf, size_t len)
{
	if (!buf && len)
		return -EINVAL;
	/* BoringSSL's RAND_bytes aborts rather than return weak output. */
	RAND_bytes(buf, len);
	return 0;
}

void crypto_clear_errors(void)
{
	ERR_clear_error();
}

const EVP_MD *crypto_evp_md(enum crypto_hash h)
{
	switch (h) {
	case CRYPTO_HASH_SHA1:
		return EVP_sha1();
	case CRYPTO_HASH_SHA256:
		return EVP_sha256();
	case CRYPTO_HASH_SHA384:
		return EVP_sha384();
	case CRYPTO_HASH_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

size_t crypto_hash_len(enum crypto_hash h)
{
	const EVP_MD *md = crypto_evp_md(h);

	return md ? EVP_MD_size(md) : 0;
}

int crypto_hash(enum crypto_hash h, const struct crypto_iov *iov, size_t niov,
		uint8_t *out)
{
	const EVP_MD *md = crypto_evp_md(h);
	EVP_MD_CTX ctx;
	int ok;

	if (!md || !out || (niov && !iov))
		return -EINVAL;
	EVP_MD_CTX_init(&ctx);
	ok = EVP_DigestInit_ex(&ctx, md, NULL);
	for (size_t i = 0; ok && i < niov; i++)
		ok = EVP_DigestUpdate(&ctx, iov[i].p, iov[i].len);
	if (ok)
		ok = EVP_DigestFinal_ex(&ctx, out, NULL);
	EVP_MD_CTX_cleanup(&ctx);
	if (!ok) {
		crypto_clear_errors();
		return -ENOMEM;
	}
	return 0;
}
