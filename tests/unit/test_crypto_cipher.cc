// SK/ESP ciphers: published AEAD vectors (GCM spec test cases, RFC 8439),
// CBC+HMAC answers computed independently (Python "cryptography" + hmac on
// OpenSSL 3), and the refusal of anything tampered with.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
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

Bytes cat(const Bytes &a, const Bytes &b)
{
	Bytes r = a;
	r.insert(r.end(), b.begin(), b.end());
	return r;
}

struct Cipher {
	struct crypto_cipher *c = nullptr;
	~Cipher() { crypto_cipher_free(c); }
};

// A 12-byte nonce split as RFC 4106 / RFC 7634 build it: salt (last 4 bytes
// of the key material) || 8-byte IV.
void check_aead(enum crypto_encr e, unsigned bits, const std::string &key,
		const std::string &nonce, const std::string &aad, const std::string &pt,
		const std::string &ct_tag)
{
	Bytes n = unhex(nonce), keymat = cat(unhex(key), Bytes(n.begin(), n.begin() + 4));
	Bytes iv(n.begin() + 4, n.end()), a = unhex(aad), data = unhex(pt);
	Bytes want = unhex(ct_tag), icv(16);
	Cipher c;

	ASSERT_EQ(crypto_cipher_new(e, bits, keymat.data(), keymat.size(), CRYPTO_INTEG_NONE,
				    nullptr, 0, &c.c),
		  0);
	EXPECT_EQ(crypto_cipher_iv_len(c.c), 8u);
	EXPECT_EQ(crypto_cipher_icv_len(c.c), 16u);
	EXPECT_EQ(crypto_cipher_block_len(c.c), 1u);
	ASSERT_EQ(crypto_cipher_seal(c.c, a.data(), a.size(), iv.data(), data.data(), data.size(),
				     icv.data(), nullptr, 0),
		  0);
	EXPECT_EQ(cat(data, icv), want);
	ASSERT_EQ(crypto_cipher_open(c.c, a.data(), a.size(), iv.data(), data.data(), data.size(),
				     icv.data(), nullptr, 0),
		  0);
	EXPECT_EQ(data, unhex(pt));
}

const char *kGcmPlain60 =
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4.
TEST(CryptoCipher, AesGcm128TestCase4)
{
	check_aead(CRYPTO_ENCR_AES_GCM_16, 128, "feffe9928665731c6d6a8f9467308308",
		   "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		   kGcmPlain60,
		   "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		   "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
		   "5bc94fbc3221a5db94fae95ae7121a47");
}

// The same document, test case 16 (AES-256).
TEST(CryptoCipher, AesGcm256TestCase16)
{
	check_aead(CRYPTO_ENCR_AES_GCM_16, 256,
		   "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		   "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		   kGcmPlain60,
		   "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		   "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
		   "76fc6ece0f4e1768cddf8853bb2d551b");
}

// RFC 8439 section 2.8.2 (AEAD_CHACHA20_POLY1305).
TEST(CryptoCipher, ChaCha20Poly1305Rfc8439)
{
	const std::string pt = "Ladies and Gentlemen of the class of '99: If I could offer "
			       "you only one tip for the future, sunscreen would be it.";
	std::string pt_hex;
	char b[3];
	for (unsigned char ch : pt) {
		snprintf(b, sizeof(b), "%02x", ch);
		pt_hex += b;
	}
	check_aead(CRYPTO_ENCR_CHACHA20_POLY1305, 256,
		   "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		   "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7", pt_hex,
		   "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691");
}

struct CbcCase {
	enum crypto_integ integ;
	const char *icv, *icv_tail;
};

