// Platform: links, addresses, routes, rules, lookup, resolv.conf and the
// state journal, against the real kernel inside a private network namespace.
//
// Links are veth pairs (the test kernel has no dummy driver); the peer
// ends, "<name>p", are up and carry nothing.
//
// Needs root. The binary moves itself into new network and mount namespaces
// before any test runs (ctest runs each test in its own process, so each
// starts from an empty namespace), with a private tmpfs on /tmp: nothing
// here can touch the host's network or files.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "platform/plat.h"
#include "platform/state.h"
#include "tun/tun.h"

#include "netns_test.h"

namespace {

using namespace netnstest;

const auto *const netns_env = ::testing::AddGlobalTestEnvironment(new NetnsEnv(false));

std::string slurp(const std::string &path)
{
	std::ifstream f(path);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

void spit(const std::string &path, const std::string &s)
{
	std::ofstream f(path);
	f << s;
}

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

std::string str(const plat_ip &a)
{
	char buf[PLAT_PREFIX_STRLEN];
	return plat_ip_str(&a, buf, sizeof(buf));
}

int ifindex(const char *name)
{
	return (int)if_nametoindex(name);
}

const char *const kStateDir = "/tmp/plat-state";

// A fresh context on a fresh journal; closed (not undone) at the end.
class Plat : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(plat_open(&p, kStateDir, "test"), 0);
		ASSERT_EQ(sh("ip link add platd0 type veth peer name platd0p && ip link set platd0p up && ip link set platd0 up"), 0);
		ASSERT_EQ(sh("ip addr add 192.0.2.1/24 dev platd0"), 0);
		ASSERT_EQ(sh("ip -6 addr add 2001:db8:1::1/64 dev platd0 nodad"), 0);
		d0 = ifindex("platd0");
	}
	void TearDown() override
	{
		plat_close(p);
		sh("ip link del platd0 2>/dev/null");
	}
	plat *p = nullptr;
	int d0 = 0;
};

TEST(PlatAddr, ParseAndFormat)
{
	plat_prefix p;
	char buf[PLAT_PREFIX_STRLEN];

	ASSERT_EQ(plat_prefix_parse(&p, "10.0.0.0/8"), 0);
	EXPECT_EQ(p.ip.family, AF_INET);
	EXPECT_EQ(p.plen, 8);
	EXPECT_TRUE(plat_prefix_is_net(&p));
	EXPECT_STREQ(plat_prefix_str(&p, buf, sizeof(buf)), "10.0.0.0/8");

	ASSERT_EQ(plat_prefix_parse(&p, "10.0.0.2/24"), 0);
	EXPECT_FALSE(plat_prefix_is_net(&p));
	ASSERT_EQ(plat_prefix_parse(&p, "2001:db8::/32"), 0);
	EXPECT_EQ(p.ip.family, AF_INET6);
	EXPECT_TRUE(plat_prefix_is_net(&p));
	ASSERT_EQ(plat_prefix_parse(&p, "2001:db8::1"), 0);
	EXPECT_EQ(p.plen, 128);

	EXPECT_EQ(plat_prefix_parse(&p, "10.0.0.0/33"), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p, "10.0.0.0/"), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p, "10.0.0.0/-1"), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p, "10.0.0.0/8x"), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p, "2001:db8::/129"), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p, "host.example/8"), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p, ""), -EINVAL);
	EXPECT_EQ(plat_prefix_parse(&p,
				    "1111:2222:3333:4444:5555:6666:7777:8888:9999/64"),
		  -EINVAL);
}

