// The control server end to end: a real unix socket in a temp dir, a uv loop
// on its own thread, the scripted ops of test_ctl_harness.h, raw clients.
#include "test_ctl_harness.h"

#include <fstream>

using namespace ctltest;

namespace {

class CtlServer : public ::testing::Test {
protected:
	void SetUp() override
	{
		dir = make_tmpdir();
		ASSERT_FALSE(dir.empty());
	}
	void TearDown() override
	{
		d.reset();
		std::filesystem::remove_all(dir);
	}
	TestDaemon &start(const char *group = nullptr, unsigned max_conns = 0,
			  unsigned timeout_ms = 0)
	{
		d = std::make_unique<TestDaemon>(dir, group, max_conns, timeout_ms);
		EXPECT_EQ(d->start_rc, 0);
		return *d;
	}
	std::string dir;
	LogCapture log;
	std::unique_ptr<TestDaemon> d;
};

std::string req(const char *op, const char *name = nullptr)
{
	ctl_request r = {};
	for (int i = CTL_OP_UP; i <= CTL_OP_LIST; i++)
		if (std::strcmp(ctl_op_name(static_cast<ctl_op>(i)), op) == 0)
			r.op = static_cast<ctl_op>(i);
	if (name) {
		r.has_name = true;
		std::snprintf(r.name, sizeof(r.name), "%s", name);
	}
	char *l = ctl_request_encode(&r);
	std::string s = l;
	free(l);
	s.pop_back(); // callers frame it themselves
	return s;
}

TEST_F(CtlServer, SocketIsGroupReadableWhenTheGroupExists)
{
	start("nogroup");
	struct stat st;
	ASSERT_EQ(lstat(d->sock.c_str(), &st), 0);
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0660u);
	EXPECT_EQ(st.st_gid, kNogroup);
	EXPECT_EQ(st.st_uid, 0u);
	EXPECT_TRUE(log.contains("ctl: listening on " + d->sock + " (group nogroup, mode 0660)"));
}

TEST_F(CtlServer, SocketStaysRootOnlyWithoutTheGroup)
{
	start("ctl-test-no-such-group");
	struct stat st;
	ASSERT_EQ(lstat(d->sock.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0600u);
	EXPECT_TRUE(log.contains("group ctl-test-no-such-group does not exist: " + d->sock +
				 " stays root-only (0600)"));
	d->stop();
	EXPECT_NE(access(d->sock.c_str(), F_OK), 0) << "stop removes the socket";
}

TEST_F(CtlServer, StaleSocketIsReplaced)
{
	std::filesystem::create_directories(dir + "/run");
	std::string path = dir + "/run/vpnd.sock";
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	sockaddr_un sa = {};
	sa.sun_family = AF_UNIX;
	std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
	ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
	close(fd); // bound, never listened: what a crashed vpnd leaves behind
	start();
	EXPECT_TRUE(log.contains("removing stale socket " + path));
	RawClient c(d->sock);
	ASSERT_TRUE(c.connected);
	ASSERT_TRUE(c.send_raw(req("list") + "\n"));
	EXPECT_TRUE(decode(c.read_line()).ok);
}

TEST_F(CtlServer, RefusesToReplaceAFileOrALiveServer)
{
	std::filesystem::create_directories(dir + "/run");
	std::string path = dir + "/run/vpnd.sock";
	{
		std::ofstream(path) << "not a socket";
	}
	TestDaemon refused(dir);
	EXPECT_EQ(refused.start_rc, -EEXIST);
	EXPECT_TRUE(std::filesystem::is_regular_file(path)) << "the file is left alone";
	refused.stop();
	std::filesystem::remove(path);

	start();
	TestDaemon second(dir);
	EXPECT_EQ(second.start_rc, -EADDRINUSE);
	second.stop();
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("list") + "\n"));
	EXPECT_TRUE(decode(c.read_line()).ok) << "the first server still answers";
}

