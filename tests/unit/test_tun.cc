// The TUN device against the real kernel, in a private network namespace:
// open/close, configuration through platform/, batched reads of packets the
// stack routes into the device, batched writes of packets the stack
// delivers to sockets. With offload on, TCP/UDP super-packets the kernel
// hands us are split, and TCP segments we write are merged; the kernel's
// own TCP, acting as one end of a connection whose other end this test
// plays by hand, checks the result.
//
// Needs root (network namespaces, TUN).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "platform/plat.h"
#include "tun/gso.h"
#include "tun/tun.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif

#include "netns_test.h"

namespace {

using namespace netnstest;

const auto *const netns_env = ::testing::AddGlobalTestEnvironment(new NetnsEnv(false));

// --- Packets, built and checked independently of tun/ ------------------------

using Bytes = std::vector<uint8_t>;

// RFC 1071, the slow and obvious way.
uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum = 0)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

struct Addr {
	bool v6;
	uint8_t b[16];
};

Addr addr(const char *s)
{
	Addr a = {};
	a.v6 = strchr(s, ':') != nullptr;
	EXPECT_EQ(inet_pton(a.v6 ? AF_INET6 : AF_INET, s, a.b), 1) << s;
	return a;
}

size_t alen(const Addr &a)
{
	return a.v6 ? 16 : 4;
}

