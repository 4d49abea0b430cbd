/* Private to client/crypto: key handles shared by pki.c and sign.c. */
#ifndef VPN_CRYPTO_PKI_INTERNAL_H
#define VPN_CRYPTO_PKI_INTERNAL_H

#include <openssl/evp.h>

#include "client/crypto/crypto.h"

struct crypto_privkey {
	EVP_PKEY *pkey;
};

/* Lives inside its certificate (crypto_cert_pubkey borrows it). */
struct crypto_pubkey {
	EVP_PKEY *pkey;
};

enum crypto_key_type crypto_pkey_type(const EVP_PKEY *pkey);

#endif
