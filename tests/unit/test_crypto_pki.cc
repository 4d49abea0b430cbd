// Certificates, chains, identities, keys and signatures over the test PKI in
// tests/fixtures/certs (made with the openssl CLI, see its README).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "client/crypto/crypto.h"

namespace {

using Bytes = std::vector<uint8_t>;

const std::string kDir = VPN_FIXTURE_DIR "/certs/";
// Inside the fixtures' validity (2026-11-24 .. 2046-11-19).
const int64_t kValidNow = 1800000000;  // 2027-01-15
const int64_t kLaterNow = 2500000000;  // 2049: expired
const int64_t kEarlierNow = 1700000000; // 2023: not yet valid

struct Cert {
	struct crypto_cert *c = nullptr;
	explicit Cert(const std::string &name)
	{
		EXPECT_EQ(crypto_cert_load_pem((kDir + name).c_str(), &c), 0) << name;
	}
	~Cert() { crypto_cert_free(c); }
};

struct Key {
	struct crypto_privkey *k = nullptr;
	explicit Key(const std::string &name)
	{
		EXPECT_EQ(crypto_privkey_load_pem((kDir + name).c_str(), &k), 0) << name;
	}
	~Key() { crypto_privkey_free(k); }
};

struct Store {
	struct crypto_ca_store *s = nullptr;
	explicit Store(const std::string &name)
	{
		EXPECT_EQ(crypto_ca_store_load((kDir + name).c_str(), &s), 0) << name;
	}
	~Store() { crypto_ca_store_free(s); }
};

int verify(const Store &st, const Cert &leaf, std::vector<struct crypto_cert *> chain,
	   int64_t now, std::string *why)
{
	char reason[128];
	int err = crypto_cert_verify(st.s, leaf.c, chain.data(), chain.size(), now, reason,
				     sizeof(reason));
	*why = reason;
	return err;
}

TEST(CryptoPki, GoodChainsVerify)
{
	Store ca("ca.pem");
	Cert gw("server-ecdsa.pem"), client("client-rsa.pem"), inter("inter.pem"),
		p384("leaf-p384.pem"), ed("ed25519.pem");
	std::string why;
	EXPECT_EQ(verify(ca, gw, {}, kValidNow, &why), 0) << why;
	EXPECT_EQ(verify(ca, client, {}, kValidNow, &why), 0) << why;
	EXPECT_EQ(verify(ca, ed, {}, kValidNow, &why), 0) << why;
	EXPECT_EQ(verify(ca, p384, {inter.c}, kValidNow, &why), 0) << why;
	// Without the intermediate the path cannot be built.
	EXPECT_EQ(verify(ca, p384, {}, kValidNow, &why), -EKEYREJECTED);
	EXPECT_NE(why.find("issuer"), std::string::npos) << why;
	// The current time (now = 0) follows the clock: only assert what it says.
	time_t t = time(nullptr);
	int want = (t > 1795537984 && t < 2426257984) ? 0 : -EKEYREJECTED;
	EXPECT_EQ(verify(ca, gw, {}, 0, &why), want) << why;
}

TEST(CryptoPki, WrongCaExpiredAndNotYetValidAreRefused)
{
	Store ca("ca.pem"), other("other-ca.pem");
	Cert gw("server-ecdsa.pem");
	std::string why;
	EXPECT_EQ(verify(other, gw, {}, kValidNow, &why), -EKEYREJECTED);
	EXPECT_EQ(why, "unable to get local issuer certificate");
	EXPECT_EQ(verify(ca, gw, {}, kLaterNow, &why), -EKEYREJECTED);
	EXPECT_EQ(why, "certificate has expired");
	EXPECT_EQ(verify(ca, gw, {}, kEarlierNow, &why), -EKEYREJECTED);
	EXPECT_EQ(why, "certificate is not yet valid");
}

TEST(CryptoPki, FqdnIpAndEmailIdentities)
{
	Cert gw("server-ecdsa.pem"), client("client-rsa.pem");
	auto fqdn = [](const Cert &c, const std::string &s) {
		return crypto_cert_matches_id(c.c, CRYPTO_ID_FQDN, (const uint8_t *)s.data(), s.size());
	};
	EXPECT_EQ(fqdn(gw, "gw.vpnctl.test"), 1);
	EXPECT_EQ(fqdn(gw, "VPN.vpnctl.TEST"), 1);
	EXPECT_EQ(fqdn(gw, "vpnctl.test"), 0);
	EXPECT_EQ(fqdn(gw, "gw.vpnctl.test."), 0);
	EXPECT_EQ(fqdn(gw, std::string("gw.vpnctl.test\0x", 16)), 0);
	// The gateway has dNSNames: its CN is not consulted... (it equals a SAN
	// here anyway); the client has none, so its CN counts.
	EXPECT_EQ(fqdn(client, "client.vpnctl.test"), 1);
	EXPECT_EQ(fqdn(client, "gw.vpnctl.test"), 0);

	uint8_t v4[4], v6[16];
	inet_pton(AF_INET, "192.0.2.1", v4);
	inet_pton(AF_INET6, "2001:db8::1", v6);
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_IPV4, v4, 4), 1);
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_IPV6, v6, 16), 1);
	v4[3] = 2;
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_IPV4, v4, 4), 0);
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_IPV4, v6, 16), -EINVAL);
	EXPECT_EQ(crypto_cert_matches_id(client.c, CRYPTO_ID_IPV4, v4, 4), 0);

	auto email = [](const Cert &c, const std::string &s) {
		return crypto_cert_matches_id(c.c, CRYPTO_ID_EMAIL, (const uint8_t *)s.data(), s.size());
	};
	EXPECT_EQ(email(client, "alice@vpnctl.test"), 1);
	EXPECT_EQ(email(client, "alice@VPNCTL.test"), 1);
	EXPECT_EQ(email(client, "Alice@vpnctl.test"), 0);
	EXPECT_EQ(email(gw, "alice@vpnctl.test"), 0);
}

