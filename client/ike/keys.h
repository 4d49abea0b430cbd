/* The IKEv2 key schedule (RFC 7296 2.13, 2.14, 2.17, 2.18).
 *
 *   SKEYSEED         = prf(Ni | Nr, g^ir)
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *                    = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
 *   SKEYSEED (rekey) = prf_old(SK_d (old), g^ir (new) | Ni | Nr)
 *   KEYMAT (child)   = prf+(SK_d, [g^ir (new) |] Ni | Nr)
 *                      split as encr_i | integ_i | encr_r | integ_r
 *
 * Lengths: SK_d, SK_pi and SK_pr are the PRF's output length; SK_a* are the
 * integrity key length (0 with an AEAD); SK_e* are the encryption key
 * material, which for the AEADs includes the 4-byte salt. The nonces and SPIs
 * are used exactly as they appear on the wire (SPIi first whoever initiated
 * this exchange; for a rekeyed IKE SA the SPIs are the new ones).
 *
 * Every buffer holding a key is wiped by ike_keys_*_wipe and on every error
 * path. Functions return 0 or a negative errno. */
#ifndef VPN_IKE_KEYS_H
#define VPN_IKE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "client/crypto/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IKE_KEYS_SPI_LEN 8
/* Largest encryption key material: AES-256 or ChaCha20 key + 4-byte salt. */
#define IKE_KEYS_ENCR_MAX 36
/* Largest integrity key: HMAC-SHA2-512-256. */
#define IKE_KEYS_INTEG_MAX 64

/* The negotiated transforms, in this layer's terms (client/ike maps the
 * IKE transform IDs onto them). integ is CRYPTO_INTEG_NONE with an AEAD. */
struct ike_key_algs {
	enum crypto_prf prf;
	enum crypto_encr encr;
	unsigned encr_key_bits;
	enum crypto_integ integ;
};

/* The seven keys of an IKE SA. */
struct ike_sa_keys {
	struct ike_key_algs algs;
	size_t prf_len;   /* SK_d, SK_pi, SK_pr */
	size_t integ_len; /* SK_ai, SK_ar */
	size_t encr_len;  /* SK_ei, SK_er */
	uint8_t sk_d[CRYPTO_PRF_MAX_LEN];
	uint8_t sk_ai[IKE_KEYS_INTEG_MAX];
	uint8_t sk_ar[IKE_KEYS_INTEG_MAX];
	uint8_t sk_ei[IKE_KEYS_ENCR_MAX];
	uint8_t sk_er[IKE_KEYS_ENCR_MAX];
	uint8_t sk_pi[CRYPTO_PRF_MAX_LEN];
	uint8_t sk_pr[CRYPTO_PRF_MAX_LEN];
};

/* The keys of one Child SA (one protocol, ESP). _i keys protect traffic from
 * the initiator of the exchange that created it to the responder. */
struct ike_child_keys {
	struct ike_key_algs algs; /* prf unused */
	size_t encr_len, integ_len;
	uint8_t encr_i[IKE_KEYS_ENCR_MAX];
	uint8_t integ_i[IKE_KEYS_INTEG_MAX];
	uint8_t encr_r[IKE_KEYS_ENCR_MAX];
	uint8_t integ_r[IKE_KEYS_INTEG_MAX];
};

/* Checks the combination (AEAD without integ, CBC with one, known PRF). */
int ike_keys_algs_valid(const struct ike_key_algs *algs);

/* SKEYSEED = prf(Ni | Nr, g^ir); writes crypto_prf_len(prf) bytes. */
int ike_keys_skeyseed(enum crypto_prf prf, const uint8_t *ni, size_t ni_len,
		      const uint8_t *nr, size_t nr_len, const uint8_t *gir,
		      size_t gir_len, uint8_t *skeyseed);

/* SKEYSEED for a rekeyed IKE SA: prf(SK_d (old), g^ir (new) | Ni | Nr) with
 * the OLD IKE SA's PRF (RFC 7296 2.18); writes crypto_prf_len(old_prf) bytes. */
int ike_keys_skeyseed_rekey(enum crypto_prf old_prf, const uint8_t *old_sk_d,
			    size_t old_sk_d_len, const uint8_t *gir_new,
			    size_t gir_new_len, const uint8_t *ni, size_t ni_len,
			    const uint8_t *nr, size_t nr_len, uint8_t *skeyseed);

/* The raw key stream prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), out_len bytes
 * (the "DKM" of NIST SP 800-135). */
int ike_keys_sa_keymat(enum crypto_prf prf, const uint8_t *skeyseed,
		       size_t skeyseed_len, const uint8_t *ni, size_t ni_len,
		       const uint8_t *nr, size_t nr_len,
		       const uint8_t spi_i[IKE_KEYS_SPI_LEN],
		       const uint8_t spi_r[IKE_KEYS_SPI_LEN], uint8_t *out,
		       size_t out_len);

/* The seven keys of an IKE SA from SKEYSEED (new or rekey). */
int ike_keys_derive_sa(const struct ike_key_algs *algs, const uint8_t *skeyseed,
		       size_t skeyseed_len, const uint8_t *ni, size_t ni_len,
		       const uint8_t *nr, size_t nr_len,
		       const uint8_t spi_i[IKE_KEYS_SPI_LEN],
		       const uint8_t spi_r[IKE_KEYS_SPI_LEN], struct ike_sa_keys *out);

/* The raw Child SA key stream prf+(SK_d, [g^ir (new) |] Ni | Nr); gir_new
 * NULL (and 0) without PFS. */
int ike_keys_child_keymat(enum crypto_prf prf, const uint8_t *sk_d,
			  size_t sk_d_len, const uint8_t *gir_new,
			  size_t gir_new_len, const uint8_t *ni, size_t ni_len,
			  const uint8_t *nr, size_t nr_len, uint8_t *out,
			  size_t out_len);

/* The four keys of a Child SA, from the IKE SA's SK_d and PRF. child_algs
 * gives the Child SA's encr/integ (its prf field is ignored). */
int ike_keys_derive_child(const struct ike_sa_keys *ike,
			  const struct ike_key_algs *child_algs,
			  const uint8_t *gir_new, size_t gir_new_len,
			  const uint8_t *ni, size_t ni_len, const uint8_t *nr,
			  size_t nr_len, struct ike_child_keys *out);

/* The SK payload ciphers of an IKE SA, from our side's point of view:
 * `out` protects what we send (SK_ei/SK_ai if we are the original initiator
 * of this IKE SA), `in` what we receive. Free with crypto_cipher_free. */
int ike_keys_sa_ciphers(const struct ike_sa_keys *k, int we_are_initiator,
			struct crypto_cipher **out, struct crypto_cipher **in);

void ike_keys_sa_wipe(struct ike_sa_keys *k);
void ike_keys_child_wipe(struct ike_child_keys *k);

#ifdef __cplusplus
}
#endif
#endif
