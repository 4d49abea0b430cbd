/* ESP SAs, seal and open (RFC 4303 2, 3.3, 3.4). */
#include "client/esp/esp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/esp/drop.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

int esp_sa_new(const struct esp_sa_cfg *cfg, struct esp_sa **out)
{
	struct esp_sa *sa;
	size_t block;
	int aead, r;

	*out = NULL;
	if (cfg->spi < 256) {
		/* 0 is never sent, 1-255 are reserved by IANA (RFC 4303 2.1). */
		vlog_err("esp", "SPI 0x%08" PRIx32 " is reserved", cfg->spi);
		return -EINVAL;
	}
	if (cfg->dir != ESP_DIR_IN && cfg->dir != ESP_DIR_OUT)
		return -EINVAL;
	aead = crypto_encr_is_aead(cfg->encr);
	if (aead != (cfg->integ == CRYPTO_INTEG_NONE)) {
		vlog_err("esp", "SPI 0x%08" PRIx32 ": %s", cfg->spi,
			 aead ? "an AEAD takes no integrity algorithm"
			      : "CBC needs an integrity algorithm");
		return -EINVAL;
	}
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	r = crypto_cipher_new(cfg->encr, cfg->key_bits, cfg->keymat, cfg->keymat_len,
			      cfg->integ, cfg->ikey, cfg->ikey_len, &sa->cipher);
	if (r < 0) {
		vlog_err("esp", "SPI 0x%08" PRIx32 ": cannot set up the cipher: %d",
			 cfg->spi, r);
		free(sa);
		return r;
	}
	sa->spi = cfg->spi;
	sa->dir = cfg->dir;
	sa->esn = cfg->esn;
	sa->aead = aead != 0;
	sa->iv_len = (uint8_t)crypto_cipher_iv_len(sa->cipher);
	sa->icv_len = (uint8_t)crypto_cipher_icv_len(sa->cipher);
	block = crypto_cipher_block_len(sa->cipher);
	sa->align = (uint8_t)(block > 4 ? block : 4);
	sa->life = cfg->life;
	if (sa->iv_len + ESP_HDR_LEN > PKT_ESP_HDR_MAX ||
	    sa->align - 1 + 2 + sa->icv_len > PKT_TRAILER_MAX ||
	    (sa->aead && sa->iv_len != 8)) {
		/* The pool's head/tailroom is sized for the ciphers we know;
		 * refuse a cipher that would not fit rather than overrun. */
		vlog_err("esp", "SPI 0x%08" PRIx32 ": cipher geometry (IV %u, ICV %u, "
			 "block %zu) does not fit the packet buffers",
			 cfg->spi, sa->iv_len, sa->icv_len, block);
		esp_sa_free(sa);
		return -EINVAL;
	}
	*out = sa;
	return 0;
}

void esp_sa_free(struct esp_sa *sa)
{
	if (!sa)
		return;
	crypto_cipher_free(sa->cipher);
	crypto_wipe(sa, sizeof(*sa));
	free(sa);
}

static bool seq_exhausted(const struct esp_sa *sa)
{
	return sa->esn ? sa->seq == UINT64_MAX : sa->seq >= UINT32_MAX;
}

static bool over(uint64_t limit, uint64_t value)
{
	return limit && value >= limit;
}

enum esp_life esp_sa_life(const struct esp_sa *sa)
{
	const struct esp_lifetime *l = &sa->life;
	const struct esp_stats *s = &sa->stats;

	if (over(l->hard_bytes, s->bytes) || over(l->hard_packets, s->packets) ||
	    (sa->dir == ESP_DIR_OUT && seq_exhausted(sa)))
		return ESP_LIFE_HARD;
	if (over(l->soft_bytes, s->bytes) || over(l->soft_packets, s->packets) ||
	    (sa->dir == ESP_DIR_OUT && !sa->esn &&
	     sa->seq >= UINT32_MAX - ESP_SEQ_SOFT_MARGIN))
		return ESP_LIFE_SOFT;
	return ESP_LIFE_OK;
}

static bool hard_expired(const struct esp_sa *sa)
{
	return over(sa->life.hard_bytes, sa->stats.bytes) ||
	       over(sa->life.hard_packets, sa->stats.packets);
}

static size_t pad_len(const struct esp_sa *sa, size_t inner_len)
{
	return (sa->align - (inner_len + 2) % sa->align) % sa->align;
}