// An IP packet around l4 with correct checksums everywhere.
Bytes make_ip(const Addr &src, const Addr &dst, uint8_t proto, Bytes l4, uint16_t id = 1)
{
	size_t co = proto == IPPROTO_TCP ? 16 : 6;
	uint32_t ps = sum16(src.b, alen(src)) + sum16(dst.b, alen(dst)) + proto + (uint32_t)l4.size();
	l4[co] = l4[co + 1] = 0;
	uint16_t c = (uint16_t)~fold(sum16(l4.data(), l4.size(), ps));
	if (proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	put16(&l4[co], c);

	Bytes p(src.v6 ? 40 : 20);
	if (src.v6) {
		p[0] = 0x60;
		put16(&p[4], (uint16_t)l4.size());
		p[6] = proto;
		p[7] = 64;
		memcpy(&p[8], src.b, 16);
		memcpy(&p[24], dst.b, 16);
	} else {
		p[0] = 0x45;
		put16(&p[2], (uint16_t)(20 + l4.size()));
		put16(&p[4], id);
		put16(&p[6], 0x4000); // DF
		p[8] = 64;
		p[9] = proto;
		memcpy(&p[12], src.b, 4);
		memcpy(&p[16], dst.b, 4);
		put16(&p[10], (uint16_t)~fold(sum16(p.data(), 20)));
	}
	p.insert(p.end(), l4.begin(), l4.end());
	return p;
}

Bytes make_udp(const Addr &src, uint16_t sport, const Addr &dst, uint16_t dport,
	       const std::string &payload)
{
	Bytes l4(8);
	put16(&l4[0], sport);
	put16(&l4[2], dport);
	put16(&l4[4], (uint16_t)(8 + payload.size()));
	l4.insert(l4.end(), payload.begin(), payload.end());
	return make_ip(src, dst, IPPROTO_UDP, l4);
}

enum : uint8_t { FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, CWR = 0x80 };

Bytes make_tcp(const Addr &src, uint16_t sport, const Addr &dst, uint16_t dport,
	       uint32_t seq, uint32_t ack, uint8_t flags, const Bytes &payload = {},
	       const Bytes &opts = {}, uint16_t win = 0xffff)
{
	Bytes l4(20);
	put16(&l4[0], sport);
	put16(&l4[2], dport);
	put32(&l4[4], seq);
	put32(&l4[8], ack);
	l4[12] = (uint8_t)((20 + opts.size()) / 4 << 4);
	l4[13] = flags;
	put16(&l4[14], win);
	l4.insert(l4.end(), opts.begin(), opts.end());
	l4.insert(l4.end(), payload.begin(), payload.end());
	return make_ip(src, dst, IPPROTO_TCP, l4);
}

// What a test needs from a packet; ok is false for anything unparsable or
// with a wrong checksum.
struct View {
	bool ok = false;
	bool v6 = false;
	uint8_t proto = 0;
	Addr src = {}, dst = {};
	uint16_t sport = 0, dport = 0;
	uint32_t seq = 0, ack = 0;
	uint8_t flags = 0;
	const uint8_t *data = nullptr;
	size_t len = 0;
};

View parse(const uint8_t *p, size_t n)
{
	View v;
	size_t l4;

	if (n < 20)
		return v;
	v.v6 = (p[0] >> 4) == 6;
	if (v.v6) {
		if (n < 40 || be16(p + 4) + 40u != n)
			return v;
		v.proto = p[6];
		l4 = 40;
		v.src.v6 = v.dst.v6 = true;
		memcpy(v.src.b, p + 8, 16);
		memcpy(v.dst.b, p + 24, 16);
	} else {
		if ((p[0] >> 4) != 4 || be16(p + 2) != n || fold(sum16(p, 20)) != 0xffff)
			return v;
		v.proto = p[9];
		l4 = (size_t)(p[0] & 15) * 4;
		memcpy(v.src.b, p + 12, 4);
		memcpy(v.dst.b, p + 16, 4);
	}
	if (v.proto != IPPROTO_TCP && v.proto != IPPROTO_UDP)
		return v;
	uint32_t ps = sum16(v.src.b, alen(v.src)) + sum16(v.dst.b, alen(v.dst)) + v.proto +
		      (uint32_t)(n - l4);
	if (fold(sum16(p + l4, n - l4, ps)) != 0xffff)
		return v;
	v.sport = be16(p + l4);
	v.dport = be16(p + l4 + 2);
	if (v.proto == IPPROTO_TCP) {
		size_t th = (size_t)(p[l4 + 12] >> 4) * 4;
		v.seq = be32(p + l4 + 4);
		v.ack = be32(p + l4 + 8);
		v.flags = p[l4 + 13];
		v.data = p + l4 + th;
		v.len = n - l4 - th;
	} else {
		if (be16(p + l4 + 4) != n - l4)
			return v;
		v.data = p + l4 + 8;
		v.len = n - l4 - 8;
	}
	v.ok = true;
	return v;
}

bool same(const Addr &a, const Addr &b)
{
	return a.v6 == b.v6 && memcmp(a.b, b.b, alen(a)) == 0;
}

// --- Buffers ---------------------------------------------------------------------

constexpr uint32_t kHead = 64, kTail = 48, kBuf = 2048, kBatch = 64;

struct Pool {
	std::vector<Bytes> mem;
	std::vector<tun_pkt> pkts;

	explicit Pool(unsigned n = kBatch, uint32_t size = kBuf) : mem(n, Bytes(size)), pkts(n)
	{
		reset();
	}
	void reset()
	{
		for (size_t i = 0; i < pkts.size(); i++)
			pkts[i] = tun_pkt{mem[i].data(), (uint32_t)mem[i].size(), 0, 0};
	}
	// Load packets for writing, each at kHead.
	void load(const std::vector<Bytes> &ps)
	{
		reset();
		for (size_t i = 0; i < ps.size(); i++) {
			memcpy(mem[i].data() + kHead, ps[i].data(), ps[i].size());
			pkts[i].off = kHead;
			pkts[i].len = (uint32_t)ps[i].size();
		}
	}
};

bool readable(int fd, int ms)
{
	pollfd pfd = {fd, POLLIN, 0};
	return poll(&pfd, 1, ms) == 1;
}

const char *const kStateDir = "/tmp/tun-state";

// --- Opening --------------------------------------------------------------------

TEST(TunOpen, CreatesNonBlockingDeviceAndRemovesItOnClose)
{
	tun_dev t;

	ASSERT_EQ(tun_open(&t, "platn%d", 0), 0);
	EXPECT_EQ(strncmp(t.ifname, "platn", 5), 0);
	EXPECT_EQ(t.ifindex, (int)if_nametoindex(t.ifname));
	EXPECT_TRUE(fcntl(t.fd, F_GETFL) & O_NONBLOCK);
	EXPECT_TRUE(fcntl(t.fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(t.offload, 0u);
	std::string d = out(std::string("ip -d link show ") + t.ifname);
	EXPECT_TRUE(contains(d, "tun type tun pi off vnet_hdr off persist off")) << d;

	tun_dev t2;
	EXPECT_EQ(tun_open(&t2, t.ifname, 0), -EBUSY);
	std::string name = t.ifname;
	tun_close(&t);
	EXPECT_EQ(if_nametoindex(name.c_str()), 0u);
	tun_close(&t); // twice is harmless
}

TEST(TunOpen, RefusesBadNames)
{
	tun_dev t;

	EXPECT_EQ(tun_open(&t, "", 0), -EINVAL);
	EXPECT_EQ(tun_open(&t, "a-name-much-too-long", 0), -EINVAL);
	EXPECT_EQ(tun_open(&t, "a/b", 0), -EINVAL);
	EXPECT_EQ(t.fd, -1);
}

TEST(TunOpen, DefaultNameAndOffload)
{
	tun_dev t;

	ASSERT_EQ(tun_open(&t, nullptr, TUN_OPEN_OFFLOAD), 0);
	EXPECT_EQ(strncmp(t.ifname, "vpn", 3), 0);
	EXPECT_TRUE(t.offload & TUN_F_CSUM);
	EXPECT_TRUE(t.offload & TUN_F_TSO4);
	EXPECT_TRUE(t.offload & TUN_F_TSO6);
	EXPECT_TRUE(t.coalesce);
	std::string d = out(std::string("ip -d link show ") + t.ifname);
	EXPECT_TRUE(contains(d, "vnet_hdr on")) << d;
	tun_close(&t);
}

TEST(TunMtu, KeepsEspWithinThePath)
{
	// AES-GCM-16 over IPv4+UDP: 1500-20-8 (outer) -8 (SPI, seq) -8 (IV)
	// -16 (ICV) = 1440 for payload + 2 trailer bytes, 4-aligned.
	EXPECT_EQ(tun_esp_mtu(1500, 28, 8, 4, 16), 1438);
	EXPECT_EQ(tun_esp_mtu(1500, 48, 8, 4, 16), 1418);
	// AES-CBC + HMAC-SHA256-128: 1500-28-8-16-16 = 1432 -> 1424 -> 1422.
	EXPECT_EQ(tun_esp_mtu(1500, 28, 16, 16, 16), 1422);
	EXPECT_EQ(tun_esp_mtu(1500, 28, 8, 1, 16), 1438); // at least 4-aligned
	EXPECT_EQ(tun_esp_mtu(100, 48, 16, 16, 32), -EINVAL);
	EXPECT_EQ(tun_esp_mtu(1500, 28, 8, 512, 16), -EINVAL);
	EXPECT_EQ(tun_esp_mtu(70000, 28, 8, 4, 16), -EINVAL);
}

// --- Reading and writing, plain and with offload -------------------------------

const Addr kLocal4 = addr("10.66.0.1"), kPeer4 = addr("10.66.0.2");
const Addr kLocal6 = addr("fd00:66::1"), kPeer6 = addr("fd00:66::2");

class TunIo : public ::testing::TestWithParam<bool> {
public:
	void SetUp() override
	{
		ASSERT_EQ(tun_open(&t, "platn%d", GetParam() ? TUN_OPEN_OFFLOAD : 0), 0);
		ASSERT_EQ(GetParam(), t.offload != 0);
		ASSERT_EQ(plat_open(&p, kStateDir, "tun"), 0);
		uint64_t id;
		plat_prefix a4, a6;
		ASSERT_EQ(plat_prefix_parse(&a4, "10.66.0.1/24"), 0);
		ASSERT_EQ(plat_prefix_parse(&a6, "fd00:66::1/64"), 0);
		ASSERT_EQ(plat_tun_record(p, t.ifindex, t.ifname, &id), 0);
		ASSERT_EQ(plat_link_set_mtu(p, t.ifindex, 1400), 0);
		ASSERT_EQ(plat_addr_add(p, t.ifindex, &a4, &id), 0);
		ASSERT_EQ(plat_addr_add(p, t.ifindex, &a6, &id), 0);
		ASSERT_EQ(plat_link_set_up(p, t.ifindex, 1), 0);
		ASSERT_EQ(plat_addr_wait_local(p, &a4.ip, 1000), 0);
		ASSERT_EQ(plat_addr_wait_local(p, &a6.ip, 1000), 0);
		unsigned mtu, flags;
		ASSERT_EQ(plat_link_get(p, t.ifindex, nullptr, &mtu, &flags), 0);
		EXPECT_EQ(mtu, 1400u);
		EXPECT_TRUE(flags & IFF_UP);
	}
	void TearDown() override
	{
		tun_close(&t);
		EXPECT_EQ(plat_undo_all(p), 0);
		plat_close(p);
	}

	// Read until `want` packets pass `keep` or timeout; the rest (IPv6
	// router solicitations and the like) are ignored.
	template <class Keep>
	std::vector<Bytes> read_until(size_t want, Keep keep, int timeout_ms = 3000,
				      std::vector<int> *batches = nullptr)
	{
		std::vector<Bytes> got;
		Pool pool;
		for (int waited = 0; got.size() < want && waited < timeout_ms; waited += 10) {
			if (!readable(t.fd, 10))
				continue;
			int n = tun_read_batch(&t, pool.pkts.data(), kBatch, kHead, kTail);
			EXPECT_GE(n, 0);
			if (batches)
				batches->push_back(n);
			for (int i = 0; i < n; i++) {
				const tun_pkt &pk = pool.pkts[i];
				EXPECT_EQ(pk.off, kHead);
				EXPECT_LE(pk.off + pk.len + kTail, pk.cap);
				Bytes b(pk.buf + pk.off, pk.buf + pk.off + pk.len);
				if (keep(parse(b.data(), b.size())))
					got.push_back(b);
			}
		}
		return got;
	}

	tun_dev t;
	plat *p = nullptr;
};

INSTANTIATE_TEST_SUITE_P(PlainAndOffload, TunIo, ::testing::Bool(),
			 [](const auto &pi) { return pi.param ? "Offload" : "Plain"; });

int udp_socket(const Addr &a, uint16_t port)
{
	int s = socket(a.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_storage ss = {};
	socklen_t sl;
	if (a.v6) {
		auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a.b, 16);
		sl = sizeof(*s6);
	} else {
		auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a.b, 4);
		sl = sizeof(*s4);
	}
	if (port && bind(s, reinterpret_cast<sockaddr *>(&ss), sl) < 0) {
		close(s);
		return -1;
	}
	return s;
}

sockaddr_storage sockaddr_of(const Addr &a, uint16_t port, socklen_t *len)
{
	sockaddr_storage ss = {};
	if (a.v6) {
		auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a.b, 16);
		*len = sizeof(*s6);
	} else {
		auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a.b, 4);
		*len = sizeof(*s4);
	}
	return ss;
}

