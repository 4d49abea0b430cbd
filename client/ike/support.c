/* Which transforms this implementation can actually run. The proposal
 * parser knows more keywords than the crypto layer offers (strongSwan's
 * vocabulary), so profiles are checked against this before they are used. */
#include <errno.h>
#include <stdio.h>

#include "client/ike/ike_int.h"

static bool encr_ok(const struct ike_xform *x)
{
	switch (x->id) {
	case IKE_ENCR_AES_CBC:
		return x->key_bits == 128 || x->key_bits == 192 || x->key_bits == 256;
	case IKE_ENCR_AES_GCM_16:
		return x->key_bits == 128 || x->key_bits == 256;
	case IKE_ENCR_CHACHA20_POLY1305:
		return x->key_bits == 0 || x->key_bits == 256;
	default:
		return false;
	}
}

static bool xform_ok(int type, const struct ike_xform *x)
{
	switch (type) {
	case IKE_XFORM_ENCR:
		return encr_ok(x);
	case IKE_XFORM_PRF:
		return x->id == IKE_PRF_HMAC_SHA1 || x->id == IKE_PRF_HMAC_SHA2_256 ||
		       x->id == IKE_PRF_HMAC_SHA2_384 || x->id == IKE_PRF_HMAC_SHA2_512;
	case IKE_XFORM_INTEG:
		return x->id == IKE_INTEG_NONE || x->id == IKE_INTEG_HMAC_SHA2_256_128 ||
		       x->id == IKE_INTEG_HMAC_SHA2_384_192 ||
		       x->id == IKE_INTEG_HMAC_SHA2_512_256;
	case IKE_XFORM_DH:
		return x->id == IKE_DH_NONE || crypto_dh_supported(x->id);
	case IKE_XFORM_ESN:
		return x->id == IKE_ESN_NO || x->id == IKE_ESN_YES;
	default:
		return false;
	}
}

int ike_proposals_supported(const struct ike_proposal *p, size_t n, char *why,
			    size_t whylen)
{
	char name[96];
	size_t i;
	int t;
	unsigned k;

	for (i = 0; i < n; i++) {
		for (t = IKE_XFORM_ENCR; t <= IKE_XFORM_ESN; t++) {
			for (k = 0; k < p[i].n[t]; k++) {
				if (xform_ok(t, &p[i].x[t][k]))
					continue;
				struct ike_proposal one = {.protocol = p[i].protocol};

				ike_proposal_add(&one, (uint8_t)t, p[i].x[t][k].id,
						 p[i].x[t][k].key_bits);
				if (ike_proposal_format(&one, name, sizeof(name)))
					snprintf(name, sizeof(name), "transform %u/%u", t,
						 p[i].x[t][k].id);
				snprintf(why, whylen, "'%s' is not supported by vpnctl", name);
				return -ENOTSUP;
			}
		}
	}
	return 0;
}