TEST(CryptoPki, DistinguishedNames)
{
	Cert gw("server-ecdsa.pem");
	uint8_t der[256], subj[256];
	size_t len, slen;
	char text[128];

	ASSERT_EQ(crypto_cert_subject_str(gw.c, text, sizeof(text)), 0);
	EXPECT_STREQ(text, "C=CH, O=vpnctl test, CN=gw.vpnctl.test");
	EXPECT_EQ(crypto_cert_subject_str(gw.c, text, 10), -ENOSPC);

	ASSERT_EQ(crypto_dn_from_string("C=CH, O=vpnctl test, CN=gw.vpnctl.test", der,
					sizeof(der), &len),
		  0);
	ASSERT_EQ(crypto_cert_subject_der(gw.c, subj, sizeof(subj), &slen), 0);
	EXPECT_EQ(Bytes(der, der + len), Bytes(subj, subj + slen));
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_DN, der, len), 1);
	// Canonical comparison: case and spacing differences do not matter.
	ASSERT_EQ(crypto_dn_from_string("c=ch,o=VPNCTL  test,cn=GW.vpnctl.test", der, sizeof(der),
					&len),
		  0);
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_DN, der, len), 1);
	ASSERT_EQ(crypto_dn_from_string("C=CH, O=vpnctl test, CN=other", der, sizeof(der), &len), 0);
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_DN, der, len), 0);
	ASSERT_EQ(crypto_dn_from_string("O=a\\, b, CN=x", der, sizeof(der), &len), 0);
	EXPECT_EQ(crypto_cert_matches_id(gw.c, CRYPTO_ID_DN, der, len - 1), -EINVAL);
	EXPECT_EQ(crypto_dn_from_string("CN", der, sizeof(der), &len), -EINVAL);
	EXPECT_EQ(crypto_dn_from_string("NOPE=x", der, sizeof(der), &len), -EINVAL);
	EXPECT_EQ(crypto_dn_from_string("C=CH, CN=gw", der, 4, &len), -ENOSPC);
}

