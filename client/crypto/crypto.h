/* client/crypto: the only code that includes BoringSSL.
 *
 * Everything above this layer (IKE, ESP, EAP) sees these functions and opaque
 * handles only. Algorithms are named by this layer's own enums, not by IKE
 * transform numbers, so the layer knows nothing about IKE; client/ike maps
 * transform IDs onto these enums.
 *
 * Conventions: functions return 0 or a negative errno (-EINVAL for bad input,
 * -ENOTSUP for an algorithm we do not offer, -EBADMSG for an authentication
 * failure, -ENOMEM). Secrets held by handles are wiped when the handle is
 * freed and on every error path. Nothing here allocates per packet: seal/open
 * run on the data path. */
#ifndef VPN_CRYPTO_H
#define VPN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- basics ------------------------------------------------------------ */

/* Call once at start (idempotent, thread-safe): has BoringSSL probe the CPU
 * features now rather than on the first packet. Everything else here also
 * works without it. */
int crypto_init(void);
/* Overwrite memory in a way the compiler cannot drop. */
void crypto_wipe(void *p, size_t len);
/* Constant-time comparison: 1 when equal, 0 otherwise. */
int crypto_memeq(const void *a, const void *b, size_t len);
/* Fill from BoringSSL's CSPRNG. */
int crypto_random(void *buf, size_t len);

/* A piece of a scattered input (message parts that are not contiguous). */
struct crypto_iov {
	const void *p;
	size_t len;
};

/* ---- hashes ------------------------------------------------------------ */

enum crypto_hash {
	CRYPTO_HASH_SHA1, /* NAT detection (RFC 7296 2.23), MSCHAPv2 */
	CRYPTO_HASH_SHA256,
	CRYPTO_HASH_SHA384,
	CRYPTO_HASH_SHA512,
};
#define CRYPTO_HASH_MAX_LEN 64

size_t crypto_hash_len(enum crypto_hash h); /* 0 if unknown */
int crypto_hash(enum crypto_hash h, const struct crypto_iov *iov, size_t niov,
		uint8_t *out);

/* ---- PRF and prf+ (RFC 7296 2.13) --------------------------------------- */

enum crypto_prf {
	CRYPTO_PRF_HMAC_SHA1, /* legacy peers and test vectors only */
	CRYPTO_PRF_HMAC_SHA2_256,
	CRYPTO_PRF_HMAC_SHA2_384,
	CRYPTO_PRF_HMAC_SHA2_512,
};
#define CRYPTO_PRF_MAX_LEN 64

/* Output length, which is also the PRF's preferred key length. */
size_t crypto_prf_len(enum crypto_prf prf);
int crypto_prf(enum crypto_prf prf, const uint8_t *key, size_t key_len,
	       const struct crypto_iov *data, size_t ndata, uint8_t *out);
/* prf+ (RFC 7296 2.13): T1 | T2 | ... truncated to out_len; at most
 * 255 * prf_len bytes, else -EINVAL. */
int crypto_prf_plus(enum crypto_prf prf, const uint8_t *key, size_t key_len,
		    const struct crypto_iov *seed, size_t nseed, uint8_t *out,
		    size_t out_len);

/* ---- key exchange ------------------------------------------------------ */

/* Values are the IKEv2 group numbers on purpose: they are also the names
 * strongSwan and users know them by. */
enum crypto_dh_group {
	CRYPTO_DH_MODP2048 = 14,
	CRYPTO_DH_MODP3072 = 15,
	CRYPTO_DH_ECP256 = 19,
	CRYPTO_DH_ECP384 = 20,
	CRYPTO_DH_CURVE25519 = 31,
};

struct crypto_dh;

int crypto_dh_supported(int group);   /* 1 or 0 */
size_t crypto_dh_public_len(int group); /* KE payload data length, 0 if unknown */
size_t crypto_dh_shared_len(int group); /* g^ir length, 0 if unknown */
/* Generate a fresh private value for the group. */
int crypto_dh_new(int group, struct crypto_dh **out);
int crypto_dh_group(const struct crypto_dh *dh);
/* Our public value in KE payload encoding: MODP big-endian zero-padded to
 * the prime's length, ECP x || y (RFC 5903), Curve25519 the u-coordinate.
 * Writes crypto_dh_public_len bytes; -EINVAL if out_len is smaller. */
