// The established IKE SA against the scripted responder: the gateway's
// requests (liveness, Delete of Child SAs and of the IKE SA, rekeying),
// our liveness checks (DPD), closing politely, and Child SA rekeying in
// both directions with and without PFS.
#include "ike_responder.h"

namespace {

using namespace iketest;

class Established : public IkeSaTest {
protected:
	void up()
	{
		ASSERT_TRUE(connect()) << reason;
		ASSERT_EQ(ups.size(), 1u);
		ASSERT_EQ(gw.children.size(), 1u);
	}
	// Deliver a gateway request and let the engine's answer reach it.
	void ask(const std::vector<Bytes> &req)
	{
		size_t n = gw.response_raw.size();
		deliver(req);
		run_until([&] { return gw.response_raw.size() > n || closed_calls; }, 500);
	}
	static const Pl *only_delete(const Msg &m)
	{
		return m.pls.size() == 1 && m.pls[0].type == IKE_PT_DELETE ? &m.pls[0] : nullptr;
	}
	static std::vector<uint32_t> delete_spis(const Pl &p)
	{
		ike_payload v = view(p);
		ike_delete d;
		std::vector<uint32_t> out;
		if (ike_parse_delete(&v, &d) || d.protocol != IKE_PROTO_ESP || d.spi_len != 4)
			return out;
		for (unsigned i = 0; i < d.n_spi; i++)
			out.push_back(get_be32(d.spis + 4 * i));
		return out;
	}
	void expect_keys(const ChildUp &u, const RChild &c)
	{
		EXPECT_EQ(u.info.spi_in, c.spi_client);
		EXPECT_EQ(u.info.spi_out, c.spi_gw);
		ASSERT_FALSE(c.encr_c2g.empty());
		EXPECT_EQ(hex(u.encr_out), hex(c.encr_c2g));
		EXPECT_EQ(hex(u.encr_in), hex(c.encr_g2c));
		EXPECT_EQ(hex(u.integ_out), hex(c.integ_c2g));
		EXPECT_EQ(hex(u.integ_in), hex(c.integ_g2c));
	}
};

// ---- the gateway's INFORMATIONAL requests ------------------------------------------------

TEST_F(Established, LivenessCheckIsAnswered)
{
	up();
	ask(gw.req_liveness());
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].pls.empty());
	EXPECT_EQ(gw.responses[0].hdr.msgid, 0u);
	EXPECT_EQ(gw.responses[0].hdr.flags, IKE_HDR_FLAG_INITIATOR | IKE_HDR_FLAG_RESPONSE);
	ask(gw.req_liveness());
	ASSERT_EQ(gw.responses.size(), 2u);
	EXPECT_EQ(gw.responses[1].hdr.msgid, 1u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_TRUE(downs.empty());
	EXPECT_EQ(closed_calls, 0);
}

TEST_F(Established, RetransmittedRequestGetsTheSameResponse)
{
	up();
	ask(gw.req_liveness());
	ASSERT_EQ(gw.response_raw.size(), 1u);
	ask(gw.own_retransmit());
	ASSERT_EQ(gw.response_raw.size(), 2u);
	EXPECT_EQ(hex(gw.response_raw[1]), hex(gw.response_raw[0])) << "the cached datagram";
	EXPECT_EQ(gw.dup_responses, 1u);
	EXPECT_TRUE(logged("retransmitted"));
	// And the next request is a new one again.
	ask(gw.req_liveness());
	EXPECT_EQ(gw.responses.size(), 2u);
}

