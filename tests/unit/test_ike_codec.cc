// IKEv2 codec: header and chain decoding, typed payload parsers and
// builders (round trips), hand-built IKE_SA_INIT messages against the RFC 7296
// byte layouts, and the exchange payload table.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "client/ike/codec.h"
#include "client/ike/proposal.h"
#include "client/ike/wire.h"
#include "client/util/log.h"

namespace {

using Bytes = std::vector<uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts)
{
	Bytes out;
	for (const Bytes &p : parts)
		out.insert(out.end(), p.begin(), p.end());
	return out;
}

Bytes fill(size_t n, uint8_t v) { return Bytes(n, v); }

// A generic payload header with a correct length, then the body.
Bytes pl(uint8_t next, const Bytes &body, uint8_t flags = 0)
{
	size_t len = body.size() + 4;
	return cat({{next, flags, uint8_t(len >> 8), uint8_t(len)}, body});
}

// An IKE header (RFC 7296 3.1) whose length covers `rest`.
Bytes hdr(uint8_t first, size_t rest_len, uint8_t exch = IKE_EXCH_IKE_SA_INIT,
	  uint8_t flags = IKE_HDR_FLAG_INITIATOR, uint8_t version = 0x20)
{
	uint32_t len = uint32_t(28 + rest_len);
	return {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, first, version, exch,
		flags, 0, 0, 0, 0, uint8_t(len >> 24), uint8_t(len >> 16),
		uint8_t(len >> 8), uint8_t(len)};
}

Bytes msg(uint8_t first, const Bytes &payloads, uint8_t exch = IKE_EXCH_IKE_SA_INIT)
{
	return cat({hdr(first, payloads.size(), exch), payloads});
}

class Codec : public ::testing::Test {
protected:
	std::vector<std::string> lines;

	static void sink(int level, const char *module, const char *m, void *arg)
	{
		(void)level;
		static_cast<Codec *>(arg)->lines.push_back(std::string(module) + ": " + m);
	}
	void SetUp() override { vlog_set_sink(sink, this); }
	void TearDown() override { vlog_set_sink(nullptr, nullptr); }

	// The refusal wrote exactly one line, and it mentions `needle`.
	::testing::AssertionResult one_line(const std::string &needle)
	{
		if (lines.size() != 1)
			return ::testing::AssertionFailure()
			       << lines.size() << " log lines instead of one";
		if (lines[0].find(needle) == std::string::npos)
			return ::testing::AssertionFailure()
			       << "'" << lines[0] << "' lacks '" << needle << "'";
		return ::testing::AssertionSuccess();
	}

	// Decode a bare chain (as after SK decryption).
	int inner(const Bytes &b, uint8_t first, ike_chain *c)
	{
		return ike_decode_inner(b.data(), b.size(), first, c);
	}
};

// Build a one-payload chain with `fn`, decode it and return the view.
template <typename F> Bytes chain_of(F fn, uint8_t *first)
{
	uint8_t buf[4096];
	ike_builder b;
	size_t len = 0;

	ike_build_init_chain(&b, buf, sizeof(buf));
	fn(&b);
	EXPECT_EQ(ike_build_finish(&b, &len), 0);
	*first = b.first;
	return Bytes(buf, buf + len);
}

// ---- header ------------------------------------------------------------------

TEST_F(Codec, TruncatedHeaderIsRefused)
{
	Bytes m = msg(IKE_PT_NONE, {});
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), 27, &d), IKE_ERR_HDR_TRUNCATED);
	EXPECT_TRUE(one_line("shorter than the IKE header"));
	EXPECT_EQ(ike_err_notify(IKE_ERR_HDR_TRUNCATED), 0); // dropped silently
}

TEST_F(Codec, OtherMajorVersionIsRefusedWithInvalidMajorVersion)
{
	Bytes m = cat({hdr(IKE_PT_NONE, 0, IKE_EXCH_IKE_SA_INIT, 0x08, 0x30)});
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_HDR_MAJOR_VERSION);
	EXPECT_TRUE(one_line("major version"));
	EXPECT_EQ(ike_err_notify(IKE_ERR_HDR_MAJOR_VERSION), IKE_N_INVALID_MAJOR_VERSION);
}

TEST_F(Codec, HigherMinorVersionIsAccepted)
{
	Bytes m = hdr(IKE_PT_NONE, 0, IKE_EXCH_INFORMATIONAL, 0x08, 0x21);
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(d.chain.n, 0u);
	EXPECT_TRUE(lines.empty());
}

TEST_F(Codec, HeaderLengthMustMatchTheDatagram)
{
	Bytes m = msg(IKE_PT_NONCE, pl(0, fill(16, 1)));
	ike_msg d;

	m.push_back(0); // one stray octet after the message
	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_HDR_LENGTH);
	EXPECT_TRUE(one_line("header says 48, got 49"));
	lines.clear();
	EXPECT_EQ(ike_decode(m.data(), m.size() - 2, &d), IKE_ERR_HDR_LENGTH);
	EXPECT_TRUE(one_line("header length"));
}

TEST_F(Codec, HeaderFieldsAreDecoded)
{
	Bytes m = msg(IKE_PT_NONE, {}, IKE_EXCH_INFORMATIONAL);
	ike_msg d;

	m[8] = 0xfe;
	m[19] = IKE_HDR_FLAG_RESPONSE;
	m[23] = 7;
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(d.hdr.spi_i, 0x0102030405060708ull);
	EXPECT_EQ(d.hdr.spi_r, 0xfe00000000000000ull);
	EXPECT_EQ(d.hdr.exchange, IKE_EXCH_INFORMATIONAL);
	EXPECT_EQ(d.hdr.flags, IKE_HDR_FLAG_RESPONSE);
	EXPECT_EQ(d.hdr.msgid, 7u);
	EXPECT_EQ(d.hdr.length, 28u);
}

// ---- chain walker --------------------------------------------------------------

TEST_F(Codec, TruncatedPayloadHeaderIsRefused)
{
	Bytes m = msg(IKE_PT_NONCE, {0, 0, 0});
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_PL_TRUNCATED);
	EXPECT_TRUE(one_line("Nonce payload (type 40) at message offset 28"));
}

TEST_F(Codec, PayloadLengthBelowFourIsRefused)
{
	Bytes m = msg(IKE_PT_NONCE, {0, 0, 0, 3, 0});
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_PL_LENGTH_SHORT);
	EXPECT_TRUE(one_line("length 3"));
}

TEST_F(Codec, PayloadLengthBeyondTheBufferIsRefused)
{
	Bytes m = msg(IKE_PT_NONCE, cat({{0, 0, 0, 40}, fill(16, 9)}));
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_PL_LENGTH_OVERRUN);
	EXPECT_TRUE(one_line("length 40, 20 octets left"));
	EXPECT_EQ(ike_err_notify(IKE_ERR_PL_LENGTH_OVERRUN), IKE_N_INVALID_SYNTAX);
}

TEST_F(Codec, SecondPayloadOverrunIsRefusedAtItsOffset)
{
	Bytes m = msg(IKE_PT_NONCE, cat({pl(IKE_PT_VENDOR, fill(16, 1)), {0, 0, 0xff, 0xff}}));
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_PL_LENGTH_OVERRUN);
	EXPECT_TRUE(one_line("Vendor ID payload (type 43) at message offset 48"));
}

TEST_F(Codec, UnknownCriticalPayloadIsRefusedWithItsType)
{
	Bytes m = msg(IKE_PT_NONCE, cat({pl(99, fill(16, 1)), pl(0, {1, 2}, 0x80)}));
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_CRITICAL_UNSUPPORTED);
	EXPECT_EQ(d.chain.bad_type, 99);
	EXPECT_TRUE(one_line("critical bit set"));
	EXPECT_EQ(ike_err_notify(IKE_ERR_CRITICAL_UNSUPPORTED),
		  IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
}

TEST_F(Codec, UnknownNonCriticalPayloadIsSkipped)
{
	Bytes m = msg(IKE_PT_NONCE, cat({pl(99, fill(16, 1)), pl(0, {1, 2})}));
	ike_msg d;

	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	ASSERT_EQ(d.chain.n, 2u);
	EXPECT_TRUE(d.chain.pl[0].known);
	EXPECT_EQ(d.chain.pl[1].type, 99);
	EXPECT_FALSE(d.chain.pl[1].known);
	EXPECT_EQ(ike_parse_any(&d.chain.pl[1]), 0);
	EXPECT_TRUE(lines.empty());
}

TEST_F(Codec, KnownCriticalPayloadIsFine)
{
	Bytes m = msg(IKE_PT_NONCE, pl(0, fill(16, 1), 0x80));
	ike_msg d;

	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_TRUE(d.chain.pl[0].critical);
}

TEST_F(Codec, DuplicateKeIsRefused)
{
	Bytes ke = {0, 14, 0, 0, 1, 2, 3, 4};
	Bytes m = msg(IKE_PT_KE, cat({pl(IKE_PT_KE, ke), pl(0, ke)}));
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_DUPLICATE);
	EXPECT_TRUE(one_line("second KE payload"));
}

TEST_F(Codec, RepeatablePayloadsMayRepeat)
{
	Bytes n = {0, 0, 0x40, 0x2e};
	Bytes m = msg(IKE_PT_NOTIFY,
		      cat({pl(IKE_PT_NOTIFY, n), pl(IKE_PT_VENDOR, n), pl(IKE_PT_VENDOR, n),
			   pl(IKE_PT_CERTREQ, {4}), pl(IKE_PT_CERTREQ, {4}),
			   pl(IKE_PT_DELETE, {1, 0, 0, 0}), pl(IKE_PT_DELETE, {1, 0, 0, 0}),
			   pl(IKE_PT_CERT, {4, 1}), pl(IKE_PT_CERT, {4, 2}), pl(0, n)}));
	ike_msg d;

	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(d.chain.n, 10u);
	EXPECT_EQ(ike_chain_count(&d.chain, IKE_PT_NOTIFY), 2u);
	EXPECT_EQ(ike_chain_count(&d.chain, IKE_PT_CERT), 2u);
	EXPECT_NE(ike_chain_find_notify(&d.chain, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED), nullptr);
	EXPECT_EQ(ike_chain_find_notify(&d.chain, IKE_N_COOKIE), nullptr);
}

