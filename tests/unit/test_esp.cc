// ESP seal/open: published packets, structure of what we send, every refusal,
// the replay window's edges, extended sequence numbers and the SA table.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "client/crypto/crypto.h"
#include "client/esp/esp.h"
#include "client/esp/pkt.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

namespace {

std::vector<uint8_t> hex(const std::string &s)
{
	std::vector<uint8_t> out;
	int hi = -1;

	for (char ch : s) {
		int v;
		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v = ch - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			out.push_back((uint8_t)(hi << 4 | v));
			hi = -1;
		}
	}
	return out;
}

struct Suite {
	const char *name;
	enum crypto_encr encr;
	unsigned bits;
	enum crypto_integ integ;
};

const Suite kSuites[] = {
	{"aes128gcm16", CRYPTO_ENCR_AES_GCM_16, 128, CRYPTO_INTEG_NONE},
	{"aes256gcm16", CRYPTO_ENCR_AES_GCM_16, 256, CRYPTO_INTEG_NONE},
	{"chacha20poly1305", CRYPTO_ENCR_CHACHA20_POLY1305, 256, CRYPTO_INTEG_NONE},
	{"aes128-sha256", CRYPTO_ENCR_AES_CBC, 128, CRYPTO_INTEG_HMAC_SHA2_256_128},
	{"aes256-sha256", CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_256_128},
};

// Counts log lines so tests can prove refusals are rate limited.
struct LogCounter {
	int lines = 0;
	std::string last;
};

void count_sink(int, const char *, const char *msg, void *arg)
{
	auto *c = static_cast<LogCounter *>(arg);
	c->lines++;
	c->last = msg;
}

class Esp : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(crypto_init(), 0);
		ASSERT_EQ(pkt_pool_new(64, PKT_BUF_SIZE, &pool), 0);
		vlog_set_sink(count_sink, &log);
	}
	void TearDown() override
	{
		vlog_set_sink(nullptr, nullptr);
		for (esp_sa *sa : sas)
			esp_sa_free(sa);
		pkt_pool_free(pool);
	}

	esp_sa *make(const Suite &s, enum esp_dir dir, uint32_t spi, bool esn = false,
		     esp_lifetime life = {})
	{
		std::vector<uint8_t> key(s.bits / 8 + (crypto_encr_is_aead(s.encr) ? 4 : 0));
		std::vector<uint8_t> ikey(s.integ == CRYPTO_INTEG_NONE ? 0 : 32);
		for (size_t i = 0; i < key.size(); i++)
			key[i] = (uint8_t)(0x40 + i);
		for (size_t i = 0; i < ikey.size(); i++)
			ikey[i] = (uint8_t)(0x90 + i);
		esp_sa_cfg cfg = {};
		cfg.spi = spi;
		cfg.dir = dir;
		cfg.encr = s.encr;
		cfg.key_bits = s.bits;
		cfg.keymat = key.data();
		cfg.keymat_len = key.size();
		cfg.integ = s.integ;
		cfg.ikey = ikey.empty() ? nullptr : ikey.data();
		cfg.ikey_len = ikey.size();
		cfg.esn = esn;
		cfg.life = life;
		esp_sa *sa = nullptr;
		EXPECT_EQ(esp_sa_new(&cfg, &sa), 0) << s.name;
		if (sa)
			sas.push_back(sa);
		return sa;
	}

	esp_sa *make_kat(enum crypto_encr e, unsigned bits, const std::vector<uint8_t> &keymat,
			 enum esp_dir dir, uint32_t spi, bool esn)
	{
		esp_sa_cfg cfg = {};
		cfg.spi = spi;
		cfg.dir = dir;
		cfg.encr = e;
		cfg.key_bits = bits;
		cfg.keymat = keymat.data();
		cfg.keymat_len = keymat.size();
		cfg.integ = CRYPTO_INTEG_NONE;
		cfg.esn = esn;
		esp_sa *sa = nullptr;
		EXPECT_EQ(esp_sa_new(&cfg, &sa), 0);
		if (sa)
			sas.push_back(sa);
		return sa;
	}

	// A pool packet holding a plausible IPv4 packet of `len` bytes.
	pkt *ipv4(size_t len, uint8_t fill = 0)
	{
		pkt *p = pkt_get(pool);
		EXPECT_NE(p, nullptr);
		uint8_t *d = pkt_append(p, len);
		for (size_t i = 0; i < len; i++)
			d[i] = (uint8_t)(fill + i * 7);
		if (len > 0)
			d[0] = 0x45;
		return p;
	}

	pkt *load(const std::vector<uint8_t> &bytes)
	{
		pkt *p = pkt_get(pool);
		EXPECT_NE(p, nullptr);
		memcpy(pkt_append(p, bytes.size()), bytes.data(), bytes.size());
		return p;
	}

	std::vector<uint8_t> bytes(const pkt *p) { return {p->data, p->data + p->len}; }

	void put(pkt *p) { EXPECT_EQ(pkt_put(pool, p), 0); }

	pkt_pool *pool = nullptr;
	std::vector<esp_sa *> sas;
	LogCounter log;
};

// ---- known answers ---------------------------------------------------------

struct Kat {
	const char *source;
	enum crypto_encr encr;
	unsigned bits;
	const char *keymat; // key || salt
	uint32_t spi;
	uint64_t seq; // full sequence number (high half only with ESN)
	bool esn;
	const char *iv;
	const char *plaintext; // payload || padding || pad length || next header
	const char *ciphertext; // encrypted plaintext || ICV
};