// RFC 7296 2.5: an authenticated request with a critical payload we do
// not know is answered with UNSUPPORTED_CRITICAL_PAYLOAD naming its type;
// silence would make the gateway retransmit and finally declare us dead.
TEST_F(Established, UnsupportedCriticalPayloadIsAnswered)
{
	up();
	ask(gw.own_request(IKE_EXCH_INFORMATIONAL, {Pl{60, {1, 2, 3, 4}, true}}));
	ASSERT_EQ(gw.responses.size(), 1u);
	const Pl *n = gw.responses[0].notify(IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
	ASSERT_NE(n, nullptr);
	EXPECT_EQ(notify_data(*n), Bytes{60});
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	// The exchange counts: the next request is the next message ID.
	ask(gw.req_liveness());
	EXPECT_EQ(gw.responses.size(), 2u);
}

// A malformed chain inside a request that decrypted: INVALID_SYNTAX.
TEST_F(Established, MalformedRequestIsAnsweredWithInvalidSyntax)
{
	up();
	Pl cp = pl_cp(IKE_CFG_SET, {});
	ask(gw.own_request(IKE_EXCH_INFORMATIONAL, {cp, cp}));
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].has_notify(IKE_N_INVALID_SYNTAX));
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

// An unknown payload without the critical bit is skipped (2.5).
TEST_F(Established, UnknownNonCriticalPayloadIsSkipped)
{
	up();
	ask(gw.own_request(IKE_EXCH_INFORMATIONAL, {Pl{60, {1, 2, 3, 4}, false}}));
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].pls.empty());
}

TEST_F(Established, RequestOutOfWindowIsDropped)
{
	up();
	gw.set_own_msgid(5);
	size_t n = sent.size();
	deliver(gw.req_liveness());
	run_for(50);
	EXPECT_EQ(sent.size(), n);
	EXPECT_TRUE(logged("out of window"));
	gw.set_own_msgid(0);
	ask(gw.req_liveness());
	EXPECT_EQ(gw.responses.size(), 1u);
}

TEST_F(Established, GatewayDeletesTheChildSa)
{
	up();
	const RChild c = gw.children[0];
	ask(gw.req_delete_child(c));
	ASSERT_EQ(gw.responses.size(), 1u);
	const Pl *d = only_delete(gw.responses[0]);
	ASSERT_NE(d, nullptr);
	EXPECT_EQ(delete_spis(*d), std::vector<uint32_t>{ups[0].info.spi_in}) << "answered with our SPI";
	ASSERT_EQ(downs.size(), 1u);
	EXPECT_EQ(downs[0].first, ups[0].info.spi_in);
	EXPECT_EQ(downs[0].second, ups[0].info.spi_out);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_EQ(closed_calls, 0);
	// Deleting it again: an empty answer, nothing reported.
	ask(gw.req_delete_child(c));
	ASSERT_EQ(gw.responses.size(), 2u);
	EXPECT_TRUE(gw.responses[1].pls.empty());
	EXPECT_EQ(downs.size(), 1u);
}

TEST_F(Established, GatewayDeletesTheIkeSa)
{
	up();
	ask(gw.req_delete_ike());
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].pls.empty());
	EXPECT_TRUE(closed_with(IKE_FAIL_DELETED, "closed the connection"));
	ASSERT_EQ(downs.size(), 1u) << "its Child SA goes with it";
	EXPECT_EQ(downs[0].first, ups[0].info.spi_in);
	size_t n = sent.size();
	run_for(100);
	EXPECT_EQ(sent.size(), n);
}

TEST_F(Established, NoRequestsFromTheGatewayBeforeKeys)
{
	// A request arriving while IKE_SA_INIT is outstanding is dropped.
	auto_reply = false;
	start();
	Bytes fake = sent[0].d;
	fake[IKE_HDR_OFF_FLAGS] = 0; // "from the responder"
	fake[IKE_HDR_OFF_EXCHANGE] = IKE_EXCH_INFORMATIONAL;
	deliver(fake);
	EXPECT_EQ(sent.size(), 1u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_INIT_SENT);
	outbox.clear();
}

// ---- liveness checks (DPD) ---------------------------------------------------------------------

TEST_F(Established, DeadPeer)
{
	cfg.dpd_interval_s = 1;
	up();
	uint64_t t0 = established_at;
	gw.silent = true;
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_DEAD_PEER,
				{"gateway 203.0.113.1 stopped answering (INFORMATIONAL unanswered after 5 tries)"}));
	auto infos = sent_of(IKE_EXCH_INFORMATIONAL);
	ASSERT_EQ(infos.size(), cfg.retransmit_tries);
	EXPECT_GE(infos[0].t - t0, 1000u) << "after dpd_interval_s of silence";
	EXPECT_EQ(downs.size(), 1u);
}

