// IKE_SA_INIT corner cases against the scripted responder: COOKIE,
// INVALID_KE_PAYLOAD, refused and forged choices, bad key exchange values,
// responses that are not ours, NAT detection and the announcements.
#include "ike_responder.h"

namespace {

using namespace iketest;

class SaInit : public IkeSaTest {
protected:
	Bytes take()
	{
		EXPECT_FALSE(outbox.empty());
		if (outbox.empty())
			return {};
		Bytes d = outbox.front().d;
		outbox.pop_front();
		return d;
	}
	// The IKE_SA_INIT request's KE and Nonce.
	static Bytes ke_of(const Msg &m) { return m.find(IKE_PT_KE)->body; }
	static Bytes nonce_of(const Msg &m) { return m.find(IKE_PT_NONCE)->body; }
	static uint16_t ke_group_of(const Msg &m) { return get_be16(m.find(IKE_PT_KE)->body.data()); }
	bool wait_closed(uint64_t ms = 2000)
	{
		return run_until([&] { return closed_calls > 0; }, ms);
	}
};

TEST_F(SaInit, RequestCarriesWhatWeOffer)
{
	ASSERT_TRUE(connect()) << reason;
	const Msg &r = gw.requests[0];
	ASSERT_EQ(r.types()[0], IKE_PT_SA);
	ike_payload v = view(*r.find(IKE_PT_SA));
	ike_sa_payload sap;
	ASSERT_EQ(ike_parse_sa(&v, &sap), 0);
	ASSERT_EQ(sap.n, cfg.n_ike);
	char a[256], b[256];
	ASSERT_EQ(ike_proposals_format(sap.p, sap.n, a, sizeof(a)), 0);
	ASSERT_EQ(ike_proposals_format(cfg.ike, cfg.n_ike, b, sizeof(b)), 0);
	EXPECT_STREQ(a, b);
	EXPECT_EQ(ke_group_of(r), IKE_DH_CURVE25519) << "the first group of the first proposal";
	EXPECT_EQ(nonce_of(r).size(), 32u);
	EXPECT_TRUE(r.has_notify(IKE_N_NAT_DETECTION_SOURCE_IP));
	EXPECT_TRUE(r.has_notify(IKE_N_NAT_DETECTION_DESTINATION_IP));
	EXPECT_TRUE(r.has_notify(IKE_N_IKEV2_FRAGMENTATION_SUPPORTED));
	const Pl *h = r.notify(IKE_N_SIGNATURE_HASH_ALGORITHMS);
	ASSERT_NE(h, nullptr);
	EXPECT_EQ(hex(notify_data(*h)), "000200030004");
	EXPECT_EQ(r.hdr.spi_i, ike_sa_spi_i(sa));
	EXPECT_EQ(r.hdr.flags, IKE_HDR_FLAG_INITIATOR);
}

TEST_F(SaInit, ConfiguredFirstGroup)
{
	cfg.ke_group = IKE_DH_ECP256;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(ke_group_of(gw.requests[0]), IKE_DH_ECP256);
	EXPECT_EQ(gw.ike_chosen.x[IKE_XFORM_DH][0].id, IKE_DH_ECP256);
	EXPECT_TRUE(ke_groups.empty());
}

TEST_F(SaInit, NoFragmentationAnnouncedWhenOff)
{
	cfg.fragmentation = false;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_FALSE(gw.requests[0].has_notify(IKE_N_IKEV2_FRAGMENTATION_SUPPORTED));
	EXPECT_FALSE(info.fragmentation);
}

TEST_F(SaInit, GatewayWithoutFragmentation)
{
	gw.announce_frag = false;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_FALSE(info.fragmentation);
}

// ---- COOKIE (RFC 7296 2.6) ----------------------------------------------------------

TEST_F(SaInit, CookieRetriesWithTheSameNonceAndKe)
{
	gw.cookie = true;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(gw.cookie_sent, 1u);
	ASSERT_GE(gw.requests.size(), 2u);
	const Msg &first = gw.requests[0], &second = gw.requests[1];
	EXPECT_FALSE(first.has_notify(IKE_N_COOKIE));
	ASSERT_TRUE(second.has_notify(IKE_N_COOKIE));
	EXPECT_EQ(notify_type(second.pls[0]), IKE_N_COOKIE) << "COOKIE goes first";
	EXPECT_EQ(notify_data(second.pls[0]), gw.cookie_value);
	EXPECT_EQ(hex(nonce_of(first)), hex(nonce_of(second)));
	EXPECT_EQ(hex(ke_of(first)), hex(ke_of(second)));
	EXPECT_EQ(first.hdr.spi_i, second.hdr.spi_i);
	// Apart from the COOKIE the request is the same.
	Pls rest(second.pls.begin() + 1, second.pls.end());
	ASSERT_EQ(rest.size(), first.pls.size());
	for (size_t i = 0; i < rest.size(); i++) {
		if (notify_type(rest[i]) == IKE_N_NAT_DETECTION_SOURCE_IP)
			continue; // random with force_encap
		EXPECT_EQ(hex(rest[i].body), hex(first.pls[i].body)) << i;
	}
	EXPECT_EQ(progress[0], IKE_PROGRESS_SA_INIT);
}

TEST_F(SaInit, CookieForeverIsBounded)
{
	gw.cookie = true;
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		if (find_notify(pls, IKE_N_COOKIE))
			gw.cookie_value = Responder::random_bytes(16); // never satisfied
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "keeps asking for a COOKIE"));
	EXPECT_EQ(gw.cookie_sent, 4u) << "three retries, then give up";
}