TEST_F(Codec, SkMustBeLast)
{
	Bytes m = msg(IKE_PT_SK, cat({pl(IKE_PT_NONCE, fill(20, 0)), pl(0, fill(16, 1))}),
		      IKE_EXCH_IKE_AUTH);
	ike_msg d;

	// The SK's Next Payload names its first inner payload, so the second
	// outer payload is data after SK.
	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_SK_NOT_LAST);
	EXPECT_TRUE(one_line("SK payload (type 46) at message offset 28"));
}

TEST_F(Codec, SkfMustBeLast)
{
	Bytes m = msg(IKE_PT_SKF, cat({pl(IKE_PT_IDI, cat({{0, 1, 0, 1}, fill(20, 0)})),
				       {0}}),
		      IKE_EXCH_IKE_AUTH);
	ike_msg d;

	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), IKE_ERR_SK_NOT_LAST);
	EXPECT_TRUE(one_line("SKF"));
}

TEST_F(Codec, SkPayloadIsLastAndKeepsTheFirstInnerType)
{
	Bytes m = msg(IKE_PT_NOTIFY,
		      cat({pl(IKE_PT_SK, {0, 0, 0x40, 0x00}), pl(IKE_PT_IDI, fill(40, 0))}),
		      IKE_EXCH_IKE_AUTH);
	ike_msg d;
	ike_sk sk;

	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	ASSERT_EQ(d.chain.n, 2u);
	ASSERT_EQ(ike_parse_sk(&d.chain.pl[1], &sk), 0);
	EXPECT_EQ(sk.first, IKE_PT_IDI);
	EXPECT_EQ(sk.aad_len, 28u + 8 + 4);
	EXPECT_EQ(sk.len, 40u);
	EXPECT_EQ(sk.body, m.data() + 40);
}

TEST_F(Codec, EncryptedPayloadInsideSkIsMisplaced)
{
	Bytes in = cat({pl(IKE_PT_SK, fill(16, 0)), pl(0, fill(16, 0))});
	ike_chain c;

	EXPECT_EQ(inner(in, IKE_PT_NONCE, &c), IKE_ERR_MISPLACED);
	EXPECT_TRUE(one_line("SK payload (type 46) at inner offset 20"));
}

TEST_F(Codec, TrailingDataAfterTheLastPayloadIsRefused)
{
	Bytes in = cat({pl(0, fill(16, 0)), {0, 0}});
	ike_chain c;

	EXPECT_EQ(inner(in, IKE_PT_NONCE, &c), IKE_ERR_TRAILING_DATA);
	EXPECT_TRUE(one_line("2 octets after the last payload"));
}

TEST_F(Codec, TooManyPayloadsAreRefused)
{
	Bytes in;
	ike_chain c;

	for (int i = 0; i < IKE_MAX_PAYLOADS + 1; i++)
		in = cat({in, pl(i == IKE_MAX_PAYLOADS ? 0 : IKE_PT_NOTIFY, {0, 0, 0x40, 0})});
	EXPECT_EQ(inner(in, IKE_PT_NOTIFY, &c), IKE_ERR_TOO_MANY_PAYLOADS);
	EXPECT_TRUE(one_line("limit 64"));
	lines.clear();
	in.resize(in.size() - 8);
	in[in.size() - 8] = 0; // now exactly 64: the last one ends the chain
	EXPECT_EQ(inner(in, IKE_PT_NOTIFY, &c), 0);
	EXPECT_EQ(c.n, 64u);
}

TEST_F(Codec, EmptyInnerChainIsFine)
{
	ike_chain c;

	EXPECT_EQ(ike_decode_inner(nullptr, 0, IKE_PT_NONE, &c), 0);
	EXPECT_EQ(c.n, 0u);
}

// ---- SA --------------------------------------------------------------------------

Bytes xf(bool more, uint8_t type, uint16_t id, const Bytes &attrs = {})
{
	size_t len = 8 + attrs.size();
	return cat({{uint8_t(more ? 3 : 0), 0, uint8_t(len >> 8), uint8_t(len), type, 0,
		     uint8_t(id >> 8), uint8_t(id)},
		    attrs});
}

Bytes keylen(uint16_t bits) { return {0x80, 0x0e, uint8_t(bits >> 8), uint8_t(bits)}; }

Bytes prop(bool more, uint8_t num, uint8_t proto, const Bytes &spi, uint8_t ntrans,
	   const Bytes &xforms)
{
	size_t len = 8 + spi.size() + xforms.size();
	return cat({{uint8_t(more ? 2 : 0), 0, uint8_t(len >> 8), uint8_t(len), num, proto,
		     uint8_t(spi.size()), ntrans},
		    spi, xforms});
}

Bytes ike_prop_aes_gcm(bool more = false, uint8_t num = 1)
{
	return prop(more, num, IKE_PROTO_IKE, {}, 3,
		    cat({xf(true, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, keylen(256)),
			 xf(true, IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_384),
			 xf(false, IKE_XFORM_DH, IKE_DH_ECP384)}));
}

class Sa : public Codec {
protected:
	int parse(const Bytes &body, ike_sa_payload *out)
	{
		in = pl(0, body);
		EXPECT_EQ(inner(in, IKE_PT_SA, &c), 0);
		return ike_parse_sa(&c.pl[0], out);
	}
	Bytes in;
	ike_chain c;
	ike_sa_payload sa;
};

TEST_F(Sa, ParsesProposalsTransformsAndKeyLength)
{
	Bytes esp = prop(false, 2, IKE_PROTO_ESP, {0xca, 0xfe, 0xba, 0xbe}, 4,
			 cat({xf(true, IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, keylen(128)),
			      xf(true, IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, keylen(256)),
			      xf(true, IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128),
			      xf(false, IKE_XFORM_ESN, IKE_ESN_NO)}));
	Bytes body = cat({prop(true, 1, IKE_PROTO_ESP, {1, 2, 3, 4}, 2,
			       cat({xf(true, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, keylen(256)),
				    xf(false, IKE_XFORM_ESN, IKE_ESN_NO)})),
			  esp});

	ASSERT_EQ(parse(body, &sa), 0);
	ASSERT_EQ(sa.n, 2u);
	EXPECT_EQ(sa.p[0].num, 1);
	EXPECT_EQ(sa.p[1].num, 2);
	EXPECT_EQ(sa.p[1].protocol, IKE_PROTO_ESP);
	EXPECT_EQ(sa.p[1].spi_len, 4);
	EXPECT_EQ(sa.p[1].spi[0], 0xca);
	EXPECT_EQ(sa.p[1].n[IKE_XFORM_ENCR], 2);
	EXPECT_EQ(sa.p[1].x[IKE_XFORM_ENCR][1].key_bits, 256);
	EXPECT_EQ(sa.p[1].x[IKE_XFORM_INTEG][0].id, IKE_INTEG_HMAC_SHA2_256_128);
	EXPECT_EQ(sa.p[1].x[IKE_XFORM_INTEG][0].key_bits, 0);
	EXPECT_EQ(sa.p[1].n[IKE_XFORM_ESN], 1);
	EXPECT_EQ(sa.p[1].n_ignored, 0);
	EXPECT_TRUE(lines.empty());
}

TEST_F(Sa, RoundTripsToTheSameBytes)
{
	Bytes body = cat({ike_prop_aes_gcm(true, 1),
			  prop(false, 2, IKE_PROTO_IKE, {}, 5,
			       cat({xf(true, IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, keylen(128)),
				    xf(true, IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128),
				    xf(true, IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_256),
				    xf(true, IKE_XFORM_DH, IKE_DH_MODP2048),
				    xf(false, IKE_XFORM_DH, IKE_DH_CURVE25519)}))});
	uint8_t first;

	ASSERT_EQ(parse(body, &sa), 0);
	Bytes again = chain_of([&](ike_builder *b) { ike_build_sa(b, sa.p, sa.n); }, &first);
	EXPECT_EQ(first, IKE_PT_SA);
	EXPECT_EQ(again, in);
}

TEST_F(Sa, EmptySaIsRefused)
{
	EXPECT_EQ(parse({}, &sa), IKE_ERR_SA_EMPTY);
	EXPECT_TRUE(one_line("no proposal"));
}

TEST_F(Sa, TooManyProposalsAreRefused)
{
	Bytes body;

	for (int i = 1; i <= IKE_MAX_PROPOSALS + 1; i++)
		body = cat({body, ike_prop_aes_gcm(i <= IKE_MAX_PROPOSALS, uint8_t(i))});
	EXPECT_EQ(parse(body, &sa), IKE_ERR_TOO_MANY_PROPOSALS);
	EXPECT_TRUE(one_line("limit 16"));
	EXPECT_EQ(ike_err_notify(IKE_ERR_TOO_MANY_PROPOSALS), IKE_N_NO_PROPOSAL_CHOSEN);
}

TEST_F(Sa, ProposalLengthBeyondTheSaIsRefused)
{
	Bytes body = ike_prop_aes_gcm();

	body[3] += 1;
	EXPECT_EQ(parse(body, &sa), IKE_ERR_PROP_LENGTH);
	EXPECT_TRUE(one_line("SA payload (type 33) at inner offset 4"));
}

TEST_F(Sa, ProposalShorterThanItsHeaderIsRefused)
{
	EXPECT_EQ(parse({0, 0, 0, 7, 1, 1, 0, 0}, &sa), IKE_ERR_PROP_LENGTH);
	EXPECT_TRUE(one_line("length 7"));
}