TEST_F(Established, AnsweredLivenessChecksKeepItUp)
{
	cfg.dpd_interval_s = 1;
	up();
	run_for(2300);
	EXPECT_EQ(gw.info_empty, 2u) << "one check per silent second";
	EXPECT_EQ(closed_calls, 0);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	auto infos = sent_of(IKE_EXCH_INFORMATIONAL);
	ASSERT_EQ(infos.size(), 2u);
	EXPECT_NE(header_of(infos[0].d).msgid, header_of(infos[1].d).msgid);
}

TEST_F(Established, TrafficFromTheGatewayPostponesTheCheck)
{
	cfg.dpd_interval_s = 1;
	up();
	run_for(600);
	uv_update_time(&loop);
	uint64_t t = uv_now(&loop);
	ask(gw.req_liveness());
	ASSERT_TRUE(run_until([&] { return !sent_of(IKE_EXCH_INFORMATIONAL).empty() &&
					   gw.info_empty > 0; }, 2000));
	auto infos = sent_of(IKE_EXCH_INFORMATIONAL);
	// infos[0] is our answer to the gateway; the check follows a second later.
	ASSERT_EQ(infos.size(), 2u);
	EXPECT_GE(infos[1].t - t, 1000u);
}

// ---- closing ----------------------------------------------------------------------------------------

TEST_F(Established, CloseSendsADelete)
{
	up();
	auto_reply = false;
	ike_sa_close(sa);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_DELETING);
	EXPECT_EQ(closed_calls, 0);
	auto_reply = true;
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 1000));
	EXPECT_TRUE(gw.ike_deleted);
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "closed"));
	EXPECT_EQ(downs.size(), 1u);
	auto infos = sent_of(IKE_EXCH_INFORMATIONAL);
	ASSERT_EQ(infos.size(), 1u);
	EXPECT_EQ(header_of(infos[0].d).msgid, 2u);
}

TEST_F(Established, CloseUnansweredEndsAfterTheRetries)
{
	up();
	gw.silent = true;
	uv_update_time(&loop);
	uint64_t t0 = uv_now(&loop);
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "did not confirm the Delete"));
	EXPECT_EQ(sent_of(IKE_EXCH_INFORMATIONAL).size(), cfg.retransmit_tries);
	EXPECT_LT(closed_at - t0, 2000u);
}

TEST_F(Established, CloseUnansweredIsBoundedInTime)
{
	cfg.retransmit_tries = 50;
	cfg.retransmit_base_ms = 500;
	cfg.retransmit_max_ms = 500;
	up();
	gw.silent = true;
	uv_update_time(&loop);
	uint64_t t0 = uv_now(&loop);
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 4000));
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "closed"));
	EXPECT_GE(closed_at - t0, 2000u);
	EXPECT_LT(closed_at - t0, 2250u);
}

TEST_F(Established, CloseTwiceReportsOnce)
{
	up();
	ike_sa_close(sa);
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 1000));
	ike_sa_close(sa);
	run_for(50);
	EXPECT_EQ(closed_calls, 1);
	EXPECT_EQ(sent_of(IKE_EXCH_INFORMATIONAL).size(), 1u);
}

// While a liveness check is outstanding (its answer lost), the Delete must
// still reach the gateway as a Delete: with a window of one it may not reuse
// the message ID of the request the gateway has already answered.
TEST_F(Established, CloseWhileALivenessCheckIsOutstanding)
{
	cfg.dpd_interval_s = 1;
	cfg.retransmit_base_ms = 300;
	cfg.retransmit_max_ms = 300;
	up();
	bool lose = true;
	to_engine = [&](Bytes &) { return !lose; };
	ASSERT_TRUE(run_until([&] { return gw.info_empty == 1; }, 2000));
	lose = false;
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "closed"));
	EXPECT_TRUE(gw.ike_deleted) << "the gateway never saw the Delete";
}