// ---- INVALID_KE_PAYLOAD -------------------------------------------------------------------

TEST_F(SaInit, InvalidKeRetriesWithTheRequestedGroup)
{
	gw.want_group = IKE_DH_ECP256;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(gw.invalid_ke_sent, 1u);
	ASSERT_EQ(ke_groups.size(), 1u);
	EXPECT_EQ(ke_groups[0], IKE_DH_ECP256);
	ASSERT_GE(gw.requests.size(), 2u);
	EXPECT_EQ(ke_group_of(gw.requests[0]), IKE_DH_CURVE25519);
	EXPECT_EQ(ke_group_of(gw.requests[1]), IKE_DH_ECP256);
	EXPECT_EQ(ke_of(gw.requests[1]).size(), 4u + 64) << "ECP-256 x || y";
	EXPECT_EQ(gw.ike_chosen.x[IKE_XFORM_DH][0].id, IKE_DH_ECP256);
	EXPECT_EQ(gw.requests[0].hdr.spi_i, gw.requests[1].hdr.spi_i);
}

TEST_F(SaInit, InvalidKeForAGroupWeDoNotOfferFails)
{
	gw.want_group = IKE_DH_ECP384;
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_NO_PROPOSAL, "group 20"));
	EXPECT_TRUE(ke_groups.empty());
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_SA_INIT).size(), 1u);
}

TEST_F(SaInit, InvalidKeNamingOurOwnGroupFails)
{
	gw.edit = [&](const Msg &, ike_header &h, Pls &pls) {
		Bytes g(2);
		put_be16(g.data(), IKE_DH_CURVE25519);
		h.spi_r = 0;
		pls = {pl_notify(IKE_N_INVALID_KE_PAYLOAD, g)};
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "asks for that same group"));
	EXPECT_TRUE(ke_groups.empty());
}

TEST_F(SaInit, InvalidKePingPongIsBounded)
{
	// 19, then 14, then 19 again: two retries are allowed.
	std::vector<uint16_t> asks = {IKE_DH_ECP256, IKE_DH_MODP2048, IKE_DH_ECP256};
	size_t n = 0;
	gw.edit = [&](const Msg &, ike_header &h, Pls &pls) {
		if (n < asks.size()) {
			Bytes g(2);
			put_be16(g.data(), asks[n++]);
			h.spi_r = 0;
			pls = {pl_notify(IKE_N_INVALID_KE_PAYLOAD, g)};
		}
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "keeps refusing our key exchange group"));
	EXPECT_EQ(ke_groups, (std::vector<uint16_t>{IKE_DH_ECP256, IKE_DH_MODP2048}));
}

// ---- refusals and forged choices --------------------------------------------------------------

