// vpnctl: its formatting and exit codes as functions, then the real binary
// run as a subprocess against the control server of test_ctl_harness.h.
#include "test_ctl_harness.h"

#include <limits.h>

#include <cstdlib>

#include "ui-cli/cli.h"

using namespace ctltest;

namespace {

TEST(CliFormat, Bytes)
{
	char b[32];
	const struct {
		uint64_t n;
		const char *want;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1048575, "1.0 MiB" },
		{ 12897485, "12.3 MiB" },
		{ 1288490, "1.2 MiB" },
		{ 1ull << 40, "1.0 TiB" },
		{ UINT64_MAX, "16.0 EiB" },
	};
	for (const auto &c : cases) {
		cli_format_bytes(c.n, b, sizeof(b));
		EXPECT_STREQ(b, c.want) << c.n;
	}
}

TEST(CliFormat, Durations)
{
	char b[32];
	const struct {
		int64_t s;
		const char *want;
	} cases[] = {
		{ -5, "0s" },     { 0, "0s" },          { 59, "59s" },        { 60, "1m 00s" },
		{ 192, "3m 12s" }, { 3599, "59m 59s" }, { 3723, "1h 02m" }, { 86399, "23h 59m" },
		{ 90000, "1d 01h" },
	};
	for (const auto &c : cases) {
		cli_format_duration(c.s, b, sizeof(b));
		EXPECT_STREQ(b, c.want) << c.s;
	}
}

TEST(CliFormat, ExitCodes)
{
	EXPECT_EQ(cli_exit_code(CTL_ERR_PERMISSION), 4);
	EXPECT_EQ(cli_exit_code(CTL_ERR_NO_PROFILE), 5);
	EXPECT_EQ(cli_exit_code(CTL_ERR_BAD_PROFILE), 5);
	EXPECT_EQ(cli_exit_code(CTL_ERR_AUTH_FAILED), 6);
	EXPECT_EQ(cli_exit_code(CTL_ERR_CERT_UNTRUSTED), 7);
	EXPECT_EQ(cli_exit_code(CTL_ERR_ID_MISMATCH), 7);
	EXPECT_EQ(cli_exit_code(CTL_ERR_NO_PROPOSAL), 8);
	EXPECT_EQ(cli_exit_code(CTL_ERR_TS_UNACCEPTABLE), 8);
	EXPECT_EQ(cli_exit_code(CTL_ERR_RESOLVE), 9);
	EXPECT_EQ(cli_exit_code(CTL_ERR_UNREACHABLE), 9);
	EXPECT_EQ(cli_exit_code(CTL_ERR_CANCELLED), 11);
	EXPECT_EQ(cli_exit_code(CTL_ERR_INTERNAL), 1);
	EXPECT_EQ(cli_exit_code(CTL_ERR_UNKNOWN), 1);
}

// How sample_statuses() reads in vpnctl (LC_ALL=C: "->" for the arrow).
const std::string kWorkBlock =
	"work: connected for 1h 02m\n"
	"  gateway:    vpn.example.com\n"
	"  transport:  udp\n"
	"  path:       wlan0, 192.168.1.10:4500 -> 203.0.113.5:4500, NAT: yes, MOBIKE: yes\n"
	"  virtual IP: 10.10.0.2\n"
	"  DNS:        10.10.0.1, 10.10.0.53\n"
	"  IKE:        aes256gcm16-prfsha256-x25519\n"
	"  ESP:        aes256gcm16\n"
	"  traffic:    in 12.3 MiB (10432 packets), out 1.2 MiB (5012 packets)\n"
	"  last error: none\n";
const std::string kHomeTail =
	"  gateway:    home.example.net\n"
	"  last error: authentication failed: the gateway refused our pre-shared key\n";

std::string printed(const ctl_status &st, time_t now)
{
	char *buf = nullptr;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cli_print_status(f, &st, now, "->");
	fclose(f);
	std::string s(buf, len);
	free(buf);
	return s;
}

TEST(CliFormat, StatusBlocks)
{
	auto v = sample_statuses(1000000);
	EXPECT_EQ(printed(v[0], 1000000), kWorkBlock);
	EXPECT_EQ(printed(v[1], 1000000), "home: disconnected for 3m 12s\n" + kHomeTail);

	ctl_status r = v[0];
	r.state = CTL_STATE_RECONNECTING;
	r.since = 1000000 - 12;
	std::strcpy(r.reason, "network changed");
	r.transport = CTL_TRANSPORT_TCP;
	r.nat = false;
	std::string s = printed(r, 1000000);
	EXPECT_EQ(s.substr(0, s.find('\n')), "work: reconnecting for 12s (network changed)");
	EXPECT_NE(s.find("  transport:  tcp\n"), std::string::npos);
	EXPECT_NE(s.find("NAT: no"), std::string::npos);
}