// Test vectors: draft-mcgrew-gcm-test-01 (AES-GCM in ESP, RFC 4106) and
// RFC 7634 Appendix A (ChaCha20-Poly1305 in ESP). Their next headers and
// inner lengths are whatever the authors used; ESP does not judge them.
const Kat kKats[] = {
	{"draft-mcgrew-gcm-test-01 (128-bit key, ESN)", CRYPTO_ENCR_AES_GCM_16, 128,
	 "4c80cdefbb5d10da906ac73c3613a634 2e443b68", 0x00004321, 0x8765432100000000ull,
	 true, "4956ed7e3b244cfe",
	 "45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000"
	 "00000000045f736970045f756470037369700963796265726369747902646b00"
	 "0021000101020201",
	 "fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34"
	 "cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce"
	 "61bc17d768fd9732459018148f6cbe722fd04796562dfdb4"},
	{"draft-mcgrew-gcm-test-01 (128-bit key)", CRYPTO_ENCR_AES_GCM_16, 128,
	 "feffe9928665731c6d6a8f9467308308 cafebabe", 0x0000a5f8, 0x0a, false,
	 "facedbaddecaf888",
	 "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
	 "00010000000000000373697009637962657263697479 02646b00000100010001",
	 "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
	 "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
	 "83b70d3aa8bc6ee4c309e9d85a41ad4a"},
	{"draft-mcgrew-gcm-test-01 (256-bit key)", CRYPTO_ENCR_AES_GCM_16, 256,
	 "abbccddef00112233445566778899aababbccddef00112233445566778899aab 11223344",
	 0x4a2cbfe3, 2, false, "0102030405060708",
	 "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
	 "7002400020bf0000020405b40101040201020201",
	 "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
	 "748a637985771d347f0545659f14e99def842d8e"
	 "b335f4eecfdbf831824b4c4915956c96"},
	{"RFC 7634 Appendix A", CRYPTO_ENCR_CHACHA20_POLY1305, 256,
	 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
	 0x01020304, 5, false, "1011121314151617",
	 "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10"
	 "0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
	 "2425262728292a2b2c2d2e2f303132333435363701020204",
	 "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6"
	 "14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3"
	 "cbec163fac469b502773f6fb94e664da9165b82829f641e0"
	 "76aaa8266b7fb0f7b11b369907e1ad43"},
};

TEST_F(Esp, KnownAnswerSealReproducesPublishedPackets)
{
	for (const Kat &k : kKats) {
		SCOPED_TRACE(k.source);
		std::vector<uint8_t> pt = hex(k.plaintext), ct = hex(k.ciphertext);
		uint8_t pad = pt[pt.size() - 2], nh = pt.back();
		esp_sa *out = make_kat(k.encr, k.bits, hex(k.keymat), ESP_DIR_OUT, k.spi, k.esn);
		ASSERT_NE(out, nullptr);
		out->seq = k.seq - 1;
		pkt *p = load(std::vector<uint8_t>(pt.begin(), pt.end() - 2 - pad));
		ASSERT_EQ(esp_seal_iv(out, p, nh, hex(k.iv).data()), 0);

		std::vector<uint8_t> want(8);
		put_be32(want.data(), k.spi);
		put_be32(want.data() + 4, (uint32_t)k.seq);
		std::vector<uint8_t> iv = hex(k.iv);
		want.insert(want.end(), iv.begin(), iv.end());
		want.insert(want.end(), ct.begin(), ct.end());
		EXPECT_EQ(bytes(p), want);
		EXPECT_EQ(out->seq, k.seq);
		put(p);
	}
}

TEST_F(Esp, KnownAnswerOpenRecoversPublishedPayloads)
{
	for (const Kat &k : kKats) {
		SCOPED_TRACE(k.source);
		std::vector<uint8_t> pt = hex(k.plaintext), ct = hex(k.ciphertext);
		uint8_t pad = pt[pt.size() - 2];
		esp_sa *in = make_kat(k.encr, k.bits, hex(k.keymat), ESP_DIR_IN, k.spi, k.esn);
		ASSERT_NE(in, nullptr);
		// Put the window where a receiver that saw earlier traffic has it,
		// so the ESN high half is inferred from history, not given.
		in->replay.top = k.seq > 100 ? k.seq - 100 : 0;

		std::vector<uint8_t> wire(8);
		put_be32(wire.data(), k.spi);
		put_be32(wire.data() + 4, (uint32_t)k.seq);
		std::vector<uint8_t> iv = hex(k.iv);
		wire.insert(wire.end(), iv.begin(), iv.end());
		wire.insert(wire.end(), ct.begin(), ct.end());
		pkt *p = load(wire);
		uint8_t nh = 0;
		ASSERT_EQ(esp_open(in, p, &nh), 0);
		EXPECT_EQ(nh, pt.back());
		EXPECT_EQ(bytes(p), std::vector<uint8_t>(pt.begin(), pt.end() - 2 - pad));
		EXPECT_EQ(in->replay.top, k.seq);
		put(p);
	}
}

// ---- what we send ---------------------------------------------------------

