// Proposal strings in strongSwan's style, their canonical form, and the
// check that a responder's choice is one of our offers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/ike/codec.h"
#include "client/ike/proposal.h"
#include "client/util/log.h"

namespace {

class Proposal : public ::testing::Test {
protected:
	std::vector<std::string> lines;
	ike_proposal p[IKE_MAX_PROPOSALS];
	size_t n = 0;
	char err[256];

	static void sink(int, const char *module, const char *m, void *arg)
	{
		static_cast<Proposal *>(arg)->lines.push_back(std::string(module) + ": " + m);
	}
	void SetUp() override { vlog_set_sink(sink, this); }
	void TearDown() override { vlog_set_sink(nullptr, nullptr); }

	int parse(const char *s, uint8_t proto = IKE_PROTO_IKE)
	{
		lines.clear();
		return ike_proposals_parse(s, proto, p, IKE_MAX_PROPOSALS, &n, err, sizeof(err));
	}
	std::string format()
	{
		char out[1024];
		EXPECT_EQ(ike_proposals_format(p, n, out, sizeof(out)), 0);
		return out;
	}
	::testing::AssertionResult refused(const std::string &needle)
	{
		if (lines.size() != 1)
			return ::testing::AssertionFailure() << lines.size() << " log lines";
		if (lines[0].find(needle) == std::string::npos ||
		    std::string(err).find(needle) == std::string::npos)
			return ::testing::AssertionFailure()
			       << "'" << lines[0] << "' / '" << err << "' lack '" << needle << "'";
		return ::testing::AssertionSuccess();
	}
};

TEST_F(Proposal, AeadIkeProposal)
{
	ASSERT_EQ(parse("aes256gcm16-prfsha384-ecp384"), 0);
	ASSERT_EQ(n, 1u);
	EXPECT_EQ(p[0].num, 1);
	EXPECT_EQ(p[0].protocol, IKE_PROTO_IKE);
	ASSERT_EQ(p[0].n[IKE_XFORM_ENCR], 1);
	EXPECT_EQ(p[0].x[IKE_XFORM_ENCR][0].id, IKE_ENCR_AES_GCM_16);
	EXPECT_EQ(p[0].x[IKE_XFORM_ENCR][0].key_bits, 256);
	EXPECT_EQ(p[0].n[IKE_XFORM_INTEG], 0);
	ASSERT_EQ(p[0].n[IKE_XFORM_PRF], 1);
	EXPECT_EQ(p[0].x[IKE_XFORM_PRF][0].id, IKE_PRF_HMAC_SHA2_384);
	ASSERT_EQ(p[0].n[IKE_XFORM_DH], 1);
	EXPECT_EQ(p[0].x[IKE_XFORM_DH][0].id, IKE_DH_ECP384);
	EXPECT_EQ(p[0].n[IKE_XFORM_ESN], 0);
	EXPECT_EQ(format(), "aes256gcm16-prfsha384-ecp384");
	EXPECT_TRUE(lines.empty());
}

TEST_F(Proposal, ClassicIkeProposalDerivesThePrf)
{
	ASSERT_EQ(parse("aes128-sha256-modp2048"), 0);
	EXPECT_EQ(p[0].x[IKE_XFORM_ENCR][0].id, IKE_ENCR_AES_CBC);
	EXPECT_EQ(p[0].x[IKE_XFORM_ENCR][0].key_bits, 128);
	EXPECT_EQ(p[0].x[IKE_XFORM_INTEG][0].id, IKE_INTEG_HMAC_SHA2_256_128);
	ASSERT_EQ(p[0].n[IKE_XFORM_PRF], 1);
	EXPECT_EQ(p[0].x[IKE_XFORM_PRF][0].id, IKE_PRF_HMAC_SHA2_256);
	EXPECT_EQ(p[0].x[IKE_XFORM_DH][0].id, IKE_DH_MODP2048);
	EXPECT_EQ(format(), "aes128-sha256-prfsha256-modp2048");
}

TEST_F(Proposal, SeveralIntegritiesGiveSeveralPrfs)
{
	ASSERT_EQ(parse("aes256-aes128-sha384-sha256-ecp384-modp3072"), 0);
	EXPECT_EQ(format(), "aes256-aes128-sha384-sha256-prfsha384-prfsha256-ecp384-modp3072");
}

TEST_F(Proposal, ExplicitPrfIsKept)
{
	ASSERT_EQ(parse("aes128-sha1-prfsha512-curve25519"), 0);
	ASSERT_EQ(p[0].n[IKE_XFORM_PRF], 1);
	EXPECT_EQ(p[0].x[IKE_XFORM_PRF][0].id, IKE_PRF_HMAC_SHA2_512);
	EXPECT_EQ(p[0].x[IKE_XFORM_INTEG][0].id, IKE_INTEG_HMAC_SHA1_96);
	EXPECT_EQ(p[0].x[IKE_XFORM_DH][0].id, IKE_DH_CURVE25519);
}

TEST_F(Proposal, AliasesParseToTheCanonicalForm)
{
	ASSERT_EQ(parse("aes128gcm128-prfsha256-x25519,aes256gcm96-aes256gcm64-prfsha256-ecp256,"
			"AES-sha2_512-modp2048,chacha20poly1305-prfsha256-x448"),
		  0);
	ASSERT_EQ(n, 4u);
	EXPECT_EQ(p[3].num, 4);
	EXPECT_EQ(format(), "aes128gcm16-prfsha256-curve25519,"
			    "aes256gcm12-aes256gcm8-prfsha256-ecp256,"
			    "aes128-sha512-prfsha512-modp2048,"
			    "chacha20poly1305-prfsha256-curve448");
	EXPECT_EQ(p[3].x[IKE_XFORM_ENCR][0].key_bits, 0); // no key length attribute
}

TEST_F(Proposal, EspProposals)
{
	ASSERT_EQ(parse("aes256gcm16,aes128-sha256-modp2048-esn", IKE_PROTO_ESP), 0);
	ASSERT_EQ(n, 2u);
	EXPECT_EQ(p[0].protocol, IKE_PROTO_ESP);
	EXPECT_EQ(p[0].n[IKE_XFORM_PRF], 0);
	ASSERT_EQ(p[0].n[IKE_XFORM_ESN], 1); // strongSwan's default
	EXPECT_EQ(p[0].x[IKE_XFORM_ESN][0].id, IKE_ESN_NO);
	EXPECT_EQ(p[1].x[IKE_XFORM_ESN][0].id, IKE_ESN_YES);
	EXPECT_EQ(p[1].x[IKE_XFORM_DH][0].id, IKE_DH_MODP2048); // PFS group
	EXPECT_EQ(format(), "aes256gcm16-noesn,aes128-sha256-modp2048-esn");
}

TEST_F(Proposal, CanonicalStringParsesBackToTheSameProposals)
{
	const char *inputs[] = {
		"aes256gcm16-prfsha384-ecp384",
		"aes128-sha256-modp2048,aes256-sha512-prfsha256-ecp521-ecp256",
		"chacha20poly1305-aes128gcm16-prfsha512-curve25519-modp4096",
	};
	for (const char *s : inputs) {
		ike_proposal first[IKE_MAX_PROPOSALS];
		size_t n1;
		ASSERT_EQ(parse(s), 0) << s;
		n1 = n;
		std::copy(p, p + n, first);
		std::string canon = format();
		ASSERT_EQ(parse(canon.c_str()), 0) << canon;
		ASSERT_EQ(n, n1);
		for (size_t i = 0; i < n; i++)
			EXPECT_EQ(memcmp(&p[i], &first[i], sizeof(p[i])), 0) << canon;
		EXPECT_EQ(format(), canon);
	}
}

TEST_F(Proposal, SpacesAroundCommasAreAllowedAndDuplicatesCollapse)
{
	ASSERT_EQ(parse(" aes128-sha256-modp2048 , aes256-aes256-sha384-ecp384 "), 0);
	ASSERT_EQ(n, 2u);
	EXPECT_EQ(p[1].n[IKE_XFORM_ENCR], 1);
}

TEST_F(Proposal, UnknownKeywordIsNamed)
{
	EXPECT_EQ(parse("aes128-sha256-modp1536"), IKE_ERR_PROPSTR_KEYWORD);
	EXPECT_TRUE(refused("unknown algorithm 'modp1536'"));
	EXPECT_EQ(n, 0u);
	EXPECT_EQ(parse("aes128-sha256-modp2048,3des-md5-modp1024"), IKE_ERR_PROPSTR_KEYWORD);
	EXPECT_TRUE(refused("'3des'"));
}

TEST_F(Proposal, KeywordsOfTheWrongProtocol)
{
	EXPECT_EQ(parse("aes128-sha256-modp2048-esn"), IKE_ERR_PROPSTR_KEYWORD);
	EXPECT_TRUE(refused("'esn' is not valid in an IKE proposal"));
	EXPECT_EQ(parse("aes128-sha256-prfsha256", IKE_PROTO_ESP), IKE_ERR_PROPSTR_KEYWORD);
	EXPECT_TRUE(refused("'prfsha256' is not valid in an ESP proposal"));
}

TEST_F(Proposal, SyntaxErrors)
{
	EXPECT_EQ(parse(""), IKE_ERR_PROPSTR_SYNTAX);
	EXPECT_TRUE(refused("empty proposal"));
	EXPECT_EQ(parse("aes128-sha256-modp2048,"), IKE_ERR_PROPSTR_SYNTAX);
	EXPECT_TRUE(refused("empty proposal"));
	EXPECT_EQ(parse("aes128--sha256-modp2048"), IKE_ERR_PROPSTR_SYNTAX);
	EXPECT_TRUE(refused("empty algorithm"));
	EXPECT_EQ(parse("aes128-sha256-modp2048-"), IKE_ERR_PROPSTR_SYNTAX);
	EXPECT_TRUE(refused("empty algorithm"));
}

TEST_F(Proposal, IncompleteProposals)
{
	EXPECT_EQ(parse("sha256-modp2048"), IKE_ERR_PROPSTR_INCOMPLETE);
	EXPECT_TRUE(refused("no encryption algorithm"));
	EXPECT_EQ(parse("aes128-modp2048"), IKE_ERR_PROPSTR_INCOMPLETE);
	EXPECT_TRUE(refused("no integrity algorithm"));
	EXPECT_EQ(parse("aes128gcm16-ecp256"), IKE_ERR_PROPSTR_INCOMPLETE);
	EXPECT_TRUE(refused("needs a prf"));
	EXPECT_EQ(parse("aes128-sha256"), IKE_ERR_PROPSTR_INCOMPLETE);
	EXPECT_TRUE(refused("no key exchange group"));
	EXPECT_EQ(parse("aes128", IKE_PROTO_ESP), IKE_ERR_PROPSTR_INCOMPLETE);
	EXPECT_TRUE(refused("no integrity algorithm"));
}

TEST_F(Proposal, MixedAeadAndClassic)
{
	EXPECT_EQ(parse("aes128gcm16-sha256-prfsha256-ecp256"), IKE_ERR_PROPSTR_MIXED);
	EXPECT_TRUE(refused("AEAD and classic"));
	EXPECT_EQ(parse("aes128gcm16-aes128-sha256-ecp256"), IKE_ERR_PROPSTR_MIXED);
	EXPECT_TRUE(refused("AEAD and classic"));
}

TEST_F(Proposal, TooMany)
{
	std::string s;
	for (int i = 0; i <= IKE_MAX_PROPOSALS; i++)
		s += (i ? "," : "") + std::string("aes128-sha256-modp2048");
	EXPECT_EQ(parse(s.c_str()), IKE_ERR_PROPSTR_TOO_MANY);
	EXPECT_TRUE(refused("more than 16 proposals"));
	lines.clear();
	EXPECT_EQ(ike_proposals_parse("aes128-sha256-modp2048,aes256-sha256-modp2048",
				      IKE_PROTO_IKE, p, 1, &n, err, sizeof(err)),
		  IKE_ERR_PROPSTR_TOO_MANY);
	EXPECT_TRUE(refused("more than 1 proposals"));
}

TEST_F(Proposal, FormatReportsShortBuffers)
{
	char small[8];
	ASSERT_EQ(parse("aes256gcm16-prfsha384-ecp384"), 0);
	EXPECT_EQ(ike_proposal_format(&p[0], small, sizeof(small)), -ENOSPC);
	p[0].x[IKE_XFORM_DH][0].id = 77; // no keyword for it
	char big[128];
	EXPECT_EQ(ike_proposal_format(&p[0], big, sizeof(big)), -EINVAL);
}

// ---- selection ----------------------------------------------------------------------

class Match : public Proposal {
protected:
	ike_proposal offer[IKE_MAX_PROPOSALS];
	size_t noffer = 0;
	size_t which = 99;