int crypto_dh_public(const struct crypto_dh *dh, uint8_t *out, size_t out_len);
/* Validate the peer's public value and compute g^ir into out
 * (crypto_dh_shared_len bytes: MODP zero-padded to the prime's length, ECP
 * the x coordinate). A value that fails validation (wrong length, MODP
 * 0/1/p-1 or >= p, ECP coordinates >= p or a point not on the curve, an
 * all-zero X25519 result) gives -EINVAL and a log line; out is then wiped.
 * Tests inject fixed private values through client/crypto/crypto_test.h. */
int crypto_dh_shared(const struct crypto_dh *dh, const uint8_t *peer,
		     size_t peer_len, uint8_t *out, size_t out_len);
void crypto_dh_free(struct crypto_dh *dh);

/* ---- ciphers for the SK payload and for ESP ------------------------------ */

enum crypto_encr {
	CRYPTO_ENCR_AES_CBC,
	CRYPTO_ENCR_AES_GCM_16,          /* RFC 4106 / RFC 5282 */
	CRYPTO_ENCR_CHACHA20_POLY1305,   /* RFC 7634 */
};
enum crypto_integ {
	CRYPTO_INTEG_NONE, /* with the AEADs */
	CRYPTO_INTEG_HMAC_SHA2_256_128,
	CRYPTO_INTEG_HMAC_SHA2_384_192,
	CRYPTO_INTEG_HMAC_SHA2_512_256,
};

/* Key material lengths as the key schedule must produce them: for the AEADs
 * the key plus the 4-byte salt (RFC 4106 / RFC 5282 / RFC 7634). 0 when the
 * combination is invalid. Offered: AES-CBC 128/192/256, AES-GCM-16 128/256,
 * ChaCha20-Poly1305 with key_bits 256 (it has no key-length attribute). */
size_t crypto_encr_keymat_len(enum crypto_encr e, unsigned key_bits);
size_t crypto_integ_key_len(enum crypto_integ i);
int crypto_encr_is_aead(enum crypto_encr e);

/* A keyed cipher suite for one direction of one SA. Created at SA setup;
 * seal/open are const, allocation-free and safe to call from several threads.
 * An AEAD takes CRYPTO_INTEG_NONE and no integrity key; AES-CBC requires an
 * integrity algorithm and its key (crypto_integ_key_len bytes). */
struct crypto_cipher;

int crypto_cipher_new(enum crypto_encr e, unsigned key_bits,
		      const uint8_t *keymat, size_t keymat_len,
		      enum crypto_integ i, const uint8_t *ikey, size_t ikey_len,
		      struct crypto_cipher **out);
void crypto_cipher_free(struct crypto_cipher *c);
size_t crypto_cipher_iv_len(const struct crypto_cipher *c);    /* 8 AEAD, 16 CBC */
size_t crypto_cipher_icv_len(const struct crypto_cipher *c);   /* 16 AEAD, 16/24/32 CBC */
size_t crypto_cipher_block_len(const struct crypto_cipher *c); /* 16 CBC, 1 AEAD */

/* Encrypt `data` in place and write the ICV.
 *   AEAD:      nonce = salt || iv; AD = aad; tag -> icv.
 *   CBC+HMAC:  data must be a multiple of 16; icv = trunc(HMAC(aad || iv ||
 *              ciphertext || tail)).
 * `tail` is only for ESP with extended sequence numbers and CBC+HMAC (the
 * high 32 bits appended to the MAC input, RFC 4303 2.2.1); pass NULL, 0
 * otherwise (an AEAD refuses a tail: its ESN goes into the AAD). The caller
 * chooses the IV (iv_len bytes): a counter is fine for the AEADs, CBC needs
 * an unpredictable one (crypto_random). -EINVAL for a CBC length that is not
 * a multiple of 16. */
