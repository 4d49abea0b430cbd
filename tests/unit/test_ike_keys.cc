// The IKEv2 key schedule against NIST's SP 800-135 IKEv2 KDF vectors
// (tests/fixtures/vectors/ikev2_kdf.rsp, sources named there), plus the way
// the raw key streams are cut into SK_* and Child SA keys.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "client/crypto/crypto.h"
#include "client/ike/keys.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes unhex(const std::string &h)
{
	Bytes out;
	for (size_t i = 0; i + 1 < h.size(); i += 2)
		out.push_back((uint8_t)std::stoul(h.substr(i, 2), nullptr, 16));
	return out;
}

struct KdfVector {
	std::string section; // "SHA-256"
	int count;
	std::map<std::string, Bytes> f;
	bool has(const char *k) const { return f.count(k) != 0; }
	const Bytes &at(const char *k) const { return f.at(k); }
};

std::string trim(const std::string &s)
{
	size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
	return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<KdfVector> load_vectors()
{
	std::ifstream in(VPN_FIXTURE_DIR "/vectors/ikev2_kdf.rsp");
	std::vector<KdfVector> out;
	std::string line, section;
	KdfVector *cur = nullptr;

	EXPECT_TRUE(in.good()) << "cannot open ikev2_kdf.rsp";
	while (std::getline(in, line)) {
		line = trim(line);
		if (line.empty() || line[0] == '#')
			continue;
		if (line[0] == '[') {
			section = line.substr(1, line.find(']') - 1);
			continue;
		}
		size_t eq = line.find('=');
		if (eq == std::string::npos)
			continue;
		std::string key = trim(line.substr(0, eq)), val = trim(line.substr(eq + 1));
		if (key == "COUNT") {
			out.push_back(KdfVector{section, std::stoi(val), {}});
			cur = &out.back();
		} else if (cur) {
			cur->f[key] = unhex(val);
		}
	}
	return out;
}

enum crypto_prf prf_of(const std::string &section)
{
	if (section == "SHA-1")
		return CRYPTO_PRF_HMAC_SHA1;
	if (section == "SHA-256")
		return CRYPTO_PRF_HMAC_SHA2_256;
	if (section == "SHA-384")
		return CRYPTO_PRF_HMAC_SHA2_384;
	return CRYPTO_PRF_HMAC_SHA2_512;
}

class IkeKdfVectors : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(crypto_init(), 0);
		vectors = load_vectors();
	}
	std::vector<KdfVector> vectors;
};

TEST_F(IkeKdfVectors, FileCoversEveryHashWeNeed)
{
	std::map<std::string, int> per;
	for (const auto &v : vectors)
		per[v.section]++;
	EXPECT_GE(per["SHA-1"], 2);
	EXPECT_GE(per["SHA-256"], 2);
	EXPECT_GE(per["SHA-384"], 1);
	EXPECT_GE(per["SHA-512"], 1);
}

TEST_F(IkeKdfVectors, Skeyseed)
{
	ASSERT_FALSE(vectors.empty());
	for (const auto &v : vectors) {
		SCOPED_TRACE(v.section + " COUNT " + std::to_string(v.count));
		const Bytes &ni = v.at("Ni"), &nr = v.at("Nr"), &gir = v.at("g^ir");
		Bytes out(crypto_prf_len(prf_of(v.section)));

		ASSERT_EQ(ike_keys_skeyseed(prf_of(v.section), ni.data(), ni.size(),
					    nr.data(), nr.size(), gir.data(), gir.size(),
					    out.data()),
			  0);
		EXPECT_EQ(out, v.at("SKEYSEED"));
	}
}

TEST_F(IkeKdfVectors, Dkm)
{
	for (const auto &v : vectors) {
		SCOPED_TRACE(v.section + " COUNT " + std::to_string(v.count));
		const Bytes &ni = v.at("Ni"), &nr = v.at("Nr"), &seed = v.at("SKEYSEED");
		const Bytes &want = v.at("DKM");
		Bytes out(want.size());

		ASSERT_EQ(v.at("SPIi").size(), 8u);
		ASSERT_EQ(ike_keys_sa_keymat(prf_of(v.section), seed.data(), seed.size(),
					     ni.data(), ni.size(), nr.data(), nr.size(),
					     v.at("SPIi").data(), v.at("SPIr").data(),
					     out.data(), out.size()),
			  0);
		EXPECT_EQ(out, want);
	}
}