TEST_F(Plat, LinkMtuUpDown)
{
	char name[IFNAMSIZ];
	unsigned mtu = 0, flags = 0;

	ASSERT_EQ(plat_link_set_mtu(p, d0, 1400), 0);
	ASSERT_EQ(plat_link_set_up(p, d0, 0), 0);
	ASSERT_EQ(plat_link_get(p, d0, name, &mtu, &flags), 0);
	EXPECT_STREQ(name, "platd0");
	EXPECT_EQ(mtu, 1400u);
	EXPECT_FALSE(flags & IFF_UP);
	ASSERT_EQ(plat_link_set_up(p, d0, 1), 0);
	ASSERT_EQ(plat_link_get(p, d0, nullptr, nullptr, &flags), 0);
	EXPECT_TRUE(flags & IFF_UP);
	EXPECT_TRUE(contains(out("ip link show platd0"), "mtu 1400"));
	EXPECT_EQ(plat_link_set_mtu(p, 99999, 1400), -ENODEV);
	EXPECT_EQ(plat_link_get(p, 99999, name, &mtu, &flags), -ENODEV);
	// Link settings are not journaled: they belong to links we own.
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Plat, AddressesAreJournaledAndUndone)
{
	uint64_t id4, id6, dup;
	plat_prefix a4 = pfx("10.66.0.2/24"), a6 = pfx("fd00:66::2/64");

	ASSERT_EQ(plat_addr_add(p, d0, &a4, &id4), 0);
	ASSERT_EQ(plat_addr_add(p, d0, &a6, &id6), 0);
	EXPECT_EQ(plat_pending(p), 2u);
	std::string s = out("ip addr show dev platd0");
	EXPECT_TRUE(contains(s, "inet 10.66.0.2/24"));
	EXPECT_TRUE(contains(s, "inet6 fd00:66::2/64"));
	EXPECT_FALSE(contains(out("ip -6 addr show dev platd0 tentative"), "fd00:66::2"));

	// Someone else's address (or our own twice) is refused, not recorded.
	plat_prefix theirs = pfx("192.0.2.1/24");
	EXPECT_EQ(plat_addr_add(p, d0, &theirs, &dup), -EEXIST);
	EXPECT_EQ(plat_addr_add(p, d0, &a4, &dup), -EEXIST);
	EXPECT_EQ(plat_pending(p), 2u);

	ASSERT_EQ(plat_undo(p, id4), 0);
	s = out("ip addr show dev platd0");
	EXPECT_FALSE(contains(s, "10.66.0.2"));
	EXPECT_TRUE(contains(s, "fd00:66::2"));
	EXPECT_TRUE(contains(s, "192.0.2.1/24"));
	EXPECT_EQ(plat_undo(p, id4), -ENOENT);
	ASSERT_EQ(plat_undo_all(p), 0);
	s = out("ip addr show dev platd0");
	EXPECT_FALSE(contains(s, "fd00:66::2"));
	EXPECT_TRUE(contains(s, "2001:db8:1::1/64"));
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Plat, AddressOnMissingLinkFails)
{
	plat_prefix a = pfx("10.66.0.2/24");
	uint64_t id;

	EXPECT_EQ(plat_addr_add(p, 99999, &a, &id), -ENODEV);
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Plat, RoutesAddLookupDelete)
{
	plat_route r = {};
	plat_route_info ri;
	uint64_t id4, id6, dup;

	r.dst = pfx("198.51.100.0/24");
	r.gw = ip("192.0.2.254");
	r.oif = d0;
	r.metric = 50;
	ASSERT_EQ(plat_route_add(p, &r, &id4), 0);
	std::string s = out("ip route show 198.51.100.0/24");
	EXPECT_TRUE(contains(s, "via 192.0.2.254 dev platd0 proto 118 metric 50")) << s;
	EXPECT_EQ(plat_route_add(p, &r, &dup), -EEXIST);
	EXPECT_EQ(plat_pending(p), 1u);

	ASSERT_EQ(plat_route_get(p, &r.dst.ip, 0, &ri), 0);
	ri = {};
	plat_ip dst = ip("198.51.100.7");
	ASSERT_EQ(plat_route_get(p, &dst, 0, &ri), 0);
	EXPECT_EQ(ri.oif, d0);
	EXPECT_EQ(str(ri.gw), "192.0.2.254");
	EXPECT_EQ(str(ri.src), "192.0.2.1");
	EXPECT_EQ(ri.table, (uint32_t)RT_TABLE_MAIN);

	plat_route r6 = {};
	r6.dst = pfx("2001:db8:77::/48");
	r6.oif = d0;
	r6.table = 4242;
	ASSERT_EQ(plat_route_add(p, &r6, &id6), 0);
	s = out("ip -6 route show table 4242");
	EXPECT_TRUE(contains(s, "2001:db8:77::/48 dev platd0 proto 118")) << s;

	ASSERT_EQ(plat_undo(p, id4), 0);
	EXPECT_EQ(out("ip route show 198.51.100.0/24"), "");
	EXPECT_EQ(plat_route_get(p, &dst, 0, &ri), -ENETUNREACH);
	ASSERT_EQ(plat_undo(p, id6), 0);
	EXPECT_EQ(out("ip -6 route show table 4242"), "");
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Plat, BadRoutesAreRefusedAndNotJournaled)
{
	plat_route r = {};
	uint64_t id;

	r.dst = pfx("198.51.100.1/24"); // host bits set
	r.oif = d0;
	EXPECT_EQ(plat_route_add(p, &r, &id), -EINVAL);
	r.dst = pfx("198.51.100.0/24");
	r.oif = 0; // neither device nor gateway
	EXPECT_EQ(plat_route_add(p, &r, &id), -EINVAL);
	r.gw = ip("2001:db8::1"); // family mismatch
	EXPECT_EQ(plat_route_add(p, &r, &id), -EINVAL);
	r.gw = ip("203.0.113.1"); // gateway not reachable: the kernel says no
	EXPECT_EQ(plat_route_add(p, &r, &id), -ENETUNREACH);
	EXPECT_EQ(plat_pending(p), 0u);
}