std::string vpnctl_path()
{
	if (const char *e = getenv("VPNCTL_BIN"))
		return e;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return "";
	exe[n] = '\0';
	// build/tests/unit/test_ctl_cli -> build/ui-cli/vpnctl
	auto build = std::filesystem::path(exe).parent_path().parent_path().parent_path();
	return (build / "ui-cli" / "vpnctl").string();
}

class Vpnctl : public ::testing::Test {
protected:
	void SetUp() override
	{
		bin = vpnctl_path();
		ASSERT_EQ(access(bin.c_str(), X_OK), 0)
			<< "vpnctl not built at " << bin << " (set VPNCTL_BIN)";
		dir = make_tmpdir();
		ASSERT_FALSE(dir.empty());
	}
	void TearDown() override
	{
		d.reset();
		std::filesystem::remove_all(dir);
	}
	void start(const char *group = nullptr)
	{
		d = std::make_unique<TestDaemon>(dir, group);
		ASSERT_EQ(d->start_rc, 0);
	}
	ProcResult vpnctl(std::vector<std::string> args, uid_t uid = 0,
			  std::function<void(pid_t, const std::string &)> on_out = nullptr)
	{
		std::vector<std::string> argv = { bin, "--socket", d ? d->sock : dir + "/none.sock" };
		argv.insert(argv.end(), args.begin(), args.end());
		return run_proc(argv, uid, kNogroup, on_out);
	}
	std::vector<std::string> downs()
	{
		std::vector<std::string> v;
		d->on_loop([&] { v = d->ops.downs; });
		return v;
	}

	std::string bin, dir;
	LogCapture log;
	std::unique_ptr<TestDaemon> d;
};

TEST_F(Vpnctl, UpPrintsProgressAndSucceeds)
{
	start();
	ProcResult r = vpnctl({ "up", "fast" });
	EXPECT_EQ(r.exit_code, 0) << r.err;
	EXPECT_EQ(r.out, "[resolving] gw.example\n"
			 "[IKE_SA_INIT] 203.0.113.5:500\n"
			 "[authenticating] psk\n"
			 "[configuring] 10.10.0.2\n"
			 "fast: connected\n");
	EXPECT_EQ(r.err, "");
}

TEST_F(Vpnctl, UpFailureIsOneClearLine)
{
	start();
	ProcResult r = vpnctl({ "up", "badauth" });
	EXPECT_EQ(r.exit_code, CLI_EXIT_AUTH);
	EXPECT_EQ(r.out, "[resolving] gw.example\n[IKE_SA_INIT]\n");
	EXPECT_EQ(r.err, "vpnctl: up badauth: authentication failed: the gateway refused our "
			 "pre-shared key\n");

	r = vpnctl({ "up", "nosuch" });
	EXPECT_EQ(r.exit_code, CLI_EXIT_PROFILE);
	EXPECT_EQ(r.err, "vpnctl: up nosuch: no profile 'nosuch'\n");
}

TEST_F(Vpnctl, UpShowsWarnings)
{
	start();
	ProcResult r = vpnctl({ "up", "warn" });
	EXPECT_EQ(r.exit_code, 0);
	EXPECT_EQ(r.err, "warning: /etc/vpnctl/profiles/warn.conf holds a secret and is readable "
			 "by others than root\n");
	EXPECT_EQ(r.out, "warn: connected\n");
}

TEST_F(Vpnctl, StatusHumanOutput)
{
	start();
	ProcResult r = vpnctl({ "status" });
	EXPECT_EQ(r.exit_code, 0) << r.err;
	// The daemon computed `since` a moment ago: allow the seconds to move.
	std::string out = r.out;
	const std::string home = "home: disconnected for 3m ";
	size_t at = out.find(home);
	ASSERT_NE(at, std::string::npos) << out;
	int secs = std::atoi(out.c_str() + at + home.size());
	EXPECT_TRUE(secs >= 12 && secs <= 19) << out;
	out.replace(at + home.size(), 2, "SS");
	EXPECT_EQ(out, kWorkBlock + "\nhome: disconnected for 3m SSs\n" + kHomeTail);

	ProcResult bare = run_proc({ bin, "--socket", d->sock });
	EXPECT_EQ(bare.exit_code, 0);
	EXPECT_EQ(bare.out.substr(0, 200), r.out.substr(0, 200)) << "bare vpnctl shows status";

	r = vpnctl({ "status", "nosuch" });
	EXPECT_EQ(r.exit_code, CLI_EXIT_PROFILE);
	EXPECT_EQ(r.err, "vpnctl: status nosuch: no profile 'nosuch'\n");
}

