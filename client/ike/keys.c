/* The IKEv2 key schedule; see keys.h for the formulas. */
#include <errno.h>
#include <string.h>

#include "client/ike/keys.h"
#include "client/util/log.h"

#define KEYS_LOG "ike"

/* Largest prf+ output the IKE SA split can need:
 * 3 * 64 (PRF) + 2 * 64 (integ) + 2 * 36 (encr). */
#define SA_KEYMAT_MAX (3 * CRYPTO_PRF_MAX_LEN + 2 * IKE_KEYS_INTEG_MAX + \
		       2 * IKE_KEYS_ENCR_MAX)
#define CHILD_KEYMAT_MAX (2 * IKE_KEYS_INTEG_MAX + 2 * IKE_KEYS_ENCR_MAX)

static int encr_integ_valid(const struct ike_key_algs *a)
{
	if (!crypto_encr_keymat_len(a->encr, a->encr_key_bits))
		return 0;
	if (crypto_encr_is_aead(a->encr))
		return a->integ == CRYPTO_INTEG_NONE;
	return a->integ != CRYPTO_INTEG_NONE && crypto_integ_key_len(a->integ) != 0;
}

int ike_keys_algs_valid(const struct ike_key_algs *algs)
{
	return algs && crypto_prf_len(algs->prf) && encr_integ_valid(algs);
}

int ike_keys_skeyseed(enum crypto_prf prf, const uint8_t *ni, size_t ni_len,
		      const uint8_t *nr, size_t nr_len, const uint8_t *gir,
		      size_t gir_len, uint8_t *skeyseed)
{
	uint8_t key[2 * 256]; /* nonces are at most 256 bytes (RFC 7296 3.9) */
	const struct crypto_iov data = {gir, gir_len};
	int err;

	if (!ni || !nr || !gir || !gir_len || !skeyseed || ni_len > 256 ||
	    nr_len > 256)
		return -EINVAL;
	/* For the HMAC PRFs the key is the whole of Ni | Nr (RFC 7296 2.14;
	 * only the fixed-key-size PRFs would truncate). */
	memcpy(key, ni, ni_len);
	memcpy(key + ni_len, nr, nr_len);
	err = crypto_prf(prf, key, ni_len + nr_len, &data, 1, skeyseed);
	crypto_wipe(key, sizeof(key));
	return err;
}

int ike_keys_skeyseed_rekey(enum crypto_prf old_prf, const uint8_t *old_sk_d,
			    size_t old_sk_d_len, const uint8_t *gir_new,
			    size_t gir_new_len, const uint8_t *ni, size_t ni_len,
			    const uint8_t *nr, size_t nr_len, uint8_t *skeyseed)
{
	const struct crypto_iov data[3] = {
		{gir_new, gir_new_len}, {ni, ni_len}, {nr, nr_len},
	};

	if (!old_sk_d || !old_sk_d_len || !gir_new || !gir_new_len || !ni ||
	    !nr || !skeyseed)
		return -EINVAL;
	return crypto_prf(old_prf, old_sk_d, old_sk_d_len, data, 3, skeyseed);
}

int ike_keys_sa_keymat(enum crypto_prf prf, const uint8_t *skeyseed,
		       size_t skeyseed_len, const uint8_t *ni, size_t ni_len,
		       const uint8_t *nr, size_t nr_len,
		       const uint8_t spi_i[IKE_KEYS_SPI_LEN],
		       const uint8_t spi_r[IKE_KEYS_SPI_LEN], uint8_t *out,
		       size_t out_len)
{
	const struct crypto_iov seed[4] = {
		{ni, ni_len}, {nr, nr_len},
		{spi_i, IKE_KEYS_SPI_LEN}, {spi_r, IKE_KEYS_SPI_LEN},
	};

	if (!skeyseed || !skeyseed_len || !ni || !nr || !spi_i || !spi_r)
		return -EINVAL;
	return crypto_prf_plus(prf, skeyseed, skeyseed_len, seed, 4, out, out_len);
}

/* Hands out consecutive slices of a key stream. */
static const uint8_t *take(const uint8_t **pos, size_t n)
{
	const uint8_t *at = *pos;

	*pos += n;
	return at;
}

