// A scripted IKEv2 responder for the engine's unit tests, and the fixture
// that drives the engine with it on a real uv loop.
//
// The responder plays the gateway's side with our own codec, key schedule,
// SK protection, fragmentation and crypto layer: it parses the engine's
// requests, decrypts them with the keys it derived itself, checks what it
// can (payload rules, the initiator's AUTH, NAT detection, COOKIE and KE
// retries) and builds the answers a gateway would send. Tests bend it with
// knobs (groups, cookies, announcements) and with `edit`, a hook that sees
// every response as a list of payloads before it is protected, so any
// payload can be removed, replaced or added.
//
// Header-only on purpose: tests/unit/CMakeLists.txt builds every
// test_*.cc as its own binary, and each test_ike_sa_*.cc includes this.
#ifndef VPN_TESTS_IKE_RESPONDER_H
#define VPN_TESTS_IKE_RESPONDER_H

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "client/crypto/crypto.h"
#include "client/ike/codec.h"
#include "client/ike/frag.h"
#include "client/ike/ike.h"
#include "client/ike/keys.h"
#include "client/ike/proposal.h"
#include "client/ike/sk.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

namespace iketest {

using Bytes = std::vector<uint8_t>;

// Largest message (the engine's IKE_MSG_MAX is internal).
constexpr size_t MSG_MAX = 65536;

inline Bytes bytes(const char *s) { return Bytes(s, s + strlen(s)); }

inline std::string hex(const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789ABCDEF";
	std::string s;
	for (size_t i = 0; i < n; i++) {
		s += d[p[i] >> 4];
		s += d[p[i] & 15];
	}
	return s;
}
inline std::string hex(const Bytes &b) { return hex(b.data(), b.size()); }

inline sockaddr_in sin4(const char *ip, uint16_t port)
{
	sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

inline ike_ts ts4(const char *from, const char *to, uint8_t proto = 0,
		  uint16_t p0 = 0, uint16_t p1 = 0xffff)
{
	ike_ts t;
	memset(&t, 0, sizeof(t));
	t.type = IKE_TS_IPV4_ADDR_RANGE;
	t.ip_proto = proto;
	t.start_port = p0;
	t.end_port = p1;
	inet_pton(AF_INET, from, t.start);
	inet_pton(AF_INET, to, t.end);
	return t;
}

inline bool ts_equal(const ike_ts &a, const ike_ts &b)
{
	size_t n = a.type == IKE_TS_IPV6_ADDR_RANGE ? 16 : 4;
	return a.type == b.type && a.ip_proto == b.ip_proto &&
	       a.start_port == b.start_port && a.end_port == b.end_port &&
	       !memcmp(a.start, b.start, n) && !memcmp(a.end, b.end, n);
}

inline std::vector<ike_proposal> proposals(const char *s, uint8_t proto)
{
	std::vector<ike_proposal> p(IKE_MAX_PROPOSALS);
	size_t n = 0;
	char err[200] = "";
	if (ike_proposals_parse(s, proto, p.data(), p.size(), &n, err, sizeof(err))) {
		ADD_FAILURE() << "proposal string '" << s << "': " << err;
		n = 0;
	}
	p.resize(n);
	return p;
}

inline ike_identity identity(const char *s)
{
	ike_identity id;
	EXPECT_EQ(ike_identity_parse(s, &id), 0) << s;
	return id;
}

// ---- payloads as (type, body) -------------------------------------------------

struct Pl {
	uint8_t type = 0;
	Bytes body; // without the generic header
	bool critical = false;
};
using Pls = std::vector<Pl>;

// One payload written by a typed builder, returned without its header.
template <class F> Pl make_pl(F build)
{
	Bytes buf(MSG_MAX);
	ike_builder b;
	size_t len = 0;

	ike_build_init_chain(&b, buf.data(), buf.size());
	build(&b);
	int err = ike_build_finish(&b, &len);
	EXPECT_EQ(err, 0) << "building a payload: " << ike_strerror(err);
	if (err || len < IKE_PAYLOAD_HDR_LEN)
		return Pl{};
	return Pl{b.first, Bytes(buf.begin() + IKE_PAYLOAD_HDR_LEN, buf.begin() + len),
		  (buf[1] & IKE_PAYLOAD_FLAG_CRITICAL) != 0};
}

inline Pl pl_notify(uint16_t type, const Bytes &data = {}, uint8_t proto = 0,
		    const Bytes &spi = {})
{
	return make_pl([&](ike_builder *b) {
		ike_build_notify(b, proto, spi.empty() ? nullptr : spi.data(),
				 (uint8_t)spi.size(), type, data.data(), data.size());
	});
}
inline Pl pl_nonce(const Bytes &n)
{
	return make_pl([&](ike_builder *b) { ike_build_nonce(b, n.data(), n.size()); });
}
inline Pl pl_ke(uint16_t group, const Bytes &v)
{
	return make_pl([&](ike_builder *b) { ike_build_ke(b, group, v.data(), v.size()); });
}
inline Pl pl_sa(const ike_proposal *p, size_t n)
{
	return make_pl([&](ike_builder *b) { ike_build_sa(b, p, n); });
}
inline Pl pl_id(uint8_t pt, const ike_identity &id)
{
	return make_pl([&](ike_builder *b) { ike_build_id(b, pt, id.type, id.data, id.len); });
}
inline Pl pl_cert(const Bytes &der)
{
	return make_pl([&](ike_builder *b) {
		ike_build_cert(b, IKE_CERT_X509_SIG, der.data(), der.size());
	});
}
inline Pl pl_certreq(const Bytes &hashes)
{
	return make_pl([&](ike_builder *b) {
		ike_build_certreq(b, IKE_CERT_X509_SIG, hashes.data(), hashes.size());
	});
}
inline Pl pl_auth(uint8_t method, const Bytes &data)
{
	return make_pl([&](ike_builder *b) { ike_build_auth(b, method, data.data(), data.size()); });
}
inline Pl pl_ts(uint8_t pt, const std::vector<ike_ts> &ts)
{
	return make_pl([&](ike_builder *b) { ike_build_ts(b, pt, ts.data(), ts.size()); });
}
struct CpAttr {
	uint16_t type;
	Bytes val;
};
inline Pl pl_cp(uint8_t cfg_type, const std::vector<CpAttr> &attrs)
{
	std::vector<ike_cp_attr> a;
	for (auto &x : attrs)
		a.push_back(ike_cp_attr{x.type, (uint16_t)x.val.size(),
					x.val.empty() ? nullptr : x.val.data()});
	return make_pl([&](ike_builder *b) { ike_build_cp(b, cfg_type, a.data(), a.size()); });
}
inline Pl pl_eap(const Bytes &msg)
{
	return make_pl([&](ike_builder *b) { ike_build_eap(b, msg.data(), msg.size()); });
}
inline Pl pl_delete(uint8_t proto, uint8_t spi_len, const Bytes &spis, uint16_t n)
{
	return make_pl([&](ike_builder *b) {
		ike_build_delete(b, proto, spi_len, spis.empty() ? nullptr : spis.data(), n);
	});
}

// A view the codec's typed parsers accept.
inline ike_payload view(const Pl &p)
{
	ike_payload v;
	memset(&v, 0, sizeof(v));
	v.type = p.type;
	v.critical = p.critical;
	v.known = true;
	v.inner = true;
	v.len = p.body.size();
	v.data = p.body.data();
	return v;
}

inline Pl *find_pl(Pls &pls, uint8_t type)
{
	for (auto &p : pls)
		if (p.type == type)
			return &p;
	return nullptr;
}
inline const Pl *find_pl(const Pls &pls, uint8_t type)
{
	for (auto &p : pls)
		if (p.type == type)
			return &p;
	return nullptr;
}
inline uint16_t notify_type(const Pl &p)
{
	return p.type == IKE_PT_NOTIFY && p.body.size() >= 4 ? get_be16(p.body.data() + 2) : 0;
}
inline const Pl *find_notify(const Pls &pls, uint16_t type)
{
	for (auto &p : pls)
		if (notify_type(p) == type)
			return &p;
	return nullptr;
}
inline void remove_pl(Pls &pls, uint8_t type)
{
	pls.erase(std::remove_if(pls.begin(), pls.end(),
				 [&](const Pl &p) { return p.type == type; }),
		  pls.end());
}
inline void remove_notify(Pls &pls, uint16_t type)
{
	pls.erase(std::remove_if(pls.begin(), pls.end(),
				 [&](const Pl &p) { return notify_type(p) == type; }),
		  pls.end());
}
inline void replace_pl(Pls &pls, const Pl &with)
{
	for (auto &p : pls)
		if (p.type == with.type) {
			p = with;
			return;
		}
	pls.push_back(with);
}
// Notify data after protocol, SPI size, type and SPI.
inline Bytes notify_data(const Pl &p)
{
	ike_payload v = view(p);
	ike_notify n;
	if (ike_parse_notify(&v, &n))
		return {};
	return Bytes(n.data, n.data + n.len);
}

// ---- a message as the responder saw it -------------------------------------------

struct Msg {
	ike_header hdr{};
	Pls pls;             // IKE_SA_INIT: the payloads; otherwise the decrypted inner ones
	bool protected_ = false;
	unsigned frags = 0;  // SKF fragments it came in (0: not fragmented)
	Bytes raw;           // the datagram (the first fragment's if fragmented)

	const Pl *find(uint8_t t) const { return find_pl(pls, t); }
	const Pl *notify(uint16_t t) const { return find_notify(pls, t); }
	bool has_notify(uint16_t t) const { return notify(t) != nullptr; }
	std::vector<uint8_t> types() const
	{
		std::vector<uint8_t> v;
		for (auto &p : pls)
			v.push_back(p.type);
		return v;
	}
};

inline Pls pls_of(const ike_chain &c)
{
	Pls out;
	for (unsigned i = 0; i < c.n; i++)
		out.push_back(Pl{c.pl[i].type, Bytes(c.pl[i].data, c.pl[i].data + c.pl[i].len),
				 c.pl[i].critical});
	return out;
}

// ---- algorithms: our own mapping of transform IDs (independent of the engine) ----

inline bool map_algs(const ike_proposal &p, ike_key_algs *a)
{
	memset(a, 0, sizeof(*a));
	if (!p.n[IKE_XFORM_ENCR])
		return false;
	const ike_xform &e = p.x[IKE_XFORM_ENCR][0];
	switch (e.id) {
	case IKE_ENCR_AES_CBC: a->encr = CRYPTO_ENCR_AES_CBC; a->encr_key_bits = e.key_bits; break;
	case IKE_ENCR_AES_GCM_16: a->encr = CRYPTO_ENCR_AES_GCM_16; a->encr_key_bits = e.key_bits; break;
	case IKE_ENCR_CHACHA20_POLY1305: a->encr = CRYPTO_ENCR_CHACHA20_POLY1305; a->encr_key_bits = 256; break;
	default: return false;
	}
	a->integ = CRYPTO_INTEG_NONE;
	if (p.n[IKE_XFORM_INTEG]) {
		switch (p.x[IKE_XFORM_INTEG][0].id) {
		case IKE_INTEG_NONE: break;
		case IKE_INTEG_HMAC_SHA2_256_128: a->integ = CRYPTO_INTEG_HMAC_SHA2_256_128; break;
		case IKE_INTEG_HMAC_SHA2_384_192: a->integ = CRYPTO_INTEG_HMAC_SHA2_384_192; break;
		case IKE_INTEG_HMAC_SHA2_512_256: a->integ = CRYPTO_INTEG_HMAC_SHA2_512_256; break;
		default: return false;
		}
	}
	if (p.protocol == IKE_PROTO_IKE) {
		if (!p.n[IKE_XFORM_PRF])
			return false;
		switch (p.x[IKE_XFORM_PRF][0].id) {
		case IKE_PRF_HMAC_SHA1: a->prf = CRYPTO_PRF_HMAC_SHA1; break;
		case IKE_PRF_HMAC_SHA2_256: a->prf = CRYPTO_PRF_HMAC_SHA2_256; break;
		case IKE_PRF_HMAC_SHA2_384: a->prf = CRYPTO_PRF_HMAC_SHA2_384; break;
		case IKE_PRF_HMAC_SHA2_512: a->prf = CRYPTO_PRF_HMAC_SHA2_512; break;
		default: return false;
		}
	}
	return true;
}

inline bool has_xform(const ike_proposal &p, int type, const ike_xform &x)
{
	for (unsigned i = 0; i < p.n[type]; i++)
		if (p.x[type][i].id == x.id && p.x[type][i].key_bits == x.key_bits)
			return true;
	return false;
}

// The responder's choice among the initiator's proposals: the first offered
// proposal one of `accept` covers (accept empty: anything), one transform
// per type in the initiator's order. With `ke_group` nonzero the DH
// transform must be that group if the proposal lists it; *want_group
// reports a common group to ask for when the KE's group is not acceptable.
inline bool choose(const ike_sa_payload &offer, const std::vector<ike_proposal> &accept,
		   uint16_t ke_group, bool with_dh, ike_proposal *out, uint16_t *want_group)
{
	*want_group = 0;
	for (unsigned i = 0; i < offer.n; i++) {
		const ike_proposal &o = offer.p[i];
		std::vector<ike_proposal> acc = accept;
		if (acc.empty())
			acc.push_back(o);
		for (auto &a : acc) {
			if (a.protocol != o.protocol)
				continue;
			ike_proposal c;
			memset(&c, 0, sizeof(c));
			c.num = o.num;
			c.protocol = o.protocol;
			bool ok = true;
			for (int t : {IKE_XFORM_ENCR, IKE_XFORM_PRF, IKE_XFORM_INTEG, IKE_XFORM_ESN}) {
				if (!o.n[t] && !a.n[t])
					continue;
				bool found = false;
				for (unsigned k = 0; k < o.n[t] && !found; k++)
					if (has_xform(a, t, o.x[t][k])) {
						ike_proposal_add(&c, (uint8_t)t, o.x[t][k].id, o.x[t][k].key_bits);
						found = true;
					}
				if (!found && !(t == IKE_XFORM_ESN && !a.n[t]))
					ok = false;
			}
			if (!ok)
				continue;
			if (with_dh && o.n[IKE_XFORM_DH]) {
				ike_xform g{ke_group, 0};
				if (has_xform(o, IKE_XFORM_DH, g) && has_xform(a, IKE_XFORM_DH, g)) {
					ike_proposal_add(&c, IKE_XFORM_DH, ke_group, 0);
				} else {
					for (unsigned k = 0; k < o.n[IKE_XFORM_DH]; k++)
						if (has_xform(a, IKE_XFORM_DH, o.x[IKE_XFORM_DH][k])) {
							if (!*want_group)
								*want_group = o.x[IKE_XFORM_DH][k].id;
							break;
						}
					continue;
				}
			}
			*out = c;
			return true;
		}
	}
	return false;
}

inline Bytes natd_hash(uint64_t spi_i, uint64_t spi_r, const sockaddr_in &a)
{
	uint8_t spis[16];
	put_be64(spis, spi_i);
	put_be64(spis + 8, spi_r);
	crypto_iov iov[3] = {{spis, 16}, {&a.sin_addr, 4}, {&a.sin_port, 2}};
	Bytes out(20);
	EXPECT_EQ(crypto_hash(CRYPTO_HASH_SHA1, iov, 3, out.data()), 0);
	return out;
}

inline Bytes prf(enum crypto_prf f, const Bytes &key, const Bytes &data)
{
	Bytes out(crypto_prf_len(f));
	crypto_iov iov{data.data(), data.size()};
	EXPECT_EQ(crypto_prf(f, key.data(), key.size(), &iov, 1, out.data()), 0);
	return out;
}

// AUTH with a shared key (RFC 7296 2.15): prf(prf(key, "Key Pad for IKEv2"), octets).
inline Bytes psk_auth(enum crypto_prf f, const Bytes &key, const Bytes &octets)
{
	return prf(f, prf(f, key, bytes("Key Pad for IKEv2")), octets);
}

// RFC 7427 Appendix A AlgorithmIdentifier encodings (data, copied from the RFC).
struct SigAlg {
	const char *name;
	Bytes der;
	crypto_sig_scheme scheme;
	enum crypto_hash hash;
};
inline const std::vector<SigAlg> &sig_algs()
{
	static const std::vector<SigAlg> t = {
		{"rsa-sha256", {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00},
		 CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA256},
		{"rsa-sha384", {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00},
		 CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA384},
		{"rsa-sha512", {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00},
		 CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA512},
		{"ecdsa-sha256", {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02},
		 CRYPTO_SIG_ECDSA_DER, CRYPTO_HASH_SHA256},
		{"ecdsa-sha384", {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03},
		 CRYPTO_SIG_ECDSA_DER, CRYPTO_HASH_SHA384},
		{"ecdsa-sha512", {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04},
		 CRYPTO_SIG_ECDSA_DER, CRYPTO_HASH_SHA512},
		{"ed25519", {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}, CRYPTO_SIG_ED25519, CRYPTO_HASH_SHA512},
	};
	return t;
}
inline const SigAlg *sig_alg(const char *name)
{
	for (auto &a : sig_algs())
		if (!strcmp(a.name, name))
			return &a;
	return nullptr;
}

// ---- EAP-MSCHAPv2 messages (RFC 3748 4, draft-kamath-pppext-eap-mschapv2) ----

enum { EAP_REQUEST = 1, EAP_RESPONSE = 2, EAP_SUCCESS = 3, EAP_FAILURE = 4 };
enum { EAP_T_IDENTITY = 1, EAP_T_MSCHAPV2 = 26 };
enum { MSCHAP_CHALLENGE = 1, MSCHAP_RESPONSE = 2, MSCHAP_SUCCESS = 3, MSCHAP_FAILURE = 4 };

inline Bytes eap_msg(uint8_t code, uint8_t id, const Bytes &type_data)
{
	Bytes m = {code, id, 0, 0};
	m.insert(m.end(), type_data.begin(), type_data.end());
	put_be16(m.data() + 2, (uint16_t)m.size());
	return m;
}
// MSCHAPv2 packet inside an EAP Request: type 26, OpCode, ID, MS-Length, data.
inline Bytes mschap(uint8_t op, uint8_t ms_id, const Bytes &data)
{
	Bytes m = {EAP_T_MSCHAPV2, op, ms_id, 0, 0};
	m.insert(m.end(), data.begin(), data.end());
	put_be16(m.data() + 3, (uint16_t)(m.size() - 1));
	return m;
}

// ---- the responder ------------------------------------------------------------------

struct RChild {
	uint32_t spi_client = 0; // the engine's inbound SPI: where the gateway sends
	uint32_t spi_gw = 0;     // the gateway's inbound SPI: where the engine sends
	ike_proposal prop{};
	Bytes encr_c2g, integ_c2g, encr_g2c, integ_g2c; // keys by direction
	std::vector<ike_ts> ts_client, ts_gw;
	bool alive = true;
	uint32_t replaces_gw = 0; // the gateway SPI of the SA it replaced
	bool pfs = false;
	unsigned gen = 0;         // the IKE SA generation whose SK_d made its keys
};

// One generation of the IKE SA as the gateway keeps it. IKE_SA_INIT makes
// generation 0; each rekey (RFC 7296 2.18) a new one with new SPIs, keys and
// message IDs, whose original initiator is the side that started the rekey.
// The replaced one lives on until its Delete exchange is over.
struct RGen {
	unsigned num = 0;
	uint64_t spi_i = 0, spi_r = 0;   // as in the header: the original initiator's first
	bool gw_initiator = false;       // the gateway is its original initiator (it rekeyed)
	ike_proposal prop{};             // the IKE proposal it runs
	ike_key_algs algs{};
	ike_sa_keys keys{};
	crypto_cipher *c_in = nullptr, *c_out = nullptr;
	// the engine's requests
	uint32_t expect_msgid = 0;
	bool have_cache = false;
	uint32_t cache_msgid = 0;
	std::vector<Bytes> cache;
	// the gateway's own requests
	uint32_t own_msgid = 0;
	bool own_pending = false;
	uint8_t own_exchange = 0;
	int own_kind = 0;                // Responder::OWN_*
	std::vector<Bytes> own_last;
	bool deleted = false;            // its Delete exchange is over: nothing may use it

	RGen() = default;
	RGen(const RGen &) = delete;
	RGen &operator=(const RGen &) = delete;
	~RGen()
	{
		crypto_cipher_free(c_in);
		crypto_cipher_free(c_out);
		ike_keys_sa_wipe(&keys);
	}
	// The engine's messages carry the Initiator flag when it is the
	// original initiator of this generation.
	uint8_t engine_flag() const { return gw_initiator ? 0 : IKE_HDR_FLAG_INITIATOR; }
	uint8_t gw_flag() const { return gw_initiator ? IKE_HDR_FLAG_INITIATOR : 0; }
	Bytes sk_d() const { return Bytes(keys.sk_d, keys.sk_d + keys.prf_len); }
};

class Responder {
public:
	// ---- knobs -------------------------------------------------------------------
	ike_identity id{};                 // IDr sent
	Bytes psk;                         // the shared key (PSK auth)
	Bytes peer_psk_override;           // AUTH the gateway computes with this key instead
	const crypto_cert *cert = nullptr; // the gateway's certificate and key
	const crypto_privkey *key = nullptr;
	std::vector<const crypto_cert *> chain; // intermediates sent after the leaf
	bool classic_sig = false;          // sign with method 1/9/10 even if 7427 is possible
	std::vector<ike_proposal> ike_accept, esp_accept; // empty: take the initiator's first
	uint16_t want_group = 0;           // INVALID_KE_PAYLOAD unless the KE is of this group
	bool cookie = false;               // demand a COOKIE first
	Bytes cookie_value = bytes("cookie-of-the-responder-0123456789");
	bool announce_frag = true;
	std::vector<uint16_t> hash_algs = {IKE_HASH_SHA2_256, IKE_HASH_SHA2_384, IKE_HASH_SHA2_512};
	bool announce_mobike = true;
	bool send_certreq = false;
	sockaddr_in gw_addr = sin4("203.0.113.1", 500);       // the gateway's own address
	// (gw_addr differs from the engine's remote address: the gateway is behind a NAT)
	sockaddr_in client_seen = sin4("192.168.1.10", 500);  // where the initiator's packets come from
	// configuration handed out
	uint8_t vip[4] = {10, 99, 0, 7};
	uint8_t netmask[4] = {255, 255, 255, 0};
	std::vector<std::array<uint8_t, 4>> dns = {{10, 99, 0, 1}, {10, 99, 0, 2}};
	std::string domain = "corp.vpnctl.test";
	std::vector<ike_ts> gw_ts = {ts4("10.1.0.0", "10.1.255.255")}; // narrowed TSr
	// EAP
	std::string eap_user = "alice", eap_password = "correct horse";
	bool eap_wrong_authenticator = false; // a gateway that does not know the password
	// fragments
	size_t frag_max_msg = 0;           // fragment responses above this size (0: never)
	// behaviour
	bool silent = false;               // a dead gateway: answers nothing
	unsigned drop_requests = 0;        // lose this many of the next requests
	// The engine's IDr (send_idr) must name `id`, as on a gateway that picks
	// one of several identities by it; otherwise AUTHENTICATION_FAILED.
	bool idr_selects = false;
	// Nonces of the gateway's CREATE_CHILD_SA for Child SAs: as initiator
	// and as responder (empty: random), to decide rekey collisions.
	Bytes child_ni, child_nr;
	// Refuse this many of the engine's IKE SA rekeys with this notify.
	unsigned refuse_ike_rekey = 0;
	uint16_t refuse_ike_rekey_with = IKE_N_TEMPORARY_FAILURE;
	// Every response before protection: the request it answers, its header
	// (for SPIs, flags, message ID) and payloads.
	std::function<void(const Msg &req, ike_header &h, Pls &pls)> edit;

	// ---- what happened -----------------------------------------------------------------
	std::vector<std::string> errors;   // protocol violations by the engine
	std::vector<Msg> requests;         // every request it processed, in order
	std::vector<Msg> responses;        // the engine's responses to our requests
	std::vector<Bytes> response_raw;   // ... as datagrams, repeated ones included
	unsigned dup_responses = 0;        // answers to a request we repeated
	unsigned retransmits_seen = 0;     // requests answered from the cache
	unsigned cookie_sent = 0, invalid_ke_sent = 0;
	unsigned eap_naks = 0;
	bool initiator_nat_detected = false; // the engine's NATD_SOURCE did not match
	bool responder_nat_detected = false; // its NATD_DESTINATION did not hash gw_addr
	uint8_t init_auth_method = 0;       // the engine's AUTH method
	std::string init_auth_alg;          // RFC 7427 AlgorithmIdentifier name, "" otherwise
	bool init_auth_ok = false;          // it verified
	bool ike_up = false;                // IKE_AUTH finished on our side
	bool ike_deleted = false;           // the engine deleted the (current) IKE SA
	unsigned old_ike_deleted = 0;       // the engine deleted a rekeyed generation
	unsigned info_empty = 0;            // empty INFORMATIONAL requests (liveness)
	std::vector<RChild> children;
	bool idr_received = false;          // the engine sent IDr ...
	ike_identity idr{};                 // ... this one
	uint16_t ike_rekey_refused = 0;     // the engine's answer to our IKE rekey: this error

	// ---- keys ----------------------------------------------------------------------------
	Bytes ni, nr, init_req, init_resp;
	ike_proposal ike_chosen{};          // IKE_SA_INIT's choice
	bool peer_frag = false;
	std::vector<uint16_t> peer_hash_algs;

	// What our own requests were, for their answers.
	enum { OWN_OTHER, OWN_REKEY_CHILD, OWN_NEW_CHILD, OWN_REKEY_IKE, OWN_DELETE_IKE };

	Responder() : reasm(new ike_frag_reasm), g(new RGen) { ike_frag_init(reasm.get()); }
	~Responder()
	{
		crypto_dh_free(own_dh);
		crypto_cert_free(peer_cert);
	}
	Responder(const Responder &) = delete;
	Responder &operator=(const Responder &) = delete;

	// The current generation, and the one a rekey replaced (null if none).
	RGen &gen() { return *g; }
	const RGen &gen() const { return *g; }
	RGen *old_gen() { return old.get(); }

	// A datagram from the engine; returns what the gateway sends back.
	std::vector<Bytes> handle(const Bytes &dgram)
	{
		Bytes buf = dgram;
		ike_msg m;

		if (ike_decode(buf.data(), buf.size(), &m)) {
			err("a datagram that does not decode");
			return {};
		}
		if (m.hdr.flags & IKE_HDR_FLAG_RESPONSE)
			return on_response(buf, m);
		if (m.hdr.exchange == IKE_EXCH_IKE_SA_INIT) {
			if (!(m.hdr.flags & IKE_HDR_FLAG_INITIATOR))
				err("an IKE_SA_INIT request without the Initiator flag");
			return silent ? std::vector<Bytes>{} : on_sa_init(buf, m);
		}
		RGen *gn = gen_of(m.hdr);
		if (!gn) {
			err("a request for unknown SPIs");
			return {};
		}
		if ((m.hdr.flags & IKE_HDR_FLAG_INITIATOR) != gn->engine_flag())
			err(std::string("a request ") + (gn->engine_flag() ? "without" : "with") +
			    " the Initiator flag on generation " + std::to_string(gn->num));
		if (silent)
			return {};
		// Retransmission: answer from the cache (on the first fragment only),
		// also the repeated Delete of a generation.
		if (gn->have_cache && m.hdr.msgid == gn->cache_msgid) {
			if (last_is_skf(m) && skf_num(m) != 1)
				return {};
			retransmits_seen++;
			return gn->cache;
		}
		if (gn->deleted) {
			err("a request on IKE SA generation " + std::to_string(gn->num) +
			    " after its Delete");
			return {};
		}
		if (m.hdr.msgid != gn->expect_msgid) {
			err("request " + std::to_string(m.hdr.msgid) + " where " +
			    std::to_string(gn->expect_msgid) + " was due");
			return {};
		}
		Msg req;
		if (!open(*gn, buf, m, &req))
			return {};
		if (drop_requests) {
			drop_requests--;
			return {};
		}
		requests.push_back(req);
		rx = gn;
		std::vector<Bytes> out;
		switch (req.hdr.exchange) {
		case IKE_EXCH_IKE_AUTH: out = on_auth(req); break;
		case IKE_EXCH_INFORMATIONAL: out = on_info(req); break;
		case IKE_EXCH_CREATE_CHILD_SA: out = on_create_child(req); break;
		default: err("request of exchange " + std::to_string(req.hdr.exchange)); break;
		}
		rx = nullptr;
		// The generation the request came on: an IKE rekey answer has just
		// made another one current.
		if (!out.empty()) {
			gn->expect_msgid++;
			gn->cache = out;
			gn->cache_msgid = req.hdr.msgid;
			gn->have_cache = true;
		}
		return out;
	}

	// ---- requests the gateway starts ------------------------------------------------------

	std::vector<Bytes> req_liveness() { return own_request(IKE_EXCH_INFORMATIONAL, {}); }
	std::vector<Bytes> req_delete_ike()
	{
		return own_request(IKE_EXCH_INFORMATIONAL, {pl_delete(IKE_PROTO_IKE, 0, {}, 0)});
	}
	// The Delete of the generation a rekey replaced, on that generation.
	std::vector<Bytes> req_delete_old_ike()
	{
		if (!old) {
			err("no rekeyed generation to delete");
			return {};
		}
		return own_request_on(*old, IKE_EXCH_INFORMATIONAL,
				      {pl_delete(IKE_PROTO_IKE, 0, {}, 0)}, OWN_DELETE_IKE);
	}
	std::vector<Bytes> req_delete_child(const RChild &c)
	{
		Bytes spi(4);
		put_be32(spi.data(), c.spi_gw);
		return own_request(IKE_EXCH_INFORMATIONAL, {pl_delete(IKE_PROTO_ESP, 4, spi, 1)});
	}
	// Rekey a Child SA (RFC 7296 2.8): REKEY_SA names our inbound SPI.
	std::vector<Bytes> req_rekey_child(const RChild &c, uint16_t pfs_group = 0)
	{
		Bytes spi(4);
		put_be32(spi.data(), c.spi_gw);
		Pls pls = child_request(c.prop, c.ts_gw, c.ts_client, pfs_group);
		pls.insert(pls.begin(), pl_notify(IKE_N_REKEY_SA, {}, IKE_PROTO_ESP, spi));
		own_rekey_of = c.spi_gw;
		return own_request(IKE_EXCH_CREATE_CHILD_SA, pls, OWN_REKEY_CHILD);
	}
	// A new Child SA without REKEY_SA (strongSwan recreating one that
	// expired), with the selectors and algorithms of `like`.
	std::vector<Bytes> req_new_child(const RChild &like, uint16_t pfs_group = 0)
	{
		own_rekey_of = 0;
		return own_request(IKE_EXCH_CREATE_CHILD_SA,
				   child_request(like.prop, like.ts_gw, like.ts_client, pfs_group),
				   OWN_NEW_CHILD);
	}
	// SA (our new SPI, the algorithms of prop), Nonce, KE with a PFS group,
	// TSi (our side: we start the exchange) and TSr.
	Pls child_request(const ike_proposal &prop, const std::vector<ike_ts> &ts_gw,
			  const std::vector<ike_ts> &ts_client, uint16_t pfs_group)
	{
		ike_proposal p = prop;
		p.num = 1;
		p.protocol = IKE_PROTO_ESP;
		p.spi_len = 4;
		crypto_random(&own_new_spi, sizeof(own_new_spi));
		own_new_spi |= 0x1000;
		put_be32(p.spi, own_new_spi);
		p.n[IKE_XFORM_DH] = 0;
		own_ni = child_ni.empty() ? random_bytes(32) : child_ni;
		crypto_dh_free(own_dh);
		own_dh = nullptr;
		own_group = pfs_group;
		Bytes ke;
		if (pfs_group) {
			ike_proposal_add(&p, IKE_XFORM_DH, pfs_group, 0);
			EXPECT_EQ(crypto_dh_new(pfs_group, &own_dh), 0);
			ke.resize(crypto_dh_public_len(pfs_group));
			crypto_dh_public(own_dh, ke.data(), ke.size());
		}
		Pls pls = {pl_sa(&p, 1), pl_nonce(own_ni)};
		if (pfs_group)
			pls.push_back(pl_ke(pfs_group, ke));
		pls.push_back(pl_ts(IKE_PT_TSI, ts_gw));
		pls.push_back(pl_ts(IKE_PT_TSR, ts_client));
		return pls;
	}
	// Rekey the IKE SA (RFC 7296 2.18): SA with a new SPI, Ni, KE. The
	// proposal is the current one unless given; the KE is of its first group.
	std::vector<Bytes> req_rekey_ike(const ike_proposal *offer = nullptr)
	{
		ike_proposal p = offer ? *offer : g->prop;
		p.num = 1;
		p.protocol = IKE_PROTO_IKE;
		p.spi_len = 8;
		do
			crypto_random(&own_ike_spi, sizeof(own_ike_spi));
		while (!own_ike_spi);
		put_be64(p.spi, own_ike_spi);
		own_group = p.x[IKE_XFORM_DH][0].id;
		crypto_dh_free(own_dh);
		own_dh = nullptr;
		EXPECT_EQ(crypto_dh_new(own_group, &own_dh), 0);
		Bytes ke(crypto_dh_public_len(own_group));
		crypto_dh_public(own_dh, ke.data(), ke.size());
		own_ni = random_bytes(32);
		own_offer = p;
		return own_request(IKE_EXCH_CREATE_CHILD_SA,
				   {pl_sa(&p, 1), pl_nonce(own_ni), pl_ke(own_group, ke)}, OWN_REKEY_IKE);
	}
	// Any request with these payloads, on the current generation.
	std::vector<Bytes> own_request(uint8_t exchange, const Pls &pls, int kind = OWN_OTHER)
	{
		return own_request_on(*g, exchange, pls, kind);
	}
	std::vector<Bytes> own_request_on(RGen &gn, uint8_t exchange, const Pls &pls,
					  int kind = OWN_OTHER)
	{
		ike_header h{};
		h.spi_i = gn.spi_i;
		h.spi_r = gn.spi_r;
		h.exchange = exchange;
		h.flags = gn.gw_flag(); // not a response
		h.msgid = gn.own_msgid;
		gn.own_pending = true;
		gn.own_exchange = exchange;
		gn.own_kind = kind;
		auto out = seal(gn, h, pls);
		gn.own_last = out;
		return out;
	}
	// The same request again (a retransmission).
	std::vector<Bytes> own_retransmit() const { return g->own_last; }

	const RChild *child_by_client_spi(uint32_t spi) const
	{
		for (auto &c : children)
			if (c.spi_client == spi)
				return &c;
		return nullptr;
	}
	const RChild *live_child() const
	{
		for (auto it = children.rbegin(); it != children.rend(); ++it)
			if (it->alive)
				return &*it;
		return nullptr;
	}
	uint32_t next_own_msgid() const { return g->own_msgid; }
	void set_own_msgid(uint32_t m) { g->own_msgid = m; }

	// Seal a protected message (fragmented when frag_max_msg asks for it),
	// on the current generation or the given one.
	std::vector<Bytes> seal(const ike_header &h, const Pls &pls) { return seal(*g, h, pls); }
	std::vector<Bytes> seal(const RGen &gn, const ike_header &h, const Pls &pls)
	{
		std::vector<Bytes> out;
		Bytes buf(MSG_MAX * 2);
		size_t len = 0;
		crypto_cipher *c_out = gn.c_out;

		if (!c_out) {
			err("sealing without keys");
			return out;
		}
		Bytes inner = chain_of(pls);
		uint8_t first = pls.empty() ? (uint8_t)IKE_PT_NONE : pls[0].type;
		size_t whole = IKE_HDR_LEN + IKE_PAYLOAD_HDR_LEN +
			       ike_sk_overhead(c_out, inner.size()) + inner.size();
		if (frag_max_msg && peer_frag && whole > frag_max_msg && !inner.empty()) {
			ike_frag_plan plan;
			ike_header fh = h;
			fh.next = IKE_PT_SKF;
			EXPECT_EQ(ike_frag_plan_for(c_out, inner.size(), frag_max_msg, &plan), 0);
			for (uint16_t n = 1; n <= plan.count; n++) {
				EXPECT_EQ(ike_frag_seal(c_out, &fh, first, inner.data(), inner.size(),
							&plan, n, buf.data(), buf.size(), &len), 0);
				out.emplace_back(buf.begin(), buf.begin() + len);
			}
			return out;
		}
		ike_builder b;
		ike_build_init(&b, buf.data(), buf.size(), &h);
		ike_build_sk_begin(&b, crypto_cipher_iv_len(c_out));
		for (auto &p : pls)
			ike_build_raw(&b, p.type, p.critical, p.body.data(), p.body.size());
		int e = ike_build_sk_seal(&b, c_out, &len);
		EXPECT_EQ(e, 0) << ike_strerror(e);
		out.emplace_back(buf.begin(), buf.begin() + len);
		return out;
	}

	static Bytes chain_of(const Pls &pls)
	{
		Bytes buf(MSG_MAX);
		ike_builder b;
		size_t len = 0;
		ike_build_init_chain(&b, buf.data(), buf.size());
		for (auto &p : pls)
			ike_build_raw(&b, p.type, p.critical, p.body.data(), p.body.size());
		EXPECT_EQ(ike_build_finish(&b, &len), 0);
		return Bytes(buf.begin(), buf.begin() + len);
	}

	static Bytes random_bytes(size_t n)
	{
		Bytes b(n);
		crypto_random(b.data(), n);
		return b;
	}

	void err(const std::string &e) { errors.push_back(e); }

private:
	std::unique_ptr<ike_frag_reasm> reasm;
	Bytes scratch = Bytes(IKE_FRAG_MAX_BYTES);
	std::unique_ptr<RGen> g, old; // the current generation, the replaced one
	RGen *rx = nullptr;           // the generation of the request being answered
	Bytes init_cache_req;      // the request init_cache answers
	std::vector<Bytes> init_cache;
	// IKE_AUTH
	Msg first_auth;            // SA, TS and CP come from the first request
	Bytes idi_body;
	crypto_cert *peer_cert = nullptr;
	enum { EAP_NONE, EAP_ID_SENT, EAP_CHALLENGE_SENT, EAP_SUCCESS_SENT, EAP_DONE } eap = EAP_NONE;
	uint8_t eap_id = 0;
	uint8_t auth_challenge[16] = {}, nt_response[24] = {};
	Bytes msk;
	// our own requests (one at a time, whatever the generation)
	uint32_t own_new_spi = 0, own_rekey_of = 0;
	uint64_t own_ike_spi = 0;
	ike_proposal own_offer{};
	Bytes own_ni;
	uint16_t own_group = 0;
	crypto_dh *own_dh = nullptr;

	RGen *gen_of(const ike_header &h)
	{
		if (h.spi_i == g->spi_i && h.spi_r == g->spi_r)
			return g.get();
		if (old && h.spi_i == old->spi_i && h.spi_r == old->spi_r)
			return old.get();
		return nullptr;
	}

	static bool last_is_skf(const ike_msg &m)
	{
		return m.chain.n && m.chain.pl[m.chain.n - 1].type == IKE_PT_SKF;
	}
	static uint16_t skf_num(const ike_msg &m)
	{
		ike_skf s;
		return ike_parse_skf(&m.chain.pl[m.chain.n - 1], &s) ? 0 : s.num;
	}

	// Decrypt (and reassemble) a protected message into out.
	bool open(const RGen &gn, Bytes &buf, const ike_msg &m, Msg *out)
	{
		ike_chain inner;
		out->hdr = m.hdr;
		out->protected_ = true;
		out->raw = buf;
		if (!m.chain.n) {
			err("a protected exchange without payloads");
			return false;
		}
		const ike_payload &last = m.chain.pl[m.chain.n - 1];
		if (last.type == IKE_PT_SK) {
			if (m.chain.n != 1)
				err("payloads outside SK");
			int e = ike_sk_decrypt(gn.c_in, buf.data(), &m, &inner);
			if (e) {
				err(std::string("SK does not open: ") + ike_strerror(e));
				return false;
			}
			out->pls = pls_of(inner);
			return true;
		}
		if (last.type != IKE_PT_SKF) {
			err("a protected exchange in the clear");
			return false;
		}
		ike_skf skf;
		uint8_t *plain;
		size_t plain_len, len;
		uint8_t first;
		int e = ike_skf_decrypt(gn.c_in, buf.data(), &m, &skf, &plain, &plain_len);
		if (e) {
			err(std::string("SKF does not open: ") + ike_strerror(e));
			return false;
		}
		e = ike_frag_add(reasm.get(), m.hdr.msgid, skf.num, skf.total, skf.first, plain,
				 plain_len, 0, UINT64_MAX / 2);
		if (e < 0)
			err(std::string("fragment refused: ") + ike_strerror(e));
		if (e != 1)
			return false;
		if (ike_frag_assemble(reasm.get(), scratch.data(), scratch.size(), &len, &first) ||
		    ike_decode_inner(scratch.data(), len, first, &inner)) {
			err("reassembled message does not decode");
			return false;
		}
		out->pls = pls_of(inner);
		out->frags = skf.total;
		return true;
	}

	void check_rules(enum ike_msg_kind kind, const Msg &m)
	{
		// The inner payloads again as a chain, for the codec's table.
		Bytes c = chain_of(m.pls);
		ike_chain ch;
		if (ike_decode_inner(c.data(), c.size(), m.pls.empty() ? 0 : m.pls[0].type, &ch)) {
			err("inner payloads do not decode");
			return;
		}
		int e = ike_check_payloads(kind, nullptr, &ch);
		if (e)
			err(std::string(ike_msg_rule_of(kind)->name) + ": " + ike_strerror(e));
	}

	// The answer to the request being handled, on its generation.
	std::vector<Bytes> finish_resp(const Msg &req, ike_header h, Pls pls)
	{
		if (edit)
			edit(req, h, pls);
		return seal(*rx, h, pls);
	}

	ike_header resp_header(const Msg &req) const
	{
		ike_header h{};
		h.spi_i = rx->spi_i;
		h.spi_r = rx->spi_r;
		h.exchange = req.hdr.exchange;
		h.flags = IKE_HDR_FLAG_RESPONSE | rx->gw_flag();
		h.msgid = req.hdr.msgid;
		return h;
	}

	// ---- IKE_SA_INIT -------------------------------------------------------------------------

	std::vector<Bytes> init_answer(const Msg &req, ike_header h, Pls pls)
	{
		if (edit)
			edit(req, h, pls);
		Bytes buf(MSG_MAX);
		ike_builder b;
		size_t len = 0;
		ike_build_init(&b, buf.data(), buf.size(), &h);
		for (auto &p : pls)
			ike_build_raw(&b, p.type, p.critical, p.body.data(), p.body.size());
		EXPECT_EQ(ike_build_finish(&b, &len), 0);
		return {Bytes(buf.begin(), buf.begin() + len)};
	}

	std::vector<Bytes> on_sa_init(const Bytes &buf, const ike_msg &m)
	{
		Msg req;
		req.hdr = m.hdr;
		req.raw = buf;
		req.pls = pls_of(m.chain);
		if (m.hdr.msgid != 0 || m.hdr.spi_r != 0)
			err("IKE_SA_INIT request with message ID or SPIr set");
		if (ike_check_payloads(IKE_MSG_SA_INIT_REQ, nullptr, &m.chain))
			err("IKE_SA_INIT request breaks the payload rules");
		const Pl *nonce = req.find(IKE_PT_NONCE), *kep = req.find(IKE_PT_KE),
			 *sap = req.find(IKE_PT_SA);
		if (!nonce || !kep || !sap) {
			err("IKE_SA_INIT request without SA, KE or Nonce");
			return {};
		}
		// A retransmission of the request we answered: the same answer.
		if (!init_cache.empty() && buf == init_cache_req) {
			retransmits_seen++;
			return init_cache;
		}
		if (drop_requests) {
			drop_requests--;
			return {};
		}
		requests.push_back(req);
		const Pl *ck = req.notify(IKE_N_COOKIE);
		if (ck && req.pls[0].type != IKE_PT_NOTIFY)
			err("COOKIE is not the first payload");
		if (ck && notify_type(req.pls[0]) != IKE_N_COOKIE)
			err("COOKIE is not the first payload");
		ike_header h{};
		h.spi_i = m.hdr.spi_i;
		h.exchange = IKE_EXCH_IKE_SA_INIT;
		h.flags = IKE_HDR_FLAG_RESPONSE;
		if (cookie && (!ck || notify_data(*ck) != cookie_value)) {
			cookie_sent++;
			return init_answer(req, h, {pl_notify(IKE_N_COOKIE, cookie_value)});
		}
		ike_payload v = view(*kep);
		ike_ke ke;
		ike_sa_payload offer;
		ike_payload sv = view(*sap);
		if (ike_parse_ke(&v, &ke) || ike_parse_sa(&sv, &offer)) {
			err("IKE_SA_INIT: KE or SA does not parse");
			return {};
		}
		ike_proposal chosen;
		uint16_t want = 0;
		bool ok = choose(offer, ike_accept, ke.group, true, &chosen, &want);
		if (!ok && !want)
			return init_answer(req, h, {pl_notify(IKE_N_NO_PROPOSAL_CHOSEN)});
		if ((want_group && ke.group != want_group) || !ok) {
			Bytes d(2);
			put_be16(d.data(), want_group ? want_group : want);
			invalid_ke_sent++;
			return init_answer(req, h, {pl_notify(IKE_N_INVALID_KE_PAYLOAD, d)});
		}
		// Accept: keys, in a fresh generation 0.
		std::unique_ptr<RGen> gn(new RGen);
		if (!map_algs(chosen, &gn->algs)) {
			err("chosen IKE algorithms unknown to the harness");
			return {};
		}
		uint64_t spi_i = m.hdr.spi_i, spi_r = 0;
		do
			crypto_random(&spi_r, sizeof(spi_r));
		while (!spi_r);
		ni.assign(nonce->body.begin(), nonce->body.end());
		nr = random_bytes(32);
		crypto_dh *dh = nullptr;
		Bytes gr(crypto_dh_public_len(ke.group)), gir(crypto_dh_shared_len(ke.group));
		EXPECT_EQ(crypto_dh_new(ke.group, &dh), 0);
		crypto_dh_public(dh, gr.data(), gr.size());
		int e = crypto_dh_shared(dh, ke.data, ke.len, gir.data(), gir.size());
		crypto_dh_free(dh);
		if (e) {
			err("the initiator's KE is invalid");
			return {};
		}
		uint8_t skeyseed[CRYPTO_PRF_MAX_LEN], si[8], sr[8];
		put_be64(si, spi_i);
		put_be64(sr, spi_r);
		EXPECT_EQ(ike_keys_skeyseed(gn->algs.prf, ni.data(), ni.size(), nr.data(), nr.size(),
					    gir.data(), gir.size(), skeyseed), 0);
		EXPECT_EQ(ike_keys_derive_sa(&gn->algs, skeyseed, crypto_prf_len(gn->algs.prf),
					     ni.data(), ni.size(), nr.data(), nr.size(), si, sr,
					     &gn->keys), 0);
		crypto_wipe(skeyseed, sizeof(skeyseed));
		EXPECT_EQ(ike_keys_sa_ciphers(&gn->keys, 0, &gn->c_out, &gn->c_in), 0);
		gn->spi_i = spi_i;
		gn->spi_r = spi_r;
		gn->prop = chosen;
		gn->expect_msgid = 1; // IKE_SA_INIT was 0
		g = std::move(gn);
		old.reset();
		ike_chosen = chosen;
		peer_frag = req.has_notify(IKE_N_IKEV2_FRAGMENTATION_SUPPORTED);
		peer_hash_algs.clear();
		if (const Pl *ha = req.notify(IKE_N_SIGNATURE_HASH_ALGORITHMS)) {
			Bytes d = notify_data(*ha);
			for (size_t i = 0; i + 1 < d.size(); i += 2)
				peer_hash_algs.push_back(get_be16(d.data() + i));
		}
		// NAT detection of the initiator's side: its SOURCE hash against
		// where its packets come from.
		if (const Pl *src = req.notify(IKE_N_NAT_DETECTION_SOURCE_IP))
			initiator_nat_detected = notify_data(*src) != natd_hash(spi_i, 0, client_seen);
		// Its DESTINATION hash against our own address: a NAT on our side.
		if (const Pl *dst = req.notify(IKE_N_NAT_DETECTION_DESTINATION_IP))
			responder_nat_detected = notify_data(*dst) != natd_hash(spi_i, 0, gw_addr);

		h.spi_r = spi_r;
		Pls pls = {pl_sa(&chosen, 1), pl_ke(ke.group, gr), pl_nonce(nr),
			   pl_notify(IKE_N_NAT_DETECTION_SOURCE_IP, natd_hash(spi_i, spi_r, gw_addr)),
			   pl_notify(IKE_N_NAT_DETECTION_DESTINATION_IP,
				     natd_hash(spi_i, spi_r, client_seen))};
		if (send_certreq)
			pls.push_back(pl_certreq(Bytes(20, 0x5a)));
		if (announce_frag)
			pls.push_back(pl_notify(IKE_N_IKEV2_FRAGMENTATION_SUPPORTED));
		if (!hash_algs.empty()) {
			Bytes d;
			for (uint16_t a : hash_algs) {
				d.push_back(uint8_t(a >> 8));
				d.push_back(uint8_t(a));
			}
			pls.push_back(pl_notify(IKE_N_SIGNATURE_HASH_ALGORITHMS, d));
		}
		auto out = init_answer(req, h, pls);
		init_req = buf;
		init_resp = out[0];
		init_cache = out;
		init_cache_req = buf;
		return out;
	}

	// ---- IKE_AUTH ----------------------------------------------------------------------------

	Bytes auth_octets(bool initiator, const Bytes &id_body) const
	{
		Bytes o = initiator ? init_req : init_resp;
		const Bytes &n = initiator ? nr : ni;
		o.insert(o.end(), n.begin(), n.end());
		const ike_sa_keys &keys = g->keys;
		Bytes k(initiator ? keys.sk_pi : keys.sk_pr,
			(initiator ? keys.sk_pi : keys.sk_pr) + keys.prf_len);
		Bytes p = prf(g->algs.prf, k, id_body);
		o.insert(o.end(), p.begin(), p.end());
		return o;
	}

	Bytes id_body(const ike_identity &i) const
	{
		Bytes b = {i.type, 0, 0, 0};
		b.insert(b.end(), i.data, i.data + i.len);
		return b;
	}

	// The gateway's AUTH payload: shared key, or a signature.
	Pl our_auth(const Bytes &shared_key)
	{
		Bytes oct = auth_octets(false, id_body(id));
		if (!shared_key.empty())
			return pl_auth(IKE_AUTH_PSK, psk_auth(g->algs.prf, shared_key, oct));
		if (!key) {
			err("no gateway key configured");
			return Pl{};
		}
		Bytes sig(crypto_sign_max_len(key));
		size_t sl = sig.size();
		crypto_key_type kt = crypto_privkey_type(key);
		bool rfc7427 = !classic_sig && !peer_hash_algs.empty();
		if (rfc7427) {
			const SigAlg *a = sig_alg(kt == CRYPTO_KEY_RSA ? "rsa-sha256"
						  : kt == CRYPTO_KEY_EC_P384 ? "ecdsa-sha384"
						  : kt == CRYPTO_KEY_ED25519 ? "ed25519"
						  : "ecdsa-sha256");
			EXPECT_EQ(crypto_sign(key, a->scheme, a->hash, oct.data(), oct.size(),
					      sig.data(), &sl), 0);
			Bytes d = {(uint8_t)a->der.size()};
			d.insert(d.end(), a->der.begin(), a->der.end());
			d.insert(d.end(), sig.begin(), sig.begin() + sl);
			return pl_auth(IKE_AUTH_DIGITAL_SIG, d);
		}
		uint8_t method;
		switch (kt) {
		case CRYPTO_KEY_RSA:
			method = IKE_AUTH_RSA_SIG;
			EXPECT_EQ(crypto_sign(key, CRYPTO_SIG_RSA_PKCS1, CRYPTO_HASH_SHA1, oct.data(),
					      oct.size(), sig.data(), &sl), 0);
			break;
		case CRYPTO_KEY_EC_P384:
			method = IKE_AUTH_ECDSA_SHA384_P384;
			EXPECT_EQ(crypto_sign(key, CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA384, oct.data(),
					      oct.size(), sig.data(), &sl), 0);
			break;
		default:
			method = IKE_AUTH_ECDSA_SHA256_P256;
			EXPECT_EQ(crypto_sign(key, CRYPTO_SIG_ECDSA_RAW, CRYPTO_HASH_SHA256, oct.data(),
					      oct.size(), sig.data(), &sl), 0);
			break;
		}
		return pl_auth(method, Bytes(sig.begin(), sig.begin() + sl));
	}

	static Bytes der_of(const crypto_cert *c)
	{
		const uint8_t *d;
		size_t n;
		EXPECT_EQ(crypto_cert_der(c, &d, &n), 0);
		return Bytes(d, d + n);
	}

	Pls identity_pls(const Bytes &shared_key)
	{
		Pls p = {pl_id(IKE_PT_IDR, id)};
		if (cert) {
			p.push_back(pl_cert(der_of(cert)));
			for (auto c : chain)
				p.push_back(pl_cert(der_of(c)));
		}
		p.push_back(our_auth(shared_key));
		return p;
	}

	// Verify the engine's AUTH over IDi; records method and outcome.
	bool verify_initiator(const Msg &req, const Bytes &shared_key)
	{
		const Pl *a = req.find(IKE_PT_AUTH);
		if (!a || a->body.size() < 5) {
			err("IKE_AUTH without AUTH");
			return false;
		}
		init_auth_method = a->body[0];
		Bytes data(a->body.begin() + 4, a->body.end());
		Bytes oct = auth_octets(true, idi_body);
		if (!shared_key.empty()) {
			init_auth_ok = init_auth_method == IKE_AUTH_PSK &&
				       data == psk_auth(g->algs.prf, shared_key, oct);
			return init_auth_ok;
		}
		crypto_cert_free(peer_cert);
		peer_cert = nullptr;
		const Pl *c = req.find(IKE_PT_CERT);
		if (!c || c->body.size() < 2 ||
		    crypto_cert_from_der(c->body.data() + 1, c->body.size() - 1, &peer_cert)) {
			err("IKE_AUTH with a signature but no usable CERT");
			return false;
		}
		const crypto_pubkey *pk = crypto_cert_pubkey(peer_cert);
		crypto_sig_scheme scheme;
		enum crypto_hash hash;
		switch (init_auth_method) {
		case IKE_AUTH_RSA_SIG: scheme = CRYPTO_SIG_RSA_PKCS1; hash = CRYPTO_HASH_SHA1; break;
		case IKE_AUTH_ECDSA_SHA256_P256: scheme = CRYPTO_SIG_ECDSA_RAW; hash = CRYPTO_HASH_SHA256; break;
		case IKE_AUTH_ECDSA_SHA384_P384: scheme = CRYPTO_SIG_ECDSA_RAW; hash = CRYPTO_HASH_SHA384; break;
		case IKE_AUTH_ECDSA_SHA512_P521: scheme = CRYPTO_SIG_ECDSA_RAW; hash = CRYPTO_HASH_SHA512; break;
		case IKE_AUTH_DIGITAL_SIG: {
			size_t n = data[0];
			if (n + 1 > data.size()) {
				err("AUTH 14 with a short AlgorithmIdentifier");
				return false;
			}
			Bytes der(data.begin() + 1, data.begin() + 1 + n);
			const SigAlg *found = nullptr;
			for (auto &s : sig_algs())
				if (s.der == der)
					found = &s;
			if (!found) {
				err("AUTH 14 with an AlgorithmIdentifier the harness does not know");
				return false;
			}
			init_auth_alg = found->name;
			scheme = found->scheme;
			hash = found->hash;
			data.erase(data.begin(), data.begin() + 1 + n);
			break;
		}
		default:
			err("AUTH method " + std::to_string(init_auth_method));
			return false;
		}
		init_auth_ok = crypto_verify(pk, scheme, hash, oct.data(), oct.size(), data.data(),
					     data.size()) == 0;
		return init_auth_ok;
	}

	// CP reply, SA and narrowed TS: the first Child SA.
	Pls child_pls(const Msg &first, RChild *out)
	{
		Pls p;
		const Pl *cp = first.find(IKE_PT_CP);
		std::vector<CpAttr> attrs;
		if (cp) {
			attrs.push_back({IKE_CP_INTERNAL_IP4_ADDRESS, Bytes(vip, vip + 4)});
			attrs.push_back({IKE_CP_INTERNAL_IP4_NETMASK, Bytes(netmask, netmask + 4)});
			for (auto &d : dns)
				attrs.push_back({IKE_CP_INTERNAL_IP4_DNS, Bytes(d.begin(), d.end())});
			if (!domain.empty())
				attrs.push_back({IKE_CP_INTERNAL_DNS_DOMAIN, bytes(domain.c_str())});
			p.push_back(pl_cp(IKE_CFG_REPLY, attrs));
		}
		const Pl *sap = first.find(IKE_PT_SA);
		ike_sa_payload offer;
		ike_payload sv;
		if (sap)
			sv = view(*sap);
		if (!sap || ike_parse_sa(&sv, &offer)) {
			err("IKE_AUTH without a usable SA");
			return p;
		}
		ike_proposal c;
		uint16_t want;
		if (!choose(offer, esp_accept, 0, false, &c, &want)) {
			p.push_back(pl_notify(IKE_N_NO_PROPOSAL_CHOSEN));
			return p;
		}
		const ike_proposal *picked = nullptr;
		for (unsigned i = 0; i < offer.n; i++)
			if (offer.p[i].num == c.num)
				picked = &offer.p[i];
		c.spi_len = 4;
		out->spi_client = get_be32(picked->spi);
		crypto_random(&out->spi_gw, 4);
		out->spi_gw |= 0x1000;
		put_be32(c.spi, out->spi_gw);
		out->prop = c;
		char ip[16];
		inet_ntop(AF_INET, vip, ip, sizeof(ip));
		out->ts_client = {ts4(ip, ip)};
		out->ts_gw = gw_ts;
		p.push_back(pl_sa(&c, 1));
		p.push_back(pl_ts(IKE_PT_TSI, out->ts_client));
		p.push_back(pl_ts(IKE_PT_TSR, out->ts_gw));
		if (announce_mobike)
			p.push_back(pl_notify(IKE_N_MOBIKE_SUPPORTED));
		return p;
	}

	// Keys of a Child SA, the engine having started the exchange or not.
	void child_keys(RChild *c, const Bytes &gir, const Bytes &ni_, const Bytes &nr_,
			bool client_initiated)
	{
		ike_key_algs a;
		ike_child_keys k;
		if (!map_algs(c->prop, &a)) {
			err("chosen ESP algorithms unknown to the harness");
			return;
		}
		c->gen = g->num; // SK_d of the current generation
		EXPECT_EQ(ike_keys_derive_child(&g->keys, &a, gir.empty() ? nullptr : gir.data(),
						gir.size(), ni_.data(), ni_.size(), nr_.data(),
						nr_.size(), &k), 0);
		Bytes ei(k.encr_i, k.encr_i + k.encr_len), ai(k.integ_i, k.integ_i + k.integ_len);
		Bytes er(k.encr_r, k.encr_r + k.encr_len), ar(k.integ_r, k.integ_r + k.integ_len);
		c->encr_c2g = client_initiated ? ei : er;
		c->integ_c2g = client_initiated ? ai : ar;
		c->encr_g2c = client_initiated ? er : ei;
		c->integ_g2c = client_initiated ? ar : ai;
		ike_keys_child_wipe(&k);
	}

	std::vector<Bytes> auth_done(const Msg &req, const Bytes &auth_key)
	{
		RChild c;
		// After EAP the final response carries the AUTH from the MSK, no IDr.
		Pls p = eap != EAP_NONE ? Pls{our_auth(auth_key)} : identity_pls(auth_key);
		Pls cp = child_pls(first_auth, &c);
		p.insert(p.end(), cp.begin(), cp.end());
		if (find_pl(p, IKE_PT_SA)) {
			child_keys(&c, {}, ni, nr, true);
			children.push_back(c);
		}
		ike_up = true;
		return finish_resp(req, resp_header(req), p);
	}

	std::vector<Bytes> on_auth(const Msg &req)
	{
		bool use_eap = eap != EAP_NONE || (!req.find(IKE_PT_AUTH) && req.find(IKE_PT_IDI));
		if (!use_eap) {
			check_rules(IKE_MSG_AUTH_REQ, req);
			first_auth = req;
			const Pl *idi = req.find(IKE_PT_IDI);
			if (!idi) {
				err("IKE_AUTH without IDi");
				return {};
			}
			idi_body = idi->body;
			if (!check_idr(req) || !verify_initiator(req, psk))
				return finish_resp(req, resp_header(req),
						   {pl_notify(IKE_N_AUTHENTICATION_FAILED)});
			return auth_done(req, peer_psk_override.empty() ? psk : peer_psk_override);
		}
		return on_eap(req);
	}

	// The engine's IDr, if any: recorded; with idr_selects it must be ours.
	bool check_idr(const Msg &req)
	{
		const Pl *p = req.find(IKE_PT_IDR);
		idr_received = p != nullptr;
		idr = ike_identity{};
		if (!p)
			return true;
		if (p->body.size() < 4 || p->body.size() - 4 > IKE_ID_MAX) {
			err("IDr of " + std::to_string(p->body.size()) + " octets");
			return false;
		}
		idr.type = p->body[0];
		idr.len = uint16_t(p->body.size() - 4);
		memcpy(idr.data, p->body.data() + 4, idr.len);
		return !idr_selects || (idr.type == id.type && idr.len == id.len &&
					!memcmp(idr.data, id.data, id.len));
	}

	std::vector<Bytes> eap_answer(const Msg &req, const Bytes &eap_m)
	{
		return finish_resp(req, resp_header(req), {pl_eap(eap_m)});
	}

	std::vector<Bytes> on_eap(const Msg &req)
	{
		if (eap == EAP_NONE) {
			check_rules(IKE_MSG_AUTH_EAP_START_REQ, req);
			first_auth = req;
			idi_body = req.find(IKE_PT_IDI)->body;
			if (!check_idr(req))
				return finish_resp(req, resp_header(req),
						   {pl_notify(IKE_N_AUTHENTICATION_FAILED)});
			Pls p = identity_pls({});
			eap = EAP_ID_SENT;
			p.push_back(pl_eap(eap_msg(EAP_REQUEST, ++eap_id, {EAP_T_IDENTITY})));
			return finish_resp(req, resp_header(req), p);
		}
		if (eap == EAP_DONE) {
			check_rules(IKE_MSG_AUTH_EAP_FINAL_REQ, req);
			if (!verify_initiator(req, msk))
				return finish_resp(req, resp_header(req),
						   {pl_notify(IKE_N_AUTHENTICATION_FAILED)});
			return auth_done(req, msk);
		}
		check_rules(IKE_MSG_AUTH_EAP_REQ, req);
		const Pl *e = req.find(IKE_PT_EAP);
		if (!e || e->body.size() < 5 || e->body[0] != EAP_RESPONSE || e->body[1] != eap_id) {
			err("EAP: not a Response to our Request");
			return {};
		}
		const Bytes &b = e->body;
		switch (eap) {
		case EAP_ID_SENT: {
			if (b[4] != EAP_T_IDENTITY || std::string(b.begin() + 5, b.end()) != eap_user)
				err("EAP Identity: '" + std::string(b.begin() + 5, b.end()) + "'");
			crypto_random(auth_challenge, 16);
			Bytes d = {16};
			d.insert(d.end(), auth_challenge, auth_challenge + 16);
			Bytes name = bytes("gw");
			d.insert(d.end(), name.begin(), name.end());
			eap = EAP_CHALLENGE_SENT;
			return eap_answer(req, eap_msg(EAP_REQUEST, ++eap_id,
						       mschap(MSCHAP_CHALLENGE, 7, d)));
		}
		case EAP_CHALLENGE_SENT: {
			if (b[4] == 3 && b.size() == 6 && b[5] == EAP_T_MSCHAPV2) {
				// A Nak asking for MSCHAPv2 (the test offered another
				// method): a fresh Challenge.
				eap_naks++;
				crypto_random(auth_challenge, 16);
				Bytes d = {16};
				d.insert(d.end(), auth_challenge, auth_challenge + 16);
				return eap_answer(req, eap_msg(EAP_REQUEST, ++eap_id,
							       mschap(MSCHAP_CHALLENGE, 8, d)));
			}
			// type 26, op 2, ms id, ms length (2), value size 49, peer challenge 16,
			// reserved 8, NT-Response 24, flags 1, name
			if (b.size() < 5 + 5 + 49 || b[4] != EAP_T_MSCHAPV2 || b[5] != MSCHAP_RESPONSE ||
			    b[9] != 49) {
				err("EAP-MSCHAPv2 Response malformed");
				return {};
			}
			if (get_be16(b.data() + 7) != b.size() - 5)
				err("EAP-MSCHAPv2 Response: MS-Length wrong");
			const uint8_t *peer_ch = b.data() + 10;
			memcpy(nt_response, b.data() + 10 + 24, 24);
			std::string name(b.begin() + 10 + 49, b.end());
			if (name != eap_user)
				err("EAP-MSCHAPv2 Response names '" + name + "'");
			uint8_t expect[24];
			EXPECT_EQ(crypto_mschapv2_nt_response(auth_challenge, peer_ch, eap_user.c_str(),
							      eap_password.c_str(), expect), 0);
			if (memcmp(expect, nt_response, 24)) {
				std::string f = "E=691 R=0 C=" + hex(auth_challenge, 16) +
						" V=3 M=Authentication failure";
				eap = EAP_NONE;
				return eap_answer(req, eap_msg(EAP_REQUEST, ++eap_id,
							       mschap(MSCHAP_FAILURE, 7, bytes(f.c_str()))));
			}
			char s[43];
			EXPECT_EQ(crypto_mschapv2_auth_response(eap_password.c_str(), nt_response,
								peer_ch, auth_challenge,
								eap_user.c_str(), s), 0);
			if (eap_wrong_authenticator)
				s[10] = s[10] == 'A' ? 'B' : 'A';
			std::string m = std::string(s) + " M=Welcome";
			eap = EAP_SUCCESS_SENT;
			return eap_answer(req, eap_msg(EAP_REQUEST, ++eap_id,
						       mschap(MSCHAP_SUCCESS, 7, bytes(m.c_str()))));
		}
		case EAP_SUCCESS_SENT: {
			if (b[4] != EAP_T_MSCHAPV2 || b[5] != MSCHAP_SUCCESS)
				err("EAP-MSCHAPv2: no Success acknowledgement");
			msk.assign(64, 0);
			EXPECT_EQ(crypto_mschapv2_msk(eap_password.c_str(), nt_response, msk.data()), 0);
			eap = EAP_DONE;
			return eap_answer(req, eap_msg(EAP_SUCCESS, eap_id, {}));
		}
		default:
			err("EAP: unexpected state");
			return {};
		}
	}

	// ---- INFORMATIONAL and CREATE_CHILD_SA from the engine ------------------------------------

	std::vector<Bytes> on_info(const Msg &req)
	{
		check_rules(IKE_MSG_INFO_REQ, req);
		Pls p;
		bool gen_deleted = false;
		if (req.pls.empty())
			info_empty++;
		for (auto &pl : req.pls) {
			if (pl.type != IKE_PT_DELETE)
				continue;
			ike_payload v = view(pl);
			ike_delete d;
			if (ike_parse_delete(&v, &d)) {
				err("Delete does not parse");
				continue;
			}
			if (d.protocol == IKE_PROTO_IKE) {
				if (rx == g.get())
					ike_deleted = true;
				else
					old_ike_deleted++;
				gen_deleted = true;
				continue;
			}
			Bytes ours;
			uint16_t n = 0;
			for (unsigned i = 0; i < d.n_spi; i++) {
				uint32_t spi = get_be32(d.spis + 4 * i);
				for (auto &c : children)
					if (c.spi_client == spi && c.alive) {
						c.alive = false;
						ours.resize(ours.size() + 4);
						put_be32(ours.data() + ours.size() - 4, c.spi_gw);
						n++;
					}
			}
			if (n)
				p.push_back(pl_delete(IKE_PROTO_ESP, 4, ours, n));
			else
				err("Delete of a Child SA the gateway does not know");
		}
		auto out = finish_resp(req, resp_header(req), p);
		if (gen_deleted)
			rx->deleted = true; // answered: that generation is gone
		return out;
	}

	std::vector<Bytes> on_create_child(const Msg &req)
	{
		if (rx != g.get())
			err("CREATE_CHILD_SA on a rekeyed IKE SA generation");
		const Pl *sap = req.find(IKE_PT_SA), *np = req.find(IKE_PT_NONCE);
		if (!sap || !np) {
			err("CREATE_CHILD_SA without SA or Nonce");
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_INVALID_SYNTAX)});
		}
		ike_sa_payload offer;
		ike_payload sv = view(*sap);
		if (ike_parse_sa(&sv, &offer) || offer.n == 0) {
			err("CREATE_CHILD_SA with an SA that does not parse");
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_INVALID_SYNTAX)});
		}
		// Which rules apply depends on what the SA proposes: an IKE rekey
		// has no traffic selectors (RFC 7296 1.3.2).
		if (offer.p[0].protocol == IKE_PROTO_IKE) {
			check_rules(IKE_MSG_REKEY_IKE_REQ, req);
			return on_rekey_ike(req, offer, np->body);
		}
		check_rules(IKE_MSG_CREATE_CHILD_REQ, req);
		const Pl *rk = req.notify(IKE_N_REKEY_SA);
		if (!rk) {
			err("CREATE_CHILD_SA for a Child SA without REKEY_SA");
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_INVALID_SYNTAX)});
		}
		ike_payload v = view(*rk);
		ike_notify n;
		ike_parse_notify(&v, &n);
		if (n.protocol != IKE_PROTO_ESP || n.spi_len != 4) {
			err("REKEY_SA without an ESP SPI");
			return {};
		}
		uint32_t old_client = get_be32(n.spi);
		RChild *old_c = nullptr;
		for (auto &c : children)
			if (c.spi_client == old_client && c.alive)
				old_c = &c;
		if (!old_c)
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_CHILD_SA_NOT_FOUND)});
		uint16_t group = 0;
		ike_ke ke{};
		if (const Pl *kp = req.find(IKE_PT_KE)) {
			ike_payload kv = view(*kp);
			EXPECT_EQ(ike_parse_ke(&kv, &ke), 0);
			group = ke.group;
		}
		ike_proposal c;
		uint16_t want;
		if (!choose(offer, esp_accept, group, group != 0, &c, &want))
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_NO_PROPOSAL_CHOSEN)});
		RChild nc;
		const ike_proposal *picked = nullptr;
		for (unsigned i = 0; i < offer.n; i++)
			if (offer.p[i].num == c.num)
				picked = &offer.p[i];
		nc.spi_client = get_be32(picked->spi);
		crypto_random(&nc.spi_gw, 4);
		nc.spi_gw |= 0x1000;
		c.spi_len = 4;
		put_be32(c.spi, nc.spi_gw);
		nc.prop = c;
		nc.ts_client = old_c->ts_client;
		nc.ts_gw = old_c->ts_gw;
		nc.replaces_gw = old_c->spi_gw;
		Bytes rn = child_nr.empty() ? random_bytes(32) : child_nr, gir;
		Pls p = {pl_sa(&c, 1), pl_nonce(rn)};
		if (group) {
			crypto_dh *dh = nullptr;
			EXPECT_EQ(crypto_dh_new(group, &dh), 0);
			Bytes gr(crypto_dh_public_len(group));
			crypto_dh_public(dh, gr.data(), gr.size());
			gir.resize(crypto_dh_shared_len(group));
			EXPECT_EQ(crypto_dh_shared(dh, ke.data, ke.len, gir.data(), gir.size()), 0);
			crypto_dh_free(dh);
			p.push_back(pl_ke(group, gr));
			nc.pfs = true;
		}
		p.push_back(pl_ts(IKE_PT_TSI, nc.ts_client));
		p.push_back(pl_ts(IKE_PT_TSR, nc.ts_gw));
		child_keys(&nc, gir, np->body, rn, true);
		auto out = finish_resp(req, resp_header(req), p);
		children.push_back(nc);
		return out;
	}

	// The engine rekeys the IKE SA: answer SA, Nr, KE, and go over to the
	// new generation (the engine its original initiator) once answered.
	std::vector<Bytes> on_rekey_ike(const Msg &req, const ike_sa_payload &offer, const Bytes &eng_ni)
	{
		if (req.find(IKE_PT_TSI) || req.find(IKE_PT_TSR) || req.has_notify(IKE_N_REKEY_SA))
			err("IKE SA rekey with traffic selectors or REKEY_SA");
		for (unsigned i = 0; i < offer.n; i++)
			if (offer.p[i].protocol != IKE_PROTO_IKE || offer.p[i].spi_len != 8 ||
			    !get_be64(offer.p[i].spi))
				err("IKE SA rekey proposal " + std::to_string(offer.p[i].num) +
				    " without an IKE SPI");
		const Pl *kp = req.find(IKE_PT_KE);
		ike_ke ke{};
		ike_payload kv;
		if (kp)
			kv = view(*kp);
		if (!kp || ike_parse_ke(&kv, &ke)) {
			err("IKE SA rekey without a usable KE");
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_INVALID_SYNTAX)});
		}
		if (refuse_ike_rekey) {
			refuse_ike_rekey--;
			return finish_resp(req, resp_header(req), {pl_notify(refuse_ike_rekey_with)});
		}
		ike_proposal c;
		uint16_t want = 0;
		bool ok = choose(offer, ike_accept, ke.group, true, &c, &want);
		if (!ok && !want)
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_NO_PROPOSAL_CHOSEN)});
		if ((want_group && ke.group != want_group) || !ok) {
			Bytes d(2);
			put_be16(d.data(), want_group ? want_group : want);
			invalid_ke_sent++;
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_INVALID_KE_PAYLOAD, d)});
		}
		uint64_t eng_spi = 0, our_spi = 0;
		for (unsigned i = 0; i < offer.n; i++)
			if (offer.p[i].num == c.num)
				eng_spi = get_be64(offer.p[i].spi);
		do
			crypto_random(&our_spi, sizeof(our_spi));
		while (!our_spi);
		c.spi_len = 8;
		put_be64(c.spi, our_spi);
		crypto_dh *dh = nullptr;
		EXPECT_EQ(crypto_dh_new(ke.group, &dh), 0);
		Bytes gr(crypto_dh_public_len(ke.group)), gir(crypto_dh_shared_len(ke.group));
		crypto_dh_public(dh, gr.data(), gr.size());
		int e = crypto_dh_shared(dh, ke.data, ke.len, gir.data(), gir.size());
		crypto_dh_free(dh);
		if (e) {
			err("the engine's rekey KE is invalid");
			return finish_resp(req, resp_header(req), {pl_notify(IKE_N_INVALID_SYNTAX)});
		}
		Bytes rn = random_bytes(32);
		Pls p = {pl_sa(&c, 1), pl_nonce(rn), pl_ke(ke.group, gr)};
		ike_header h = resp_header(req);
		if (edit)
			edit(req, h, p);
		auto out = seal(*rx, h, p);
		// The engine started it: its nonce and SPI come first.
		if (find_pl(p, IKE_PT_SA))
			new_gen(*rx, c, gir, eng_ni, rn, eng_spi, our_spi, false);
		return out;
	}

	// A new generation from a rekey of `from` (RFC 7296 2.18): SKEYSEED =
	// prf_old(SK_d old, g^ir new | Ni | Nr), computed here with the old
	// PRF itself; then the new keys with the new proposal's PRF. ni and
	// spi_i are those of the side that started the rekey.
	void new_gen(const RGen &from, const ike_proposal &chosen, const Bytes &gir,
		     const Bytes &ni_, const Bytes &nr_, uint64_t spi_i, uint64_t spi_r,
		     bool gw_initiator)
	{
		std::unique_ptr<RGen> gn(new RGen);
		if (!map_algs(chosen, &gn->algs)) {
			err("rekeyed IKE algorithms unknown to the harness");
			return;
		}
		Bytes seed_in = gir;
		seed_in.insert(seed_in.end(), ni_.begin(), ni_.end());
		seed_in.insert(seed_in.end(), nr_.begin(), nr_.end());
		Bytes skeyseed = prf(from.algs.prf, from.sk_d(), seed_in);
		uint8_t si[8], sr[8];
		put_be64(si, spi_i);
		put_be64(sr, spi_r);
		EXPECT_EQ(ike_keys_derive_sa(&gn->algs, skeyseed.data(), skeyseed.size(), ni_.data(),
					     ni_.size(), nr_.data(), nr_.size(), si, sr, &gn->keys), 0);
		crypto_wipe(skeyseed.data(), skeyseed.size());
		EXPECT_EQ(ike_keys_sa_ciphers(&gn->keys, gw_initiator, &gn->c_out, &gn->c_in), 0);
		gn->num = from.num + 1;
		gn->spi_i = spi_i;
		gn->spi_r = spi_r;
		gn->gw_initiator = gw_initiator;
		gn->prop = chosen;
		gn->prop.spi_len = 0;
		old = std::move(g);
		g = std::move(gn);
	}

	// ---- the engine's answers to our requests ---------------------------------------------------

	static uint16_t first_error(const Pls &pls)
	{
		for (auto &p : pls) {
			uint16_t t = notify_type(p);
			if (t && t <= IKE_NOTIFY_ERROR_MAX)
				return t;
		}
		return 0;
	}

	std::vector<Bytes> on_response(Bytes &buf, const ike_msg &m)
	{
		response_raw.push_back(buf);
		RGen *gn = gen_of(m.hdr);
		if (!gn) {
			err("a response for unknown SPIs");
			return {};
		}
		if (!gn->own_pending && m.hdr.msgid + 1 == gn->own_msgid &&
		    m.hdr.exchange == gn->own_exchange) {
			dup_responses++;
			return {};
		}
		if (!gn->own_pending || m.hdr.msgid != gn->own_msgid ||
		    m.hdr.exchange != gn->own_exchange) {
			err("an unexpected response " + std::to_string(m.hdr.msgid));
			return {};
		}
		if ((m.hdr.flags & IKE_HDR_FLAG_INITIATOR) != gn->engine_flag())
			err(std::string("the engine's response ") +
			    (gn->engine_flag() ? "lacks" : "carries") +
			    " the Initiator flag on generation " + std::to_string(gn->num));
		Msg r;
		if (!open(*gn, buf, m, &r))
			return {};
		responses.push_back(r);
		gn->own_pending = false;
		gn->own_msgid++;
		if (m.hdr.exchange == IKE_EXCH_INFORMATIONAL) {
			check_rules(IKE_MSG_INFO_RESP, r);
			for (auto &pl : r.pls) {
				if (pl.type != IKE_PT_DELETE)
					continue;
				ike_payload v = view(pl);
				ike_delete d;
				if (ike_parse_delete(&v, &d) || d.protocol != IKE_PROTO_ESP)
					continue;
				for (unsigned i = 0; i < d.n_spi; i++)
					for (auto &c : children)
						if (c.spi_client == get_be32(d.spis + 4 * i))
							c.alive = false;
			}
			if (gn->own_kind == OWN_DELETE_IKE)
				gn->deleted = true;
		} else if (m.hdr.exchange == IKE_EXCH_CREATE_CHILD_SA) {
			if (gn->own_kind == OWN_REKEY_IKE)
				ike_rekey_answered(*gn, r);
			else if (gn->own_kind == OWN_REKEY_CHILD || gn->own_kind == OWN_NEW_CHILD)
				child_answered(r, gn->own_kind == OWN_REKEY_CHILD);
		}
		return {};
	}

	// Our CREATE_CHILD_SA for a Child SA answered: record the new one.
	void child_answered(const Msg &r, bool rekey)
	{
		uint32_t of = own_rekey_of;
		own_rekey_of = 0;
		if (first_error(r.pls) || !r.find(IKE_PT_SA))
			return;
		check_rules(IKE_MSG_CREATE_CHILD_RESP, r);
		RChild *old_c = nullptr;
		for (auto &c : children)
			if (rekey && c.spi_gw == of)
				old_c = &c;
		ike_sa_payload sp;
		ike_payload sv = view(*r.find(IKE_PT_SA));
		if (ike_parse_sa(&sv, &sp) || sp.n != 1 || (rekey && !old_c)) {
			err("CREATE_CHILD_SA answer without a usable SA");
			return;
		}
		RChild nc;
		nc.prop = sp.p[0];
		nc.spi_client = get_be32(sp.p[0].spi);
		nc.spi_gw = own_new_spi;
		nc.replaces_gw = rekey ? of : 0;
		if (rekey) {
			nc.ts_client = old_c->ts_client;
			nc.ts_gw = old_c->ts_gw;
		} else {
			// We started it: TSi is our side, TSr the client's.
			const Pl *tsi = r.find(IKE_PT_TSI), *tsr = r.find(IKE_PT_TSR);
			ike_ts_list li, lr;
			ike_payload vi, vr;
			if (tsi)
				vi = view(*tsi);
			if (tsr)
				vr = view(*tsr);
			if (!tsi || !tsr || ike_parse_ts(&vi, &li) || ike_parse_ts(&vr, &lr)) {
				err("new Child SA answer without traffic selectors");
				return;
			}
			nc.ts_gw.assign(li.ts, li.ts + li.n);
			nc.ts_client.assign(lr.ts, lr.ts + lr.n);
		}
		Bytes gir;
		if (own_group) {
			const Pl *kp = r.find(IKE_PT_KE);
			ike_ke ke;
			ike_payload kv;
			if (kp)
				kv = view(*kp);
			if (!kp || ike_parse_ke(&kv, &ke) || ke.group != own_group) {
				err("CREATE_CHILD_SA answer without our PFS group");
				return;
			}
			gir.resize(crypto_dh_shared_len(own_group));
			EXPECT_EQ(crypto_dh_shared(own_dh, ke.data, ke.len, gir.data(), gir.size()), 0);
			nc.pfs = true;
		}
		const Pl *np = r.find(IKE_PT_NONCE);
		if (!np) {
			err("CREATE_CHILD_SA answer without a nonce");
			return;
		}
		child_keys(&nc, gir, own_ni, np->body, false);
		children.push_back(nc);
	}

	// Our IKE SA rekey answered on `from`: the new generation, with us as
	// its original initiator (our nonce and SPI first).
	void ike_rekey_answered(const RGen &from, const Msg &r)
	{
		ike_rekey_refused = first_error(r.pls);
		if (ike_rekey_refused)
			return;
		const Pl *sap = r.find(IKE_PT_SA), *kp = r.find(IKE_PT_KE), *np = r.find(IKE_PT_NONCE);
		ike_sa_payload sp;
		ike_payload sv, kv;
		ike_ke ke;
		if (sap)
			sv = view(*sap);
		if (kp)
			kv = view(*kp);
		if (!sap || ike_parse_sa(&sv, &sp) || sp.n != 1 || sp.p[0].protocol != IKE_PROTO_IKE ||
		    sp.p[0].spi_len != 8 || !get_be64(sp.p[0].spi)) {
			err("IKE SA rekey answer without a usable SA");
			return;
		}
		const ike_proposal &c = sp.p[0];
		for (int t : {IKE_XFORM_ENCR, IKE_XFORM_PRF, IKE_XFORM_INTEG, IKE_XFORM_DH}) {
			if (c.n[t] > 1 || (c.n[t] && !has_xform(own_offer, t, c.x[t][0])) ||
			    (!c.n[t] && own_offer.n[t] && t != IKE_XFORM_INTEG))
				err("IKE SA rekey answer chose transform type " + std::to_string(t) +
				    " outside our offer");
		}
		if (!c.n[IKE_XFORM_DH] || c.x[IKE_XFORM_DH][0].id != own_group)
			err("IKE SA rekey answer with another group than our KE");
		if (!kp || ike_parse_ke(&kv, &ke) || ke.group != own_group || !np) {
			err("IKE SA rekey answer without our group's KE or a nonce");
			return;
		}
		Bytes gir(crypto_dh_shared_len(own_group));
		if (crypto_dh_shared(own_dh, ke.data, ke.len, gir.data(), gir.size())) {
			err("the engine's rekey KE is invalid");
			return;
		}
		new_gen(from, c, gir, own_ni, np->body, own_ike_spi, get_be64(c.spi), true);
	}
};