TEST_F(Sa, LastFlagsMustMatchThePosition)
{
	EXPECT_EQ(parse(cat({ike_prop_aes_gcm(false, 1), ike_prop_aes_gcm(false, 2)}), &sa),
		  IKE_ERR_PROP_LAST_FLAG);
	EXPECT_TRUE(one_line("proposal after the last one"));
	lines.clear();
	EXPECT_EQ(parse(ike_prop_aes_gcm(true, 1), &sa), IKE_ERR_PROP_LAST_FLAG);
	EXPECT_TRUE(one_line("flagged \"more\""));
	lines.clear();
	Bytes bad = ike_prop_aes_gcm();
	bad[0] = 1;
	EXPECT_EQ(parse(bad, &sa), IKE_ERR_PROP_LAST_FLAG);
	EXPECT_TRUE(one_line("value 1"));
}

TEST_F(Sa, ProposalNumbersMustCountUp)
{
	EXPECT_EQ(parse(cat({ike_prop_aes_gcm(true, 1), ike_prop_aes_gcm(false, 3)}), &sa),
		  IKE_ERR_PROP_NUMBER);
	EXPECT_TRUE(one_line("number 3 after 1"));
	lines.clear();
	EXPECT_EQ(parse(ike_prop_aes_gcm(false, 0), &sa), IKE_ERR_PROP_NUMBER);
	EXPECT_TRUE(one_line("number 0"));
	lines.clear();
	// A response names the proposal it picked: any single number is fine.
	EXPECT_EQ(parse(ike_prop_aes_gcm(false, 5), &sa), 0);
	EXPECT_EQ(sa.p[0].num, 5);
}

TEST_F(Sa, UnknownProtocolIsRefused)
{
	Bytes body = ike_prop_aes_gcm();

	body[5] = 9;
	EXPECT_EQ(parse(body, &sa), IKE_ERR_PROP_PROTOCOL);
	EXPECT_TRUE(one_line("protocol 9"));
}

TEST_F(Sa, SpiSizeMustFitTheProtocol)
{
	Bytes esp = prop(false, 1, IKE_PROTO_ESP, {1, 2}, 1,
			 xf(false, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, keylen(128)));
	Bytes ike8 = prop(false, 1, IKE_PROTO_IKE, fill(8, 7), 1,
			  xf(false, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, keylen(128)));

	EXPECT_EQ(parse(esp, &sa), IKE_ERR_PROP_SPI_SIZE);
	EXPECT_TRUE(one_line("SPI size 2 for protocol 3"));
	EXPECT_EQ(parse(ike8, &sa), 0); // IKE SA rekey carries the new SPI
	EXPECT_EQ(sa.p[0].spi_len, 8);
}

TEST_F(Sa, TransformErrorsAreRefused)
{
	// length below 8
	Bytes shortx = prop(false, 1, IKE_PROTO_IKE, {}, 1, {0, 0, 0, 7, 1, 0, 0, 20});
	EXPECT_EQ(parse(shortx, &sa), IKE_ERR_XFORM_LENGTH);
	EXPECT_TRUE(one_line("length 7"));
	lines.clear();
	// length beyond the proposal
	Bytes longx = prop(false, 1, IKE_PROTO_IKE, {}, 1, {0, 0, 0, 12, 1, 0, 0, 20});
	EXPECT_EQ(parse(longx, &sa), IKE_ERR_XFORM_LENGTH);
	EXPECT_TRUE(one_line("length 12, 8 octets left in proposal"));
	lines.clear();
	// header count disagrees
	Bytes count = prop(false, 1, IKE_PROTO_IKE, {}, 2, xf(false, 1, 20, keylen(128)));
	EXPECT_EQ(parse(count, &sa), IKE_ERR_XFORM_COUNT);
	EXPECT_TRUE(one_line("header says 2 transforms, found 1"));
	lines.clear();
	// a transform after the one flagged last
	Bytes after = prop(false, 1, IKE_PROTO_IKE, {}, 2,
			   cat({xf(false, 1, 20, keylen(128)), xf(false, 4, 19)}));
	EXPECT_EQ(parse(after, &sa), IKE_ERR_XFORM_LAST_FLAG);
	EXPECT_TRUE(one_line("transform after the last one"));
	lines.clear();
	// no transforms at all
	EXPECT_EQ(parse(prop(false, 1, IKE_PROTO_IKE, {}, 0, {}), &sa), IKE_ERR_XFORM_COUNT);
	EXPECT_TRUE(one_line("found 0"));
}

TEST_F(Sa, TooManyTransformsOfOneTypeAreRefused)
{
	Bytes xs;

	for (int i = 0; i <= IKE_PROPOSAL_MAX_PER_TYPE; i++)
		xs = cat({xs, xf(i < IKE_PROPOSAL_MAX_PER_TYPE, IKE_XFORM_DH, uint16_t(14 + i))});
	EXPECT_EQ(parse(prop(false, 1, IKE_PROTO_IKE, {}, IKE_PROPOSAL_MAX_PER_TYPE + 1, xs),
			&sa),
		  IKE_ERR_TOO_MANY_XFORMS);
	EXPECT_TRUE(one_line("more than 16 transforms of type 4"));
}

TEST_F(Sa, AttributeErrorsAreRefused)
{
	Bytes cut = prop(false, 1, IKE_PROTO_IKE, {}, 1, xf(false, 1, 20, {0x80, 0x0e}));
	EXPECT_EQ(parse(cut, &sa), IKE_ERR_ATTR_LENGTH);
	EXPECT_TRUE(one_line("attribute header cut off"));
	lines.clear();
	Bytes tlv = prop(false, 1, IKE_PROTO_IKE, {}, 1, xf(false, 1, 20, {0x00, 0x10, 0x00, 0x09, 1}));
	EXPECT_EQ(parse(tlv, &sa), IKE_ERR_ATTR_LENGTH);
	EXPECT_TRUE(one_line("attribute 16 value of 9 octets, 1 left"));
	lines.clear();
	Bytes dup = prop(false, 1, IKE_PROTO_IKE, {}, 1,
			 xf(false, 1, 20, cat({keylen(128), keylen(256)})));
	EXPECT_EQ(parse(dup, &sa), IKE_ERR_ATTR_DUPLICATE);
	EXPECT_TRUE(one_line("second KEY_LENGTH"));
}

TEST_F(Sa, UnknownAttributesAndTypesAreSetAsideNotRefused)
{
	// RFC 7296 3.3.6: reject the transform, not the message.
	Bytes body = prop(false, 1, IKE_PROTO_IKE, {}, 4,
			  cat({xf(true, 1, 20, keylen(256)),
			       xf(true, 1, 20, {0x80, 0x33, 0, 1}),        // unknown TV attribute
			       xf(true, 6, 1),                             // RFC 9370 ADDKE1
			       xf(false, 4, 19, {0x00, 0x44, 0, 2, 9, 9})})); // unknown TLV attribute
	ASSERT_EQ(parse(body, &sa), 0);
	EXPECT_EQ(sa.p[0].n[IKE_XFORM_ENCR], 1);
	EXPECT_EQ(sa.p[0].n[IKE_XFORM_DH], 0);
	EXPECT_EQ(sa.p[0].n_ignored, 3);
	EXPECT_TRUE(lines.empty());
}

// ---- other payloads: round trips ------------------------------------------------------

class RoundTrip : public Codec {};

TEST_F(RoundTrip, Ke)
{
	Bytes pub = fill(97, 0x42);
	uint8_t first;
	Bytes b = chain_of([&](ike_builder *x) { ike_build_ke(x, IKE_DH_ECP384, pub.data(), pub.size()); },
			   &first);
	ike_chain c;
	ike_ke ke;

	EXPECT_EQ(b, pl(0, cat({{0, 20, 0, 0}, pub})));
	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_ke(&c.pl[0], &ke), 0);
	EXPECT_EQ(ke.group, IKE_DH_ECP384);
	EXPECT_EQ(Bytes(ke.data, ke.data + ke.len), pub);
	Bytes again = chain_of([&](ike_builder *x) { ike_build_ke(x, ke.group, ke.data, ke.len); }, &first);
	EXPECT_EQ(again, b);
}

TEST_F(RoundTrip, IdiAndIdr)
{
	const char *fqdn = "gw.lab.example";
	uint8_t first;
	Bytes b = chain_of(
		[&](ike_builder *x) {
			ike_build_id(x, IKE_PT_IDI, IKE_ID_IPV4_ADDR, "\x0a\x00\x00\x01", 4);
			ike_build_id(x, IKE_PT_IDR, IKE_ID_FQDN, fqdn, strlen(fqdn));
		},
		&first);
	ike_chain c;
	ike_id id;

	EXPECT_EQ(first, IKE_PT_IDI);
	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(c.n, 2u);
	ASSERT_EQ(ike_parse_id(&c.pl[0], &id), 0);
	EXPECT_EQ(id.type, IKE_ID_IPV4_ADDR);
	EXPECT_EQ(Bytes(id.data, id.data + id.len), (Bytes{10, 0, 0, 1}));
	EXPECT_EQ(id.body_len, 8u);
	ASSERT_EQ(ike_parse_id(&c.pl[1], &id), 0);
	EXPECT_EQ(std::string((const char *)id.data, id.len), fqdn);
	Bytes again = chain_of(
		[&](ike_builder *x) {
			ike_build_id(x, IKE_PT_IDI, IKE_ID_IPV4_ADDR, "\x0a\x00\x00\x01", 4);
			ike_build_id(x, IKE_PT_IDR, id.type, id.data, id.len);
		},
		&first);
	EXPECT_EQ(again, b);
}

