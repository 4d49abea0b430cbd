// RFC 7383 fragmentation end to end: the engine's large IKE_AUTH goes out
// as SKF fragments the responder reassembles, and the responder's
// fragmented answers are reassembled by the engine (in any order, with
// losses and damage).
#include "ike_responder.h"

namespace {

using namespace iketest;

class Frag : public IkeSaTest {
protected:
	void SetUp() override
	{
		IkeSaTest::SetUp();
		use_pubkey("client-rsa.pem", "client-rsa.key", "alice@vpnctl.test");
		// IDr too: without it this IKE_AUTH (RSA certificate) ends a few
		// octets below the 1280-octet limit, and the fragmentation tests
		// need one above it.
		cfg.send_idr = true;
	}
	static bool is_skf(const Bytes &d)
	{
		ike_header h{};
		return !ike_decode_header(d.data(), d.size(), &h) && h.next == IKE_PT_SKF;
	}
	size_t max_msg() const { return ike_frag_max_msg(cfg.frag_mtu, false, true); }
};

TEST_F(Frag, LargeAuthGoesOutInFragments)
{
	ASSERT_TRUE(connect()) << reason;
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_GE(auths.size(), 2u) << "the RSA certificate does not fit 1280 octets";
	for (auto &a : auths) {
		EXPECT_TRUE(is_skf(a.d));
		EXPECT_LE(a.d.size(), max_msg());
		EXPECT_TRUE(a.natt);
	}
	ASSERT_GE(gw.requests.size(), 2u);
	EXPECT_EQ(gw.requests[1].frags, auths.size());
	EXPECT_NE(gw.requests[1].find(IKE_PT_CERT), nullptr);
	EXPECT_TRUE(gw.init_auth_ok) << "the reassembled AUTH verifies";
	EXPECT_TRUE(logged("fragments"));
}

TEST_F(Frag, SmallMtuMoreFragments)
{
	cfg.frag_mtu = 576;
	ASSERT_TRUE(connect()) << reason;
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_GE(auths.size(), 3u);
	for (auto &a : auths)
		EXPECT_LE(a.d.size(), max_msg());
	EXPECT_EQ(gw.requests[1].frags, auths.size());
}

TEST_F(Frag, NotWithoutTheGatewaysSupport)
{
	gw.announce_frag = false;
	ASSERT_TRUE(connect()) << reason;
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_EQ(auths.size(), 1u);
	EXPECT_FALSE(is_skf(auths[0].d));
	EXPECT_GT(auths[0].d.size(), max_msg()) << "the whole message in one datagram";
	EXPECT_EQ(gw.requests[1].frags, 0u);
}

TEST_F(Frag, NotWhenSwitchedOff)
{
	cfg.fragmentation = false;
	ASSERT_TRUE(connect()) << reason;
	ASSERT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 1u);
}

TEST_F(Frag, SmallMessagesAreNotFragmented)
{
	use_psk();
	ASSERT_TRUE(connect()) << reason;
	auto auths = sent_of(IKE_EXCH_IKE_AUTH);
	ASSERT_EQ(auths.size(), 1u);
	EXPECT_FALSE(is_skf(auths[0].d));
}

// A lost fragment: the whole request goes again, the gateway answers once.
TEST_F(Frag, LostRequestFragment)
{
	cfg.frag_mtu = 576;
	bool dropped = false;
	auto_reply = false;
	start();
	ASSERT_TRUE(run_until([&] { return !outbox.empty(); }, 500));
	deliver(gw.handle(outbox.front().d));
	outbox.pop_front();
	ASSERT_GE(outbox.size(), 3u);
	size_t nfrag = outbox.size();
	// All but the second fragment reach the gateway.
	for (size_t i = 0; i < nfrag; i++) {
		if (i == 1) {
			dropped = true;
			continue;
		}
		EXPECT_TRUE(gw.handle(outbox[i].d).empty());
	}
	outbox.clear();
	EXPECT_TRUE(dropped);
	auto_reply = true;
	ASSERT_TRUE(run_until([&] { return established || closed_calls; }, 2000)) << reason;
	EXPECT_TRUE(established);
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), 2 * nfrag) << "all fragments retransmitted";
	gw.errors.clear(); // the repeated fragments are duplicates to the reassembly
}

