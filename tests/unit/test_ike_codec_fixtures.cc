// The hand-built IKEv2 messages in tests/fixtures/ike/ (also the decode
// fuzzer's seeds): each is rebuilt here with the codec and compared byte for
// byte, then decoded, every payload parsed and checked against the exchange
// table. VPN_REGEN_FIXTURES=1 rewrites the files (fixtures and the fuzz seed
// corpora ike_decode/ and ike_frag/) after an intended change.
//
// These are not captures: SK payloads carry a zero IV, the inner payloads in
// clear, a zero pad length and a zero ICV, so the decoder and the fuzzer can
// walk the inner chain without keys. Captured strongSwan messages go next to
// them once the lab records some.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "client/ike/codec.h"
#include "client/ike/frag.h"
#include "client/ike/proposal.h"

namespace {

using Bytes = std::vector<uint8_t>;

const uint64_t kSpiI = 0x8a3c5e7f01020304ull, kSpiR = 0x5b1d9e2fa0b0c0d0ull;
const Bytes kVid = {0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc,
		    0x22, 0x51, 0x61, 0x3b, 0x2e, 0xbe, 0x5b, 0xeb}; // strongSwan's

Bytes pattern(size_t n, uint8_t seed)
{
	Bytes b(n);
	for (size_t i = 0; i < n; i++)
		b[i] = uint8_t(seed + i * 31);
	return b;
}

ike_header header(uint8_t exch, bool response, uint32_t msgid, bool have_r = true)
{
	ike_header h = {};
	h.spi_i = kSpiI;
	h.spi_r = have_r ? kSpiR : 0;
	h.exchange = exch;
	h.flags = uint8_t(response ? IKE_HDR_FLAG_RESPONSE : IKE_HDR_FLAG_INITIATOR);
	h.msgid = msgid;
	return h;
}

std::vector<ike_proposal> props(const char *s, uint8_t proto)
{
	std::vector<ike_proposal> p(IKE_MAX_PROPOSALS);
	size_t n = 0;
	EXPECT_EQ(ike_proposals_parse(s, proto, p.data(), p.size(), &n, nullptr, 0), 0) << s;
	p.resize(n);
	return p;
}

// Plain message: header + payloads.
Bytes plain(const ike_header &h, const std::function<void(ike_builder *)> &fill)
{
	std::vector<uint8_t> buf(8192, 0);
	ike_builder b;
	size_t len = 0;

	ike_build_init(&b, buf.data(), buf.size(), &h);
	fill(&b);
	EXPECT_EQ(ike_build_finish(&b, &len), 0);
	buf.resize(len);
	return buf;
}

// SK message with a zero 8-octet IV, no padding, zero ICV (AES-GCM sizes).
Bytes protected_msg(const ike_header &h, const std::function<void(ike_builder *)> &fill)
{
	std::vector<uint8_t> buf(8192, 0);
	ike_builder b;
	size_t aad, inner, total;

	ike_build_init(&b, buf.data(), buf.size(), &h);
	EXPECT_EQ(ike_build_sk_begin(&b, 8), 0);
	fill(&b);
	EXPECT_EQ(ike_build_sk_close(&b, 8 + 1 + 16, &aad, &inner, &total), 0);
	buf.resize(total);
	return buf;
}

ike_ts ts4(const char *start, const char *end, uint8_t proto = 0)
{
	ike_ts t = {};
	t.type = IKE_TS_IPV4_ADDR_RANGE;
	t.ip_proto = proto;
	t.end_port = 65535;
	memcpy(t.start, start, 4);
	memcpy(t.end, end, 4);
	return t;
}

ike_ts ts6_any()
{
	ike_ts t = {};
	t.type = IKE_TS_IPV6_ADDR_RANGE;
	t.end_port = 65535;
	memset(t.end, 0xff, 16);
	return t;
}

struct Fixture {
	const char *name;
	enum ike_msg_kind kind;
	std::function<Bytes()> build;
};

Bytes sa_init_req()
{
	auto p = props("aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-curve25519,"
		       "aes256-aes128-sha384-sha256-ecp384-modp3072",
		       IKE_PROTO_IKE);
	Bytes ke = pattern(96, 1), nonce = pattern(32, 2), hs = {0, 2, 0, 3, 0, 4, 0, 5};
	return plain(header(IKE_EXCH_IKE_SA_INIT, false, 0, false), [&](ike_builder *b) {
		ike_build_sa(b, p.data(), p.size());
		ike_build_ke(b, IKE_DH_ECP384, ke.data(), ke.size());
		ike_build_nonce(b, nonce.data(), nonce.size());
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NAT_DETECTION_SOURCE_IP, pattern(20, 3).data(), 20);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NAT_DETECTION_DESTINATION_IP, pattern(20, 4).data(), 20);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, nullptr, 0);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, hs.data(), hs.size());
		ike_build_vendor(b, kVid.data(), kVid.size());
	});
}