TEST(CryptoPki, DerRoundTripAndSpkiHash)
{
	Cert gw("server-ecdsa.pem");
	const uint8_t *der;
	size_t len;
	ASSERT_EQ(crypto_cert_der(gw.c, &der, &len), 0);
	struct crypto_cert *again = nullptr;
	ASSERT_EQ(crypto_cert_from_der(der, len, &again), 0);
	Bytes junk(der, der + len);
	junk.push_back(0);
	struct crypto_cert *bad = nullptr;
	EXPECT_EQ(crypto_cert_from_der(junk.data(), junk.size(), &bad), -EINVAL);
	EXPECT_EQ(crypto_cert_from_der(der, len - 1, &bad), -EINVAL);
	EXPECT_EQ(bad, nullptr);

	std::ifstream f(kDir + "server-ecdsa.spki-sha1");
	std::string want;
	f >> want;
	uint8_t h[20];
	ASSERT_EQ(crypto_cert_spki_sha1(again, h), 0);
	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	EXPECT_EQ(std::string(hex), want);
	crypto_cert_free(again);
}

TEST(CryptoPki, KeyTypesAndLoadErrors)
{
	Key ec("server-ecdsa.key"), rsa("client-rsa.key"), p384("leaf-p384.key"), ed("ed25519.key");
	EXPECT_EQ(crypto_privkey_type(ec.k), CRYPTO_KEY_EC_P256);
	EXPECT_EQ(crypto_privkey_type(rsa.k), CRYPTO_KEY_RSA);
	EXPECT_EQ(crypto_privkey_type(p384.k), CRYPTO_KEY_EC_P384);
	EXPECT_EQ(crypto_privkey_type(ed.k), CRYPTO_KEY_ED25519);
	Cert gw("server-ecdsa.pem");
	EXPECT_EQ(crypto_pubkey_type(crypto_cert_pubkey(gw.c)), CRYPTO_KEY_EC_P256);

	struct crypto_privkey *k = nullptr;
	EXPECT_EQ(crypto_privkey_load_pem((kDir + "missing.key").c_str(), &k), -ENOENT);
	EXPECT_EQ(crypto_privkey_load_pem((kDir + "ca.pem").c_str(), &k), -EINVAL); // a cert
	EXPECT_EQ(crypto_privkey_load_pem((kDir + "README").c_str(), &k), -EINVAL);
	struct crypto_cert *c = nullptr;
	EXPECT_EQ(crypto_cert_load_pem((kDir + "ca.key").c_str(), &c), -EINVAL);
	struct crypto_ca_store *s = nullptr;
	EXPECT_EQ(crypto_ca_store_load((kDir + "README").c_str(), &s), -EINVAL);
	EXPECT_EQ(k, nullptr);
	EXPECT_EQ(c, nullptr);
	EXPECT_EQ(s, nullptr);
}

struct SigCase {
	const char *key, *cert;
	enum crypto_sig_scheme scheme;
	enum crypto_hash hash;
	size_t fixed_len; // 0: variable
};