// ---- the fixture: engine + responder on a uv loop ------------------------------------------

struct ChildUp {
	ike_child_info info{}; // the key pointers are cleared; the keys are below
	Bytes encr_in, integ_in, encr_out, integ_out;
};

class IkeSaTest : public ::testing::Test {
protected:
	uv_loop_t loop;
	uv_timer_t deadline;
	bool deadline_hit = false;
	ike_cfg cfg;
	ike_sa *sa = nullptr;
	ike_sa_ops ops{};
	Responder gw;
	sockaddr_in local = sin4("192.168.1.10", 500), remote = sin4("203.0.113.1", 500);

	struct Sent {
		Bytes d;
		bool natt;
		uint64_t t;
	};
	std::deque<Sent> outbox;     // from the engine, not yet handed to the responder
	std::vector<Sent> sent;      // everything the engine sent
	std::vector<ike_progress> progress;
	bool established = false;
	size_t ups_at_established = 0;
	uint64_t established_at = 0;
	ike_sa_info info{};
	std::vector<ChildUp> ups;
	std::vector<std::pair<uint32_t, uint32_t>> downs;
	int closed_calls = 0;
	uint64_t closed_at = 0;
	ike_fail why = IKE_FAIL_NONE;
	std::string reason;
	std::vector<uint16_t> ke_groups;
	bool auto_reply = true; // hand what the engine sends to the responder
	// Between the responder and the engine: return false to lose a datagram.
	std::function<bool(Bytes &)> to_engine;
	std::vector<std::string> log;
	// certificates and keys of tests/fixtures/certs
	crypto_ca_store *ca = nullptr, *other_ca = nullptr;
	std::vector<crypto_cert *> certs;
	std::vector<crypto_privkey *> keys;
	std::string psk_str = "a shared key for the unit tests";

