// The kill switch (platform/firewall.h) against the real kernel and nft,
// inside a private network namespace.
//
// deskw0 stands for the Wi-Fi uplink, desktun0 for the TUN (the kill switch
// knows interfaces by name only, so a veth does). Their peer ends carry a
// netdev ingress table of counters: that is the router side of the cable,
// and what it counts is what left the machine.
//
// Needs root. Like test_plat, the binary moves itself into new network and
// mount namespaces first (with a private tmpfs on /tmp and its own /sys).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "platform/firewall.h"
#include "platform/plat.h"
#include "platform/state.h"

#include "netns_test.h"

namespace {

using namespace netnstest;

const auto *const netns_env = ::testing::AddGlobalTestEnvironment(new NetnsEnv(true));

plat_ip ip(const char *s)
{
	plat_ip a;
	EXPECT_EQ(plat_ip_parse(&a, s), 0) << s;
	return a;
}

plat_prefix pfx(const char *s)
{
	plat_prefix p;
	EXPECT_EQ(plat_prefix_parse(&p, s), 0) << s;
	return p;
}

bool table_exists(const char *table)
{
	return sh("nft list table inet %s >/dev/null 2>&1", table) == 0;
}

// Packets a capture counter on the router side has seen.
long captured(const char *counter)
{
	std::string s = out(std::string("nft -j list counter netdev deskcap ") + counter);
	size_t at = s.find("\"packets\": ");
	return at == std::string::npos ? -1 : atol(s.c_str() + at + 11);
}

// Wait until a capture counter is positive (the peer's receive path may
// run a moment after the sender returns).
long wait_captured(const char *counter)
{
	for (int i = 0; i < 100; i++) {
		long n = captured(counter);
		if (n > 0)
			return n;
		usleep(10000);
	}
	return 0;
}

// A negative result needs the same grace before it means anything.
long settle_captured(const char *counter)
{
	usleep(200000);
	return captured(counter);
}

// One UDP datagram; returns 0 or the errno of sendto (a netfilter drop on
// the way out shows as EPERM).
int send_udp(const char *dst, uint16_t port, uint32_t mark = 0, uint16_t sport = 0,
	     const char *dev = nullptr)
{
	plat_ip a = ip(dst);
	sockaddr_storage ss = {};
	socklen_t len;
	int fd = socket(a.family, SOCK_DGRAM, 0);

	if (fd < 0)
		return errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return errno;
	if (dev && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev)) < 0)
		return errno;
	if (a.family == AF_INET) {
		auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a.addr, 4);
		len = sizeof(*s4);
		if (sport) {
			sockaddr_in b = {};
			b.sin_family = AF_INET;
			b.sin_port = htons(sport);
			if (bind(fd, reinterpret_cast<sockaddr *>(&b), sizeof(b)) < 0)
				return errno;
		}
	} else {
		auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a.addr, 16);
		len = sizeof(*s6);
	}
	int err = sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr *>(&ss), len) < 0 ? errno : 0;
	close(fd);
	return err;
}

const uint32_t kMark = 0x5a;
const char *const kState = "/tmp/desk-fw-state";

