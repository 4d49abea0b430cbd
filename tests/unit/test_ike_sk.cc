// SK payload protection: RFC 7634 Appendix B byte for byte, AES-GCM and
// AES-CBC+HMAC answers computed independently (Python "cryptography" and
// hmac on OpenSSL 3, from RFC 5282 / RFC 7296 3.14's layout), round trips
// and every way a message can be bad.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "client/crypto/crypto.h"
#include "client/ike/sk.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes unhex(const std::string &h)
{
	Bytes out;
	for (size_t i = 0; i + 1 < h.size(); i += 2)
		out.push_back((uint8_t)std::stoul(h.substr(i, 2), nullptr, 16));
	return out;
}

Bytes range(uint8_t from, size_t n)
{
	Bytes b(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(from + i);
	return b;
}

struct Cipher {
	struct crypto_cipher *c = nullptr;
	~Cipher() { crypto_cipher_free(c); }
};

// Lays out aad | (IV gap) | inner, seals, and returns the whole message.
Bytes seal(const struct crypto_cipher *c, const Bytes &aad, const Bytes &inner,
	   const Bytes *iv, int pad_len, int *err = nullptr)
{
	Bytes buf(aad.size() + 600, 0xcc);
	size_t out_len = 0;
	memcpy(buf.data(), aad.data(), aad.size());
	if (!inner.empty())
		memcpy(buf.data() + aad.size() + crypto_cipher_iv_len(c), inner.data(), inner.size());
	int r = ike_sk_seal(c, buf.data(), buf.size(), aad.size(), inner.size(),
			    iv ? iv->data() : nullptr, pad_len, &out_len);
	if (err)
		*err = r;
	else
		EXPECT_EQ(r, 0);
	buf.resize(r ? 0 : out_len);
	return buf;
}

// Opens msg (aad_len bytes of aad first) and returns the inner payloads.
int open(const struct crypto_cipher *c, Bytes msg, size_t aad_len, Bytes *inner,
	 size_t *pad = nullptr)
{
	uint8_t *in = nullptr;
	size_t in_len = 0, pad_len = 0;
	int r = ike_sk_open(c, msg.data(), aad_len, msg.data() + aad_len, msg.size() - aad_len,
			    &in, &in_len, &pad_len);
	if (!r) {
		inner->assign(in, in + in_len);
		if (pad)
			*pad = pad_len;
	}
	return r;
}

// RFC 7634 Appendix B: an INFORMATIONAL request with N(SET_WINDOW_SIZE),
// as strongSwan's own unit test (test_message_chapoly.c) reproduces it.
TEST(IkeSk, Rfc7634AppendixB)
{
	Bytes keymat = range(0x80, 32);
	Bytes salt = unhex("a0a1a2a3");
	keymat.insert(keymat.end(), salt.begin(), salt.end());
	Cipher c;
	ASSERT_EQ(crypto_cipher_new(CRYPTO_ENCR_CHACHA20_POLY1305, 256, keymat.data(), keymat.size(),
				    CRYPTO_INTEG_NONE, nullptr, 0, &c.c),
		  0);
	const Bytes aad = unhex("c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e20250000000009000000452900"
				"0029");
	// Notify: no next payload, length 12, SET_WINDOW_SIZE (16385) = 10.
	const Bytes inner12 = unhex("0000000c000040010000000a");
	const Bytes iv = range(0x10, 8);
	const Bytes want = unhex(
		"c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e20250000000009000000452900002910"
		"11121314151617610394701f8d017f7c129248896b71bfe25236efd7cdc6706690"
		"6315b2");
	Bytes msg = seal(c.c, aad, inner12, &iv, 0);
	EXPECT_EQ(msg, want);
	EXPECT_EQ(ike_sk_overhead(c.c, 12), 8u + 0 + 1 + 16);
	Bytes got;
	size_t pad = 99;
	ASSERT_EQ(open(c.c, want, aad.size(), &got, &pad), 0);
	EXPECT_EQ(got, inner12);
	EXPECT_EQ(pad, 0u);
}

// AES-GCM-16 with a 128-bit key (RFC 5282): key 10..1f, salt a0a1a2a3,
// IV 0001020304050607, no padding.
TEST(IkeSk, AesGcmKnownAnswer)
{
	Bytes keymat = range(0x10, 16), salt = unhex("a0a1a2a3");
	keymat.insert(keymat.end(), salt.begin(), salt.end());
	Cipher c;
	ASSERT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_GCM_16, 128, keymat.data(), keymat.size(),
				    CRYPTO_INTEG_NONE, nullptr, 0, &c.c),
		  0);
	const Bytes aad = unhex("00112233445566778899aabbccddeeff2e202508000000030000004d29000031");
	const Bytes inner = unhex("2900000c00004001000000010000000800004016");
	const Bytes iv = unhex("0001020304050607");
	const Bytes body = unhex("0001020304050607806fb1cfe2e820f92de44bb96a8f5fe772e92665bc2fa6ee"
				 "ad62059ebaa4a4bd60f455cfa9");
	Bytes msg = seal(c.c, aad, inner, &iv, 0);
	Bytes want = aad;
	want.insert(want.end(), body.begin(), body.end());
	EXPECT_EQ(msg, want);
	Bytes got;
	ASSERT_EQ(open(c.c, want, aad.size(), &got), 0);
	EXPECT_EQ(got, inner);
}