TEST_F(Esp, SealedPacketsHaveTheRfc4303Layout)
{
	for (const Suite &s : kSuites) {
		SCOPED_TRACE(s.name);
		esp_sa *out = make(s, ESP_DIR_OUT, 0x1000);
		// A second handle with the same keys decrypts by hand, without
		// esp_open, so the trailer is checked independently of our parser.
		esp_sa *raw = make(s, ESP_DIR_IN, 0x1000);
		ASSERT_TRUE(out && raw);
		size_t align = s.encr == CRYPTO_ENCR_AES_CBC ? 16 : 4;
		size_t ivl = s.encr == CRYPTO_ENCR_AES_CBC ? 16 : 8;
		size_t icv = 16;
		for (size_t len : {1, 2, 3, 4, 5, 20, 40, 41, 42, 43, 100, 1399, 1400, 1438, 1500}) {
			SCOPED_TRACE(len);
			pkt *p = ipv4(len, (uint8_t)len);
			std::vector<uint8_t> inner = bytes(p);
			ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
			size_t pad = (align - (len + 2) % align) % align;
			ASSERT_EQ(p->len, 8 + ivl + len + pad + 2 + icv);
			EXPECT_EQ(esp_overhead(out, len), p->len - len);
			EXPECT_EQ(get_be32(p->data), 0x1000u);
			EXPECT_EQ(get_be32(p->data + 4), (uint32_t)out->seq);
			if (ivl == 8) {
				uint8_t seq_iv[8];
				put_be64(seq_iv, out->seq);
				EXPECT_EQ(memcmp(p->data + 8, seq_iv, 8), 0)
					<< "the AEAD IV is the sequence number";
			}
			uint8_t *ctp = p->data + 8 + ivl;
			size_t ct_len = len + pad + 2;
			ASSERT_EQ((ct_len) % align, 0u);
			ASSERT_EQ(crypto_cipher_open(raw->cipher, p->data, 8, p->data + 8, ctp,
						     ct_len, ctp + ct_len, nullptr, 0),
				  0);
			EXPECT_EQ(memcmp(ctp, inner.data(), len), 0);
			for (size_t i = 0; i < pad; i++)
				EXPECT_EQ(ctp[len + i], i + 1) << "padding is 1, 2, 3, ...";
			EXPECT_EQ(ctp[len + pad], pad);
			EXPECT_EQ(ctp[len + pad + 1], ESP_NH_IPV4);
			put(p);
		}
	}
}

TEST_F(Esp, CbcIvsAreFreshPerPacket)
{
	esp_sa *out = make(kSuites[3], ESP_DIR_OUT, 0x1000);
	pkt *a = ipv4(60), *b = ipv4(60);
	ASSERT_EQ(esp_seal(out, a, ESP_NH_IPV4), 0);
	ASSERT_EQ(esp_seal(out, b, ESP_NH_IPV4), 0);
	EXPECT_NE(memcmp(a->data + 8, b->data + 8, 16), 0);
	put(a);
	put(b);
}

TEST_F(Esp, RoundTripEveryCipherIpv4AndIpv6)
{
	for (const Suite &s : kSuites) {
		for (bool esn : {false, true}) {
			SCOPED_TRACE(std::string(s.name) + (esn ? " esn" : ""));
			esp_sa *out = make(s, ESP_DIR_OUT, 0xc0ffee, esn);
			esp_sa *in = make(s, ESP_DIR_IN, 0xc0ffee, esn);
			for (size_t len = 20; len <= 1500; len += 97) {
				pkt *p = ipv4(len);
				if (len % 2)
					p->data[0] = 0x60;
				std::vector<uint8_t> inner = bytes(p);
				int nh = esp_nh_for(p->data, p->len);
				ASSERT_GT(nh, 0);
				ASSERT_EQ(esp_seal(out, p, (uint8_t)nh), 0);
				uint8_t got = 0;
				ASSERT_EQ(esp_open(in, p, &got), 0);
				EXPECT_EQ(got, len % 2 ? ESP_NH_IPV6 : ESP_NH_IPV4);
				EXPECT_EQ(bytes(p), inner);
				put(p);
			}
			EXPECT_EQ(in->stats.packets, out->stats.packets);
			EXPECT_EQ(in->stats.bytes, out->stats.bytes);
		}
	}
}

TEST_F(Esp, InnerMtuFillsThePathExactly)
{
	esp_sa *gcm = make(kSuites[1], ESP_DIR_OUT, 0x1000);
	esp_sa *cbc = make(kSuites[3], ESP_DIR_OUT, 0x1001);
	// 1500 - 20 (IPv4) - 8 (UDP) - 8 (ESP) - 8 (IV) - 16 (ICV) = 1440 = payload + 2.
	EXPECT_EQ(esp_inner_mtu(gcm, 1500, AF_INET), 1438u);
	EXPECT_EQ(esp_inner_mtu(gcm, 1500, AF_INET6), 1418u);
	// CBC: 1500 - 20 - 8 - 8 - 16 - 16 = 1432, block-aligned 1424 = payload + 2.
	EXPECT_EQ(esp_inner_mtu(cbc, 1500, AF_INET), 1422u);
	for (esp_sa *sa : {gcm, cbc}) {
		size_t inner = esp_inner_mtu(sa, 1500, AF_INET);
		EXPECT_LE(inner + esp_overhead(sa, inner) + 28, 1500u);
		EXPECT_GT(inner + 1 + esp_overhead(sa, inner + 1) + 28, 1500u);
	}
	EXPECT_EQ(esp_inner_mtu(gcm, 40, AF_INET), 0u);
}

// ---- refusals ---------------------------------------------------------------

TEST_F(Esp, RefusesTruncatedAndMisalignedPackets)
{
	for (const Suite &s : kSuites) {
		SCOPED_TRACE(s.name);
		esp_sa *out = make(s, ESP_DIR_OUT, 0x2000);
		esp_sa *in = make(s, ESP_DIR_IN, 0x2000);
		pkt *p = ipv4(64);
		ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
		std::vector<uint8_t> good = bytes(p);
		uint8_t nh;
		uint64_t before = in->stats.drops[ESP_DROP_SHORT];
		for (size_t cut : {good.size() - 1, good.size() - 4, (size_t)30, (size_t)8,
				   (size_t)7, (size_t)0}) {
			p->data = p->buf + PKT_HEADROOM;
			memcpy(p->data, good.data(), cut);
			p->len = (uint32_t)cut;
			int r = esp_open(in, p, &nh);
			// Cutting within a 4-byte/block unit leaves a misaligned
			// ciphertext; cutting whole units leaves a wrong ICV.
			EXPECT_TRUE(r == -EMSGSIZE || r == -EBADMSG) << cut << ": " << r;
		}
		EXPECT_GE(in->stats.drops[ESP_DROP_SHORT], before + 4);
		// And the untouched packet still opens: nothing above moved the window.
		p->data = p->buf + PKT_HEADROOM;
		memcpy(p->data, good.data(), good.size());
		p->len = (uint32_t)good.size();
		EXPECT_EQ(esp_open(in, p, &nh), 0);
		put(p);
	}
}

