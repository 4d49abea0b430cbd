// DNS through systemd-resolved (platform/resolved.h) against a scripted
// resolved: a private dbus-daemon stands in for the system bus, and a
// thread of this test owns org.freedesktop.resolve1 on it, serving the
// Manager calls we make, keeping per-link state the way resolved does and
// recording every call. It can restart (drop its connection and state,
// come back under a new unique name), leave, or fail a chosen call.
//
// Needs root (network namespace, links). The binary moves itself into new
// network and mount namespaces first, with a private tmpfs on /tmp where
// the bus socket lives, so nothing here meets the host's bus or links.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "platform/plat.h"
#include "platform/resolved.h"
#include "platform/state.h"

#include "netns_test.h"

namespace {

using netnstest::sh;

const char *const kBusDir = "/tmp/desk-bus";
const char *const kBusSocket = "/tmp/desk-bus/system_bus_socket";

pid_t g_bus_pid = -1;

// A system bus of our own: dbus-daemon with an allow-all policy and no
// service files (so nothing is ever activated).
void start_bus()
{
	std::ofstream(std::string(kBusDir) + "/bus.conf")
		<< "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
		   " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		   "<busconfig>\n"
		   " <type>system</type>\n"
		   " <listen>unix:path=" << kBusSocket << "</listen>\n"
		   " <auth>EXTERNAL</auth>\n"
		   " <policy context=\"default\">\n"
		   "  <allow user=\"*\"/>\n  <allow own=\"*\"/>\n"
		   "  <allow send_destination=\"*\"/>\n  <allow receive_sender=\"*\"/>\n"
		   " </policy>\n"
		   "</busconfig>\n";
	unlink(kBusSocket);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		// Dies with the test, however the test ends.
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		std::string conf = std::string("--config-file=") + kBusDir + "/bus.conf";
		execlp("dbus-daemon", "dbus-daemon", conf.c_str(), "--nofork", (char *)nullptr);
		_exit(127);
	}
	g_bus_pid = pid;
	for (int i = 0; i < 500 && access(kBusSocket, F_OK) != 0; i++)
		usleep(10000);
	ASSERT_EQ(access(kBusSocket, F_OK), 0) << "dbus-daemon did not start (package dbus-daemon)";
}

void stop_bus()
{
	if (g_bus_pid > 0) {
		kill(g_bus_pid, SIGTERM);
		waitpid(g_bus_pid, nullptr, 0);
		g_bus_pid = -1;
	}
}

class BusEnv : public ::testing::Environment {
public:
	void SetUp() override
	{
		netnstest::enter_private_netns(false);
		if (::testing::Test::HasFatalFailure())
			return;
		ASSERT_EQ(mkdir(kBusDir, 0755), 0);
		setenv("DBUS_SYSTEM_BUS_ADDRESS", (std::string("unix:path=") + kBusSocket).c_str(), 1);
		start_bus();
	}
	void TearDown() override { stop_bus(); }
};

const auto *const bus_env = ::testing::AddGlobalTestEnvironment(new BusEnv);

// --- The scripted resolved ---------------------------------------------------------

struct LinkState {
	std::vector<std::string> dns;
	std::vector<std::pair<std::string, bool>> domains; // (name, routing only)
	int default_route = -1;                             // -1: never set
};

class FakeResolved {
public:
	~FakeResolved() { stop(); }