// The lab: Wi-Fi with IPv4 and IPv6 default routes (static neighbours, so
// nothing waits for ARP), a LAN subnet on the same cable, and a tunnel link.
class Killswitch : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(sh("ip link add deskw0 type veth peer name deskw0p && "
			     "ip link add desktun0 type veth peer name desktun0p && "
			     "for l in deskw0 deskw0p desktun0 desktun0p; do ip link set $l up; done"),
			  0);
		ASSERT_EQ(sh("ip addr add 192.0.2.1/24 dev deskw0 && "
			     "ip addr add 192.168.77.1/24 dev deskw0 && "
			     "ip -6 addr add 2001:db8:1::1/64 dev deskw0 nodad && "
			     "ip addr add 10.99.0.2/32 dev desktun0 && "
			     "M=$(cat /sys/class/net/deskw0p/address) && "
			     "ip neigh replace 192.0.2.254 lladdr $M dev deskw0 nud permanent && "
			     "ip neigh replace 192.168.77.7 lladdr $M dev deskw0 nud permanent && "
			     "ip -6 neigh replace 2001:db8:1::fe lladdr $M dev deskw0 nud permanent && "
			     "ip route add default via 192.0.2.254 dev deskw0 && "
			     "ip -6 route add default via 2001:db8:1::fe dev deskw0 && "
			     "ip route add 10.99.0.0/16 dev desktun0 && "
			     "ip neigh replace 10.99.0.5 lladdr $(cat /sys/class/net/desktun0p/address) "
			     "dev desktun0 nud permanent"),
			  0);
		ASSERT_EQ(sh("nft -f - <<'EOF'\n"
			     "table netdev deskcap {\n"
			     " counter outside {}\n counter outside6 {}\n counter gw {}\n"
			     " counter gw_tcp {}\n counter gw6 {}\n counter lan {}\n counter nd {}\n"
			     " counter echo6 {}\n counter dhcp {}\n counter tun {}\n"
			     " chain w { type filter hook ingress device deskw0p priority 0;\n"
			     "  ip daddr 203.0.113.0/24 counter name outside\n"
			     "  ip6 daddr 2001:db8:99::/48 counter name outside6\n"
			     "  ip daddr 198.51.100.0/24 udp dport 4500 counter name gw\n"
			     "  ip daddr 198.51.100.0/24 tcp dport 443 counter name gw_tcp\n"
			     "  ip6 daddr 2001:db8:2::/48 counter name gw6\n"
			     "  ip daddr 192.168.77.0/24 counter name lan\n"
			     "  icmpv6 type nd-neighbor-solicit counter name nd\n"
			     "  icmpv6 type echo-request counter name echo6\n"
			     "  udp dport 67 counter name dhcp\n"
			     " }\n"
			     " chain t { type filter hook ingress device desktun0p priority 0;\n"
			     "  meta protocol ip counter name tun\n"
			     " }\n"
			     "}\nEOF"),
			  0);
		ASSERT_EQ(plat_open(&p, kState, "fw"), 0);
	}
	void TearDown() override
	{
		plat_close(p);
		sh("nft delete table netdev deskcap 2>/dev/null; "
		   "nft list tables | grep -q vpnctl_ && nft flush ruleset; "
		   "ip link del deskw0 2>/dev/null; ip link del desktun0 2>/dev/null");
		sh("rm -rf %s", kState);
	}
	plat_killswitch_cfg cfg() const
	{
		plat_killswitch_cfg c = {};
		c.ngw = 2;
		c.gw[0] = ip("198.51.100.1");
		c.gw[1] = ip("2001:db8:2::1");
		c.fwmark = kMark;
		c.ntun = 1;
		strcpy(c.tun[0], "desktun0");
		c.nlan = 2;
		c.lan[0] = pfx("192.168.77.1/24");
		c.lan[1] = pfx("192.0.2.1/24"); // public space: never a LAN
		return c;
	}
	uint64_t dropped()
	{
		uint64_t pk = 0, by = 0;
		EXPECT_EQ(plat_killswitch_dropped("work", &pk, &by), 0);
		return pk;
	}
	plat *p = nullptr;
};

TEST_F(Killswitch, WithoutItEverythingLeaves)
{
	// The lab itself: without the kill switch, all of these reach the wire.
	EXPECT_EQ(send_udp("203.0.113.5", 53), 0);
	EXPECT_GT(wait_captured("outside"), 0);
	EXPECT_EQ(send_udp("192.168.77.7", 9), 0);
	EXPECT_GT(wait_captured("lan"), 0);
	EXPECT_EQ(send_udp("2001:db8:99::5", 53), 0);
	EXPECT_GT(wait_captured("outside6"), 0);
}