// AES-256-CBC with each HMAC-SHA2: answers computed with Python (see header).
// key 00..1f, IV a0..af, aad 0102030405060708, plaintext 30..5f, integrity
// key 40, 41, ... (as long as the hash), ESN tail 00000001.
TEST(CryptoCipher, AesCbcHmacKnownAnswers)
{
	const CbcCase cases[] = {
		{CRYPTO_INTEG_HMAC_SHA2_256_128, "3ac3754cb6175421bbadcdb13e864465",
		 "e9ad4fa5e40bc12e633a1713e5ac7e6b"},
		{CRYPTO_INTEG_HMAC_SHA2_384_192, "4d91e39dd2013833677269a1385dc13faf348317af65e1d9",
		 "af39bd30c0b53bea53acfe3fdc2f19495d082eacb2eb2c60"},
		{CRYPTO_INTEG_HMAC_SHA2_512_256,
		 "1516f14ff9c3470ed6308be20b71bc65dd265da3fdc379cec360a7d443ef1b07",
		 "7579691ecee7e3955d64ff664a2c7411806367ee9fc36c756c4c35ad9f3897d2"},
	};
	const Bytes ct = unhex("7568eff07a6bdd1fde75c389276e413511cbfc392ceefcf00c97e6a41ce45aa8"
			       "d68e5d1033777a1b87149c4b26369ec1");
	Bytes key(32), iv(16), pt(48), aad = unhex("0102030405060708"), tail = unhex("00000001");
	for (size_t i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	for (size_t i = 0; i < 16; i++)
		iv[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < 48; i++)
		pt[i] = (uint8_t)(0x30 + i);

	for (const auto &tc : cases) {
		SCOPED_TRACE(tc.icv);
		size_t klen = crypto_integ_key_len(tc.integ);
		Bytes ikey(klen), data = pt, icv(64);
		for (size_t i = 0; i < klen; i++)
			ikey[i] = (uint8_t)(0x40 + i);
		Cipher c;
		ASSERT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_CBC, 256, key.data(), key.size(), tc.integ,
					    ikey.data(), ikey.size(), &c.c),
			  0);
		size_t n = crypto_cipher_icv_len(c.c);
		EXPECT_EQ(n, klen / 2);
		EXPECT_EQ(crypto_cipher_iv_len(c.c), 16u);
		EXPECT_EQ(crypto_cipher_block_len(c.c), 16u);
		ASSERT_EQ(crypto_cipher_seal(c.c, aad.data(), aad.size(), iv.data(), data.data(),
					     data.size(), icv.data(), nullptr, 0),
			  0);
		EXPECT_EQ(data, ct);
		EXPECT_EQ(Bytes(icv.begin(), icv.begin() + n), unhex(tc.icv));
		ASSERT_EQ(crypto_cipher_open(c.c, aad.data(), aad.size(), iv.data(), data.data(),
					     data.size(), icv.data(), nullptr, 0),
			  0);
		EXPECT_EQ(data, pt);

		// With the ESN high bits appended to the MAC input (RFC 4303 2.2.1).
		ASSERT_EQ(crypto_cipher_seal(c.c, aad.data(), aad.size(), iv.data(), data.data(),
					     data.size(), icv.data(), tail.data(), tail.size()),
			  0);
		EXPECT_EQ(Bytes(icv.begin(), icv.begin() + n), unhex(tc.icv_tail));
		EXPECT_EQ(crypto_cipher_open(c.c, aad.data(), aad.size(), iv.data(), data.data(),
					     data.size(), icv.data(), nullptr, 0),
			  -EBADMSG); // tail missing on the receiving side
		EXPECT_EQ(data, ct) << "a refused CBC message stays undecrypted";
		EXPECT_EQ(crypto_cipher_open(c.c, aad.data(), aad.size(), iv.data(), data.data(),
					     data.size(), icv.data(), tail.data(), tail.size()),
			  0);
		EXPECT_EQ(data, pt);
	}
}

struct Suite {
	enum crypto_encr e;
	unsigned bits;
	enum crypto_integ i;
};