	void start()
	{
		want_ = true;
		th_ = std::thread([this] { run(); });
		ASSERT_TRUE(wait_for([this] { return owned_.load(); })) << "fake resolved never got its name";
	}
	void stop()
	{
		if (!th_.joinable())
			return;
		quit_ = true;
		th_.join();
	}
	// resolved restarts: its state goes, it comes back under a new name.
	void restart()
	{
		unsigned before = generation_;
		restart_ = true;
		ASSERT_TRUE(wait_for([&] { return generation_ != before && owned_; }));
	}
	void leave()
	{
		want_ = false;
		ASSERT_TRUE(wait_for([this] { return !owned_.load(); }));
	}
	void come_back()
	{
		want_ = true;
		ASSERT_TRUE(wait_for([this] { return owned_.load(); }));
	}
	void fail(const std::string &member)
	{
		std::lock_guard<std::mutex> g(mu_);
		fail_ = member;
	}
	std::map<int, LinkState> links()
	{
		std::lock_guard<std::mutex> g(mu_);
		return links_;
	}
	std::vector<std::string> calls()
	{
		std::lock_guard<std::mutex> g(mu_);
		return calls_;
	}
	size_t count(const std::string &call)
	{
		size_t n = 0;
		for (auto &c : calls())
			n += c == call;
		return n;
	}
	void clear_calls()
	{
		std::lock_guard<std::mutex> g(mu_);
		calls_.clear();
	}

private:
	template <class Pred> static bool wait_for(Pred pred)
	{
		for (int i = 0; i < 500 && !pred(); i++)
			usleep(10000);
		return pred();
	}

	void connect()
	{
		if (sd_bus_open_system(&bus_) < 0) {
			bus_ = nullptr;
			return;
		}
		sd_bus_add_object(bus_, nullptr, "/org/freedesktop/resolve1", on_call, this);
		if (sd_bus_request_name(bus_, "org.freedesktop.resolve1", 0) < 0) {
			bus_ = sd_bus_flush_close_unref(bus_);
			return;
		}
		generation_++;
		owned_ = true;
	}
	void disconnect()
	{
		bus_ = sd_bus_flush_close_unref(bus_);
		owned_ = false;
		std::lock_guard<std::mutex> g(mu_);
		links_.clear(); // a restarted resolved starts from nothing
	}
	void run()
	{
		while (!quit_) {
			if (restart_ && bus_) {
				disconnect();
				connect();
				restart_ = false;
			}
			if (want_ && !bus_)
				connect();
			if (!want_ && bus_)
				disconnect();
			if (!bus_) {
				usleep(20000);
				continue;
			}
			int r;
			while ((r = sd_bus_process(bus_, nullptr)) > 0)
				;
			if (r < 0) { // the bus went away: try again later
				disconnect();
				continue;
			}
			sd_bus_wait(bus_, 20000);
		}
		if (bus_)
			disconnect();
	}

	static int on_call(sd_bus_message *m, void *arg, sd_bus_error *)
	{
		return static_cast<FakeResolved *>(arg)->handle(m);
	}

	int handle(sd_bus_message *m)
	{
		if (!sd_bus_message_is_method_call(m, "org.freedesktop.resolve1.Manager", nullptr))
			return 0;
		std::string member = sd_bus_message_get_member(m);
		int32_t ifindex = 0;
		char name[IF_NAMESIZE];

		if (sd_bus_message_read(m, "i", &ifindex) < 0)
			return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "no ifindex");
		std::unique_lock<std::mutex> g(mu_);
		calls_.push_back(member + "(" + std::to_string(ifindex) + ")");
		if (member == fail_) {
			fail_.clear();
			g.unlock();
			return sd_bus_reply_method_errorf(m, "org.freedesktop.resolve1.TestFailure",
							  "asked to fail");
		}
		g.unlock();
		if (!if_indextoname((unsigned)ifindex, name))
			return sd_bus_reply_method_errorf(m, "org.freedesktop.resolve1.NoSuchLink",
							  "Link %d not known", ifindex);
		LinkState st;
		if (member == "SetLinkDNS") {
			if (sd_bus_message_enter_container(m, 'a', "(iay)") < 0)
				return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "dns");
			while (sd_bus_message_enter_container(m, 'r', "iay") > 0) {
				int32_t fam;
				const void *a;
				size_t n;
				char buf[INET6_ADDRSTRLEN] = "?";
				sd_bus_message_read(m, "i", &fam);
				sd_bus_message_read_array(m, 'y', &a, &n);
				if ((fam == AF_INET && n == 4) || (fam == AF_INET6 && n == 16))
					inet_ntop(fam, a, buf, sizeof(buf));
				st.dns.push_back(buf);
				sd_bus_message_exit_container(m);
			}
			sd_bus_message_exit_container(m);
			std::lock_guard<std::mutex> l(mu_);
			links_[ifindex].dns = st.dns;
		} else if (member == "SetLinkDomains") {
			const char *d;
			int route;
			if (sd_bus_message_enter_container(m, 'a', "(sb)") < 0)
				return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "domains");
			while (sd_bus_message_read(m, "(sb)", &d, &route) > 0)
				st.domains.emplace_back(d, route != 0);
			sd_bus_message_exit_container(m);
			std::lock_guard<std::mutex> l(mu_);
			links_[ifindex].domains = st.domains;
		} else if (member == "SetLinkDefaultRoute") {
			int b;
			sd_bus_message_read(m, "b", &b);
			std::lock_guard<std::mutex> l(mu_);
			links_[ifindex].default_route = b;
		} else if (member == "RevertLink") {
			std::lock_guard<std::mutex> l(mu_);
			links_.erase(ifindex);
		} else {
			return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_METHOD, "%s",
							  member.c_str());
		}
		return sd_bus_reply_method_return(m, nullptr);
	}

	std::thread th_;
	std::atomic<bool> quit_{false}, want_{false}, restart_{false}, owned_{false};
	std::atomic<unsigned> generation_{0};
	sd_bus *bus_ = nullptr;
	std::mutex mu_;
	std::string fail_;
	std::map<int, LinkState> links_;
	std::vector<std::string> calls_;
};