TEST_F(IkeKdfVectors, ChildDkmWithAndWithoutPfs)
{
	int checked = 0;
	for (const auto &v : vectors) {
		if (!v.has("DKM(Child SA)"))
			continue;
		SCOPED_TRACE(v.section + " COUNT " + std::to_string(v.count));
		enum crypto_prf prf = prf_of(v.section);
		const Bytes &ni = v.at("Ni"), &nr = v.at("Nr"), &gnew = v.at("g^ir (new)");
		const uint8_t *sk_d = v.at("DKM").data(); // SK_d heads the DKM
		size_t sk_d_len = crypto_prf_len(prf);
		Bytes plain(v.at("DKM(Child SA)").size());
		Bytes pfs(v.at("DKM(Child SA D-H)").size());

		ASSERT_EQ(ike_keys_child_keymat(prf, sk_d, sk_d_len, nullptr, 0, ni.data(),
						ni.size(), nr.data(), nr.size(), plain.data(),
						plain.size()),
			  0);
		EXPECT_EQ(plain, v.at("DKM(Child SA)"));
		ASSERT_EQ(ike_keys_child_keymat(prf, sk_d, sk_d_len, gnew.data(), gnew.size(),
						ni.data(), ni.size(), nr.data(), nr.size(),
						pfs.data(), pfs.size()),
			  0);
		EXPECT_EQ(pfs, v.at("DKM(Child SA D-H)"));
		checked++;
	}
	EXPECT_GE(checked, 5);
}

TEST_F(IkeKdfVectors, RekeySkeyseed)
{
	for (const auto &v : vectors) {
		SCOPED_TRACE(v.section + " COUNT " + std::to_string(v.count));
		enum crypto_prf prf = prf_of(v.section);
		const Bytes &ni = v.at("Ni"), &nr = v.at("Nr"), &gnew = v.at("g^ir (new)");
		Bytes out(crypto_prf_len(prf));

		ASSERT_EQ(ike_keys_skeyseed_rekey(prf, v.at("DKM").data(), crypto_prf_len(prf),
						  gnew.data(), gnew.size(), ni.data(),
						  ni.size(), nr.data(), nr.size(), out.data()),
			  0);
		EXPECT_EQ(out, v.at("SKEYSEED(Rekey)"));
	}
}

// The split of prf+ output into the seven keys: order and lengths of
// RFC 7296 2.14, checked against the (vector-verified) raw stream.
void check_sa_split(const struct ike_key_algs &algs, size_t prf_len, size_t integ_len,
		    size_t encr_len)
{
	const Bytes ni = unhex("00112233445566778899aabbccddeeff");
	const Bytes nr = unhex("ffeeddccbbaa99887766554433221100");
	const Bytes spi_i = unhex("0102030405060708"), spi_r = unhex("1112131415161718");
	Bytes seed(crypto_prf_len(algs.prf), 0x5a);
	size_t total = 3 * prf_len + 2 * integ_len + 2 * encr_len;
	Bytes stream(total);
	struct ike_sa_keys k;

	ASSERT_EQ(ike_keys_sa_keymat(algs.prf, seed.data(), seed.size(), ni.data(), ni.size(),
				     nr.data(), nr.size(), spi_i.data(), spi_r.data(),
				     stream.data(), total),
		  0);
	ASSERT_EQ(ike_keys_derive_sa(&algs, seed.data(), seed.size(), ni.data(), ni.size(),
				     nr.data(), nr.size(), spi_i.data(), spi_r.data(), &k),
		  0);
	EXPECT_EQ(k.prf_len, prf_len);
	EXPECT_EQ(k.integ_len, integ_len);
	EXPECT_EQ(k.encr_len, encr_len);
	const uint8_t *p = stream.data();
	EXPECT_EQ(0, memcmp(k.sk_d, p, prf_len));
	p += prf_len;
	EXPECT_EQ(0, memcmp(k.sk_ai, p, integ_len));
	p += integ_len;
	EXPECT_EQ(0, memcmp(k.sk_ar, p, integ_len));
	p += integ_len;
	EXPECT_EQ(0, memcmp(k.sk_ei, p, encr_len));
	p += encr_len;
	EXPECT_EQ(0, memcmp(k.sk_er, p, encr_len));
	p += encr_len;
	EXPECT_EQ(0, memcmp(k.sk_pi, p, prf_len));
	p += prf_len;
	EXPECT_EQ(0, memcmp(k.sk_pr, p, prf_len));
	ike_keys_sa_wipe(&k);
	Bytes zero(sizeof(k), 0);
	EXPECT_EQ(0, memcmp(&k, zero.data(), sizeof(k)));
}