TEST_P(TunIo, ReadsWhatTheStackRoutesIntoItInBatches)
{
	for (const Addr &peer : {kPeer4, kPeer6}) {
		int s = udp_socket(peer, 0);
		ASSERT_GE(s, 0);
		socklen_t sl;
		sockaddr_storage to = sockaddr_of(peer, 9000, &sl);
		for (int i = 0; i < 5; i++) {
			std::string m = "packet-" + std::to_string(i);
			ASSERT_EQ(sendto(s, m.data(), m.size(), 0, reinterpret_cast<sockaddr *>(&to), sl),
				  (ssize_t)m.size());
		}
		std::vector<int> batches;
		auto got = read_until(
			5, [&](const View &v) { return v.ok && v.dport == 9000 && same(v.dst, peer); },
			3000, &batches);
		ASSERT_EQ(got.size(), 5u);
		// They were all queued before we read: one call takes them all.
		ASSERT_FALSE(batches.empty());
		EXPECT_GE(batches[0], 5);
		for (int i = 0; i < 5; i++) {
			View v = parse(got[i].data(), got[i].size());
			EXPECT_EQ(std::string((const char *)v.data, v.len), "packet-" + std::to_string(i));
		}
		close(s);
	}
	EXPECT_EQ(t.stats.rx_dropped, 0u);
	EXPECT_GE(t.stats.rx_pkts, 10u);
	// Nothing left: an empty device reads as 0, not as an error.
	Pool pool;
	while (tun_read_batch(&t, pool.pkts.data(), kBatch, kHead, kTail) > 0)
		;
	EXPECT_EQ(tun_read_batch(&t, pool.pkts.data(), kBatch, kHead, kTail), 0);
}