size_t esp_overhead(const struct esp_sa *sa, size_t inner_len)
{
	return ESP_HDR_LEN + sa->iv_len + pad_len(sa, inner_len) + 2 + sa->icv_len;
}

size_t esp_inner_mtu(const struct esp_sa *sa, size_t path_mtu, int af)
{
	size_t fixed = (af == AF_INET6 ? 40 : 20) + 8 + ESP_HDR_LEN + sa->iv_len +
		       sa->icv_len;
	size_t room;

	if (path_mtu < fixed + sa->align)
		return 0;
	room = (path_mtu - fixed) / sa->align * sa->align; /* payload+pad+2 */
	return room - 2;
}

int esp_nh_for(const uint8_t *ip, size_t len)
{
	if (len < 1)
		return -EINVAL;
	switch (ip[0] >> 4) {
	case 4:
		return ESP_NH_IPV4;
	case 6:
		return ESP_NH_IPV6;
	default:
		return -EINVAL;
	}
}

/* The ICV's associated data (RFC 4106 5, RFC 7634 2.1, RFC 4303 2.2.1):
 * SPI || seq for 32-bit numbers, SPI || seq high || seq low with ESN. For
 * CBC+HMAC the header is authenticated as is and ESN's high half goes
 * after the ciphertext (`tail`). */
struct esp_ad {
	uint8_t buf[12];
	const uint8_t *aad;
	size_t aad_len;
	uint8_t tail[4];
	const uint8_t *tail_p;
	size_t tail_len;
};

static void esp_ad_build(const struct esp_sa *sa, const uint8_t *hdr, uint64_t seq,
			 struct esp_ad *ad)
{
	ad->tail_p = NULL;
	ad->tail_len = 0;
	ad->aad = hdr;
	ad->aad_len = ESP_HDR_LEN;
	if (!sa->esn)
		return;
	if (sa->aead) {
		memcpy(ad->buf, hdr, 4);
		put_be64(ad->buf + 4, seq);
		ad->aad = ad->buf;
		ad->aad_len = 12;
	} else {
		put_be32(ad->tail, (uint32_t)(seq >> 32));
		ad->tail_p = ad->tail;
		ad->tail_len = 4;
	}
}

static int seal(struct esp_sa *sa, struct pkt *p, uint8_t next_header,
		const uint8_t *iv)
{
	size_t inner = p->len, pad = pad_len(sa, inner);
	size_t head = ESP_HDR_LEN + sa->iv_len, ct_len = inner + pad + 2;
	uint8_t *hdr, *ivp, *trailer;
	struct esp_ad ad;
	uint64_t seq;
	size_t i;
	int r;

	if (sa->dir != ESP_DIR_OUT)
		return -EINVAL;
	if (hard_expired(sa))
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_EXPIRED, sa->spi, sa->seq,
				-EKEYEXPIRED);
	if (seq_exhausted(sa))
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_SEQ, sa->spi, sa->seq,
				-EOVERFLOW);
	if (pkt_headroom(p) < head || pkt_tailroom(p) < pad + 2 + sa->icv_len)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_NOROOM, sa->spi, sa->seq,
				-ENOSPC);

	/* Consume the number before anything can fail: a sequence number
	 * (and with it an AEAD nonce) is never used twice, even after an
	 * error halfway. */
	seq = ++sa->seq;
	trailer = p->data + inner;
	for (i = 0; i < pad; i++)
		trailer[i] = (uint8_t)(i + 1);
	trailer[pad] = (uint8_t)pad;
	trailer[pad + 1] = next_header;

	hdr = p->data - head;
	put_be32(hdr, sa->spi);
	put_be32(hdr + 4, (uint32_t)seq);
	ivp = hdr + ESP_HDR_LEN;
	if (iv) {
		memcpy(ivp, iv, sa->iv_len);
	} else if (sa->aead) {
		put_be64(ivp, seq);
	} else {
		r = crypto_random(ivp, sa->iv_len);
		if (r < 0)
			return r;
	}
	esp_ad_build(sa, hdr, seq, &ad);
	r = crypto_cipher_seal(sa->cipher, ad.aad, ad.aad_len, ivp, p->data, ct_len,
			       p->data + ct_len, ad.tail_p, ad.tail_len);
	if (r < 0) {
		vlog_err("esp", "SPI 0x%08" PRIx32 ": seal failed: %d", sa->spi, r);
		return r;
	}
	p->data = hdr;
	p->len = (uint32_t)(head + ct_len + sa->icv_len);
	sa->stats.packets++;
	sa->stats.bytes += inner;
	return 0;
}

