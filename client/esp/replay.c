/* Anti-replay window (RFC 4303 3.4.3) as a ring of 64-bit words (RFC 6479)
 * and the extended sequence number inference (RFC 4303 Appendix A2.2).
 *
 * Why a ring of words: sliding the window forward clears whole words instead
 * of shifting a long bitmap, so a jump costs at most ESP_REPLAY_WORDS stores
 * and the common case (next packet in order) touches one word. The ring holds
 * one word more than the window needs, so the word holding `top` never
 * aliases the oldest live sequence numbers. */
#include <errno.h>
#include <string.h>

#include "client/esp/esp.h"

_Static_assert((ESP_REPLAY_WORDS & (ESP_REPLAY_WORDS - 1)) == 0,
	       "replay ring size must be a power of two");
_Static_assert(ESP_REPLAY_WORDS * 64 >= ESP_REPLAY_WINDOW + 64,
	       "replay ring must hold the window plus one word");
_Static_assert(ESP_REPLAY_WINDOW >= 1024, "the window must cover 1024 packets");

static inline uint64_t *replay_word(struct esp_replay *r, uint64_t seq)
{
	return &r->bits[(seq >> 6) & (ESP_REPLAY_WORDS - 1)];
}

int esp_replay_check(const struct esp_replay *r, uint64_t seq)
{
	uint64_t word;

	if (seq == 0)
		return -EALREADY;
	if (seq > r->top)
		return 0;
	if (r->top - seq >= ESP_REPLAY_WINDOW)
		return -EALREADY;
	word = r->bits[(seq >> 6) & (ESP_REPLAY_WORDS - 1)];
	return (word >> (seq & 63)) & 1 ? -EALREADY : 0;
}

void esp_replay_update(struct esp_replay *r, uint64_t seq)
{
	if (seq > r->top) {
		uint64_t cur = r->top >> 6, next = seq >> 6;

		if (next - cur >= ESP_REPLAY_WORDS) {
			memset(r->bits, 0, sizeof(r->bits));
		} else {
			uint64_t w;

			for (w = cur + 1; w <= next; w++)
				r->bits[w & (ESP_REPLAY_WORDS - 1)] = 0;
		}
		r->top = seq;
	}
	*replay_word(r, seq) |= 1ull << (seq & 63);
}

int esp_seq_infer(const struct esp_replay *r, bool esn, uint32_t seql,
		  uint64_t *seq)
{
	uint32_t tl = (uint32_t)r->top, th = (uint32_t)(r->top >> 32);
	uint32_t bottom = tl - ESP_REPLAY_WINDOW + 1; /* modulo 2^32 on purpose */
	uint32_t seqh;

	if (!esn) {
		if (seql == 0)
			return -EALREADY;
		*seq = seql;
		return 0;
	}
	if (tl >= ESP_REPLAY_WINDOW - 1) {
		/* Case A: the window lies within one 2^32 subspace. A number
		 * below it can only have wrapped into the next subspace. */
		if (seql >= bottom) {
			seqh = th;
		} else {
			if (th == UINT32_MAX)
				return -EALREADY;
			seqh = th + 1;
		}
	} else {
		/* Case B: the window straddles two subspaces; numbers at its
		 * upper end belong to the previous one. */
		if (seql >= bottom) {
			if (th == 0)
				return -EALREADY; /* before the first packet */
			seqh = th - 1;
		} else {
			seqh = th;
		}
	}
	*seq = (uint64_t)seqh << 32 | seql;
	return *seq == 0 ? -EALREADY : 0;
}