const Suite kSuites[] = {
	{CRYPTO_ENCR_AES_GCM_16, 128, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_AES_GCM_16, 256, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_CHACHA20_POLY1305, 256, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_AES_CBC, 128, CRYPTO_INTEG_HMAC_SHA2_256_128},
	{CRYPTO_ENCR_AES_CBC, 192, CRYPTO_INTEG_HMAC_SHA2_384_192},
	{CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_512_256},
};

int make(const Suite &s, Cipher *c)
{
	Bytes k(crypto_encr_keymat_len(s.e, s.bits), 0x21), ik(crypto_integ_key_len(s.i), 0x42);
	return crypto_cipher_new(s.e, s.bits, k.data(), k.size(), s.i, ik.empty() ? nullptr : ik.data(),
				 ik.size(), &c->c);
}

TEST(CryptoCipher, EveryTamperingIsRefused)
{
	for (const auto &s : kSuites) {
		SCOPED_TRACE(std::to_string(s.e) + "/" + std::to_string(s.bits));
		Cipher c;
		ASSERT_EQ(make(s, &c), 0);
		Bytes aad(20, 0xa5), iv(crypto_cipher_iv_len(c.c), 0x17), pt(64), icv(32);
		for (size_t i = 0; i < pt.size(); i++)
			pt[i] = (uint8_t)i;
		Bytes sealed = pt;
		ASSERT_EQ(crypto_cipher_seal(c.c, aad.data(), aad.size(), iv.data(), sealed.data(),
					     sealed.size(), icv.data(), nullptr, 0),
			  0);
		EXPECT_NE(sealed, pt);
		size_t n = crypto_cipher_icv_len(c.c);
		auto open = [&](Bytes a, Bytes v, Bytes d, Bytes t) {
			return crypto_cipher_open(c.c, a.data(), a.size(), v.data(), d.data(), d.size(),
						  t.data(), nullptr, 0);
		};
		EXPECT_EQ(open(aad, iv, sealed, icv), 0);
		for (size_t pos : {(size_t)0, (size_t)19}) {
			Bytes a = aad;
			a[pos] ^= 0x80;
			EXPECT_EQ(open(a, iv, sealed, icv), -EBADMSG);
		}
		Bytes shorter(aad.begin(), aad.end() - 1);
		EXPECT_EQ(open(shorter, iv, sealed, icv), -EBADMSG);
		Bytes v = iv;
		v.back() ^= 1;
		EXPECT_EQ(open(aad, v, sealed, icv), -EBADMSG);
		for (size_t pos : {(size_t)0, (size_t)33, sealed.size() - 1}) {
			Bytes d = sealed;
			d[pos] ^= 0x01;
			EXPECT_EQ(open(aad, iv, d, icv), -EBADMSG);
		}
		for (size_t pos : {(size_t)0, n - 1}) {
			Bytes t = icv;
			t[pos] ^= 0x40;
			EXPECT_EQ(open(aad, iv, sealed, t), -EBADMSG);
		}
	}
}

