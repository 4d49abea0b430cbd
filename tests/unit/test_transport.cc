// UDP paths on loopback: port 500 vs 4500, non-ESP marker, keepalives, the
// demultiplexer, batching (recvmmsg, sendmmsg, GSO/GRO), swapping paths
// under live SAs, and errors from the network.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <uv.h>
#include <vector>

#include "client/crypto/crypto.h"
#include "client/esp/esp.h"
#include "client/esp/pkt.h"
#include "client/transport/transport.h"
#include "client/util/cursor.h"

namespace {

using Bytes = std::vector<uint8_t>;

sockaddr_storage addr(int family, uint16_t port)
{
	sockaddr_storage ss = {};
	if (family == AF_INET6) {
		auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
	} else {
		auto *a = reinterpret_cast<sockaddr_in *>(&ss);
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
	}
	return ss;
}

uint16_t port_of(const sockaddr_storage &ss)
{
	return ntohs(ss.ss_family == AF_INET6
			     ? reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_port
			     : reinterpret_cast<const sockaddr_in *>(&ss)->sin_port);
}

socklen_t len_of(const sockaddr_storage &ss)
{
	return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// A stand-in gateway: a plain unconnected UDP socket on loopback.
struct Gw {
	int fd = -1;
	uint16_t port = 0;
	int family;

	explicit Gw(int fam = AF_INET) : family(fam)
	{
		fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sockaddr_storage ss = addr(fam, 0);
		EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&ss), len_of(ss)), 0);
		socklen_t l = sizeof(ss);
		getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &l);
		port = port_of(ss);
		int big = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	~Gw() { close(fd); }

	// Everything queued, waiting up to `ms` for the first datagram.
	std::vector<Bytes> recv_all(int ms = 500, sockaddr_storage *from = nullptr)
	{
		std::vector<Bytes> out;
		pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, ms) <= 0)
			return out;
		for (;;) {
			uint8_t buf[65536];
			sockaddr_storage ss;
			socklen_t l = sizeof(ss);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
					     reinterpret_cast<sockaddr *>(&ss), &l);
			if (n < 0)
				break;
			if (from)
				*from = ss;
			out.emplace_back(buf, buf + n);
		}
		return out;
	}

	void send_to(const sockaddr_storage &to, const Bytes &b)
	{
		ASSERT_EQ(sendto(fd, b.data(), b.size(), 0,
				 reinterpret_cast<const sockaddr *>(&to), len_of(to)),
			  (ssize_t)b.size());
	}
};

Bytes ike_msg(size_t len, uint8_t tag)
{
	Bytes m(len);
	for (size_t i = 0; i < len; i++)
		m[i] = (uint8_t)(tag + i);
	m[0] = 0x11; // initiator SPI never zero: no accidental marker
	return m;
}

Bytes esp_like(uint32_t spi, uint32_t seq, size_t len)
{
	Bytes m(len, 0xab);
	put_be32(m.data(), spi);
	put_be32(m.data() + 4, seq);
	return m;
}

struct Received {
	std::vector<Bytes> ike, esp;
	std::vector<size_t> esp_batches;
	std::vector<std::pair<int, uint32_t>> errors;
	std::function<void(tp_path *)> on_ike;
};

void cb_ike(tp_path *p, uint8_t *msg, size_t len, void *arg)
{
	auto *r = static_cast<Received *>(arg);
	r->ike.emplace_back(msg, msg + len);
	if (r->on_ike)
		r->on_ike(p);
}

void cb_esp(tp_path *, pkt *pkts, size_t n, void *arg)
{
	auto *r = static_cast<Received *>(arg);
	r->esp_batches.push_back(n);
	for (size_t i = 0; i < n; i++)
		r->esp.emplace_back(pkts[i].data, pkts[i].data + pkts[i].len);
}

void cb_err(tp_path *, int err, uint32_t info, void *arg)
{
	static_cast<Received *>(arg)->errors.emplace_back(err, info);
}