TEST_F(Killswitch, OnlyTheTunnelLeaves)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	EXPECT_TRUE(table_exists("vpnctl_work"));
	EXPECT_EQ(plat_pending(p), 1u);

	// Outside, any protocol, with or without our mark: dropped and counted.
	EXPECT_EQ(send_udp("203.0.113.5", 53), EPERM);
	EXPECT_EQ(send_udp("203.0.113.5", 4500, kMark), EPERM);
	EXPECT_EQ(send_udp("2001:db8:99::5", 53), EPERM);
	EXPECT_NE(sh("ping -c 1 -W 1 203.0.113.5 >/dev/null 2>&1"), 0);
	EXPECT_EQ(settle_captured("outside"), 0);
	EXPECT_EQ(captured("outside6"), 0);
	EXPECT_EQ(dropped(), 4u);

	// The gateway on the IKE ports, only from our marked sockets.
	EXPECT_EQ(send_udp("198.51.100.1", 4500, kMark), 0);
	EXPECT_EQ(wait_captured("gw"), 1);
	EXPECT_EQ(send_udp("198.51.100.1", 4500), EPERM);         // unmarked
	EXPECT_EQ(send_udp("198.51.100.1", 4500, 0x77), EPERM);   // someone else's mark
	EXPECT_EQ(send_udp("198.51.100.1", 53, kMark), EPERM);    // another port
	EXPECT_EQ(send_udp("198.51.100.2", 4500, kMark), EPERM);  // another host
	EXPECT_EQ(send_udp("2001:db8:2::1", 500, kMark), 0);
	EXPECT_EQ(wait_captured("gw6"), 1);
	EXPECT_EQ(settle_captured("gw"), 1);
	EXPECT_EQ(dropped(), 8u);

	// The tunnel link takes anything.
	EXPECT_EQ(send_udp("10.99.0.5", 53), 0);
	EXPECT_EQ(wait_captured("tun"), 1);

	// LAN not allowed: dropped like the rest.
	EXPECT_EQ(send_udp("192.168.77.7", 9), EPERM);
	EXPECT_EQ(settle_captured("lan"), 0);

	// DHCP from the client port leaves; port 67 from elsewhere does not.
	EXPECT_EQ(send_udp("255.255.255.255", 67, 0, 68, "deskw0"), 0);
	EXPECT_EQ(wait_captured("dhcp"), 1);
	EXPECT_EQ(send_udp("255.255.255.255", 67, 0, 6800, "deskw0"), EPERM);
	EXPECT_EQ(settle_captured("dhcp"), 1);
	// A broadcast passes postrouting twice (the copy looped back to local
	// listeners too), and both are dropped.
	EXPECT_EQ(dropped(), 11u);

	// Loopback is untouched.
	EXPECT_EQ(send_udp("127.0.0.1", 9), 0);
	EXPECT_EQ(dropped(), 11u);
}

TEST_F(Killswitch, NeighbourDiscoveryStillWorks)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	// An on-link IPv6 address: the kernel must solicit its neighbour for
	// anything to work on the link, and that solicitation may leave.
	// (A solicitation can be late while the link's own addresses settle:
	// give it three tries.)
	long nd = 0;
	for (int i = 0; i < 3 && nd <= 0; i++) {
		sh("ping -6 -c 1 -W 1 2001:db8:1::77 >/dev/null 2>&1");
		nd = wait_captured("nd");
	}
	EXPECT_GT(nd, 0);
	// The echo to the internet behind it may not.
	EXPECT_NE(sh("ping -6 -c 1 -W 1 2001:db8:99::5 >/dev/null 2>&1"), 0);
	EXPECT_EQ(settle_captured("echo6"), 0);
}

TEST_F(Killswitch, LanOnlyWhenAllowedAndOnlyPrivate)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	c.allow_lan = 1;
	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	EXPECT_EQ(send_udp("192.168.77.7", 9), 0);
	EXPECT_EQ(wait_captured("lan"), 1);
	// 192.0.2.0/24 is the uplink's subnet too, but public space: a hostile
	// network's netmask must not open a hole to the internet.
	EXPECT_EQ(send_udp("192.0.2.254", 9), EPERM);
	c.nlan = 1;
	c.lan[0] = pfx("0.0.0.0/0");
	ASSERT_EQ(plat_killswitch_update("work", &c), 0);
	EXPECT_EQ(send_udp("203.0.113.5", 9), EPERM);
	EXPECT_EQ(settle_captured("outside"), 0);
	// Overlapping prefixes are merged, not refused by the interval set.
	c.nlan = 3;
	c.lan[0] = pfx("192.168.77.0/24");
	c.lan[1] = pfx("192.168.0.0/16");
	c.lan[2] = pfx("fe80::1/64");
	ASSERT_EQ(plat_killswitch_update("work", &c), 0);
	EXPECT_EQ(send_udp("192.168.77.7", 9), 0);
	EXPECT_EQ(wait_captured("lan"), 2);
	std::string set = out("nft list set inet vpnctl_work lan4");
	EXPECT_TRUE(contains(set, "192.168.0.0/16")) << set;
	EXPECT_FALSE(contains(set, "192.168.77.0/24")) << set;

	// allow_lan off again: the LAN is gone with it.
	c.allow_lan = 0;
	ASSERT_EQ(plat_killswitch_update("work", &c), 0);
	EXPECT_EQ(send_udp("192.168.77.7", 9), EPERM);
	EXPECT_EQ(settle_captured("lan"), 2);
}

TEST_F(Killswitch, TcpEncapsulationPort)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	auto syn = [](uint32_t mark) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
		sockaddr_in a = {};
		a.sin_family = AF_INET;
		a.sin_port = htons(443);
		inet_pton(AF_INET, "198.51.100.1", &a.sin_addr);
		int r = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
		int err = r < 0 ? errno : 0;
		close(fd);
		return err;
	};
	// TCP's connect() reports no drop (the SYN would be retransmitted);
	// the wire tells.
	syn(kMark); // no TCP port allowed yet
	EXPECT_EQ(settle_captured("gw_tcp"), 0);
	c.ntcp = 1;
	c.tcp_ports[0] = 443;
	ASSERT_EQ(plat_killswitch_update("work", &c), 0);
	EXPECT_EQ(syn(kMark), EINPROGRESS);
	EXPECT_GE(wait_captured("gw_tcp"), 1);
	long before = captured("gw_tcp");
	syn(0); // unmarked
	EXPECT_EQ(settle_captured("gw_tcp"), before);
}