TEST_F(RoundTrip, CertCertreqAuthNonceVendor)
{
	Bytes der = fill(300, 0x30), hashes = fill(40, 0xab), sig = fill(32, 0x5a),
	      nonce = fill(32, 0x11), vid = {0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc,
					     0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe, 0x5b, 0xeb};
	uint8_t first;
	auto build = [&](ike_builder *x) {
		ike_build_cert(x, IKE_CERT_X509_SIG, der.data(), der.size());
		ike_build_certreq(x, IKE_CERT_X509_SIG, hashes.data(), hashes.size());
		ike_build_auth(x, IKE_AUTH_PSK, sig.data(), sig.size());
		ike_build_nonce(x, nonce.data(), nonce.size());
		ike_build_vendor(x, vid.data(), vid.size());
	};
	Bytes b = chain_of(build, &first);
	ike_chain c;
	ike_cert cert, req;
	ike_auth auth;
	ike_nonce n;
	ike_vendor v;

	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(c.n, 5u);
	ASSERT_EQ(ike_parse_cert(&c.pl[0], &cert), 0);
	EXPECT_EQ(cert.encoding, IKE_CERT_X509_SIG);
	EXPECT_EQ(Bytes(cert.data, cert.data + cert.len), der);
	ASSERT_EQ(ike_parse_certreq(&c.pl[1], &req), 0);
	EXPECT_EQ(req.len, 40u);
	ASSERT_EQ(ike_parse_auth(&c.pl[2], &auth), 0);
	EXPECT_EQ(auth.method, IKE_AUTH_PSK);
	EXPECT_EQ(Bytes(auth.data, auth.data + auth.len), sig);
	ASSERT_EQ(ike_parse_nonce(&c.pl[3], &n), 0);
	EXPECT_EQ(Bytes(n.data, n.data + n.len), nonce);
	ASSERT_EQ(ike_parse_vendor(&c.pl[4], &v), 0);
	EXPECT_EQ(Bytes(v.data, v.data + v.len), vid);
	Bytes again = chain_of(
		[&](ike_builder *x) {
			ike_build_cert(x, cert.encoding, cert.data, cert.len);
			ike_build_certreq(x, req.encoding, req.data, req.len);
			ike_build_auth(x, auth.method, auth.data, auth.len);
			ike_build_nonce(x, n.data, n.len);
			ike_build_vendor(x, v.data, v.len);
		},
		&first);
	EXPECT_EQ(again, b);
}

TEST_F(RoundTrip, NotifyWithSpiAndData)
{
	uint8_t spi[4] = {0xc0, 0xff, 0xee, 0x00};
	uint8_t hash[20];
	uint8_t first;
	memset(hash, 0x77, sizeof(hash));
	Bytes b = chain_of(
		[&](ike_builder *x) {
			ike_build_notify(x, IKE_PROTO_ESP, spi, 4, IKE_N_REKEY_SA, nullptr, 0);
			ike_build_notify(x, 0, nullptr, 0, IKE_N_NAT_DETECTION_SOURCE_IP, hash, 20);
		},
		&first);
	ike_chain c;
	ike_notify n;

	EXPECT_EQ(Bytes(b.begin(), b.begin() + 12),
		  (Bytes{IKE_PT_NOTIFY, 0, 0, 12, 3, 4, 0x40, 0x09, 0xc0, 0xff, 0xee, 0x00}));
	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_notify(&c.pl[0], &n), 0);
	EXPECT_EQ(n.protocol, IKE_PROTO_ESP);
	EXPECT_EQ(n.type, IKE_N_REKEY_SA);
	EXPECT_EQ(Bytes(n.spi, n.spi + n.spi_len), Bytes(spi, spi + 4));
	EXPECT_EQ(n.len, 0u);
	ASSERT_EQ(ike_parse_notify(&c.pl[1], &n), 0);
	EXPECT_EQ(n.type, IKE_N_NAT_DETECTION_SOURCE_IP);
	EXPECT_EQ(n.len, 20u);
	Bytes again = chain_of(
		[&](ike_builder *x) {
			ike_build_notify(x, IKE_PROTO_ESP, spi, 4, IKE_N_REKEY_SA, nullptr, 0);
			ike_build_notify(x, n.protocol, n.spi, n.spi_len, n.type, n.data, n.len);
		},
		&first);
	EXPECT_EQ(again, b);
}

TEST_F(RoundTrip, NotifyDataHelpers)
{
	uint8_t group[2] = {0, 19}, life[4] = {0, 0, 0x0e, 0x10},
		algs[8] = {0, 2, 0, 3, 0, 4, 0, 5}, keep[4] = {0x80, 1, 0, 0};
	uint8_t first;
	Bytes b = chain_of(
		[&](ike_builder *x) {
			ike_build_notify(x, 0, nullptr, 0, IKE_N_INVALID_KE_PAYLOAD, group, 2);
			ike_build_notify(x, 0, nullptr, 0, IKE_N_AUTH_LIFETIME, life, 4);
			ike_build_notify(x, 0, nullptr, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, algs, 8);
			ike_build_notify(x, 0, nullptr, 0, IKE_N_KEEP_OLD_IKE_SA, keep, 4);
		},
		&first);
	ike_chain c;
	ike_notify n;
	uint16_t g, list[8];
	uint32_t secs;
	size_t count;
	bool q;
	uint8_t code;

	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_notify(&c.pl[0], &n), 0);
	ASSERT_EQ(ike_notify_invalid_ke(&n, &g), 0);
	EXPECT_EQ(g, 19);
	EXPECT_EQ(ike_notify_u32(&n, &secs), -EINVAL); // wrong type
	ASSERT_EQ(ike_parse_notify(&c.pl[1], &n), 0);
	ASSERT_EQ(ike_notify_u32(&n, &secs), 0);
	EXPECT_EQ(secs, 3600u);
	ASSERT_EQ(ike_parse_notify(&c.pl[2], &n), 0);
	ASSERT_EQ(ike_notify_hash_algs(&n, list, 3, &count), 0);
	EXPECT_EQ(count, 3u);
	EXPECT_EQ(list[2], IKE_HASH_SHA2_512);
	ASSERT_EQ(ike_parse_notify(&c.pl[3], &n), 0);
	ASSERT_EQ(ike_notify_keep_old(&n, &q, &code), 0);
	EXPECT_TRUE(q);
	EXPECT_EQ(code, IKE_KEEP_OLD_UNUSED);
	EXPECT_TRUE(lines.empty());
}

TEST_F(RoundTrip, Delete)
{
	uint8_t spis[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t first;
	Bytes b = chain_of(
		[&](ike_builder *x) {
			ike_build_delete(x, IKE_PROTO_ESP, 4, spis, 2);
			ike_build_delete(x, IKE_PROTO_IKE, 0, nullptr, 0);
		},
		&first);
	ike_chain c;
	ike_delete d;

	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_delete(&c.pl[0], &d), 0);
	EXPECT_EQ(d.protocol, IKE_PROTO_ESP);
	EXPECT_EQ(d.n_spi, 2);
	EXPECT_EQ(Bytes(d.spis, d.spis + 8), Bytes(spis, spis + 8));
	ASSERT_EQ(ike_parse_delete(&c.pl[1], &d), 0);
	EXPECT_EQ(d.protocol, IKE_PROTO_IKE);
	EXPECT_EQ(d.n_spi, 0);
}

TEST_F(RoundTrip, TrafficSelectorsIpv4AndIpv6)
{
	ike_ts ts[2] = {};
	uint8_t first;

	ts[0].type = IKE_TS_IPV4_ADDR_RANGE;
	ts[0].ip_proto = 0;
	ts[0].start_port = 0;
	ts[0].end_port = 65535;
	memcpy(ts[0].start, "\x0a\x00\x00\x00", 4);
	memcpy(ts[0].end, "\x0a\x00\x00\xff", 4);
	ts[1].type = IKE_TS_IPV6_ADDR_RANGE;
	ts[1].ip_proto = 17;
	ts[1].start_port = 53;
	ts[1].end_port = 53;
	memset(ts[1].start, 0, 16);
	ts[1].start[0] = 0xfd;
	memset(ts[1].end, 0xff, 16);
	ts[1].end[0] = 0xfd;
	Bytes b = chain_of([&](ike_builder *x) { ike_build_ts(x, IKE_PT_TSI, ts, 2); }, &first);
	ike_chain c;
	ike_ts_list l;

	// RFC 7296 3.13.1 layout of the first selector
	EXPECT_EQ(Bytes(b.begin() + 4, b.begin() + 24),
		  (Bytes{2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 0xff}));
	EXPECT_EQ(b.size(), 4u + 4 + 16 + 40);
	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_ts(&c.pl[0], &l), 0);
	ASSERT_EQ(l.n, 2u);
	EXPECT_EQ(memcmp(&l.ts[0], &ts[0], sizeof(ts[0])), 0);
	EXPECT_EQ(memcmp(&l.ts[1], &ts[1], sizeof(ts[1])), 0);
	Bytes again = chain_of([&](ike_builder *x) { ike_build_ts(x, IKE_PT_TSI, l.ts, l.n); }, &first);
	EXPECT_EQ(again, b);
}

TEST_F(RoundTrip, ConfigurationPayload)
{
	ike_cp_attr a[5] = {
		{IKE_CP_INTERNAL_IP4_ADDRESS, 4, (const uint8_t *)"\x0a\x0a\x00\x02"},
		{IKE_CP_INTERNAL_IP4_DNS, 4, (const uint8_t *)"\x0a\x0a\x00\x01"},
		{IKE_CP_INTERNAL_IP6_ADDRESS, 17,
		 (const uint8_t *)"\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x40"},
		{IKE_CP_INTERNAL_DNS_DOMAIN, 7, (const uint8_t *)"lab.dev"},
		{IKE_CP_APPLICATION_VERSION, 0, nullptr},
	};
	uint8_t first;
	Bytes b = chain_of([&](ike_builder *x) { ike_build_cp(x, IKE_CFG_REPLY, a, 5); }, &first);
	ike_chain c;
	ike_cp cp;

	EXPECT_EQ(Bytes(b.begin() + 4, b.begin() + 16),
		  (Bytes{2, 0, 0, 0, 0, 1, 0, 4, 10, 10, 0, 2}));
	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_cp(&c.pl[0], &cp), 0);
	EXPECT_EQ(cp.cfg_type, IKE_CFG_REPLY);
	ASSERT_EQ(cp.n, 5u);
	for (unsigned i = 0; i < 5; i++) {
		EXPECT_EQ(cp.a[i].type, a[i].type);
		ASSERT_EQ(cp.a[i].len, a[i].len);
		if (a[i].len) {
			EXPECT_EQ(memcmp(cp.a[i].val, a[i].val, a[i].len), 0);
		}
	}
	Bytes again = chain_of([&](ike_builder *x) { ike_build_cp(x, cp.cfg_type, cp.a, cp.n); }, &first);
	EXPECT_EQ(again, b);
}