TEST_F(CtlServer, UpSendsProgressThenOk)
{
	start();
	RawClient c(d->sock);
	ASSERT_TRUE(c.connected);
	ASSERT_TRUE(c.send_raw(req("up", "fast") + "\n"));
	const char *steps[] = { "resolving", "IKE_SA_INIT", "authenticating", "configuring" };
	const char *details[] = { "gw.example", "203.0.113.5:500", "psk", "10.10.0.2" };
	for (int i = 0; i < 4; i++) {
		Msg m = decode(c.read_line());
		EXPECT_EQ(m.kind, CTL_MSG_PROGRESS);
		EXPECT_STREQ(m.step, steps[i]);
		EXPECT_STREQ(m.detail, details[i]);
	}
	std::string last = c.read_line();
	EXPECT_EQ(last, R"({"ok":true})");
	EXPECT_TRUE(log.contains("ctl: uid 0 pid " + std::to_string(getpid()) + ": up fast"));
}

TEST_F(CtlServer, UpFailureCarriesCodeAndOneLine)
{
	start();
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("up", "badauth") + "\n"));
	EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	Msg m = decode(c.read_line());
	EXPECT_EQ(m.kind, CTL_MSG_RESULT);
	EXPECT_FALSE(m.ok);
	EXPECT_EQ(m.code, CTL_ERR_AUTH_FAILED);
	EXPECT_STREQ(m.error, "authentication failed: the gateway refused our pre-shared key");
}

TEST_F(CtlServer, SequentialRequestsOnOneConnection)
{
	start();
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("status") + "\n"));
	Msg m = decode(c.read_line());
	ASSERT_TRUE(m.ok);
	ASSERT_EQ(json_array_size(m.status), 2u);
	EXPECT_STREQ(json_string_value(json_object_get(json_array_get(m.status, 0), "name")), "work");
	EXPECT_EQ(json_integer_value(json_object_get(json_array_get(m.status, 0), "duration")), 3723);
	ctl_msg_clear(&m);

	// Two requests in one write: the first finishes synchronously, so the
	// second is not "early".
	ASSERT_TRUE(c.send_raw(req("status", "home") + "\n" + req("list") + "\n"));
	m = decode(c.read_line());
	ASSERT_EQ(json_array_size(m.status), 1u);
	EXPECT_STREQ(json_string_value(json_object_get(json_array_get(m.status, 0), "state")),
		     "disconnected");
	ctl_msg_clear(&m);
	EXPECT_EQ(c.read_line(),
		  R"({"ok":true,"profiles":[{"name":"work","state":"connected"},{"name":"home","state":"disconnected"}]})");

	ASSERT_TRUE(c.send_raw(req("status", "nope") + "\n"));
	m = decode(c.read_line());
	EXPECT_FALSE(m.ok);
	EXPECT_EQ(m.code, CTL_ERR_NO_PROFILE);
}

TEST_F(CtlServer, RequestAtExactlyTheLimitIsServed)
{
	start();
	RawClient c(d->sock);
	std::string line = req("list");
	line += std::string(CTL_REQUEST_MAX - line.size(), ' ');
	ASSERT_TRUE(c.send_raw(line + "\n"));
	EXPECT_TRUE(decode(c.read_line()).ok);
}

TEST_F(CtlServer, MalformedLineClosesOnlyThatConnection)
{
	start();
	RawClient good(d->sock), bad(d->sock);
	ASSERT_TRUE(good.connected && bad.connected);
	ASSERT_TRUE(bad.send_raw("{\"op\": \"up\", \"name\": \n"));
	Msg m = decode(bad.read_line());
	EXPECT_FALSE(m.ok);
	EXPECT_EQ(m.code, CTL_ERR_PROTOCOL);
	EXPECT_NE(std::string(m.error).find("bad request: malformed JSON"), std::string::npos)
		<< m.error;
	EXPECT_TRUE(bad.wait_eof());
	EXPECT_TRUE(log.wait_for("bad request: malformed JSON"));
	EXPECT_TRUE(log.contains("; closing the connection"));

	ASSERT_TRUE(good.send_raw(req("list") + "\n"));
	EXPECT_TRUE(decode(good.read_line()).ok);
	EXPECT_TRUE(d->wait_conn_count(1));
}

