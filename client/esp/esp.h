/* Userspace ESP (RFC 4303), tunnel mode, for UDP encapsulation (RFC 3948).
 *
 * Ciphers: AES-GCM-16 128/256 (RFC 4106), ChaCha20-Poly1305 (RFC 7634), and
 * AES-CBC 128/256 with HMAC-SHA2-256-128 (also -384-192, -512-256; RFC 3602,
 * RFC 4868). Extended sequence numbers (RFC 4303 2.2.1, Appendix A) when
 * negotiated. All crypto goes through client/crypto.
 *
 * An SA knows nothing of sockets, addresses or transports: the session may
 * move the same SAs from path to path (MOBIKE, TCP fallback).
 *
 * Wire format produced and accepted (RFC 4303 2):
 *
 *   SPI (4) | sequence number, low 32 bits (4) | IV (8 AEAD, 16 CBC)
 *   | payload | padding 1, 2, 3, ... | pad length | next header | ICV
 *
 * The IV of the AEADs is the 64-bit sequence number (unique per SA, as
 * RFC 4106 3.1 and RFC 7634 2 ask); CBC gets a random IV per packet. Padding
 * is the minimum that 4-byte aligns the trailer (AEAD) or fills the block
 * (CBC).
 *
 * Error codes (negative errno), each counted per SA (or per table) in
 * `stats.drops[]` under the reason in brackets and logged rate-limited:
 *   -EMSGSIZE     [ESP_DROP_SHORT]    too short, or ciphertext not aligned
 *   -ENOENT       [ESP_DROP_SPI]      no inbound SA with that SPI
 *   -EALREADY     [ESP_DROP_REPLAY]   duplicate, or older than the window
 *   -EBADMSG      [ESP_DROP_ICV]      integrity check failed
 *   -EPROTO       [ESP_DROP_PAD]      pad length impossible, padding not 1,2,3..
 *   -EKEYEXPIRED  [ESP_DROP_EXPIRED]  hard lifetime reached: delete the SA
 *   -EOVERFLOW    [ESP_DROP_SEQ]      outbound sequence numbers exhausted
 *                                     (no ESN): the SA must be rekeyed
 *   -ENOSPC       [ESP_DROP_NOROOM]   buffer lacks head- or tailroom
 *   -EINVAL       (not counted)       API misuse (wrong direction, bad config)
 *
 * Not thread-safe: an SA and a table belong to one loop thread. */
#ifndef VPN_ESP_ESP_H
#define VPN_ESP_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/crypto/crypto.h"
#include "client/esp/pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESP_HDR_LEN 8
#define ESP_NH_IPV4 4
#define ESP_NH_IPV6 41
#define ESP_NH_NONE 59 /* "no next header": a dummy packet (RFC 4303 2.6) */

/* Anti-replay window, in packets: a sequence number is accepted when it is
 * new and greater than (highest verified - ESP_REPLAY_WINDOW). The bitmap is
 * a ring of 64-bit words (RFC 6479): one more word than the window needs,
 * rounded to a power of two so the ring index is a mask. */
#define ESP_REPLAY_WINDOW 1024u
#define ESP_REPLAY_WORDS 32u

/* Without ESN, an outbound SA reports a soft lifetime this many packets
 * before its 32-bit sequence space runs out, so the rekey happens in time. */
#define ESP_SEQ_SOFT_MARGIN (1u << 28)

/* Drop notices are logged at most once per second per reason and SA. */
#define ESP_LOG_INTERVAL_NS 1000000000ull

enum esp_dir {
	ESP_DIR_IN,
	ESP_DIR_OUT,
};

enum esp_drop {
	ESP_DROP_SHORT,
	ESP_DROP_SPI,
	ESP_DROP_REPLAY,
	ESP_DROP_ICV,
	ESP_DROP_PAD,
	ESP_DROP_EXPIRED,
	ESP_DROP_SEQ,
	ESP_DROP_NOROOM,
	ESP_DROP_MAX,
};

const char *esp_drop_name(enum esp_drop d);

struct esp_stats {
	uint64_t packets; /* sealed or opened (dummies excluded) */
	uint64_t bytes;   /* inner packet bytes */
	uint64_t dummy;   /* next header 59, dropped silently */
	uint64_t drops[ESP_DROP_MAX];
};

struct esp_ratelimit {
	uint64_t next_ns;
	uint64_t suppressed;
};

/* 0 means "no limit". Bytes count inner packets. */
struct esp_lifetime {
	uint64_t soft_bytes;
	uint64_t hard_bytes;
	uint64_t soft_packets;
	uint64_t hard_packets;
};

enum esp_life {
	ESP_LIFE_OK,
	ESP_LIFE_SOFT, /* rekey now */
	ESP_LIFE_HARD, /* the SA refuses to work: delete it */
};

struct esp_replay {
	uint64_t top; /* highest sequence number that verified; 0 = none yet */
	uint64_t bits[ESP_REPLAY_WORDS];
};

