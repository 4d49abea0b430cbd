/* IKEv2 message fragmentation (RFC 7383): splitting a message's inner
 * payloads into Encrypted Fragment (SKF) messages, and reassembling the
 * decrypted fragments of a received message.
 *
 * Each fragment is protected on its own (RFC 7383 2.5), so both directions
 * work on plaintext here: the sender builds each fragment with a gap for the
 * IV and seals it (ike_frag_seal, through client/ike/sk.h); the receiver
 * opens each SKF payload (ike_skf_decrypt in codec.h) and hands the plaintext
 * to ike_frag_add(). Reassembly is bounded in fragment count, total size and
 * time; the caller owns the struct (no allocation) and supplies the clock.
 *
 * Errors are the codec's codes (codec.h); every refusal logs one line. */
#ifndef VPN_IKE_FRAG_H
#define VPN_IKE_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ike/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IKE_FRAG_MAX 32            /* fragments per message we accept */
#define IKE_FRAG_MAX_BYTES 65536   /* reassembled inner payloads we accept */

/* ---- sending ------------------------------------------------------------------ */

struct ike_frag_plan {
	size_t chunk;      /* inner octets per fragment (the last may be shorter) */
	uint16_t count;    /* number of fragments */
	size_t iv_len;
	size_t icv_len;
	size_t block_len;  /* 1 for the AEADs */
};

/* Largest IKE message (from the IKE header on) a path MTU leaves room for:
 * minus the IP header, UDP and, on port 4500, the non-ESP marker. */
size_t ike_frag_max_msg(size_t mtu, bool ipv6, bool natt);

/* Plan fragments of `inner_len` octets so that each sealed fragment message
 * is at most max_msg octets. IKE_ERR_FRAG_MTU if not even one octet fits,
 * IKE_ERR_FRAG_TOO_MANY above 65535 fragments, -EINVAL for inner_len 0. */
int ike_frag_compute_plan(size_t inner_len, size_t max_msg, size_t iv_len,
			  size_t icv_len, size_t block_len,
			  struct ike_frag_plan *plan);

/* Write fragment `num` (1-based) as an unsealed message into buf: the IKE
 * header of `h` (next payload SKF, final length), the SKF header (Next
 * Payload = `first` in fragment 1, 0 in the others, RFC 7383 2.5), an
 * iv_len gap and the fragment's inner octets. The outputs are what
 * ike_sk_seal() takes: aad_len, the chunk length, and the final length. */
int ike_frag_build(const struct ike_header *h, uint8_t first,
		   const uint8_t *inner, size_t inner_len,
		   const struct ike_frag_plan *plan, uint16_t num, uint8_t *buf,
		   size_t cap, size_t *aad_len, size_t *chunk_len, size_t *msg_len);

struct crypto_cipher;
/* frag_seal.c (needs client/ike/sk.c): plan from a cipher's sizes, and
 * build + seal fragment `num`; *len is the datagram's length. */
int ike_frag_plan_for(const struct crypto_cipher *c, size_t inner_len,
		      size_t max_msg, struct ike_frag_plan *plan);
int ike_frag_seal(const struct crypto_cipher *c, const struct ike_header *h,
		  uint8_t first, const uint8_t *inner, size_t inner_len,
		  const struct ike_frag_plan *plan, uint16_t num, uint8_t *buf,
		  size_t cap, size_t *len);

/* ---- receiving ------------------------------------------------------------------ */

struct ike_frag_reasm {
	bool active;
	uint32_t msgid;
	uint16_t total;
	uint16_t have;
	uint8_t first;       /* Next Payload of fragment 1 */
	uint64_t deadline;   /* caller's clock, same unit as `now` */
	size_t bytes;
	uint32_t seen;       /* bit n-1 for fragment n */
	uint32_t off[IKE_FRAG_MAX];
	uint32_t len[IKE_FRAG_MAX];
	uint8_t data[IKE_FRAG_MAX_BYTES]; /* in arrival order */
};

void ike_frag_init(struct ike_frag_reasm *r);
/* Drop whatever is being collected (no log line). */
void ike_frag_reset(struct ike_frag_reasm *r);

/* Add the decrypted content of fragment num/total of message `msgid`; next
 * is the SKF payload's Next Payload field. `deadline` is used when this
 * fragment starts a new reassembly; a reassembly past its deadline is
 * dropped (logged) and this fragment starts a fresh one.
 * Returns 0 when more fragments are needed, 1 when the message is complete
 * (then call ike_frag_assemble), or an error:
 *   IKE_ERR_SKF_NUMBER     number 0, total 0 or number > total
 *   IKE_ERR_FRAG_TOO_MANY  total above IKE_FRAG_MAX
 *   IKE_ERR_FRAG_DUPLICATE this fragment number was already received
 *   IKE_ERR_FRAG_TOTAL     a lower total than the fragments collected so far
 *                          (a higher one restarts: the sender re-fragmented
 *                          for a smaller MTU, RFC 7383 2.6)
 *   IKE_ERR_FRAG_STALE     a message ID older than the one being collected
 *   IKE_ERR_FRAG_TOO_BIG   the fragments exceed IKE_FRAG_MAX_BYTES; the
 *                          reassembly is dropped. */
int ike_frag_add(struct ike_frag_reasm *r, uint32_t msgid, uint16_t num,
		 uint16_t total, uint8_t next, const uint8_t *data, size_t len,
		 uint64_t now, uint64_t deadline);

/* Copy the complete inner payloads in fragment order into out; *first is
 * the type of the first inner payload (for ike_decode_inner). Resets r.
 * -EAGAIN if not complete, -ENOSPC if cap is too small. */
int ike_frag_assemble(struct ike_frag_reasm *r, uint8_t *out, size_t cap,
		      size_t *len, uint8_t *first);

/* For the reassembly timer: drops an expired reassembly and returns
 * IKE_ERR_FRAG_TIMEOUT (logged), else 0. */
int ike_frag_expire(struct ike_frag_reasm *r, uint64_t now);

#ifdef __cplusplus
}
#endif
#endif
