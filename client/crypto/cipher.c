/* Ciphers for the SK payload and ESP: AES-GCM-16 (RFC 4106 / RFC 5282),
 * ChaCha20-Poly1305 (RFC 7634) and AES-CBC with HMAC-SHA2 (RFC 3602,
 * RFC 4868).
 *
 * seal/open run once per packet: every key schedule is prepared in
 * crypto_cipher_new, the handle is only read afterwards (so several threads
 * may share it), and nothing is allocated. The AEADs keep their expanded key
 * inside EVP_AEAD_CTX (BoringSSL documents seal/open as safe to call
 * concurrently); HMAC keeps the SHA-2 states after the ipad/opad blocks and
 * each call works on a stack copy of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/sha.h>

#include "client/crypto/internal.h"
#include "client/util/log.h"

#define AEAD_SALT_LEN 4
#define AEAD_IV_LEN 8
#define AEAD_TAG_LEN 16
#define CBC_IV_LEN 16
#define HMAC_MAX_BLOCK 128

/* HMAC (RFC 2104) with the key absorbed once: the states after hashing
 * K ^ ipad and K ^ opad. */
struct hmac_state {
	enum crypto_integ integ;
	union {
		SHA256_CTX s256;
		SHA512_CTX s512; /* SHA-384 uses it too */
	} inner, outer;
};

struct crypto_cipher {
	enum crypto_encr encr;
	enum crypto_integ integ;
	unsigned key_bits;
	size_t iv_len, icv_len, block_len;
	/* AEADs */
	EVP_AEAD_CTX aead;
	int aead_ready;
	uint8_t salt[AEAD_SALT_LEN];
	/* AES-CBC + HMAC */
	AES_KEY enc, dec;
	struct hmac_state mac;
};

int crypto_encr_is_aead(enum crypto_encr e)
{
	return e == CRYPTO_ENCR_AES_GCM_16 || e == CRYPTO_ENCR_CHACHA20_POLY1305;
}

size_t crypto_encr_keymat_len(enum crypto_encr e, unsigned key_bits)
{
	switch (e) {
	case CRYPTO_ENCR_AES_CBC:
		if (key_bits == 128 || key_bits == 192 || key_bits == 256)
			return key_bits / 8;
		return 0;
	case CRYPTO_ENCR_AES_GCM_16:
		if (key_bits == 128 || key_bits == 256)
			return key_bits / 8 + AEAD_SALT_LEN;
		return 0;
	case CRYPTO_ENCR_CHACHA20_POLY1305:
		/* RFC 7634 section 4: a 256-bit key and no key-length attribute;
		 * the IKE layer passes 256. */
		return key_bits == 256 ? 32 + AEAD_SALT_LEN : 0;
	}
	return 0;
}

size_t crypto_integ_key_len(enum crypto_integ i)
{
	switch (i) {
	case CRYPTO_INTEG_NONE:
		return 0;
	case CRYPTO_INTEG_HMAC_SHA2_256_128:
		return 32;
	case CRYPTO_INTEG_HMAC_SHA2_384_192:
		return 48;
	case CRYPTO_INTEG_HMAC_SHA2_512_256:
		return 64;
	}
	return 0;
}

/* Truncated ICV lengths, RFC 4868 section 2.3. */
static size_t integ_icv_len(enum crypto_integ i)
{
	return crypto_integ_key_len(i) / 2;
}

static void hmac_prepare(struct hmac_state *st, enum crypto_integ integ,
			 const uint8_t *key, size_t key_len)
{
	uint8_t pad[HMAC_MAX_BLOCK];
	size_t block = integ == CRYPTO_INTEG_HMAC_SHA2_256_128 ? 64 : 128;

	/* Every RFC 4868 key is shorter than the block: no pre-hashing. */
	st->integ = integ;
	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, key_len);
	for (size_t i = 0; i < block; i++)
		pad[i] ^= 0x36;
	switch (integ) {
	case CRYPTO_INTEG_HMAC_SHA2_256_128:
		SHA256_Init(&st->inner.s256);
		SHA256_Update(&st->inner.s256, pad, block);
		break;
	case CRYPTO_INTEG_HMAC_SHA2_384_192:
		SHA384_Init(&st->inner.s512);
		SHA384_Update(&st->inner.s512, pad, block);
		break;
	default:
		SHA512_Init(&st->inner.s512);
		SHA512_Update(&st->inner.s512, pad, block);
		break;
	}
	for (size_t i = 0; i < block; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	switch (integ) {
	case CRYPTO_INTEG_HMAC_SHA2_256_128:
		SHA256_Init(&st->outer.s256);
		SHA256_Update(&st->outer.s256, pad, block);
		break;
	case CRYPTO_INTEG_HMAC_SHA2_384_192:
		SHA384_Init(&st->outer.s512);
		SHA384_Update(&st->outer.s512, pad, block);
		break;
	default:
		SHA512_Init(&st->outer.s512);
		SHA512_Update(&st->outer.s512, pad, block);
		break;
	}
	crypto_wipe(pad, sizeof(pad));
}

