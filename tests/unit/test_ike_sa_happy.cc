// The IKE engine against the scripted responder: the paths that end in an
// established IKE SA (PSK, certificates with RFC 7427 and classic
// signatures, EAP-MSCHAPv2), with the configuration, the first Child SA's
// SPIs and keys, traffic selectors and algorithms checked against what the
// responder derived on its side.
#include "ike_responder.h"

namespace {

using namespace iketest;

class HappyPath : public IkeSaTest {
protected:
	// The first Child SA as both sides see it.
	void expect_child_matches(const ChildUp &u, const RChild &c)
	{
		EXPECT_EQ(u.info.spi_in, c.spi_client);
		EXPECT_EQ(u.info.spi_out, c.spi_gw);
		EXPECT_EQ(u.info.replaces_spi_in, 0u);
		ASSERT_FALSE(c.encr_c2g.empty());
		// Ours out is the gateway's in, and the other way round.
		EXPECT_EQ(hex(u.encr_out), hex(c.encr_c2g));
		EXPECT_EQ(hex(u.encr_in), hex(c.encr_g2c));
		EXPECT_EQ(hex(u.integ_out), hex(c.integ_c2g));
		EXPECT_EQ(hex(u.integ_in), hex(c.integ_g2c));
		EXPECT_NE(hex(u.encr_in), hex(u.encr_out));
		char alg[96];
		ASSERT_EQ(ike_proposal_format(&c.prop, alg, sizeof(alg)), 0);
		EXPECT_STREQ(u.info.esp_alg, alg);
	}