class Transport : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(uv_loop_init(&loop), 0);
		ASSERT_EQ(pkt_pool_new(256, PKT_BUF_SIZE, &pool), 0);
		cb.ike = cb_ike;
		cb.esp = cb_esp;
		cb.error = cb_err;
		cb.arg = &rx;
	}
	void TearDown() override
	{
		for (tp_path *p : open_paths)
			tp_path_close(p);
		uv_run(&loop, UV_RUN_DEFAULT); // lets the close callbacks free
		EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle outlived its path";
		pkt_pool_free(pool);
	}

	tp_path_cfg cfg_for(const Gw &ike, const Gw &natt, bool start_natt = false)
	{
		tp_path_cfg c = {};
		c.kind = TP_UDP;
		c.remote = addr(ike.family, 0);
		c.remote_ike_port = ike.port;
		c.remote_natt_port = natt.port;
		c.natt = start_natt;
		c.keepalive_ms = TP_KEEPALIVE_OFF;
		return c;
	}

	tp_path *open(const tp_path_cfg &c, Received *r = nullptr)
	{
		tp_callbacks k = cb;
		if (r)
			k.arg = r;
		tp_path *p = nullptr;
		EXPECT_EQ(tp_path_open(&loop, &c, &k, &p), 0);
		if (p)
			open_paths.push_back(p);
		return p;
	}

	void forget(tp_path *p)
	{
		for (auto it = open_paths.begin(); it != open_paths.end(); ++it)
			if (*it == p) {
				open_paths.erase(it);
				return;
			}
	}

	// Run the loop until pred() holds or ms pass.
	bool run_until(const std::function<bool()> &pred, int ms = 2000)
	{
		auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
		while (std::chrono::steady_clock::now() < end) {
			uv_run(&loop, UV_RUN_NOWAIT);
			if (pred())
				return true;
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		}
		return pred();
	}

	void run_for(int ms)
	{
		run_until([] { return false; }, ms);
	}

	std::vector<pkt *> pkts_of(const std::vector<Bytes> &msgs)
	{
		std::vector<pkt *> v;
		for (const Bytes &b : msgs) {
			pkt *p = pkt_get(pool);
			memcpy(pkt_append(p, b.size()), b.data(), b.size());
			v.push_back(p);
		}
		return v;
	}

	void put_all(std::vector<pkt *> &v)
	{
		for (pkt *p : v)
			pkt_put(pool, p);
		v.clear();
	}

	uv_loop_t loop;
	pkt_pool *pool = nullptr;
	tp_callbacks cb = {};
	Received rx;
	std::vector<tp_path *> open_paths;
};

// ---- demux -------------------------------------------------------------------

TEST(TransportDemux, ClassifiesPerRfc3948)
{
	size_t skip = 99;
	Bytes ike = ike_msg(40, 1);
	EXPECT_EQ(tp_demux_udp(ike.data(), ike.size(), false, &skip), TP_RX_IKE);
	EXPECT_EQ(skip, 0u);
	Bytes zeros(40, 0);
	EXPECT_EQ(tp_demux_udp(zeros.data(), zeros.size(), false, &skip), TP_RX_IKE)
		<< "port 500 has no marker: whatever comes is IKE";
	EXPECT_EQ(tp_demux_udp(ike.data(), 27, false, &skip), TP_RX_MALFORMED);

	uint8_t ka = 0xff, other = 0x00;
	EXPECT_EQ(tp_demux_udp(&ka, 1, true, &skip), TP_RX_KEEPALIVE);
	EXPECT_EQ(tp_demux_udp(&ka, 1, false, &skip), TP_RX_MALFORMED);
	EXPECT_EQ(tp_demux_udp(&other, 1, true, &skip), TP_RX_MALFORMED);
	EXPECT_EQ(tp_demux_udp(zeros.data(), 0, true, &skip), TP_RX_MALFORMED);
	EXPECT_EQ(tp_demux_udp(zeros.data(), 3, true, &skip), TP_RX_MALFORMED);
	EXPECT_EQ(tp_demux_udp(zeros.data(), 4 + 28, true, &skip), TP_RX_IKE);
	EXPECT_EQ(skip, 4u);
	EXPECT_EQ(tp_demux_udp(zeros.data(), 4 + 27, true, &skip), TP_RX_MALFORMED);

	Bytes esp = esp_like(0x12345678, 1, 60);
	EXPECT_EQ(tp_demux_udp(esp.data(), esp.size(), true, &skip), TP_RX_ESP);
	EXPECT_EQ(tp_demux_udp(esp.data(), 8, true, &skip), TP_RX_ESP);
	EXPECT_EQ(tp_demux_udp(esp.data(), 7, true, &skip), TP_RX_MALFORMED);
	Bytes reserved = esp_like(255, 1, 60);
	EXPECT_EQ(tp_demux_udp(reserved.data(), reserved.size(), true, &skip), TP_RX_MALFORMED);
}

