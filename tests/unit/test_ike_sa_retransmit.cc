// Retransmission against the scripted responder: back-off timing on a real
// uv loop (first retry after retransmit_base_ms, doubling, capped, bounded
// by retransmit_tries), answers from the responder's cache, retransmitted
// and damaged responses, path errors and the connect timeout.
#include "ike_responder.h"

namespace {

using namespace iketest;

// Timers fire at or after their due time; on a shared machine later. The
// lower bounds prove the doubling, the upper ones the cap (160 + 60 < 320).
constexpr uint64_t SLACK_MS = 60;

class Retransmit : public IkeSaTest {
protected:
	// The reason's "in X s" is the time since the request was first sent.
	::testing::AssertionResult seconds_named(uint64_t ms)
	{
		size_t at = reason.rfind(" in ");
		double s = 0;
		if (at == std::string::npos || sscanf(reason.c_str() + at, " in %lf s", &s) != 1)
			return ::testing::AssertionFailure() << "no time in '" << reason << "'";
		if (s < ms / 1000.0 - 0.051 || s > ms / 1000.0 + 0.051)
			return ::testing::AssertionFailure()
			       << "'" << reason << "' where " << ms << " ms passed";
		return ::testing::AssertionSuccess();
	}
	::testing::AssertionResult within(uint64_t got, uint64_t want)
	{
		if (got < want || got > want + SLACK_MS)
			return ::testing::AssertionFailure()
			       << got << " ms where " << want << " ms (+" << SLACK_MS << ") were due";
		return ::testing::AssertionSuccess();
	}
};

TEST_F(Retransmit, BackOffDoublesIsCappedAndBounded)
{
	gw.silent = true;
	cfg.retransmit_base_ms = 40;
	cfg.retransmit_max_ms = 160;
	cfg.retransmit_tries = 5;
	start();
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	auto s = sent_of(IKE_EXCH_IKE_SA_INIT);
	ASSERT_EQ(s.size(), 5u) << "retransmit_tries sends in all";
	for (auto &x : s)
		EXPECT_EQ(hex(x.d), hex(s[0].d)) << "a retransmission is the same datagram";
	EXPECT_TRUE(within(s[1].t - s[0].t, 40));
	EXPECT_TRUE(within(s[2].t - s[1].t, 80));
	EXPECT_TRUE(within(s[3].t - s[2].t, 160));
	EXPECT_TRUE(within(s[4].t - s[3].t, 160)) << "capped at retransmit_max_ms";
	EXPECT_TRUE(within(closed_at - s[4].t, 160));
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE,
				{"gateway unreachable: no answer from 203.0.113.1 to IKE_SA_INIT after 5 tries in "}));
	EXPECT_TRUE(seconds_named(closed_at - s[0].t));
}

TEST_F(Retransmit, OneTryOnly)
{
	gw.silent = true;
	cfg.retransmit_base_ms = 50;
	cfg.retransmit_tries = 1;
	start();
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 2000));
	EXPECT_EQ(sent.size(), 1u);
	EXPECT_TRUE(within(closed_at - sent[0].t, 50));
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE, {"no answer from 203.0.113.1 to IKE_SA_INIT", "after 1 tries"}));
	EXPECT_TRUE(seconds_named(closed_at - sent[0].t));
}

TEST_F(Retransmit, BaseAbove500IsCapped)
{
	gw.silent = true;
	cfg.retransmit_base_ms = 5000;
	cfg.retransmit_max_ms = 5000;
	start();
	ASSERT_TRUE(run_until([&] { return sent.size() >= 2; }, 1500));
	EXPECT_TRUE(within(sent[1].t - sent[0].t, 500));
}

TEST_F(Retransmit, LostAuthResponseIsAnsweredFromTheCache)
{
	int auth_answers = 0;
	to_engine = [&](Bytes &d) {
		return !(header_of(d).exchange == IKE_EXCH_IKE_AUTH && auth_answers++ == 0);
	};
	ASSERT_TRUE(connect()) << reason;
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_EQ(auths.size(), 2u);
	EXPECT_EQ(hex(auths[0].d), hex(auths[1].d));
	EXPECT_TRUE(within(auths[1].t - auths[0].t, 40));
	EXPECT_EQ(gw.retransmits_seen, 1u);
	EXPECT_EQ(ups.size(), 1u);
}