// The test: a full tunnel whose TUN disappears mid-session. The
// routes through it vanish with it, traffic falls back to the Wi-Fi's
// default route, and the kill switch keeps it from leaving.
TEST_F(Killswitch, PingDoesNotLeaveWhenTheTunnelGoesDown)
{
	plat_killswitch_cfg c = cfg();
	plat_rule rules[2];
	uint64_t id;

	ASSERT_EQ(plat_tunnel_rules(AF_INET, 5353, kMark, 20000, 1, rules), 2);
	for (auto &r : rules)
		ASSERT_EQ(plat_rule_add(p, &r, &id), 0);
	plat_route def = {};
	def.dst = pfx("0.0.0.0/0");
	def.oif = (int)if_nametoindex("desktun0");
	def.gw = ip("10.99.0.5");
	def.table = 5353;
	ASSERT_EQ(sh("ip route del 10.99.0.0/16 dev desktun0 && "
		     "ip route add 10.99.0.5/32 dev desktun0"), 0);
	ASSERT_EQ(plat_route_add(p, &def, &id), 0);
	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);

	// Up: the ping goes into the tunnel.
	sh("ping -c 1 -W 1 203.0.113.5 >/dev/null 2>&1");
	EXPECT_EQ(wait_captured("tun"), 1);
	// Down mid-session: nothing reaches the Wi-Fi's router.
	ASSERT_EQ(sh("ip link del desktun0"), 0);
	EXPECT_NE(sh("ping -c 3 -i 0.2 -W 1 203.0.113.5 >/dev/null 2>&1"), 0);
	EXPECT_EQ(settle_captured("outside"), 0);
	EXPECT_GE(dropped(), 3u);
	// While the IKE traffic to the gateway still goes out to reconnect.
	EXPECT_EQ(send_udp("198.51.100.1", 4500, kMark), 0);
	EXPECT_EQ(wait_captured("gw"), 1);
	ASSERT_EQ(plat_undo_all(p), 0);
	EXPECT_FALSE(table_exists("vpnctl_work"));
	// Without the kill switch the same ping leaves: the test above proves
	// something.
	sh("ping -c 1 -W 1 203.0.113.5 >/dev/null 2>&1");
	EXPECT_GE(wait_captured("outside"), 1);
}

// Gateway swaps while a sender hammers the internet: never a packet out.
TEST_F(Killswitch, UpdateSwapsGatewaysWithoutAWindow)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < 20000; i++)
			send_udp("203.0.113.5", 53);
		_exit(0);
	}
	for (int i = 0; i < 10; i++) {
		c.gw[0] = ip(i % 2 ? "198.51.100.1" : "198.51.100.2");
		ASSERT_EQ(plat_killswitch_update("work", &c), 0);
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	EXPECT_EQ(settle_captured("outside"), 0);
	EXPECT_GE(dropped(), 20000u);
	// The last set holds .1 alone.
	EXPECT_EQ(send_udp("198.51.100.2", 4500, kMark), EPERM);
	EXPECT_EQ(send_udp("198.51.100.1", 4500, kMark), 0);
	EXPECT_EQ(wait_captured("gw"), 1);
	// A refused update leaves the previous sets in place.
	c.ntun = 1;
	strcpy(c.tun[0], "bad\"name");
	EXPECT_EQ(plat_killswitch_update("work", &c), -EINVAL);
	EXPECT_EQ(send_udp("10.99.0.5", 53), 0);
	EXPECT_EQ(wait_captured("tun"), 1);
}

