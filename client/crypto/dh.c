/* Key exchange for IKEv2: MODP groups 14/15 (RFC 3526), ECP groups 19/20
 * (RFC 5903) and Curve25519 (RFC 8031), each with the peer-value checks that
 * RFC 7296 2.12 and the groups' own rules ask for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdh.h>
#include <openssl/nid.h>

#include "client/crypto/crypto_test.h"
#include "client/crypto/internal.h"
#include "client/util/log.h"

/* The RFC 3526 primes (generator 2). Each is the safe prime
 * 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k), k = 124476 for
 * n = 2048 and 1690314 for n = 3072, as the RFC defines them. */
static const char modp2048_hex[] =
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
	"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
	"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
	"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
	"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
	"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
	"3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";
static const char modp3072_hex[] =
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
	"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
	"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
	"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
	"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
	"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
	"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
	"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
	"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
	"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
	"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
	"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

/* Private exponents of 512 bits: RFC 3526 section 8 asks for at least twice
 * the group's strength (112/128 bits); more only costs time. */
#define MODP_EXPONENT_BITS 512

struct crypto_dh {
	int group;
	DH *modp;
	EC_KEY *ec;
	uint8_t x25519_priv[32];
	uint8_t x25519_pub[32];
};

static int dh_curve_nid(int group)
{
	switch (group) {
	case CRYPTO_DH_ECP256:
		return NID_X9_62_prime256v1;
	case CRYPTO_DH_ECP384:
		return NID_secp384r1;
	}
	return NID_undef;
}

static size_t dh_field_len(int group)
{
	switch (group) {
	case CRYPTO_DH_MODP2048:
		return 256;
	case CRYPTO_DH_MODP3072:
		return 384;
	case CRYPTO_DH_ECP256:
		return 32;
	case CRYPTO_DH_ECP384:
		return 48;
	case CRYPTO_DH_CURVE25519:
		return 32;
	}
	return 0;
}

int crypto_dh_supported(int group)
{
	return dh_field_len(group) != 0;
}

size_t crypto_dh_public_len(int group)
{
	if (group == CRYPTO_DH_ECP256 || group == CRYPTO_DH_ECP384)
		return 2 * dh_field_len(group); /* x || y, RFC 5903 section 7 */
	return dh_field_len(group);
}

size_t crypto_dh_shared_len(int group)
{
	/* ECP: the x coordinate only (RFC 5903 section 7). */
	return dh_field_len(group);
}

int crypto_dh_group(const struct crypto_dh *dh)
{
	return dh ? dh->group : -EINVAL;
}

static DH *modp_params(int group)
{
	const char *hex = group == CRYPTO_DH_MODP2048 ? modp2048_hex : modp3072_hex;
	BIGNUM *p = NULL, *g = BN_new();
	DH *dh = DH_new();

	if (!dh || !g || !BN_hex2bn(&p, hex) || !BN_set_word(g, 2) ||
	    !DH_set0_pqg(dh, p, NULL, g)) {
		BN_free(p);
		BN_free(g);
		DH_free(dh);
		return NULL;
	}
	return dh;
}

static struct crypto_dh *dh_alloc(int group)
{
	struct crypto_dh *dh = calloc(1, sizeof(*dh));

	if (dh)
		dh->group = group;
	return dh;
}