TEST_F(RoundTrip, Eap)
{
	// EAP-Request/Identity (RFC 3748 5.1): code 1, id 7, length 5, type 1
	Bytes eap = {1, 7, 0, 5, 1};
	uint8_t first;
	Bytes b = chain_of([&](ike_builder *x) { ike_build_eap(x, eap.data(), eap.size()); }, &first);
	ike_chain c;
	ike_eap e;

	ASSERT_EQ(inner(b, first, &c), 0);
	ASSERT_EQ(ike_parse_eap(&c.pl[0], &e), 0);
	EXPECT_EQ(e.code, 1);
	EXPECT_EQ(e.id, 7);
	EXPECT_EQ(e.type, 1);
	EXPECT_EQ(Bytes(e.msg, e.msg + e.len), eap);
	Bytes again = chain_of([&](ike_builder *x) { ike_build_eap(x, e.msg, e.len); }, &first);
	EXPECT_EQ(again, b);
	// the builder refuses a message whose own length disagrees
	ike_builder bb;
	uint8_t buf[64];
	ike_build_init_chain(&bb, buf, sizeof(buf));
	Bytes bad = {3, 7, 0, 9};
	EXPECT_EQ(ike_build_eap(&bb, bad.data(), bad.size()), -EINVAL);
}

TEST_F(RoundTrip, SkfPayload)
{
	Bytes in = pl(IKE_PT_IDI, cat({{0, 2, 0, 5}, fill(24, 0xee)}));
	ike_chain c;
	ike_skf f;

	// outer chain of a message: SKF last; its Next Payload is the first inner
	Bytes m = msg(IKE_PT_SKF, in, IKE_EXCH_IKE_AUTH);
	ike_msg d;
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	ASSERT_EQ(ike_parse_skf(&d.chain.pl[0], &f), 0);
	EXPECT_EQ(f.num, 2);
	EXPECT_EQ(f.total, 5);
	EXPECT_EQ(f.first, IKE_PT_IDI);
	EXPECT_EQ(f.aad_len, 28u + 4 + 4);
	EXPECT_EQ(f.len, 24u);
	(void)c;
}

// ---- other payloads: refusals ----------------------------------------------------------

class Refuse : public Codec {
protected:
	// Parse `body` as payload `type` through the dispatcher.
	int parse(uint8_t type, const Bytes &body)
	{
		in = pl(0, body);
		EXPECT_EQ(inner(in, type, &c), 0);
		return ike_parse_any(&c.pl[0]);
	}
	Bytes in;
	ike_chain c;
};

TEST_F(Refuse, KeWithoutData)
{
	EXPECT_EQ(parse(IKE_PT_KE, {0, 14, 0, 0}), IKE_ERR_KE_LENGTH);
	EXPECT_TRUE(one_line("KE payload (type 34) at inner offset 4"));
}

