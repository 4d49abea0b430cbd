// Robustness of the engine against damaged datagrams: every message the
// scripted responder sends in a range of flows is first fed to the engine
// with each bit and each whole byte flipped, truncated at every length and
// extended, and only then delivered intact. A damaged copy must never
// crash the engine nor move it: same state, no callbacks, and nothing sent
// but a repeat of an earlier datagram (a cached response). The intact
// message must then work as if nothing had happened.
//
// IKE_SA_INIT responses are not protected, so a flipped nonce or KE byte
// is a different valid answer there: each variant runs against a fresh
// IKE SA and must end in one of the outcomes the protocol allows.
#include <random>

#include "ike_responder.h"

namespace {

using namespace iketest;

// Each single bit, and the whole octet.
constexpr uint8_t FLIPS[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
constexpr size_t NFLIPS = sizeof(FLIPS);

class Robust : public IkeSaTest {
protected:
	size_t variants = 0;
	std::vector<std::string> violations;

	struct Snap {
		ike_state state;
		int closed;
		size_t ups, downs, progress, sent, outbox;
		bool established;
		size_t ke_groups;
	};
	Snap snap() const
	{
		return Snap{ike_sa_state(sa), closed_calls, ups.size(), downs.size(), progress.size(),
			    sent.size(), outbox.size(), established, ke_groups.size()};
	}

	static std::vector<Bytes> damaged(const Bytes &d)
	{
		std::vector<Bytes> v;
		for (size_t i = 0; i < d.size(); i++)
			for (uint8_t x : FLIPS) {
				v.push_back(d);
				v.back()[i] ^= x;
			}
		for (size_t n = 0; n < d.size(); n++)
			v.emplace_back(d.begin(), d.begin() + n);
		v.push_back(d);
		v.back().push_back(0);
		return v;
	}

	// Feed every damaged copy of d; the engine must not move.
	void storm(const Bytes &d)
	{
		for (const Bytes &v : damaged(d)) {
			Snap before = snap();
			Bytes c = v;
			ike_sa_recv(sa, c.data(), c.size());
			variants++;
			Snap after = snap();
			std::string what;
			if (after.state != before.state)
				what += " state " + std::string(ike_state_name(after.state));
			if (after.closed != before.closed)
				what += " closed (" + reason + ")";
			if (after.ups != before.ups || after.downs != before.downs)
				what += " child_up/down";
			if (after.progress != before.progress || after.established != before.established)
				what += " progress";
			if (after.ke_groups != before.ke_groups)
				what += " ke_group";
			// Only repeats of what went out before (a cached response).
			for (size_t i = before.sent; i < after.sent; i++) {
				bool repeat = false;
				for (size_t j = 0; j < before.sent && !repeat; j++)
					repeat = sent[j].d == sent[i].d;
				if (!repeat)
					what += " sent something new";
			}
			sent.resize(before.sent);
			outbox.resize(before.outbox);
			if (!what.empty() && violations.size() < 20)
				violations.push_back("damaged " + ike_exchange_name_of(d) + " (" +
						     std::to_string(v.size()) + " of " +
						     std::to_string(d.size()) + " octets):" + what);
		}
	}
	static std::string ike_exchange_name_of(const Bytes &d)
	{
		ike_header h{};
		ike_decode_header(d.data(), d.size(), &h);
		return std::string(ike_exchange_name(h.exchange)) +
		       ((h.flags & IKE_HDR_FLAG_RESPONSE) ? " response " : " request ") +
		       std::to_string(h.msgid);
	}

	// Storm every protected datagram on its way to the engine.
	void arm()
	{
		to_engine = [this](Bytes &d) {
			if (header_of(d).exchange != IKE_EXCH_IKE_SA_INIT)
				storm(d);
			return true;
		};
	}

	void TearDown() override
	{
		EXPECT_TRUE(violations.empty()) << join(violations);
		IkeSaTest::TearDown();
	}
	void ask(const std::vector<Bytes> &req)
	{
		size_t n = gw.response_raw.size();
		deliver(req);
		run_until([&] { return gw.response_raw.size() > n || closed_calls; }, 500);
	}
};

TEST_F(Robust, PskAndTheGatewaysRequests)
{
	arm();
	ASSERT_TRUE(connect()) << reason;
	ask(gw.req_liveness());
	ask(gw.own_retransmit());
	ask(gw.req_rekey_child(gw.children[0]));
	ask(gw.req_delete_child(gw.children[0]));
	ask(gw.req_rekey_ike());
	ASSERT_EQ(ups.size(), 2u);
	ASSERT_EQ(downs.size(), 1u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
	ask(gw.req_delete_ike());
	EXPECT_TRUE(closed_with(IKE_FAIL_DELETED, "closed"));
	EXPECT_GT(variants, 3000u);
}

TEST_F(Robust, CbcWithPfsRekeys)
{
	set_ike("aes128-sha256-prfsha256-ecp256");
	set_esp("aes128-sha256-ecp256");
	arm();
	ASSERT_TRUE(connect()) << reason;
	ask(gw.req_rekey_child(gw.children[0], IKE_DH_ECP256));
	ASSERT_EQ(ups.size(), 2u);
	EXPECT_EQ(ike_sa_state(sa), IKE_STATE_ESTABLISHED);
}

TEST_F(Robust, EapMschapv2)
{
	use_eap();
	arm();
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(ups.size(), 1u);
}

TEST_F(Robust, FragmentedAnswers)
{
	use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
	gw.frag_max_msg = 400;
	arm();
	ASSERT_TRUE(connect()) << reason;
	EXPECT_EQ(ups.size(), 1u);
}

TEST_F(Robust, OurRequestsAnswered)
{
	cfg.dpd_interval_s = 1;
	cfg.rekey_child_s = 1;
	arm();
	ASSERT_TRUE(connect()) << reason;
	// A rekey (answer, then the answer to our Delete of the old SA) and a
	// liveness check, all with damaged answers first.
	ASSERT_TRUE(run_until([&] { return ups.size() == 2 && downs.size() == 1 && gw.info_empty; }, 4000));
	ike_sa_close(sa);
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 2000));
	EXPECT_TRUE(closed_with(IKE_FAIL_CLOSED_BY_USER, "closed"));
	EXPECT_TRUE(gw.ike_deleted);
}

// ---- IKE_SA_INIT: each damaged answer against a fresh IKE SA -----------------------------------

TEST_F(Robust, DamagedInitResponse)
{
	auto configure = [&] {
		use_psk();
		auto_reply = false;
	};
	size_t dropped = 0, accepted = 0, failed = 0, retried = 0;
	Bytes good;
	bool need_fresh = true;
	// Variant k of an answer of len octets: byte k/NFLIPS flipped,
	// then the truncations, then one octet too many.
	auto variant = [](const Bytes &g, size_t k, Bytes *out) {
		size_t len = g.size();
		*out = g;
		if (k < NFLIPS * len) {
			(*out)[k / NFLIPS] ^= FLIPS[k % NFLIPS];
			return true;
		}
		if (k < (NFLIPS + 1) * len) {
			out->resize(k - NFLIPS * len);
			return true;
		}
		if (k == (NFLIPS + 1) * len) {
			out->push_back(0);
			return true;
		}
		return false;
	};
	for (size_t k = 0;; k++) {
		if (need_fresh) {
			restart(configure);
			start();
			ASSERT_EQ(outbox.size(), 1u);
			auto r = gw.handle(outbox.front().d);
			outbox.clear();
			ASSERT_EQ(r.size(), 1u);
			good = r[0];
			need_fresh = false;
		}
		Bytes v;
		if (!variant(good, k, &v))
			break;
		Snap before = snap();
		deliver(v);
		variants++;
		Snap after = snap();
		if (after.state == IKE_STATE_INIT_SENT && after.sent == before.sent && !after.closed) {
			dropped++;
			continue;
		}
		need_fresh = true;
		if (after.closed) {
			failed++;
			if (after.closed != 1 || (why != IKE_FAIL_PROTOCOL && why != IKE_FAIL_NO_PROPOSAL))
				violations.push_back("damaged IKE_SA_INIT answer (variant " + std::to_string(k) +
						     ") closed with " + ike_fail_name(why) + ": " + reason);
			if (!sent_of(IKE_EXCH_IKE_AUTH).empty())
				violations.push_back("IKE_AUTH sent before failing");
		} else if (after.state == IKE_STATE_AUTH_SENT) {
			// A different answer that is still valid (nonce, KE value,
			// NAT detection data): the keys differ, IKE_AUTH will tell.
			accepted++;
			if (sent_of(IKE_EXCH_IKE_AUTH).size() != 1)
				violations.push_back("accepted answer without one IKE_AUTH");
		} else if (after.state == IKE_STATE_INIT_SENT &&
			   sent_of(IKE_EXCH_IKE_SA_INIT).size() == 2) {
			// The damage made a notify a COOKIE or INVALID_KE_PAYLOAD.
			retried++;
		} else {
			violations.push_back("damaged IKE_SA_INIT answer (variant " + std::to_string(k) +
					     ") left the SA in " + ike_state_name(after.state));
		}
		gw.errors.clear(); // the responder cannot read IKE_AUTH under other keys
	}
	EXPECT_GT(dropped, 0u);
	EXPECT_GT(accepted, 0u);
	EXPECT_GT(failed, 0u);
	// The SA that dropped the last damaged copies still takes the intact answer.
	if (!need_fresh) {
		auto_reply = true;
		deliver(good);
		EXPECT_TRUE(run_until([&] { return established; }, 2000)) << reason;
	}
	RecordProperty("dropped", std::to_string(dropped));
	RecordProperty("accepted", std::to_string(accepted));
	RecordProperty("failed", std::to_string(failed));
	RecordProperty("retried", std::to_string(retried));
	printf("IKE_SA_INIT answer variants: %zu dropped, %zu accepted, %zu failed cleanly, %zu retried\n",
	       dropped, accepted, failed, retried);
}

// Random multi-byte damage on every protected message of a PSK flow.
TEST_F(Robust, RandomDamage)
{
	std::mt19937 rng(20261124);
	to_engine = [&](Bytes &d) {
		if (header_of(d).exchange == IKE_EXCH_IKE_SA_INIT)
			return true;
		for (int i = 0; i < 2000; i++) {
			Bytes v = d;
			int n = 1 + rng() % 8;
			for (int j = 0; j < n; j++)
				v[rng() % v.size()] = uint8_t(rng());
			if (rng() % 4 == 0)
				v.resize(rng() % v.size());
			if (v == d)
				continue; // the random bytes happened to be the old ones
			Snap before = snap();
			ike_sa_recv(sa, v.data(), v.size());
			variants++;
			Snap after = snap();
			if (after.state != before.state || after.closed != before.closed ||
			    after.ups != before.ups || after.downs != before.downs)
				violations.push_back("random damage moved the SA: " + ike_exchange_name_of(d) +
						     " state " + ike_state_name(before.state) + " -> " +
						     ike_state_name(after.state) + ", closed " +
						     std::to_string(after.closed) + " (" + reason + "), ups " +
						     std::to_string(after.ups) + ", damaged " + hex(v) +
						     " from " + hex(d) + " log@" + std::to_string(log.size()));
			sent.resize(before.sent);
			outbox.resize(before.outbox);
		}
		return true;
	};
	ASSERT_TRUE(connect()) << reason;
	ask(gw.req_liveness());
	ask(gw.req_rekey_child(gw.children[0]));
	EXPECT_EQ(ups.size(), 2u);
}

} // namespace