/* Builds the key pair from `priv` when given (tests), else at random. */
static int dh_setup(struct crypto_dh *dh, const uint8_t *priv, size_t priv_len)
{
	switch (dh->group) {
	case CRYPTO_DH_MODP2048:
	case CRYPTO_DH_MODP3072: {
		BIGNUM *x = NULL, *y = NULL;
		BN_CTX *bctx = NULL;
		int ok;

		dh->modp = modp_params(dh->group);
		if (!dh->modp)
			return -ENOMEM;
		if (!priv) {
			if (!DH_set_length(dh->modp, MODP_EXPONENT_BITS) ||
			    !DH_generate_key(dh->modp))
				return -ENOMEM;
			return 0;
		}
		x = BN_bin2bn(priv, priv_len, NULL);
		y = BN_new();
		bctx = BN_CTX_new();
		ok = x && y && bctx && !BN_is_zero(x) &&
		     BN_cmp(x, DH_get0_p(dh->modp)) < 0 &&
		     BN_mod_exp_mont_consttime(y, DH_get0_g(dh->modp), x,
					       DH_get0_p(dh->modp), bctx, NULL) &&
		     DH_set0_key(dh->modp, y, x);
		BN_CTX_free(bctx);
		if (!ok) {
			BN_clear_free(x);
			BN_free(y);
			return -EINVAL;
		}
		return 0;
	}
	case CRYPTO_DH_ECP256:
	case CRYPTO_DH_ECP384: {
		const EC_GROUP *grp;
		EC_POINT *pub = NULL;
		BIGNUM *d = NULL;
		int ok;

		dh->ec = EC_KEY_new_by_curve_name(dh_curve_nid(dh->group));
		if (!dh->ec)
			return -ENOMEM;
		if (!priv)
			return EC_KEY_generate_key(dh->ec) ? 0 : -ENOMEM;
		grp = EC_KEY_get0_group(dh->ec);
		d = BN_bin2bn(priv, priv_len, NULL);
		pub = EC_POINT_new(grp);
		/* A scalar outside [1, n) gives no usable key pair. */
		ok = d && pub && !BN_is_zero(d) &&
		     BN_cmp(d, EC_GROUP_get0_order(grp)) < 0 &&
		     EC_KEY_set_private_key(dh->ec, d) &&
		     EC_POINT_mul(grp, pub, d, NULL, NULL, NULL) &&
		     EC_KEY_set_public_key(dh->ec, pub);
		BN_clear_free(d);
		EC_POINT_free(pub);
		return ok ? 0 : -EINVAL;
	}
	case CRYPTO_DH_CURVE25519:
		if (!priv) {
			X25519_keypair(dh->x25519_pub, dh->x25519_priv);
			return 0;
		}
		if (priv_len != sizeof(dh->x25519_priv))
			return -EINVAL;
		memcpy(dh->x25519_priv, priv, priv_len);
		X25519_public_from_private(dh->x25519_pub, dh->x25519_priv);
		return 0;
	}
	return -ENOTSUP;
}

static int dh_create(int group, const uint8_t *priv, size_t priv_len,
		     struct crypto_dh **out)
{
	struct crypto_dh *dh;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!crypto_dh_supported(group))
		return -ENOTSUP;
	dh = dh_alloc(group);
	if (!dh)
		return -ENOMEM;
	err = dh_setup(dh, priv, priv_len);
	if (err) {
		crypto_clear_errors();
		crypto_dh_free(dh);
		return err;
	}
	*out = dh;
	return 0;
}

int crypto_dh_new(int group, struct crypto_dh **out)
{
	return dh_create(group, NULL, 0, out);
}

int crypto_dh_new_from_private(int group, const uint8_t *priv, size_t priv_len,
			       struct crypto_dh **out)
{
	if (!priv || !priv_len)
		return -EINVAL;
	return dh_create(group, priv, priv_len, out);
}

static int ec_public(const struct crypto_dh *dh, uint8_t *out)
{
	size_t flen = dh_field_len(dh->group);
	BIGNUM *x = BN_new(), *y = BN_new();
	int ok;

	ok = x && y &&
	     EC_POINT_get_affine_coordinates_GFp(EC_KEY_get0_group(dh->ec),
						 EC_KEY_get0_public_key(dh->ec),
						 x, y, NULL) &&
	     BN_bn2bin_padded(out, flen, x) && BN_bn2bin_padded(out + flen, flen, y);
	BN_free(x);
	BN_free(y);
	return ok ? 0 : -ENOMEM;
}

int crypto_dh_public(const struct crypto_dh *dh, uint8_t *out, size_t out_len)
{
	size_t len;
	int err = 0;

	if (!dh || !out)
		return -EINVAL;
	len = crypto_dh_public_len(dh->group);
	if (out_len < len)
		return -EINVAL;
	switch (dh->group) {
	case CRYPTO_DH_MODP2048:
	case CRYPTO_DH_MODP3072:
		if (!BN_bn2bin_padded(out, len, DH_get0_pub_key(dh->modp)))
			err = -ENOMEM;
		break;
	case CRYPTO_DH_ECP256:
	case CRYPTO_DH_ECP384:
		err = ec_public(dh, out);
		break;
	case CRYPTO_DH_CURVE25519:
		memcpy(out, dh->x25519_pub, len);
		break;
	default:
		err = -ENOTSUP;
	}
	if (err)
		crypto_clear_errors();
	return err;
}