TEST_P(TunIo, WritesABatchThatTheStackDelivers)
{
	for (auto [local, peer] : {std::pair{kLocal4, kPeer4}, std::pair{kLocal6, kPeer6}}) {
		int s = udp_socket(local, 9001);
		ASSERT_GE(s, 0);
		std::vector<Bytes> ps;
		for (int i = 0; i < 4; i++)
			ps.push_back(make_udp(peer, 5555, local, 9001, "in-" + std::to_string(i)));
		Bytes junk(60, 0x70); // IP version 7
		ps.insert(ps.begin() + 2, junk);
		Pool pool;
		pool.load(ps);
		uint64_t dropped = t.stats.tx_dropped;
		EXPECT_EQ(tun_write_batch(&t, pool.pkts.data(), (unsigned)ps.size()), 4);
		EXPECT_EQ(t.stats.tx_dropped, dropped + 1);
		for (int i = 0; i < 4; i++) {
			char buf[64];
			ASSERT_TRUE(readable(s, 2000)) << (local.v6 ? "IPv6" : "IPv4") << " datagram " << i;
			ssize_t n = recv(s, buf, sizeof(buf), 0);
			EXPECT_EQ(std::string(buf, n > 0 ? (size_t)n : 0), "in-" + std::to_string(i));
		}
		close(s);
	}
}

TEST_P(TunIo, DropsWhatDoesNotFitTheBuffers)
{
	int s = udp_socket(kPeer4, 0);
	socklen_t sl;
	sockaddr_storage to = sockaddr_of(kPeer4, 9000, &sl);
	std::string big(100, 'x');
	ASSERT_EQ(sendto(s, big.data(), big.size(), 0, reinterpret_cast<sockaddr *>(&to), sl), 100);
	close(s);
	ASSERT_TRUE(readable(t.fd, 2000));

	// Room for 40 bytes of packet only: a 128-byte datagram cannot fit.
	Pool small(4, kHead + kTail + 40);
	int total = 0;
	for (int i = 0; i < 20; i++) {
		int n = tun_read_batch(&t, small.pkts.data(), 4, kHead, kTail);
		ASSERT_GE(n, 0);
		for (int k = 0; k < n; k++)
			EXPECT_LE(small.pkts[k].len, 40u);
		total += n;
		if (!readable(t.fd, 20))
			break;
	}
	EXPECT_EQ(total, 0);
	EXPECT_GE(t.stats.rx_dropped, 1u);

	Pool tiny(1, kHead + kTail + 39);
	EXPECT_EQ(tun_read_batch(&t, tiny.pkts.data(), 1, kHead, kTail), -EINVAL);
}

TEST_P(TunIo, WriteToADownLinkFails)
{
	ASSERT_EQ(plat_link_set_up(p, t.ifindex, 0), 0);
	Pool pool;
	pool.load({make_udp(kPeer4, 5555, kLocal4, 9001, "x")});
	EXPECT_EQ(tun_write_batch(&t, pool.pkts.data(), 1), -EIO);
}

// --- TCP through the device, the far end played by this test -------------------