Bytes sa_init_resp()
{
	auto p = props("aes256gcm16-prfsha384-ecp384", IKE_PROTO_IKE);
	Bytes ke = pattern(96, 5), nonce = pattern(32, 6), hs = {0, 2, 0, 3, 0, 4, 0, 5},
	      ca = pattern(20, 7);
	return plain(header(IKE_EXCH_IKE_SA_INIT, true, 0), [&](ike_builder *b) {
		ike_build_sa(b, p.data(), p.size());
		ike_build_ke(b, IKE_DH_ECP384, ke.data(), ke.size());
		ike_build_nonce(b, nonce.data(), nonce.size());
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NAT_DETECTION_SOURCE_IP, pattern(20, 8).data(), 20);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NAT_DETECTION_DESTINATION_IP, pattern(20, 9).data(), 20);
		ike_build_certreq(b, IKE_CERT_X509_SIG, ca.data(), ca.size());
		ike_build_notify(b, 0, nullptr, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, nullptr, 0);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, hs.data(), hs.size());
		ike_build_notify(b, 0, nullptr, 0, IKE_N_CHILDLESS_IKEV2_SUPPORTED, nullptr, 0);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_MULTIPLE_AUTH_SUPPORTED, nullptr, 0);
		ike_build_vendor(b, kVid.data(), kVid.size());
	});
}

Bytes sa_init_resp_notify(uint16_t type, const Bytes &data)
{
	return plain(header(IKE_EXCH_IKE_SA_INIT, true, 0, false), [&](ike_builder *b) {
		ike_build_notify(b, 0, nullptr, 0, type, data.data(), data.size());
	});
}

Bytes auth_req()
{
	auto p = props("aes256gcm16,aes128-sha256", IKE_PROTO_ESP);
	p[0].spi_len = p[1].spi_len = 4;
	memcpy(p[0].spi, "\xc1\x00\x00\x01", 4);
	memcpy(p[1].spi, "\xc1\x00\x00\x01", 4);
	ike_cp_attr cp[4] = {{IKE_CP_INTERNAL_IP4_ADDRESS, 0, nullptr},
			     {IKE_CP_INTERNAL_IP4_DNS, 0, nullptr},
			     {IKE_CP_INTERNAL_IP6_ADDRESS, 0, nullptr},
			     {IKE_CP_INTERNAL_DNS_DOMAIN, 0, nullptr}};
	ike_ts any4 = ts4("\0\0\0\0", "\xff\xff\xff\xff"), any6 = ts6_any();
	ike_ts tsi[2] = {any4, any6}, tsr[2] = {any4, any6};
	Bytes auth = pattern(32, 11);
	const char *id = "client@lab.example";
	const char *gw = "gw.lab.example";
	return protected_msg(header(IKE_EXCH_IKE_AUTH, false, 1), [&](ike_builder *b) {
		ike_build_id(b, IKE_PT_IDI, IKE_ID_RFC822_ADDR, id, strlen(id));
		ike_build_notify(b, 0, nullptr, 0, IKE_N_INITIAL_CONTACT, nullptr, 0);
		ike_build_id(b, IKE_PT_IDR, IKE_ID_FQDN, gw, strlen(gw));
		ike_build_auth(b, IKE_AUTH_PSK, auth.data(), auth.size());
		ike_build_cp(b, IKE_CFG_REQUEST, cp, 4);
		ike_build_sa(b, p.data(), p.size());
		ike_build_ts(b, IKE_PT_TSI, tsi, 2);
		ike_build_ts(b, IKE_PT_TSR, tsr, 2);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_MOBIKE_SUPPORTED, nullptr, 0);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_ADDITIONAL_IP4_ADDRESS, "\xc0\xa8\x01\x05", 4);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NO_ADDITIONAL_ADDRESSES, nullptr, 0);
	});
}