/* RFC 7296 2.12 / NIST SP 800-56A 5.6.2.3.1: 1 < y < p-1. A y of 0, 1 or p-1
 * pins the shared secret to a value an attacker knows. */
static int modp_shared(const struct crypto_dh *dh, const uint8_t *peer,
		       size_t peer_len, uint8_t *out)
{
	const BIGNUM *p = DH_get0_p(dh->modp);
	BIGNUM *y = BN_bin2bn(peer, peer_len, NULL);
	BIGNUM *pm1 = BN_dup(p);
	int err = 0;

	if (!y || !pm1 || !BN_sub_word(pm1, 1)) {
		err = -ENOMEM;
	} else if (BN_cmp(y, BN_value_one()) <= 0 || BN_cmp(y, pm1) >= 0) {
		vlog_warn(CRYPTO_LOG, "DH group %d: peer public value out of range "
			  "(0, 1, p-1 or >= p), refused", dh->group);
		err = -EINVAL;
	} else if (DH_compute_key_padded(out, y, dh->modp) !=
		   (int)dh_field_len(dh->group)) {
		err = -EINVAL;
	}
	BN_free(y);
	BN_free(pm1);
	return err;
}

static int ecp_shared(const struct crypto_dh *dh, const uint8_t *peer, uint8_t *out)
{
	const EC_GROUP *grp = EC_KEY_get0_group(dh->ec);
	size_t flen = dh_field_len(dh->group);
	BIGNUM *x = BN_bin2bn(peer, flen, NULL);
	BIGNUM *y = BN_bin2bn(peer + flen, flen, NULL);
	EC_POINT *pt = EC_POINT_new(grp);
	int err = 0;

	if (!x || !y || !pt) {
		err = -ENOMEM;
	} else if (!EC_POINT_set_affine_coordinates_GFp(grp, pt, x, y, NULL)) {
		/* BoringSSL refuses coordinates >= p and points off the curve
		 * here; the point at infinity has no affine form at all. */
		vlog_warn(CRYPTO_LOG, "DH group %d: peer point is not on the curve, "
			  "refused", dh->group);
		err = -EINVAL;
	} else if (ECDH_compute_key(out, flen, pt, dh->ec, NULL) != (int)flen) {
		err = -EINVAL;
	}
	BN_free(x);
	BN_free(y);
	EC_POINT_free(pt);
	return err;
}

int crypto_dh_shared(const struct crypto_dh *dh, const uint8_t *peer,
		     size_t peer_len, uint8_t *out, size_t out_len)
{
	size_t len;
	int err;

	if (!dh || !peer || !out)
		return -EINVAL;
	len = crypto_dh_shared_len(dh->group);
	if (out_len < len)
		return -EINVAL;
	if (peer_len != crypto_dh_public_len(dh->group)) {
		vlog_warn(CRYPTO_LOG, "DH group %d: peer public value has %zu bytes, "
			  "expected %zu", dh->group, peer_len,
			  crypto_dh_public_len(dh->group));
		return -EINVAL;
	}
	switch (dh->group) {
	case CRYPTO_DH_MODP2048:
	case CRYPTO_DH_MODP3072:
		err = modp_shared(dh, peer, peer_len, out);
		break;
	case CRYPTO_DH_ECP256:
	case CRYPTO_DH_ECP384:
		err = ecp_shared(dh, peer, out);
		break;
	case CRYPTO_DH_CURVE25519:
		/* X25519 returns 0 for an all-zero result: the peer sent a
		 * small-order point (RFC 7748 section 6.1). */
		if (X25519(out, dh->x25519_priv, peer)) {
			err = 0;
		} else {
			vlog_warn(CRYPTO_LOG, "DH group 31: all-zero shared secret "
				  "(small-order peer value), refused");
			err = -EINVAL;
		}
		break;
	default:
		err = -ENOTSUP;
	}
	if (err) {
		crypto_wipe(out, len);
		crypto_clear_errors();
	}
	return err;
}

void crypto_dh_free(struct crypto_dh *dh)
{
	if (!dh)
		return;
	DH_free(dh->modp);   /* BoringSSL clears the private BIGNUMs it frees */
	EC_KEY_free(dh->ec);
	crypto_wipe(dh, sizeof(*dh));
	free(dh);
}