TEST_F(SaInit, NoProposalChosen)
{
	gw.ike_accept = proposals("aes192-sha384-prfsha384-modp3072", IKE_PROTO_IKE);
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_NO_PROPOSAL, "accepts none of our IKE proposals"));
	EXPECT_FALSE(established);
	EXPECT_TRUE(ups.empty());
}

TEST_F(SaInit, ChosenProposalWeDidNotOffer)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		auto p = proposals("aes192-sha384-prfsha384-curve25519", IKE_PROTO_IKE);
		replace_pl(pls, pl_sa(p.data(), 1));
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_NO_PROPOSAL, "did not offer"));
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH).empty());
}

TEST_F(SaInit, ChosenProposalWithTwoCiphers)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		auto p = proposals("aes256gcm16-aes128gcm16-prfsha256-curve25519", IKE_PROTO_IKE);
		replace_pl(pls, pl_sa(p.data(), 1));
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_NO_PROPOSAL, "did not offer"));
}

TEST_F(SaInit, TwoProposalsInTheAnswer)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		replace_pl(pls, pl_sa(cfg.ike, 2));
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_EQ(why, IKE_FAIL_NO_PROPOSAL) << reason;
}

TEST_F(SaInit, OtherErrorNotify)
{
	gw.edit = [&](const Msg &, ike_header &h, Pls &pls) {
		h.spi_r = 0;
		pls = {pl_notify(IKE_N_INVALID_SYNTAX)};
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "INVALID_SYNTAX"));
}

// The KE is of another group than the one chosen (and than ours).
TEST_F(SaInit, KeOfAnotherGroup)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		crypto_dh *dh = nullptr;
		ASSERT_EQ(crypto_dh_new(IKE_DH_ECP256, &dh), 0);
		Bytes v(64);
		crypto_dh_public(dh, v.data(), v.size());
		crypto_dh_free(dh);
		replace_pl(pls, pl_ke(IKE_DH_ECP256, v));
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "key exchange"));
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH).empty());
}

// The gateway picks another of our groups but sends no INVALID_KE first.
TEST_F(SaInit, ChosenGroupDiffersFromOurKe)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		ike_payload v = view(*find_pl(pls, IKE_PT_SA));
		ike_sa_payload sap;
		ASSERT_EQ(ike_parse_sa(&v, &sap), 0);
		sap.p[0].x[IKE_XFORM_DH][0].id = IKE_DH_ECP256;
		replace_pl(pls, pl_sa(sap.p, 1));
		crypto_dh *dh = nullptr;
		ASSERT_EQ(crypto_dh_new(IKE_DH_ECP256, &dh), 0);
		Bytes k(64);
		crypto_dh_public(dh, k.data(), k.size());
		crypto_dh_free(dh);
		replace_pl(pls, pl_ke(IKE_DH_ECP256, k));
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "key exchange"));
}

struct BadKe {
	const char *name;
	const char *ike;
	uint16_t group;
	Bytes value;
};

std::ostream &operator<<(std::ostream &o, const BadKe &k) { return o << k.name; }

class BadKeValue : public SaInit, public ::testing::WithParamInterface<BadKe> {};

TEST_P(BadKeValue, IsRefused)
{
	const BadKe &k = GetParam();
	set_ike(k.ike);
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) { replace_pl(pls, pl_ke(k.group, k.value)); };
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "key exchange value is invalid"));
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH).empty());
}

Bytes modp_small(uint8_t last)
{
	Bytes v(256, 0);
	v.back() = last;
	return v;
}
Bytes modp_p_minus_1()
{
	// RFC 3526 group 14 prime minus one (data: the prime from RFC 3526 section 3).
	static const char *p =
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
		"EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
		"83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
		"15728E5A8AACAA68FFFFFFFFFFFFFFFF";
	Bytes v;
	for (size_t i = 0; p[i]; i += 2) {
		unsigned b;
		sscanf(p + i, "%2x", &b);
		v.push_back(uint8_t(b));
	}
	v.back() -= 1;
	return v;
}
Bytes ecp_off_curve()
{
	Bytes v(64, 0);
	v[31] = 1; // (1, 1) is not on P-256
	v[63] = 1;
	return v;
}