	void expect_common_established()
	{
		ASSERT_TRUE(established) << reason;
		EXPECT_EQ(closed_calls, 0);
		EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
		ASSERT_EQ(ups.size(), 1u);
		EXPECT_EQ(ups_at_established, 1u) << "child_up comes just before established";
		ASSERT_EQ(gw.children.size(), 1u);
		expect_child_matches(ups[0], gw.children[0]);
		// CP reply
		EXPECT_TRUE(info.have_ip4);
		EXPECT_EQ(memcmp(info.ip4, gw.vip, 4), 0);
		EXPECT_EQ(info.ip4_prefix, 24);
		ASSERT_EQ(info.n_dns4, 2u);
		EXPECT_EQ(memcmp(info.dns4[0], gw.dns[0].data(), 4), 0);
		EXPECT_EQ(memcmp(info.dns4[1], gw.dns[1].data(), 4), 0);
		ASSERT_EQ(info.n_domains, 1u);
		EXPECT_STREQ(info.domains[0], "corp.vpnctl.test");
		EXPECT_FALSE(info.have_ip6);
		// negotiated
		char alg[96];
		ASSERT_EQ(ike_proposal_format(&gw.ike_chosen, alg, sizeof(alg)), 0);
		EXPECT_STREQ(info.ike_alg, alg);
		EXPECT_STREQ(info.remote_id, "gw.vpnctl.test");
		EXPECT_TRUE(info.mobike);
		EXPECT_TRUE(info.fragmentation);
		EXPECT_FALSE(info.nat_local);
		EXPECT_FALSE(info.nat_remote);
		// traffic selectors as the gateway narrowed them
		ASSERT_EQ(ups[0].info.n_tsi, 1u);
		EXPECT_TRUE(ts_equal(ups[0].info.tsi[0], ts4("10.99.0.7", "10.99.0.7")));
		ASSERT_EQ(ups[0].info.n_tsr, 1u);
		EXPECT_TRUE(ts_equal(ups[0].info.tsr[0], ts4("10.1.0.0", "10.1.255.255")));
		// IKE_SA_INIT on port 500, the rest on 4500 (force_encap)
		auto init = sent_of(IKE_EXCH_IKE_SA_INIT);
		ASSERT_FALSE(init.empty());
		EXPECT_FALSE(init[0].natt);
		for (auto &s : sent_of(IKE_EXCH_IKE_AUTH))
			EXPECT_TRUE(s.natt);
		EXPECT_TRUE(gw.initiator_nat_detected) << "force_encap fakes NATD_SOURCE_IP";
		EXPECT_TRUE(gw.init_auth_ok);
		EXPECT_TRUE(gw.ike_up);
	}
};

TEST_F(HappyPath, PreSharedKey)
{
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	EXPECT_EQ(gw.init_auth_method, IKE_AUTH_PSK);
	ASSERT_EQ(progress.size(), 3u);
	EXPECT_EQ(progress[0], IKE_PROGRESS_SA_INIT);
	EXPECT_EQ(progress[1], IKE_PROGRESS_AUTH);
	EXPECT_EQ(progress[2], IKE_PROGRESS_ESTABLISHED);
	// AES-GCM: no integrity keys, 32 + 4 octets of key and salt.
	EXPECT_EQ(ups[0].info.encr_len, 36u);
	EXPECT_EQ(ups[0].info.integ_len, 0u);
	EXPECT_EQ(ups[0].info.algs.encr, CRYPTO_ENCR_AES_GCM_16);
	EXPECT_FALSE(ups[0].info.esn);
	// What the engine asked for in its first IKE_AUTH.
	ASSERT_EQ(gw.requests.size(), 2u);
	const Msg &a = gw.requests[1];
	EXPECT_TRUE(a.has_notify(IKE_N_INITIAL_CONTACT));
	EXPECT_TRUE(a.has_notify(IKE_N_MOBIKE_SUPPORTED));
	EXPECT_EQ(a.find(IKE_PT_IDR), nullptr) << "IDr is not sent by default (send_idr)";
	EXPECT_FALSE(gw.idr_received);
	ASSERT_NE(a.find(IKE_PT_CP), nullptr);
	ike_payload cpv = view(*a.find(IKE_PT_CP));
	ike_cp cp;
	ASSERT_EQ(ike_parse_cp(&cpv, &cp), 0);
	EXPECT_EQ(cp.cfg_type, IKE_CFG_REQUEST);
	bool asks_ip4 = false, asks_dns = false;
	for (unsigned i = 0; i < cp.n; i++) {
		asks_ip4 |= cp.a[i].type == IKE_CP_INTERNAL_IP4_ADDRESS && cp.a[i].len == 0;
		asks_dns |= cp.a[i].type == IKE_CP_INTERNAL_IP4_DNS;
	}
	EXPECT_TRUE(asks_ip4);
	EXPECT_TRUE(asks_dns);
	// Engine sent nothing since (no stray requests).
	EXPECT_EQ(sent.size(), 2u);
}

// send_idr: IDr names remote_id, for a gateway that hosts several
// identities on one address and picks by it.
TEST_F(HappyPath, SendIdrNamesTheRemoteId)
{
	cfg.send_idr = true;
	gw.idr_selects = true;
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	ASSERT_TRUE(gw.idr_received);
	EXPECT_EQ(gw.idr.type, cfg.remote_id.type);
	EXPECT_EQ(hex(gw.idr.data, gw.idr.len), hex(cfg.remote_id.data, cfg.remote_id.len));
	EXPECT_EQ(hex(gw.idr.data, gw.idr.len), hex(bytes("gw.vpnctl.test")));
	// IDr follows IDi (RFC 7296 1.2 lists it after CERTREQ, before AUTH).
	auto types = gw.requests[1].types();
	auto idi = std::find(types.begin(), types.end(), IKE_PT_IDI);
	auto idr = std::find(types.begin(), types.end(), IKE_PT_IDR);
	auto auth = std::find(types.begin(), types.end(), IKE_PT_AUTH);
	EXPECT_LT(idi, idr);
	EXPECT_LT(idr, auth);
}

TEST_F(HappyPath, SendIdrWithCertificatesAndEap)
{
	use_eap();
	cfg.send_idr = true;
	gw.idr_selects = true;
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	ASSERT_TRUE(gw.idr_received);
	EXPECT_EQ(hex(gw.idr.data, gw.idr.len), hex(bytes("gw.vpnctl.test")));
}

TEST_F(HappyPath, PreSharedKeyWithCbcAndModp)
{
	set_ike("aes128-sha256-prfsha256-modp2048");
	set_esp("aes128-sha256");
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	EXPECT_EQ(gw.ike_chosen.x[IKE_XFORM_DH][0].id, IKE_DH_MODP2048);
	EXPECT_EQ(ups[0].info.algs.encr, CRYPTO_ENCR_AES_CBC);
	EXPECT_EQ(ups[0].info.algs.integ, CRYPTO_INTEG_HMAC_SHA2_256_128);
	EXPECT_EQ(ups[0].info.encr_len, 16u);
	EXPECT_EQ(ups[0].info.integ_len, 32u);
	EXPECT_NE(hex(ups[0].integ_in), hex(ups[0].integ_out));
}

TEST_F(HappyPath, ChaChaAndEcp384)
{
	set_ike("chacha20poly1305-prfsha512-ecp384");
	set_esp("chacha20poly1305");
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	EXPECT_EQ(ups[0].info.algs.encr, CRYPTO_ENCR_CHACHA20_POLY1305);
	EXPECT_STREQ(info.ike_alg, "chacha20poly1305-prfsha512-ecp384");
}

// The responder prefers the second proposal: the engine takes it.
TEST_F(HappyPath, ResponderPicksTheSecondProposals)
{
	gw.ike_accept = proposals("aes128-sha256-prfsha256-modp2048", IKE_PROTO_IKE);
	gw.esp_accept = proposals("aes128-sha256", IKE_PROTO_ESP);
	ASSERT_TRUE(connect()) << reason;
	// KE was curve25519 (the first group), the gateway wants MODP 2048.
	EXPECT_EQ(gw.invalid_ke_sent, 1u);
	ASSERT_EQ(ke_groups.size(), 1u);
	EXPECT_EQ(ke_groups[0], IKE_DH_MODP2048);
	expect_common_established();
	EXPECT_EQ(gw.ike_chosen.num, 2);
	EXPECT_STREQ(info.ike_alg, "aes128-sha256-prfsha256-modp2048");
	EXPECT_EQ(ups[0].info.algs.encr, CRYPTO_ENCR_AES_CBC);
}

TEST_F(HappyPath, TrafficSelectorsAsConfiguredAndNarrowed)
{
	cfg.tsr[0] = ts4("10.1.0.0", "10.3.255.255");
	cfg.n_tsr = 1;
	gw.gw_ts = {ts4("10.1.0.0", "10.1.255.255"), ts4("10.2.0.0", "10.2.0.255", 6, 443, 443)};
	ASSERT_TRUE(connect()) << reason;
	// The request carried the profile's TSr and "any" as TSi.
	ike_payload v = view(*gw.requests[1].find(IKE_PT_TSR));
	ike_ts_list l;
	ASSERT_EQ(ike_parse_ts(&v, &l), 0);
	ASSERT_EQ(l.n, 1u);
	EXPECT_TRUE(ts_equal(l.ts[0], cfg.tsr[0]));
	v = view(*gw.requests[1].find(IKE_PT_TSI));
	ASSERT_EQ(ike_parse_ts(&v, &l), 0);
	ASSERT_EQ(l.n, 1u);
	EXPECT_TRUE(ts_equal(l.ts[0], ts4("0.0.0.0", "255.255.255.255")));
	// child_up reports the narrowed ones.
	ASSERT_EQ(ups.size(), 1u);
	ASSERT_EQ(ups[0].info.n_tsr, 2u);
	EXPECT_TRUE(ts_equal(ups[0].info.tsr[0], gw.gw_ts[0]));
	EXPECT_TRUE(ts_equal(ups[0].info.tsr[1], gw.gw_ts[1]));
	ASSERT_EQ(ups[0].info.n_tsi, 1u);
	EXPECT_TRUE(ts_equal(ups[0].info.tsi[0], ts4("10.99.0.7", "10.99.0.7")));
}

TEST_F(HappyPath, Ipv6Configuration)
{
	cfg.want_ipv6 = true;
	uint8_t ip6[17], dns6[16];
	inet_pton(AF_INET6, "fd00:99::7", ip6);
	ip6[16] = 64;
	inet_pton(AF_INET6, "fd00:99::1", dns6);
	gw.edit = [&](const Msg &req, ike_header &, Pls &pls) {
		if (req.hdr.exchange != IKE_EXCH_IKE_AUTH || !find_pl(pls, IKE_PT_CP))
			return;
		replace_pl(pls, pl_cp(IKE_CFG_REPLY, {{IKE_CP_INTERNAL_IP4_ADDRESS, {10, 99, 0, 7}},
						      {IKE_CP_INTERNAL_IP6_ADDRESS, Bytes(ip6, ip6 + 17)},
						      {IKE_CP_INTERNAL_IP6_DNS, Bytes(dns6, dns6 + 16)}}));
	};
	ASSERT_TRUE(connect()) << reason;
	// The request asked for IPv6 too, with "any" selectors of both families.
	ike_payload v = view(*gw.requests[1].find(IKE_PT_CP));
	ike_cp cp;
	ASSERT_EQ(ike_parse_cp(&v, &cp), 0);
	bool asks6 = false;
	for (unsigned i = 0; i < cp.n; i++)
		asks6 |= cp.a[i].type == IKE_CP_INTERNAL_IP6_ADDRESS;
	EXPECT_TRUE(asks6);
	v = view(*gw.requests[1].find(IKE_PT_TSI));
	ike_ts_list l;
	ASSERT_EQ(ike_parse_ts(&v, &l), 0);
	ASSERT_EQ(l.n, 2u);
	EXPECT_EQ(l.ts[1].type, IKE_TS_IPV6_ADDR_RANGE);
	// The reply.
	EXPECT_TRUE(info.have_ip4);
	EXPECT_EQ(info.ip4_prefix, 32) << "no netmask: a host address";
	ASSERT_TRUE(info.have_ip6);
	EXPECT_EQ(memcmp(info.ip6, ip6, 16), 0);
	EXPECT_EQ(info.ip6_prefix, 64);
	ASSERT_EQ(info.n_dns6, 1u);
	EXPECT_EQ(memcmp(info.dns6[0], dns6, 16), 0);
	EXPECT_EQ(info.n_domains, 0u);
}

TEST_F(HappyPath, InvalidDnsDomainIsIgnored)
{
	gw.domain = "corp.example;rm -rf";
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(info.n_domains, 0u);
	EXPECT_TRUE(logged("INTERNAL_DNS_DOMAIN with an invalid name ignored"));
	EXPECT_TRUE(info.have_ip4);
}

TEST_F(HappyPath, NetmaskWithHolesIsNotAPrefix)
{
	gw.netmask[2] = 0x0f;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(info.ip4_prefix, 32);
}

// ---- certificates -------------------------------------------------------------------

struct SigCase {
	const char *cert, *key, *id;
	bool announce;         // the gateway sends SIGNATURE_HASH_ALGORITHMS
	uint8_t method;        // what the engine must use
	const char *alg;       // with method 14
};

std::ostream &operator<<(std::ostream &o, const SigCase &c) { return o << c.key; }

class Certificates : public HappyPath, public ::testing::WithParamInterface<SigCase> {};

TEST_P(Certificates, SignsAsTheGatewayAnnouncedAndVerifiesIt)
{
	const SigCase &c = GetParam();
	use_pubkey(c.cert, c.key, c.id);
	if (c.announce)
		gw.hash_algs.push_back(IKE_HASH_IDENTITY); // RFC 8420, for Ed25519
	if (!c.announce) {
		gw.hash_algs.clear();
		gw.classic_sig = true;
	}
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	EXPECT_EQ(gw.init_auth_method, c.method);
	EXPECT_EQ(gw.init_auth_alg, c.alg);
	// Our certificate went out, and a CERTREQ for the configured CA is absent
	// (no ca_certs given).
	const Msg &a = gw.requests[1];
	EXPECT_NE(a.find(IKE_PT_CERT), nullptr);
	EXPECT_EQ(a.find(IKE_PT_CERTREQ), nullptr);
}

INSTANTIATE_TEST_SUITE_P(
	Keys, Certificates,
	::testing::Values(
		SigCase{"client-rsa.pem", "client-rsa.key", "alice@vpnctl.test", true,
			IKE_AUTH_DIGITAL_SIG, "rsa-sha256"},
		SigCase{"client-rsa.pem", "client-rsa.key", "alice@vpnctl.test", false,
			IKE_AUTH_RSA_SIG, ""},
		SigCase{"server-ecdsa.pem", "server-ecdsa.key", "vpn.vpnctl.test", true,
			IKE_AUTH_DIGITAL_SIG, "ecdsa-sha256"},
		SigCase{"server-ecdsa.pem", "server-ecdsa.key", "vpn.vpnctl.test", false,
			IKE_AUTH_ECDSA_SHA256_P256, ""},
		SigCase{"leaf-p384.pem", "leaf-p384.key", "p384.vpnctl.test", true,
			IKE_AUTH_DIGITAL_SIG, "ecdsa-sha384"},
		SigCase{"leaf-p384.pem", "leaf-p384.key", "p384.vpnctl.test", false,
			IKE_AUTH_ECDSA_SHA384_P384, ""},
		SigCase{"ed25519.pem", "ed25519.key", "ed.vpnctl.test", true,
			IKE_AUTH_DIGITAL_SIG, "ed25519"}),
	[](const ::testing::TestParamInfo<SigCase> &i) {
		std::string n = std::string(i.param.key).substr(0, std::string(i.param.key).find('.'));
		for (auto &ch : n)
			if (ch == '-')
				ch = '_';
		return n + (i.param.announce ? "_rfc7427" : "_classic");
	});

// RFC 7427 4: the signature's hash is one the gateway announced.
struct HashCase {
	const char *name, *cert, *key, *id;
	std::vector<uint16_t> announced;
	uint8_t method;
	const char *alg;
};

std::ostream &operator<<(std::ostream &o, const HashCase &c) { return o << c.name; }

class HashChoice : public HappyPath, public ::testing::WithParamInterface<HashCase> {};

TEST_P(HashChoice, UsesAnAnnouncedHash)
{
	const HashCase &c = GetParam();
	use_pubkey(c.cert, c.key, c.id);
	gw.hash_algs = c.announced;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(gw.init_auth_method, c.method);
	EXPECT_EQ(gw.init_auth_alg, c.alg);
	EXPECT_TRUE(gw.init_auth_ok);
}

INSTANTIATE_TEST_SUITE_P(
	Announced, HashChoice,
	::testing::Values(
		HashCase{"rsa_sha384_only", "client-rsa.pem", "client-rsa.key", "alice@vpnctl.test",
			 {IKE_HASH_SHA2_384}, IKE_AUTH_DIGITAL_SIG, "rsa-sha384"},
		HashCase{"rsa_sha512_only", "client-rsa.pem", "client-rsa.key", "alice@vpnctl.test",
			 {IKE_HASH_SHA2_512}, IKE_AUTH_DIGITAL_SIG, "rsa-sha512"},
		HashCase{"rsa_sha1_only", "client-rsa.pem", "client-rsa.key", "alice@vpnctl.test",
			 {IKE_HASH_SHA1}, IKE_AUTH_RSA_SIG, ""},
		HashCase{"p256_sha512_only", "server-ecdsa.pem", "server-ecdsa.key", "vpn.vpnctl.test",
			 {IKE_HASH_SHA2_512}, IKE_AUTH_DIGITAL_SIG, "ecdsa-sha512"},
		HashCase{"p384_sha256_only", "leaf-p384.pem", "leaf-p384.key", "p384.vpnctl.test",
			 {IKE_HASH_SHA2_256}, IKE_AUTH_DIGITAL_SIG, "ecdsa-sha256"},
		HashCase{"p384_all", "leaf-p384.pem", "leaf-p384.key", "p384.vpnctl.test",
			 {IKE_HASH_SHA2_256, IKE_HASH_SHA2_384, IKE_HASH_SHA2_512}, IKE_AUTH_DIGITAL_SIG,
			 "ecdsa-sha384"}),
	[](const ::testing::TestParamInfo<HashCase> &i) { return std::string(i.param.name); });

TEST_F(HappyPath, CertificateRequestNamesTheConfiguredCa)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	const crypto_cert *ca_cert = load_cert("ca.pem");
	cfg.ca_certs = &ca_cert;
	cfg.n_ca_certs = 1;
	ASSERT_TRUE(connect()) << reason;
	const Pl *cr = gw.requests[1].find(IKE_PT_CERTREQ);
	ASSERT_NE(cr, nullptr);
	uint8_t h[20];
	ASSERT_EQ(crypto_cert_spki_sha1(ca_cert, h), 0);
	ASSERT_EQ(cr->body.size(), 21u);
	EXPECT_EQ(cr->body[0], IKE_CERT_X509_SIG);
	EXPECT_EQ(memcmp(cr->body.data() + 1, h, 20), 0);
}