// The full tunnel as wg-quick does it: unmarked traffic goes to table T
// (default via the tunnel), the LAN stays reachable, and marked traffic
// (our IKE/ESP sockets) follows main's default route on the uplink.
TEST_F(Plat, FullTunnelRulesSteerByMark)
{
	const uint32_t T = 5151, M = 0x5a, P = 20000;
	plat_rule rules[2];
	uint64_t id;
	plat_route_info ri;

	ASSERT_EQ(sh("ip route add default via 192.0.2.254 dev platd0"), 0);
	ASSERT_EQ(sh("ip link add platt0 type veth peer name platt0p && ip link set platt0p up && ip link set platt0 up && "
		     "ip addr add 10.66.0.2/32 dev platt0"), 0);
	int t0 = ifindex("platt0");

	ASSERT_EQ(plat_tunnel_rules(AF_INET, T, M, P, 1, rules), 2);
	for (auto &r : rules)
		ASSERT_EQ(plat_rule_add(p, &r, &id), 0);
	plat_route def = {};
	def.dst = pfx("0.0.0.0/0");
	def.oif = t0;
	def.table = T;
	ASSERT_EQ(plat_route_add(p, &def, &id), 0);
	std::string s = out("ip rule show");
	EXPECT_TRUE(contains(s, "20000:\tnot from all fwmark 0x5a lookup 5151 proto 118")) << s;
	EXPECT_TRUE(contains(s, "19999:\tfrom all lookup main suppress_prefixlength 0 proto 118"))
		<< s;

	plat_ip internet = ip("203.0.113.5"), lan = ip("192.0.2.77");
	ASSERT_EQ(plat_route_get(p, &internet, 0, &ri), 0);
	EXPECT_EQ(ri.oif, t0);
	EXPECT_EQ(ri.table, T);
	ASSERT_EQ(plat_route_get(p, &internet, M, &ri), 0);
	EXPECT_EQ(ri.oif, d0);
	EXPECT_EQ(str(ri.gw), "192.0.2.254");
	EXPECT_EQ(str(ri.src), "192.0.2.1");
	ASSERT_EQ(plat_route_get(p, &lan, 0, &ri), 0);
	EXPECT_EQ(ri.oif, d0);
	EXPECT_EQ(ri.gw.family, 0);

	// Undoing takes exactly our rules and route; main keeps its default.
	ASSERT_EQ(plat_undo_all(p), 0);
	s = out("ip rule show");
	EXPECT_FALSE(contains(s, "5151"));
	EXPECT_FALSE(contains(s, "suppress_prefixlength"));
	EXPECT_EQ(out("ip route show table 5151"), "");
	EXPECT_TRUE(contains(out("ip route show"), "default via 192.0.2.254"));
	ASSERT_EQ(plat_route_get(p, &internet, 0, &ri), 0);
	EXPECT_EQ(ri.oif, d0);
	sh("ip link del platt0");
}

TEST_F(Plat, SplitTunnelRulesSteerSelectorsOnly)
{
	const uint32_t T = 5152, M = 0x5b, P = 20000;
	plat_rule rules[2];
	uint64_t id;
	plat_route_info ri;

	ASSERT_EQ(sh("ip route add default via 192.0.2.254 dev platd0"), 0);
	ASSERT_EQ(sh("ip -6 route add default via 2001:db8:1::fe dev platd0"), 0);
	ASSERT_EQ(sh("ip link add platt0 type veth peer name platt0p && ip link set platt0p up && ip link set platt0 up"), 0);
	int t0 = ifindex("platt0");

	for (uint8_t fam : {AF_INET, AF_INET6}) {
		ASSERT_EQ(plat_tunnel_rules(fam, T, M, P, 0, rules), 1);
		ASSERT_EQ(plat_rule_add(p, &rules[0], &id), 0);
	}
	for (const char *ts : {"10.10.0.0/16", "fd00:10::/32"}) {
		plat_route r = {};
		r.dst = pfx(ts);
		r.oif = t0;
		r.table = T;
		ASSERT_EQ(plat_route_add(p, &r, &id), 0);
	}
	plat_ip in_ts = ip("10.10.1.1"), in_ts6 = ip("fd00:10::1"), other = ip("203.0.113.5");
	ASSERT_EQ(plat_route_get(p, &in_ts, 0, &ri), 0);
	EXPECT_EQ(ri.oif, t0);
	ASSERT_EQ(plat_route_get(p, &in_ts6, 0, &ri), 0);
	EXPECT_EQ(ri.oif, t0);
	// The gateway's own packets never see the selectors' routes.
	ASSERT_EQ(plat_route_get(p, &in_ts, M, &ri), 0);
	EXPECT_EQ(ri.oif, d0);
	ASSERT_EQ(plat_route_get(p, &in_ts6, M, &ri), 0);
	EXPECT_EQ(ri.oif, d0);
	ASSERT_EQ(plat_route_get(p, &other, 0, &ri), 0);
	EXPECT_EQ(ri.oif, d0);

	// Someone else's rule at the same priority survives our undo.
	ASSERT_EQ(sh("ip rule add pref 20000 fwmark 0x77 lookup 77"), 0);
	ASSERT_EQ(plat_undo_all(p), 0);
	std::string s = out("ip rule show") + out("ip -6 rule show");
	EXPECT_FALSE(contains(s, "5152")) << s;
	EXPECT_TRUE(contains(s, "fwmark 0x77 lookup 77")) << s;
	sh("ip link del platt0");
}

TEST(PlatRules, TunnelRulesShape)
{
	plat_rule r[2];

	ASSERT_EQ(plat_tunnel_rules(AF_INET6, 7, 0x10, 100, 1, r), 2);
	EXPECT_EQ(r[0].family, AF_INET6);
	EXPECT_EQ(r[0].priority, 100u);
	EXPECT_EQ(r[0].table, 7u);
	EXPECT_TRUE(r[0].invert);
	EXPECT_EQ(r[0].fwmark, 0x10u);
	EXPECT_EQ(r[0].fwmask, 0xffffffffu);
	EXPECT_EQ(r[0].suppress_prefixlen, -1);
	EXPECT_EQ(r[1].priority, 99u);
	EXPECT_EQ(r[1].table, (uint32_t)RT_TABLE_MAIN);
	EXPECT_EQ(r[1].suppress_prefixlen, 0);
	EXPECT_EQ(r[1].fwmask, 0u);
	EXPECT_EQ(plat_tunnel_rules(AF_INET, 7, 0, 100, 0, r), -EINVAL);
	EXPECT_EQ(plat_tunnel_rules(AF_INET, 0, 1, 100, 0, r), -EINVAL);
	EXPECT_EQ(plat_tunnel_rules(AF_INET, 7, 1, 1, 1, r), -EINVAL);
	EXPECT_EQ(plat_tunnel_rules(AF_UNSPEC, 7, 1, 100, 0, r), -EINVAL);
}