	static void sink(int level, const char *module, const char *m, void *arg)
	{
		static_cast<IkeSaTest *>(arg)->log.push_back(std::string(module) + ": " + m);
	}

	void SetUp() override
	{
		vlog_set_sink(sink, this);
		vlog_set_level(VLOG_DEBUG);
		ASSERT_EQ(uv_loop_init(&loop), 0);
		uv_timer_init(&loop, &deadline);
		deadline.data = this;
		memset(&cfg, 0, sizeof(cfg));
		ike_cfg_defaults(&cfg);
		auto ike = proposals("aes256gcm16-prfsha256-curve25519-ecp256-modp2048,"
				     "aes128-sha256-prfsha256-curve25519-ecp256-modp2048",
				     IKE_PROTO_IKE);
		std::copy(ike.begin(), ike.end(), cfg.ike);
		cfg.n_ike = ike.size();
		auto esp = proposals("aes256gcm16,aes128-sha256", IKE_PROTO_ESP);
		std::copy(esp.begin(), esp.end(), cfg.esp);
		cfg.n_esp = esp.size();
		cfg.retransmit_base_ms = 40;
		cfg.retransmit_max_ms = 160;
		cfg.retransmit_tries = 5;
		cfg.connect_timeout_ms = 10000;
		cfg.dpd_interval_s = 0;
		cfg.rekey_child_s = 0;
		cfg.rekey_ike_s = 0;
		ASSERT_EQ(crypto_ca_store_load(VPN_FIXTURE_DIR "/certs/ca.pem", &ca), 0);
		ASSERT_EQ(crypto_ca_store_load(VPN_FIXTURE_DIR "/certs/other-ca.pem", &other_ca), 0);
		use_psk();
		ops.send = [](void *a, const uint8_t *m, size_t n, bool natt) -> int {
			auto *t = static_cast<IkeSaTest *>(a);
			Sent s{Bytes(m, m + n), natt, uv_now(&t->loop)};
			t->sent.push_back(s);
			t->outbox.push_back(s);
			return 0;
		};
		ops.progress = [](void *a, ike_progress p) {
			static_cast<IkeSaTest *>(a)->progress.push_back(p);
		};
		ops.established = [](void *a, const ike_sa_info *i) {
			auto *t = static_cast<IkeSaTest *>(a);
			EXPECT_FALSE(t->established) << "established twice";
			t->established = true;
			t->ups_at_established = t->ups.size();
			t->established_at = uv_now(&t->loop); // the base of the timers armed now
			t->info = *i;
		};
		ops.child_up = [](void *a, const ike_child_info *c) {
			ChildUp u;
			u.info = *c;
			u.encr_in.assign(c->encr_in, c->encr_in + c->encr_len);
			u.encr_out.assign(c->encr_out, c->encr_out + c->encr_len);
			if (c->integ_len) {
				u.integ_in.assign(c->integ_in, c->integ_in + c->integ_len);
				u.integ_out.assign(c->integ_out, c->integ_out + c->integ_len);
			}
			u.info.encr_in = u.info.encr_out = u.info.integ_in = u.info.integ_out = nullptr;
			static_cast<IkeSaTest *>(a)->ups.push_back(u);
		};
		ops.child_down = [](void *a, uint32_t in, uint32_t out) {
			static_cast<IkeSaTest *>(a)->downs.push_back({in, out});
		};
		ops.closed = [](void *a, ike_fail w, const char *r) {
			auto *t = static_cast<IkeSaTest *>(a);
			t->closed_calls++;
			t->closed_at = uv_now(&t->loop);
			t->why = w;
			t->reason = r;
		};
		ops.ke_group = [](void *a, uint16_t g) {
			static_cast<IkeSaTest *>(a)->ke_groups.push_back(g);
		};
	}