TEST_F(Retransmit, LostInitResponse)
{
	int n = 0;
	to_engine = [&](Bytes &d) {
		return !(header_of(d).exchange == IKE_EXCH_IKE_SA_INIT && n++ == 0);
	};
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_SA_INIT).size(), 2u);
	EXPECT_EQ(gw.retransmits_seen, 1u);
}

// Answers that arrive again (a network duplicate, or the gateway's own
// retransmission) change nothing.
TEST_F(Retransmit, RepeatedResponsesAreIgnored)
{
	std::vector<Bytes> answers;
	to_engine = [&](Bytes &d) {
		answers.push_back(d);
		return true;
	};
	ASSERT_TRUE(connect()) << reason;
	ASSERT_EQ(answers.size(), 2u);
	to_engine = nullptr;
	size_t n = sent.size();
	for (int i = 0; i < 3; i++)
		deliver(answers);
	run_for(100);
	EXPECT_EQ(sent.size(), n);
	EXPECT_EQ(ups.size(), 1u);
	EXPECT_EQ(closed_calls, 0);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

TEST_F(Retransmit, RepeatedInitResponseWhileAuthenticating)
{
	auto_reply = false;
	start();
	Bytes init = outbox.front().d;
	outbox.pop_front();
	auto r = gw.handle(init);
	deliver(r);
	ASSERT_EQ(ike_sa_state(sa), IKE_STATE_AUTH_SENT);
	size_t n = sent.size();
	deliver(r);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_AUTH_SENT);
	EXPECT_EQ(sent.size(), n);
	auto_reply = true;
	EXPECT_TRUE(run_until([&] { return established; }, 2000)) << reason;
}

// An answer whose ICV does not verify is dropped: the state stays, the
// retransmission goes on and the real answer still works.
TEST_F(Retransmit, BadIcvIsDropped)
{
	int n = 0;
	to_engine = [&](Bytes &d) {
		if (header_of(d).exchange == IKE_EXCH_IKE_AUTH && n++ == 0)
			d[d.size() - 3] ^= 0x10;
		return true;
	};
	start();
	ASSERT_TRUE(run_until([&] { return n > 0; }, 1000));
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_AUTH_SENT);
	EXPECT_TRUE(logged("does not open"));
	ASSERT_TRUE(run_until([&] { return established || closed_calls; }, 2000)) << reason;
	EXPECT_TRUE(established);
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 2u);
	EXPECT_EQ(gw.retransmits_seen, 1u);
}

TEST_F(Retransmit, DamagedCiphertextIsDropped)
{
	set_ike("aes128-sha256-prfsha256-modp2048");
	int n = 0;
	to_engine = [&](Bytes &d) {
		if (header_of(d).exchange == IKE_EXCH_IKE_AUTH && n++ == 0)
			d[IKE_HDR_LEN + 4 + 20] ^= 0x01; // inside the CBC ciphertext
		return true;
	};
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 2u);
}

TEST_F(Retransmit, UnansweredAuthIsUnreachable)
{
	cfg.retransmit_tries = 3;
	to_engine = [&](Bytes &d) { return header_of(d).exchange == IKE_EXCH_IKE_SA_INIT; };
	start();
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 3000));
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE,
				{"gateway unreachable: no answer from 203.0.113.1 to IKE_AUTH after 3 tries in "}));
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_EQ(auths.size(), 3u);
	EXPECT_TRUE(seconds_named(closed_at - auths[0].t)) << "counted from the first IKE_AUTH";
}

// ---- path errors ---------------------------------------------------------------------------