// The same with the liveness check itself lost on the way to the gateway.
TEST_F(Established, CloseWhileALivenessCheckIsLost)
{
	cfg.dpd_interval_s = 1;
	cfg.retransmit_base_ms = 300;
	cfg.retransmit_max_ms = 300;
	up();
	gw.drop_requests = 1;
	ASSERT_TRUE(run_until([&] { return sent_of(IKE_EXCH_INFORMATIONAL).size() == 1; }, 2000));
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "closed"));
	EXPECT_TRUE(gw.ike_deleted);
	EXPECT_EQ(gw.info_empty, 1u) << "the check was answered first";
}

// And with a gateway that answers nothing any more: closed by the user,
// within the bound, not a dead peer.
TEST_F(Established, CloseWhileTheGatewayIsDead)
{
	cfg.dpd_interval_s = 1;
	up();
	gw.silent = true;
	ASSERT_TRUE(run_until([&] { return sent_of(IKE_EXCH_INFORMATIONAL).size() == 1; }, 2000));
	uv_update_time(&loop);
	uint64_t t0 = uv_now(&loop);
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "closed"));
	EXPECT_LE(closed_at - t0, 2250u);
}

// ---- Child SA rekeying started by the engine ---------------------------------------------------------

class EngineRekey : public Established {
protected:
	void rekey_once()
	{
		cfg.rekey_child_s = 1;
		up();
		uint64_t t0 = established_at;
		ASSERT_TRUE(run_until([&] { return ups.size() == 2 && downs.size() == 1; }, 3000))
			<< "ups " << ups.size() << " downs " << downs.size() << " " << reason;
		auto cc = sent_of(IKE_EXCH_CREATE_CHILD_SA);
		ASSERT_EQ(cc.size(), 1u);
		EXPECT_GE(cc[0].t - t0, 1000u) << "after rekey_child_s";
	}
	void check_rekey(bool pfs)
	{
		// The request names the old SA by our inbound SPI.
		const Msg *req = nullptr;
		for (auto &r : gw.requests)
			if (r.hdr.exchange == IKE_EXCH_CREATE_CHILD_SA)
				req = &r;
		ASSERT_NE(req, nullptr);
		const Pl *rk = req->notify(IKE_N_REKEY_SA);
		ASSERT_NE(rk, nullptr);
		ike_payload v = view(*rk);
		ike_notify n;
		ASSERT_EQ(ike_parse_notify(&v, &n), 0);
		EXPECT_EQ(n.protocol, IKE_PROTO_ESP);
		ASSERT_EQ(n.spi_len, 4);
		EXPECT_EQ(get_be32(n.spi), ups[0].info.spi_in);
		EXPECT_EQ(req->find(IKE_PT_KE) != nullptr, pfs);
		// The new SA replaces the old one, with keys the gateway agrees on.
		ASSERT_EQ(gw.children.size(), 2u);
		EXPECT_EQ(gw.children[1].pfs, pfs);
		EXPECT_EQ(ups[1].info.replaces_spi_in, ups[0].info.spi_in);
		EXPECT_NE(ups[1].info.spi_in, ups[0].info.spi_in);
		expect_keys(ups[1], gw.children[1]);
		EXPECT_NE(hex(ups[1].encr_out), hex(ups[0].encr_out));
		// Then the old one is deleted by us, and the gateway confirmed.
		EXPECT_EQ(downs[0].first, ups[0].info.spi_in);
		EXPECT_EQ(downs[0].second, ups[0].info.spi_out);
		EXPECT_FALSE(gw.children[0].alive);
		EXPECT_TRUE(gw.children[1].alive);
		EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
		EXPECT_EQ(closed_calls, 0);
	}
};

TEST_F(EngineRekey, WithoutPfs)
{
	rekey_once();
	check_rekey(false);
}

TEST_F(EngineRekey, WithPfs)
{
	set_esp("aes256gcm16-ecp256,aes128-sha256-ecp256");
	rekey_once();
	check_rekey(true);
	EXPECT_EQ(gw.children[1].prop.x[IKE_XFORM_DH][0].id, IKE_DH_ECP256);
	EXPECT_EQ(gw.children[0].prop.n[IKE_XFORM_DH], 0) << "no KE in IKE_AUTH";
}