Bytes auth_resp()
{
	auto p = props("aes256gcm16", IKE_PROTO_ESP);
	p[0].spi_len = 4;
	memcpy(p[0].spi, "\xc2\x00\x00\x02", 4);
	// RFC 7427 3: AlgorithmIdentifier length, ecdsa-with-SHA384 (DER), signature
	Bytes sig = {12, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
	Bytes der = pattern(400, 12), rawsig = pattern(102, 13);
	sig.insert(sig.end(), rawsig.begin(), rawsig.end());
	ike_cp_attr cp[4] = {
		{IKE_CP_INTERNAL_IP4_ADDRESS, 4, (const uint8_t *)"\x0a\x0a\x0a\x02"},
		{IKE_CP_INTERNAL_IP4_DNS, 4, (const uint8_t *)"\x0a\x0a\x0a\x01"},
		{IKE_CP_INTERNAL_IP6_ADDRESS, 17,
		 (const uint8_t *)"\xfd\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x80"},
		{IKE_CP_INTERNAL_DNS_DOMAIN, 11, (const uint8_t *)"lab.example"}};
	ike_ts tsi = ts4("\x0a\x0a\x0a\x02", "\x0a\x0a\x0a\x02"), tsr = ts4("\0\0\0\0", "\xff\xff\xff\xff");
	const char *gw = "gw.lab.example";
	uint8_t life[4] = {0, 0, 0x0e, 0x10};
	return protected_msg(header(IKE_EXCH_IKE_AUTH, true, 1), [&](ike_builder *b) {
		ike_build_id(b, IKE_PT_IDR, IKE_ID_FQDN, gw, strlen(gw));
		ike_build_cert(b, IKE_CERT_X509_SIG, der.data(), der.size());
		ike_build_auth(b, IKE_AUTH_DIGITAL_SIG, sig.data(), sig.size());
		ike_build_cp(b, IKE_CFG_REPLY, cp, 4);
		ike_build_sa(b, p.data(), p.size());
		ike_build_ts(b, IKE_PT_TSI, &tsi, 1);
		ike_build_ts(b, IKE_PT_TSR, &tsr, 1);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_AUTH_LIFETIME, life, 4);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_MOBIKE_SUPPORTED, nullptr, 0);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_ADDITIONAL_IP6_ADDRESS,
				 "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	});
}

Bytes auth_resp_eap()
{
	const char *gw = "gw.lab.example";
	Bytes auth = pattern(48, 14);
	Bytes eap = {1, 0x2a, 0, 5, 1}; // EAP-Request/Identity
	return protected_msg(header(IKE_EXCH_IKE_AUTH, true, 1), [&](ike_builder *b) {
		ike_build_id(b, IKE_PT_IDR, IKE_ID_FQDN, gw, strlen(gw));
		ike_build_auth(b, IKE_AUTH_RSA_SIG, auth.data(), auth.size());
		ike_build_eap(b, eap.data(), eap.size());
	});
}

Bytes rekey_ike_req()
{
	auto p = props("aes256gcm16-prfsha384-ecp384", IKE_PROTO_IKE);
	p[0].spi_len = 8;
	memcpy(p[0].spi, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	Bytes ke = pattern(96, 15), nonce = pattern(32, 16);
	uint8_t keep[4] = {IKE_KEEP_OLD_FLAG_QUESTION, IKE_KEEP_OLD_KEEP, 0, 0};
	return protected_msg(header(IKE_EXCH_CREATE_CHILD_SA, false, 5), [&](ike_builder *b) {
		ike_build_notify(b, 0, nullptr, 0, IKE_N_KEEP_OLD_IKE_SA, keep, 4);
		ike_build_sa(b, p.data(), p.size());
		ike_build_nonce(b, nonce.data(), nonce.size());
		ike_build_ke(b, IKE_DH_ECP384, ke.data(), ke.size());
	});
}

Bytes create_child_req()
{
	auto p = props("aes128gcm16-ecp256", IKE_PROTO_ESP);
	p[0].spi_len = 4;
	memcpy(p[0].spi, "\xc3\x00\x00\x03", 4);
	Bytes ke = pattern(64, 17), nonce = pattern(32, 18);
	ike_ts tsi = ts4("\x0a\x0a\x0a\x02", "\x0a\x0a\x0a\x02", 6),
	       tsr = ts4("\x0a\x00\x00\x00", "\x0a\xff\xff\xff", 6);
	uint8_t old_spi[4] = {0xc1, 0, 0, 1};
	return protected_msg(header(IKE_EXCH_CREATE_CHILD_SA, false, 6), [&](ike_builder *b) {
		ike_build_notify(b, IKE_PROTO_ESP, old_spi, 4, IKE_N_REKEY_SA, nullptr, 0);
		ike_build_sa(b, p.data(), p.size());
		ike_build_nonce(b, nonce.data(), nonce.size());
		ike_build_ke(b, IKE_DH_ECP256, ke.data(), ke.size());
		ike_build_ts(b, IKE_PT_TSI, &tsi, 1);
		ike_build_ts(b, IKE_PT_TSR, &tsr, 1);
	});
}

Bytes info_delete()
{
	uint8_t spis[8] = {0xc1, 0, 0, 1, 0xc3, 0, 0, 3};
	return protected_msg(header(IKE_EXCH_INFORMATIONAL, false, 7), [&](ike_builder *b) {
		ike_build_delete(b, IKE_PROTO_ESP, 4, spis, 2);
		ike_build_delete(b, IKE_PROTO_IKE, 0, nullptr, 0);
	});
}

Bytes info_mobike()
{
	Bytes c2 = pattern(16, 19);
	return protected_msg(header(IKE_EXCH_INFORMATIONAL, false, 8), [&](ike_builder *b) {
		ike_build_notify(b, 0, nullptr, 0, IKE_N_UPDATE_SA_ADDRESSES, nullptr, 0);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NAT_DETECTION_SOURCE_IP, pattern(20, 20).data(), 20);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_NAT_DETECTION_DESTINATION_IP, pattern(20, 21).data(), 20);
		ike_build_notify(b, 0, nullptr, 0, IKE_N_COOKIE2, c2.data(), c2.size());
	});
}