TEST_F(Retransmit, ThreePathErrorsDuringInitFailFast)
{
	gw.silent = true;
	cfg.retransmit_base_ms = 400;
	cfg.retransmit_max_ms = 500;
	start();
	ike_sa_path_error(sa, -ECONNREFUSED);
	ike_sa_path_error(sa, -ECONNREFUSED);
	EXPECT_EQ(closed_calls, 0);
	ike_sa_path_error(sa, -ECONNREFUSED);
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE,
				{"gateway unreachable: 203.0.113.1 refuses IKE (Connection refused) on "}));
	EXPECT_EQ(sent.size(), 1u) << "no waiting for the back-off";
	run_for(100);
	EXPECT_EQ(sent.size(), 1u);
}

// As it happens on the wire: each try draws an ICMP error.
TEST_F(Retransmit, EachTryRefused)
{
	gw.silent = true;
	cfg.retransmit_base_ms = 40;
	start();
	for (size_t n = 1; n <= 3; n++) {
		ASSERT_TRUE(run_until([&] { return sent.size() == n; }, 1000));
		ike_sa_path_error(sa, -EHOSTUNREACH);
	}
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE,
				{"gateway unreachable: 203.0.113.1 refuses IKE (No route to host) on 3 tries"}));
	run_for(200);
	EXPECT_EQ(sent.size(), 3u);
}

TEST_F(Retransmit, PathErrorsLaterDoNotFailFast)
{
	auto_reply = false;
	start();
	deliver(gw.handle(outbox.front().d));
	outbox.clear();
	ASSERT_EQ(ike_sa_state(sa), IKE_STATE_AUTH_SENT);
	for (int i = 0; i < 5; i++)
		ike_sa_path_error(sa, -EHOSTUNREACH);
	EXPECT_EQ(closed_calls, 0);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_AUTH_SENT);
}

TEST_F(Retransmit, PathErrorsAreForgottenOnAnAnswer)
{
	auto_reply = false;
	start();
	ike_sa_path_error(sa, -ECONNREFUSED);
	ike_sa_path_error(sa, -ECONNREFUSED);
	// The answer comes after all: the SA moves on.
	deliver(gw.handle(outbox.front().d));
	outbox.clear();
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_AUTH_SENT);
	ike_sa_path_error(sa, -ECONNREFUSED);
	EXPECT_EQ(closed_calls, 0);
}

TEST_F(Retransmit, PathErrorWithNothingOutstandingIsHarmless)
{
	ASSERT_TRUE(connect()) << reason;
	for (int i = 0; i < 5; i++)
		ike_sa_path_error(sa, -ENETUNREACH);
	EXPECT_EQ(closed_calls, 0);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

// ---- the connect timeout ---------------------------------------------------------------------

TEST_F(Retransmit, ConnectTimeoutBoundsTheWholeExchange)
{
	cfg.connect_timeout_ms = 300;
	cfg.retransmit_tries = 100;
	cfg.retransmit_base_ms = 30;
	cfg.retransmit_max_ms = 60;
	to_engine = [&](Bytes &d) { return header_of(d).exchange == IKE_EXCH_IKE_SA_INIT; };
	uv_update_time(&loop);
	uint64_t t0 = uv_now(&loop);
	start();
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 2000));
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE, "no IKE SA within"));
	EXPECT_NE(reason.find("auth-sent"), std::string::npos) << reason;
	EXPECT_TRUE(within(closed_at - t0, 300));
	size_t n = sent.size();
	run_for(150);
	EXPECT_EQ(sent.size(), n) << "the retransmit timer stopped too";
}

TEST_F(Retransmit, ConnectTimeoutDoesNotFireOnceEstablished)
{
	cfg.connect_timeout_ms = 200;
	ASSERT_TRUE(connect()) << reason;
	run_for(350);
	EXPECT_EQ(closed_calls, 0);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

TEST_F(Retransmit, CloseBeforeEstablished)
{
	gw.silent = true;
	start();
	ike_sa_close(sa);
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "before it was up"));
	run_for(150);
	EXPECT_EQ(sent.size(), 1u) << "nothing after closing";
}

} // namespace