// --- resolv.conf -------------------------------------------------------------

plat_dns corp_dns()
{
	plat_dns d = {};
	d.nservers = 2;
	d.servers[0] = ip("10.66.0.53");
	d.servers[1] = ip("fd00:66::53");
	d.nsearch = 2;
	strcpy(d.search[0], "corp.example");
	strcpy(d.search[1], "example.com.");
	return d;
}

const char *const kCorpResolv =
	"# Written by vpnctl; the previous file comes back on disconnect.\n"
	"nameserver 10.66.0.53\n"
	"nameserver fd00:66::53\n"
	"search corp.example example.com.\n";

TEST_F(Plat, DnsReplacesAndRestoresAFile)
{
	const std::string path = "/tmp/plat-etc/resolv.conf";
	struct stat st;
	uint64_t id;

	ASSERT_EQ(sh("mkdir -p /tmp/plat-etc"), 0);
	spit(path, "nameserver 9.9.9.9\noptions edns0\n");
	ASSERT_EQ(chmod(path.c_str(), 0640), 0);
	plat_dns d = corp_dns();
	ASSERT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), 0);
	EXPECT_EQ(slurp(path), kCorpResolv);
	ASSERT_EQ(stat(path.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0644u);
	EXPECT_EQ(slurp(std::string(kStateDir) + "/test.resolv-" + std::to_string(id)),
		  "nameserver 9.9.9.9\noptions edns0\n");

	ASSERT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(slurp(path), "nameserver 9.9.9.9\noptions edns0\n");
	ASSERT_EQ(stat(path.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0640u);
	EXPECT_NE(access((std::string(kStateDir) + "/test.resolv-" + std::to_string(id)).c_str(),
			 F_OK),
		  0);
	EXPECT_EQ(out("ls /tmp/plat-etc"), "resolv.conf\n");
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Plat, DnsRestoresASymlinkWithoutTouchingItsTarget)
{
	const std::string path = "/tmp/plat-etc/resolv.conf";
	char target[256] = {};
	uint64_t id;

	ASSERT_EQ(sh("mkdir -p /tmp/plat-run"), 0);
	ASSERT_EQ(sh("mkdir -p /tmp/plat-etc"), 0);
	spit("/tmp/plat-run/stub-resolv.conf", "nameserver 127.0.0.53\n");
	ASSERT_EQ(symlink("../plat-run/stub-resolv.conf", path.c_str()), 0);
	plat_dns d = corp_dns();
	ASSERT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), 0);
	EXPECT_EQ(readlink(path.c_str(), target, sizeof(target)), -1);
	EXPECT_EQ(slurp(path), kCorpResolv);
	EXPECT_EQ(slurp("/tmp/plat-run/stub-resolv.conf"), "nameserver 127.0.0.53\n");

	ASSERT_EQ(plat_undo_all(p), 0);
	ASSERT_GT(readlink(path.c_str(), target, sizeof(target) - 1), 0);
	EXPECT_STREQ(target, "../plat-run/stub-resolv.conf");
	EXPECT_EQ(slurp(path), "nameserver 127.0.0.53\n");
}

TEST_F(Plat, DnsRemovesAFileThatWasNotThere)
{
	const std::string path = "/tmp/plat-etc/resolv.conf";
	uint64_t id;

	ASSERT_EQ(sh("mkdir -p /tmp/plat-etc"), 0);
	plat_dns d = corp_dns();
	d.nsearch = 0;
	ASSERT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), 0);
	EXPECT_FALSE(contains(slurp(path), "search"));
	ASSERT_EQ(plat_undo(p, id), 0);
	EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(Plat, DnsLeavesAFileSomeoneElseWroteSince)
{
	const std::string path = "/tmp/plat-etc/resolv.conf";
	uint64_t id;

	ASSERT_EQ(sh("mkdir -p /tmp/plat-etc"), 0);
	spit(path, "nameserver 9.9.9.9\n");
	plat_dns d = corp_dns();
	ASSERT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), 0);
	spit(path, "nameserver 192.0.2.53\n"); // the network manager moved on
	ASSERT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(slurp(path), "nameserver 192.0.2.53\n");
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Plat, DnsRefusesWhatCouldInjectLines)
{
	const std::string path = "/tmp/plat-etc/resolv.conf";
	uint64_t id;

	ASSERT_EQ(sh("mkdir -p /tmp/plat-etc"), 0);
	spit(path, "nameserver 9.9.9.9\n");
	plat_dns d = corp_dns();
	strcpy(d.search[1], "evil\nnameserver 6.6.6.6");
	EXPECT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), -EINVAL);
	strcpy(d.search[1], "a..b");
	EXPECT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), -EINVAL);
	strcpy(d.search[1], std::string(64, 'a').c_str()); // label too long
	EXPECT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), -EINVAL);
	d = corp_dns();
	EXPECT_EQ(plat_dns_apply(p, "relative/resolv.conf", &d, &id), -EINVAL);
	d.nservers = 0;
	EXPECT_EQ(plat_dns_apply(p, path.c_str(), &d, &id), -EINVAL);
	EXPECT_EQ(slurp(path), "nameserver 9.9.9.9\n");
	EXPECT_EQ(plat_pending(p), 0u);
}

// --- The journal ----------------------------------------------------------------