int crypto_cipher_seal(const struct crypto_cipher *c, const uint8_t *aad,
		       size_t aad_len, const uint8_t *iv, uint8_t *data,
		       size_t len, uint8_t *icv, const uint8_t *tail,
		       size_t tail_len);
/* Verify the ICV, then decrypt in place. -EBADMSG when it does not verify;
 * the data must then be dropped: CBC leaves it undecrypted, the AEADs
 * (BoringSSL) overwrite it with zeros. */
int crypto_cipher_open(const struct crypto_cipher *c, const uint8_t *aad,
		       size_t aad_len, const uint8_t *iv, uint8_t *data,
		       size_t len, const uint8_t *icv, const uint8_t *tail,
		       size_t tail_len);

/* ---- keys, certificates, signatures ------------------------------------ */

struct crypto_privkey;
struct crypto_pubkey;
struct crypto_cert;
struct crypto_ca_store;

enum crypto_key_type {
	CRYPTO_KEY_RSA,
	CRYPTO_KEY_EC_P256,
	CRYPTO_KEY_EC_P384,
	CRYPTO_KEY_EC_P521,
	CRYPTO_KEY_ED25519,
	CRYPTO_KEY_OTHER,
};

enum crypto_sig_scheme {
	CRYPTO_SIG_RSA_PKCS1,  /* RSASSA-PKCS1-v1_5 */
	CRYPTO_SIG_RSA_PSS,    /* RSASSA-PSS, MGF1 with the same hash, salt = hash length */
	CRYPTO_SIG_ECDSA_RAW,  /* r || s, each padded to the curve size (RFC 4754) */
	CRYPTO_SIG_ECDSA_DER,  /* ECDSA-Sig-Value (RFC 7427) */
	CRYPTO_SIG_ED25519,    /* RFC 8420; the hash argument is ignored */
};

/* PEM private key (PKCS#8, traditional RSA or EC). Errors: -ENOENT, -EACCES,
 * -EINVAL (not a key we understand). */
int crypto_privkey_load_pem(const char *path, struct crypto_privkey **out);
void crypto_privkey_free(struct crypto_privkey *k);
enum crypto_key_type crypto_privkey_type(const struct crypto_privkey *k);

int crypto_cert_from_der(const uint8_t *der, size_t len, struct crypto_cert **out);
/* First certificate of a PEM file. */
int crypto_cert_load_pem(const char *path, struct crypto_cert **out);
void crypto_cert_free(struct crypto_cert *c);
/* Borrowed pointer to the DER encoding (valid while the cert lives). */
int crypto_cert_der(const struct crypto_cert *c, const uint8_t **der, size_t *len);
/* The subject Name, DER-encoded (for ID_DER_ASN1_DN). */
int crypto_cert_subject_der(const struct crypto_cert *c, uint8_t *out, size_t cap,
			    size_t *len);
/* One-line subject for logs, e.g. "C=CH, O=lab, CN=gw.lab". */
int crypto_cert_subject_str(const struct crypto_cert *c, char *out, size_t cap);
/* Does the cert vouch for this identity?
 *   CRYPTO_ID_FQDN:  a subjectAltName dNSName equal (ASCII case-insensitive,
 *                    no wildcards), or a subject CN when the cert has no
 *                    dNSName at all.
 *   CRYPTO_ID_EMAIL: an rfc822Name SAN (local part exact, domain
 *                    case-insensitive).
 *   CRYPTO_ID_IPV4 / IPV6: an iPAddress SAN with these 4 / 16 bytes.
 *   CRYPTO_ID_DN:    `id` is a DER Name; equal to the subject in canonical
 *                    form (X509_NAME_cmp), so string types and case do not
 *                    matter. A DER that does not parse is an error.
 * Returns 1 on a match, 0 if not, negative on error. */