// --- Helpers ---------------------------------------------------------------------------

plat_ip ip(const char *s)
{
	plat_ip a;
	EXPECT_EQ(plat_ip_parse(&a, s), 0) << s;
	return a;
}

plat_dns corp_dns()
{
	plat_dns d = {};
	d.nservers = 2;
	d.servers[0] = ip("10.66.0.53");
	d.servers[1] = ip("fd00:66::53");
	d.nsearch = 2;
	strcpy(d.search[0], "corp.example");
	strcpy(d.search[1], "example.com");
	return d;
}

using Domains = std::vector<std::pair<std::string, bool>>;

void wake(uv_timer_t *) {}

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

const char *const kState = "/tmp/desk-resolved-state";

class Resolved : public ::testing::Test {
protected:
	void SetUp() override
	{
		ASSERT_EQ(uv_loop_init(&loop), 0);
		ASSERT_EQ(sh("ip link add deskr0 type veth peer name deskr0p && ip link set deskr0 up"),
			  0);
		link = (int)if_nametoindex("deskr0");
		ASSERT_GT(link, 0);
		ASSERT_EQ(plat_open(&p, kState, "dns"), 0);
	}
	void TearDown() override
	{
		plat_resolved_close(r);
		uv_run(&loop, UV_RUN_DEFAULT);
		EXPECT_EQ(uv_loop_close(&loop), 0);
		fake.stop();
		plat_close(p);
		sh("ip link del deskr0 2>/dev/null; rm -rf %s", kState);
	}
	void open_handle() { ASSERT_EQ(plat_resolved_open(&r, &loop), 0); }
	bool has_link(int ifindex)
	{
		auto l = fake.links();
		return l.count(ifindex) && !l[ifindex].dns.empty();
	}

	uv_loop_t loop;
	plat *p = nullptr;
	plat_resolved *r = nullptr;
	FakeResolved fake;
	int link = 0;
};

// --- Tests -------------------------------------------------------------------------------

TEST_F(Resolved, NotRunning)
{
	uint64_t id;
	plat_dns d = corp_dns();

	open_handle();
	EXPECT_EQ(plat_resolved_available(r), 0);
	EXPECT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), -ENOENT);
	EXPECT_EQ(plat_pending(p), 0u);
	// Once it runs, it is seen.
	fake.start();
	EXPECT_EQ(plat_resolved_available(r), 1);
}