// Ed25519 exists only as an RFC 7427 signature: without the announcement
// the engine cannot sign and says so.
TEST_F(HappyPath, Ed25519WithoutHashAnnouncementFailsLocally)
{
	use_pubkey("ed25519.pem", "ed25519.key", "ed.vpnctl.test");
	gw.hash_algs.clear();
	start();
	run_until([&] { return closed_calls > 0; }, 2000);
	EXPECT_TRUE(closed_with(IKE_FAIL_LOCAL, "cannot build IKE_AUTH"));
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH).empty());
}

// A gateway certificate under an intermediate CA it sends along.
TEST_F(HappyPath, GatewayChainThroughAnIntermediate)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.cert = load_cert("leaf-p384.pem");
	gw.key = load_key("leaf-p384.key");
	gw.chain = {load_cert("inter.pem")};
	gw.id = identity("p384.vpnctl.test");
	cfg.remote_id = identity("p384.vpnctl.test");
	ASSERT_TRUE(connect()) << reason;
	EXPECT_STREQ(info.remote_id, "p384.vpnctl.test");
	ASSERT_EQ(ups.size(), 1u);
	ASSERT_EQ(gw.children.size(), 1u);
	expect_child_matches(ups[0], gw.children[0]);
}

// A gateway identified by its IP address (iPAddress SAN).
TEST_F(HappyPath, GatewayIdentifiedByAddress)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.id = identity("192.0.2.1");
	cfg.remote_id = identity("192.0.2.1");
	ASSERT_TRUE(connect()) << reason;
	EXPECT_STREQ(info.remote_id, "192.0.2.1");
}

