// IKE_AUTH failures against the scripted responder: each must end in one
// closed() call with the right enum ike_fail and a reason a user can act
// on, with no Child SA and nothing sent afterwards.
#include "ike_responder.h"

namespace {

using namespace iketest;

class AuthFail : public IkeSaTest {
protected:
	// Connect, expect the failure, then check that nothing else happens.
	void expect_failure(ike_fail w, const std::string &needle)
	{
		start();
		ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000)) << "never closed";
		EXPECT_TRUE(closed_with(w, needle));
		EXPECT_FALSE(established);
		EXPECT_TRUE(ups.empty()) << "no Child SA on a failed IKE_AUTH";
		EXPECT_TRUE(downs.empty());
		size_t n = sent.size();
		run_for(300);
		EXPECT_EQ(sent.size(), n) << "nothing is sent after closed()";
		EXPECT_EQ(closed_calls, 1);
	}
	// Edit the IKE_AUTH response that would complete the exchange.
	void edit_final(const std::function<void(Pls &)> &f)
	{
		gw.edit = [f](const Msg &req, ike_header &, Pls &pls) {
			if (req.hdr.exchange == IKE_EXCH_IKE_AUTH && find_pl(pls, IKE_PT_AUTH) &&
			    !find_pl(pls, IKE_PT_EAP))
				f(pls);
		};
	}
	void edit_first_auth(const std::function<void(Pls &)> &f)
	{
		gw.edit = [f](const Msg &req, ike_header &, Pls &pls) {
			if (req.hdr.exchange == IKE_EXCH_IKE_AUTH && req.hdr.msgid == 1)
				f(pls);
		};
	}
	static void child_error(Pls &pls, uint16_t n)
	{
		remove_pl(pls, IKE_PT_SA);
		remove_pl(pls, IKE_PT_TSI);
		remove_pl(pls, IKE_PT_TSR);
		pls.push_back(pl_notify(n));
	}
};

// ---- our authentication refused ---------------------------------------------------------

TEST_F(AuthFail, GatewayRefusesOurPsk)
{
	gw.psk = bytes("the gateway has another key");
	expect_failure(IKE_FAIL_AUTH_REFUSED, "refused our pre-shared key");
	EXPECT_FALSE(gw.init_auth_ok);
	EXPECT_EQ(gw.init_auth_method, IKE_AUTH_PSK);
}

TEST_F(AuthFail, GatewayRefusesOurCertificate)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	edit_first_auth([](Pls &pls) { pls = {pl_notify(IKE_N_AUTHENTICATION_FAILED)}; });
	expect_failure(IKE_FAIL_AUTH_REFUSED, "refused our certificate");
	EXPECT_TRUE(gw.init_auth_ok) << "the signature itself was fine";
}

TEST_F(AuthFail, GatewayRefusesOurEapAuth)
{
	use_eap();
	edit_final([](Pls &pls) { pls = {pl_notify(IKE_N_AUTHENTICATION_FAILED)}; });
	expect_failure(IKE_FAIL_AUTH_REFUSED, "refused our EAP authentication");
}

// ---- the gateway's authentication ----------------------------------------------------------

TEST_F(AuthFail, WrongGatewayPskAuth)
{
	gw.peer_psk_override = bytes("not the shared key");
	expect_failure(IKE_FAIL_PEER_AUTH, "does not verify (wrong pre-shared key?)");
	EXPECT_TRUE(gw.init_auth_ok);
}

TEST_F(AuthFail, GatewaySignatureDoesNotVerify)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	edit_first_auth([](Pls &pls) { find_pl(pls, IKE_PT_AUTH)->body.back() ^= 1; });
	expect_failure(IKE_FAIL_PEER_AUTH, "signature does not verify");
}

TEST_F(AuthFail, GatewaySignsWithAnotherKey)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.key = load_key("leaf-p384.key");
	expect_failure(IKE_FAIL_PEER_AUTH, "signature does not verify");
}

TEST_F(AuthFail, GatewayUsesASharedKeyWhereASignatureIsDue)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.peer_psk_override = bytes("some key");
	expect_failure(IKE_FAIL_PEER_AUTH, "signature does not verify");
}

TEST_F(AuthFail, GatewaySignsWhereASharedKeyIsDue)
{
	edit_first_auth([](Pls &pls) { find_pl(pls, IKE_PT_AUTH)->body[0] = IKE_AUTH_ECDSA_SHA256_P256; });
	expect_failure(IKE_FAIL_PEER_AUTH, "AUTH method 9 where a shared key was expected");
}

