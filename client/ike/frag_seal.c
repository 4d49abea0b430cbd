/* Sealing of SKF fragments through client/ike/sk.h. Thin on purpose: the
 * layout is built and tested in frag.c; this adds only the cipher, so its
 * tests come with the key schedule's (they need a keyed cipher). */
#include <errno.h>

#include "client/crypto/crypto.h"
#include "client/ike/frag.h"
#include "client/ike/sk.h"
#include "client/util/log.h"

int ike_frag_plan_for(const struct crypto_cipher *c, size_t inner_len,
		      size_t max_msg, struct ike_frag_plan *plan)
{
	return ike_frag_compute_plan(inner_len, max_msg, crypto_cipher_iv_len(c),
				     crypto_cipher_icv_len(c),
				     crypto_cipher_block_len(c), plan);
}

int ike_frag_seal(const struct crypto_cipher *c, const struct ike_header *h,
		  uint8_t first, const uint8_t *inner, size_t inner_len,
		  const struct ike_frag_plan *plan, uint16_t num, uint8_t *buf,
		  size_t cap, size_t *len)
{
	size_t aad_len, chunk, msg_len;
	int err;

	err = ike_frag_build(h, first, inner, inner_len, plan, num, buf, cap,
			     &aad_len, &chunk, &msg_len);
	if (err)
		return err;
	/* The lengths written into the aad assume minimal padding; the cipher
	 * must agree or the peer's ICV check would fail. */
	if (aad_len + ike_sk_overhead(c, chunk) + chunk != msg_len)
		return -EINVAL;
	err = ike_sk_seal(c, buf, cap, aad_len, chunk, NULL, -1, len);
	if (err)
		vlog_err("ike", "sealing fragment %u/%u of message %u: %s", num,
			 plan->count, h->msgid, ike_strerror(err));
	return err;
}