TEST(IkeKeys, SaSplitCbcHmac)
{
	struct ike_key_algs a = {CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_CBC, 256,
				 CRYPTO_INTEG_HMAC_SHA2_256_128};
	check_sa_split(a, 32, 32, 32);
	a = {CRYPTO_PRF_HMAC_SHA2_512, CRYPTO_ENCR_AES_CBC, 128,
	     CRYPTO_INTEG_HMAC_SHA2_512_256};
	check_sa_split(a, 64, 64, 16);
	a = {CRYPTO_PRF_HMAC_SHA2_384, CRYPTO_ENCR_AES_CBC, 192,
	     CRYPTO_INTEG_HMAC_SHA2_384_192};
	check_sa_split(a, 48, 48, 24);
}

TEST(IkeKeys, SaSplitAeadHasNoIntegrityKeysAndCarriesTheSalt)
{
	struct ike_key_algs a = {CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_GCM_16, 256,
				 CRYPTO_INTEG_NONE};
	check_sa_split(a, 32, 0, 36);
	a = {CRYPTO_PRF_HMAC_SHA2_384, CRYPTO_ENCR_AES_GCM_16, 128, CRYPTO_INTEG_NONE};
	check_sa_split(a, 48, 0, 20);
	a = {CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_CHACHA20_POLY1305, 256, CRYPTO_INTEG_NONE};
	check_sa_split(a, 32, 0, 36);
}

TEST(IkeKeys, ChildSplitIsInitiatorEncrIntegThenResponder)
{
	struct ike_key_algs ike_algs = {CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_GCM_16, 256,
					CRYPTO_INTEG_NONE};
	struct ike_key_algs child = {CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_CBC, 128,
				     CRYPTO_INTEG_HMAC_SHA2_256_128};
	const Bytes ni(32, 0x11), nr(32, 0x22), gnew(32, 0x33), spi(8, 0x44);
	Bytes seed(32, 0x55), stream(2 * (16 + 32)), pfs_stream(2 * (16 + 32));
	struct ike_sa_keys ike;
	struct ike_child_keys c, cp;

	ASSERT_EQ(ike_keys_derive_sa(&ike_algs, seed.data(), seed.size(), ni.data(), ni.size(),
				     nr.data(), nr.size(), spi.data(), spi.data(), &ike),
		  0);
	ASSERT_EQ(ike_keys_derive_child(&ike, &child, nullptr, 0, ni.data(), ni.size(),
					nr.data(), nr.size(), &c),
		  0);
	ASSERT_EQ(ike_keys_child_keymat(CRYPTO_PRF_HMAC_SHA2_256, ike.sk_d, 32, nullptr, 0,
					ni.data(), ni.size(), nr.data(), nr.size(),
					stream.data(), stream.size()),
		  0);
	EXPECT_EQ(c.encr_len, 16u);
	EXPECT_EQ(c.integ_len, 32u);
	EXPECT_EQ(0, memcmp(c.encr_i, stream.data(), 16));
	EXPECT_EQ(0, memcmp(c.integ_i, stream.data() + 16, 32));
	EXPECT_EQ(0, memcmp(c.encr_r, stream.data() + 48, 16));
	EXPECT_EQ(0, memcmp(c.integ_r, stream.data() + 64, 32));

	// With PFS the stream changes (g^ir (new) leads the seed).
	ASSERT_EQ(ike_keys_derive_child(&ike, &child, gnew.data(), gnew.size(), ni.data(),
					ni.size(), nr.data(), nr.size(), &cp),
		  0);
	ASSERT_EQ(ike_keys_child_keymat(CRYPTO_PRF_HMAC_SHA2_256, ike.sk_d, 32, gnew.data(),
					gnew.size(), ni.data(), ni.size(), nr.data(),
					nr.size(), pfs_stream.data(), pfs_stream.size()),
		  0);
	EXPECT_EQ(0, memcmp(cp.encr_i, pfs_stream.data(), 16));
	EXPECT_EQ(0, memcmp(cp.integ_r, pfs_stream.data() + 64, 32));
	EXPECT_NE(0, memcmp(cp.encr_i, c.encr_i, 16));
	ike_keys_child_wipe(&c);
	ike_keys_child_wipe(&cp);
	ike_keys_sa_wipe(&ike);
}

