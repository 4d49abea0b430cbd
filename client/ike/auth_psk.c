/* Shared-key AUTH (RFC 7296 2.15): used with a PSK and, after EAP, with the
 * MSK (2.16).
 *   AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <signed octets>) */
#include <errno.h>
#include <string.h>

#include "client/ike/ike_int.h"

static const char key_pad[] = "Key Pad for IKEv2"; /* 17 octets, no NUL */

int ike_auth_psk_compute(struct ike_sa *sa, const uint8_t *key, size_t key_len,
			 const uint8_t *octets, size_t octets_len, uint8_t *out,
			 size_t *out_len)
{
	enum crypto_prf prf = sa->keys.algs.prf;
	size_t n = crypto_prf_len(prf);
	struct crypto_iov pad = {key_pad, sizeof(key_pad) - 1};
	struct crypto_iov msg = {octets, octets_len};
	uint8_t inner[CRYPTO_PRF_MAX_LEN];
	int err;

	if (!key || !key_len || *out_len < n)
		return -EINVAL;
	err = crypto_prf(prf, key, key_len, &pad, 1, inner);
	if (!err)
		err = crypto_prf(prf, inner, n, &msg, 1, out);
	crypto_wipe(inner, sizeof(inner));
	if (!err)
		*out_len = n;
	return err;
}