TEST(PlatState, JournalIsLockedByItsOwner)
{
	plat *a = nullptr, *b = nullptr;

	ASSERT_EQ(plat_open(&a, kStateDir, "locked"), 0);
	EXPECT_EQ(plat_open(&b, kStateDir, "locked"), -EBUSY);
	EXPECT_EQ(plat_open(&b, kStateDir, "bad/name"), -EINVAL);
	EXPECT_EQ(plat_open(&b, kStateDir, ""), -EINVAL);
	ASSERT_EQ(plat_open(&b, kStateDir, "other"), 0);
	plat_close(b);
	plat_close(a);
	ASSERT_EQ(plat_open(&b, kStateDir, "locked"), 0);
	plat_close(b);
}

TEST(PlatState, CleanupOfNothingIsFine)
{
	EXPECT_EQ(plat_state_cleanup("/tmp/plat-does-not-exist"), 0);
	EXPECT_EQ(plat_state_pending("/tmp/plat-does-not-exist"), 0);
}

// A daemon makes its changes and dies without undoing anything; the
// clean-up afterwards undoes exactly those, and a route, an address and a
// rule someone else added next to ours stay.
TEST(PlatState, CleanupAfterCrashUndoesExactlyTheJournal)
{
	const char *dir = "/tmp/plat-crash";
	const std::string resolv = "/tmp/plat-crash-etc/resolv.conf";

	ASSERT_EQ(sh("ip link add platd0 type veth peer name platd0p && ip link set platd0p up && ip link set platd0 up && "
		     "ip addr add 192.0.2.1/24 dev platd0"), 0);
	ASSERT_EQ(sh("mkdir -p /tmp/plat-crash-etc"), 0);
	spit(resolv, "nameserver 9.9.9.9\n");
	int d0 = ifindex("platd0");

	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		// The "daemon". Any failure shows in the exit code.
		plat *p;
		tun_dev t;
		uint64_t id;
		plat_route r = {};
		plat_rule rules[2];
		plat_prefix a4 = pfx("10.66.0.2/24"), a6 = pfx("fd00:66::2/64");
		plat_dns d = corp_dns();
		int step = 1;

		if (plat_open(&p, dir, "sess") || tun_open(&t, "platt%d", 0) ||
		    plat_tun_record(p, t.ifindex, t.ifname, &id))
			_exit(step);
		step++;
		if (plat_addr_add(p, d0, &a4, &id) || plat_addr_add(p, d0, &a6, &id))
			_exit(step);
		step++;
		r.dst = pfx("198.51.100.0/24");
		r.oif = d0;
		if (plat_route_add(p, &r, &id))
			_exit(step);
		step++;
		r.dst = pfx("0.0.0.0/0");
		r.gw = ip("192.0.2.254");
		r.table = 5151;
		if (plat_route_add(p, &r, &id))
			_exit(step);
		step++;
		if (plat_tunnel_rules(AF_INET, 5151, 0x5a, 20000, 1, rules) != 2 ||
		    plat_rule_add(p, &rules[0], &id) || plat_rule_add(p, &rules[1], &id))
			_exit(step);
		step++;
		if (plat_dns_apply(p, resolv.c_str(), &d, &id))
			_exit(step);
		// Crash: no undo, no close; the kernel reaps the TUN with the fd.
		_exit(0);
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0) << "the child failed at step " << WEXITSTATUS(st);

	// The child's changes are in place...
	EXPECT_TRUE(contains(out("ip addr show dev platd0"), "10.66.0.2/24"));
	EXPECT_TRUE(contains(out("ip route show table 5151"), "default via 192.0.2.254"));
	EXPECT_TRUE(contains(out("ip rule show"), "lookup 5151"));
	EXPECT_EQ(slurp(resolv), kCorpResolv);
	// ...and next to them, things that are not ours.
	ASSERT_EQ(sh("ip route add 203.0.113.0/24 dev platd0"), 0);
	ASSERT_EQ(sh("ip route add 198.51.100.0/24 dev platd0 metric 7"), 0);
	ASSERT_EQ(sh("ip addr add 10.77.0.1/24 dev platd0"), 0);
	ASSERT_EQ(sh("ip rule add pref 19999 fwmark 0x77 lookup 77"), 0);

	EXPECT_EQ(plat_state_pending(dir), 8);
	ASSERT_EQ(plat_state_cleanup(dir), 0);
	EXPECT_EQ(plat_state_pending(dir), 0);

	std::string addrs = out("ip addr show dev platd0");
	EXPECT_FALSE(contains(addrs, "10.66.0.2"));
	EXPECT_FALSE(contains(addrs, "fd00:66::2"));
	EXPECT_TRUE(contains(addrs, "192.0.2.1/24"));
	EXPECT_TRUE(contains(addrs, "10.77.0.1/24"));
	std::string routes = out("ip route show");
	EXPECT_TRUE(contains(routes, "203.0.113.0/24 dev platd0")) << routes;
	EXPECT_TRUE(contains(routes, "198.51.100.0/24 dev platd0 scope link metric 7")) << routes;
	EXPECT_FALSE(contains(routes, "proto 118")) << routes;
	EXPECT_EQ(out("ip route show table 5151"), "");
	std::string rules = out("ip rule show");
	EXPECT_FALSE(contains(rules, "5151")) << rules;
	EXPECT_FALSE(contains(rules, "suppress_prefixlength")) << rules;
	EXPECT_TRUE(contains(rules, "fwmark 0x77 lookup 77")) << rules;
	EXPECT_EQ(slurp(resolv), "nameserver 9.9.9.9\n");
	EXPECT_FALSE(contains(out("ip link show"), "platt"));

	// The journal is empty, and a second clean-up has nothing to do.
	struct stat jst;
	ASSERT_EQ(stat("/tmp/plat-crash/sess.journal", &jst), 0);
	EXPECT_EQ(jst.st_size, 0);
	EXPECT_EQ(plat_state_cleanup(dir), 0);
	EXPECT_EQ(out("ls /tmp/plat-crash"), "sess.journal\n");
	sh("ip link del platd0");
}