TEST_F(CtlServer, WrongTypesAndUnknownOpsClose)
{
	start();
	for (const char *line : { R"({"op":"reboot"})", R"({"op":"up","name":["x"]})",
				  R"({"op":"status","extra":1})", R"([1,2,3])" }) {
		RawClient c(d->sock);
		ASSERT_TRUE(c.send_raw(std::string(line) + "\n"));
		Msg m = decode(c.read_line());
		EXPECT_EQ(m.code, CTL_ERR_PROTOCOL) << line;
		EXPECT_TRUE(c.wait_eof()) << line;
	}
	EXPECT_TRUE(d->wait_conn_count(0));
}

TEST_F(CtlServer, OversizedRequestClosesThatConnection)
{
	start();
	RawClient other(d->sock), big(d->sock);
	// One byte over: no newline within CTL_REQUEST_MAX + 1 bytes.
	ASSERT_TRUE(big.send_raw(std::string(CTL_REQUEST_MAX + 1, 'x')));
	Msg m = decode(big.read_line());
	EXPECT_EQ(m.code, CTL_ERR_PROTOCOL);
	EXPECT_STREQ(m.error, "request longer than 65536 bytes");
	EXPECT_TRUE(big.wait_eof());
	EXPECT_TRUE(log.wait_for("request longer than 65536 bytes; closing the connection"));
	ASSERT_TRUE(other.send_raw(req("status") + "\n"));
	EXPECT_TRUE(decode(other.read_line()).ok);
}

TEST_F(CtlServer, TruncatedRequestIsLoggedAndDropped)
{
	start();
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(R"({"op":"up","na)"));
	shutdown(c.fd, SHUT_WR);
	EXPECT_TRUE(c.wait_eof());
	EXPECT_TRUE(log.wait_for("connection closed in the middle of a request (14 bytes without a newline)"));
	bool upped = false;
	d->on_loop([&] { upped = !d->ops.ups.empty(); });
	EXPECT_FALSE(upped) << "nothing happened";
}

TEST_F(CtlServer, SlowClientIsCutAfterTheRequestTimeout)
{
	start(nullptr, 0, 200);
	RawClient silent(d->sock), partial(d->sock);
	ASSERT_TRUE(partial.send_raw(R"({"op":)"));
	EXPECT_TRUE(silent.wait_eof(3000));
	EXPECT_TRUE(partial.wait_eof(3000));
	EXPECT_TRUE(log.contains("no complete request within 200 ms; closing"));
	RawClient fresh(d->sock);
	ASSERT_TRUE(fresh.send_raw(req("list") + "\n"));
	EXPECT_TRUE(decode(fresh.read_line()).ok);
}

TEST_F(CtlServer, NoDeadlineWhileACallRuns)
{
	start(nullptr, 0, 200);
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("up", "slow") + "\n"));
	EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	ASSERT_TRUE(d->wait_held("slow"));
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	d->on_loop([&] {
		ctl_call_ok(d->ops.held["slow"]);
		d->ops.held.erase("slow");
	});
	EXPECT_EQ(c.read_line(), R"({"ok":true})") << "the call outlived the request timeout";
}

TEST_F(CtlServer, RequestBeforeThePreviousFinishedIsAProtocolError)
{
	start();
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("up", "slow") + "\n" + req("status") + "\n"));
	EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	Msg m = decode(c.read_line());
	EXPECT_EQ(m.code, CTL_ERR_PROTOCOL);
	EXPECT_STREQ(m.error, "request sent before the previous one finished");
	EXPECT_TRUE(c.wait_eof());
	bool gone = false;
	ASSERT_TRUE(d->wait_held("slow"));
	d->on_loop([&] {
		gone = ctl_call_client_gone(d->ops.held["slow"]);
		ctl_call_ok(d->ops.held["slow"]);
		d->ops.held.erase("slow");
	});
	EXPECT_TRUE(gone);
}