	void TearDown() override
	{
		if (sa)
			ike_sa_free(sa);
		sa = nullptr;
		uv_close((uv_handle_t *)&deadline, nullptr);
		uv_run(&loop, UV_RUN_DEFAULT);
		EXPECT_EQ(uv_loop_close(&loop), 0) << "handles left open on the loop";
		for (auto c : certs)
			crypto_cert_free(c);
		for (auto k : keys)
			crypto_privkey_free(k);
		crypto_ca_store_free(ca);
		crypto_ca_store_free(other_ca);
		EXPECT_TRUE(gw.errors.empty()) << "the responder saw: " << join(gw.errors);
		if (HasFailure())
			for (auto &l : log)
				fprintf(stderr, "  | %s\n", l.c_str());
		vlog_set_sink(nullptr, nullptr);
		vlog_set_level(VLOG_INFO);
	}

	static std::string join(const std::vector<std::string> &v)
	{
		std::string s;
		for (auto &x : v)
			s += (s.empty() ? "" : "; ") + x;
		return s;
	}

	crypto_cert *load_cert(const char *name)
	{
		crypto_cert *c = nullptr;
		EXPECT_EQ(crypto_cert_load_pem((std::string(VPN_FIXTURE_DIR "/certs/") + name).c_str(), &c), 0) << name;
		certs.push_back(c);
		return c;
	}
	crypto_privkey *load_key(const char *name)
	{
		crypto_privkey *k = nullptr;
		EXPECT_EQ(crypto_privkey_load_pem((std::string(VPN_FIXTURE_DIR "/certs/") + name).c_str(), &k), 0) << name;
		keys.push_back(k);
		return k;
	}

