// Key exchange: RFC 5903 (groups 19, 20) and RFC 7748 (X25519) known answers,
// independently computed MODP answers, and the peer-value checks.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "client/crypto/crypto.h"
#include "client/crypto/crypto_test.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes unhex(const std::string &h)
{
	Bytes out;
	for (size_t i = 0; i + 1 < h.size(); i += 2)
		out.push_back((uint8_t)std::stoul(h.substr(i, 2), nullptr, 16));
	return out;
}

// RFC 3526 group 14 prime (also rebuilt in client/crypto/dh.c).
const char *kModp2048 =
	"ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7edee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3be39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa051015728e5a8aacaa68ffffffffffffffff";

struct Dh {
	struct crypto_dh *dh = nullptr;
	~Dh() { crypto_dh_free(dh); }
};

Bytes pub_of(const struct crypto_dh *dh)
{
	Bytes out(crypto_dh_public_len(crypto_dh_group(dh)));
	EXPECT_EQ(crypto_dh_public(dh, out.data(), out.size()), 0);
	return out;
}

int shared_of(const struct crypto_dh *dh, const Bytes &peer, Bytes *out)
{
	out->assign(crypto_dh_shared_len(crypto_dh_group(dh)), 0xee);
	return crypto_dh_shared(dh, peer.data(), peer.size(), out->data(), out->size());
}

// Both sides of a fixed-key vector: public values and the shared secret.
void check_fixed(int group, const char *i, const char *gi, const char *r, const char *gr,
		 const char *shared)
{
	Dh a, b;
	Bytes si, sr;

	ASSERT_EQ(crypto_dh_new_from_private(group, unhex(i).data(), unhex(i).size(), &a.dh), 0);
	ASSERT_EQ(crypto_dh_new_from_private(group, unhex(r).data(), unhex(r).size(), &b.dh), 0);
	EXPECT_EQ(pub_of(a.dh), unhex(gi));
	EXPECT_EQ(pub_of(b.dh), unhex(gr));
	ASSERT_EQ(shared_of(a.dh, unhex(gr), &si), 0);
	ASSERT_EQ(shared_of(b.dh, unhex(gi), &sr), 0);
	EXPECT_EQ(si, unhex(shared));
	EXPECT_EQ(sr, unhex(shared));
}

TEST(CryptoDh, SizesPerGroup)
{
	EXPECT_EQ(crypto_dh_public_len(CRYPTO_DH_MODP2048), 256u);
	EXPECT_EQ(crypto_dh_public_len(CRYPTO_DH_MODP3072), 384u);
	EXPECT_EQ(crypto_dh_public_len(CRYPTO_DH_ECP256), 64u);
	EXPECT_EQ(crypto_dh_public_len(CRYPTO_DH_ECP384), 96u);
	EXPECT_EQ(crypto_dh_public_len(CRYPTO_DH_CURVE25519), 32u);
	EXPECT_EQ(crypto_dh_shared_len(CRYPTO_DH_ECP384), 48u);
	EXPECT_EQ(crypto_dh_supported(2), 0);
	EXPECT_EQ(crypto_dh_public_len(5), 0u);
	struct crypto_dh *dh = nullptr;
	EXPECT_EQ(crypto_dh_new(1, &dh), -ENOTSUP);
	EXPECT_EQ(dh, nullptr);
}

// RFC 5903 section 8.1 (256-bit random ECP group). The test values were
// copied from public test suites that quote the RFC (and agree with each
// other); the RFC's KE payloads are x || y without a 0x04 prefix.
TEST(CryptoDh, Rfc5903Group19)
{
	check_fixed(CRYPTO_DH_ECP256,
		    "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
		    "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
		    "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
		    "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
		    "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
		    "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
		    "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de");
}