TEST(CryptoCipher, RefusesBadConstruction)
{
	Bytes k(64, 1), ik(64, 2);
	struct crypto_cipher *c = nullptr;
	// AEAD with an integrity algorithm, CBC without one.
	EXPECT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_GCM_16, 128, k.data(), 20,
				    CRYPTO_INTEG_HMAC_SHA2_256_128, ik.data(), 32, &c),
		  -EINVAL);
	EXPECT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_CBC, 128, k.data(), 16, CRYPTO_INTEG_NONE,
				    nullptr, 0, &c),
		  -EINVAL);
	// Wrong lengths, unsupported sizes.
	EXPECT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_GCM_16, 128, k.data(), 16, CRYPTO_INTEG_NONE,
				    nullptr, 0, &c),
		  -EINVAL); // salt missing
	EXPECT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_CBC, 256, k.data(), 32,
				    CRYPTO_INTEG_HMAC_SHA2_256_128, ik.data(), 31, &c),
		  -EINVAL);
	EXPECT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_GCM_16, 192, k.data(), 28, CRYPTO_INTEG_NONE,
				    nullptr, 0, &c),
		  -ENOTSUP);
	EXPECT_EQ(crypto_cipher_new(CRYPTO_ENCR_CHACHA20_POLY1305, 128, k.data(), 20,
				    CRYPTO_INTEG_NONE, nullptr, 0, &c),
		  -ENOTSUP);
	EXPECT_EQ(c, nullptr);
	EXPECT_EQ(crypto_encr_keymat_len(CRYPTO_ENCR_AES_GCM_16, 256), 36u);
	EXPECT_EQ(crypto_encr_keymat_len(CRYPTO_ENCR_CHACHA20_POLY1305, 256), 36u);
	EXPECT_EQ(crypto_encr_keymat_len(CRYPTO_ENCR_AES_CBC, 192), 24u);
	EXPECT_EQ(crypto_integ_key_len(CRYPTO_INTEG_HMAC_SHA2_384_192), 48u);
	EXPECT_TRUE(crypto_encr_is_aead(CRYPTO_ENCR_CHACHA20_POLY1305));
	EXPECT_FALSE(crypto_encr_is_aead(CRYPTO_ENCR_AES_CBC));
}

TEST(CryptoCipher, RefusesBadCalls)
{
	Cipher cbc, gcm;
	ASSERT_EQ(make(kSuites[3], &cbc), 0);
	ASSERT_EQ(make(kSuites[0], &gcm), 0);
	uint8_t iv[16] = {0}, data[33] = {0}, icv[32], tail[4] = {0};
	EXPECT_EQ(crypto_cipher_seal(cbc.c, nullptr, 0, iv, data, 33, icv, nullptr, 0), -EINVAL);
	EXPECT_EQ(crypto_cipher_open(cbc.c, nullptr, 0, iv, data, 15, icv, nullptr, 0), -EINVAL);
	EXPECT_EQ(crypto_cipher_seal(gcm.c, nullptr, 0, iv, data, 33, icv, tail, 4), -EINVAL);
	EXPECT_EQ(crypto_cipher_seal(gcm.c, nullptr, 0, nullptr, data, 33, icv, nullptr, 0), -EINVAL);
	EXPECT_EQ(crypto_cipher_seal(gcm.c, nullptr, 0, iv, data, 33, icv, nullptr, 0), 0);
	EXPECT_EQ(crypto_cipher_open(gcm.c, nullptr, 0, iv, data, 33, icv, nullptr, 0), 0);
}

// seal/open share one handle across threads without locks (the ESP data
// path's promise): every thread must get the single-threaded answer.
TEST(CryptoCipher, ConcurrentUseOfOneHandle)
{
	for (const auto &s : {kSuites[1], kSuites[2], kSuites[5]}) {
		Cipher c;
		ASSERT_EQ(make(s, &c), 0);
		Bytes iv(crypto_cipher_iv_len(c.c), 3), ref(1024, 0x5c), ref_icv(32);
		ASSERT_EQ(crypto_cipher_seal(c.c, nullptr, 0, iv.data(), ref.data(), ref.size(),
					     ref_icv.data(), nullptr, 0),
			  0);
		std::vector<std::thread> threads;
		std::vector<int> bad(4, 0);
		for (int t = 0; t < 4; t++)
			threads.emplace_back([&, t] {
				for (int n = 0; n < 300; n++) {
					Bytes d(1024, 0x5c), icv(32);
					crypto_cipher_seal(c.c, nullptr, 0, iv.data(), d.data(), d.size(),
							   icv.data(), nullptr, 0);
					if (d != ref || icv != ref_icv ||
					    crypto_cipher_open(c.c, nullptr, 0, iv.data(), d.data(),
							       d.size(), icv.data(), nullptr, 0))
						bad[t]++;
				}
			});
		for (auto &th : threads)
			th.join();
		EXPECT_EQ(bad, std::vector<int>(4, 0));
	}
}

} // namespace