TEST_F(AuthFail, GatewayCertificateFromAnotherCa)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	cfg.ca = other_ca;
	expect_failure(IKE_FAIL_CERT_UNTRUSTED, "certificate not trusted");
	EXPECT_NE(reason.find("gw.vpnctl.test"), std::string::npos) << "names the subject: " << reason;
}

TEST_F(AuthFail, SelfSignedGatewayCertificate)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.cert = load_cert("other-ca.pem");
	gw.key = load_key("other-ca.key");
	cfg.remote_id = ike_identity{};
	expect_failure(IKE_FAIL_CERT_UNTRUSTED, "certificate not trusted");
}

TEST_F(AuthFail, GatewaySendsNoCertificate)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	edit_first_auth([](Pls &pls) { remove_pl(pls, IKE_PT_CERT); });
	expect_failure(IKE_FAIL_CERT_UNTRUSTED, "sent no certificate");
}

TEST_F(AuthFail, IntermediateMissing)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.cert = load_cert("leaf-p384.pem");
	gw.key = load_key("leaf-p384.key");
	gw.id = identity("p384.vpnctl.test");
	cfg.remote_id = identity("p384.vpnctl.test");
	expect_failure(IKE_FAIL_CERT_UNTRUSTED, "certificate not trusted");
}

TEST_F(AuthFail, IdrIsNotTheConfiguredRemoteId)
{
	gw.id = identity("vpn.vpnctl.test");
	expect_failure(IKE_FAIL_ID_MISMATCH, "identifies as 'vpn.vpnctl.test'");
	EXPECT_NE(reason.find("expects 'gw.vpnctl.test'"), std::string::npos) << reason;
	EXPECT_FALSE(gw.idr_received) << "no IDr by default";
}

// The point of not sending IDr: a profile with the wrong remote_id meets a
// gateway that would refuse a foreign IDr; without IDr it shows its own
// identity, and the user reads which one.
TEST_F(AuthFail, WrongRemoteIdReadsAsIdentityMismatch)
{
	gw.idr_selects = true;
	cfg.remote_id = identity("other.vpnctl.test");
	expect_failure(IKE_FAIL_ID_MISMATCH,
		       "the gateway identifies as 'gw.vpnctl.test', the profile expects 'other.vpnctl.test'");
	EXPECT_FALSE(gw.idr_received);
}

// With send_idr the same gateway refuses the IDr it does not host.
TEST_F(AuthFail, SendIdrOfAnIdentityTheGatewayDoesNotHost)
{
	cfg.send_idr = true;
	gw.idr_selects = true;
	cfg.remote_id = identity("other.vpnctl.test");
	expect_failure(IKE_FAIL_AUTH_REFUSED, "refused our pre-shared key or identity");
	ASSERT_TRUE(gw.idr_received);
	EXPECT_EQ(hex(gw.idr.data, gw.idr.len), hex(bytes("other.vpnctl.test")));
}

// A gateway that ignores our IDr and answers with another identity: the
// engine still checks what it got.
TEST_F(AuthFail, SendIdrAndTheGatewayAnswersAsAnother)
{
	cfg.send_idr = true;
	gw.id = identity("vpn.vpnctl.test");
	expect_failure(IKE_FAIL_ID_MISMATCH, "identifies as 'vpn.vpnctl.test'");
	ASSERT_TRUE(gw.idr_received);
	EXPECT_EQ(hex(gw.idr.data, gw.idr.len), hex(bytes("gw.vpnctl.test")));
}

TEST_F(AuthFail, IdrOfAnotherTypeIsAMismatch)
{
	gw.id = identity("203.0.113.1");
	expect_failure(IKE_FAIL_ID_MISMATCH, "identity mismatch");
}

TEST_F(AuthFail, CertificateDoesNotCoverIdr)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.id = identity("other.vpnctl.test");
	cfg.remote_id = identity("other.vpnctl.test");
	expect_failure(IKE_FAIL_ID_MISMATCH, "does not contain its identity 'other.vpnctl.test'");
}

TEST_F(AuthFail, CertificateDoesNotCoverIdrWithoutRemoteId)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.id = identity("other.vpnctl.test");
	cfg.remote_id = ike_identity{};
	expect_failure(IKE_FAIL_ID_MISMATCH, "does not contain its identity");
}

TEST_F(AuthFail, EapIdrMismatch)
{
	use_eap();
	gw.id = identity("vpn.vpnctl.test");
	expect_failure(IKE_FAIL_ID_MISMATCH, "identity mismatch");
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 1u) << "no EAP with an unauthenticated gateway";
}

