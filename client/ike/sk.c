/* Protection of the Encrypted (SK) and Encrypted Fragment (SKF) payloads:
 * RFC 7296 3.14 (AES-CBC + HMAC), RFC 5282 (AES-GCM), RFC 7634 (ChaCha20-
 * Poly1305). The layout is described in sk.h. */
#include <errno.h>
#include <string.h>

#include "client/ike/sk.h"
#include "client/util/log.h"

#define SK_LOG "ike"
#define SK_IV_MAX 16

/* Padding so that inner | padding | pad length fills whole blocks. */
static size_t min_pad(size_t block, size_t inner_len)
{
	return (block - (inner_len + 1) % block) % block;
}

size_t ike_sk_overhead(const struct crypto_cipher *c, size_t inner_len)
{
	if (!c)
		return 0;
	return crypto_cipher_iv_len(c) +
	       min_pad(crypto_cipher_block_len(c), inner_len) + 1 +
	       crypto_cipher_icv_len(c);
}

int ike_sk_seal(const struct crypto_cipher *c, uint8_t *buf, size_t cap,
		size_t aad_len, size_t inner_len, const uint8_t *iv, int pad_len,
		size_t *out_len)
{
	size_t iv_len, icv_len, block, pad, enc_len, total;
	uint8_t *ivp, *enc;
	int err;

	if (!c || !buf || !out_len)
		return -EINVAL;
	iv_len = crypto_cipher_iv_len(c);
	icv_len = crypto_cipher_icv_len(c);
	block = crypto_cipher_block_len(c);
	if (pad_len < 0) {
		pad = min_pad(block, inner_len);
	} else {
		/* A pad length byte holds 0..255 and must complete a block. */
		pad = (size_t)pad_len;
		if (pad > 255 || (inner_len + pad + 1) % block)
			return -EINVAL;
	}
	enc_len = inner_len + pad + 1;
	if (aad_len > cap || iv_len > cap - aad_len ||
	    enc_len > cap - aad_len - iv_len ||
	    icv_len > cap - aad_len - iv_len - enc_len)
		return -ENOSPC;
	total = aad_len + iv_len + enc_len + icv_len;

	ivp = buf + aad_len;
	enc = ivp + iv_len;
	if (iv) {
		memmove(ivp, iv, iv_len);
	} else {
		/* CBC needs an unpredictable IV; for the AEADs 64 random bits
		 * keep repeats out of reach for the few messages an IKE SA
		 * carries. */
		err = crypto_random(ivp, iv_len);
		if (err)
			return err;
	}
	/* RFC 7296 3.14: padding may hold any value; zeros leak nothing. */
	memset(enc + inner_len, 0, pad);
	enc[inner_len + pad] = (uint8_t)pad;
	err = crypto_cipher_seal(c, buf, aad_len, ivp, enc, enc_len, enc + enc_len,
				 NULL, 0);
	if (err)
		return err;
	*out_len = total;
	return 0;
}

int ike_sk_open(const struct crypto_cipher *c, const uint8_t *aad,
		size_t aad_len, uint8_t *body, size_t body_len, uint8_t **inner,
		size_t *inner_len, size_t *pad_len)
{
	size_t iv_len, icv_len, block, enc_len;
	uint8_t iv[SK_IV_MAX];
	uint8_t *enc, pad;
	int err;

	if (!c || (!aad && aad_len) || !body || !inner || !inner_len)
		return -EINVAL;
	iv_len = crypto_cipher_iv_len(c);
	icv_len = crypto_cipher_icv_len(c);
	block = crypto_cipher_block_len(c);
	if (iv_len > sizeof(iv) || body_len < iv_len + icv_len + 1) {
		vlog_info(SK_LOG, "encrypted payload too short (%zu bytes)", body_len);
		return -EINVAL;
	}
	enc_len = body_len - iv_len - icv_len;
	if (enc_len % block) {
		vlog_info(SK_LOG, "encrypted payload is not a whole number of "
			  "%zu-byte blocks", block);
		return -EINVAL;
	}
	/* The IV is read from the buffer we decrypt in place: keep a copy. */
	memcpy(iv, body, iv_len);
	enc = body + iv_len;
	err = crypto_cipher_open(c, aad, aad_len, iv, enc, enc_len, enc + enc_len,
				 NULL, 0);
	if (err) {
		vlog_info(SK_LOG, "encrypted payload does not verify (ICV), dropped");
		return err == -EBADMSG ? -EBADMSG : err;
	}
	pad = enc[enc_len - 1];
	if ((size_t)pad + 1 > enc_len) {
		/* Authentic but malformed: the peer's bug, not an attacker's. */
		vlog_warn(SK_LOG, "encrypted payload: pad length %u exceeds the "
			  "%zu decrypted bytes", pad, enc_len);
		crypto_wipe(enc, enc_len);
		return -EBADMSG;
	}
	*inner = enc;
	*inner_len = enc_len - pad - 1;
	if (pad_len)
		*pad_len = pad;
	return 0;
}
