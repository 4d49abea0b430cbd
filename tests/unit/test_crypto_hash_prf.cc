// Hashes (FIPS 180 "abc" examples), the HMAC PRFs (RFC 4231, RFC 2202) and
// prf+ (RFC 7296 2.13), plus the small helpers of the crypto layer.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "client/crypto/crypto.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes unhex(const std::string &h)
{
	Bytes out;
	for (size_t i = 0; i + 1 < h.size(); i += 2)
		out.push_back((uint8_t)std::stoul(h.substr(i, 2), nullptr, 16));
	return out;
}

Bytes str(const std::string &s) { return Bytes(s.begin(), s.end()); }

TEST(CryptoHash, Fips180Abc)
{
	struct {
		enum crypto_hash h;
		const char *want;
	} v[] = {
		{CRYPTO_HASH_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{CRYPTO_HASH_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{CRYPTO_HASH_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
				     "8086072ba1e7cc2358baeca134c825a7"},
		{CRYPTO_HASH_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
				     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
	};
	for (const auto &t : v) {
		// Split over two pieces: the iov form must hash the concatenation.
		struct crypto_iov iov[2] = {{"a", 1}, {"bc", 2}};
		Bytes out(crypto_hash_len(t.h));
		ASSERT_EQ(crypto_hash(t.h, iov, 2, out.data()), 0);
		EXPECT_EQ(out, unhex(t.want));
	}
	uint8_t out[64];
	EXPECT_EQ(crypto_hash_len((enum crypto_hash)9), 0u);
	EXPECT_EQ(crypto_hash((enum crypto_hash)9, nullptr, 0, out), -EINVAL);
}

struct PrfCase {
	Bytes key, data;
	const char *sha256, *sha384, *sha512;
};

// RFC 4231 test cases 1, 2, 3 and 6 (the last one has a key longer than the
// block size, which HMAC hashes first).
TEST(CryptoPrf, Rfc4231)
{
	const PrfCase cases[] = {
		{Bytes(20, 0x0b), str("Hi There"),
		 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
		 "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
		 "faea9ea9076ede7f4af152e8b2fa9cb6",
		 "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
		 "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{str("Jefe"), str("what do ya want for nothing?"),
		 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		 "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
		 "8e2240ca5e69e2c78b3239ecfab21649",
		 "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		 "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{Bytes(20, 0xaa), Bytes(50, 0xdd),
		 "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
		 "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
		 "2a5ab39dc13814b94e3ab6e101a34f27",
		 "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
		 "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"},
		{Bytes(131, 0xaa), str("Test Using Larger Than Block-Size Key - Hash Key First"),
		 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
		 "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
		 "0c2ef6ab4030fe8296248df163f44952",
		 "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
		 "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
	};
	for (const auto &c : cases) {
		struct crypto_iov d = {c.data.data(), c.data.size()};
		struct {
			enum crypto_prf p;
			const char *want;
		} per[] = {{CRYPTO_PRF_HMAC_SHA2_256, c.sha256},
			   {CRYPTO_PRF_HMAC_SHA2_384, c.sha384},
			   {CRYPTO_PRF_HMAC_SHA2_512, c.sha512}};
		for (const auto &p : per) {
			Bytes out(crypto_prf_len(p.p));
			ASSERT_EQ(crypto_prf(p.p, c.key.data(), c.key.size(), &d, 1, out.data()), 0);
			EXPECT_EQ(out, unhex(p.want));
		}
	}
}

// RFC 2202 test case 2: the SHA-1 PRF kept for legacy peers and vectors.
TEST(CryptoPrf, Rfc2202Sha1)
{
	Bytes key = str("Jefe"), data = str("what do ya want for nothing?"), out(20);
	struct crypto_iov d = {data.data(), data.size()};
	ASSERT_EQ(crypto_prf(CRYPTO_PRF_HMAC_SHA1, key.data(), key.size(), &d, 1, out.data()), 0);
	EXPECT_EQ(out, unhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
	EXPECT_EQ(crypto_prf_len(CRYPTO_PRF_HMAC_SHA2_384), 48u);
}

// prf+ is T1 | T2 | ... with T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
TEST(CryptoPrf, PrfPlusStructure)
{
	const Bytes key = str("key"), s1 = str("seed-"), s2 = str("two");
	struct crypto_iov seed[2] = {{s1.data(), s1.size()}, {s2.data(), s2.size()}};
	Bytes out(70), t1(32), t2(32), t3(32);
	uint8_t n1 = 1, n2 = 2, n3 = 3;

	ASSERT_EQ(crypto_prf_plus(CRYPTO_PRF_HMAC_SHA2_256, key.data(), key.size(), seed, 2,
				  out.data(), out.size()),
		  0);
	struct crypto_iov i1[3] = {seed[0], seed[1], {&n1, 1}};
	ASSERT_EQ(crypto_prf(CRYPTO_PRF_HMAC_SHA2_256, key.data(), key.size(), i1, 3, t1.data()), 0);
	struct crypto_iov i2[4] = {{t1.data(), 32}, seed[0], seed[1], {&n2, 1}};
	ASSERT_EQ(crypto_prf(CRYPTO_PRF_HMAC_SHA2_256, key.data(), key.size(), i2, 4, t2.data()), 0);
	struct crypto_iov i3[4] = {{t2.data(), 32}, seed[0], seed[1], {&n3, 1}};
	ASSERT_EQ(crypto_prf(CRYPTO_PRF_HMAC_SHA2_256, key.data(), key.size(), i3, 4, t3.data()), 0);
	EXPECT_EQ(0, memcmp(out.data(), t1.data(), 32));
	EXPECT_EQ(0, memcmp(out.data() + 32, t2.data(), 32));
	EXPECT_EQ(0, memcmp(out.data() + 64, t3.data(), 6));
}

TEST(CryptoPrf, PrfPlusStopsAt255Blocks)
{
	const Bytes key(32, 1), s(8, 2);
	struct crypto_iov seed = {s.data(), s.size()};
	Bytes out(255 * 20 + 1, 0x77);
	EXPECT_EQ(crypto_prf_plus(CRYPTO_PRF_HMAC_SHA1, key.data(), key.size(), &seed, 1,
				  out.data(), 255 * 20),
		  0);
	EXPECT_EQ(crypto_prf_plus(CRYPTO_PRF_HMAC_SHA1, key.data(), key.size(), &seed, 1,
				  out.data(), 255 * 20 + 1),
		  -EINVAL);
	EXPECT_EQ(crypto_prf_plus((enum crypto_prf)42, key.data(), key.size(), &seed, 1,
				  out.data(), 10),
		  -EINVAL);
}

TEST(CryptoBasics, RandomWipeAndCompare)
{
	ASSERT_EQ(crypto_init(), 0);
	ASSERT_EQ(crypto_init(), 0); // idempotent
	Bytes a(64, 0), b(64, 0);
	ASSERT_EQ(crypto_random(a.data(), a.size()), 0);
	ASSERT_EQ(crypto_random(b.data(), b.size()), 0);
	EXPECT_NE(a, b);
	EXPECT_NE(a, Bytes(64, 0));
	EXPECT_TRUE(crypto_memeq(a.data(), a.data(), a.size()));
	EXPECT_FALSE(crypto_memeq(a.data(), b.data(), a.size()));
	crypto_wipe(a.data(), a.size());
	EXPECT_EQ(a, Bytes(64, 0));
	crypto_wipe(nullptr, 0);
}

} // namespace