TEST_F(Vpnctl, StatusJsonPassesTheDaemonsObjects)
{
	start();
	ProcResult r = vpnctl({ "status", "--json" });
	ASSERT_EQ(r.exit_code, 0) << r.err;
	json_error_t e;
	json_t *arr = json_loads(r.out.c_str(), 0, &e);
	ASSERT_TRUE(json_is_array(arr)) << r.out;
	ASSERT_EQ(json_array_size(arr), 2u);
	json_t *w = json_array_get(arr, 0);
	EXPECT_STREQ(json_string_value(json_object_get(w, "state")), "connected");
	EXPECT_STREQ(json_string_value(json_object_get(w, "remote")), "203.0.113.5:4500");
	EXPECT_EQ(json_integer_value(json_object_get(w, "bytes_in")), 12897485);
	EXPECT_TRUE(json_is_true(json_object_get(w, "nat")));
	EXPECT_EQ(json_array_size(json_object_get(w, "dns")), 2u);
	EXPECT_EQ(json_object_size(w), 22u);
	json_decref(arr);
	EXPECT_NE(r.out.find("\n  {"), std::string::npos) << "pretty-printed";

	r = vpnctl({ "--json", "status", "home" });
	ASSERT_EQ(r.exit_code, 0) << r.err;
	json_t *obj = json_loads(r.out.c_str(), 0, &e);
	ASSERT_TRUE(json_is_object(obj)) << r.out;
	EXPECT_STREQ(json_string_value(json_object_get(obj, "name")), "home");
	EXPECT_TRUE(json_is_null(json_object_get(obj, "transport")));
	json_decref(obj);
}

TEST_F(Vpnctl, ListAndDown)
{
	start();
	ProcResult r = vpnctl({ "list" });
	EXPECT_EQ(r.exit_code, 0);
	EXPECT_EQ(r.out, "work  connected\nhome  disconnected\n");
	r = vpnctl({ "list", "--json" });
	EXPECT_EQ(r.exit_code, 0);
	EXPECT_NE(r.out.find("\"name\": \"work\""), std::string::npos) << r.out;

	r = vpnctl({ "down", "work" });
	EXPECT_EQ(r.exit_code, 0);
	EXPECT_EQ(r.out, "work: disconnected\n");
	r = vpnctl({ "down" });
	EXPECT_EQ(r.exit_code, 0);
	EXPECT_EQ(r.out, "all profiles: disconnected\n");
	EXPECT_EQ(downs(), (std::vector<std::string>{ "work", "*" }));
}

TEST_F(Vpnctl, NoDaemon)
{
	ProcResult r = vpnctl({ "status" });
	EXPECT_EQ(r.exit_code, CLI_EXIT_NO_DAEMON);
	EXPECT_EQ(r.err, "vpnctl: vpnd is not running (nothing listens on " + dir + "/none.sock)\n");
}

TEST_F(Vpnctl, TimeoutCancelsTheUp)
{
	start();
	ProcResult r = vpnctl({ "--timeout", "1", "up", "hang" });
	EXPECT_EQ(r.exit_code, CLI_EXIT_TIMEOUT);
	EXPECT_EQ(r.out, "[resolving] gw.example\n");
	EXPECT_EQ(r.err, "vpnctl: up hang: no result within 1 s (last step: resolving); cancelling\n");
	EXPECT_EQ(downs(), std::vector<std::string>{ "hang" });
}

TEST_F(Vpnctl, InterruptCancelsTheUp)
{
	start();
	bool sent = false;
	ProcResult r = vpnctl({ "up", "hang" }, 0, [&](pid_t pid, const std::string &out) {
		if (!sent && out.find("[resolving]") != std::string::npos) {
			kill(pid, SIGINT);
			sent = true;
		}
	});
	EXPECT_TRUE(sent);
	EXPECT_EQ(r.exit_code, CLI_EXIT_CANCELLED);
	EXPECT_EQ(r.err, "vpnctl: up hang: interrupted; cancelling\n");
	EXPECT_EQ(downs(), std::vector<std::string>{ "hang" });
}

TEST_F(Vpnctl, NonMemberIsDeniedUpButReadsStatus)
{
	start();
	ASSERT_EQ(chmod(d->sock.c_str(), 0666), 0); // let nobody reach the check
	ProcResult r = vpnctl({ "up", "fast" }, kNobody);
	EXPECT_EQ(r.exit_code, CLI_EXIT_PERMISSION);
	EXPECT_EQ(r.err, "vpnctl: up fast: permission denied (join the group vpn)\n");
	EXPECT_EQ(r.out, "");
	r = vpnctl({ "down", "work" }, kNobody);
	EXPECT_EQ(r.exit_code, CLI_EXIT_PERMISSION);
	r = vpnctl({ "status", "work" }, kNobody);
	EXPECT_EQ(r.exit_code, 0) << r.err;
	EXPECT_EQ(r.out.substr(0, 27), "work: connected for 1h 02m\n");
	EXPECT_TRUE(downs().empty());
}