TEST_F(AuthFail, ResponseWithoutIdr)
{
	edit_first_auth([](Pls &pls) { remove_pl(pls, IKE_PT_IDR); });
	expect_failure(IKE_FAIL_PROTOCOL, "without the gateway's identity");
}

TEST_F(AuthFail, ResponseWithoutAuth)
{
	edit_first_auth([](Pls &pls) { remove_pl(pls, IKE_PT_AUTH); });
	expect_failure(IKE_FAIL_PROTOCOL, "no usable AUTH");
}

// ---- EAP ------------------------------------------------------------------------------------

TEST_F(AuthFail, EapWrongPassword)
{
	use_eap();
	cfg.eap_password = "wrong password";
	expect_failure(IKE_FAIL_EAP, "MSCHAPv2 error 691");
	EXPECT_NE(reason.find("'alice'"), std::string::npos) << reason;
}

TEST_F(AuthFail, EapFailureCode)
{
	use_eap();
	gw.edit = [](const Msg &, ike_header &, Pls &pls) {
		Pl *e = find_pl(pls, IKE_PT_EAP);
		if (e && e->body[0] == EAP_REQUEST && e->body[4] == EAP_T_MSCHAPV2 &&
		    e->body[5] == MSCHAP_SUCCESS)
			*e = pl_eap(eap_msg(EAP_FAILURE, e->body[1], {}));
	};
	expect_failure(IKE_FAIL_EAP, "ended EAP with a failure");
}

TEST_F(AuthFail, EapWrongAuthenticatorResponseIsRefused)
{
	use_eap();
	gw.eap_wrong_authenticator = true;
	expect_failure(IKE_FAIL_PEER_AUTH, "does not know our password");
	// The engine never acknowledged the Success: identity, response, nothing more.
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 3u);
}

TEST_F(AuthFail, EapAuthenticatorResponseMissing)
{
	use_eap();
	gw.edit = [](const Msg &, ike_header &, Pls &pls) {
		Pl *e = find_pl(pls, IKE_PT_EAP);
		if (e && e->body[0] == EAP_REQUEST && e->body[4] == EAP_T_MSCHAPV2 &&
		    e->body[5] == MSCHAP_SUCCESS)
			*e = pl_eap(eap_msg(EAP_REQUEST, e->body[1],
					    mschap(MSCHAP_SUCCESS, 7, bytes("M=Welcome"))));
	};
	expect_failure(IKE_FAIL_EAP, "EAP");
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 3u);
}

TEST_F(AuthFail, EapSuccessWithoutMschapv2Success)
{
	use_eap();
	gw.edit = [](const Msg &, ike_header &, Pls &pls) {
		Pl *e = find_pl(pls, IKE_PT_EAP);
		if (e && e->body[0] == EAP_REQUEST && e->body[4] == EAP_T_MSCHAPV2 &&
		    e->body[5] == MSCHAP_SUCCESS)
			*e = pl_eap(eap_msg(EAP_SUCCESS, e->body[1], {}));
	};
	expect_failure(IKE_FAIL_EAP, "before MSCHAPv2 finished");
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 3u) << "no AUTH without a checked MSK";
}

TEST_F(AuthFail, EapFinalAuthFromTheWrongKey)
{
	use_eap();
	edit_final([&](Pls &pls) {
		Pl *a = find_pl(pls, IKE_PT_AUTH);
		a->body.back() ^= 0x80;
	});
	expect_failure(IKE_FAIL_PEER_AUTH, "EAP AUTH does not verify");
}

TEST_F(AuthFail, EapResponseWithoutEap)
{
	use_eap();
	gw.edit = [](const Msg &req, ike_header &, Pls &pls) {
		if (req.hdr.msgid == 2)
			remove_pl(pls, IKE_PT_EAP);
	};
	expect_failure(IKE_FAIL_PROTOCOL, "without the expected EAP payload");
}

TEST_F(AuthFail, EapRoundsAreBounded)
{
	use_eap();
	auto_reply = false;
	start();
	// IKE_SA_INIT and the first IKE_AUTH through the responder...
	for (int i = 0; i < 2; i++) {
		ASSERT_TRUE(run_until([&] { return !outbox.empty(); }, 1000));
		deliver(gw.handle(outbox.front().d));
		outbox.pop_front();
	}
	// ...then a gateway that asks for the identity again and again.
	unsigned rounds = 1;
	while (closed_calls == 0 && rounds < 20) {
		ASSERT_TRUE(run_until([&] { return !outbox.empty() || closed_calls; }, 1000));
		if (closed_calls)
			break;
		ike_header h = header_of(outbox.front().d);
		outbox.pop_front();
		h.flags = IKE_HDR_FLAG_RESPONSE;
		deliver(gw.seal(h, {pl_eap(eap_msg(EAP_REQUEST, uint8_t(10 + rounds), {EAP_T_IDENTITY}))}));
		rounds++;
	}
	EXPECT_TRUE(closed_with(IKE_FAIL_EAP, "did not finish in 8 rounds"));
	EXPECT_EQ(rounds, 9u);
	EXPECT_FALSE(established);
}