enum crypto_id_type {
	CRYPTO_ID_FQDN,
	CRYPTO_ID_EMAIL,
	CRYPTO_ID_IPV4,
	CRYPTO_ID_IPV6,
	CRYPTO_ID_DN,
};
int crypto_cert_matches_id(const struct crypto_cert *c, enum crypto_id_type t,
			   const uint8_t *id, size_t id_len);
/* Parse a textual DN ("C=CH, O=lab, CN=gw") into DER. */
int crypto_dn_from_string(const char *s, uint8_t *out, size_t cap, size_t *len);
/* The certificate's public key (borrowed, lives as long as the cert). */
const struct crypto_pubkey *crypto_cert_pubkey(const struct crypto_cert *c);
enum crypto_key_type crypto_pubkey_type(const struct crypto_pubkey *k);
/* SHA-1 of the DER SubjectPublicKeyInfo (CERTREQ authority hashes, RFC 7296 3.7). */
int crypto_cert_spki_sha1(const struct crypto_cert *c, uint8_t out[20]);

/* Trust anchors from a PEM file (one or more CA certificates). */
int crypto_ca_store_load(const char *path, struct crypto_ca_store **out);
void crypto_ca_store_free(struct crypto_ca_store *s);
/* Verify `leaf` (with optional intermediates) up to the store at time `now`
 * (seconds since the epoch; 0 = current time). On failure returns -EKEYREJECTED
 * and writes a human reason ("certificate has expired", "unable to get local
 * issuer certificate") to reason. */
int crypto_cert_verify(const struct crypto_ca_store *s, const struct crypto_cert *leaf,
		       struct crypto_cert *const *chain, size_t nchain, int64_t now,
		       char *reason, size_t reason_cap);

/* Sign / verify `data` (the hash is computed here). *sig_len is in: capacity,
 * out: length. crypto_sign_max_len gives the capacity a key needs. */
size_t crypto_sign_max_len(const struct crypto_privkey *k);
int crypto_sign(const struct crypto_privkey *k, enum crypto_sig_scheme s,
		enum crypto_hash h, const uint8_t *data, size_t len, uint8_t *sig,
		size_t *sig_len);
/* 0 if valid, -EBADMSG if not, -EINVAL for a scheme that does not fit the key. */
int crypto_verify(const struct crypto_pubkey *k, enum crypto_sig_scheme s,
		  enum crypto_hash h, const uint8_t *data, size_t len,
		  const uint8_t *sig, size_t sig_len);

/* ---- MSCHAPv2 (RFC 2759) and its keys (RFC 3079) ----------------------------
 * Passwords are UTF-8; they are converted to UTF-16LE inside. */
int crypto_mschapv2_nt_response(const uint8_t auth_challenge[16],
				const uint8_t peer_challenge[16],
				const char *username, const char *password,
				uint8_t nt_response[24]);
/* The 42-character "S=<40 hex>" string the authenticator must send back. */
int crypto_mschapv2_auth_response(const char *password,
				  const uint8_t nt_response[24],
				  const uint8_t peer_challenge[16],
				  const uint8_t auth_challenge[16],
				  const char *username, char out[43]);
/* The 64-byte EAP MSK of EAP-MSCHAPv2, used as the IKEv2 AUTH shared key
 * (RFC 7296 2.16). From the MasterKey of RFC 3079 3.4 (128-bit keys):
 *   msk[0..15]  = GetAsymmetricStartKey with Magic2: the peer's (our) send
 *                 key, which is the authenticator's MasterReceiveKey;
 *   msk[16..31] = GetAsymmetricStartKey with Magic3: the peer's receive key,
 *                 the authenticator's MasterSendKey;
 *   msk[32..63] = zero.
 * That is [MS-CHAP] 3.1.5.1's "MasterReceiveKey + MasterSendKey + 32 zero
 * bytes" named from the authenticator's side, and exactly what strongSwan's
 * eap_mschapv2 plugin (GenerateMSK) and Windows compute. */
int crypto_mschapv2_msk(const char *password, const uint8_t nt_response[24],
			uint8_t msk[64]);

#ifdef __cplusplus
}
#endif
#endif