	// ---- configurations: the engine's side and the responder's to match ----

	void set_ike(const char *s)
	{
		auto p = proposals(s, IKE_PROTO_IKE);
		std::copy(p.begin(), p.end(), cfg.ike);
		cfg.n_ike = p.size();
	}
	void set_esp(const char *s)
	{
		auto p = proposals(s, IKE_PROTO_ESP);
		std::copy(p.begin(), p.end(), cfg.esp);
		cfg.n_esp = p.size();
	}

	void use_psk()
	{
		cfg.auth = IKE_AUTHK_PSK;
		cfg.local_id = identity("client.vpnctl.test");
		cfg.remote_id = identity("gw.vpnctl.test");
		cfg.psk = (const uint8_t *)psk_str.data();
		cfg.psk_len = psk_str.size();
		gw.id = identity("gw.vpnctl.test");
		gw.psk = bytes(psk_str.c_str());
		gw.cert = nullptr;
		gw.key = nullptr;
	}
	// The gateway with its P-256 certificate under ca.pem.
	void gw_with_cert()
	{
		gw.psk.clear();
		gw.id = identity("gw.vpnctl.test");
		gw.cert = load_cert("server-ecdsa.pem");
		gw.key = load_key("server-ecdsa.key");
		cfg.remote_id = identity("gw.vpnctl.test");
		cfg.ca = ca;
	}
	void use_pubkey(const char *cert, const char *key, const char *local_id)
	{
		gw_with_cert();
		cfg.auth = IKE_AUTHK_PUBKEY;
		cfg.cert = load_cert(cert);
		cfg.key = load_key(key);
		cfg.local_id = identity(local_id);
		cfg.psk = nullptr;
		cfg.psk_len = 0;
	}
	void use_eap()
	{
		gw_with_cert();
		cfg.auth = IKE_AUTHK_EAP_MSCHAPV2;
		cfg.local_id = identity("alice@vpnctl.test");
		cfg.eap_identity = "alice";
		cfg.eap_password = "correct horse";
		cfg.psk = nullptr;
		cfg.psk_len = 0;
	}