TEST_F(Esp, RefusesUnknownSpiAndWrongSa)
{
	esp_table t;
	esp_table_init(&t);
	esp_sa *out = make(kSuites[0], ESP_DIR_OUT, 0x3000);
	esp_sa *in = make(kSuites[0], ESP_DIR_IN, 0x3001);
	ASSERT_EQ(esp_table_add(&t, in), 0);
	pkt *p = ipv4(100);
	ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
	uint8_t nh;
	esp_sa *hit = reinterpret_cast<esp_sa *>(1);
	EXPECT_EQ(esp_table_open(&t, p, &nh, &hit), -ENOENT);
	EXPECT_EQ(hit, nullptr);
	EXPECT_EQ(t.stats.drops[ESP_DROP_SPI], 1u);
	EXPECT_EQ(esp_open(in, p, &nh), -ENOENT);
	EXPECT_EQ(in->stats.drops[ESP_DROP_SPI], 1u);
	p->len = 7;
	EXPECT_EQ(esp_table_open(&t, p, &nh, nullptr), -EMSGSIZE);
	EXPECT_EQ(t.stats.drops[ESP_DROP_SHORT], 1u);
	put(p);
}

TEST_F(Esp, RefusesEveryTamperedByteAndKeepsTheWindow)
{
	for (const Suite &s : kSuites) {
		for (bool esn : {false, true}) {
			SCOPED_TRACE(std::string(s.name) + (esn ? " esn" : ""));
			esp_sa *out = make(s, ESP_DIR_OUT, 0x4000, esn);
			esp_sa *in = make(s, ESP_DIR_IN, 0x4000, esn);
			pkt *p = ipv4(48);
			ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
			std::vector<uint8_t> good = bytes(p);
			uint8_t nh;
			// Every byte after the SPI: sequence number, IV, ciphertext, ICV.
			for (size_t i = 4; i < good.size(); i++) {
				memcpy(p->data, good.data(), good.size());
				p->len = (uint32_t)good.size();
				// 0x80, not 0x01: turning sequence number 1 into 0 would
				// be refused as a replay before the ICV is even looked at.
				p->data[i] ^= 0x80;
				int r = esp_open(in, p, &nh);
				EXPECT_EQ(r, -EBADMSG) << "byte " << i;
				EXPECT_EQ(in->replay.top, 0u) << "a forgery moved the window";
			}
			EXPECT_EQ(in->stats.drops[ESP_DROP_ICV], good.size() - 4);
			memcpy(p->data, good.data(), good.size());
			p->len = (uint32_t)good.size();
			EXPECT_EQ(esp_open(in, p, &nh), 0);
			put(p);
		}
	}
}

// Builds a packet whose ICV is right but whose trailer is not what RFC 4303
// allows: the sender is authentic but broken.
std::vector<uint8_t> forge_trailer(esp_sa *keyed, uint32_t spi, uint32_t seq,
				   std::vector<uint8_t> plaintext)
{
	std::vector<uint8_t> w(8 + keyed->iv_len + plaintext.size() + keyed->icv_len);
	put_be32(w.data(), spi);
	put_be32(w.data() + 4, seq);
	for (size_t i = 0; i < keyed->iv_len; i++)
		w[8 + i] = (uint8_t)(0xa0 + i);
	memcpy(w.data() + 8 + keyed->iv_len, plaintext.data(), plaintext.size());
	uint8_t *ct = w.data() + 8 + keyed->iv_len;
	EXPECT_EQ(crypto_cipher_seal(keyed->cipher, w.data(), 8, w.data() + 8, ct,
				     plaintext.size(), ct + plaintext.size(), nullptr, 0),
		  0);
	return w;
}

TEST_F(Esp, RefusesBadPaddingAfterTheIcvVerified)
{
	for (const Suite &s : kSuites) {
		SCOPED_TRACE(s.name);
		esp_sa *keyed = make(s, ESP_DIR_OUT, 0x5000);
		esp_sa *in = make(s, ESP_DIR_IN, 0x5000);
		size_t unit = s.encr == CRYPTO_ENCR_AES_CBC ? 16 : 4;
		uint8_t nh;
		uint32_t seq = 1;

		// Padding bytes not 1, 2, 3, ...
		std::vector<uint8_t> pt(unit * 3, 0x45);
		pt[pt.size() - 4] = 1;
		pt[pt.size() - 3] = 3; // should be 2
		pt[pt.size() - 2] = 2;
		pt[pt.size() - 1] = ESP_NH_IPV4;
		pkt *p = load(forge_trailer(keyed, 0x5000, seq++, pt));
		EXPECT_EQ(esp_open(in, p, &nh), -EPROTO);
		put(p);

		// Pad length longer than the payload.
		std::vector<uint8_t> pt2(unit, 0);
		pt2[unit - 2] = (uint8_t)(unit - 1);
		pt2[unit - 1] = ESP_NH_IPV4;
		p = load(forge_trailer(keyed, 0x5000, seq++, pt2));
		EXPECT_EQ(esp_open(in, p, &nh), -EPROTO);
		put(p);

		// Pad length 255 in a short packet.
		std::vector<uint8_t> pt3(unit * 2, 1);
		pt3[pt3.size() - 2] = 255;
		pt3[pt3.size() - 1] = ESP_NH_IPV6;
		p = load(forge_trailer(keyed, 0x5000, seq++, pt3));
		EXPECT_EQ(esp_open(in, p, &nh), -EPROTO);
		put(p);

		EXPECT_EQ(in->stats.drops[ESP_DROP_PAD], 3u);
		EXPECT_EQ(in->stats.packets, 0u);
		// The ICV verified, so the numbers are used up: a replay of them
		// is a replay, not a second chance.
		p = load(forge_trailer(keyed, 0x5000, 1, pt));
		EXPECT_EQ(esp_open(in, p, &nh), -EALREADY);
		put(p);

		// And a correct trailer with maximal padding is fine.
		std::vector<uint8_t> pt4(unit * 2, 0);
		pt4[0] = 0x45;
		size_t padn = unit * 2 - 2 - 1;
		for (size_t i = 0; i < padn; i++)
			pt4[1 + i] = (uint8_t)(i + 1);
		pt4[unit * 2 - 2] = (uint8_t)padn;
		pt4[unit * 2 - 1] = ESP_NH_IPV4;
		p = load(forge_trailer(keyed, 0x5000, seq++, pt4));
		ASSERT_EQ(esp_open(in, p, &nh), 0);
		EXPECT_EQ(p->len, 1u);
		EXPECT_EQ(p->data[0], 0x45);
		put(p);
	}
}