// The kernel is the TCP client: it connects to the peer behind the TUN and
// sends; we answer the handshake, read what it sends, and ACK it.
TEST_P(TunIo, KernelTcpSendIsReadAsMtuSizedSegments)
{
	for (auto [local, peer] : {std::pair{kLocal4, kPeer4}, std::pair{kLocal6, kPeer6}}) {
		int s = socket(peer.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		socklen_t sl;
		sockaddr_storage to = sockaddr_of(peer, 5001, &sl);
		ASSERT_EQ(connect(s, reinterpret_cast<sockaddr *>(&to), sl), -1);
		ASSERT_EQ(errno, EINPROGRESS);

		auto syn = read_until(1, [&](const View &v) {
			return v.ok && v.proto == IPPROTO_TCP && v.dport == 5001 && (v.flags & SYN);
		});
		ASSERT_EQ(syn.size(), 1u);
		View sv = parse(syn[0].data(), syn[0].size());
		const uint16_t cport = sv.sport;
		const uint32_t cisn = sv.seq, sisn = 7000;
		// MSS 1460, window scale 7: let the kernel send big flights.
		const Bytes opts = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
		Pool pool;
		pool.load({make_tcp(peer, 5001, local, cport, sisn, cisn + 1, SYN | ACK, {}, opts)});
		ASSERT_EQ(tun_write_batch(&t, pool.pkts.data(), 1), 1);

		std::string data(600 * 1024, '\0');
		for (size_t i = 0; i < data.size(); i++)
			data[i] = (char)('a' + (i * 7 + i / 1000) % 26);
		size_t sent = 0, got = 0;
		unsigned max_seg = 0;
		uint64_t reads0 = t.stats.rx_reads, pkts0 = t.stats.rx_pkts;
		for (int round = 0; round < 2000 && got < data.size(); round++) {
			if (sent < data.size()) {
				ssize_t n = send(s, data.data() + sent, data.size() - sent, 0);
				if (n > 0)
					sent += (size_t)n;
			}
			if (!readable(t.fd, 10))
				continue;
			int n = tun_read_batch(&t, pool.pkts.data(), kBatch, kHead, kTail);
			ASSERT_GE(n, 0);
			for (int i = 0; i < n; i++) {
				const tun_pkt &pk = pool.pkts[i];
				View v = parse(pk.buf + pk.off, pk.len);
				if (v.proto != IPPROTO_TCP || v.dport != 5001)
					continue;
				ASSERT_TRUE(v.ok) << "bad checksum or length in a segment";
				ASSERT_LE(pk.len, 1400u);
				max_seg = std::max(max_seg, pk.len);
				if (!v.len)
					continue;
				// Every segment must carry the bytes of its place in
				// the stream; a slow test may see retransmissions
				// (tail loss probes), which are fine.
				size_t off = v.seq - (cisn + 1);
				ASSERT_LE(off + v.len, data.size());
				ASSERT_EQ(memcmp(v.data, data.data() + off, v.len), 0)
					<< "payload differs at stream offset " << off;
				if (off <= got && off + v.len > got)
					got = off + v.len;
			}
			Pool ackp(1);
			ackp.load({make_tcp(peer, 5001, local, cport, sisn + 1, cisn + 1 + (uint32_t)got,
					    ACK, {}, {}, 0xffff)});
			ASSERT_EQ(tun_write_batch(&t, ackp.pkts.data(), 1), 1);
		}
		EXPECT_EQ(got, data.size());
		EXPECT_EQ(max_seg, 1400u) << "segments should fill the MTU";
		uint64_t reads = t.stats.rx_reads - reads0, pkts = t.stats.rx_pkts - pkts0;
		if (GetParam()) {
			EXPECT_GT(t.stats.rx_gso, 0u);
			// Super-packets: many segments per read syscall.
			EXPECT_GT(pkts, 3 * reads) << pkts << " packets in " << reads << " reads";
		} else {
			EXPECT_EQ(t.stats.rx_gso, 0u);
		}
		close(s);
	}
}

TEST_P(TunIo, KernelUdpGsoSendIsReadAsDatagrams)
{
	int s = udp_socket(kPeer4, 0);
	int seg = 1000;
	ASSERT_EQ(setsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)), 0);
	std::string data(8 * 1000 + 300, '\0');
	for (size_t i = 0; i < data.size(); i++)
		data[i] = (char)(i * 13);
	socklen_t sl;
	sockaddr_storage to = sockaddr_of(kPeer4, 7000, &sl);
	ASSERT_EQ(sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr *>(&to), sl),
		  (ssize_t)data.size());
	auto got = read_until(9, [](const View &v) {
		return v.proto == IPPROTO_UDP && v.dport == 7000;
	});
	ASSERT_EQ(got.size(), 9u);
	std::string joined;
	for (size_t i = 0; i < got.size(); i++) {
		View v = parse(got[i].data(), got[i].size());
		ASSERT_TRUE(v.ok) << "datagram " << i;
		EXPECT_EQ(v.len, i < 8 ? 1000u : 300u);
		joined.append((const char *)v.data, v.len);
	}
	EXPECT_TRUE(joined == data);
	if (t.offload & TUN_F_USO4) {
		EXPECT_EQ(t.stats.rx_gso, 1u);
	}
	close(s);
}