/* Full (untruncated) HMAC over the concatenation of up to four pieces. */
static void hmac_compute(const struct hmac_state *st, const struct crypto_iov *in,
			 size_t n, uint8_t out[SHA512_DIGEST_LENGTH])
{
	uint8_t ih[SHA512_DIGEST_LENGTH];

	if (st->integ == CRYPTO_INTEG_HMAC_SHA2_256_128) {
		SHA256_CTX c = st->inner.s256;

		for (size_t i = 0; i < n; i++)
			SHA256_Update(&c, in[i].p, in[i].len);
		SHA256_Final(ih, &c);
		c = st->outer.s256;
		SHA256_Update(&c, ih, SHA256_DIGEST_LENGTH);
		SHA256_Final(out, &c);
		crypto_wipe(&c, sizeof(c));
	} else if (st->integ == CRYPTO_INTEG_HMAC_SHA2_384_192) {
		SHA512_CTX c = st->inner.s512;

		for (size_t i = 0; i < n; i++)
			SHA384_Update(&c, in[i].p, in[i].len);
		SHA384_Final(ih, &c);
		c = st->outer.s512;
		SHA384_Update(&c, ih, SHA384_DIGEST_LENGTH);
		SHA384_Final(out, &c);
		crypto_wipe(&c, sizeof(c));
	} else {
		SHA512_CTX c = st->inner.s512;

		for (size_t i = 0; i < n; i++)
			SHA512_Update(&c, in[i].p, in[i].len);
		SHA512_Final(ih, &c);
		c = st->outer.s512;
		SHA512_Update(&c, ih, SHA512_DIGEST_LENGTH);
		SHA512_Final(out, &c);
		crypto_wipe(&c, sizeof(c));
	}
	crypto_wipe(ih, sizeof(ih));
}

static const EVP_AEAD *aead_algorithm(enum crypto_encr e, unsigned key_bits)
{
	if (e == CRYPTO_ENCR_CHACHA20_POLY1305)
		return EVP_aead_chacha20_poly1305();
	return key_bits == 128 ? EVP_aead_aes_128_gcm() : EVP_aead_aes_256_gcm();
}

static int cipher_check_args(enum crypto_encr e, unsigned key_bits,
			     size_t keymat_len, enum crypto_integ i, size_t ikey_len)
{
	size_t want = crypto_encr_keymat_len(e, key_bits);

	if (!want) {
		vlog_warn(CRYPTO_LOG, "cipher %d with a %u-bit key is not offered",
			  (int)e, key_bits);
		return -ENOTSUP;
	}
	if (keymat_len != want)
		return -EINVAL;
	if (crypto_encr_is_aead(e))
		return i == CRYPTO_INTEG_NONE && ikey_len == 0 ? 0 : -EINVAL;
	/* CBC without integrity would be unauthenticated: never. */
	if (i == CRYPTO_INTEG_NONE || !crypto_integ_key_len(i))
		return -EINVAL;
	return ikey_len == crypto_integ_key_len(i) ? 0 : -EINVAL;
}

int crypto_cipher_new(enum crypto_encr e, unsigned key_bits,
		      const uint8_t *keymat, size_t keymat_len,
		      enum crypto_integ i, const uint8_t *ikey, size_t ikey_len,
		      struct crypto_cipher **out)
{
	struct crypto_cipher *c;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!keymat || (ikey_len && !ikey))
		return -EINVAL;
	err = cipher_check_args(e, key_bits, keymat_len, i, ikey_len);
	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->encr = e;
	c->integ = i;
	c->key_bits = key_bits;
	if (crypto_encr_is_aead(e)) {
		size_t klen = keymat_len - AEAD_SALT_LEN;

		c->iv_len = AEAD_IV_LEN;
		c->icv_len = AEAD_TAG_LEN;
		c->block_len = 1;
		memcpy(c->salt, keymat + klen, AEAD_SALT_LEN);
		if (!EVP_AEAD_CTX_init(&c->aead, aead_algorithm(e, key_bits), keymat,
				       klen, AEAD_TAG_LEN, NULL)) {
			crypto_clear_errors();
			crypto_cipher_free(c);
			return -ENOMEM;
		}
		c->aead_ready = 1;
	} else {
		c->iv_len = CBC_IV_LEN;
		c->icv_len = integ_icv_len(i);
		c->block_len = AES_BLOCK_SIZE;
		if (AES_set_encrypt_key(keymat, key_bits, &c->enc) ||
		    AES_set_decrypt_key(keymat, key_bits, &c->dec)) {
			crypto_cipher_free(c);
			return -EINVAL;
		}
		hmac_prepare(&c->mac, i, ikey, ikey_len);
	}
	*out = c;
	return 0;
}

void crypto_cipher_free(struct crypto_cipher *c)
{
	if (!c)
		return;
	if (c->aead_ready)
		EVP_AEAD_CTX_cleanup(&c->aead);
	crypto_wipe(c, sizeof(*c));
	free(c);
}