// AES-256-CBC + HMAC-SHA2-256-128 (RFC 7296 3.14): key 20..3f, integrity
// key 60..7f, IV c0..cf, minimal zero padding (11 bytes).
TEST(IkeSk, AesCbcHmacKnownAnswer)
{
	Bytes key = range(0x20, 32), ikey = range(0x60, 32);
	Cipher c;
	ASSERT_EQ(crypto_cipher_new(CRYPTO_ENCR_AES_CBC, 256, key.data(), key.size(),
				    CRYPTO_INTEG_HMAC_SHA2_256_128, ikey.data(), ikey.size(), &c.c),
		  0);
	const Bytes aad = unhex("00112233445566778899aabbccddeeff2e2025080000000300000060290000"
				"44");
	const Bytes inner = unhex("2900000c00004001000000010000000800004016");
	const Bytes iv = range(0xc0, 16);
	const Bytes body = unhex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf4480e5cbc9ac0f5dbe0a97273591c14f"
				 "a6db0229a7701f5cf8c9b2c5a0a8574441260fa93458fcd9c605457426f30776");
	EXPECT_EQ(ike_sk_overhead(c.c, inner.size()), 16u + 11 + 1 + 16);
	Bytes msg = seal(c.c, aad, inner, &iv, -1);
	Bytes want = aad;
	want.insert(want.end(), body.begin(), body.end());
	EXPECT_EQ(msg, want);
	Bytes got;
	size_t pad = 0;
	ASSERT_EQ(open(c.c, want, aad.size(), &got, &pad), 0);
	EXPECT_EQ(got, inner);
	EXPECT_EQ(pad, 11u);
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
	{CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_384_192},
	{CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_512_256},
};

void make(const Suite &s, Cipher *c)
{
	Bytes k(crypto_encr_keymat_len(s.e, s.bits), 0x3c), ik(crypto_integ_key_len(s.i), 0x4d);
	ASSERT_EQ(crypto_cipher_new(s.e, s.bits, k.data(), k.size(), s.i,
				    ik.empty() ? nullptr : ik.data(), ik.size(), &c->c),
		  0);
}

const Bytes kAad = range(0x01, 32);

TEST(IkeSk, RoundTripsWithEveryCipherAndPadding)
{
	for (const auto &s : kSuites) {
		SCOPED_TRACE(std::to_string(s.e) + "/" + std::to_string(s.i));
		Cipher c;
		make(s, &c);
		size_t block = crypto_cipher_block_len(c.c);
		for (size_t n : {0, 1, 15, 16, 100, 300}) {
			Bytes inner = range(0x40, n), got;
			Bytes a = seal(c.c, kAad, inner, nullptr, -1);
			EXPECT_EQ(a.size(), kAad.size() + n + ike_sk_overhead(c.c, n));
			ASSERT_EQ(open(c.c, a, kAad.size(), &got), 0);
			EXPECT_EQ(got, inner);
			// Fresh IVs: the same plaintext never seals the same way twice.
			Bytes b = seal(c.c, kAad, inner, nullptr, -1);
			EXPECT_NE(a, b);
			// A longer, explicit padding still completes the block.
			int pad = (int)((block - (n + 1) % block) % block + block);
			if (block == 1)
				pad = 7;
			size_t got_pad = 0;
			Bytes p = seal(c.c, kAad, inner, nullptr, pad);
			ASSERT_EQ(open(c.c, p, kAad.size(), &got, &got_pad), 0);
			EXPECT_EQ(got, inner);
			EXPECT_EQ(got_pad, (size_t)pad);
		}
	}
}

TEST(IkeSk, TamperedIcvCiphertextAadOrIvIsRefused)
{
	for (const auto &s : kSuites) {
		SCOPED_TRACE(std::to_string(s.e) + "/" + std::to_string(s.i));
		Cipher c;
		make(s, &c);
		Bytes inner = range(0x20, 40), got;
		Bytes msg = seal(c.c, kAad, inner, nullptr, -1);
		size_t iv_len = crypto_cipher_iv_len(c.c);
		for (size_t pos : {(size_t)0, kAad.size() - 1,              // aad
				   kAad.size(), kAad.size() + iv_len - 1,     // IV
				   kAad.size() + iv_len, msg.size() - 20,     // ciphertext
				   msg.size() - 1}) {                          // ICV
			Bytes bad = msg;
			bad[pos] ^= 0x04;
			EXPECT_EQ(open(c.c, bad, kAad.size(), &got), -EBADMSG) << pos;
		}
		// Shifting the aad boundary changes what is authenticated.
		EXPECT_NE(open(c.c, msg, kAad.size() - 1, &got), 0);
		ASSERT_EQ(open(c.c, msg, kAad.size(), &got), 0);
		EXPECT_EQ(got, inner);
	}
}