// No remote_id configured: the certificate must still match the IDr sent.
TEST_F(HappyPath, NoRemoteIdConfiguredTakesTheCertifiedIdentity)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	cfg.remote_id = ike_identity{};
	cfg.send_idr = true; // asked for, but there is nothing to send
	gw.id = identity("vpn.vpnctl.test");
	ASSERT_TRUE(connect()) << reason;
	EXPECT_STREQ(info.remote_id, "vpn.vpnctl.test");
	EXPECT_EQ(gw.requests[1].find(IKE_PT_IDR), nullptr) << "no IDr without a remote_id";
}

// ---- EAP-MSCHAPv2 ------------------------------------------------------------------------

TEST_F(HappyPath, EapMschapv2)
{
	use_eap();
	ASSERT_TRUE(connect()) << reason;
	expect_common_established();
	// start, Identity, Response, Success ack, final AUTH
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	EXPECT_EQ(auths.size(), 5u);
	for (size_t i = 0; i < auths.size(); i++)
		EXPECT_EQ(header_of(auths[i].d).msgid, i + 1);
	EXPECT_EQ(gw.requests[1].find(IKE_PT_AUTH), nullptr) << "no AUTH before EAP";
	EXPECT_EQ(gw.init_auth_method, IKE_AUTH_PSK) << "the final AUTH is keyed with the MSK";
	ASSERT_GE(progress.size(), 4u);
	EXPECT_EQ(progress[0], IKE_PROGRESS_SA_INIT);
	EXPECT_EQ(progress[1], IKE_PROGRESS_AUTH);
	EXPECT_EQ(progress[2], IKE_PROGRESS_EAP);
	EXPECT_EQ(progress.back(), IKE_PROGRESS_ESTABLISHED);
}