/* The window on its own (esp_open uses these; exposed for tests and tools).
 * check: 0 if seq may be accepted, -EALREADY if duplicate or too old.
 * update: record a verified seq, sliding the window forward if needed.
 * infer: full 64-bit sequence number from the 32 bits on the wire: itself
 * without ESN, else the high half guessed per RFC 4303 Appendix A2.2 (the
 * ICV then confirms the guess). -EALREADY when no valid number fits (0, or
 * below the start of the sequence space). */
int esp_replay_check(const struct esp_replay *r, uint64_t seq);
void esp_replay_update(struct esp_replay *r, uint64_t seq);
int esp_seq_infer(const struct esp_replay *r, bool esn, uint32_t seql,
		  uint64_t *seq);

struct esp_sa_cfg {
	uint32_t spi; /* inbound: ours; outbound: the peer's */
	enum esp_dir dir;
	enum crypto_encr encr;
	unsigned key_bits;
	const uint8_t *keymat; /* key || salt for the AEADs */
	size_t keymat_len;
	enum crypto_integ integ; /* CRYPTO_INTEG_NONE with the AEADs */
	const uint8_t *ikey;
	size_t ikey_len;
	bool esn;
	struct esp_lifetime life;
};

struct esp_sa {
	uint32_t spi;
	enum esp_dir dir;
	bool esn;
	bool aead;
	uint8_t iv_len;
	uint8_t icv_len;
	uint8_t align; /* the trailer ends on this boundary: 4, or the block */
	struct crypto_cipher *cipher;
	uint64_t seq; /* outbound: last sequence number used */
	struct esp_replay replay; /* inbound */
	struct esp_lifetime life;
	struct esp_stats stats;
	struct esp_ratelimit rl[ESP_DROP_MAX];
};

/* Create an SA. -EINVAL for a reserved SPI (0-255), an AEAD with an integrity
 * algorithm or CBC without one; crypto_cipher_new's errors otherwise. The
 * key material is not kept: the caller wipes its copy. */
int esp_sa_new(const struct esp_sa_cfg *cfg, struct esp_sa **out);
/* Frees the cipher (which wipes its keys). NULL is fine. */
void esp_sa_free(struct esp_sa *sa);
enum esp_life esp_sa_life(const struct esp_sa *sa);

/* Bytes ESP adds to an inner packet of inner_len bytes. */
size_t esp_overhead(const struct esp_sa *sa, size_t inner_len);
/* Largest inner packet that fits a path MTU once wrapped in ESP, UDP (8) and
 * the outer IP header (af AF_INET: 20, AF_INET6: 40). 0 if none fits. */
size_t esp_inner_mtu(const struct esp_sa *sa, size_t path_mtu, int af);

/* Next header for an inner packet by its IP version: ESP_NH_IPV4,
 * ESP_NH_IPV6, or -EINVAL. */
int esp_nh_for(const uint8_t *ip, size_t len);

/* Seal the inner packet in `p` in place into an ESP packet: `p` then covers
 * SPI to ICV. Needs ESP_HDR_LEN + IV of headroom and padding + 2 + ICV of
 * tailroom (PKT_HEADROOM / PKT_TAILROOM always suffice). On error the packet
 * is unchanged. */
int esp_seal(struct esp_sa *sa, struct pkt *p, uint8_t next_header);
/* esp_seal with a caller-chosen IV (iv_len bytes): only for known-answer
 * tests that reproduce published packets. Never reuse an IV on a real SA. */
int esp_seal_iv(struct esp_sa *sa, struct pkt *p, uint8_t next_header,
		const uint8_t *iv);

/* Verify and decrypt the ESP packet in `p` in place. Order: length and SPI,
 * sequence number (ESN high bits inferred, RFC 4303 A2.2), replay check, ICV;
 * only a packet that verified moves the replay window. On success `p` covers
 * the inner packet and *next_header is set; a dummy packet (next header 59)
 * returns 0 with an empty `p` and *next_header 59: drop it, it is no error.
 * On error `p` is unchanged or holds undecrypted bytes: drop it. */
int esp_open(struct esp_sa *sa, struct pkt *p, uint8_t *next_header);

/* Inbound SAs by SPI: open addressing, fixed size, no allocation. Holds the
 * old and the new SA side by side during a rekey; the table does not own
 * them (the session frees an SA after removing it). */
#define ESP_TABLE_SLOTS 64u
#define ESP_TABLE_MAX 32u

struct esp_table {
	struct esp_sa *slot[ESP_TABLE_SLOTS];
	size_t count;
	struct esp_stats stats; /* drops before an SA is known */
	struct esp_ratelimit rl[ESP_DROP_MAX];
};

void esp_table_init(struct esp_table *t);
/* -EINVAL (not inbound), -EEXIST (SPI taken), -ENOSPC (ESP_TABLE_MAX). */
int esp_table_add(struct esp_table *t, struct esp_sa *sa);
/* -ENOENT if absent. */
int esp_table_del(struct esp_table *t, uint32_t spi);
struct esp_sa *esp_table_find(const struct esp_table *t, uint32_t spi);
/* Find the SA by the packet's SPI and esp_open with it. *sa_out (may be
 * NULL) gets the SA whenever one matched, also on errors after the lookup. */
int esp_table_open(struct esp_table *t, struct pkt *p, uint8_t *next_header,
		   struct esp_sa **sa_out);

#ifdef __cplusplus
}
#endif
#endif
