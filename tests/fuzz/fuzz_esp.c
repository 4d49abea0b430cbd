/* Fuzz the receive side of the data path: the UDP demultiplexer and
 * esp_open on fixed-key SAs of every cipher, with and without ESN, plus a
 * seal/open round trip that must give back exactly what went in.
 *
 * Input: one control byte, then the datagram.
 *   bits 0-2: which SA (cipher x ESN), bit 6: arrived on the NAT-T port,
 *   bit 5: stamp the SA's SPI over the first four bytes (so the fuzzer gets
 *   past the SPI check without having to guess it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/crypto/crypto.h"
#include "client/esp/esp.h"
#include "client/transport/transport.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

#define NSUITES 5

static const struct {
	enum crypto_encr encr;
	unsigned bits;
	enum crypto_integ integ;
} suites[NSUITES] = {
	{CRYPTO_ENCR_AES_GCM_16, 128, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_AES_GCM_16, 256, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_CHACHA20_POLY1305, 256, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_AES_CBC, 128, CRYPTO_INTEG_HMAC_SHA2_256_128},
	{CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_256_128},
};

static struct esp_sa *in_sa[NSUITES][2], *out_sa[NSUITES][2];
static uint8_t buf[PKT_HEADROOM + 65536 + PKT_TAILROOM];
static uint8_t copy[65536];

static struct esp_sa *make(int s, int esn, enum esp_dir dir)
{
	uint8_t key[36], ikey[32];
	struct esp_sa_cfg cfg = {0};
	struct esp_sa *sa = NULL;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x11 * i + s);
	for (size_t i = 0; i < sizeof(ikey); i++)
		ikey[i] = (uint8_t)(0x5a ^ i);
	cfg.spi = 0x1000u + (uint32_t)(s * 2 + esn);
	cfg.dir = dir;
	cfg.encr = suites[s].encr;
	cfg.key_bits = suites[s].bits;
	cfg.keymat = key;
	cfg.keymat_len = crypto_encr_keymat_len(cfg.encr, cfg.key_bits);
	cfg.integ = suites[s].integ;
	cfg.ikey = cfg.integ == CRYPTO_INTEG_NONE ? NULL : ikey;
	cfg.ikey_len = crypto_integ_key_len(cfg.integ);
	cfg.esn = esn;
	if (esp_sa_new(&cfg, &sa) < 0)
		abort();
	return sa;
}

static void setup(void)
{
	if (crypto_init() < 0)
		abort();
	vlog_set_level(0); /* refusals are the point here, not their log lines */
	for (int s = 0; s < NSUITES; s++) {
		for (int e = 0; e < 2; e++) {
			in_sa[s][e] = make(s, e, ESP_DIR_IN);
			out_sa[s][e] = make(s, e, ESP_DIR_OUT);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct esp_sa *in, *out;
	struct pkt p;
	uint8_t ctl, nh;
	size_t skip, len;
	int sel, esn;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1 || size - 1 > sizeof(copy))
		return 0;
	ctl = data[0];
	data++;
	len = size - 1;
	sel = (ctl & 7) % NSUITES;
	esn = (ctl >> 3) & 1;
	in = in_sa[sel][esn];
	out = out_sa[sel][esn];

	(void)tp_demux_udp(data, len, (ctl & 0x40) != 0, &skip);

	/* Same starting state for every input, so a crash reproduces from its
	 * input alone; ESN SAs sit near a subspace boundary. */
	memset(&in->replay, 0, sizeof(in->replay));
	esp_replay_update(&in->replay, esn ? (1ull << 32) + 5 : 1000);
	in->stats.packets = in->stats.bytes = 0;

	memcpy(buf + PKT_HEADROOM, data, len);
	if ((ctl & 0x20) && len >= 4)
		put_be32(buf + PKT_HEADROOM, in->spi);
	pkt_view(&p, buf + PKT_HEADROOM, len, PKT_HEADROOM, PKT_TAILROOM);
	if (esp_open(in, &p, &nh) == 0 && p.len > len)
		abort(); /* an opened packet can only shrink */

	/* Round trip: whatever we seal, we open to the same bytes. */
	if (len <= PKT_DATA_MAX) {
		memcpy(copy, data, len);
		memcpy(buf + PKT_HEADROOM, data, len);
		pkt_view(&p, buf + PKT_HEADROOM, len, PKT_HEADROOM, PKT_TAILROOM);
		out->seq = in->replay.top;
		if (esp_seal(out, &p, ESP_NH_IPV4) != 0)
			abort();
		if (esp_open(in, &p, &nh) != 0 || nh != ESP_NH_IPV4 || p.len != len ||
		    memcmp(p.data, copy, len) != 0)
			abort();
	}
	return 0;
}