// ---- the first Child SA and the configuration --------------------------------------------------

TEST_F(AuthFail, TsUnacceptable)
{
	edit_final([](Pls &pls) { child_error(pls, IKE_N_TS_UNACCEPTABLE); });
	expect_failure(IKE_FAIL_TS_UNACCEPTABLE, "traffic selectors unacceptable");
}

TEST_F(AuthFail, InternalAddressFailure)
{
	edit_final([](Pls &pls) {
		remove_pl(pls, IKE_PT_CP);
		pls.push_back(pl_notify(IKE_N_INTERNAL_ADDRESS_FAILURE));
	});
	expect_failure(IKE_FAIL_NO_ADDRESS, "INTERNAL_ADDRESS_FAILURE");
}

TEST_F(AuthFail, FailedCpRequired)
{
	edit_final([](Pls &pls) {
		remove_pl(pls, IKE_PT_CP);
		pls.push_back(pl_notify(IKE_N_FAILED_CP_REQUIRED));
	});
	expect_failure(IKE_FAIL_NO_ADDRESS, "FAILED_CP_REQUIRED");
}

TEST_F(AuthFail, NoCpReply)
{
	edit_final([](Pls &pls) { remove_pl(pls, IKE_PT_CP); });
	expect_failure(IKE_FAIL_NO_ADDRESS, "no configuration reply");
}

TEST_F(AuthFail, CpReplyWithoutAddress)
{
	edit_final([](Pls &pls) {
		replace_pl(pls, pl_cp(IKE_CFG_REPLY, {{IKE_CP_INTERNAL_IP4_DNS, {10, 0, 0, 1}}}));
	});
	expect_failure(IKE_FAIL_NO_ADDRESS, "has no address");
}

TEST_F(AuthFail, EspNoProposalChosen)
{
	gw.esp_accept = proposals("aes192-sha512", IKE_PROTO_ESP);
	expect_failure(IKE_FAIL_NO_PROPOSAL, "ESP proposals");
	EXPECT_TRUE(gw.children.empty());
}

TEST_F(AuthFail, EspChoiceWeDidNotOffer)
{
	edit_final([](Pls &pls) {
		auto p = proposals("aes192-sha512", IKE_PROTO_ESP);
		p[0].spi_len = 4;
		put_be32(p[0].spi, 0x12345678);
		replace_pl(pls, pl_sa(p.data(), 1));
	});
	expect_failure(IKE_FAIL_NO_PROPOSAL, "did not offer");
}

TEST_F(AuthFail, EspChoiceWithoutSpi)
{
	edit_final([](Pls &pls) {
		ike_payload v = view(*find_pl(pls, IKE_PT_SA));
		ike_sa_payload sap;
		ike_parse_sa(&v, &sap);
		sap.p[0].spi_len = 0;
		replace_pl(pls, pl_sa(sap.p, 1));
	});
	expect_failure(IKE_FAIL_PROTOCOL, "no usable SA payload");
}

TEST_F(AuthFail, TrafficSelectorsMissing)
{
	edit_final([](Pls &pls) { remove_pl(pls, IKE_PT_TSR); });
	expect_failure(IKE_FAIL_TS_UNACCEPTABLE, "none we can use");
}

TEST_F(AuthFail, InitiatorTrafficSelectorMissing)
{
	edit_final([](Pls &pls) { remove_pl(pls, IKE_PT_TSI); });
	expect_failure(IKE_FAIL_TS_UNACCEPTABLE, "none we can use");
}

TEST_F(AuthFail, TrafficSelectorInverted)
{
	edit_final([](Pls &pls) {
		replace_pl(pls, pl_ts(IKE_PT_TSR, {ts4("10.1.255.255", "10.1.0.0")}));
	});
	expect_failure(IKE_FAIL_TS_UNACCEPTABLE, "none we can use");
}

TEST_F(AuthFail, UnknownErrorNotify)
{
	edit_final([](Pls &pls) { pls.push_back(pl_notify(IKE_N_TEMPORARY_FAILURE)); });
	expect_failure(IKE_FAIL_PROTOCOL, "TEMPORARY_FAILURE");
}

} // namespace