TEST_F(Vpnctl, SocketPermissionDenied)
{
	start("ctl-test-no-such-group"); // socket stays 0600
	ProcResult r = vpnctl({ "status" }, kNobody);
	EXPECT_EQ(r.exit_code, CLI_EXIT_PERMISSION);
	EXPECT_EQ(r.err, "vpnctl: permission denied on " + d->sock + " (join the group vpn)\n");
}

TEST_F(Vpnctl, GroupMemberMayUp)
{
	start("nogroup");
	ProcResult r = vpnctl({ "up", "fast" }, kNobody);
	EXPECT_EQ(r.exit_code, 0) << r.err;
	EXPECT_EQ(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1), "fast: connected\n");
}

TEST_F(Vpnctl, UsageErrors)
{
	const std::vector<std::vector<std::string>> bad = {
		{ "up" },           { "up", "a", "b" },  { "frobnicate" }, { "up", "../etc" },
		{ "list", "x" },    { "--timeout", "0" }, { "--timeout", "x1" }, { "--bogus" },
		{ "status", "a", "b" },
	};
	for (const auto &args : bad) {
		ProcResult r = vpnctl(args);
		EXPECT_EQ(r.exit_code, CLI_EXIT_USAGE) << args[0];
		EXPECT_NE(r.err.find("Try 'vpnctl --help'."), std::string::npos) << r.err;
	}
	ProcResult h = vpnctl({ "--help" });
	EXPECT_EQ(h.exit_code, 0);
	EXPECT_NE(h.out.find("Exit status:"), std::string::npos);
	EXPECT_NE(h.out.find("  10  timed out (--timeout)"), std::string::npos);
	EXPECT_NE(h.out.find("--timeout SECS"), std::string::npos);
	ProcResult v = vpnctl({ "--version" });
	EXPECT_EQ(v.exit_code, 0);
	EXPECT_EQ(v.out.rfind("vpnctl ", 0), 0u);
}

// A "vpnd" that answers badly: one connection, scripted reply, then close.
class FakeVpnd {
public:
	FakeVpnd(const std::string &path, std::string reply) : reply_(std::move(reply))
	{
		fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_un sa = {};
		sa.sun_family = AF_UNIX;
		std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
		ok = bind(fd_, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0 &&
		     listen(fd_, 1) == 0;
		th_ = std::thread([this] {
			int c = accept(fd_, nullptr, nullptr);
			if (c < 0)
				return;
			char buf[4096];
			ssize_t n = read(c, buf, sizeof(buf)); // the request
			(void)n;
			n = write(c, reply_.data(), reply_.size());
			(void)n;
			close(c);
		});
	}
	~FakeVpnd()
	{
		shutdown(fd_, SHUT_RDWR);
		th_.join();
		close(fd_);
	}
	bool ok = false;

private:
	int fd_;
	std::string reply_;
	std::thread th_;
};

TEST_F(Vpnctl, BadRepliesFromTheDaemon)
{
	std::string sock = dir + "/none.sock";
	{
		FakeVpnd f(sock, "this is not json\n");
		ASSERT_TRUE(f.ok);
		ProcResult r = vpnctl({ "status" });
		EXPECT_EQ(r.exit_code, CLI_EXIT_FAILED);
		EXPECT_EQ(r.err.rfind("vpnctl: unexpected reply from vpnd: malformed JSON", 0), 0u) << r.err;
	}
	unlink(sock.c_str());
	{
		FakeVpnd f(sock, "{\"event\":\"progress\",\"step\":\"resolving\",\"detail\":\"gw\"}\n");
		ASSERT_TRUE(f.ok);
		ProcResult r = vpnctl({ "up", "work" });
		EXPECT_EQ(r.exit_code, CLI_EXIT_FAILED);
		EXPECT_EQ(r.out, "[resolving] gw\n");
		EXPECT_EQ(r.err, "vpnctl: up work: vpnd closed the connection\n");
	}
	unlink(sock.c_str());
	{
		// A control character in the daemon's text never reaches the terminal.
		FakeVpnd f(sock, "{\"ok\":false,\"code\":\"auth_failed\",\"error\":\"bad\\u001b[2Jpsk\"}\n");
		ASSERT_TRUE(f.ok);
		ProcResult r = vpnctl({ "up", "work" });
		EXPECT_EQ(r.exit_code, CLI_EXIT_AUTH);
		EXPECT_EQ(r.err, "vpnctl: up work: bad [2Jpsk\n");
	}
}

} // namespace