// ---- ports and markers --------------------------------------------------------

TEST_F(Transport, IkeGoesToPort500WithoutMarkerThenFloatsTo4500WithIt)
{
	Gw g500, g4500;
	tp_path *p = open(cfg_for(g500, g4500));
	ASSERT_NE(p, nullptr);
	EXPECT_EQ(p->state, TP_PATH_IKE);
	EXPECT_EQ(port_of(p->remote), g500.port);
	uint16_t port_before = port_of(p->local);

	Bytes m1 = ike_msg(100, 1);
	ASSERT_EQ(tp_send_ike(p, m1.data(), m1.size()), 0);
	sockaddr_storage from;
	auto got = g500.recv_all(500, &from);
	ASSERT_EQ(got.size(), 1u);
	EXPECT_EQ(got[0], m1) << "no marker towards port 500";
	EXPECT_EQ(port_of(from), port_before);

	// The reply on 500 reaches the IKE callback untouched, even one that
	// starts with zeros (no marker is stripped on port 500).
	Bytes zero_start(40, 0);
	g500.send_to(from, m1);
	g500.send_to(from, zero_start);
	ASSERT_TRUE(run_until([&] { return rx.ike.size() == 2; }));
	EXPECT_EQ(rx.ike[0], m1);
	EXPECT_EQ(rx.ike[1], zero_start);

	// No ESP before NAT-T.
	std::vector<pkt *> e = pkts_of({esp_like(0x1000, 1, 80)});
	EXPECT_EQ(tp_send_esp(p, e.data(), 1), -ENOTCONN);

	ASSERT_EQ(tp_path_float(p), 0);
	EXPECT_EQ(tp_path_float(p), -EALREADY);
	EXPECT_EQ(p->state, TP_PATH_NATT);
	EXPECT_EQ(port_of(p->remote), g4500.port);

	Bytes m2 = ike_msg(200, 2);
	ASSERT_EQ(tp_send_ike(p, m2.data(), m2.size()), 0);
	got = g4500.recv_all(500, &from);
	ASSERT_EQ(got.size(), 1u);
	Bytes want(4, 0);
	want.insert(want.end(), m2.begin(), m2.end());
	EXPECT_EQ(got[0], want) << "non-ESP marker towards port 4500";
	EXPECT_EQ(port_of(from), port_of(p->local));

	ASSERT_EQ(tp_send_esp(p, e.data(), 1), 1);
	got = g4500.recv_all();
	ASSERT_EQ(got.size(), 1u);
	EXPECT_EQ(got[0], esp_like(0x1000, 1, 80)) << "ESP goes without marker";
	put_all(e);

	// From 4500: marker stripped, keepalive swallowed, ESP to its callback,
	// garbage counted.
	rx.ike.clear();
	uint64_t dgrams = p->stats.rx_datagrams;
	g4500.send_to(from, want);
	g4500.send_to(from, Bytes{0xff});
	g4500.send_to(from, esp_like(0x2000, 7, 90));
	g4500.send_to(from, Bytes{0x01, 0x02});
	g4500.send_to(from, esp_like(7, 1, 90));
	ASSERT_TRUE(run_until([&] { return p->stats.rx_datagrams == dgrams + 5; }));
	ASSERT_EQ(rx.ike.size(), 1u);
	EXPECT_EQ(rx.ike[0], m2);
	ASSERT_EQ(rx.esp.size(), 1u);
	EXPECT_EQ(rx.esp[0], esp_like(0x2000, 7, 90));
	EXPECT_EQ(p->stats.rx_keepalive, 1u);
	EXPECT_EQ(p->stats.rx_malformed, 2u);

	// The port-500 socket is gone after the float.
	g500.send_to(addr(AF_INET, port_before), m1);
	run_for(50);
	EXPECT_EQ(rx.ike.size(), 1u);
}