Bytes info_empty()
{
	return protected_msg(header(IKE_EXCH_INFORMATIONAL, true, 9), [](ike_builder *) {});
}

// The inner payloads of auth_req, as the frag seeds and the SKF fixture use.
Bytes auth_req_inner(uint8_t *first)
{
	Bytes m = auth_req();
	ike_msg d;
	EXPECT_EQ(ike_decode(m.data(), m.size(), &d), 0);
	ike_sk sk;
	EXPECT_EQ(ike_parse_sk(&d.chain.pl[0], &sk), 0);
	*first = sk.first;
	return Bytes(sk.body + 8, sk.body + sk.len - 17);
}

Bytes auth_req_fragment(uint16_t num)
{
	uint8_t first;
	Bytes in = auth_req_inner(&first);
	ike_frag_plan plan;
	ike_header h = header(IKE_EXCH_IKE_AUTH, false, 1);
	std::vector<uint8_t> buf(2048, 0);
	size_t aad, chunk, total;

	EXPECT_EQ(ike_frag_compute_plan(in.size(), 256, 8, 16, 1, &plan), 0);
	EXPECT_EQ(ike_frag_build(&h, first, in.data(), in.size(), &plan, num, buf.data(),
				 buf.size(), &aad, &chunk, &total),
		  0);
	buf.resize(total);
	return buf;
}

const std::vector<Fixture> &fixtures()
{
	static const std::vector<Fixture> f = {
		{"sa_init_req", IKE_MSG_SA_INIT_REQ, sa_init_req},
		{"sa_init_resp", IKE_MSG_SA_INIT_RESP, sa_init_resp},
		{"sa_init_resp_cookie", IKE_MSG_SA_INIT_RESP,
		 [] { return sa_init_resp_notify(IKE_N_COOKIE, pattern(32, 22)); }},
		{"sa_init_resp_invalid_ke", IKE_MSG_SA_INIT_RESP,
		 [] { return sa_init_resp_notify(IKE_N_INVALID_KE_PAYLOAD, {0, 19}); }},
		{"sa_init_resp_no_proposal", IKE_MSG_SA_INIT_RESP,
		 [] { return sa_init_resp_notify(IKE_N_NO_PROPOSAL_CHOSEN, {}); }},
		{"auth_req", IKE_MSG_AUTH_REQ, auth_req},
		{"auth_resp", IKE_MSG_AUTH_RESP, auth_resp},
		{"auth_resp_eap", IKE_MSG_AUTH_EAP_FIRST_RESP, auth_resp_eap},
		{"rekey_ike_req", IKE_MSG_REKEY_IKE_REQ, rekey_ike_req},
		{"create_child_req", IKE_MSG_CREATE_CHILD_REQ, create_child_req},
		{"info_delete", IKE_MSG_INFO_REQ, info_delete},
		{"info_mobike", IKE_MSG_INFO_REQ, info_mobike},
		{"info_empty", IKE_MSG_INFO_RESP, info_empty},
		{"auth_req_frag1", IKE_MSG_KIND_COUNT, [] { return auth_req_fragment(1); }},
		{"auth_req_frag2", IKE_MSG_KIND_COUNT, [] { return auth_req_fragment(2); }},
	};
	return f;
}

std::string path(const std::string &dir, const std::string &name)
{
	return std::string(VPN_SOURCE_DIR) + "/" + dir + "/" + name;
}