TEST_F(Refuse, IdLengths)
{
	EXPECT_EQ(parse(IKE_PT_IDI, {1, 0, 0}), IKE_ERR_ID_LENGTH);
	EXPECT_TRUE(one_line("body of 3 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_IDI, {1, 0, 0, 0, 10, 0, 0}), IKE_ERR_ID_LENGTH);
	EXPECT_TRUE(one_line("IPv4 identity of 3 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_IDR, cat({{5, 0, 0, 0}, fill(15, 0)})), IKE_ERR_ID_LENGTH);
	EXPECT_TRUE(one_line("IPv6 identity of 15 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_IDR, {2, 0, 0, 0}), IKE_ERR_ID_LENGTH);
	EXPECT_TRUE(one_line("empty identity of type 2"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_IDR, {13, 0, 0, 0, 1}), IKE_ERR_ID_LENGTH);
	EXPECT_TRUE(one_line("ID_NULL with 1 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_IDR, {13, 0, 0, 0}), 0);
}

TEST_F(Refuse, CertAndCertreqLengths)
{
	EXPECT_EQ(parse(IKE_PT_CERT, {4}), IKE_ERR_CERT_LENGTH);
	EXPECT_TRUE(one_line("CERT payload"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CERTREQ, {}), IKE_ERR_CERTREQ_LENGTH);
	EXPECT_TRUE(one_line("no encoding octet"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CERTREQ, cat({{4}, fill(21, 1)})), IKE_ERR_CERTREQ_LENGTH);
	EXPECT_TRUE(one_line("21 octets is not a list of SHA-1 hashes"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CERTREQ, {4}), 0); // no CA hashes: "any"
}

TEST_F(Refuse, AuthAndNonceLengths)
{
	EXPECT_EQ(parse(IKE_PT_AUTH, {2, 0, 0, 0}), IKE_ERR_AUTH_LENGTH);
	EXPECT_TRUE(one_line("AUTH payload"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NONCE, fill(15, 1)), IKE_ERR_NONCE_LENGTH);
	EXPECT_TRUE(one_line("15 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NONCE, fill(257, 1)), IKE_ERR_NONCE_LENGTH);
	EXPECT_TRUE(one_line("257 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NONCE, fill(256, 1)), 0);
}

TEST_F(Refuse, NotifyErrors)
{
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x40}), IKE_ERR_NOTIFY_LENGTH);
	EXPECT_TRUE(one_line("body of 3 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {3, 3, 0x40, 0x09, 1, 2, 3}), IKE_ERR_NOTIFY_SPI_SIZE);
	EXPECT_TRUE(one_line("REKEY_SA with SPI size 3"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {3, 4, 0x40, 0x09, 1, 2, 3}), IKE_ERR_NOTIFY_LENGTH);
	EXPECT_TRUE(one_line("SPI of 4 octets in a body of 7"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x40, 0x09}), IKE_ERR_NOTIFY_SPI_SIZE);
	EXPECT_TRUE(one_line("REKEY_SA with SPI size 0"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, cat({{0, 0, 0x40, 0x04}, fill(19, 0)})),
		  IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("NAT_DETECTION_SOURCE_IP with 19 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x40, 0x06}), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("COOKIE with 0 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, cat({{0, 0, 0x40, 0x11}, fill(7, 0)})), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("COOKIE2 with 7 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0, 17, 0}), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("INVALID_KE_PAYLOAD with 1 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x40, 0x2f, 0, 2, 0}), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("odd length 3"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0xc0, 0x00, 0x80, 0}), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("KEEP_OLD_IKE_SA with 2 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x40, 0x0d, 10, 0, 0}), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("ADDITIONAL_IP4_ADDRESS with 3 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x40, 0x13, 0, 1}), IKE_ERR_NOTIFY_DATA);
	EXPECT_TRUE(one_line("AUTH_LIFETIME"));
	lines.clear();
	// unknown status types and their data pass through
	EXPECT_EQ(parse(IKE_PT_NOTIFY, {0, 0, 0x9f, 0x00, 1, 2, 3}), 0);
}

TEST_F(Refuse, DeleteErrors)
{
	EXPECT_EQ(parse(IKE_PT_DELETE, {3, 4, 0}), IKE_ERR_DELETE_LENGTH);
	EXPECT_TRUE(one_line("body of 3 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_DELETE, {3, 4, 0, 2, 1, 2, 3, 4}), IKE_ERR_DELETE_LENGTH);
	EXPECT_TRUE(one_line("2 SPIs need 8 octets, body has 4"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_DELETE, {3, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}),
		  IKE_ERR_DELETE_SPI_SIZE);
	EXPECT_TRUE(one_line("protocol 3 with SPI size 8"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_DELETE, {1, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}),
		  IKE_ERR_DELETE_SPI_SIZE);
	EXPECT_TRUE(one_line("IKE SA delete with SPI size 8"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_DELETE, {7, 4, 0, 0}), IKE_ERR_DELETE_SPI_SIZE);
	EXPECT_TRUE(one_line("unknown protocol 7"));
}

Bytes ts4(uint16_t len_field = 16)
{
	return {7, 0, uint8_t(len_field >> 8), uint8_t(len_field), 0, 0, 0xff, 0xff,
		10, 0, 0, 0, 10, 0, 0, 0xff};
}

TEST_F(Refuse, TrafficSelectorErrors)
{
	EXPECT_EQ(parse(IKE_PT_TSI, {1, 0}), IKE_ERR_TS_LENGTH);
	EXPECT_TRUE(one_line("TSi payload (type 44)"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_TSI, {0, 0, 0, 0}), IKE_ERR_TS_COUNT);
	EXPECT_TRUE(one_line("no traffic selector"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_TSR, cat({{2, 0, 0, 0}, ts4()})), IKE_ERR_TS_COUNT);
	EXPECT_TRUE(one_line("selector 2 of 2 missing"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_TSR, cat({{1, 0, 0, 0}, ts4(), ts4()})), IKE_ERR_TS_COUNT);
	EXPECT_TRUE(one_line("16 octets after 1 selectors"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_TSR, cat({{1, 0, 0, 0}, ts4(40)})), IKE_ERR_TS_LENGTH);
	EXPECT_TRUE(one_line("type 7 with length 40"));
	lines.clear();
	Bytes v6 = cat({{8, 0, 0, 40}, fill(36, 0)});
	v6.resize(30);
	EXPECT_EQ(parse(IKE_PT_TSR, cat({{1, 0, 0, 0}, v6})), IKE_ERR_TS_LENGTH);
	EXPECT_TRUE(one_line("length 40, 26 octets left"));
	lines.clear();
	Bytes fc = ts4();
	fc[0] = 9; // TS_FC_ADDR_RANGE (RFC 4595)
	EXPECT_EQ(parse(IKE_PT_TSR, cat({{1, 0, 0, 0}, fc})), IKE_ERR_TS_TYPE);
	EXPECT_TRUE(one_line("type 9"));
	EXPECT_EQ(ike_err_notify(IKE_ERR_TS_TYPE), IKE_N_TS_UNACCEPTABLE);
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_TSR, cat({{IKE_MAX_TS + 1, 0, 0, 0}, ts4()})), IKE_ERR_TOO_MANY_TS);
	EXPECT_TRUE(one_line("17 selectors, limit 16"));
}

TEST_F(Refuse, SkAndSkfErrors)
{
	ike_sk sk;
	ike_skf f;

	in = pl(0, {});
	ASSERT_EQ(inner(in, IKE_PT_NONCE, &c), 0); // a view to retype
	c.pl[0].type = IKE_PT_SK;
	EXPECT_EQ(ike_parse_sk(&c.pl[0], &sk), IKE_ERR_SK_LENGTH);
	EXPECT_TRUE(one_line("SK payload"));
	lines.clear();
	Bytes m = msg(IKE_PT_SKF, pl(0, {0, 3, 0, 2, 9}), IKE_EXCH_IKE_AUTH);
	ike_msg d;
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(ike_parse_skf(&d.chain.pl[0], &f), IKE_ERR_SKF_NUMBER);
	EXPECT_TRUE(one_line("fragment 3 of 2"));
	lines.clear();
	m = msg(IKE_PT_SKF, pl(0, {0, 0, 0, 2, 9}), IKE_EXCH_IKE_AUTH);
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(ike_parse_skf(&d.chain.pl[0], &f), IKE_ERR_SKF_NUMBER);
	EXPECT_TRUE(one_line("fragment 0 of 2"));
	lines.clear();
	m = msg(IKE_PT_SKF, pl(0, {0, 1, 0, 1}), IKE_EXCH_IKE_AUTH);
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(ike_parse_skf(&d.chain.pl[0], &f), IKE_ERR_SKF_LENGTH);
	EXPECT_TRUE(one_line("body of 4 octets"));
}

TEST_F(Refuse, ConfigurationErrors)
{
	EXPECT_EQ(parse(IKE_PT_CP, {1, 0}), IKE_ERR_CP_LENGTH);
	EXPECT_TRUE(one_line("CP payload"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CP, {5, 0, 0, 0}), IKE_ERR_CP_TYPE);
	EXPECT_TRUE(one_line("CFG type 5"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CP, {2, 0, 0, 0, 0, 1, 0}), IKE_ERR_CP_ATTR_LENGTH);
	EXPECT_TRUE(one_line("attribute header cut off"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CP, {2, 0, 0, 0, 0, 1, 0, 4, 10, 0}), IKE_ERR_CP_ATTR_LENGTH);
	EXPECT_TRUE(one_line("attribute 1 of 4 octets, 2 left"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CP, {2, 0, 0, 0, 0, 1, 0, 3, 10, 0, 0}), IKE_ERR_CP_ATTR_LENGTH);
	EXPECT_TRUE(one_line("attribute 1 cannot have 3 octets"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_CP, cat({{2, 0, 0, 0, 0, 8, 0, 16}, fill(16, 0)})),
		  IKE_ERR_CP_ATTR_LENGTH);
	EXPECT_TRUE(one_line("attribute 8 cannot have 16 octets"));
	lines.clear();
	Bytes many = {1, 0, 0, 0};
	for (int i = 0; i <= IKE_MAX_CP_ATTRS; i++)
		many = cat({many, {0, 3, 0, 0}});
	EXPECT_EQ(parse(IKE_PT_CP, many), IKE_ERR_TOO_MANY_CP_ATTRS);
	EXPECT_TRUE(one_line("limit 32"));
	lines.clear();
	// the reserved bit of the attribute type is ignored; unknown types kept
	EXPECT_EQ(parse(IKE_PT_CP, {1, 0, 0, 0, 0x80, 1, 0, 0, 0x70, 0x00, 0, 1, 9}), 0);
}

TEST_F(Refuse, EapErrors)
{
	EXPECT_EQ(parse(IKE_PT_EAP, {3, 1, 0}), IKE_ERR_EAP_LENGTH);
	EXPECT_TRUE(one_line("EAP payload"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_EAP, {1, 1, 0, 9, 1}), IKE_ERR_EAP_LENGTH);
	EXPECT_TRUE(one_line("EAP length 9 in a body of 5"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_EAP, {2, 1, 0, 4}), IKE_ERR_EAP_LENGTH);
	EXPECT_TRUE(one_line("code 2 without a type"));
	lines.clear();
	EXPECT_EQ(parse(IKE_PT_EAP, {3, 1, 0, 4}), 0); // EAP-Success
}

TEST_F(Refuse, ParsersRefuseViewsOfAnotherType)
{
	ike_ke ke;
	ike_sa_payload sa;

	in = pl(0, fill(16, 0));
	ASSERT_EQ(inner(in, IKE_PT_NONCE, &c), 0);
	EXPECT_EQ(ike_parse_ke(&c.pl[0], &ke), -EINVAL);
	EXPECT_EQ(ike_parse_sa(&c.pl[0], &sa), -EINVAL);
}

// ---- hand-built IKE_SA_INIT against the RFC 7296 layouts -------------------------------------

// strongSwan's Vendor ID (MD5 of "strongSwan"), as its charon sends it.
const Bytes kStrongswanVid = {0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc,
			      0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe, 0x5b, 0xeb};

TEST_F(Codec, BuildsAnIkeSaInitRequestByteForByte)
{
	ike_proposal p = {};
	char err[128];
	size_t n = 0, len = 0;
	uint8_t buf[1024];
	ike_builder b;
	ike_header h = {};
	Bytes pub = fill(96, 0xaa), nonce = fill(32, 0x55), natd_s = fill(20, 0x01),
	      natd_d = fill(20, 0x02), hashes = {0, 2, 0, 3, 0, 4, 0, 5};

	ASSERT_EQ(ike_proposals_parse("aes256gcm16-prfsha384-ecp384", IKE_PROTO_IKE, &p, 1,
				      &n, err, sizeof(err)),
		  0);
	h.spi_i = 0x0102030405060708ull;
	h.exchange = IKE_EXCH_IKE_SA_INIT;
	h.flags = IKE_HDR_FLAG_INITIATOR;
	ike_build_init(&b, buf, sizeof(buf), &h);
	ike_build_sa(&b, &p, 1);
	ike_build_ke(&b, IKE_DH_ECP384, pub.data(), pub.size());
	ike_build_nonce(&b, nonce.data(), nonce.size());
	ike_build_notify(&b, 0, nullptr, 0, IKE_N_NAT_DETECTION_SOURCE_IP, natd_s.data(), 20);
	ike_build_notify(&b, 0, nullptr, 0, IKE_N_NAT_DETECTION_DESTINATION_IP, natd_d.data(), 20);
	ike_build_notify(&b, 0, nullptr, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, nullptr, 0);
	ike_build_notify(&b, 0, nullptr, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, hashes.data(), 8);
	ike_build_vendor(&b, kStrongswanVid.data(), kStrongswanVid.size());
	ASSERT_EQ(ike_build_finish(&b, &len), 0);

	Bytes expect = cat({
		// header (3.1): SPIi, SPIr, next SA, version 2.0, IKE_SA_INIT, I, msgid 0, length 308
		{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0,
		 0, 0, 0x01, 0x34},
		// SA (3.3): next KE, length 40; proposal 1, IKE, no SPI, 3 transforms
		{34, 0, 0, 40, 0, 0, 0, 36, 1, 1, 0, 3},
		// ENCR AES_GCM_16 with Key Length 256 (3.3.2, 3.3.5)
		{3, 0, 0, 12, 1, 0, 0, 20, 0x80, 0x0e, 0x01, 0x00},
		// PRF HMAC_SHA2_384
		{3, 0, 0, 8, 2, 0, 0, 6},
		// D-H ecp384, last transform
		{0, 0, 0, 8, 4, 0, 0, 20},
		// KE (3.4): next Nonce, length 104, group 20, reserved
		{40, 0, 0, 104, 0, 20, 0, 0}, pub,
		// Nonce (3.9): next Notify, length 36
		{41, 0, 0, 36}, nonce,
		// Notify (3.10): protocol 0, SPI size 0, NAT_DETECTION_SOURCE_IP 16388
		{41, 0, 0, 28, 0, 0, 0x40, 0x04}, natd_s,
		{41, 0, 0, 28, 0, 0, 0x40, 0x05}, natd_d,
		// IKEV2_FRAGMENTATION_SUPPORTED 16430 (RFC 7383 2.3)
		{41, 0, 0, 8, 0, 0, 0x40, 0x2e},
		// SIGNATURE_HASH_ALGORITHMS 16431 (RFC 7427 4), then the Vendor ID
		{43, 0, 0, 16, 0, 0, 0x40, 0x2f}, hashes,
		{0, 0, 0, 20}, kStrongswanVid,
	});
	EXPECT_EQ(Bytes(buf, buf + len), expect);

	ike_msg d;
	ASSERT_EQ(ike_decode(buf, len, &d), 0);
	EXPECT_EQ(d.chain.n, 8u);
	for (unsigned i = 0; i < d.chain.n; i++)
		EXPECT_EQ(ike_parse_any(&d.chain.pl[i]), 0) << "payload " << i;
	EXPECT_EQ(ike_check_payloads(IKE_MSG_SA_INIT_REQ, nullptr, &d.chain), 0);
	EXPECT_TRUE(lines.empty());
}

// An IKE_SA_INIT response as strongSwan 5.9 orders it: SA KE No N(NATD_S_IP)
// N(NATD_D_IP) CERTREQ N(FRAG_SUP) N(HASH_ALG) N(CHDLESS_SUP) N(MULT_AUTH) V.
Bytes sa_init_response()
{
	Bytes body = cat({
		{34, 0, 0, 40, 0, 0, 0, 36, 1, 1, 0, 3},
		{3, 0, 0, 12, 1, 0, 0, 20, 0x80, 0x0e, 0x01, 0x00},
		{3, 0, 0, 8, 2, 0, 0, 6},
		{0, 0, 0, 8, 4, 0, 0, 20},
		{40, 0, 0, 104, 0, 20, 0, 0}, fill(96, 0xbb),
		{41, 0, 0, 36}, fill(32, 0x66),
		{41, 0, 0, 28, 0, 0, 0x40, 0x04}, fill(20, 3),
		{38, 0, 0, 28, 0, 0, 0x40, 0x05}, fill(20, 4),
		{41, 0, 0, 25, 4}, fill(20, 0xca),
		{41, 0, 0, 8, 0, 0, 0x40, 0x2e},
		{41, 0, 0, 16, 0, 0, 0x40, 0x2f, 0, 2, 0, 3, 0, 4, 0, 5},
		{41, 0, 0, 8, 0, 0, 0x40, 0x22},
		{43, 0, 0, 8, 0, 0, 0x40, 0x14},
		{0, 0, 0, 20}, kStrongswanVid,
	});
	Bytes h = hdr(IKE_PT_SA, body.size(), IKE_EXCH_IKE_SA_INIT, IKE_HDR_FLAG_RESPONSE);
	for (int i = 0; i < 8; i++)
		h[8 + i] = uint8_t(0xa1 + i);
	return cat({h, body});
}

TEST_F(Codec, DecodesAStrongswanStyleIkeSaInitResponse)
{
	Bytes m = sa_init_response();
	ike_msg d;
	ike_sa_payload sa;
	ike_ke ke;
	ike_cert req;
	ike_proposal offer[2];
	size_t n = 0, which = 9;

	ASSERT_EQ(m.size(), 349u);
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	ASSERT_EQ(d.chain.n, 11u);
	EXPECT_EQ(d.hdr.spi_r, 0xa1a2a3a4a5a6a7a8ull);
	EXPECT_EQ(d.hdr.flags, IKE_HDR_FLAG_RESPONSE);
	for (unsigned i = 0; i < d.chain.n; i++)
		EXPECT_EQ(ike_parse_any(&d.chain.pl[i]), 0) << "payload " << i;
	EXPECT_EQ(ike_check_payloads(IKE_MSG_SA_INIT_RESP, nullptr, &d.chain), 0);
	ASSERT_EQ(ike_parse_sa(ike_chain_find(&d.chain, IKE_PT_SA), &sa), 0);
	ASSERT_EQ(ike_parse_ke(ike_chain_find(&d.chain, IKE_PT_KE), &ke), 0);
	EXPECT_EQ(ke.group, IKE_DH_ECP384);
	ASSERT_EQ(ike_parse_certreq(ike_chain_find(&d.chain, IKE_PT_CERTREQ), &req), 0);
	EXPECT_EQ(req.len, 20u);
	ASSERT_EQ(ike_proposals_parse("aes128gcm16-prfsha256-ecp256,aes256gcm16-prfsha384-ecp384",
				      IKE_PROTO_IKE, offer, 2, &n, nullptr, 0),
		  0);
	// The responder answers with the number of the proposal it picked (1),
	// which is our first: the ecp384 choice does not fit it.
	EXPECT_EQ(ike_proposal_match(offer, n, &sa.p[0], &which), IKE_ERR_PROPOSAL_MISMATCH);
	sa.p[0].num = 2;
	EXPECT_EQ(ike_proposal_match(offer, n, &sa.p[0], &which), 0);
	EXPECT_EQ(which, 1u);
}

// ---- builder details -------------------------------------------------------------------------

TEST_F(Codec, BuilderReportsNoSpaceOnce)
{
	uint8_t buf[40];
	ike_builder b;
	ike_header h = {};
	Bytes nonce = fill(32, 1);
	size_t len;

	ike_build_init(&b, buf, sizeof(buf), &h);
	EXPECT_EQ(ike_build_nonce(&b, nonce.data(), nonce.size()), -ENOSPC);
	EXPECT_EQ(ike_build_vendor(&b, nonce.data(), 1), -ENOSPC);
	EXPECT_EQ(ike_build_finish(&b, &len), -ENOSPC);
}

TEST_F(Codec, BuilderRefusesBadArguments)
{
	uint8_t buf[256];
	ike_builder b;
	ike_ts ts = {};
	ike_proposal empty = {};

	ike_build_init_chain(&b, buf, sizeof(buf));
	EXPECT_EQ(ike_build_id(&b, IKE_PT_AUTH, 1, "x", 1), -EINVAL);
	ike_build_init_chain(&b, buf, sizeof(buf));
	EXPECT_EQ(ike_build_ts(&b, IKE_PT_TSI, &ts, 1), -EINVAL); // type 0
	ike_build_init_chain(&b, buf, sizeof(buf));
	EXPECT_EQ(ike_build_sa(&b, &empty, 1), -EINVAL); // no transforms
	ike_build_init_chain(&b, buf, sizeof(buf));
	EXPECT_EQ(ike_build_sa(&b, &empty, 0), -EINVAL);
}

TEST_F(Codec, PayloadOver64KiBIsRefused)
{
	std::vector<uint8_t> buf(70000), big(65532, 1);
	ike_builder b;

	ike_build_init_chain(&b, buf.data(), buf.size());
	EXPECT_EQ(ike_build_vendor(&b, big.data(), big.size()), -EMSGSIZE);
	ike_build_init_chain(&b, buf.data(), buf.size());
	EXPECT_EQ(ike_build_vendor(&b, big.data(), big.size() - 1), 0);
}

TEST_F(Codec, SkBuilderLaysOutWhatSealingNeeds)
{
	uint8_t buf[512];
	ike_builder b;
	ike_header h = {};
	size_t aad, inner_len, total;
	const char *id = "client.lab";
	Bytes auth = fill(48, 0x3c);

	h.spi_i = 1;
	h.spi_r = 2;
	h.exchange = IKE_EXCH_IKE_AUTH;
	h.flags = IKE_HDR_FLAG_INITIATOR;
	h.msgid = 1;
	ike_build_init(&b, buf, sizeof(buf), &h);
	ASSERT_EQ(ike_build_sk_begin(&b, 8), 0);
	ike_build_id(&b, IKE_PT_IDI, IKE_ID_FQDN, id, strlen(id));
	ike_build_auth(&b, IKE_AUTH_PSK, auth.data(), auth.size());
	ike_build_notify(&b, 0, nullptr, 0, IKE_N_MOBIKE_SUPPORTED, nullptr, 0);
	EXPECT_EQ(ike_build_sk_inner_len(&b), 18u + 56 + 8);
	// AES-GCM-16: IV 8, no padding needed beyond the pad length octet, ICV 16
	ASSERT_EQ(ike_build_sk_close(&b, 8 + 1 + 16, &aad, &inner_len, &total), 0);
	EXPECT_EQ(aad, 32u);
	EXPECT_EQ(inner_len, 82u);
	EXPECT_EQ(total, 28u + 4 + 8 + 82 + 1 + 16);
	EXPECT_EQ(buf[IKE_HDR_OFF_NEXT], IKE_PT_SK);
	EXPECT_EQ(buf[28], IKE_PT_IDI); // SK's Next Payload: the first inner payload
	EXPECT_EQ(get_be16(buf + 30), total - 28);
	EXPECT_EQ(get_be32(buf + IKE_HDR_OFF_LENGTH), total);

	// As the peer sees it after decryption: the outer chain is SK alone and
	// the inner bytes walk with the SK's Next Payload.
	memset(buf + aad + 8 + inner_len, 0, 17); // pad length 0 and a stand-in ICV
	ike_msg d;
	ike_sk sk;
	ike_chain in;
	ASSERT_EQ(ike_decode(buf, total, &d), 0);
	ASSERT_EQ(ike_parse_sk(&d.chain.pl[0], &sk), 0);
	EXPECT_EQ(sk.aad_len, aad);
	ASSERT_EQ(ike_decode_inner(sk.body + 8, inner_len, sk.first, &in), 0);
	ASSERT_EQ(in.n, 3u);
	EXPECT_EQ(in.pl[0].type, IKE_PT_IDI);
	EXPECT_TRUE(in.pl[0].inner);
	EXPECT_EQ(ike_check_payloads(IKE_MSG_AUTH_REQ, &d.chain, &in), 0);
}

// ---- exchange table ----------------------------------------------------------------------------

class Rules : public Codec {
protected:
	int check(enum ike_msg_kind kind, std::initializer_list<Bytes> payloads,
		  std::initializer_list<uint8_t> types)
	{
		chain.clear();
		std::vector<uint8_t> t(types);
		size_t i = 0;
		for (const Bytes &p : payloads) {
			uint8_t next = i + 1 < t.size() ? t[i + 1] : 0;
			chain = cat({chain, pl(next, p)});
			i++;
		}
		EXPECT_EQ(inner(chain, t.empty() ? 0 : t[0], &c), 0);
		return ike_check_payloads(kind, nullptr, &c);
	}
	Bytes chain;
	ike_chain c;
};

const Bytes kSa = ike_prop_aes_gcm();
const Bytes kKe = {0, 20, 0, 0, 1};
const Bytes kNonce = Bytes(16, 1);
const Bytes kId = {2, 0, 0, 0, 'g', 'w'};
const Bytes kAuth = {2, 0, 0, 0, 1};
const Bytes kTs = cat({{1, 0, 0, 0}, ts4()});

Bytes notify(uint16_t type, const Bytes &data = {})
{
	return cat({{0, 0, uint8_t(type >> 8), uint8_t(type)}, data});
}

TEST_F(Rules, SaInitResponseNeedsSaKeNonce)
{
	EXPECT_EQ(check(IKE_MSG_SA_INIT_RESP, {kSa, kNonce}, {IKE_PT_SA, IKE_PT_NONCE}),
		  IKE_ERR_MISSING_PAYLOAD);
	EXPECT_TRUE(one_line("KE payload (type 34)"));
	lines.clear();
	EXPECT_EQ(check(IKE_MSG_SA_INIT_RESP, {kSa, kKe, kNonce},
			{IKE_PT_SA, IKE_PT_KE, IKE_PT_NONCE}),
		  0);
}

TEST_F(Rules, ErrorOrCookieResponsesStandAlone)
{
	EXPECT_EQ(check(IKE_MSG_SA_INIT_RESP, {notify(IKE_N_COOKIE, fill(16, 1))}, {IKE_PT_NOTIFY}),
		  0);
	EXPECT_EQ(check(IKE_MSG_SA_INIT_RESP, {notify(IKE_N_INVALID_KE_PAYLOAD, {0, 19})},
			{IKE_PT_NOTIFY}),
		  0);
	EXPECT_EQ(check(IKE_MSG_AUTH_RESP, {notify(IKE_N_AUTHENTICATION_FAILED)}, {IKE_PT_NOTIFY}), 0);
	EXPECT_TRUE(lines.empty());
}

TEST_F(Rules, ChildSaErrorInIkeAuthStillNeedsIdrAndAuth)
{
	EXPECT_EQ(check(IKE_MSG_AUTH_RESP, {notify(IKE_N_TS_UNACCEPTABLE)}, {IKE_PT_NOTIFY}),
		  IKE_ERR_MISSING_PAYLOAD);
	EXPECT_TRUE(one_line("IDr payload"));
	lines.clear();
	EXPECT_EQ(check(IKE_MSG_AUTH_RESP, {kId, kAuth, notify(IKE_N_TS_UNACCEPTABLE)},
			{IKE_PT_IDR, IKE_PT_AUTH, IKE_PT_NOTIFY}),
		  0);
}

TEST_F(Rules, UnexpectedPayloadIsRefused)
{
	EXPECT_EQ(check(IKE_MSG_SA_INIT_REQ, {kSa, kKe, kNonce, kAuth},
			{IKE_PT_SA, IKE_PT_KE, IKE_PT_NONCE, IKE_PT_AUTH}),
		  IKE_ERR_UNEXPECTED_PAYLOAD);
	EXPECT_TRUE(one_line("AUTH payload (type 39)"));
}

TEST_F(Rules, SaAndTrafficSelectorsGoTogether)
{
	EXPECT_EQ(check(IKE_MSG_AUTH_RESP, {kId, kAuth, kSa, kTs},
			{IKE_PT_IDR, IKE_PT_AUTH, IKE_PT_SA, IKE_PT_TSI}),
		  IKE_ERR_MISSING_PAYLOAD);
	EXPECT_TRUE(one_line("TSr payload"));
	lines.clear();
	EXPECT_EQ(check(IKE_MSG_AUTH_RESP, {kId, kAuth, kSa, kTs, kTs},
			{IKE_PT_IDR, IKE_PT_AUTH, IKE_PT_SA, IKE_PT_TSI, IKE_PT_TSR}),
		  0);
}

TEST_F(Rules, EapOnlyFirstResponseMayLackAuth)
{
	Bytes eap = {1, 1, 0, 5, 1};
	EXPECT_EQ(check(IKE_MSG_AUTH_EAP_FIRST_RESP, {kId, eap}, {IKE_PT_IDR, IKE_PT_EAP}), 0);
	EXPECT_EQ(check(IKE_MSG_AUTH_EAP_RESP, {kId, eap}, {IKE_PT_IDR, IKE_PT_EAP}),
		  IKE_ERR_UNEXPECTED_PAYLOAD);
	EXPECT_TRUE(one_line("IKE_AUTH response (EAP)"));
}

TEST_F(Rules, EmptyInformationalIsLiveness)
{
	ike_chain empty;
	ASSERT_EQ(ike_decode_inner(nullptr, 0, 0, &empty), 0);
	EXPECT_EQ(ike_check_payloads(IKE_MSG_INFO_RESP, nullptr, &empty), 0);
	EXPECT_EQ(ike_check_payloads(IKE_MSG_KIND_COUNT, nullptr, &empty), -EINVAL);
}

TEST_F(Rules, ProtectedMessagesCarryNothingOutsideSk)
{
	Bytes m = msg(IKE_PT_NOTIFY,
		      cat({pl(IKE_PT_SK, {0, 0, 0x40, 0x00}), pl(IKE_PT_IDI, fill(40, 0))}),
		      IKE_EXCH_IKE_AUTH);
	ike_msg d;
	ike_chain empty;

	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	ASSERT_EQ(ike_decode_inner(nullptr, 0, 0, &empty), 0);
	EXPECT_EQ(ike_check_payloads(IKE_MSG_INFO_REQ, &d.chain, &empty), IKE_ERR_UNEXPECTED_PAYLOAD);
	EXPECT_TRUE(one_line("outside the encrypted payload"));
	lines.clear();
	m = msg(IKE_PT_NONCE, pl(0, fill(16, 0)), IKE_EXCH_INFORMATIONAL);
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(ike_check_payloads(IKE_MSG_INFO_REQ, &d.chain, &empty), IKE_ERR_UNEXPECTED_PAYLOAD);
	lines.clear();
	m = msg(IKE_PT_NONE, {}, IKE_EXCH_INFORMATIONAL);
	ASSERT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	EXPECT_EQ(ike_check_payloads(IKE_MSG_INFO_REQ, &d.chain, &empty), IKE_ERR_MISSING_PAYLOAD);
	EXPECT_TRUE(one_line("no encrypted payload"));
}

TEST(CodecNames, ErrorsAndNames)
{
	EXPECT_STREQ(ike_strerror(IKE_ERR_DUPLICATE), "payload repeated");
	EXPECT_STREQ(ike_strerror(-1098), "unknown IKE codec error");
	EXPECT_STREQ(ike_strerror(-ENOSPC), strerror(ENOSPC));
	EXPECT_EQ(ike_err_notify(-ENOSPC), 0);
	EXPECT_STREQ(ike_payload_name(IKE_PT_SKF), "SKF");
	EXPECT_STREQ(ike_payload_name(200), "?");
	EXPECT_STREQ(ike_exchange_name(IKE_EXCH_CREATE_CHILD_SA), "CREATE_CHILD_SA");
	EXPECT_STREQ(ike_notify_name(IKE_N_KEEP_OLD_IKE_SA), "KEEP_OLD_IKE_SA");
	EXPECT_STREQ(ike_notify_name(IKE_N_ADDITIONAL_IP6_ADDRESS), "ADDITIONAL_IP6_ADDRESS");
	// every code of the documented range has its own text
	for (int e = IKE_ERR_FIRST; e >= IKE_ERR_LAST; e--) {
		const char *t = ike_strerror(e);
		ASSERT_NE(t, nullptr);
	}
}

// The notify numbers later issues rely on (IANA "IKEv2 Notify Message Types").
TEST(Wire, NotifyNumbersMatchTheRegistry)
{
	EXPECT_EQ(IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, 1);
	EXPECT_EQ(IKE_N_INVALID_SYNTAX, 7);
	EXPECT_EQ(IKE_N_INVALID_SPI, 11);
	EXPECT_EQ(IKE_N_NO_PROPOSAL_CHOSEN, 14);
	EXPECT_EQ(IKE_N_INVALID_KE_PAYLOAD, 17);
	EXPECT_EQ(IKE_N_AUTHENTICATION_FAILED, 24);
	EXPECT_EQ(IKE_N_INTERNAL_ADDRESS_FAILURE, 36);
	EXPECT_EQ(IKE_N_FAILED_CP_REQUIRED, 37);
	EXPECT_EQ(IKE_N_TS_UNACCEPTABLE, 38);
	EXPECT_EQ(IKE_N_UNACCEPTABLE_ADDRESSES, 40);
	EXPECT_EQ(IKE_N_INITIAL_CONTACT, 16384);
	EXPECT_EQ(IKE_N_NAT_DETECTION_SOURCE_IP, 16388);
	EXPECT_EQ(IKE_N_NAT_DETECTION_DESTINATION_IP, 16389);
	EXPECT_EQ(IKE_N_COOKIE, 16390);
	EXPECT_EQ(IKE_N_REKEY_SA, 16393);
	EXPECT_EQ(IKE_N_MOBIKE_SUPPORTED, 16396);
	EXPECT_EQ(IKE_N_ADDITIONAL_IP4_ADDRESS, 16397);
	EXPECT_EQ(IKE_N_ADDITIONAL_IP6_ADDRESS, 16398);
	EXPECT_EQ(IKE_N_NO_ADDITIONAL_ADDRESSES, 16399);
	EXPECT_EQ(IKE_N_UPDATE_SA_ADDRESSES, 16400);
	EXPECT_EQ(IKE_N_COOKIE2, 16401);
	EXPECT_EQ(IKE_N_NO_NATS_ALLOWED, 16402);
	EXPECT_EQ(IKE_N_AUTH_LIFETIME, 16403);
	EXPECT_EQ(IKE_N_EAP_ONLY_AUTHENTICATION, 16417);
	EXPECT_EQ(IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, 16430);
	EXPECT_EQ(IKE_N_SIGNATURE_HASH_ALGORITHMS, 16431);
	// private use range for status types (RFC 7296 3.10.1)
	EXPECT_GE(IKE_N_KEEP_OLD_IKE_SA, 40960);
	EXPECT_LE(IKE_N_KEEP_OLD_IKE_SA, 65535);
}

} // namespace