TEST(CryptoPki, SignVerifyEachSchemeAndRefuseTampering)
{
	const SigCase cases[] = {
		{"client-rsa.key", "client-rsa.pem", CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA256, 256},
		{"client-rsa.key", "client-rsa.pem", CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA1, 256},
		{"client-rsa.key", "client-rsa.pem", CRYPTO_SIG_RSA_PSS, CRYPTO_HASH_SHA256, 256},
		{"client-rsa.key", "client-rsa.pem", CRYPTO_SIG_RSA_PSS, CRYPTO_HASH_SHA512, 256},
		{"server-ecdsa.key", "server-ecdsa.pem", CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA256, 64},
		{"server-ecdsa.key", "server-ecdsa.pem", CRYPTO_SIG_ECDSA_DER, CRYPTO_HASH_SHA256, 0},
		{"leaf-p384.key", "leaf-p384.pem", CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA384, 96},
		{"leaf-p384.key", "leaf-p384.pem", CRYPTO_SIG_ECDSA_DER, CRYPTO_HASH_SHA384, 0},
		{"ed25519.key", "ed25519.pem", CRYPTO_SIG_ED25519, CRYPTO_HASH_SHA256, 64},
	};
	const std::string msg = "InitiatorSignedOctets: RealMessage1 | NonceRData | MACedIDForI";
	for (const auto &tc : cases) {
		SCOPED_TRACE(std::string(tc.key) + " scheme " + std::to_string(tc.scheme));
		Key k(tc.key);
		Cert c(tc.cert);
		const struct crypto_pubkey *pub = crypto_cert_pubkey(c.c);
		Bytes sig(crypto_sign_max_len(k.k));
		size_t len = sig.size();
		ASSERT_EQ(crypto_sign(k.k, tc.scheme, tc.hash, (const uint8_t *)msg.data(), msg.size(),
				      sig.data(), &len),
			  0);
		if (tc.fixed_len)
			EXPECT_EQ(len, tc.fixed_len);
		else
			EXPECT_EQ(sig[0], 0x30); // DER SEQUENCE
		sig.resize(len);
		EXPECT_EQ(crypto_verify(pub, tc.scheme, tc.hash, (const uint8_t *)msg.data(),
					msg.size(), sig.data(), sig.size()),
			  0);
		Bytes bad = sig;
		bad[bad.size() / 2] ^= 0x01;
		EXPECT_EQ(crypto_verify(pub, tc.scheme, tc.hash, (const uint8_t *)msg.data(),
					msg.size(), bad.data(), bad.size()),
			  -EBADMSG);
		std::string other = msg;
		other[0] ^= 0x20;
		EXPECT_EQ(crypto_verify(pub, tc.scheme, tc.hash, (const uint8_t *)other.data(),
					other.size(), sig.data(), sig.size()),
			  -EBADMSG);
		EXPECT_NE(crypto_verify(pub, tc.scheme, tc.hash, (const uint8_t *)msg.data(),
					msg.size(), sig.data(), sig.size() - 1),
			  0);
		if (tc.scheme != CRYPTO_SIG_ED25519) {
			enum crypto_hash h2 = tc.hash == CRYPTO_HASH_SHA256 ? CRYPTO_HASH_SHA384
									     : CRYPTO_HASH_SHA256;
			EXPECT_EQ(crypto_verify(pub, tc.scheme, h2, (const uint8_t *)msg.data(),
						msg.size(), sig.data(), sig.size()),
				  -EBADMSG);
		}
	}
}

TEST(CryptoPki, SchemeMustFitTheKey)
{
	Key rsa("client-rsa.key"), ec("server-ecdsa.key");
	Cert rsa_cert("client-rsa.pem"), ec_cert("server-ecdsa.pem");
	uint8_t sig[512];
	size_t len = sizeof(sig);
	const uint8_t m[] = "x";
	EXPECT_EQ(crypto_sign(rsa.k, CRYPTO_SIG_ECDSA_DER, CRYPTO_HASH_SHA256, m, 1, sig, &len),
		  -EINVAL);
	EXPECT_EQ(crypto_sign(ec.k, CRYPTO_SIG_RSA_PSS, CRYPTO_HASH_SHA256, m, 1, sig, &len), -EINVAL);
	EXPECT_EQ(crypto_sign(ec.k, CRYPTO_SIG_ED25519, CRYPTO_HASH_SHA256, m, 1, sig, &len), -EINVAL);
	len = 10;
	EXPECT_EQ(crypto_sign(rsa.k, CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA256, m, 1, sig, &len),
		  -ENOSPC);
	len = sizeof(sig);
	ASSERT_EQ(crypto_sign(rsa.k, CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA256, m, 1, sig, &len), 0);
	// A PKCS#1 v1.5 signature is no PSS signature, and an RSA key verifies no ECDSA.
	EXPECT_EQ(crypto_verify(crypto_cert_pubkey(rsa_cert.c), CRYPTO_SIG_RSA_PSS,
				CRYPTO_HASH_SHA256, m, 1, sig, len),
		  -EBADMSG);
	EXPECT_EQ(crypto_verify(crypto_cert_pubkey(ec_cert.c), CRYPTO_SIG_RSA_PKCS1,
				CRYPTO_HASH_SHA256, m, 1, sig, len),
		  -EINVAL);
}

} // namespace