// The kernel is the TCP server; we play the client and push data through
// tun_write_batch. With offload the segments of a batch ride in one
// super-packet; the socket must see the same bytes either way.
class TcpClient {
public:
	TcpClient(TunIo *io, tun_dev *t, Addr local, Addr peer, uint16_t port)
		: t_(t), local_(local), peer_(peer), port_(port)
	{
		ls_ = socket(local.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		int one = 1;
		setsockopt(ls_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		socklen_t sl;
		sockaddr_storage a = sockaddr_of(local, port, &sl);
		EXPECT_EQ(bind(ls_, reinterpret_cast<sockaddr *>(&a), sl), 0);
		EXPECT_EQ(listen(ls_, 1), 0);
		write({make_tcp(peer, cport_, local, port, kIsn, 0, SYN, {}, {2, 4, 0x05, 0x50})});
		auto sa = io->read_until(1, [&](const View &v) {
			return v.ok && v.sport == port && v.dport == cport_ &&
			       (v.flags & (SYN | ACK)) == (SYN | ACK);
		});
		EXPECT_EQ(sa.size(), 1u);
		if (sa.empty())
			return;
		sack_ = parse(sa[0].data(), sa[0].size()).seq + 1;
		write({make_tcp(peer, cport_, local, port, kIsn + 1, sack_, ACK)});
		EXPECT_TRUE(readable(ls_, 2000));
		s_ = accept(ls_, nullptr, nullptr);
		EXPECT_GE(s_, 0);
	}
	~TcpClient()
	{
		close(s_);
		close(ls_);
	}
	// Segments of `size` bytes from stream offset `off` (relative to the
	// first data byte), the last one with PSH unless told otherwise.
	std::vector<Bytes> segments(size_t off, size_t n, size_t size, bool psh = true)
	{
		std::vector<Bytes> v;
		for (size_t i = 0; i < n; i++) {
			Bytes pl(size);
			for (size_t k = 0; k < size; k++)
				pl[k] = byte_at(off + i * size + k);
			v.push_back(make_tcp(peer_, cport_, local_, port_,
					     kIsn + 1 + (uint32_t)(off + i * size), sack_,
					     (uint8_t)(ACK | (psh && i + 1 == n ? PSH : 0)), pl));
		}
		return v;
	}
	int write(const std::vector<Bytes> &ps)
	{
		Pool pool((unsigned)std::max<size_t>(ps.size(), 1));
		pool.load(ps);
		return tun_write_batch(t_, pool.pkts.data(), (unsigned)ps.size());
	}
	// Read what the socket has now; check it continues the stream.
	size_t drain(size_t want, int timeout_ms = 2000)
	{
		char buf[65536];
		for (int w = 0; got_ < want && w < timeout_ms; w += 10) {
			if (!readable(s_, 10))
				continue;
			ssize_t n = recv(s_, buf, sizeof(buf), MSG_DONTWAIT);
			for (ssize_t i = 0; i < n; i++)
				if ((uint8_t)buf[i] != byte_at(got_ + (size_t)i)) {
					ADD_FAILURE() << "stream differs at byte " << got_ + (size_t)i;
					return got_;
				}
			if (n > 0)
				got_ += (size_t)n;
		}
		return got_;
	}
	static uint8_t byte_at(size_t i) { return (uint8_t)(i * 31 + i / 977); }

	// A fresh client port per connection: an earlier connection of this
	// process (same namespace) may still linger in TIME_WAIT.
	static inline uint16_t next_port = 40000;
	const uint16_t cport_ = next_port++;
	static constexpr uint32_t kIsn = 0xfffff000; // wraps during the test

private:
	tun_dev *t_;
	Addr local_, peer_;
	uint16_t port_;
	int ls_ = -1, s_ = -1;
	uint32_t sack_ = 0;
	size_t got_ = 0;
};

TEST_P(TunIo, WrittenTcpSegmentsReachTheSocketInOrder)
{
	for (auto [local, peer] : {std::pair{kLocal4, kPeer4}, std::pair{kLocal6, kPeer6}}) {
		TcpClient c(this, &t, local, peer, 6000);
		uint64_t writes0 = t.stats.tx_writes, merged0 = t.stats.tx_coalesced;

		// Within the server's initial window (10 x MSS 1360).
		auto segs = c.segments(0, 12, 1000);
		// Another flow's packet in the middle does not break the run.
		int u = udp_socket(local, 9002);
		segs.insert(segs.begin() + 5, make_udp(peer, 5555, local, 9002, "between"));
		ASSERT_EQ(c.write(segs), 13);
		EXPECT_EQ(c.drain(12000), 12000u);
		char buf[16];
		ASSERT_TRUE(readable(u, 2000));
		EXPECT_EQ(recv(u, buf, sizeof(buf), 0), 7);
		close(u);
		if (GetParam()) {
			EXPECT_EQ(t.stats.tx_writes - writes0, 2u);
			EXPECT_EQ(t.stats.tx_coalesced - merged0, 12u);
		} else {
			EXPECT_EQ(t.stats.tx_writes - writes0, 13u);
			EXPECT_EQ(t.stats.tx_coalesced, 0u);
		}

		// The next batch continues the stream; a shorter last segment
		// still joins the run (and ends it).
		writes0 = t.stats.tx_writes;
		auto more = c.segments(12000, 5, 1000, false);
		auto tail = c.segments(17000, 1, 321);
		more.insert(more.end(), tail.begin(), tail.end());
		ASSERT_EQ(c.write(more), 6);
		EXPECT_EQ(c.drain(17321), 17321u);
		EXPECT_EQ(t.stats.tx_writes - writes0, GetParam() ? 1u : 6u);
	}
	EXPECT_EQ(t.stats.tx_dropped, 0u);
}

TEST_P(TunIo, CorruptSegmentIsNeverMergedAndTheKernelDropsIt)
{
	TcpClient c(this, &t, kLocal4, kPeer4, 6001);
	auto segs = c.segments(0, 6, 1000);
	segs[3][60] ^= 0x40; // payload byte: the TCP checksum no longer holds
	ASSERT_EQ(c.write(segs), 6);
	// Three segments arrive; the fourth was dropped, so the last two wait
	// out of order.
	EXPECT_EQ(c.drain(6000, 500), 3000u);
	// Retransmitted intact, the hole closes.
	ASSERT_EQ(c.write(c.segments(3000, 1, 1000)), 1);
	EXPECT_EQ(c.drain(6000), 6000u);
}

// Mangled TCP segments (as a broken or hostile gateway might send inside
// the tunnel) pass through the merging path without harm, and the kernel
// drops what is not a packet.
TEST_P(TunIo, MangledSegmentsAreHarmless)
{
	TcpClient c(this, &t, kLocal4, kPeer4, 6002);
	std::mt19937 rng(7296);
	for (int round = 0; round < 200; round++) {
		auto segs = c.segments(0, 16, 900);
		for (auto &sg : segs)
			for (int k = rng() % 3; k > 0; k--)
				sg[rng() % 60] = (uint8_t)rng();
		Pool pool;
		pool.load(segs);
		if (rng() % 4 == 0)
			pool.pkts[rng() % 16].len = (uint32_t)(rng() % 200);
		ASSERT_GE(tun_write_batch(&t, pool.pkts.data(), 16), 0);
	}
	// Whatever got through intact continued the stream (drain checks
	// every byte); sent again intact, all of it arrives.
	c.drain(14400, 300);
	ASSERT_EQ(c.write(c.segments(0, 16, 900)), 16);
	EXPECT_EQ(c.drain(14400), 14400u);
}

// --- Splitting, on packets made by hand -------------------------------------------

TEST(TunGso, SplitsTcpWithFlagsWhereTheyBelong)
{
	Bytes payload(3000);
	for (size_t i = 0; i < payload.size(); i++)
		payload[i] = (uint8_t)i;
	Bytes opts = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}; // NOP NOP timestamps
	for (const Addr &src : {kLocal4, kLocal6}) {
		const Addr &dst = src.v6 ? kPeer6 : kPeer4;
		Bytes sp = make_tcp(src, 1234, dst, 80, 0xfffffc00, 99, ACK | PSH | FIN | CWR,
				    payload, opts);
		size_t l4 = src.v6 ? 40 : 20;
		tun_vnet_hdr h = {};
		h.flags = TUN_VNET_F_NEEDS_CSUM;
		h.gso_type = src.v6 ? TUN_VNET_GSO_TCPV6 : TUN_VNET_GSO_TCPV4;
		h.gso_size = 1400;
		h.csum_start = (uint16_t)l4;
		h.csum_offset = 16;
		h.hdr_len = 7; // the kernel's value is not to be trusted; unused
		tun_gso_pending g;
		ASSERT_EQ(tun_gso_prepare(&g, sp.data(), sp.size(), &h), 0);

		uint8_t out[2000];
		std::vector<View> segs;
		std::vector<Bytes> keep;
		int n;
		while ((n = tun_gso_segment(&g, sp.data(), out, sizeof(out))) > 0)
			keep.emplace_back(out, out + n);
		ASSERT_EQ(n, 0);
		ASSERT_EQ(keep.size(), 3u);
		Bytes joined;
		for (size_t i = 0; i < keep.size(); i++) {
			View v = parse(keep[i].data(), keep[i].size());
			ASSERT_TRUE(v.ok) << "segment " << i;
			EXPECT_EQ(v.seq, 0xfffffc00u + 1400 * (uint32_t)i); // wraps
			EXPECT_EQ(v.ack, 99u);
			EXPECT_EQ(v.len, i < 2 ? 1400u : 200u);
			EXPECT_EQ(v.flags & CWR, i == 0 ? CWR : 0);
			EXPECT_EQ(v.flags & (PSH | FIN), i == 2 ? PSH | FIN : 0);
			EXPECT_TRUE(v.flags & ACK);
			EXPECT_EQ(keep[i].size(), l4 + 32 + v.len) << "options kept";
			if (!src.v6) {
				EXPECT_EQ(be16(&keep[i][4]), 1 + i) << "IPv4 ID per segment";
			}
			joined.insert(joined.end(), v.data, v.data + v.len);
		}
		EXPECT_TRUE(joined == payload);

		// An output buffer too small for a segment is refused, not overrun.
		ASSERT_EQ(tun_gso_prepare(&g, sp.data(), sp.size(), &h), 0);
		EXPECT_EQ(tun_gso_segment(&g, sp.data(), out, 1000), -ENOSPC);
	}
}

TEST(TunGso, RefusesLyingHeaders)
{
	Bytes sp = make_tcp(kLocal4, 1, kPeer4, 2, 0, 0, ACK, Bytes(2000));
	tun_vnet_hdr h = {};
	h.gso_type = TUN_VNET_GSO_TCPV4;
	h.gso_size = 1000;
	h.csum_start = 20;
	h.csum_offset = 16;
	tun_gso_pending g;
	ASSERT_EQ(tun_gso_prepare(&g, sp.data(), sp.size(), &h), 0);

	EXPECT_EQ(tun_gso_prepare(&g, sp.data(), sp.size() - 1, &h), -EINVAL); // IP length
	tun_vnet_hdr bad = h;
	bad.gso_size = 0;
	EXPECT_EQ(tun_gso_prepare(&g, sp.data(), sp.size(), &bad), -EINVAL);
	bad = h;
	bad.gso_type = TUN_VNET_GSO_TCPV6; // family mismatch
	EXPECT_EQ(tun_gso_prepare(&g, sp.data(), sp.size(), &bad), -EINVAL);
	bad = h;
	bad.gso_type = TUN_VNET_GSO_UDP; // UFO: never negotiated
	EXPECT_EQ(tun_gso_prepare(&g, sp.data(), sp.size(), &bad), -EINVAL);
	Bytes lie = sp;
	lie[32] = 0x10; // TCP data offset: 4 bytes
	EXPECT_EQ(tun_gso_prepare(&g, lie.data(), lie.size(), &h), -EINVAL);
	lie = sp;
	lie[0] = 0x4f; // IPv4 header claims 60 bytes: "TCP" lands in zeros
	EXPECT_EQ(tun_gso_prepare(&g, lie.data(), lie.size(), &h), -EINVAL);
	Bytes udp = make_udp(kLocal4, 1, kPeer4, 2, std::string(100, 'u'));
	EXPECT_EQ(tun_gso_prepare(&g, udp.data(), udp.size(), &h), -EINVAL); // not TCP

	// A partial checksum pointing past the end.
	tun_vnet_hdr cs = {};
	cs.flags = TUN_VNET_F_NEEDS_CSUM;
	cs.csum_start = (uint16_t)udp.size();
	cs.csum_offset = 6;
	EXPECT_EQ(tun_gso_finish_csum(udp.data(), udp.size(), &cs), -EINVAL);
}

// Whatever the header and the bytes claim, splitting stays within the
// packet and the output buffer (run under ASan to mean something).
TEST(TunGso, SurvivesGarbage)
{
	std::mt19937 rng(4303);
	Bytes base = make_tcp(kLocal4, 1, kPeer4, 2, 5, 6, ACK, Bytes(3000, 0x5a));
	Bytes base6 = make_tcp(kLocal6, 1, kPeer6, 2, 5, 6, ACK, Bytes(3000, 0x5a));
	uint8_t out[1500];
	int prepared = 0;

	for (int iter = 0; iter < 20000; iter++) {
		Bytes p = iter & 1 ? base6 : base;
		size_t len = p.size();
		// A few random byte flips in the headers, sometimes a shorter
		// packet, a random vnet header.
		for (int k = rng() % 4; k > 0; k--)
			p[rng() % 80] = (uint8_t)rng();
		if (rng() % 4 == 0)
			len = rng() % len;
		tun_vnet_hdr h = {};
		h.flags = (uint8_t)(rng() % 2);
		const uint8_t types[] = {TUN_VNET_GSO_TCPV4, TUN_VNET_GSO_TCPV6,
					 TUN_VNET_GSO_UDP_L4, (uint8_t)rng()};
		h.gso_type = types[rng() % 4];
		h.gso_size = (uint16_t)(rng() % 4 ? 1 + rng() % 1500 : rng());
		h.csum_start = (uint16_t)(rng() % 2 ? (iter & 1 ? 40 : 20) : rng() % 4000);
		h.csum_offset = (uint16_t)(rng() % 2 ? 16 : rng());
		tun_gso_pending g;
		if (tun_gso_prepare(&g, p.data(), len, &h) == 0) {
			prepared++;
			int n, segs = 0;
			while ((n = tun_gso_segment(&g, p.data(), out, sizeof(out))) > 0) {
				ASSERT_LE((size_t)n, sizeof(out));
				ASSERT_LT(++segs, 4000);
			}
		}
		Bytes q = p;
		tun_gso_finish_csum(q.data(), len, &h);
	}
	EXPECT_GT(prepared, 100) << "the mutations should leave some packets valid";
}

TEST(TunGso, FinishesPartialChecksums)
{
	// What the kernel hands us with TUN_F_CSUM: the pseudo-header sum in
	// the checksum field, the rest left to "hardware".
	for (const Addr &src : {kLocal4, kLocal6}) {
		const Addr &dst = src.v6 ? kPeer6 : kPeer4;
		Bytes u = make_udp(src, 53, dst, 5353, "odd-length payload!");
		size_t l4 = src.v6 ? 40 : 20;
		uint32_t ps = sum16(src.b, alen(src)) + sum16(dst.b, alen(dst)) + IPPROTO_UDP +
			      (uint32_t)(u.size() - l4);
		put16(&u[l4 + 6], fold(ps));
		EXPECT_FALSE(parse(u.data(), u.size()).ok);
		tun_vnet_hdr h = {};
		h.flags = TUN_VNET_F_NEEDS_CSUM;
		h.csum_start = (uint16_t)l4;
		h.csum_offset = 6;
		ASSERT_EQ(tun_gso_finish_csum(u.data(), u.size(), &h), 0);
		EXPECT_TRUE(parse(u.data(), u.size()).ok);
		EXPECT_TRUE(tun_l4_csum_ok(u.data(), u.size(), l4, src.v6, IPPROTO_UDP));
	}
}

} // namespace