TEST_F(Resolved, SplitTunnelSetsRoutingDomainsOnly)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_available(r), 1);
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	auto l = fake.links()[link];
	EXPECT_EQ(l.dns, (std::vector<std::string>{"10.66.0.53", "fd00:66::53"}));
	EXPECT_EQ(l.domains, (Domains{{"corp.example", true}, {"example.com", true}}));
	EXPECT_EQ(l.default_route, 0);
	EXPECT_EQ(plat_pending(p), 1u);

	ASSERT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(fake.count("RevertLink(" + std::to_string(link) + ")"), 1u);
	EXPECT_EQ(fake.links().count(link), 0u);
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Resolved, FullTunnelTakesEveryNameAndCanBeChanged)
{
	uint64_t id, id2;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 1, &id), 0);
	auto l = fake.links()[link];
	EXPECT_EQ(l.domains,
		  (Domains{{"corp.example", true}, {"example.com", true}, {".", true}}));
	EXPECT_EQ(l.default_route, 1);

	// A reconnect brings other servers: same link, same record.
	d.nservers = 1;
	d.servers[0] = ip("10.77.0.53");
	d.nsearch = 0;
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 1, &id2), 0);
	EXPECT_EQ(id2, id);
	EXPECT_EQ(plat_pending(p), 1u);
	l = fake.links()[link];
	EXPECT_EQ(l.dns, (std::vector<std::string>{"10.77.0.53"}));
	EXPECT_EQ(l.domains, (Domains{{".", true}}));

	ASSERT_EQ(plat_resolved_revert(r, p, link), 0);
	EXPECT_EQ(fake.links().count(link), 0u);
	EXPECT_EQ(plat_pending(p), 0u);
	EXPECT_EQ(plat_resolved_revert(r, p, link), 0); // nothing left to do
	EXPECT_EQ(fake.count("RevertLink(" + std::to_string(link) + ")"), 1u);
}

TEST_F(Resolved, FollowsARestart)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	fake.restart();
	EXPECT_FALSE(has_link(link)) << "the restarted fake forgot the link";
	ASSERT_TRUE(run_until(&loop, [&] { return has_link(link); }, 3000));
	auto l = fake.links()[link];
	EXPECT_EQ(l.domains, (Domains{{"corp.example", true}, {"example.com", true}}));
	EXPECT_EQ(l.default_route, 0);
	EXPECT_EQ(plat_pending(p), 1u) << "re-applying makes no new record";

	// Leaving and coming back is a restart too.
	fake.leave();
	run_until(&loop, [] { return false; }, 200);
	EXPECT_EQ(plat_resolved_available(r), 0);
	fake.come_back();
	ASSERT_TRUE(run_until(&loop, [&] { return has_link(link); }, 3000));

	// Reverted links are not brought back.
	ASSERT_EQ(plat_resolved_revert(r, p, link), 0);
	fake.clear_calls();
	fake.restart();
	run_until(&loop, [] { return false; }, 500);
	EXPECT_FALSE(has_link(link));
	EXPECT_EQ(fake.count("SetLinkDNS(" + std::to_string(link) + ")"), 0u);
}

TEST_F(Resolved, UndoneBehindItsBackIsNotBroughtBack)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	// The session's disconnect undoes the whole journal.
	ASSERT_EQ(plat_undo_all(p), 0);
	EXPECT_FALSE(has_link(link));
	fake.clear_calls();
	fake.restart();
	run_until(&loop, [] { return false; }, 500);
	EXPECT_FALSE(has_link(link));
	EXPECT_TRUE(fake.calls().empty());
	// Telling the handle afterwards is fine.
	EXPECT_EQ(plat_resolved_revert(r, p, link), 0);
}

TEST_F(Resolved, FollowsTheBusRestarting)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 1, &id), 0);
	// The whole system bus goes and comes back; resolved with it.
	stop_bus();
	run_until(&loop, [] { return false; }, 300);
	start_bus();
	ASSERT_TRUE(run_until(&loop, [&] { return has_link(link); }, 8000));
	EXPECT_EQ(fake.links()[link].default_route, 1);
	EXPECT_EQ(plat_resolved_available(r), 1);
}

TEST_F(Resolved, CrashThenCleanupReverts)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 1, &id), 0);
	// The daemon dies: nothing undone, the journal stays.
	plat_resolved_close(r);
	r = nullptr;
	plat_close(p);
	p = nullptr;
	EXPECT_TRUE(has_link(link));
	EXPECT_EQ(plat_state_pending(kState), 1);
	ASSERT_EQ(plat_state_cleanup(kState), 0);
	EXPECT_FALSE(has_link(link));
	EXPECT_EQ(fake.count("RevertLink(" + std::to_string(link) + ")"), 1u);
	EXPECT_EQ(plat_state_pending(kState), 0);
}