// An authentic message whose pad length byte claims more bytes than were
// decrypted: a broken peer, refused rather than read out of bounds.
TEST(IkeSk, ImpossiblePadLengthIsRefused)
{
	for (const auto &s : kSuites) {
		SCOPED_TRACE(std::to_string(s.e) + "/" + std::to_string(s.i));
		Cipher c;
		make(s, &c);
		size_t iv_len = crypto_cipher_iv_len(c.c), icv_len = crypto_cipher_icv_len(c.c);
		Bytes msg = kAad, iv(iv_len, 0x55), plain(32, 0x11);
		plain.back() = 32; // pad length 32 + 1 > 32 decrypted bytes
		msg.insert(msg.end(), iv.begin(), iv.end());
		size_t enc_at = msg.size();
		msg.insert(msg.end(), plain.begin(), plain.end());
		msg.resize(msg.size() + icv_len);
		ASSERT_EQ(crypto_cipher_seal(c.c, msg.data(), kAad.size(), iv.data(),
					     msg.data() + enc_at, plain.size(),
					     msg.data() + enc_at + plain.size(), nullptr, 0),
			  0);
		Bytes got;
		EXPECT_EQ(open(c.c, msg, kAad.size(), &got), -EBADMSG);
	}
}

TEST(IkeSk, MalformedBodiesAreRefusedBeforeDecrypting)
{
	Cipher gcm, cbc;
	make(kSuites[0], &gcm);
	make(kSuites[3], &cbc);
	Bytes got;
	// Shorter than IV + ICV + 1.
	EXPECT_EQ(open(gcm.c, Bytes(kAad.size() + 8 + 16, 0), kAad.size(), &got), -EINVAL);
	EXPECT_EQ(open(cbc.c, Bytes(kAad.size() + 16 + 16, 0), kAad.size(), &got), -EINVAL);
	EXPECT_EQ(open(gcm.c, kAad, kAad.size(), &got), -EINVAL);
	// CBC ciphertext not a whole number of blocks.
	EXPECT_EQ(open(cbc.c, Bytes(kAad.size() + 16 + 17 + 16, 0), kAad.size(), &got), -EINVAL);
	// The right shape but garbage: the ICV catches it.
	EXPECT_EQ(open(cbc.c, Bytes(kAad.size() + 16 + 16 + 16, 0), kAad.size(), &got), -EBADMSG);
}

TEST(IkeSk, SealRefusesBadPaddingAndShortBuffers)
{
	Cipher cbc, gcm;
	make(kSuites[3], &cbc);
	make(kSuites[1], &gcm);
	Bytes inner(20, 1);
	int err = 0;
	seal(cbc.c, kAad, inner, nullptr, 10, &err); // 20 + 10 + 1 = 31: not a block
	EXPECT_EQ(err, -EINVAL);
	seal(gcm.c, kAad, inner, nullptr, 256, &err); // does not fit the byte
	EXPECT_EQ(err, -EINVAL);
	Bytes buf(kAad.size() + 16 + 20 + 11, 0);
	size_t out_len = 0;
	EXPECT_EQ(ike_sk_seal(cbc.c, buf.data(), buf.size(), kAad.size(), 20, nullptr, -1, &out_len),
		  -ENOSPC);
	EXPECT_EQ(ike_sk_seal(cbc.c, buf.data(), 10, kAad.size(), 0, nullptr, -1, &out_len), -ENOSPC);
	EXPECT_EQ(ike_sk_seal(nullptr, buf.data(), buf.size(), 0, 0, nullptr, -1, &out_len), -EINVAL);
}

} // namespace

// The fuzzer's seed corpus (tests/fuzz/corpus/sk) must stay valid: every
// "valid-*" seed opens with exactly one of the fuzzer's fixed-key ciphers
// (encryption key material all 0x3c, integrity key all 0x4d).
#include <dirent.h>
#include <fstream>
#include <iterator>

namespace {

TEST(IkeSk, FuzzSeedsOpenUnderTheFuzzerKeys)
{
	const std::string dir = VPN_SOURCE_DIR "/tests/fuzz/corpus/sk/";
	DIR *d = opendir(dir.c_str());
	ASSERT_NE(d, nullptr);
	int seeds = 0;
	while (struct dirent *e = readdir(d)) {
		std::string name = e->d_name;
		if (name.rfind("valid-", 0) != 0)
			continue;
		std::ifstream f(dir + name, std::ios::binary);
		Bytes in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
		ASSERT_GE(in.size(), 2u);
		size_t aad_len = in[0];
		Bytes msg(in.begin() + 1, in.end());
		int opened = 0;
		for (const auto &s : kSuites) {
			Cipher c;
			make(s, &c);
			Bytes got;
			if (open(c.c, msg, aad_len, &got) == 0)
				opened++;
		}
		EXPECT_EQ(opened, 1) << name;
		seeds++;
	}
	closedir(d);
	EXPECT_GE(seeds, 6);
}

} // namespace