int ike_keys_derive_sa(const struct ike_key_algs *algs, const uint8_t *skeyseed,
		       size_t skeyseed_len, const uint8_t *ni, size_t ni_len,
		       const uint8_t *nr, size_t nr_len,
		       const uint8_t spi_i[IKE_KEYS_SPI_LEN],
		       const uint8_t spi_r[IKE_KEYS_SPI_LEN], struct ike_sa_keys *out)
{
	uint8_t keymat[SA_KEYMAT_MAX];
	const uint8_t *pos = keymat;
	size_t total;
	int err;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!ike_keys_algs_valid(algs)) {
		vlog_warn(KEYS_LOG, "key schedule: invalid algorithm combination");
		return -EINVAL;
	}
	out->algs = *algs;
	out->prf_len = crypto_prf_len(algs->prf);
	out->integ_len = crypto_integ_key_len(algs->integ);
	out->encr_len = crypto_encr_keymat_len(algs->encr, algs->encr_key_bits);
	total = 3 * out->prf_len + 2 * out->integ_len + 2 * out->encr_len;
	err = ike_keys_sa_keymat(algs->prf, skeyseed, skeyseed_len, ni, ni_len,
				 nr, nr_len, spi_i, spi_r, keymat, total);
	if (err) {
		ike_keys_sa_wipe(out);
		crypto_wipe(keymat, sizeof(keymat));
		return err;
	}
	memcpy(out->sk_d, take(&pos, out->prf_len), out->prf_len);
	memcpy(out->sk_ai, take(&pos, out->integ_len), out->integ_len);
	memcpy(out->sk_ar, take(&pos, out->integ_len), out->integ_len);
	memcpy(out->sk_ei, take(&pos, out->encr_len), out->encr_len);
	memcpy(out->sk_er, take(&pos, out->encr_len), out->encr_len);
	memcpy(out->sk_pi, take(&pos, out->prf_len), out->prf_len);
	memcpy(out->sk_pr, take(&pos, out->prf_len), out->prf_len);
	crypto_wipe(keymat, sizeof(keymat));
	return 0;
}

int ike_keys_child_keymat(enum crypto_prf prf, const uint8_t *sk_d,
			  size_t sk_d_len, const uint8_t *gir_new,
			  size_t gir_new_len, const uint8_t *ni, size_t ni_len,
			  const uint8_t *nr, size_t nr_len, uint8_t *out,
			  size_t out_len)
{
	const struct crypto_iov seed[3] = {
		{gir_new, gir_new_len}, {ni, ni_len}, {nr, nr_len},
	};

	if (!sk_d || !sk_d_len || !ni || !nr || (gir_new_len && !gir_new))
		return -EINVAL;
	/* Without PFS the first piece is empty and drops out of the seed. */
	return crypto_prf_plus(prf, sk_d, sk_d_len, seed, 3, out, out_len);
}

int ike_keys_derive_child(const struct ike_sa_keys *ike,
			  const struct ike_key_algs *child_algs,
			  const uint8_t *gir_new, size_t gir_new_len,
			  const uint8_t *ni, size_t ni_len, const uint8_t *nr,
			  size_t nr_len, struct ike_child_keys *out)
{
	uint8_t keymat[CHILD_KEYMAT_MAX];
	const uint8_t *pos = keymat;
	int err;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!ike || !child_algs || !encr_integ_valid(child_algs)) {
		vlog_warn(KEYS_LOG, "child key schedule: invalid algorithm combination");
		return -EINVAL;
	}
	out->algs = *child_algs;
	out->encr_len = crypto_encr_keymat_len(child_algs->encr,
					       child_algs->encr_key_bits);
	out->integ_len = crypto_integ_key_len(child_algs->integ);
	err = ike_keys_child_keymat(ike->algs.prf, ike->sk_d, ike->prf_len,
				    gir_new, gir_new_len, ni, ni_len, nr, nr_len,
				    keymat, 2 * (out->encr_len + out->integ_len));
	if (err) {
		ike_keys_child_wipe(out);
		crypto_wipe(keymat, sizeof(keymat));
		return err;
	}
	/* RFC 7296 2.17: all keys for initiator-to-responder traffic come
	 * first, encryption before integrity (RFC 4303 order). */
	memcpy(out->encr_i, take(&pos, out->encr_len), out->encr_len);
	memcpy(out->integ_i, take(&pos, out->integ_len), out->integ_len);
	memcpy(out->encr_r, take(&pos, out->encr_len), out->encr_len);
	memcpy(out->integ_r, take(&pos, out->integ_len), out->integ_len);
	crypto_wipe(keymat, sizeof(keymat));
	return 0;
}

static int sa_cipher(const struct ike_sa_keys *k, const uint8_t *ekey,
		     const uint8_t *akey, struct crypto_cipher **out)
{
	return crypto_cipher_new(k->algs.encr, k->algs.encr_key_bits, ekey,
				 k->encr_len, k->algs.integ,
				 k->integ_len ? akey : NULL, k->integ_len, out);
}

int ike_keys_sa_ciphers(const struct ike_sa_keys *k, int we_are_initiator,
			struct crypto_cipher **out, struct crypto_cipher **in)
{
	const uint8_t *e_out, *a_out, *e_in, *a_in;
	int err;

	if (!k || !out || !in)
		return -EINVAL;
	*out = *in = NULL;
	e_out = we_are_initiator ? k->sk_ei : k->sk_er;
	a_out = we_are_initiator ? k->sk_ai : k->sk_ar;
	e_in = we_are_initiator ? k->sk_er : k->sk_ei;
	a_in = we_are_initiator ? k->sk_ar : k->sk_ai;
	err = sa_cipher(k, e_out, a_out, out);
	if (!err)
		err = sa_cipher(k, e_in, a_in, in);
	if (err) {
		crypto_cipher_free(*out);
		*out = NULL;
	}
	return err;
}

void ike_keys_sa_wipe(struct ike_sa_keys *k)
{
	if (k)
		crypto_wipe(k, sizeof(*k));
}

void ike_keys_child_wipe(struct ike_child_keys *k)
{
	if (k)
		crypto_wipe(k, sizeof(*k));
}