TEST(PlatState, CleanupLeavesARunningDaemonAlone)
{
	const char *dir = "/tmp/plat-busy";
	plat *p;
	uint64_t id;

	ASSERT_EQ(sh("ip link add platd0 type veth peer name platd0p && ip link set platd0p up && ip link set platd0 up"), 0);
	ASSERT_EQ(plat_open(&p, dir, "live"), 0);
	plat_prefix a = pfx("10.66.0.2/24");
	ASSERT_EQ(plat_addr_add(p, ifindex("platd0"), &a, &id), 0);
	EXPECT_EQ(plat_state_cleanup(dir), -EBUSY);
	EXPECT_TRUE(contains(out("ip addr show dev platd0"), "10.66.0.2/24"));
	EXPECT_EQ(plat_state_pending(dir), 1);
	// A restarted daemon finds the old records and can undo them itself.
	plat_close(p);
	ASSERT_EQ(plat_open(&p, dir, "live"), 0);
	EXPECT_EQ(plat_pending(p), 1u);
	ASSERT_EQ(plat_undo_all(p), 0);
	EXPECT_FALSE(contains(out("ip addr show dev platd0"), "10.66.0.2/24"));
	plat_close(p);
	sh("ip link del platd0");
}

std::string boot_id()
{
	std::string s = slurp("/proc/sys/kernel/random/boot_id");
	return s.substr(0, 36);
}

// A journal written by hand, as a crash or a tampered disk might leave it.
TEST(PlatState, CleanupSurvivesAMangledJournal)
{
	const char *dir = "/tmp/plat-mangled";

	ASSERT_EQ(sh("ip link add platd0 type veth peer name platd0p && ip link set platd0p up && ip link set platd0 up"), 0);
	ASSERT_EQ(sh("ip route add 198.51.100.0/24 dev platd0 proto 118 metric 5"), 0);
	ASSERT_EQ(sh("ip route add 198.51.101.0/24 dev platd0 proto 118 metric 5"), 0);
	ASSERT_EQ(sh("mkdir -p %s", dir), 0);
	std::string idx = std::to_string(ifindex("platd0"));
	std::string rec = "\"kind\":\"route\",\"dst\":\"198.51.100.0/24\",\"oif\":" + idx +
			  ",\"ifname\":\"platd0\",\"table\":254,\"metric\":5";
	spit(std::string(dir) + "/m.journal",
	     "{\"v\":1,\"id\":1,\"boot\":\"" + boot_id() + "\"," + rec + "}\n"
	     "this is not json\n"
	     "{\"v\":1,\"id\":2}\n"
	     "{\"v\":1,\"id\":3,\"boot\":\"" + boot_id() + "\",\"kind\":\"route\",\"dst\":\"nope\"}\n"
	     // An earlier boot: the route it names now is someone else's.
	     "{\"v\":1,\"id\":4,\"boot\":\"00000000-0000-0000-0000-000000000000\","
	     "\"kind\":\"route\",\"dst\":\"198.51.101.0/24\",\"oif\":" + idx +
	     ",\"ifname\":\"platd0\",\"table\":254,\"metric\":5}\n"
	     "{\"v\":1,\"id\":5,\"boot\":\"" + boot_id() + "\"," + rec);  // torn

	EXPECT_EQ(plat_state_pending(dir), 3);
	ASSERT_EQ(plat_state_cleanup(dir), 0);
	std::string routes = out("ip route show");
	EXPECT_FALSE(contains(routes, "198.51.100.0/24")) << routes;
	EXPECT_TRUE(contains(routes, "198.51.101.0/24")) << routes;
	EXPECT_EQ(plat_state_pending(dir), 0);
	sh("ip link del platd0");
}

TEST(PlatState, UnknownKindsAreKeptForANewerVersion)
{
	const char *dir = "/tmp/plat-newer";

	ASSERT_EQ(sh("mkdir -p %s", dir), 0);
	spit(std::string(dir) + "/n.journal",
	     "{\"v\":2,\"id\":1,\"boot\":\"" + boot_id() +
		     "\",\"kind\":\"nft\",\"table\":\"vpnctl\"}\n");
	EXPECT_EQ(plat_state_cleanup(dir), -EPROTONOSUPPORT);
	EXPECT_EQ(plat_state_pending(dir), 1);
}