// The gateway proposes another EAP method first: the engine answers Nak
// naming MSCHAPv2, and the gateway follows.
TEST_F(HappyPath, EapNakForAnotherMethod)
{
	use_eap();
	bool proposed = false;
	gw.edit = [&](const Msg &req, ike_header &, Pls &pls) {
		Pl *e = find_pl(pls, IKE_PT_EAP);
		if (!proposed && e && e->body[0] == EAP_REQUEST && e->body[4] == EAP_T_MSCHAPV2 &&
		    e->body[5] == MSCHAP_CHALLENGE) {
			proposed = true;
			// EAP-MD5 (4) Request instead; the real Challenge follows after the Nak.
			*e = pl_eap(eap_msg(EAP_REQUEST, e->body[1], {4, 16, 1, 2, 3, 4, 5, 6, 7, 8,
								      9, 10, 11, 12, 13, 14, 15, 16}));
		}
	};
	ASSERT_TRUE(connect()) << reason;
	EXPECT_TRUE(proposed);
	EXPECT_EQ(gw.eap_naks, 1u);
	// The engine's answer to the MD5 request: a Nak asking for 26.
	ASSERT_GE(gw.requests.size(), 4u);
	const Pl *nak = gw.requests[3].find(IKE_PT_EAP);
	ASSERT_NE(nak, nullptr);
	ASSERT_EQ(nak->body.size(), 6u);
	EXPECT_EQ(nak->body[0], EAP_RESPONSE);
	EXPECT_EQ(nak->body[4], 3);
	EXPECT_EQ(nak->body[5], EAP_T_MSCHAPV2);
	expect_common_established();
}

} // namespace