// RFC 5903 section 8.2 (384-bit random ECP group).
TEST(CryptoDh, Rfc5903Group20)
{
	check_fixed(CRYPTO_DH_ECP384,
		    "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655"
		    "e35b538041e649ee3faef896783ab194",
		    "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6"
		    "de3ac808acb4bdb4c88732aee95f41aa"
		    "9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38e"
		    "eb9fcff3c2c947dae69b4c634573a81c",
		    "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942"
		    "e0308312916b8ed2960e4bd55a7448fc",
		    "e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d"
		    "0d1ac43a0336def96fda41d0774a3571"
		    "dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1ff"
		    "f83fa40142209dff5eaad96db9e6386c",
		    "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4"
		    "d603135569b9e9d09cf5d4a270f59746");
}

// RFC 7748 section 6.1 (Alice and Bob).
TEST(CryptoDh, Rfc7748X25519AliceBob)
{
	check_fixed(CRYPTO_DH_CURVE25519,
		    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

// RFC 7748 section 5.2: scalar x u-coordinate, the two single-step vectors.
TEST(CryptoDh, Rfc7748X25519ScalarMult)
{
	const char *v[][3] = {
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		 "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		 "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		 "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		 "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	};
	for (auto &t : v) {
		Dh d;
		Bytes out;
		ASSERT_EQ(crypto_dh_new_from_private(CRYPTO_DH_CURVE25519, unhex(t[0]).data(), 32,
						     &d.dh),
			  0);
		ASSERT_EQ(shared_of(d.dh, unhex(t[1]), &out), 0);
		EXPECT_EQ(out, unhex(t[2]));
	}
}

std::map<std::string, Bytes> modp_kat()
{
	std::ifstream in(VPN_FIXTURE_DIR "/vectors/modp_kat.txt");
	std::map<std::string, Bytes> m;
	std::string line;
	EXPECT_TRUE(in.good());
	while (std::getline(in, line)) {
		if (line.rfind("group ", 0) != 0)
			continue;
		// "group 14: a = <hex>"
		std::string key = line.substr(6, 2) + line.substr(10, 1);
		m[key] = unhex(line.substr(line.find('=') + 2));
	}
	return m;
}

TEST(CryptoDh, ModpKnownAnswers)
{
	auto m = modp_kat();
	for (int g : {14, 15}) {
		std::string s = std::to_string(g);
		SCOPED_TRACE("group " + s);
		ASSERT_TRUE(m.count(s + "Z"));
		Dh a, b;
		Bytes za, zb;
		ASSERT_EQ(crypto_dh_new_from_private(g, m[s + "a"].data(), m[s + "a"].size(), &a.dh), 0);
		ASSERT_EQ(crypto_dh_new_from_private(g, m[s + "b"].data(), m[s + "b"].size(), &b.dh), 0);
		EXPECT_EQ(pub_of(a.dh), m[s + "A"]);
		EXPECT_EQ(pub_of(b.dh), m[s + "B"]);
		ASSERT_EQ(shared_of(a.dh, m[s + "B"], &za), 0);
		ASSERT_EQ(shared_of(b.dh, m[s + "A"], &zb), 0);
		EXPECT_EQ(za, m[s + "Z"]);
		EXPECT_EQ(zb, m[s + "Z"]);
	}
}

TEST(CryptoDh, RandomKeysAgreeInEveryGroup)
{
	for (int g : {14, 15, 19, 20, 31}) {
		SCOPED_TRACE(g);
		Dh a, b;
		Bytes za, zb;
		ASSERT_EQ(crypto_dh_new(g, &a.dh), 0);
		ASSERT_EQ(crypto_dh_new(g, &b.dh), 0);
		EXPECT_EQ(crypto_dh_group(a.dh), g);
		Bytes pa = pub_of(a.dh), pb = pub_of(b.dh);
		EXPECT_NE(pa, pb);
		ASSERT_EQ(shared_of(a.dh, pb, &za), 0);
		ASSERT_EQ(shared_of(b.dh, pa, &zb), 0);
		EXPECT_EQ(za, zb);
		EXPECT_EQ(za.size(), crypto_dh_shared_len(g));
	}
}

Bytes be_int(size_t len, uint8_t last)
{
	Bytes b(len, 0);
	b[len - 1] = last;
	return b;
}

TEST(CryptoDh, ModpRefusesDegeneratePeerValues)
{
	Dh d;
	Bytes out, p = unhex(kModp2048), pm1 = p, pp1 = p;
	ASSERT_EQ(p.size(), 256u);
	pm1[255] -= 1; // p ends in ff: no borrow
	pp1[255] = 0x00; // p + 1 = ...ff + 1: carry through the trailing ff bytes
	for (int i = 254; i >= 0 && pp1[i] == 0xff; i--)
		pp1[i] = 0x00;
	ASSERT_EQ(crypto_dh_new(CRYPTO_DH_MODP2048, &d.dh), 0);
	for (const Bytes &bad : {be_int(256, 0), be_int(256, 1), pm1, p, Bytes(256, 0xff)}) {
		EXPECT_EQ(shared_of(d.dh, bad, &out), -EINVAL);
		EXPECT_EQ(out, Bytes(256, 0)) << "output must be wiped on failure";
	}
	EXPECT_EQ(shared_of(d.dh, be_int(256, 2), &out), 0); // 2 is a fine value
	EXPECT_EQ(shared_of(d.dh, be_int(255, 2), &out), -EINVAL); // wrong length
	Bytes pm2 = p;
	pm2[255] -= 2;
	EXPECT_EQ(shared_of(d.dh, pm2, &out), 0);
}

TEST(CryptoDh, EcpRefusesPointsOffTheCurve)
{
	for (int g : {19, 20}) {
		SCOPED_TRACE(g);
		Dh a, b;
		Bytes out;
		ASSERT_EQ(crypto_dh_new(g, &a.dh), 0);
		ASSERT_EQ(crypto_dh_new(g, &b.dh), 0);
		Bytes good = pub_of(b.dh), bad = good;
		bad.back() ^= 0x01; // y no longer fits x
		EXPECT_EQ(shared_of(a.dh, bad, &out), -EINVAL);
		EXPECT_EQ(out, Bytes(out.size(), 0));
		EXPECT_EQ(shared_of(a.dh, Bytes(good.size(), 0), &out), -EINVAL); // (0,0)
		EXPECT_EQ(shared_of(a.dh, Bytes(good.size(), 0xff), &out), -EINVAL); // >= p
		Bytes with_prefix = good;
		with_prefix.insert(with_prefix.begin(), 0x04); // SEC1 form is not RFC 5903
		EXPECT_EQ(shared_of(a.dh, with_prefix, &out), -EINVAL);
		EXPECT_EQ(shared_of(a.dh, good, &out), 0);
	}
}

TEST(CryptoDh, X25519RefusesSmallOrderPeers)
{
	Dh d;
	Bytes out;
	ASSERT_EQ(crypto_dh_new(CRYPTO_DH_CURVE25519, &d.dh), 0);
	Bytes zero(32, 0), one(32, 0);
	one[0] = 1;
	// u = 0 and u = 1 have small order: the result is all zero (RFC 7748 6.1).
	EXPECT_EQ(shared_of(d.dh, zero, &out), -EINVAL);
	EXPECT_EQ(out, Bytes(32, 0));
	EXPECT_EQ(shared_of(d.dh, one, &out), -EINVAL);
	EXPECT_EQ(shared_of(d.dh, Bytes(31, 9), &out), -EINVAL);
}

TEST(CryptoDh, ArgumentChecks)
{
	Dh d;
	uint8_t small[8];
	ASSERT_EQ(crypto_dh_new(CRYPTO_DH_ECP256, &d.dh), 0);
	EXPECT_EQ(crypto_dh_public(d.dh, small, sizeof(small)), -EINVAL);
	Bytes peer = pub_of(d.dh);
	EXPECT_EQ(crypto_dh_shared(d.dh, peer.data(), peer.size(), small, sizeof(small)), -EINVAL);
	struct crypto_dh *x = nullptr;
	uint8_t zero[32] = {0};
	EXPECT_EQ(crypto_dh_new_from_private(CRYPTO_DH_ECP256, zero, sizeof(zero), &x), -EINVAL);
	EXPECT_EQ(x, nullptr);
	EXPECT_EQ(crypto_dh_new_from_private(CRYPTO_DH_CURVE25519, zero, 31, &x), -EINVAL);
	crypto_dh_free(nullptr);
}

} // namespace