INSTANTIATE_TEST_SUITE_P(
	Values, BadKeValue,
	::testing::Values(BadKe{"modp_one", "aes128gcm16-prfsha256-modp2048", IKE_DH_MODP2048, modp_small(1)},
			  BadKe{"modp_zero", "aes128gcm16-prfsha256-modp2048", IKE_DH_MODP2048, modp_small(0)},
			  BadKe{"modp_p_minus_1", "aes128gcm16-prfsha256-modp2048", IKE_DH_MODP2048, modp_p_minus_1()},
			  BadKe{"modp_short", "aes128gcm16-prfsha256-modp2048", IKE_DH_MODP2048, Bytes(255, 7)},
			  BadKe{"ecp_off_curve", "aes128gcm16-prfsha256-ecp256", IKE_DH_ECP256, ecp_off_curve()},
			  BadKe{"ecp_short", "aes128gcm16-prfsha256-ecp256", IKE_DH_ECP256, Bytes(63, 1)},
			  BadKe{"x25519_zero", "aes128gcm16-prfsha256-curve25519", IKE_DH_CURVE25519, Bytes(32, 0)}),
	[](const ::testing::TestParamInfo<BadKe> &i) { return std::string(i.param.name); });

// A notify the codec cannot parse must not stand in for SA, KE and Nonce:
// the table exempts answers with an error notify or a COOKIE from the
// required payloads, by the notify's type alone.
TEST_F(SaInit, UnparsableCookieWithoutNonce)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		remove_pl(pls, IKE_PT_NONCE);
		Bytes body = {0, 0, 0, 0};
		put_be16(body.data() + 2, IKE_N_COOKIE);
		body.resize(4 + 65, 0x33); // one octet beyond RFC 7296 2.6
		pls.push_back(Pl{IKE_PT_NOTIFY, body});
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "refused"));
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH).empty());
}

TEST_F(SaInit, UnparsableErrorNotifyWithoutKe)
{
	gw.edit = [&](const Msg &, ike_header &, Pls &pls) {
		remove_pl(pls, IKE_PT_KE);
		Bytes body = {0, 3, 0, 0, 1, 2, 3}; // SPI size 3 is no SPI size
		put_be16(body.data() + 2, IKE_N_INVALID_SYNTAX);
		pls.push_back(Pl{IKE_PT_NOTIFY, body});
	};
	start();
	ASSERT_TRUE(wait_closed());
	EXPECT_EQ(why, IKE_FAIL_PROTOCOL) << reason;
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH).empty());
}

// ---- answers that are not ours -------------------------------------------------------------------

// Feed a doctored answer by hand, check nothing moved, then the real one.
class NotOurs : public SaInit {
protected:
	void doctor_then_real(const std::function<void(Bytes &)> &doctor, const char *log_needle)
	{
		auto_reply = false;
		start();
		Bytes req = take();
		auto resp = gw.handle(req);
		ASSERT_EQ(resp.size(), 1u);
		Bytes bad = resp[0];
		doctor(bad);
		size_t before = sent.size();
		deliver(bad);
		EXPECT_EQ(ike_sa_state(sa), IKE_STATE_INIT_SENT);
		EXPECT_EQ(sent.size(), before) << "nothing sent on a doctored answer";
		EXPECT_EQ(closed_calls, 0);
		if (log_needle) {
			EXPECT_TRUE(logged(log_needle)) << log_needle;
		}
		// It is still waiting and retransmits.
		run_until([&] { return sent.size() > before; }, 500);
		EXPECT_EQ(sent.size(), before + 1);
		outbox.clear();
		deliver(resp[0]);
		auto_reply = true;
		EXPECT_TRUE(run_until([&] { return established || closed_calls; }, 2000)) << reason;
		EXPECT_TRUE(established);
	}
};

TEST_F(NotOurs, ResponseWithoutResponderSpi)
{
	doctor_then_real([](Bytes &b) { memset(b.data() + IKE_HDR_OFF_SPI_R, 0, 8); },
			 "without a responder SPI");
}

TEST_F(NotOurs, ResponseToAnotherSpi)
{
	doctor_then_real([](Bytes &b) { b[IKE_HDR_OFF_SPI_I + 3] ^= 0x40; }, "another IKE SA");
}