	void offer_ike()
	{
		ASSERT_EQ(ike_proposals_parse("aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-ecp256,"
					      "aes128-sha256-modp2048",
					      IKE_PROTO_IKE, offer, IKE_MAX_PROPOSALS, &noffer,
					      nullptr, 0),
			  0);
	}
	ike_proposal chosen(uint8_t num, uint8_t proto)
	{
		ike_proposal c = {};
		c.num = num;
		c.protocol = proto;
		return c;
	}
};

TEST_F(Match, OneOfEachFromTheOffer)
{
	offer_ike();
	ike_proposal c = chosen(1, IKE_PROTO_IKE);
	ike_proposal_add(&c, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 128);
	ike_proposal_add(&c, IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0);
	ike_proposal_add(&c, IKE_XFORM_DH, IKE_DH_ECP384, 0);
	EXPECT_EQ(ike_proposal_match(offer, noffer, &c, &which), 0);
	EXPECT_EQ(which, 0u);
	EXPECT_TRUE(lines.empty());

	ike_proposal c2 = chosen(2, IKE_PROTO_IKE);
	ike_proposal_add(&c2, IKE_XFORM_ENCR, IKE_ENCR_AES_CBC, 128);
	ike_proposal_add(&c2, IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0);
	ike_proposal_add(&c2, IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_256, 0);
	ike_proposal_add(&c2, IKE_XFORM_DH, IKE_DH_MODP2048, 0);
	EXPECT_EQ(ike_proposal_match(offer, noffer, &c2, &which), 0);
	EXPECT_EQ(which, 1u);
}

TEST_F(Match, Refusals)
{
	offer_ike();
	ike_proposal base = chosen(1, IKE_PROTO_IKE);
	ike_proposal_add(&base, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 256);
	ike_proposal_add(&base, IKE_XFORM_PRF, IKE_PRF_HMAC_SHA2_384, 0);
	ike_proposal_add(&base, IKE_XFORM_DH, IKE_DH_ECP256, 0);
	ASSERT_EQ(ike_proposal_match(offer, noffer, &base, &which), 0);

	struct {
		const char *why;
		ike_proposal c;
	} cases[7];
	for (auto &k : cases)
		k.c = base;
	cases[0].why = "no offered proposal";
	cases[0].c.num = 3;
	cases[1].why = "2 transforms of type 4";
	ike_proposal_add(&cases[1].c, IKE_XFORM_DH, IKE_DH_ECP384, 0);
	cases[2].why = "no transform of type 2";
	cases[2].c.n[IKE_XFORM_PRF] = 0;
	cases[3].why = "transform 1/20 (key 192) was not offered";
	cases[3].c.x[IKE_XFORM_ENCR][0].key_bits = 192;
	cases[4].why = "type 3 was not offered";
	ike_proposal_add(&cases[4].c, IKE_XFORM_INTEG, IKE_INTEG_HMAC_SHA2_256_128, 0);
	cases[5].why = "transforms we do not know";
	cases[5].c.n_ignored = 1;
	cases[6].why = "no offered proposal";
	cases[6].c.protocol = IKE_PROTO_ESP;
	for (auto &k : cases) {
		lines.clear();
		EXPECT_EQ(ike_proposal_match(offer, noffer, &k.c, &which), IKE_ERR_PROPOSAL_MISMATCH)
			<< k.why;
		ASSERT_EQ(lines.size(), 1u) << k.why;
		EXPECT_NE(lines[0].find(k.why), std::string::npos) << lines[0];
	}
}

TEST_F(Match, EspWithoutPfsInIkeAuth)
{
	ASSERT_EQ(ike_proposals_parse("aes256gcm16-ecp384", IKE_PROTO_ESP, offer, 4, &noffer,
				      nullptr, 0),
		  0);
	ike_proposal c = chosen(1, IKE_PROTO_ESP);
	c.spi_len = 4;
	ike_proposal_add(&c, IKE_XFORM_ENCR, IKE_ENCR_AES_GCM_16, 256);
	ike_proposal_add(&c, IKE_XFORM_ESN, IKE_ESN_NO, 0);
	EXPECT_EQ(ike_proposal_match(offer, noffer, &c, &which), 0); // DH left out
	ike_proposal_add(&c, IKE_XFORM_INTEG, IKE_INTEG_NONE, 0);    // "NONE" with an AEAD
	EXPECT_EQ(ike_proposal_match(offer, noffer, &c, &which), 0);
	c.n[IKE_XFORM_ESN] = 0;
	EXPECT_EQ(ike_proposal_match(offer, noffer, &c, &which), IKE_ERR_PROPOSAL_MISMATCH);
}

TEST(ProposalAdd, Bounds)
{
	ike_proposal p = {};
	EXPECT_EQ(ike_proposal_add(&p, 0, 1, 0), -EINVAL);
	EXPECT_EQ(ike_proposal_add(&p, 6, 1, 0), -EINVAL);
	for (int i = 0; i < IKE_PROPOSAL_MAX_PER_TYPE; i++)
		EXPECT_EQ(ike_proposal_add(&p, IKE_XFORM_DH, uint16_t(i), 0), 0);
	EXPECT_EQ(ike_proposal_add(&p, IKE_XFORM_DH, 99, 0), -ENOSPC);
	EXPECT_TRUE(ike_encr_is_aead(IKE_ENCR_CHACHA20_POLY1305));
	EXPECT_FALSE(ike_encr_is_aead(IKE_ENCR_AES_CBC));
}

} // namespace