TEST_F(Esp, DummyPacketsAreDroppedWithoutError)
{
	esp_sa *out = make(kSuites[2], ESP_DIR_OUT, 0x6000);
	esp_sa *in = make(kSuites[2], ESP_DIR_IN, 0x6000);
	pkt *p = ipv4(30);
	ASSERT_EQ(esp_seal(out, p, ESP_NH_NONE), 0);
	uint8_t nh = 0;
	ASSERT_EQ(esp_open(in, p, &nh), 0);
	EXPECT_EQ(nh, ESP_NH_NONE);
	EXPECT_EQ(p->len, 0u);
	EXPECT_EQ(in->stats.dummy, 1u);
	EXPECT_EQ(in->stats.packets, 0u);
	for (uint64_t d : in->stats.drops)
		EXPECT_EQ(d, 0u);
	put(p);
}

TEST_F(Esp, RefusalsAreCountedButLoggedRateLimited)
{
	esp_sa *out = make(kSuites[0], ESP_DIR_OUT, 0x7000);
	esp_sa *in = make(kSuites[0], ESP_DIR_IN, 0x7000);
	pkt *p = ipv4(64);
	ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
	std::vector<uint8_t> good = bytes(p);
	good.back() ^= 0xff;
	uint8_t nh;
	log.lines = 0;
	for (int i = 0; i < 1000; i++) {
		memcpy(p->data, good.data(), good.size());
		p->len = (uint32_t)good.size();
		ASSERT_EQ(esp_open(in, p, &nh), -EBADMSG);
	}
	EXPECT_EQ(in->stats.drops[ESP_DROP_ICV], 1000u);
	// A test run could straddle a second boundary once; never more.
	EXPECT_GE(log.lines, 1);
	EXPECT_LE(log.lines, 2);
	EXPECT_NE(log.last.find("integrity"), std::string::npos) << log.last;
	put(p);
}

TEST_F(Esp, HardLifetimeStopsTheSaSoftOneAsksForARekey)
{
	esp_lifetime life = {};
	life.soft_packets = 3;
	life.hard_packets = 5;
	esp_sa *out = make(kSuites[0], ESP_DIR_OUT, 0x8000, false, life);
	EXPECT_EQ(esp_sa_life(out), ESP_LIFE_OK);
	for (int i = 0; i < 5; i++) {
		pkt *p = ipv4(40);
		ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
		put(p);
		EXPECT_EQ(esp_sa_life(out), i < 2 ? ESP_LIFE_OK : i < 4 ? ESP_LIFE_SOFT : ESP_LIFE_HARD);
	}
	pkt *p = ipv4(40);
	EXPECT_EQ(esp_seal(out, p, ESP_NH_IPV4), -EKEYEXPIRED);
	EXPECT_EQ(p->len, 40u) << "a refused packet is left as it was";
	EXPECT_EQ(out->stats.drops[ESP_DROP_EXPIRED], 1u);
	put(p);

	esp_lifetime blife = {};
	blife.hard_bytes = 100;
	esp_sa *bout = make(kSuites[0], ESP_DIR_OUT, 0x8001);
	esp_sa *bin = make(kSuites[0], ESP_DIR_IN, 0x8001, false, blife);
	uint8_t nh;
	for (int i = 0; i < 3; i++) {
		p = ipv4(60);
		ASSERT_EQ(esp_seal(bout, p, ESP_NH_IPV4), 0);
		EXPECT_EQ(esp_open(bin, p, &nh), i < 2 ? 0 : -EKEYEXPIRED);
		put(p);
	}
	EXPECT_EQ(esp_sa_life(bin), ESP_LIFE_HARD);
}

TEST_F(Esp, SequenceOverflowWithoutEsnRefusesToWrap)
{
	esp_sa *out = make(kSuites[0], ESP_DIR_OUT, 0x9000);
	out->seq = UINT32_MAX - ESP_SEQ_SOFT_MARGIN - 1;
	EXPECT_EQ(esp_sa_life(out), ESP_LIFE_OK);
	out->seq = UINT32_MAX - 1;
	EXPECT_EQ(esp_sa_life(out), ESP_LIFE_SOFT);
	pkt *p = ipv4(40);
	ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
	EXPECT_EQ(get_be32(p->data + 4), UINT32_MAX);
	put(p);
	EXPECT_EQ(esp_sa_life(out), ESP_LIFE_HARD);
	p = ipv4(40);
	EXPECT_EQ(esp_seal(out, p, ESP_NH_IPV4), -EOVERFLOW);
	EXPECT_EQ(out->seq, (uint64_t)UINT32_MAX) << "never wraps to 0";
	EXPECT_EQ(out->stats.drops[ESP_DROP_SEQ], 1u);
	put(p);

	// With ESN the same number is just the end of the first subspace.
	esp_sa *eout = make(kSuites[0], ESP_DIR_OUT, 0x9001, true);
	eout->seq = UINT32_MAX - 1;
	for (int i = 0; i < 3; i++) {
		p = ipv4(40);
		ASSERT_EQ(esp_seal(eout, p, ESP_NH_IPV4), 0);
		put(p);
	}
	EXPECT_EQ(eout->seq, (uint64_t)UINT32_MAX + 2);
	EXPECT_EQ(esp_sa_life(eout), ESP_LIFE_OK);
}