	// ---- driving ---------------------------------------------------------------

	// A fresh engine and a fresh responder (its knobs back to the defaults;
	// `configure` sets them again), events forgotten: for tests that need
	// many IKE SAs in one test body.
	void restart(const std::function<void()> &configure)
	{
		if (sa)
			ike_sa_free(sa);
		sa = nullptr;
		uv_run(&loop, UV_RUN_DEFAULT); // the engine's handles close
		gw.~Responder();
		new (&gw) Responder();
		outbox.clear();
		sent.clear();
		progress.clear();
		established = false;
		ups.clear();
		downs.clear();
		closed_calls = 0;
		why = IKE_FAIL_NONE;
		reason.clear();
		ke_groups.clear();
		log.clear();
		if (configure)
			configure();
	}

	void create()
	{
		ASSERT_EQ(ike_sa_new(&loop, &cfg, &ops, this, &sa), 0);
		ASSERT_EQ(ike_sa_set_path(sa, (sockaddr *)&local, (sockaddr *)&remote), 0);
	}
	void start()
	{
		if (!sa)
			create();
		uv_update_time(&loop);
		ASSERT_EQ(ike_sa_start(sa), 0);
	}

	// Hand one datagram to the engine (a copy: the engine decrypts in place).
	void deliver(const Bytes &d)
	{
		Bytes c = d;
		if (to_engine && !to_engine(c))
			return;
		ike_sa_recv(sa, c.data(), c.size());
	}
	void deliver(const std::vector<Bytes> &ds)
	{
		for (auto &d : ds)
			deliver(d);
	}