TEST_F(CtlServer, ClientHangingUpMidUpLeavesACallSafeToFinish)
{
	start();
	{
		RawClient c(d->sock);
		ASSERT_TRUE(c.send_raw(req("up", "slow") + "\n"));
		EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	} // hang up
	ASSERT_TRUE(d->wait_conn_count(0));
	EXPECT_TRUE(log.wait_for("client went away during up slow; the up continues"));
	bool gone = false;
	ctl_op op = CTL_OP_LIST;
	d->on_loop([&] {
		ctl_call *call = d->ops.held["slow"];
		gone = ctl_call_client_gone(call);
		op = ctl_call_op(call);
		// The session layer keeps going: more progress, then the end.
		ctl_call_progress(call, CTL_STEP_AUTHENTICATING, "psk");
		ctl_call_warning(call, "nobody hears this");
		ctl_call_ok(call);
		d->ops.held.erase("slow");
	});
	EXPECT_TRUE(gone);
	EXPECT_EQ(op, CTL_OP_UP);
	RawClient next(d->sock);
	ASSERT_TRUE(next.send_raw(req("list") + "\n"));
	EXPECT_TRUE(decode(next.read_line()).ok) << "the daemon is unaffected";
}

TEST_F(CtlServer, StoppingWithACallInFlight)
{
	start();
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("up", "hang") + "\n"));
	EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	ASSERT_TRUE(d->wait_held("hang"));
	// stop() closes everything, then finishes the orphaned call after the
	// loop ended: that must be harmless (ASan checks the memory).
	d->stop();
	EXPECT_TRUE(c.wait_eof());
}

TEST_F(CtlServer, DownCancelsAPendingUp)
{
	start();
	RawClient a(d->sock), b(d->sock);
	ASSERT_TRUE(a.send_raw(req("up", "hang") + "\n"));
	EXPECT_EQ(decode(a.read_line()).kind, CTL_MSG_PROGRESS);
	ASSERT_TRUE(d->wait_held("hang"));
	ASSERT_TRUE(b.send_raw(req("down", "hang") + "\n"));
	EXPECT_EQ(b.read_line(), R"({"ok":true})");
	Msg m = decode(a.read_line());
	EXPECT_EQ(m.code, CTL_ERR_CANCELLED);
}

TEST_F(CtlServer, TooManyConnectionsAreTurnedAway)
{
	start(nullptr, 2);
	RawClient a(d->sock), b(d->sock);
	ASSERT_TRUE(d->wait_conn_count(2));
	RawClient c(d->sock);
	Msg m = decode(c.read_line());
	EXPECT_EQ(m.code, CTL_ERR_BUSY);
	EXPECT_STREQ(m.error, "too many control connections (2)");
	EXPECT_TRUE(c.wait_eof());
	ASSERT_TRUE(a.send_raw(req("list") + "\n"));
	EXPECT_TRUE(decode(a.read_line()).ok);
}

// Run a conversation as nobody (uid 65534, gid `gid`, no supplementary
// groups) in a forked child; returns the reply line to each request.
std::vector<std::string> as_nobody(const std::string &path, const std::vector<std::string> &reqs,
				   gid_t gid = kNogroup)
{
	int p[2];
	if (pipe(p) != 0)
		return {};
	sockaddr_un sa = {};
	sa.sun_family = AF_UNIX;
	std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
	std::vector<std::string> lines;
	for (const auto &r : reqs)
		lines.push_back(r + "\n");

	pid_t pid = fork();
	if (pid == 0) {
		// Async-signal-safe calls only: the parent has other threads.
		static char buf[CTL_RESPONSE_MAX];
		close(p[0]);
		alarm(10);
		if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(kNobody) != 0)
			_exit(126);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0) {
			static const char msg[] = "connect failed\n";
			ssize_t w = write(p[1], msg, sizeof(msg) - 1);
			(void)w;
			_exit(1);
		}
		for (const auto &l : lines) {
			if (write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
				_exit(2);
			size_t n = 0;
			while (n == 0 || buf[n - 1] != '\n') {
				ssize_t r = read(fd, buf + n, 1);
				if (r <= 0)
					_exit(3);
				n += static_cast<size_t>(r);
			}
			if (write(p[1], buf, n) != static_cast<ssize_t>(n))
				_exit(4);
		}
		_exit(0);
	}
	close(p[1]);
	std::string all;
	char tmp[4096];
	ssize_t n;
	while ((n = read(p[0], tmp, sizeof(tmp))) > 0)
		all.append(tmp, static_cast<size_t>(n));
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
	std::vector<std::string> out;
	size_t pos;
	while ((pos = all.find('\n')) != std::string::npos) {
		out.push_back(all.substr(0, pos));
		all.erase(0, pos + 1);
	}
	return out;
}