TEST_F(EngineRekey, AgainAfterTheInterval)
{
	rekey_once();
	ASSERT_TRUE(run_until([&] { return ups.size() == 3 && downs.size() == 2; }, 3000));
	EXPECT_EQ(ups[2].info.replaces_spi_in, ups[1].info.spi_in);
	EXPECT_EQ(downs[1].first, ups[1].info.spi_in);
}

TEST_F(EngineRekey, RefusedRekeyKeepsTheOldSa)
{
	cfg.rekey_child_s = 1;
	gw.edit = [](const Msg &req, ike_header &, Pls &pls) {
		if (req.hdr.exchange == IKE_EXCH_CREATE_CHILD_SA)
			pls = {pl_notify(IKE_N_NO_PROPOSAL_CHOSEN)};
	};
	up();
	ASSERT_TRUE(run_until([&] { return !sent_of(IKE_EXCH_CREATE_CHILD_SA).empty(); }, 2000));
	run_for(100);
	EXPECT_EQ(ups.size(), 1u);
	EXPECT_TRUE(downs.empty());
	EXPECT_EQ(closed_calls, 0);
	EXPECT_TRUE(logged("refused to rekey"));
	gw.children.pop_back(); // the responder recorded the child it meant to create
}

TEST_F(EngineRekey, AnswerWithoutOurPfsGroup)
{
	set_esp("aes256gcm16-ecp256");
	cfg.rekey_child_s = 1;
	gw.edit = [](const Msg &req, ike_header &, Pls &pls) {
		if (req.hdr.exchange == IKE_EXCH_CREATE_CHILD_SA)
			remove_pl(pls, IKE_PT_KE);
	};
	up();
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_PROTOCOL, "PFS group"));
}

// ---- both sides rekey the same Child SA at once (RFC 7296 2.8.1) ---------------------------------

class RekeyCollision : public EngineRekey {
protected:
	RChild x; // the Child SA both sides rekey

	// Our rekey of the Child SA is out when the gateway's rekey of it
	// arrives; the gateway answers ours, then takes our answer to its own.
	void collide()
	{
		cfg.rekey_child_s = 1;
		up();
		x = gw.children[0];
		auto_reply = false;
		ASSERT_TRUE(run_until([&] { return !sent_of(IKE_EXCH_CREATE_CHILD_SA).empty(); }, 3000));
		ASSERT_EQ(outbox.size(), 1u);
		deliver(gw.req_rekey_child(x));
		ASSERT_EQ(outbox.size(), 2u) << "the engine answers the gateway's rekey";
		Sent ours = outbox.front();
		outbox.pop_front();
		deliver(gw.handle(ours.d));
		Sent answer = outbox.front();
		outbox.pop_front();
		EXPECT_TRUE(gw.handle(answer.d).empty());
		auto_reply = true;
		// Both new SAs came up, each replacing the old one.
		ASSERT_EQ(ups.size(), 3u);
		ASSERT_EQ(gw.children.size(), 3u); // old, ours (answered by the gateway), the gateway's
		EXPECT_EQ(ups[1].info.replaces_spi_in, x.spi_client);
		EXPECT_EQ(ups[2].info.replaces_spi_in, x.spi_client);
		expect_keys(ups[1], gw.children[2]); // the gateway's rekey
		expect_keys(ups[2], gw.children[1]); // ours
		EXPECT_TRUE(logged("rekey collision"));
	}
	bool deleted(uint32_t spi_in) const
	{
		for (auto &d : downs)
			if (d.first == spi_in)
				return true;
		return false;
	}
};