	// Let the responder answer everything the engine has sent so far.
	void pump()
	{
		while (auto_reply && !outbox.empty()) {
			Sent s = outbox.front();
			outbox.pop_front();
			auto answers = gw.handle(s.d);
			if (sa)
				deliver(answers);
		}
	}

	static void on_deadline(uv_timer_t *t)
	{
		static_cast<IkeSaTest *>(t->data)->deadline_hit = true;
	}

	// Run the loop (timers) and the exchange until pred() or ms pass.
	bool run_until(const std::function<bool()> &pred, uint64_t ms)
	{
		deadline_hit = false;
		uv_update_time(&loop);
		uv_timer_start(&deadline, on_deadline, ms, 0);
		pump();
		while (!pred() && !deadline_hit) {
			uv_run(&loop, UV_RUN_ONCE);
			pump();
		}
		uv_timer_stop(&deadline);
		return pred();
	}
	void run_for(uint64_t ms)
	{
		run_until([] { return false; }, ms);
	}

	bool connect(uint64_t ms = 3000)
	{
		start();
		return run_until([&] { return established || closed_calls > 0; }, ms) && established;
	}

	// Engine datagrams of one exchange type, in order.
	std::vector<Sent> sent_of(uint8_t exchange) const
	{
		std::vector<Sent> v;
		for (auto &s : sent) {
			ike_header h;
			if (!ike_decode_header(s.d.data(), s.d.size(), &h) && h.exchange == exchange)
				v.push_back(s);
		}
		return v;
	}
	static ike_header header_of(const Bytes &d)
	{
		ike_header h{};
		EXPECT_EQ(ike_decode_header(d.data(), d.size(), &h), 0);
		return h;
	}