TEST_F(Killswitch, OffAndAlreadyGone)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	// On twice: one table, one record.
	uint64_t id2;
	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id2), 0);
	EXPECT_EQ(id2, id);
	EXPECT_EQ(plat_pending(p), 1u);
	ASSERT_EQ(plat_killswitch_off(p, "work"), 0);
	EXPECT_FALSE(table_exists("vpnctl_work"));
	EXPECT_EQ(plat_pending(p), 0u);
	EXPECT_EQ(plat_killswitch_off(p, "work"), -ENOENT);
	EXPECT_EQ(plat_killswitch_update("work", &c), -ENOENT);
	EXPECT_EQ(send_udp("203.0.113.5", 53), 0);

	// Someone deleted our table: undoing it is still fine.
	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	ASSERT_EQ(sh("nft delete table inet vpnctl_work"), 0);
	EXPECT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Killswitch, ReplacesALeftoverTableAndLeavesOthersAlone)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	ASSERT_EQ(sh("nft -f - <<'EOF'\n"
		     "table inet vpnctl_work {\n chain stale {\n"
		     "  type filter hook output priority 0; policy accept;\n"
		     "  ip daddr 192.0.2.99 accept\n }\n}\n"
		     "table inet vpnctl_other {\n chain c {\n"
		     "  type filter hook output priority 0;\n }\n}\nEOF"),
		  0);
	ASSERT_EQ(plat_killswitch_on(p, "work", &c, &id), 0);
	std::string s = out("nft list table inet vpnctl_work");
	EXPECT_FALSE(contains(s, "stale")) << s;
	EXPECT_TRUE(contains(s, "chain postrouting")) << s;
	ASSERT_EQ(plat_undo_all(p), 0);
	EXPECT_TRUE(table_exists("vpnctl_other"));
	EXPECT_FALSE(table_exists("vpnctl_work"));
}

TEST_F(Killswitch, CrashThenCleanupRemovesTheTable)
{
	const char *dir = "/tmp/desk-fw-crash";
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		plat *cp;
		plat_killswitch_cfg c = cfg();
		uint64_t id;

		if (plat_open(&cp, dir, "crash") || plat_killswitch_on(cp, "my.vpn-1", &c, &id))
			_exit(1);
		_exit(0); // dies with the table up and the journal unclosed
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EXPECT_TRUE(table_exists("vpnctl_my.vpn-1"));
	EXPECT_EQ(send_udp("203.0.113.5", 53), EPERM);
	EXPECT_EQ(plat_state_pending(dir), 1);
	ASSERT_EQ(plat_state_cleanup(dir), 0);
	EXPECT_FALSE(table_exists("vpnctl_my.vpn-1"));
	EXPECT_EQ(plat_state_pending(dir), 0);
	EXPECT_EQ(send_udp("203.0.113.5", 53), 0);
}

TEST_F(Killswitch, RefusesBadInput)
{
	plat_killswitch_cfg c = cfg();
	uint64_t id;

	EXPECT_EQ(plat_killswitch_on(p, "", &c, &id), -EINVAL);
	EXPECT_EQ(plat_killswitch_on(p, "a b", &c, &id), -EINVAL);
	EXPECT_EQ(plat_killswitch_on(p, "x;flush ruleset", &c, &id), -EINVAL);
	EXPECT_EQ(plat_killswitch_on(p, std::string(65, 'a').c_str(), &c, &id), -EINVAL);
	c.gw[0].family = 0;
	EXPECT_EQ(plat_killswitch_on(p, "work", &c, &id), -EINVAL);
	c = cfg();
	strcpy(c.tun[0], "tun\" accept");
	EXPECT_EQ(plat_killswitch_on(p, "work", &c, &id), -EINVAL);
	c = cfg();
	c.nudp = 1;
	c.udp_ports[0] = 0;
	EXPECT_EQ(plat_killswitch_on(p, "work", &c, &id), -EINVAL);
	c = cfg();
	c.ngw = PLAT_KS_MAX_GW + 1;
	EXPECT_EQ(plat_killswitch_on(p, "work", &c, &id), -EINVAL);
	c = cfg();
	c.lan[0].plen = 33;
	EXPECT_EQ(plat_killswitch_on(p, "work", &c, &id), -EINVAL);
	EXPECT_EQ(plat_pending(p), 0u);
	EXPECT_FALSE(table_exists("vpnctl_work"));

	// A journal record naming a table that is not ours is never acted on.
	ASSERT_EQ(sh("nft 'table inet firewalld { }'"), 0);
	ASSERT_EQ(sh("mkdir -p /tmp/desk-fw-bad && printf '%%s\\n' "
		     "'{\"v\":1,\"id\":1,\"boot\":\"'$(cat /proc/sys/kernel/random/boot_id)'\","
		     "\"kind\":\"nft-table\",\"family\":\"inet\",\"table\":\"firewalld\"}' "
		     "> /tmp/desk-fw-bad/b.journal"), 0);
	EXPECT_EQ(plat_state_cleanup("/tmp/desk-fw-bad"), 0);
	EXPECT_TRUE(table_exists("firewalld"));
	EXPECT_EQ(plat_state_pending("/tmp/desk-fw-bad"), 0);
}

} // namespace