TEST_F(Esp, RefusesMisuseAndReservedSpis)
{
	esp_sa *out = make(kSuites[0], ESP_DIR_OUT, 0xa000);
	esp_sa *in = make(kSuites[0], ESP_DIR_IN, 0xa000);
	pkt *p = ipv4(40);
	uint8_t nh;
	EXPECT_EQ(esp_open(out, p, &nh), -EINVAL);
	EXPECT_EQ(esp_seal(in, p, ESP_NH_IPV4), -EINVAL);
	EXPECT_EQ(esp_seal_iv(out, p, ESP_NH_IPV4, nullptr), -EINVAL);
	// No room: a packet at the very start of its buffer.
	p->data = p->buf;
	EXPECT_EQ(esp_seal(out, p, ESP_NH_IPV4), -ENOSPC);
	EXPECT_EQ(out->stats.drops[ESP_DROP_NOROOM], 1u);
	put(p);

	uint8_t key[20] = {};
	esp_sa_cfg cfg = {};
	cfg.dir = ESP_DIR_IN;
	cfg.encr = CRYPTO_ENCR_AES_GCM_16;
	cfg.key_bits = 128;
	cfg.keymat = key;
	cfg.keymat_len = sizeof(key);
	esp_sa *sa = nullptr;
	for (uint32_t spi : {0u, 1u, 255u}) {
		cfg.spi = spi;
		EXPECT_EQ(esp_sa_new(&cfg, &sa), -EINVAL) << spi;
	}
	cfg.spi = 256;
	cfg.integ = CRYPTO_INTEG_HMAC_SHA2_256_128;
	EXPECT_EQ(esp_sa_new(&cfg, &sa), -EINVAL) << "AEAD plus integrity";
	cfg.encr = CRYPTO_ENCR_AES_CBC;
	cfg.integ = CRYPTO_INTEG_NONE;
	cfg.keymat_len = 16;
	EXPECT_EQ(esp_sa_new(&cfg, &sa), -EINVAL) << "CBC without integrity";
	EXPECT_EQ(sa, nullptr);
}

// ---- replay window ----------------------------------------------------------

TEST(EspReplay, WindowIsExactlyEspReplayWindowPackets)
{
	esp_replay r = {};
	const uint64_t top = 100000;
	esp_replay_update(&r, top);
	// Every number of the window is accepted once...
	for (uint64_t s = top - ESP_REPLAY_WINDOW + 1; s < top; s++) {
		ASSERT_EQ(esp_replay_check(&r, s), 0) << s;
		esp_replay_update(&r, s);
	}
	// ...and then refused as a duplicate, as is everything older.
	for (uint64_t s = top - ESP_REPLAY_WINDOW + 1; s <= top; s++)
		ASSERT_EQ(esp_replay_check(&r, s), -EALREADY) << s;
	EXPECT_EQ(esp_replay_check(&r, top - ESP_REPLAY_WINDOW), -EALREADY);
	EXPECT_EQ(r.top, top);

	esp_replay fresh = {};
	esp_replay_update(&fresh, top);
	EXPECT_EQ(esp_replay_check(&fresh, top - (ESP_REPLAY_WINDOW - 1)), 0)
		<< "exactly window-size back (inclusive of top) is accepted";
	EXPECT_EQ(esp_replay_check(&fresh, top - ESP_REPLAY_WINDOW), -EALREADY)
		<< "one more is too old";
	EXPECT_EQ(esp_replay_check(&fresh, 0), -EALREADY);
	EXPECT_EQ(esp_replay_check(&fresh, top + 1), 0);
	EXPECT_GE(ESP_REPLAY_WINDOW, 1024u);
}

TEST(EspReplay, JumpsClearStaleBitsOnlyWhereTheyMustGo)
{
	esp_replay r = {};
	for (uint64_t s = 1; s <= 3000; s++)
		esp_replay_update(&r, s);
	// A jump by exactly the ring size lands on the same words: none of
	// the old bits may survive as false replays.
	uint64_t jump = 3000 + ESP_REPLAY_WORDS * 64;
	esp_replay_update(&r, jump);
	for (uint64_t s = jump - ESP_REPLAY_WINDOW + 1; s < jump; s++)
		ASSERT_EQ(esp_replay_check(&r, s), 0) << s;
	// A small jump keeps the bits that are still inside the window.
	esp_replay q = {};
	for (uint64_t s = 1; s <= 2000; s++)
		esp_replay_update(&q, s);
	esp_replay_update(&q, 2500);
	for (uint64_t s = 2500 - ESP_REPLAY_WINDOW + 1; s <= 2000; s++)
		ASSERT_EQ(esp_replay_check(&q, s), -EALREADY) << s;
	for (uint64_t s = 2001; s < 2500; s++)
		ASSERT_EQ(esp_replay_check(&q, s), 0) << s;
	// Far ahead (billions) is fine and empties the window.
	esp_replay_update(&q, 5000000000ull);
	EXPECT_EQ(esp_replay_check(&q, 5000000000ull - 1), 0);
	EXPECT_EQ(esp_replay_check(&q, 2500), -EALREADY);
}

