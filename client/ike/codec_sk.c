/* Glue between the codec and SK/SKF protection (client/ike/sk.h). Kept
 * apart and thin on purpose: everything here needs a keyed cipher, so its
 * tests live with the key schedule's; the offsets it hands over are produced
 * and tested in codec_build.c / codec_parse.c. */
#include <errno.h>

#include "client/crypto/crypto.h"
#include "client/ike/codec.h"
#include "client/ike/sk.h"
#include "client/util/log.h"

int ike_build_sk_seal(struct ike_builder *b, const struct crypto_cipher *c,
		      size_t *len)
{
	size_t aad_len, inner_len, msg_len, out_len;
	int err;

	if (b->sk_hdr == SIZE_MAX || b->sk_iv_len != crypto_cipher_iv_len(c))
		return -EINVAL;
	err = ike_build_sk_close(b, ike_sk_overhead(c, ike_build_sk_inner_len(b)),
				 &aad_len, &inner_len, &msg_len);
	if (err)
		return err;
	err = ike_sk_seal(c, b->w.p, b->w.cap, aad_len, inner_len, NULL, -1,
			  &out_len);
	if (err) {
		vlog_err("ike", "sealing SK payload of %zu inner octets: %s",
			 inner_len, ike_strerror(err));
		return err;
	}
	b->w.len = out_len;
	*len = out_len;
	return 0;
}

static const struct ike_payload *last_payload(const struct ike_msg *m, uint8_t type)
{
	/* The walker guarantees SK/SKF is the last payload when present. */
	if (m->chain.n == 0 || m->chain.pl[m->chain.n - 1].type != type)
		return NULL;
	return &m->chain.pl[m->chain.n - 1];
}

int ike_sk_decrypt(const struct crypto_cipher *c, uint8_t *buf,
		   const struct ike_msg *m, struct ike_chain *inner)
{
	const struct ike_payload *p = last_payload(m, IKE_PT_SK);
	struct ike_sk sk;
	uint8_t *plain;
	size_t plain_len;
	int err;

	if (!p || buf != m->chain.buf)
		return -EINVAL;
	err = ike_parse_sk(p, &sk);
	if (err)
		return err;
	err = ike_sk_open(c, buf, sk.aad_len, buf + p->off, sk.len, &plain,
			  &plain_len, NULL);
	if (err) {
		vlog_warn("ike", "%s message %u: SK payload does not open: %s",
			  ike_exchange_name(m->hdr.exchange), m->hdr.msgid,
			  ike_strerror(err));
		return err;
	}
	return ike_decode_inner(plain, plain_len, sk.first, inner);
}

int ike_skf_decrypt(const struct crypto_cipher *c, uint8_t *buf,
		    const struct ike_msg *m, struct ike_skf *skf,
		    uint8_t **plain, size_t *plain_len)
{
	const struct ike_payload *p = last_payload(m, IKE_PT_SKF);
	int err;

	if (!p || buf != m->chain.buf)
		return -EINVAL;
	err = ike_parse_skf(p, skf);
	if (err)
		return err;
	err = ike_sk_open(c, buf, skf->aad_len, buf + skf->aad_len, skf->len,
			  plain, plain_len, NULL);
	if (err)
		vlog_warn("ike", "%s message %u: fragment %u/%u does not open: %s",
			  ike_exchange_name(m->hdr.exchange), m->hdr.msgid,
			  skf->num, skf->total, ike_strerror(err));
	return err;
}