TEST_F(NotOurs, ResponseWithAnotherMessageId)
{
	doctor_then_real([](Bytes &b) { b[IKE_HDR_OFF_MSGID + 3] = 1; }, "unexpected");
}

TEST_F(NotOurs, RequestInsteadOfResponse)
{
	doctor_then_real([](Bytes &b) { b[IKE_HDR_OFF_FLAGS] = 0; }, nullptr);
}

TEST_F(NotOurs, ResponseClaimingToBeTheInitiator)
{
	// A reflected copy of our own request must not be taken for an answer.
	auto_reply = false;
	start();
	Bytes req = take();
	deliver(req);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_INIT_SENT);
	EXPECT_EQ(sent.size(), 1u);
	EXPECT_EQ(closed_calls, 0);
	outbox.clear();
}

// ---- NAT detection (RFC 7296 2.23) -------------------------------------------------------------

TEST_F(SaInit, NoNatSeenWithoutForcedEncapsulation)
{
	cfg.force_encap = false;
	cfg.mobike = false;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_FALSE(info.nat_local);
	EXPECT_FALSE(info.nat_remote);
	EXPECT_FALSE(gw.initiator_nat_detected) << "NATD_SOURCE hashes our real address";
	EXPECT_FALSE(gw.responder_nat_detected);
	// Nothing asks for port 4500.
	for (auto &s : sent)
		EXPECT_FALSE(s.natt);
}

TEST_F(SaInit, NatInFrontOfUs)
{
	cfg.force_encap = false;
	cfg.mobike = false;
	gw.client_seen = sin4("198.51.100.7", 4321);
	ASSERT_TRUE(connect()) << reason;
	EXPECT_TRUE(info.nat_local);
	EXPECT_FALSE(info.nat_remote);
	EXPECT_TRUE(gw.initiator_nat_detected);
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_FALSE(auths.empty());
	EXPECT_TRUE(auths[0].natt) << "IKE_AUTH moves to port 4500 behind a NAT";
}

TEST_F(SaInit, NatInFrontOfTheGateway)
{
	cfg.force_encap = false;
	cfg.mobike = false;
	gw.gw_addr = sin4("10.0.0.1", 500);
	ASSERT_TRUE(connect()) << reason;
	EXPECT_FALSE(info.nat_local);
	EXPECT_TRUE(info.nat_remote);
	EXPECT_TRUE(gw.responder_nat_detected);
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH)[0].natt);
}

TEST_F(SaInit, PortChangeIsANat)
{
	cfg.force_encap = false;
	cfg.mobike = false;
	gw.client_seen = sin4("192.168.1.10", 1500);
	ASSERT_TRUE(connect()) << reason;
	EXPECT_TRUE(info.nat_local);
}

TEST_F(SaInit, ForcedEncapsulationFakesTheSourceHash)
{
	cfg.force_encap = true;
	cfg.mobike = false;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_TRUE(gw.initiator_nat_detected);
	EXPECT_FALSE(info.nat_local) << "our own view stays honest";
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH)[0].natt);
}

TEST_F(SaInit, MobikeAloneMovesToPort4500)
{
	cfg.force_encap = false;
	cfg.mobike = true;
	ASSERT_TRUE(connect()) << reason;
	EXPECT_FALSE(gw.initiator_nat_detected);
	EXPECT_TRUE(sent_of(IKE_EXCH_IKE_AUTH)[0].natt);
}

TEST_F(SaInit, GatewayWithoutNatDetection)
{
	cfg.force_encap = false;
	cfg.mobike = false;
	gw.edit = [&](const Msg &req, ike_header &, Pls &pls) {
		if (req.hdr.exchange == IKE_EXCH_IKE_SA_INIT) {
			remove_notify(pls, IKE_N_NAT_DETECTION_SOURCE_IP);
			remove_notify(pls, IKE_N_NAT_DETECTION_DESTINATION_IP);
		}
	};
	ASSERT_TRUE(connect()) << reason;
	EXPECT_FALSE(info.nat_local);
	EXPECT_FALSE(info.nat_remote);
	EXPECT_FALSE(sent_of(IKE_EXCH_IKE_AUTH)[0].natt);
}

} // namespace