TEST(EspReplay, EsnHighBitsFollowRfc4303AppendixA)
{
	esp_replay r = {};
	uint64_t seq;
	// Fresh SA: only the first subspace exists.
	ASSERT_EQ(esp_seq_infer(&r, true, 1, &seq), 0);
	EXPECT_EQ(seq, 1u);
	EXPECT_EQ(esp_seq_infer(&r, true, 0, &seq), -EALREADY);
	EXPECT_EQ(esp_seq_infer(&r, true, 0xffffffffu, &seq), -EALREADY)
		<< "would be below the start of the sequence space";

	// Case A: window within subspace 5.
	r.top = (5ull << 32) | 0x80000000u;
	ASSERT_EQ(esp_seq_infer(&r, true, 0x80000001u, &seq), 0);
	EXPECT_EQ(seq, (5ull << 32) | 0x80000001u);
	ASSERT_EQ(esp_seq_infer(&r, true, 0x80000000u - (ESP_REPLAY_WINDOW - 1), &seq), 0);
	EXPECT_EQ(seq >> 32, 5u);
	ASSERT_EQ(esp_seq_infer(&r, true, 0x10, &seq), 0);
	EXPECT_EQ(seq, (6ull << 32) | 0x10) << "below the window means it wrapped";

	// Case B: top just after a rollover; the window reaches back.
	r.top = (6ull << 32) | 5;
	ASSERT_EQ(esp_seq_infer(&r, true, 0xfffffff0u, &seq), 0);
	EXPECT_EQ(seq, (5ull << 32) | 0xfffffff0u);
	ASSERT_EQ(esp_seq_infer(&r, true, 3, &seq), 0);
	EXPECT_EQ(seq, (6ull << 32) | 3);
	ASSERT_EQ(esp_seq_infer(&r, true, 0x1000, &seq), 0);
	EXPECT_EQ(seq, (6ull << 32) | 0x1000);

	// Without ESN the wire value is the number.
	ASSERT_EQ(esp_seq_infer(&r, false, 0xfffffff0u, &seq), 0);
	EXPECT_EQ(seq, 0xfffffff0u);
}

TEST_F(Esp, ReplayedAndReorderedPacketsThroughOpen)
{
	esp_sa *out = make(kSuites[0], ESP_DIR_OUT, 0xb000);
	esp_sa *in = make(kSuites[0], ESP_DIR_IN, 0xb000);
	const size_t n = ESP_REPLAY_WINDOW + 10;
	std::vector<std::vector<uint8_t>> wire;
	for (size_t i = 0; i < n; i++) {
		pkt *p = ipv4(40);
		ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
		wire.push_back(bytes(p));
		put(p);
	}
	uint8_t nh;
	auto open = [&](size_t i) {
		pkt *p = load(wire[i]);
		int r = esp_open(in, p, &nh);
		put(p);
		return r;
	};
	// Newest first: the window then covers exactly the ESP_REPLAY_WINDOW
	// newest packets; the 10 oldest fall out.
	for (size_t i = n; i-- > 0;)
		EXPECT_EQ(open(i), i >= n - ESP_REPLAY_WINDOW ? 0 : -EALREADY) << i;
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(open(i), -EALREADY) << "duplicate " << i;
	EXPECT_EQ(in->stats.packets, ESP_REPLAY_WINDOW);
	EXPECT_EQ(in->stats.drops[ESP_DROP_REPLAY], 10u + n);
}

TEST_F(Esp, EsnRolloverAcrossTwoToThe32)
{
	for (const Suite &s : kSuites) {
		SCOPED_TRACE(s.name);
		esp_sa *out = make(s, ESP_DIR_OUT, 0xd000, true);
		esp_sa *in = make(s, ESP_DIR_IN, 0xd000, true);
		// Both ends have been talking for a while.
		out->seq = 0xffffff00u;
		esp_replay_update(&in->replay, 0xffffff00u);
		std::vector<std::vector<uint8_t>> wire;
		for (int i = 0; i < 512; i++) {
			pkt *p = ipv4(64);
			ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
			wire.push_back(bytes(p));
			put(p);
		}
		EXPECT_EQ(out->seq, 0xffffff00ull + 512);
		EXPECT_EQ(get_be32(wire.back().data() + 4), 0xffffff00u + 512) << "low half on the wire";
		uint8_t nh;
		// Deliver all but packet 100 (still in subspace 0), then it late.
		for (size_t i = 0; i < wire.size(); i++) {
			if (i == 100)
				continue;
			pkt *p = load(wire[i]);
			ASSERT_EQ(esp_open(in, p, &nh), 0) << i;
			put(p);
		}
		EXPECT_EQ(in->replay.top, 0xffffff00ull + 512);
		pkt *p = load(wire[100]);
		EXPECT_EQ(esp_open(in, p, &nh), 0) << "late packet from before the rollover";
		put(p);
		p = load(wire[300]);
		EXPECT_EQ(esp_open(in, p, &nh), -EALREADY);
		put(p);
	}
}

TEST_F(Esp, EsnWrongHighHalfFailsTheIcv)
{
	esp_sa *out = make(kSuites[3], ESP_DIR_OUT, 0xd100, true);
	esp_sa *in = make(kSuites[3], ESP_DIR_IN, 0xd100, true);
	// The sender is one whole subspace ahead of what the receiver can infer.
	out->seq = (1ull << 32) + 10;
	esp_replay_update(&in->replay, 5);
	pkt *p = ipv4(64);
	ASSERT_EQ(esp_seal(out, p, ESP_NH_IPV4), 0);
	uint8_t nh;
	EXPECT_EQ(esp_open(in, p, &nh), -EBADMSG) << "high bits are authenticated";
	EXPECT_EQ(in->replay.top, 5u);
	put(p);
}

// ---- SA table -----------------------------------------------------------------