TEST(PlatState, JournalIdsContinueAcrossReopen)
{
	const char *dir = "/tmp/plat-ids";
	plat *p;
	uint64_t id1, id2;

	ASSERT_EQ(sh("ip link add platd0 type veth peer name platd0p && ip link set platd0p up && ip link set platd0 up"), 0);
	plat_prefix a = pfx("10.66.0.2/24"), b = pfx("10.66.1.2/24");
	ASSERT_EQ(plat_open(&p, dir, "ids"), 0);
	ASSERT_EQ(plat_addr_add(p, ifindex("platd0"), &a, &id1), 0);
	plat_close(p);
	ASSERT_EQ(plat_open(&p, dir, "ids"), 0);
	ASSERT_EQ(plat_addr_add(p, ifindex("platd0"), &b, &id2), 0);
	EXPECT_GT(id2, id1);
	ASSERT_EQ(plat_undo(p, id1), 0);
	std::string s = out("ip addr show dev platd0");
	EXPECT_FALSE(contains(s, "10.66.0.2"));
	EXPECT_TRUE(contains(s, "10.66.1.2"));
	EXPECT_EQ(plat_pending(p), 1u);
	plat_close(p);
	sh("ip link del platd0");
}

TEST(PlatState, TunRecordDeletesOnlyOurTun)
{
	const char *dir = "/tmp/plat-tun";
	plat *p;
	uint64_t id;

	ASSERT_EQ(plat_open(&p, dir, "tun"), 0);
	// A persistent TUN stands for one that outlived its daemon.
	ASSERT_EQ(sh("ip tuntap add dev platt0 mode tun"), 0);
	ASSERT_EQ(plat_tun_record(p, ifindex("platt0"), "platt0", &id), 0);
	// Same index, another name: a link that is not ours any more.
	ASSERT_EQ(sh("ip link add platd0 type veth peer name platd0p && ip link set platd0p up"), 0);
	ASSERT_EQ(plat_tun_record(p, ifindex("platd0"), "platt9", &id), 0);
	// A veth recorded as a TUN (a corrupt record) is never deleted.
	ASSERT_EQ(plat_tun_record(p, ifindex("platd0"), "platd0", &id), 0);
	EXPECT_EQ(plat_tun_record(p, 0, "x", &id), -EINVAL);
	ASSERT_EQ(plat_undo_all(p), 0);
	std::string links = out("ip link show");
	EXPECT_FALSE(contains(links, "platt0"));
	EXPECT_TRUE(contains(links, "platd0"));
	plat_close(p);
	sh("ip link del platd0");
}

// --- The uplink watcher ----------------------------------------------------------

struct Seen {
	int calls = 0;
	plat_uplinks last = {};
};

void on_uplinks(const plat_uplinks *u, void *arg)
{
	Seen *s = static_cast<Seen *>(arg);
	s->calls++;
	s->last = *u;
}

void wake(uv_timer_t *) {}

// Run the loop until pred() holds or timeout_ms pass; a periodic timer keeps
// the loop from blocking for ever when nothing happens.
template <class Pred> bool run_until(uv_loop_t *loop, Pred pred, uint64_t timeout_ms)
{
	uv_timer_t tick;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, wake, 10, 10);
	uv_update_time(loop);
	uint64_t deadline = uv_now(loop) + timeout_ms;
	while (!pred() && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close(reinterpret_cast<uv_handle_t *>(&tick), nullptr);
	uv_run(loop, UV_RUN_NOWAIT);
	return pred();
}

// Just run the loop for a while.
void idle(uv_loop_t *loop, uint64_t ms)
{
	run_until(loop, [] { return false; }, ms);
}

const plat_uplink *find(const plat_uplinks &u, const char *name)
{
	for (unsigned i = 0; i < u.n; i++)
		if (strcmp(u.link[i].ifname, name) == 0)
			return &u.link[i];
	return nullptr;
}

bool has_addr(const plat_uplink *l, const char *a)
{
	plat_prefix want = pfx(a);
	for (unsigned i = 0; l && i < l->naddrs; i++)
		if (l->addrs[i].plen == want.plen && plat_ip_equal(&l->addrs[i].ip, &want.ip))
			return true;
	return false;
}

class Watch : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(uv_loop_init(&loop), 0);
		ASSERT_EQ(plat_watch_start(&w, &loop, 60, on_uplinks, &seen), 0);
		// The first report comes by itself: nothing but lo here.
		ASSERT_TRUE(run_until(&loop, [&] { return seen.calls == 1; }, 2000));
		EXPECT_EQ(seen.last.n, 0u);
		EXPECT_EQ(seen.last.preferred, -1);
	}
	void TearDown() override
	{
		plat_watch_close(w);
		uv_run(&loop, UV_RUN_DEFAULT);
		EXPECT_EQ(uv_loop_close(&loop), 0);
		sh("ip link del platu0 2>/dev/null; ip link del platu1 2>/dev/null; "
		   "ip link del platt0 2>/dev/null");
	}
	// Wait for a report after which check() holds.
	template <class Pred> bool report(Pred check)
	{
		return run_until(&loop, [&] { return check(seen.last); }, 3000);
	}
	uv_loop_t loop;
	plat_watch *w = nullptr;
	Seen seen;
};