// ---- fragmented answers ----------------------------------------------------------------------

TEST_F(Frag, FragmentedResponseIsReassembled)
{
	gw.frag_max_msg = 300;
	size_t frags = 0;
	to_engine = [&](Bytes &d) {
		frags += is_skf(d);
		return true;
	};
	ASSERT_TRUE(connect()) << reason;
	EXPECT_GE(frags, 3u);
	ASSERT_EQ(ups.size(), 1u);
	ASSERT_EQ(gw.children.size(), 1u);
	EXPECT_EQ(ups[0].info.spi_out, gw.children[0].spi_gw);
	EXPECT_EQ(hex(ups[0].encr_in), hex(gw.children[0].encr_g2c));
}

TEST_F(Frag, FragmentedResponseInReverseOrder)
{
	gw.frag_max_msg = 300;
	std::vector<Bytes> held;
	size_t expected = 0;
	to_engine = [&](Bytes &d) {
		if (!is_skf(d))
			return true;
		ike_msg m;
		Bytes c = d;
		if (ike_decode(c.data(), c.size(), &m))
			return false;
		ike_skf s;
		EXPECT_EQ(ike_parse_skf(&m.chain.pl[m.chain.n - 1], &s), 0);
		expected = s.total;
		held.push_back(d);
		return false; // held back, delivered below
	};
	auto_reply = true;
	start();
	ASSERT_TRUE(run_until([&] { return expected && held.size() == expected; }, 1000));
	to_engine = nullptr;
	for (auto it = held.rbegin(); it != held.rend(); ++it)
		deliver(*it);
	ASSERT_TRUE(run_until([&] { return established || closed_calls; }, 1000)) << reason;
	EXPECT_TRUE(established);
	EXPECT_EQ(sent_of(IKE_EXCH_IKE_AUTH).size(), gw.requests[1].frags)
		<< "no retransmission needed";
}

TEST_F(Frag, DamagedResponseFragmentIsDroppedThenRetried)
{
	gw.frag_max_msg = 300;
	int n = 0;
	to_engine = [&](Bytes &d) {
		if (is_skf(d) && n++ == 1)
			d[d.size() - 1] ^= 0x55; // the second fragment's ICV
		return true;
	};
	ASSERT_TRUE(connect()) << reason;
	EXPECT_TRUE(logged("does not open"));
	EXPECT_GE(sent_of(IKE_EXCH_IKE_AUTH).size(), 2u);
}

TEST_F(Frag, DuplicateResponseFragments)
{
	gw.frag_max_msg = 300;
	// Every fragment twice.
	auto_reply = false;
	start();
	deliver(gw.handle(outbox.front().d));
	outbox.pop_front();
	ASSERT_TRUE(run_until([&] { return !outbox.empty(); }, 500));
	std::vector<Bytes> answer;
	for (auto &o : outbox) // our request's fragments
		answer = gw.handle(o.d);
	outbox.clear();
	ASSERT_GE(answer.size(), 2u);
	for (auto &f : answer) {
		deliver(f);
		deliver(f);
	}
	EXPECT_TRUE(established) << reason;
	EXPECT_EQ(ups.size(), 1u);
}

TEST_F(Frag, FragmentedResponseRefusedWhenSwitchedOff)
{
	cfg.fragmentation = false;
	cfg.retransmit_tries = 2;
	gw.frag_max_msg = 300;
	// A gateway that fragments anyway.
	gw.edit = [&](const Msg &, ike_header &, Pls &) { gw.peer_frag = true; };
	start();
	ASSERT_TRUE(run_until([&] { return closed_calls > 0; }, 2000));
	EXPECT_FALSE(established);
	EXPECT_TRUE(closed_with(IKE_FAIL_UNREACHABLE, "IKE_AUTH"));
}

} // namespace