TEST(IkeKeys, AeadChildKeysCarryTheSalt)
{
	struct ike_key_algs ike_algs = {CRYPTO_PRF_HMAC_SHA2_384, CRYPTO_ENCR_AES_GCM_16, 256,
					CRYPTO_INTEG_NONE};
	struct ike_key_algs child = {CRYPTO_PRF_HMAC_SHA2_384, CRYPTO_ENCR_CHACHA20_POLY1305,
				     256, CRYPTO_INTEG_NONE};
	const Bytes n(16, 0x01), spi(8, 0x02);
	Bytes seed(48, 0x03), stream(72);
	struct ike_sa_keys ike;
	struct ike_child_keys c;

	ASSERT_EQ(ike_keys_derive_sa(&ike_algs, seed.data(), seed.size(), n.data(), n.size(),
				     n.data(), n.size(), spi.data(), spi.data(), &ike),
		  0);
	ASSERT_EQ(ike_keys_derive_child(&ike, &child, nullptr, 0, n.data(), n.size(), n.data(),
					n.size(), &c),
		  0);
	ASSERT_EQ(ike_keys_child_keymat(CRYPTO_PRF_HMAC_SHA2_384, ike.sk_d, 48, nullptr, 0,
					n.data(), n.size(), n.data(), n.size(), stream.data(),
					stream.size()),
		  0);
	EXPECT_EQ(c.encr_len, 36u);
	EXPECT_EQ(c.integ_len, 0u);
	EXPECT_EQ(0, memcmp(c.encr_i, stream.data(), 36));
	EXPECT_EQ(0, memcmp(c.encr_r, stream.data() + 36, 36));
}

TEST(IkeKeys, RefusesInvalidCombinationsAndLeavesNoKeys)
{
	const Bytes n(16, 1), spi(8, 2), seed(32, 3);
	struct ike_sa_keys k;
	struct ike_key_algs bad[] = {
		{CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_GCM_16, 256,
		 CRYPTO_INTEG_HMAC_SHA2_256_128}, // AEAD with integ
		{CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_NONE},
		{CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_GCM_16, 192, CRYPTO_INTEG_NONE},
		{CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_CHACHA20_POLY1305, 128, CRYPTO_INTEG_NONE},
		{(enum crypto_prf)77, CRYPTO_ENCR_AES_CBC, 128, CRYPTO_INTEG_HMAC_SHA2_256_128},
	};
	for (const auto &a : bad) {
		memset(&k, 0xaa, sizeof(k));
		EXPECT_EQ(ike_keys_derive_sa(&a, seed.data(), seed.size(), n.data(), n.size(),
					     n.data(), n.size(), spi.data(), spi.data(), &k),
			  -EINVAL);
		Bytes zero(sizeof(k.sk_d), 0);
		EXPECT_EQ(0, memcmp(k.sk_d, zero.data(), zero.size()));
	}
	uint8_t out[64];
	EXPECT_EQ(ike_keys_skeyseed(CRYPTO_PRF_HMAC_SHA2_256, n.data(), 300, n.data(), 16,
				    seed.data(), seed.size(), out),
		  -EINVAL); // nonce longer than RFC 7296 allows
	EXPECT_EQ(ike_keys_skeyseed(CRYPTO_PRF_HMAC_SHA2_256, n.data(), 16, n.data(), 16,
				    nullptr, 0, out),
		  -EINVAL);
}

TEST(IkeKeys, SaCiphersPairUpAcrossInitiatorAndResponder)
{
	struct ike_key_algs algs[] = {
		{CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_CBC, 256,
		 CRYPTO_INTEG_HMAC_SHA2_256_128},
		{CRYPTO_PRF_HMAC_SHA2_256, CRYPTO_ENCR_AES_GCM_16, 128, CRYPTO_INTEG_NONE},
	};
	for (const auto &a : algs) {
		const Bytes n(16, 7), spi(8, 9), seed(32, 5);
		struct ike_sa_keys k;
		struct crypto_cipher *i_out, *i_in, *r_out, *r_in;
		uint8_t iv[16] = {1}, data[32] = {2}, icv[32];

		ASSERT_EQ(ike_keys_derive_sa(&a, seed.data(), seed.size(), n.data(), n.size(),
					     n.data(), n.size(), spi.data(), spi.data(), &k),
			  0);
		ASSERT_EQ(ike_keys_sa_ciphers(&k, 1, &i_out, &i_in), 0);
		ASSERT_EQ(ike_keys_sa_ciphers(&k, 0, &r_out, &r_in), 0);
		ASSERT_EQ(crypto_cipher_seal(i_out, nullptr, 0, iv, data, sizeof(data), icv,
					     nullptr, 0),
			  0);
		uint8_t copy[32];
		memcpy(copy, data, sizeof(copy));
		EXPECT_EQ(crypto_cipher_open(i_in, nullptr, 0, iv, copy, sizeof(copy), icv,
					     nullptr, 0),
			  -EBADMSG); // our own inbound key is the other direction
		EXPECT_EQ(crypto_cipher_open(r_in, nullptr, 0, iv, data, sizeof(data), icv,
					     nullptr, 0),
			  0);
		EXPECT_EQ(data[0], 2);
		crypto_cipher_free(i_out);
		crypto_cipher_free(i_in);
		crypto_cipher_free(r_out);
		crypto_cipher_free(r_in);
		ike_keys_sa_wipe(&k);
	}
}

} // namespace