int esp_seal(struct esp_sa *sa, struct pkt *p, uint8_t next_header)
{
	return seal(sa, p, next_header, NULL);
}

int esp_seal_iv(struct esp_sa *sa, struct pkt *p, uint8_t next_header,
		const uint8_t *iv)
{
	if (!iv)
		return -EINVAL;
	return seal(sa, p, next_header, iv);
}

/* After the ICV verified: the trailer is authentic, but a peer can still
 * send nonsense; refuse what RFC 4303 2.4 does not allow. */
static int check_trailer(const uint8_t *ct, size_t ct_len, size_t *pad_out)
{
	struct cur c, padding;
	uint8_t pad, b;
	size_t i;

	if (ct_len < 2)
		return -EPROTO;
	pad = ct[ct_len - 2];
	if ((size_t)pad + 2 > ct_len)
		return -EPROTO;
	cur_init(&c, ct, ct_len - 2);
	if (cur_skip(&c, ct_len - 2 - pad) < 0 || cur_sub(&c, pad, &padding) < 0)
		return -EPROTO;
	for (i = 1; i <= pad; i++) {
		if (cur_u8(&padding, &b) < 0 || b != (uint8_t)i)
			return -EPROTO;
	}
	*pad_out = pad;
	return 0;
}

int esp_open(struct esp_sa *sa, struct pkt *p, uint8_t *next_header)
{
	size_t min_ct = sa->align, ct_len, pad;
	const uint8_t *iv;
	uint8_t *ct;
	uint32_t spi, seql;
	struct esp_ad ad;
	struct cur c;
	uint64_t seq;
	int r;

	if (sa->dir != ESP_DIR_IN)
		return -EINVAL;
	cur_init(&c, p->data, p->len);
	if (cur_be32(&c, &spi) < 0 || cur_be32(&c, &seql) < 0 ||
	    cur_ptr(&c, sa->iv_len, &iv) < 0 ||
	    cur_left(&c) < min_ct + sa->icv_len)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_SHORT, sa->spi, 0,
				-EMSGSIZE);
	if (spi != sa->spi)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_SPI, spi, seql, -ENOENT);
	ct_len = cur_left(&c) - sa->icv_len;
	if (ct_len % sa->align)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_SHORT, sa->spi, seql,
				-EMSGSIZE);
	if (hard_expired(sa))
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_EXPIRED, sa->spi, seql,
				-EKEYEXPIRED);
	/* Replay check before spending a decryption on the packet; the window
	 * itself moves only once the ICV proved the number authentic. */
	if (esp_seq_infer(&sa->replay, sa->esn, seql, &seq) < 0 ||
	    esp_replay_check(&sa->replay, seq) < 0)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_REPLAY, sa->spi, seql,
				-EALREADY);

	ct = p->data + c.off;
	esp_ad_build(sa, p->data, seq, &ad);
	r = crypto_cipher_open(sa->cipher, ad.aad, ad.aad_len, iv, ct, ct_len,
			       ct + ct_len, ad.tail_p, ad.tail_len);
	if (r == -EBADMSG)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_ICV, sa->spi, seq, -EBADMSG);
	if (r < 0) {
		vlog_err("esp", "SPI 0x%08" PRIx32 ": open failed: %d", sa->spi, r);
		return r;
	}
	esp_replay_update(&sa->replay, seq);

	if (check_trailer(ct, ct_len, &pad) < 0)
		return esp_drop(&sa->stats, sa->rl, ESP_DROP_PAD, sa->spi, seq, -EPROTO);
	*next_header = ct[ct_len - 1];
	p->data = ct;
	if (*next_header == ESP_NH_NONE) {
		/* Traffic flow confidentiality dummy (RFC 4303 2.6): authentic,
		 * counted, and discarded. */
		sa->stats.dummy++;
		p->len = 0;
		return 0;
	}
	p->len = (uint32_t)(ct_len - 2 - pad);
	sa->stats.packets++;
	sa->stats.bytes += p->len;
	return 0;
}
