// RFC 7383 fragmentation: planning for an MTU, fragment layout (checked by
// decoding each fragment), and bounded reassembly.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "client/ike/codec.h"
#include "client/ike/frag.h"
#include "client/util/log.h"

namespace {

using Bytes = std::vector<uint8_t>;

class Frag : public ::testing::Test {
protected:
	std::vector<std::string> lines;
	ike_frag_reasm *r = nullptr;

	static void sink(int, const char *module, const char *m, void *arg)
	{
		static_cast<Frag *>(arg)->lines.push_back(std::string(module) + ": " + m);
	}
	void SetUp() override
	{
		vlog_set_sink(sink, this);
		r = new ike_frag_reasm;
		ike_frag_init(r);
	}
	void TearDown() override
	{
		delete r;
		vlog_set_sink(nullptr, nullptr);
	}
	::testing::AssertionResult one_line(const std::string &needle)
	{
		if (lines.size() != 1)
			return ::testing::AssertionFailure() << lines.size() << " log lines";
		if (lines[0].find(needle) == std::string::npos)
			return ::testing::AssertionFailure() << "'" << lines[0] << "' lacks '" << needle << "'";
		return ::testing::AssertionSuccess();
	}
	int add(uint32_t msgid, uint16_t num, uint16_t total, const Bytes &data,
		uint64_t now = 0, uint8_t next = IKE_PT_NONE)
	{
		return ike_frag_add(r, msgid, num, total, next, data.data(), data.size(), now, 1000);
	}
};

// An inner payload chain big enough to need fragments: IDi, CERT, AUTH.
Bytes inner_chain(uint8_t *first)
{
	std::vector<uint8_t> buf(4096), cert(1500);
	ike_builder b;
	size_t len = 0;

	for (size_t i = 0; i < cert.size(); i++)
		cert[i] = uint8_t(i * 7);
	ike_build_init_chain(&b, buf.data(), buf.size());
	ike_build_id(&b, IKE_PT_IDI, IKE_ID_FQDN, "client.lab", 10);
	ike_build_cert(&b, IKE_CERT_X509_SIG, cert.data(), cert.size());
	ike_build_auth(&b, IKE_AUTH_DIGITAL_SIG, cert.data(), 256);
	EXPECT_EQ(ike_build_finish(&b, &len), 0);
	*first = b.first;
	return Bytes(buf.begin(), buf.begin() + len);
}

TEST_F(Frag, MaxMessageForAPath)
{
	EXPECT_EQ(ike_frag_max_msg(1280, true, true), 1280u - 40 - 8 - 4);
	EXPECT_EQ(ike_frag_max_msg(576, false, false), 576u - 28);
	EXPECT_EQ(ike_frag_max_msg(20, false, false), 0u);
}

TEST_F(Frag, PlanForAeadAndCbc)
{
	ike_frag_plan plan;

	// AES-GCM: IV 8, ICV 16, no block: 1200 - 28 - 4 - 4 - 8 - 16 - 1 = 1139
	ASSERT_EQ(ike_frag_compute_plan(3000, 1200, 8, 16, 1, &plan), 0);
	EXPECT_EQ(plan.chunk, 1139u);
	EXPECT_EQ(plan.count, 3);
	// AES-CBC + SHA-256: IV 16, ICV 16, block 16: room 1200-28-8-16-16 = 1132
	// -> 1120 padded octets -> 1119 of data
	ASSERT_EQ(ike_frag_compute_plan(1119, 1200, 16, 16, 16, &plan), 0);
	EXPECT_EQ(plan.chunk, 1119u);
	EXPECT_EQ(plan.count, 1);
	EXPECT_TRUE(lines.empty());
}

TEST_F(Frag, PlanRefusesImpossibleMtus)
{
	ike_frag_plan plan;

	EXPECT_EQ(ike_frag_compute_plan(100, 60, 8, 16, 1, &plan), IKE_ERR_FRAG_MTU);
	EXPECT_TRUE(one_line("MTU too small"));
	lines.clear();
	EXPECT_EQ(ike_frag_compute_plan(100, 28 + 8 + 16 + 16 + 8, 16, 16, 16, &plan), IKE_ERR_FRAG_MTU);
	EXPECT_TRUE(one_line("block 16"));
	lines.clear();
	EXPECT_EQ(ike_frag_compute_plan(1 << 24, 28 + 8 + 8 + 16 + 2, 8, 16, 1, &plan),
		  IKE_ERR_FRAG_TOO_MANY);
	EXPECT_TRUE(one_line("fragments"));
	EXPECT_EQ(ike_frag_compute_plan(0, 1200, 8, 16, 1, &plan), -EINVAL);
}

TEST_F(Frag, FragmentsDecodeAndReassembleInAnyOrder)
{
	uint8_t first;
	Bytes in = inner_chain(&first);
	ike_frag_plan plan;
	ike_header h = {};
	std::vector<Bytes> sealed;

	h.spi_i = 0x1111;
	h.spi_r = 0x2222;
	h.exchange = IKE_EXCH_IKE_AUTH;
	h.flags = IKE_HDR_FLAG_INITIATOR;
	h.msgid = 1;
	ASSERT_EQ(ike_frag_compute_plan(in.size(), ike_frag_max_msg(576, false, true), 8, 16, 1, &plan), 0);
	ASSERT_GE(plan.count, 3);
	for (uint16_t num = 1; num <= plan.count; num++) {
		uint8_t buf[600];
		size_t aad, chunk, total;

		ASSERT_EQ(ike_frag_build(&h, first, in.data(), in.size(), &plan, num, buf,
					 sizeof(buf), &aad, &chunk, &total),
			  0);
		EXPECT_LE(total, ike_frag_max_msg(576, false, true));
		EXPECT_EQ(aad, 28u + 8);
		// What ike_sk_seal would add after the chunk: pad length + ICV.
		memset(buf + aad + 8 + chunk, 0, 1 + 16);
		ike_msg m;
		ike_skf f;
		ASSERT_EQ(ike_decode(buf, total, &m), 0) << num;
		ASSERT_EQ(m.chain.n, 1u);
		ASSERT_EQ(ike_parse_skf(&m.chain.pl[0], &f), 0);
		EXPECT_EQ(f.num, num);
		EXPECT_EQ(f.total, plan.count);
		EXPECT_EQ(f.first, num == 1 ? first : uint8_t(IKE_PT_NONE)); // RFC 7383 2.5
		EXPECT_EQ(f.aad_len, aad);
		EXPECT_EQ(f.len, 8 + chunk + 1 + 16);
		EXPECT_EQ(m.hdr.msgid, 1u);
		// keep the plaintext as the peer would have it after opening
		sealed.push_back(Bytes(f.body + 8, f.body + 8 + chunk));
	}
	// deliver last-to-first
	std::vector<int> order;
	for (int i = plan.count; i >= 1; i--)
		order.push_back(i);
	int rc = 0;
	for (int num : order)
		rc = add(1, uint16_t(num), plan.count, sealed[num - 1], 0, num == 1 ? first : 0);
	EXPECT_EQ(rc, 1);
	Bytes out(8192);
	size_t len;
	uint8_t got_first;
	ASSERT_EQ(ike_frag_assemble(r, out.data(), out.size(), &len, &got_first), 0);
	out.resize(len);
	EXPECT_EQ(out, in);
	EXPECT_EQ(got_first, IKE_PT_IDI);
	ike_chain c;
	ASSERT_EQ(ike_decode_inner(out.data(), out.size(), got_first, &c), 0);
	EXPECT_EQ(c.n, 3u);
	EXPECT_FALSE(r->active);
	EXPECT_TRUE(lines.empty());
}

TEST_F(Frag, BuildRefusesBadNumbersAndSmallBuffers)
{
	uint8_t first, buf[64];
	Bytes in = inner_chain(&first);
	ike_frag_plan plan;
	ike_header h = {};
	size_t a, c, t;

	ASSERT_EQ(ike_frag_compute_plan(in.size(), 1000, 8, 16, 1, &plan), 0);
	EXPECT_EQ(ike_frag_build(&h, first, in.data(), in.size(), &plan, 0, buf, sizeof(buf), &a, &c, &t),
		  -EINVAL);
	EXPECT_EQ(ike_frag_build(&h, first, in.data(), in.size(), &plan, uint16_t(plan.count + 1), buf,
				 sizeof(buf), &a, &c, &t),
		  -EINVAL);
	EXPECT_EQ(ike_frag_build(&h, first, in.data(), in.size(), &plan, 1, buf, sizeof(buf), &a, &c, &t),
		  -ENOSPC);
}

TEST_F(Frag, DuplicateIsRefused)
{
	EXPECT_EQ(add(5, 1, 2, {1, 2}, 0, IKE_PT_IDI), 0);
	EXPECT_EQ(add(5, 1, 2, {1, 2}, 0, IKE_PT_IDI), IKE_ERR_FRAG_DUPLICATE);
	EXPECT_TRUE(one_line("fragment 1/2 of message 5: duplicate fragment"));
	EXPECT_EQ(add(5, 2, 2, {3}), 1);
}

TEST_F(Frag, BadNumbersAreRefused)
{
	EXPECT_EQ(add(5, 0, 2, {1}), IKE_ERR_SKF_NUMBER);
	EXPECT_TRUE(one_line("fragment 0/2"));
	lines.clear();
	EXPECT_EQ(add(5, 3, 2, {1}), IKE_ERR_SKF_NUMBER);
	EXPECT_TRUE(one_line("fragment 3/2"));
	lines.clear();
	EXPECT_EQ(add(5, 1, IKE_FRAG_MAX + 1, {1}), IKE_ERR_FRAG_TOO_MANY);
	EXPECT_TRUE(one_line("too many fragments"));
	EXPECT_FALSE(r->active);
}

TEST_F(Frag, LowerTotalIsRefusedHigherRestarts)
{
	EXPECT_EQ(add(5, 1, 3, {1}, 0, IKE_PT_IDI), 0);
	EXPECT_EQ(add(5, 2, 3, {2}), 0);
	EXPECT_EQ(add(5, 1, 2, {1}), IKE_ERR_FRAG_TOTAL);
	EXPECT_TRUE(one_line("fragment total lower than before"));
	lines.clear();
	// re-fragmented for a smaller MTU: start over with the new set
	EXPECT_EQ(add(5, 4, 4, {4}), 0);
	EXPECT_TRUE(one_line("total 3 -> 4"));
	EXPECT_EQ(r->have, 1);
	EXPECT_EQ(add(5, 1, 4, {1}, 0, IKE_PT_IDI), 0);
	EXPECT_EQ(add(5, 2, 4, {2}), 0);
	EXPECT_EQ(add(5, 3, 4, {3}), 1);
	uint8_t out[8], first;
	size_t len;
	ASSERT_EQ(ike_frag_assemble(r, out, sizeof(out), &len, &first), 0);
	EXPECT_EQ(Bytes(out, out + len), (Bytes{1, 2, 3, 4}));
}

TEST_F(Frag, OlderMessageIsStaleNewerRestarts)
{
	EXPECT_EQ(add(7, 1, 2, {1}, 0, IKE_PT_IDI), 0);
	EXPECT_EQ(add(6, 2, 2, {2}), IKE_ERR_FRAG_STALE);
	EXPECT_TRUE(one_line("message 6: fragment of an older message"));
	lines.clear();
	EXPECT_EQ(add(8, 2, 2, {2}), 0);
	EXPECT_TRUE(one_line("message 8 started"));
	EXPECT_EQ(r->msgid, 8u);
}

TEST_F(Frag, TotalSizeIsBounded)
{
	Bytes big(IKE_FRAG_MAX_BYTES / 2, 9);
	EXPECT_EQ(add(1, 1, 3, big), 0);
	EXPECT_EQ(add(1, 2, 3, big), 0);
	EXPECT_EQ(add(1, 3, 3, {1}), IKE_ERR_FRAG_TOO_BIG);
	EXPECT_TRUE(one_line("reassembled message too big"));
	EXPECT_FALSE(r->active);
}

TEST_F(Frag, TimeoutDropsThePartialMessage)
{
	EXPECT_EQ(add(1, 1, 2, {1}, 10), 0);
	EXPECT_EQ(ike_frag_expire(r, 999), 0);
	EXPECT_TRUE(lines.empty());
	EXPECT_EQ(ike_frag_expire(r, 1000), IKE_ERR_FRAG_TIMEOUT);
	EXPECT_TRUE(one_line("fragment reassembly timed out"));
	EXPECT_FALSE(r->active);
	EXPECT_EQ(ike_frag_expire(r, 5000), 0);
}

TEST_F(Frag, LateFragmentAfterTheDeadlineStartsAfresh)
{
	EXPECT_EQ(add(1, 1, 2, {1}, 10), 0);
	EXPECT_EQ(ike_frag_add(r, 1, 2, 2, 0, (const uint8_t *)"\x02", 1, 1500, 2500), 0);
	EXPECT_TRUE(one_line("timed out"));
	EXPECT_EQ(r->have, 1);
	EXPECT_EQ(r->deadline, 2500u);
}

TEST_F(Frag, AssembleNeedsAllFragmentsAndRoom)
{
	uint8_t out[4], first;
	size_t len;

	EXPECT_EQ(ike_frag_assemble(r, out, sizeof(out), &len, &first), -EAGAIN);
	EXPECT_EQ(add(1, 1, 2, {1, 2, 3}), 0);
	EXPECT_EQ(ike_frag_assemble(r, out, sizeof(out), &len, &first), -EAGAIN);
	EXPECT_EQ(add(1, 2, 2, {4, 5}), 1);
	EXPECT_EQ(ike_frag_assemble(r, out, sizeof(out), &len, &first), -ENOSPC);
	EXPECT_TRUE(r->active);
}

} // namespace