size_t crypto_cipher_iv_len(const struct crypto_cipher *c)
{
	return c ? c->iv_len : 0;
}

size_t crypto_cipher_icv_len(const struct crypto_cipher *c)
{
	return c ? c->icv_len : 0;
}

size_t crypto_cipher_block_len(const struct crypto_cipher *c)
{
	return c ? c->block_len : 0;
}

static void aead_nonce(const struct crypto_cipher *c, const uint8_t *iv,
		       uint8_t nonce[AEAD_SALT_LEN + AEAD_IV_LEN])
{
	/* RFC 4106 section 4 / RFC 7634 section 2: salt || explicit IV. */
	memcpy(nonce, c->salt, AEAD_SALT_LEN);
	memcpy(nonce + AEAD_SALT_LEN, iv, AEAD_IV_LEN);
}

static void cbc_mac(const struct crypto_cipher *c, const uint8_t *aad,
		    size_t aad_len, const uint8_t *iv, const uint8_t *data,
		    size_t len, const uint8_t *tail, size_t tail_len,
		    uint8_t out[SHA512_DIGEST_LENGTH])
{
	const struct crypto_iov in[4] = {
		{aad, aad_len}, {iv, CBC_IV_LEN}, {data, len}, {tail, tail_len},
	};

	hmac_compute(&c->mac, in, 4, out);
}

static int seal_open_args(const struct crypto_cipher *c, const uint8_t *aad,
			  size_t aad_len, const uint8_t *iv, const uint8_t *data,
			  size_t len, const uint8_t *icv, const uint8_t *tail,
			  size_t tail_len)
{
	if (!c || !iv || !icv || (len && !data) || (aad_len && !aad) ||
	    (tail_len && !tail))
		return -EINVAL;
	/* The ESN tail only exists for HMAC; AEADs carry it in the AAD. */
	if (c->aead_ready && tail_len)
		return -EINVAL;
	if (!c->aead_ready && len % AES_BLOCK_SIZE)
		return -EINVAL;
	return 0;
}

int crypto_cipher_seal(const struct crypto_cipher *c, const uint8_t *aad,
		       size_t aad_len, const uint8_t *iv, uint8_t *data,
		       size_t len, uint8_t *icv, const uint8_t *tail,
		       size_t tail_len)
{
	int err = seal_open_args(c, aad, aad_len, iv, data, len, icv, tail, tail_len);

	if (err)
		return err;
	if (c->aead_ready) {
		uint8_t nonce[AEAD_SALT_LEN + AEAD_IV_LEN];
		size_t tag_len;

		aead_nonce(c, iv, nonce);
		if (!EVP_AEAD_CTX_seal_scatter(&c->aead, data, icv, &tag_len,
					       AEAD_TAG_LEN, nonce, sizeof(nonce),
					       data, len, NULL, 0, aad, aad_len)) {
			crypto_clear_errors();
			return -EINVAL;
		}
		return 0;
	} else {
		uint8_t ivc[CBC_IV_LEN], mac[SHA512_DIGEST_LENGTH];

		memcpy(ivc, iv, CBC_IV_LEN); /* AES_cbc_encrypt advances it */
		AES_cbc_encrypt(data, data, len, &c->enc, ivc, AES_ENCRYPT);
		cbc_mac(c, aad, aad_len, iv, data, len, tail, tail_len, mac);
		memcpy(icv, mac, c->icv_len);
		crypto_wipe(mac, sizeof(mac));
		return 0;
	}
}

int crypto_cipher_open(const struct crypto_cipher *c, const uint8_t *aad,
		       size_t aad_len, const uint8_t *iv, uint8_t *data,
		       size_t len, const uint8_t *icv, const uint8_t *tail,
		       size_t tail_len)
{
	int err = seal_open_args(c, aad, aad_len, iv, data, len, icv, tail, tail_len);

	if (err)
		return err;
	if (c->aead_ready) {
		uint8_t nonce[AEAD_SALT_LEN + AEAD_IV_LEN];

		aead_nonce(c, iv, nonce);
		if (!EVP_AEAD_CTX_open_gather(&c->aead, data, nonce, sizeof(nonce),
					      data, len, icv, AEAD_TAG_LEN, aad,
					      aad_len)) {
			crypto_clear_errors();
			return -EBADMSG;
		}
		return 0;
	} else {
		uint8_t ivc[CBC_IV_LEN], mac[SHA512_DIGEST_LENGTH];
		int ok;

		/* Encrypt-then-MAC: authenticate before touching the data. */
		cbc_mac(c, aad, aad_len, iv, data, len, tail, tail_len, mac);
		ok = crypto_memeq(mac, icv, c->icv_len);
		crypto_wipe(mac, sizeof(mac));
		if (!ok)
			return -EBADMSG;
		memcpy(ivc, iv, CBC_IV_LEN);
		AES_cbc_encrypt(data, data, len, &c->dec, ivc, AES_DECRYPT);
		return 0;
	}
}