bool read_file(const std::string &p, Bytes *out)
{
	std::ifstream f(p, std::ios::binary);
	if (!f)
		return false;
	out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
	return true;
}

void write_file(const std::string &p, const Bytes &b)
{
	std::ofstream f(p, std::ios::binary | std::ios::trunc);
	f.write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
	ASSERT_TRUE(f.good()) << p;
}

bool regen() { return getenv("VPN_REGEN_FIXTURES") != nullptr; }

// Frag fuzzer seed, reassembly mode (see tests/fuzz/fuzz_ike_frag.c): the
// inner chain cut into `parts` records delivered in reverse order.
Bytes frag_seed_reassembly(const Bytes &in, uint8_t first, unsigned parts)
{
	Bytes s = {0};
	size_t chunk = (in.size() + parts - 1) / parts;
	for (unsigned k = parts; k >= 1; k--) {
		size_t off = (k - 1) * chunk, len = std::min(chunk, in.size() - off);
		Bytes rec = {1, uint8_t(k), uint8_t(parts), uint8_t(k == 1 ? first : 0), 0,
			     uint8_t(len >> 8), uint8_t(len)};
		s.insert(s.end(), rec.begin(), rec.end());
		s.insert(s.end(), in.begin() + off, in.begin() + off + len);
	}
	return s;
}

// Frag fuzzer seed, split mode: MTU, IV, ICV, block, first type, inner chain.
Bytes frag_seed_split(const Bytes &in, uint8_t first, uint16_t mtu, uint8_t iv, uint8_t icv,
		      uint8_t block)
{
	Bytes s = {1, uint8_t(mtu >> 8), uint8_t(mtu), iv, icv, block, first};
	s.insert(s.end(), in.begin(), in.end());
	return s;
}

TEST(IkeFixtures, MatchTheCodecAndDecode)
{
	for (const Fixture &fx : fixtures()) {
		SCOPED_TRACE(fx.name);
		Bytes built = fx.build(), file;
		std::string name = std::string(fx.name) + ".bin";

		if (regen()) {
			write_file(path("tests/fixtures/ike", name), built);
			write_file(path("tests/fuzz/corpus/ike_decode", name), built);
		}
		ASSERT_TRUE(read_file(path("tests/fixtures/ike", name), &file));
		EXPECT_EQ(file, built);
		ASSERT_TRUE(read_file(path("tests/fuzz/corpus/ike_decode", name), &file));
		EXPECT_EQ(file, built);

		ike_msg m;
		ASSERT_EQ(ike_decode(file.data(), file.size(), &m), 0);
		for (unsigned i = 0; i < m.chain.n; i++)
			EXPECT_EQ(ike_parse_any(&m.chain.pl[i]), 0);
		const ike_payload *sk = ike_chain_find(&m.chain, IKE_PT_SK);
		if (!sk) {
			if (fx.kind != IKE_MSG_KIND_COUNT) {
				EXPECT_EQ(ike_check_payloads(fx.kind, nullptr, &m.chain), 0);
			}
			continue;
		}
		ike_sk s;
		ike_chain in;
		ASSERT_EQ(ike_parse_sk(sk, &s), 0);
		ASSERT_GE(s.len, 8u + 17);
		ASSERT_EQ(ike_decode_inner(s.body + 8, s.len - 8 - 17, s.first, &in), 0);
		for (unsigned i = 0; i < in.n; i++)
			EXPECT_EQ(ike_parse_any(&in.pl[i]), 0) << ike_payload_name(in.pl[i].type);
		EXPECT_EQ(ike_check_payloads(fx.kind, &m.chain, &in), 0);
	}
}

TEST(IkeFixtures, FragmentSeeds)
{
	uint8_t first;
	Bytes in = auth_req_inner(&first);
	struct {
		const char *name;
		Bytes data;
	} seeds[] = {
		{"reassemble_3.bin", frag_seed_reassembly(in, first, 3)},
		{"reassemble_1.bin", frag_seed_reassembly(in, first, 1)},
		{"split_gcm_576.bin", frag_seed_split(in, first, 576, 8, 16, 1)},
		{"split_cbc_300.bin", frag_seed_split(in, first, 300, 16, 16, 16)},
	};
	for (auto &s : seeds) {
		Bytes file;
		if (regen())
			write_file(path("tests/fuzz/corpus/ike_frag", s.name), s.data);
		ASSERT_TRUE(read_file(path("tests/fuzz/corpus/ike_frag", s.name), &file)) << s.name;
		EXPECT_EQ(file, s.data) << s.name;
	}
}

} // namespace
