// MS-CHAPv2 against RFC 2759 section 9.2 and the MPPE keys of RFC 3079
// section 3.5.3, and the MSK layout strongSwan uses (see crypto.h).
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

// RFC 2759 9.2 (also the inputs of RFC 3079 3.5.3).
const Bytes kAuthChallenge = unhex("5B5D7C7D7B3F2F3E3C2C602132262628");
const Bytes kPeerChallenge = unhex("21402324255E262A28295F2B3A337C7E");
const Bytes kNtResponse = unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");

TEST(CryptoMschapv2, Rfc2759NtResponse)
{
	uint8_t nt[24];
	ASSERT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "User",
					      "clientPass", nt),
		  0);
	EXPECT_EQ(Bytes(nt, nt + 24), kNtResponse);
}

TEST(CryptoMschapv2, Rfc2759AuthenticatorResponse)
{
	char out[43];
	ASSERT_EQ(crypto_mschapv2_auth_response("clientPass", kNtResponse.data(),
						kPeerChallenge.data(), kAuthChallenge.data(),
						"User", out),
		  0);
	EXPECT_STREQ(out, "S=407A5589115FD0D6209F510FE9C04566932CDA56");
}

// The challenge hash uses the user name without a domain (RFC 2759 8.2).
TEST(CryptoMschapv2, DomainPrefixIsNotHashed)
{
	uint8_t nt[24];
	char out[43];
	ASSERT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(),
					      "WORKGROUP\\User", "clientPass", nt),
		  0);
	EXPECT_EQ(Bytes(nt, nt + 24), kNtResponse);
	ASSERT_EQ(crypto_mschapv2_auth_response("clientPass", nt, kPeerChallenge.data(),
						kAuthChallenge.data(), "WORKGROUP\\User", out),
		  0);
	EXPECT_STREQ(out, "S=407A5589115FD0D6209F510FE9C04566932CDA56");
	ASSERT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "user",
					      "clientPass", nt),
		  0);
	EXPECT_NE(Bytes(nt, nt + 24), kNtResponse); // the name itself does count
}

// MSK = peer send key (Magic2) | peer receive key (Magic3) | 32 zero bytes.
// RFC 3079 3.5.3 prints SendStartKey128 = 8B7CDC14... computed for the
// server (IsSend, IsServer: Magic3), i.e. the peer's receive key, which is
// msk[16..31]. The peer send key D5F0E952... (Magic2) is not printed in the
// RFC; the value is the one AOSP's EAP-MSCHAPv2 tests derive from the RFC's
// parameters and was re-checked here with Python's hashlib (SHA-1 of
// MasterKey | 40 x 00 | Magic2 | 40 x F2, RFC 3079 3.4).
TEST(CryptoMschapv2, MskMatchesRfc3079Keys)
{
	uint8_t msk[64];
	ASSERT_EQ(crypto_mschapv2_msk("clientPass", kNtResponse.data(), msk), 0);
	EXPECT_EQ(Bytes(msk, msk + 16), unhex("D5F0E9521E3EA9589645E86051C82226"));
	EXPECT_EQ(Bytes(msk + 16, msk + 32), unhex("8B7CDC149B993A1BA118CB153F56DCCB"));
	EXPECT_EQ(Bytes(msk + 32, msk + 64), Bytes(32, 0));
}

TEST(CryptoMschapv2, Utf8PasswordsAreConvertedAndInvalidOnesRefused)
{
	uint8_t nt[24], nt2[24], msk[64];
	// U+00E9 and U+1F511 (a surrogate pair in UTF-16): accepted, distinct.
	ASSERT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "User",
					      "caf\xc3\xa9\xf0\x9f\x94\x91", nt),
		  0);
	ASSERT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "User",
					      "cafe\xf0\x9f\x94\x91", nt2),
		  0);
	EXPECT_NE(0, memcmp(nt, nt2, 24));
	const char *bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
	for (const char *pw : bad) {
		EXPECT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(),
						      "User", pw, nt),
			  -EINVAL)
			<< pw;
		EXPECT_EQ(crypto_mschapv2_msk(pw, kNtResponse.data(), msk), -EINVAL);
	}
	std::string longpw(257, 'x');
	EXPECT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "User",
					      longpw.c_str(), nt),
		  -E2BIG);
	longpw.resize(256);
	EXPECT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "User",
					      longpw.c_str(), nt),
		  0);
	EXPECT_EQ(crypto_mschapv2_nt_response(kAuthChallenge.data(), kPeerChallenge.data(), "User",
					      nullptr, nt),
		  -EINVAL);
}

} // namespace
