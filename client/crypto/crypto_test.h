/* Test-only entry points of client/crypto. Not part of the public API: only
 * unit tests include this. They exist so known-answer vectors that fix the
 * private value (RFC 5903 section 8, RFC 7748 section 6.1) can be checked. */
#ifndef VPN_CRYPTO_TEST_H
#define VPN_CRYPTO_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "client/crypto/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Like crypto_dh_new, with a given private value: the MODP exponent or ECP
 * scalar big-endian, the X25519 scalar as its 32 raw bytes. */
int crypto_dh_new_from_private(int group, const uint8_t *priv, size_t priv_len,
			       struct crypto_dh **out);

#ifdef __cplusplus
}
#endif
#endif