TEST_F(Transport, Ipv6PathWorksTheSame)
{
	Gw g500(AF_INET6), g4500(AF_INET6);
	tp_path *p = open(cfg_for(g500, g4500, true));
	ASSERT_NE(p, nullptr);
	EXPECT_EQ(p->local.ss_family, AF_INET6);
	Bytes m = ike_msg(64, 3);
	ASSERT_EQ(tp_send_ike(p, m.data(), m.size()), 0);
	sockaddr_storage from;
	auto got = g4500.recv_all(500, &from);
	ASSERT_EQ(got.size(), 1u);
	EXPECT_EQ(got[0].size(), m.size() + 4);
	g4500.send_to(from, esp_like(0x3000, 1, 100));
	ASSERT_TRUE(run_until([&] { return rx.esp.size() == 1; }));
}

// ---- batching ----------------------------------------------------------------

TEST_F(Transport, ReceivesBatchesWithFewRecvmmsgCalls)
{
	Gw g500, g4500;
	tp_path_cfg c = cfg_for(g500, g4500, true);
	c.no_gro = true; // plain datagrams: this is about recvmmsg
	tp_path *p = open(c);
	ASSERT_NE(p, nullptr);
	sockaddr_storage to = p->local;

	std::vector<Bytes> sent;
	std::vector<mmsghdr> msgs(64);
	std::vector<iovec> iov(64);
	for (uint32_t i = 0; i < 64; i++)
		sent.push_back(esp_like(0x4000, i + 1, 1400));
	for (size_t i = 0; i < 64; i++) {
		iov[i] = {sent[i].data(), sent[i].size()};
		msgs[i] = {};
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = len_of(to);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	ASSERT_EQ(sendmmsg(g4500.fd, msgs.data(), 64, 0), 64);
	ASSERT_TRUE(run_until([&] { return rx.esp.size() == 64; }));
	EXPECT_EQ(rx.esp, sent) << "all of them, in order";
	// 64 datagrams, 32 slots: two calls when they were all queued, a few
	// more if the loop woke up while they were still arriving.
	EXPECT_GE(p->stats.rx_calls, 2u);
	EXPECT_LE(p->stats.rx_calls, 8u);
	EXPECT_EQ(rx.esp_batches.size(), p->stats.rx_calls) << "one callback per recvmmsg";
}

TEST_F(Transport, SendsEspBatchesWithOneSyscallAndGsoWhenAvailable)
{
	for (bool no_gso : {false, true}) {
		SCOPED_TRACE(no_gso ? "plain sendmmsg" : "GSO if available");
		Gw g500, g4500;
		tp_path_cfg c = cfg_for(g500, g4500, true);
		c.no_gso = no_gso;
		tp_path *p = open(c);
		ASSERT_NE(p, nullptr);
		if (no_gso) {
			EXPECT_FALSE(p->gso);
		}

		// 30 full-size packets, a short one, 30 full-size again, and 3
		// of another size: GSO runs must break exactly there.
		std::vector<Bytes> want;
		for (uint32_t i = 0; i < 64; i++) {
			size_t len = i == 30 ? 600 : i >= 61 ? 1000 : 1400;
			want.push_back(esp_like(0x5000, i + 1, len));
		}
		std::vector<pkt *> v = pkts_of(want);
		uint64_t calls = p->stats.tx_calls;
		ASSERT_EQ(tp_send_esp(p, v.data(), v.size()), 64);
		EXPECT_EQ(p->stats.tx_calls - calls, 1u) << "one sendmmsg for the batch";
		if (p->gso) {
			EXPECT_GE(p->stats.tx_gso_msgs, 2u);
		} else {
			EXPECT_EQ(p->stats.tx_gso_msgs, 0u);
		}
		put_all(v);

		std::vector<Bytes> got;
		for (int tries = 0; tries < 10 && got.size() < 64; tries++) {
			auto more = g4500.recv_all(200);
			got.insert(got.end(), more.begin(), more.end());
		}
		EXPECT_EQ(got, want) << "segmented back into the same datagrams, in order";
		tp_path_close(p);
		forget(p);
	}
}

TEST_F(Transport, GsoSendToGroReceiveBetweenTwoPaths)
{
	// Two ports that are free right now, so each path can name the other.
	uint16_t pa, pb;
	{
		Gw a, b;
		pa = a.port;
		pb = b.port;
	}
	tp_path_cfg ca = {}, cb2 = {};
	ca.kind = cb2.kind = TP_UDP;
	ca.remote = cb2.remote = addr(AF_INET, 0);
	ca.natt = cb2.natt = true;
	ca.keepalive_ms = cb2.keepalive_ms = TP_KEEPALIVE_OFF;
	ca.local_natt_port = pa;
	ca.remote_natt_port = pb;
	cb2.local_natt_port = pb;
	cb2.remote_natt_port = pa;
	Received rb;
	tp_path *a = open(ca);
	tp_path *b = open(cb2, &rb);
	ASSERT_TRUE(a && b);

	std::vector<Bytes> want;
	for (uint32_t i = 0; i < 64; i++)
		want.push_back(esp_like(0x6000, i + 1, 1400));
	std::vector<pkt *> v = pkts_of(want);
	ASSERT_EQ(tp_send_esp(a, v.data(), v.size()), 64);
	put_all(v);
	ASSERT_TRUE(run_until([&] { return rb.esp.size() == 64; }));
	EXPECT_EQ(rb.esp, want);
	if (a->gso && b->gro) {
		// GSO over loopback stays one skb per message up to the GRO
		// socket: 64 packets in one or two recvmmsg calls.
		EXPECT_LE(b->stats.rx_calls, 2u);
	}
	RecordProperty("gso", a->gso);
	RecordProperty("gro", b->gro);
}

// ---- keepalives --------------------------------------------------------------

TEST_F(Transport, NatKeepalivesOnlyWhenIdle)
{
	Gw g500, g4500;
	tp_path_cfg c = cfg_for(g500, g4500, true);
	c.keepalive_ms = 40;
	tp_path *p = open(c);
	ASSERT_NE(p, nullptr);
	run_for(300);
	auto got = g4500.recv_all(100);
	ASSERT_GE(got.size(), 2u);
	for (const Bytes &b : got)
		EXPECT_EQ(b, Bytes{0xff});
	EXPECT_EQ(p->stats.tx_keepalive, got.size());

	// Busy path: traffic every 5 ms keeps the mapping alive by itself.
	ASSERT_EQ(tp_path_set_keepalive(p, 200), 0);
	uint64_t before = p->stats.tx_keepalive;
	Bytes m = ike_msg(40, 9);
	for (int i = 0; i < 60; i++) {
		ASSERT_EQ(tp_send_ike(p, m.data(), m.size()), 0);
		run_for(5);
	}
	EXPECT_EQ(p->stats.tx_keepalive, before);
	ASSERT_EQ(tp_path_set_keepalive(p, TP_KEEPALIVE_OFF), 0);
	g4500.recv_all(50);
	run_for(250);
	EXPECT_EQ(p->stats.tx_keepalive, before);
	EXPECT_TRUE(g4500.recv_all(50).empty());
}

TEST_F(Transport, NoKeepalivesOnTheIkePort)
{
	Gw g500, g4500;
	tp_path_cfg c = cfg_for(g500, g4500, false);
	c.keepalive_ms = 20;
	tp_path *p = open(c);
	ASSERT_NE(p, nullptr);
	run_for(100);
	EXPECT_EQ(p->stats.tx_keepalive, 0u);
	EXPECT_TRUE(g500.recv_all(20).empty());
}

// ---- paths come and go, SAs stay -------------------------------------------------

TEST_F(Transport, SwappingPathsUnderLiveSas)
{
	ASSERT_EQ(crypto_init(), 0);
	uint8_t key[20];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	esp_sa_cfg sc = {};
	sc.encr = CRYPTO_ENCR_AES_GCM_16;
	sc.key_bits = 128;
	sc.keymat = key;
	sc.keymat_len = sizeof(key);
	sc.spi = 0xabcd0001;
	sc.dir = ESP_DIR_OUT;
	esp_sa *out = nullptr, *in = nullptr;
	ASSERT_EQ(esp_sa_new(&sc, &out), 0);
	sc.dir = ESP_DIR_IN;
	ASSERT_EQ(esp_sa_new(&sc, &in), 0);

	Gw g500, g4500;
	sockaddr_storage seen[2];
	for (int round = 0; round < 2; round++) {
		tp_path *p = open(cfg_for(g500, g4500, true));
		ASSERT_NE(p, nullptr);
		std::vector<pkt *> v;
		for (int i = 0; i < 3; i++) {
			pkt *k = pkt_get(pool);
			uint8_t *d = pkt_append(k, 60);
			memset(d, round, 60);
			d[0] = 0x45;
			ASSERT_EQ(esp_seal(out, k, ESP_NH_IPV4), 0);
			v.push_back(k);
		}
		ASSERT_EQ(tp_send_esp(p, v.data(), v.size()), 3);
		put_all(v);
		auto got = g4500.recv_all(500, &seen[round]);
		ASSERT_EQ(got.size(), 3u);
		for (Bytes &b : got) {
			pkt *k = pkt_get(pool);
			memcpy(pkt_append(k, b.size()), b.data(), b.size());
			uint8_t nh;
			ASSERT_EQ(esp_open(in, k, &nh), 0) << "same SA on path " << round;
			EXPECT_EQ(k->data[1], round);
			pkt_put(pool, k);
		}
		tp_path_close(p);
		forget(p);
	}
	EXPECT_NE(port_of(seen[0]), port_of(seen[1])) << "really a new socket";
	EXPECT_EQ(out->seq, 6u);
	EXPECT_EQ(in->replay.top, 6u);
	// Nothing reaches a closed path.
	g4500.send_to(seen[0], esp_like(0xabcd0001, 99, 64));
	run_for(50);
	EXPECT_TRUE(rx.esp.empty());
	esp_sa_free(out);
	esp_sa_free(in);
}

TEST_F(Transport, ClosingFromInsideACallbackStopsDelivery)
{
	Gw g500, g4500;
	tp_path *p = open(cfg_for(g500, g4500, true));
	ASSERT_NE(p, nullptr);
	rx.on_ike = [&](tp_path *path) {
		tp_path_close(path);
		forget(path);
	};
	Bytes marked(4, 0);
	Bytes m = ike_msg(40, 4);
	marked.insert(marked.end(), m.begin(), m.end());
	g4500.send_to(p->local, esp_like(0x7000, 1, 64));
	g4500.send_to(p->local, marked);
	g4500.send_to(p->local, esp_like(0x7000, 2, 64));
	g4500.send_to(p->local, marked);
	ASSERT_TRUE(run_until([&] { return !rx.ike.empty(); }));
	run_for(50);
	EXPECT_EQ(rx.ike.size(), 1u);
	ASSERT_EQ(rx.esp.size(), 1u) << "ESP before the IKE message came first; nothing after";
	EXPECT_EQ(get_be32(rx.esp[0].data() + 4), 1u);
}

// ---- errors ------------------------------------------------------------------

TEST_F(Transport, UnreachablePeerSurfacesAsPathError)
{
	uint16_t dead;
	{
		Gw g;
		dead = g.port; // closed when g goes out of scope
	}
	Gw g500;
	tp_path_cfg c = cfg_for(g500, g500, true);
	c.remote_natt_port = dead;
	tp_path *p = open(c);
	ASSERT_NE(p, nullptr);
	std::vector<pkt *> v = pkts_of({esp_like(0x8000, 1, 100)});
	ASSERT_EQ(tp_send_esp(p, v.data(), 1), 1) << "the first send cannot know yet";
	ASSERT_TRUE(run_until([&] { return !rx.errors.empty(); }));
	EXPECT_EQ(rx.errors[0].first, -ECONNREFUSED);
	EXPECT_GE(p->stats.errors, 1u);
	// The path keeps working (and reporting): a gateway that comes back is
	// reached on the same path.
	size_t before = rx.errors.size();
	int r = tp_send_esp(p, v.data(), 1);
	EXPECT_TRUE(r == 1 || r == -ECONNREFUSED) << r;
	ASSERT_TRUE(run_until([&] { return rx.errors.size() > before; }));
	put_all(v);

	// Same on the IKE port.
	tp_path_cfg c2 = cfg_for(g500, g500, false);
	c2.remote_ike_port = dead;
	Received r2;
	tp_path *q = open(c2, &r2);
	ASSERT_NE(q, nullptr);
	Bytes m = ike_msg(40, 5);
	ASSERT_EQ(tp_send_ike(q, m.data(), m.size()), 0);
	ASSERT_TRUE(run_until([&] { return !r2.errors.empty(); }));
	EXPECT_EQ(r2.errors[0].first, -ECONNREFUSED);
}

TEST_F(Transport, SocketOptionsAndRefusals)
{
	Gw g500, g4500;
	tp_path_cfg c = cfg_for(g500, g4500, true);
	c.fwmark = 0x2a;
	snprintf(c.ifname, sizeof(c.ifname), "lo");
	tp_path *p = nullptr;
	int r = tp_path_open(&loop, &c, &cb, &p);
	if (geteuid() == 0) {
		ASSERT_EQ(r, 0);
		open_paths.push_back(p);
		Bytes m = ike_msg(40, 6);
		ASSERT_EQ(tp_send_ike(p, m.data(), m.size()), 0);
		EXPECT_EQ(g4500.recv_all().size(), 1u) << "marked, device-bound socket still works";
	} else {
		EXPECT_EQ(r, -EPERM) << "SO_MARK needs CAP_NET_ADMIN";
	}

	tp_path_cfg bad = cfg_for(g500, g4500, true);
	snprintf(bad.ifname, sizeof(bad.ifname), "data-nosuch0");
	EXPECT_EQ(tp_path_open(&loop, &bad, &cb, &p), -ENODEV);
	bad = cfg_for(g500, g4500, true);
	bad.local = addr(AF_INET6, 0);
	EXPECT_EQ(tp_path_open(&loop, &bad, &cb, &p), -EINVAL) << "family mismatch";
	bad = cfg_for(g500, g4500, true);
	bad.kind = TP_TCP;
	EXPECT_EQ(tp_path_open(&loop, &bad, &cb, &p), -EPROTONOSUPPORT);
	bad = cfg_for(g500, g4500, true);
	bad.local = addr(AF_INET, 0);
	bad.local_natt_port = g4500.port; // taken
	EXPECT_EQ(tp_path_open(&loop, &bad, &cb, &p), -EADDRINUSE);

	// Bound to a local address and port on request.
	tp_path_cfg bound = cfg_for(g500, g4500, false);
	bound.local = addr(AF_INET, 0);
	uint16_t free_port;
	{
		Gw tmp;
		free_port = tmp.port;
	}
	bound.local_ike_port = free_port;
	tp_path *q = open(bound);
	ASSERT_NE(q, nullptr);
	EXPECT_EQ(port_of(q->local), free_port);
	Bytes m = ike_msg(28, 7);
	EXPECT_EQ(tp_send_ike(q, m.data(), 27), -EINVAL) << "shorter than an IKE header";
}

} // namespace