	::testing::AssertionResult closed_with(ike_fail w, const std::string &needle)
	{
		if (closed_calls != 1)
			return ::testing::AssertionFailure() << "closed() called " << closed_calls << " times";
		if (why != w)
			return ::testing::AssertionFailure()
			       << "closed with " << ike_fail_name(why) << " (" << reason << "), expected "
			       << ike_fail_name(w);
		if (reason.find(needle) == std::string::npos)
			return ::testing::AssertionFailure()
			       << "reason '" << reason << "' lacks '" << needle << "'";
		if (sa && ike_sa_state(sa) != IKE_STATE_CLOSED)
			return ::testing::AssertionFailure() << "state " << ike_state_name(ike_sa_state(sa));
		return ::testing::AssertionSuccess();
	}

	// The same with several parts of the reason.
	::testing::AssertionResult closed_with(ike_fail w, std::initializer_list<std::string> needles)
	{
		for (auto &n : needles) {
			auto r = closed_with(w, n);
			if (!r)
				return r;
		}
		return ::testing::AssertionSuccess();
	}

	// The engine's armed timers due in [lo_ms, hi_ms] from now (the
	// fixture's deadline excluded): for waits too long to sit out, a test
	// checks the timer is armed for the right time and then fires it.
	std::vector<uv_timer_t *> timers_due(uint64_t lo_ms, uint64_t hi_ms)
	{
		struct Walk {
			uv_timer_t *skip;
			uint64_t lo, hi;
			std::vector<uv_timer_t *> found;
		} w{&deadline, lo_ms, hi_ms, {}};
		uv_update_time(&loop);
		uv_walk(
			&loop,
			[](uv_handle_t *h, void *arg) {
				auto *wk = static_cast<Walk *>(arg);
				if (h->type != UV_TIMER || (uv_timer_t *)h == wk->skip ||
				    !uv_is_active(h) || uv_is_closing(h))
					return;
				uint64_t due = uv_timer_get_due_in((uv_timer_t *)h);
				if (due >= wk->lo && due <= wk->hi)
					wk->found.push_back((uv_timer_t *)h);
			},
			&w);
		return w.found;
	}
	// Fire a timer now instead of when due (its callback, through the loop).
	// timer_cb is a libuv field outside the documented API, stable in 1.x.
	static void fire_now(uv_timer_t *t) { uv_timer_start(t, t->timer_cb, 0, 0); }

	bool logged(const std::string &needle) const
	{
		for (auto &l : log)
			if (l.find(needle) != std::string::npos)
				return true;
		return false;
	}
};

} // namespace iketest

#endif