TEST_F(Esp, TableHoldsOldAndNewSaDuringRekey)
{
	esp_table t;
	esp_table_init(&t);
	esp_sa *old_out = make(kSuites[0], ESP_DIR_OUT, 0x11111111);
	esp_sa *old_in = make(kSuites[0], ESP_DIR_IN, 0x11111111);
	esp_sa *new_out = make(kSuites[1], ESP_DIR_OUT, 0x22222222);
	esp_sa *new_in = make(kSuites[1], ESP_DIR_IN, 0x22222222);
	ASSERT_EQ(esp_table_add(&t, old_in), 0);
	EXPECT_EQ(esp_table_add(&t, old_out), -EINVAL);
	EXPECT_EQ(esp_table_add(&t, old_in), -EEXIST);
	ASSERT_EQ(esp_table_add(&t, new_in), 0);

	// Packets of both generations interleave during the overlap.
	uint8_t nh;
	for (int i = 0; i < 10; i++) {
		esp_sa *o = i % 2 ? new_out : old_out;
		pkt *p = ipv4(80);
		ASSERT_EQ(esp_seal(o, p, ESP_NH_IPV4), 0);
		esp_sa *hit = nullptr;
		ASSERT_EQ(esp_table_open(&t, p, &nh, &hit), 0);
		EXPECT_EQ(hit, i % 2 ? new_in : old_in);
		put(p);
	}
	ASSERT_EQ(esp_table_del(&t, 0x11111111), 0);
	EXPECT_EQ(esp_table_del(&t, 0x11111111), -ENOENT);
	pkt *p = ipv4(80);
	ASSERT_EQ(esp_seal(old_out, p, ESP_NH_IPV4), 0);
	EXPECT_EQ(esp_table_open(&t, p, &nh, nullptr), -ENOENT);
	put(p);
	EXPECT_EQ(esp_table_find(&t, 0x22222222), new_in);
	EXPECT_EQ(t.count, 1u);
}

TEST_F(Esp, TableSurvivesCollisionsAndDeletions)
{
	esp_table t;
	esp_table_init(&t);
	std::vector<esp_sa *> in;
	// Sequential SPIs, as a peer might pick them, up to the limit.
	for (uint32_t i = 0; i < ESP_TABLE_MAX; i++) {
		in.push_back(make(kSuites[0], ESP_DIR_IN, 0x1000 + i * 64));
		ASSERT_EQ(esp_table_add(&t, in.back()), 0) << i;
	}
	esp_sa *extra = make(kSuites[0], ESP_DIR_IN, 0x9999);
	EXPECT_EQ(esp_table_add(&t, extra), -ENOSPC);
	// Remove every third, then all must still be found or not, exactly.
	for (uint32_t i = 0; i < ESP_TABLE_MAX; i += 3)
		ASSERT_EQ(esp_table_del(&t, in[i]->spi), 0);
	for (uint32_t i = 0; i < ESP_TABLE_MAX; i++)
		EXPECT_EQ(esp_table_find(&t, in[i]->spi), i % 3 ? in[i] : nullptr) << i;
	ASSERT_EQ(esp_table_add(&t, extra), 0);
	EXPECT_EQ(esp_table_find(&t, 0x9999), extra);
	EXPECT_EQ(esp_table_find(&t, 0x12345678), nullptr);
}

// ---- packet pool ------------------------------------------------------------

TEST(PktPool, FixedBuffersWithHeadAndTailroom)
{
	static_assert(PKT_HEADROOM >= PKT_PREFIX_MAX + PKT_ESP_HDR_MAX, "headroom");
	static_assert(PKT_TAILROOM >= PKT_TRAILER_MAX, "tailroom");
	static_assert(PKT_BUF_SIZE >= PKT_HEADROOM + PKT_DATA_MAX + PKT_TAILROOM, "size");
	pkt_pool *pool;
	ASSERT_EQ(pkt_pool_new(8, PKT_BUF_SIZE, &pool), 0);
	std::vector<pkt *> got(9);
	EXPECT_EQ(pkt_get_bulk(pool, got.data(), 9), 8u);
	EXPECT_EQ(pkt_pool_avail(pool), 0u);
	EXPECT_EQ(pkt_get(pool), nullptr) << "exhaustion is a drop, not a malloc";
	for (size_t i = 0; i < 8; i++) {
		EXPECT_EQ(pkt_headroom(got[i]), (size_t)PKT_HEADROOM);
		EXPECT_EQ(pkt_tailroom(got[i]), (size_t)PKT_BUF_SIZE - PKT_HEADROOM);
		EXPECT_EQ((uintptr_t)got[i]->data % PKT_ALIGN, 0u);
		EXPECT_NE(pkt_append(got[i], PKT_DATA_MAX), nullptr);
		EXPECT_NE(pkt_push(got[i], PKT_HEADROOM), nullptr);
		EXPECT_EQ(pkt_push(got[i], 1), nullptr);
		EXPECT_EQ(pkt_append(got[i], PKT_BUF_SIZE), nullptr);
	}
	EXPECT_EQ(pkt_put(pool, got[3]), 0);
	EXPECT_EQ(pkt_put(pool, got[3]), -EINVAL) << "double put";
	pkt view;
	uint8_t mem[64];
	pkt_view(&view, mem + 8, 16, 8, 40);
	EXPECT_EQ(pkt_put(pool, &view), -EINVAL) << "not from a pool";
	EXPECT_EQ(pkt_get(pool), got[3]);
	EXPECT_EQ(got[3]->len, 0u) << "reset on get";
	for (size_t i = 0; i < 8; i++)
		EXPECT_EQ(pkt_put(pool, got[i]), 0);
	EXPECT_EQ(pkt_pool_avail(pool), 8u);
	pkt_pool_free(pool);
	EXPECT_EQ(pkt_pool_new(0, PKT_BUF_SIZE, &pool), -EINVAL);
	EXPECT_EQ(pkt_pool_new(4, 16, &pool), -EINVAL);
}

} // namespace
