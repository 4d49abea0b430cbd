/* Private to client/crypto: helpers shared by the .c files of this folder.
 * Never include from outside client/crypto (it pulls in BoringSSL). */
#ifndef VPN_CRYPTO_INTERNAL_H
#define VPN_CRYPTO_INTERNAL_H

#include <openssl/digest.h>

#include "client/crypto/crypto.h"

#define CRYPTO_LOG "crypto"

/* The EVP digest behind our hash enum, NULL if unknown. */
const EVP_MD *crypto_evp_md(enum crypto_hash h);
/* The digest an HMAC PRF runs on, NULL if unknown. */
const EVP_MD *crypto_prf_md(enum crypto_prf prf);
/* Forget whatever BoringSSL queued for this thread after a failure we report
 * ourselves, so a later, unrelated caller does not inherit stale errors. */
void crypto_clear_errors(void);

#endif