TEST_F(RekeyCollision, OursHasTheLowestNonceSoWeDeleteIt)
{
	gw.child_nr = Bytes(32, 0x00); // in our exchange: the lowest nonce
	gw.child_ni = Bytes(32, 0xff);
	collide();
	const RChild ours = gw.children[1], theirs = gw.children[2];
	ASSERT_TRUE(run_until([&] { return deleted(ours.spi_client); }, 1000));
	EXPECT_FALSE(gw.children[1].alive) << "our redundant SA is gone on the gateway too";
	EXPECT_FALSE(deleted(x.spi_client)) << "the old SA is the gateway's to delete";
	EXPECT_TRUE(logged("ours has the lowest nonce"));
	// The gateway, whose SA survives, deletes the old one.
	ask(gw.req_delete_child(x));
	EXPECT_TRUE(deleted(x.spi_client));
	EXPECT_FALSE(deleted(theirs.spi_client));
	EXPECT_TRUE(gw.children[2].alive);
	EXPECT_EQ(downs.size(), 2u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_EQ(closed_calls, 0);
}

TEST_F(RekeyCollision, TheGatewaysHasTheLowestNonceSoWeDeleteTheOldSa)
{
	gw.child_ni = Bytes(32, 0x00); // in the gateway's exchange: the lowest nonce
	gw.child_nr = Bytes(32, 0xff);
	collide();
	const RChild ours = gw.children[1], theirs = gw.children[2];
	ASSERT_TRUE(run_until([&] { return deleted(x.spi_client); }, 1000));
	EXPECT_FALSE(gw.children[0].alive);
	EXPECT_FALSE(deleted(ours.spi_client));
	EXPECT_TRUE(logged("the gateway's has the lowest nonce"));
	// The gateway deletes its redundant SA; ours stays.
	ask(gw.req_delete_child(theirs));
	EXPECT_TRUE(deleted(theirs.spi_client));
	EXPECT_FALSE(deleted(ours.spi_client));
	EXPECT_TRUE(gw.children[1].alive);
	EXPECT_EQ(downs.size(), 2u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_EQ(closed_calls, 0);
}

TEST_F(RekeyCollision, GatewayRekeysAnSaWeAreDeleting)
{
	cfg.rekey_child_s = 1;
	up();
	x = gw.children[0];
	auto_reply = false;
	ASSERT_TRUE(run_until([&] { return !sent_of(IKE_EXCH_CREATE_CHILD_SA).empty(); }, 3000));
	// Our rekey is answered; our Delete of the old SA is on its way when
	// the gateway's rekey of that old SA arrives.
	Sent ours = outbox.front();
	outbox.pop_front();
	deliver(gw.handle(ours.d));
	ASSERT_EQ(outbox.size(), 1u) << "our Delete of the old SA";
	deliver(gw.req_rekey_child(x));
	ASSERT_EQ(outbox.size(), 2u);
	auto_reply = true;
	ASSERT_TRUE(run_until([&] { return gw.responses.size() >= 1 && downs.size() == 1; }, 1000));
	const Msg &r = gw.responses.back();
	ASSERT_EQ(r.pls.size(), 1u);
	EXPECT_EQ(notify_type(r.pls[0]), IKE_N_TEMPORARY_FAILURE);
	EXPECT_EQ(ups.size(), 2u) << "no third SA";
	EXPECT_EQ(downs[0].first, x.spi_client);
	EXPECT_EQ(closed_calls, 0);
}

// ---- Child SA rekeying started by the gateway ----------------------------------------------------

TEST_F(Established, GatewayRekeysTheChildSa)
{
	up();
	const RChild old = gw.children[0];
	ask(gw.req_rekey_child(old));
	ASSERT_EQ(gw.responses.size(), 1u);
	const Msg &r = gw.responses[0];
	EXPECT_NE(r.find(IKE_PT_SA), nullptr);
	EXPECT_NE(r.find(IKE_PT_NONCE), nullptr);
	EXPECT_EQ(r.find(IKE_PT_KE), nullptr);
	ASSERT_EQ(ups.size(), 2u);
	ASSERT_EQ(gw.children.size(), 2u);
	EXPECT_EQ(ups[1].info.replaces_spi_in, ups[0].info.spi_in);
	expect_keys(ups[1], gw.children[1]);
	// The exchange's initiator is the gateway: its selectors come as TSi.
	ASSERT_EQ(ups[1].info.n_tsi, 1u);
	EXPECT_TRUE(ts_equal(ups[1].info.tsi[0], ups[0].info.tsi[0]));
	ASSERT_EQ(ups[1].info.n_tsr, 1u);
	EXPECT_TRUE(ts_equal(ups[1].info.tsr[0], ups[0].info.tsr[0]));
	EXPECT_TRUE(downs.empty()) << "the old SA lives until the gateway deletes it";
	// The gateway deletes the old one.
	ask(gw.req_delete_child(old));
	ASSERT_EQ(gw.responses.size(), 2u);
	const Pl *d = only_delete(gw.responses[1]);
	ASSERT_NE(d, nullptr);
	EXPECT_EQ(delete_spis(*d), std::vector<uint32_t>{ups[0].info.spi_in});
	ASSERT_EQ(downs.size(), 1u);
	EXPECT_EQ(downs[0].first, ups[0].info.spi_in);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

TEST_F(Established, GatewayRekeysWithPfs)
{
	set_esp("aes256gcm16-ecp256");
	up();
	ask(gw.req_rekey_child(gw.children[0], IKE_DH_ECP256));
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_NE(gw.responses[0].find(IKE_PT_KE), nullptr);
	ASSERT_EQ(ups.size(), 2u);
	ASSERT_EQ(gw.children.size(), 2u);
	EXPECT_TRUE(gw.children[1].pfs);
	expect_keys(ups[1], gw.children[1]);
}

TEST_F(Established, GatewayRekeysAnUnknownChildSa)
{
	up();
	RChild ghost = gw.children[0];
	ghost.spi_gw ^= 0x00ff0000;
	ask(gw.req_rekey_child(ghost));
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].has_notify(IKE_N_CHILD_SA_NOT_FOUND));
	EXPECT_EQ(ups.size(), 1u);
}

TEST_F(Established, GatewayRekeyWithoutSelectors)
{
	up();
	// A rekey request without TSi and TSr.
	Bytes spi(4);
	put_be32(spi.data(), gw.children[0].spi_gw);
	ike_proposal p = gw.children[0].prop;
	p.num = 1;
	p.spi_len = 4;
	put_be32(p.spi, 0x4242);
	ask(gw.own_request(IKE_EXCH_CREATE_CHILD_SA,
			   {pl_notify(IKE_N_REKEY_SA, {}, IKE_PROTO_ESP, spi), pl_sa(&p, 1),
			    pl_nonce(Responder::random_bytes(32))}));
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].has_notify(IKE_N_INVALID_SYNTAX));
	EXPECT_EQ(ups.size(), 1u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

TEST_F(Established, GatewayAsksForANewChildSa)
{
	up();
	ike_proposal p = gw.children[0].prop;
	p.num = 1;
	p.spi_len = 4;
	put_be32(p.spi, 0x4343);
	ask(gw.own_request(IKE_EXCH_CREATE_CHILD_SA,
			   {pl_sa(&p, 1), pl_nonce(Responder::random_bytes(32)),
			    pl_ts(IKE_PT_TSI, gw.children[0].ts_gw),
			    pl_ts(IKE_PT_TSR, gw.children[0].ts_client)}));
	ASSERT_EQ(gw.responses.size(), 1u);
	EXPECT_TRUE(gw.responses[0].has_notify(IKE_N_NO_ADDITIONAL_SAS));
	EXPECT_EQ(ups.size(), 1u);
}

TEST_F(Established, GatewayRekeysTheIkeSa)
{
	up();
	const uint64_t spi_i0 = gw.gen().spi_i;
	ask(gw.req_rekey_ike());
	ASSERT_EQ(gw.responses.size(), 1u);
	// The answer is SA (our new SPI), Nonce and KE: a new generation.
	EXPECT_NE(gw.responses[0].find(IKE_PT_SA), nullptr);
	EXPECT_NE(gw.responses[0].find(IKE_PT_NONCE), nullptr);
	EXPECT_NE(gw.responses[0].find(IKE_PT_KE), nullptr);
	ASSERT_EQ(gw.gen().num, 1u);
	EXPECT_TRUE(gw.gen().gw_initiator);
	EXPECT_NE(gw.gen().spi_i, spi_i0);
	EXPECT_TRUE(logged("IKE SA rekeyed (by the gateway)"));
	// The gateway started it, so it deletes the old generation, on that one.
	ask(gw.req_delete_old_ike());
	ASSERT_EQ(gw.responses.size(), 2u);
	EXPECT_TRUE(gw.responses[1].pls.empty());
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_EQ(closed_calls, 0);
	EXPECT_TRUE(downs.empty()) << "the Child SA moves over unchanged";
	// The new generation carries the gateway's requests ...
	ask(gw.req_liveness());
	EXPECT_EQ(gw.responses.size(), 3u);
	// ... and a Child SA rekey takes its keys from the new SK_d.
	const RChild old = gw.children[0];
	ask(gw.req_rekey_child(old));
	ASSERT_EQ(gw.children.size(), 2u);
	EXPECT_EQ(gw.children[1].gen, 1u);
	ASSERT_EQ(ups.size(), 2u);
	expect_keys(ups[1], gw.children[1]);
}

TEST_F(Established, GatewayRekeysTheIkeSaWithAnotherProposal)
{
	set_ike("aes256gcm16-prfsha256-x25519,aes128-sha256-ecp256");
	up();
	// A gateway that moves to our second proposal on rekey.
	ike_proposal second = cfg.ike[1];
	ask(gw.req_rekey_ike(&second));
	ASSERT_EQ(gw.gen().num, 1u);
	EXPECT_EQ(gw.gen().prop.x[IKE_XFORM_DH][0].id, IKE_DH_ECP256);
	EXPECT_TRUE(logged("aes128-sha256-prfsha256-ecp256") || logged("ecp256"));
	ask(gw.req_delete_old_ike());
	ask(gw.req_liveness());
	EXPECT_EQ(gw.responses.size(), 3u);
	EXPECT_EQ(closed_calls, 0);
}

// ---- IKE SA rekeying started by the engine ----------------------------------------------------

TEST_F(Established, EngineRekeysTheIkeSa)
{
	cfg.rekey_ike_s = 1;
	up();
	const uint64_t spi_i0 = gw.gen().spi_i;
	uint64_t t0 = established_at;
	// We rekey, then delete the old generation ourselves.
	ASSERT_TRUE(run_until([&] { return gw.gen().num == 1 && gw.old_ike_deleted == 1; }, 3000))
		<< reason;
	auto cc = sent_of(IKE_EXCH_CREATE_CHILD_SA);
	ASSERT_GE(cc.size(), 1u);
	EXPECT_GE(cc[0].t - t0, 1000u) << "after rekey_ike_s";
	EXPECT_FALSE(gw.gen().gw_initiator);
	EXPECT_NE(gw.gen().spi_i, spi_i0);
	EXPECT_TRUE(logged("IKE SA rekeyed (by us)"));
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_EQ(closed_calls, 0);
	EXPECT_TRUE(downs.empty());
	ask(gw.req_liveness());
	EXPECT_FALSE(gw.responses.empty());
}

TEST_F(Established, EngineIkeRekeyThenChildRekeyUsesTheNewKeys)
{
	cfg.rekey_ike_s = 1;
	cfg.rekey_child_s = 2;
	up();
	ASSERT_TRUE(run_until([&] { return ups.size() == 2 && downs.size() == 1; }, 4000)) << reason;
	ASSERT_GE(gw.gen().num, 1u);
	ASSERT_EQ(gw.children.size(), 2u);
	EXPECT_GE(gw.children[1].gen, 1u);
	expect_keys(ups[1], gw.children[1]);
	EXPECT_EQ(closed_calls, 0);
}

TEST_F(Established, RefusedIkeRekeyKeepsTheOldSa)
{
	cfg.rekey_ike_s = 1;
	gw.refuse_ike_rekey = 1;
	up();
	ASSERT_TRUE(run_until([&] { return logged("IKE SA rekey failed"); }, 3000)) << reason;
	EXPECT_TRUE(logged("TEMPORARY_FAILURE"));
	EXPECT_EQ(gw.gen().num, 0u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	EXPECT_EQ(closed_calls, 0);
	// The old generation still carries the gateway's requests.
	ask(gw.req_liveness());
	EXPECT_FALSE(gw.responses.empty());
}

} // namespace