TEST_F(CtlServer, NonMemberMayReadStatusButNotControl)
{
	start(); // group "vpn": nobody is not in it (and here it may not exist)
	// The 0600/0660 socket would keep nobody out entirely; open it up so
	// the per-request credential check is what stands in the way.
	ASSERT_EQ(chmod(d->sock.c_str(), 0666), 0);
	auto replies = as_nobody(d->sock, { req("up", "fast"), req("down", "fast"), req("status") });
	ASSERT_EQ(replies.size(), 3u);
	for (int i = 0; i < 2; i++) {
		Msg m = decode(replies[i]);
		EXPECT_FALSE(m.ok);
		EXPECT_EQ(m.code, CTL_ERR_PERMISSION);
		EXPECT_STREQ(m.error, "permission denied (join the group vpn)");
	}
	Msg st = decode(replies[2]);
	EXPECT_TRUE(st.ok);
	EXPECT_EQ(json_array_size(st.status), 2u);
	ctl_msg_clear(&st);
	std::vector<std::string> ups, downs;
	d->on_loop([&] {
		ups = d->ops.ups;
		downs = d->ops.downs;
	});
	EXPECT_TRUE(ups.empty()) << "nothing happens";
	EXPECT_TRUE(downs.empty());
	EXPECT_TRUE(log.wait_for("uid 65534 pid "));
	EXPECT_TRUE(log.contains(": up refused: not root and not in group vpn"));
}

TEST_F(CtlServer, GroupMemberMayControl)
{
	start("nogroup"); // nobody's primary group
	auto replies = as_nobody(d->sock, { req("up", "fast") });
	ASSERT_EQ(replies.size(), 1u);
	EXPECT_EQ(decode(replies[0]).kind, CTL_MSG_PROGRESS);
	std::vector<std::string> ups;
	d->on_loop([&] { ups = d->ops.ups; });
	EXPECT_EQ(ups, std::vector<std::string>{ "fast" });
}

TEST_F(CtlServer, GroupMembershipFromTheDatabaseCounts)
{
	// nobody with a primary gid other than nogroup still belongs to nogroup
	// through the passwd entry, which getgrouplist() reports.
	start("nogroup");
	ASSERT_EQ(chmod(d->sock.c_str(), 0666), 0); // gid 1 alone could not connect
	auto replies = as_nobody(d->sock, { req("down") }, 1 /* daemon */);
	ASSERT_EQ(replies.size(), 1u);
	EXPECT_EQ(replies[0], R"({"ok":true})");
}

TEST_F(CtlServer, FinishersRefuseTheWrongOp)
{
	start();
	// A daemon bug (ok for a status call) becomes an internal error reply,
	// never a malformed answer.
	RawClient c(d->sock);
	ASSERT_TRUE(c.send_raw(req("up", "slow") + "\n"));
	EXPECT_EQ(decode(c.read_line()).kind, CTL_MSG_PROGRESS);
	ASSERT_TRUE(d->wait_held("slow"));
	d->on_loop([&] {
		ctl_status none = {};
		ctl_call_reply_status(d->ops.held["slow"], &none, 1);
		d->ops.held.erase("slow");
	});
	Msg m = decode(c.read_line());
	EXPECT_EQ(m.code, CTL_ERR_INTERNAL);
	EXPECT_TRUE(log.contains("ctl_call_reply_status used to finish a up call"));
}

} // namespace