TEST_F(Watch, SeesUplinksComeAndGo)
{
	ASSERT_EQ(sh("ip link add platu0 type veth peer name platu0p && ip link set platu0p up && ip link set platu0 up && "
		     "ip addr add 192.0.2.10/24 dev platu0 && "
		     "ip route add default via 192.0.2.1 dev platu0 metric 100"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return find(u, "platu0"); }));
	const plat_uplink *u0 = find(seen.last, "platu0");
	EXPECT_EQ(seen.last.n, 1u);
	EXPECT_EQ(u0->ifindex, ifindex("platu0"));
	EXPECT_TRUE(has_addr(u0, "192.0.2.10/24"));
	EXPECT_TRUE(u0->def4.present);
	EXPECT_EQ(str(u0->def4.gw), "192.0.2.1");
	EXPECT_EQ(u0->def4.metric, 100u);
	EXPECT_FALSE(u0->def6.present);
	EXPECT_EQ(seen.last.preferred, 0);
	EXPECT_EQ(seen.last.preferred4, 0);
	EXPECT_EQ(seen.last.preferred6, -1);

	// A second uplink with a better default route becomes preferred.
	ASSERT_EQ(sh("ip link add platu1 type veth peer name platu1p && ip link set platu1p up && ip link set platu1 up && "
		     "ip addr add 198.51.100.10/24 dev platu1 && "
		     "ip route add default via 198.51.100.1 dev platu1 metric 50"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return u.n == 2; }));
	ASSERT_GE(seen.last.preferred, 0);
	EXPECT_STREQ(seen.last.link[seen.last.preferred].ifname, "platu1");

	// IPv6 on the first one, with the best metric of all.
	ASSERT_EQ(sh("ip -6 addr add 2001:db8:1::10/64 dev platu0 nodad && "
		     "ip -6 route add default via 2001:db8:1::1 dev platu0 metric 10"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) {
		const plat_uplink *l = find(u, "platu0");
		return l && l->def6.present;
	}));
	u0 = find(seen.last, "platu0");
	EXPECT_TRUE(has_addr(u0, "2001:db8:1::10/64"));
	EXPECT_EQ(str(u0->def6.gw), "2001:db8:1::1");
	EXPECT_EQ(u0->def6.metric, 10u);
	EXPECT_STREQ(seen.last.link[seen.last.preferred6].ifname, "platu0");
	EXPECT_STREQ(seen.last.link[seen.last.preferred4].ifname, "platu1");
	EXPECT_STREQ(seen.last.link[seen.last.preferred].ifname, "platu0");

	// Link down: gone.
	ASSERT_EQ(sh("ip link set platu1 down"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return u.n == 1; }));
	EXPECT_TRUE(find(seen.last, "platu0"));
	EXPECT_STREQ(seen.last.link[seen.last.preferred4].ifname, "platu0");

	// Default route removed: that family is gone, the other stays.
	ASSERT_EQ(sh("ip -6 route del default dev platu0"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) {
		const plat_uplink *l = find(u, "platu0");
		return l && !l->def6.present;
	}));
	EXPECT_EQ(seen.last.preferred6, -1);

	// Address removed: no way to send from it, no uplink.
	ASSERT_EQ(sh("ip addr del 192.0.2.10/24 dev platu0"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return u.n == 0; }));
	EXPECT_EQ(seen.last.preferred, -1);
}

TEST_F(Watch, IgnoresOurTunAndLinksWithoutDefaultRoute)
{
	ASSERT_EQ(sh("ip link add platu0 type veth peer name platu0p && ip link set platu0p up && ip link set platu0 up && "
		     "ip addr add 192.0.2.10/24 dev platu0"), 0);
	ASSERT_EQ(sh("ip link add platt0 type veth peer name platt0p && ip link set platt0p up && ip link set platt0 up && "
		     "ip addr add 10.66.0.2/32 dev platt0 && "
		     "ip route add default dev platt0 metric 1"), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return find(u, "platt0"); }));
	EXPECT_EQ(seen.last.n, 1u) << "platu0 has no default route";
	const plat_uplink *t = find(seen.last, "platt0");
	EXPECT_TRUE(t->def4.present);
	EXPECT_EQ(t->def4.gw.family, 0) << "a device route has no gateway";

	ASSERT_EQ(plat_watch_ignore(w, ifindex("platt0")), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return u.n == 0; }));
}

TEST_F(Watch, ReportsOnceForABurstAndNotForIrrelevantChanges)
{
	plat *p;
	uint64_t id;

	ASSERT_EQ(sh("ip link add platu0 type veth peer name platu0p && ip link set platu0p up && ip link set platu0 up"), 0);
	idle(&loop, 300); // settle
	int before = seen.calls;

	// A burst while the loop is busy elsewhere: one report, final state.
	ASSERT_EQ(plat_open(&p, kStateDir, "watch"), 0);
	for (int i = 0; i < 10; i++) {
		std::string a = "192.0.2." + std::to_string(10 + i) + "/24";
		plat_prefix pf = pfx(a.c_str());
		ASSERT_EQ(plat_addr_add(p, ifindex("platu0"), &pf, &id), 0);
	}
	plat_route r = {};
	r.dst = pfx("0.0.0.0/0");
	r.gw = ip("192.0.2.1");
	r.oif = ifindex("platu0");
	ASSERT_EQ(plat_route_add(p, &r, &id), 0);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return u.n == 1; }));
	idle(&loop, 300);
	EXPECT_EQ(seen.calls, before + 1);
	EXPECT_EQ(seen.last.link[0].naddrs, (unsigned)PLAT_UPLINK_ADDRS);

	// Routes in other tables change nothing an uplink is made of.
	before = seen.calls;
	ASSERT_EQ(sh("ip route add 203.0.113.0/24 dev platu0 table 77"), 0);
	idle(&loop, 300);
	EXPECT_EQ(seen.calls, before);

	plat_uplinks now;
	ASSERT_EQ(plat_watch_read(w, &now), 0);
	EXPECT_EQ(now.n, 1u);
	ASSERT_EQ(plat_undo_all(p), 0);
	plat_close(p);
	ASSERT_TRUE(report([](const plat_uplinks &u) { return u.n == 0; }));
}

} // namespace