TEST_F(Resolved, VanishedLinkOrResolvedCountsAsReverted)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	ASSERT_EQ(sh("ip link del deskr0"), 0);
	EXPECT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(fake.count("RevertLink(" + std::to_string(link) + ")"), 0u);
	EXPECT_EQ(plat_pending(p), 0u);

	// resolved gone at clean-up time: nothing it holds.
	ASSERT_EQ(sh("ip link add deskr0 type veth peer name deskr0p"), 0);
	link = (int)if_nametoindex("deskr0");
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	fake.leave();
	EXPECT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Resolved, AHalfDoneChangeIsRevertedAndNotJournaled)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	fake.fail("SetLinkDomains");
	EXPECT_LT(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	EXPECT_EQ(fake.count("SetLinkDNS(" + std::to_string(link) + ")"), 1u);
	EXPECT_EQ(fake.count("RevertLink(" + std::to_string(link) + ")"), 1u);
	EXPECT_FALSE(has_link(link));
	EXPECT_EQ(plat_pending(p), 0u);
	// And the handle does not follow it.
	fake.restart();
	run_until(&loop, [] { return false; }, 400);
	EXPECT_FALSE(has_link(link));
}

TEST_F(Resolved, AFailedChangeKeepsThePreviousSettings)
{
	uint64_t id;
	plat_dns d = corp_dns(), d2 = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	d2.nservers = 1;
	d2.servers[0] = ip("10.77.0.53");
	fake.fail("SetLinkDefaultRoute");
	EXPECT_LT(plat_resolved_apply(r, p, link, &d2, 1, &id), 0);
	auto l = fake.links()[link];
	EXPECT_EQ(l.dns, (std::vector<std::string>{"10.66.0.53", "fd00:66::53"}));
	EXPECT_EQ(l.default_route, 0);
	EXPECT_EQ(plat_pending(p), 1u);
	// And a restart brings back those, not the refused ones.
	fake.restart();
	ASSERT_TRUE(run_until(&loop, [&] { return has_link(link); }, 3000));
	EXPECT_EQ(fake.links()[link].dns, (std::vector<std::string>{"10.66.0.53", "fd00:66::53"}));
}

TEST_F(Resolved, RefusesBadInput)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	strcpy(d.search[1], "evil\nnameserver 6.6.6.6");
	EXPECT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), -EINVAL);
	strcpy(d.search[1], "~.");
	EXPECT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), -EINVAL);
	strcpy(d.search[1], ".");
	EXPECT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), -EINVAL);
	d = corp_dns();
	d.nservers = 0;
	EXPECT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), -EINVAL);
	d = corp_dns();
	d.servers[1].family = 0;
	EXPECT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), -EINVAL);
	d = corp_dns();
	EXPECT_EQ(plat_resolved_apply(r, p, 99999, &d, 0, &id), -ENODEV);
	EXPECT_EQ(plat_resolved_apply(r, p, 0, &d, 0, &id), -EINVAL);
	EXPECT_TRUE(fake.calls().empty());
	EXPECT_EQ(plat_pending(p), 0u);
}

TEST_F(Resolved, NoSystemBus)
{
	uint64_t id;
	plat_dns d = corp_dns();

	fake.start();
	open_handle();
	ASSERT_EQ(plat_resolved_apply(r, p, link, &d, 0, &id), 0);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/desk-bus/nothing-here", 1);
	plat_resolved *none = nullptr;
	EXPECT_EQ(plat_resolved_open(&none, &loop), -ENOENT);
	EXPECT_EQ(none, nullptr);
	// A clean-up on a machine without a bus has nothing to revert.
	EXPECT_EQ(plat_undo(p, id), 0);
	EXPECT_EQ(plat_pending(p), 0u);
	setenv("DBUS_SYSTEM_BUS_ADDRESS", (std::string("unix:path=") + kBusSocket).c_str(), 1);
}

} // namespace
