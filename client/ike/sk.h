/* Protection of the Encrypted payload (SK, RFC 7296 3.14) and the Encrypted
 * Fragment payload (SKF, RFC 7383 2.5), for every cipher of client/crypto.
 *
 * Layout of a protected message in memory:
 *
 *   [IKE header][unencrypted payloads][SK/SKF generic header (+ frag no/total)]
 *   \________________________ aad (aad_len bytes) ________________________/
 *   [IV][inner payloads][padding][pad length][ICV]
 *       \____________ encrypted ____________/
 *
 * For the AEADs (RFC 5282, RFC 7634) the associated data is the aad region;
 * for CBC+HMAC the ICV covers aad || IV || ciphertext. Either way the aad
 * holds the final message and payload lengths, so callers write them (with
 * ike_sk_overhead) before sealing. */
#ifndef VPN_IKE_SK_H
#define VPN_IKE_SK_H

#include <stddef.h>
#include <stdint.h>

#include "client/crypto/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes the protection adds to inner_len bytes of inner payloads with the
 * minimal padding: IV + padding + pad-length byte + ICV. */
size_t ike_sk_overhead(const struct crypto_cipher *c, size_t inner_len);

/* Seal in place. buf[0, aad_len) is already written; the inner payloads sit
 * at buf + aad_len + iv_len (inner_len bytes). Writes the IV, the padding and
 * pad length, encrypts, appends the ICV and sets *out_len to the message's
 * total length. iv == NULL picks a fresh IV; pad_len < 0 picks the minimal
 * padding. Tests that re-encode captured messages pass the captured IV and
 * pad length to reproduce them byte for byte. A fresh IV comes from the
 * CSPRNG (unpredictable, as CBC needs; 64 random bits make an AEAD nonce
 * repeat out of reach for the messages one IKE SA carries). Padding bytes
 * are zero. -ENOSPC if cap is too small, -EINVAL if pad_len is over 255 or
 * does not complete the cipher's block. */
int ike_sk_seal(const struct crypto_cipher *c, uint8_t *buf, size_t cap,
		size_t aad_len, size_t inner_len, const uint8_t *iv, int pad_len,
		size_t *out_len);

/* Open in place. aad is the region before the payload's data; body is the
 * SK/SKF payload data (IV || ciphertext || ICV). On success *inner points into
 * body at the decrypted inner payloads, padding and pad length removed, and
 * *pad_len (if not NULL) tells how much padding there was.
 * -EBADMSG: the ICV does not verify or the pad length is impossible (the
 * body is then garbage: the AEADs zero it, a bad pad length wipes it);
 * -EINVAL: body shorter than IV + ICV + 1 or not a whole number of blocks.
 * Every refusal is logged. Padding contents are not checked (RFC 7296 3.14
 * lets the sender choose them). */
int ike_sk_open(const struct crypto_cipher *c, const uint8_t *aad,
		size_t aad_len, uint8_t *body, size_t body_len, uint8_t **inner,
		size_t *inner_len, size_t *pad_len);

#ifdef __cplusplus
}
#endif
#endif
