// Shared by test_ctl_server.cc and test_ctl_cli.cc: a control server on its
// own libuv loop thread with a scripted ops table, raw socket clients, and
// a subprocess runner (optionally as the unprivileged user nobody).
//
// Everything created lives under a mkdtemp() directory named /tmp/ctl-test-*
// and is removed by the destructor, also when a test fails.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <uv.h>

#include "client/daemon/ctl_proto.h"
#include "client/daemon/ctl_server.h"
#include "client/util/log.h"

namespace ctltest {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Log lines from every thread, for tests that check "closed with a log line".
class LogCapture {
public:
	LogCapture() { vlog_set_sink(&LogCapture::sink, this); }
	~LogCapture() { vlog_set_sink(nullptr, nullptr); }
	std::vector<std::string> lines()
	{
		std::lock_guard<std::mutex> g(m_);
		return lines_;
	}
	bool contains(const std::string &needle)
	{
		for (const auto &l : lines())
			if (l.find(needle) != std::string::npos)
				return true;
		return false;
	}
	// Wait for a line: the server logs from its own thread.
	bool wait_for(const std::string &needle, int ms = 3000)
	{
		for (int i = 0; i < ms / 10; i++) {
			if (contains(needle))
				return true;
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		return contains(needle);
	}

private:
	static void sink(int level, const char *module, const char *msg, void *arg)
	{
		auto *self = static_cast<LogCapture *>(arg);
		std::lock_guard<std::mutex> g(self->m_);
		self->lines_.push_back(std::string(module) + ": " + msg);
		(void)level;
	}
	std::mutex m_;
	std::vector<std::string> lines_;
};

inline std::string make_tmpdir()
{
	char tmpl[] = "/tmp/ctl-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	if (!d)
		return "";
	// nobody must be able to reach the socket inside.
	chmod(d, 0755);
	return d;
}

// The scripted daemon side. Runs on the loop thread only.
struct TestOps {
	uv_loop_t *loop = nullptr;
	std::vector<std::string> ups, downs;
	std::map<std::string, ctl_call *> held;
	std::vector<ctl_status> statuses;

	static TestOps *of(void *ctx) { return static_cast<TestOps *>(ctx); }

	struct Stepper {
		uv_timer_t timer;
		ctl_call *call;
		int step;
	};

	static void step_tick(uv_timer_t *t)
	{
		auto *s = static_cast<Stepper *>(t->data);
		static const struct {
			ctl_step step;
			const char *detail;
		} script[] = {
			{ CTL_STEP_RESOLVING, "gw.example" },
			{ CTL_STEP_IKE_SA_INIT, "203.0.113.5:500" },
			{ CTL_STEP_AUTHENTICATING, "psk" },
			{ CTL_STEP_CONFIGURING, "10.10.0.2" },
		};
		if (s->step < 4) {
			ctl_call_progress(s->call, script[s->step].step, "%s", script[s->step].detail);
			s->step++;
			return;
		}
		ctl_call_ok(s->call);
		uv_timer_stop(t);
		uv_close(reinterpret_cast<uv_handle_t *>(t),
			 [](uv_handle_t *h) { delete static_cast<Stepper *>(h->data); });
	}

	static void up(void *ctx, const char *name, ctl_call *call)
	{
		TestOps *self = of(ctx);
		std::string n = name;
		self->ups.push_back(n);
		if (n == "fast") {
			auto *s = new Stepper();
			s->call = call;
			uv_timer_init(self->loop, &s->timer);
			s->timer.data = s;
			uv_timer_start(&s->timer, step_tick, 5, 5);
		} else if (n == "badauth") {
			ctl_call_progress(call, CTL_STEP_RESOLVING, "gw.example");
			ctl_call_progress(call, CTL_STEP_IKE_SA_INIT, nullptr);
			ctl_call_fail(call, CTL_ERR_AUTH_FAILED,
				      "authentication failed: the gateway refused our pre-shared key");
		} else if (n == "warn") {
			ctl_call_warning(call, "/etc/vpnctl/profiles/warn.conf holds a secret and is readable by others than root");
			ctl_call_ok(call);
		} else if (n == "slow" || n == "hang") {
			ctl_call_progress(call, CTL_STEP_RESOLVING, "gw.example");
			self->held[n] = call;
		} else {
			ctl_call_fail(call, CTL_ERR_NO_PROFILE, "no profile '%s'", name);
		}
	}

	static void down(void *ctx, const char *name, ctl_call *call)
	{
		TestOps *self = of(ctx);
		self->downs.push_back(name ? name : "*");
		if (name) {
			auto it = self->held.find(name);
			if (it != self->held.end()) {
				ctl_call_fail(it->second, CTL_ERR_CANCELLED, "cancelled by down");
				self->held.erase(it);
			}
		}
		ctl_call_ok(call);
	}

	static void status(void *ctx, const char *name, ctl_call *call)
	{
		TestOps *self = of(ctx);
		if (!name) {
			ctl_call_reply_status(call, self->statuses.data(), self->statuses.size());
			return;
		}
		for (const auto &st : self->statuses) {
			if (std::strcmp(st.name, name) == 0) {
				ctl_call_reply_status(call, &st, 1);
				return;
			}
		}
		ctl_call_fail(call, CTL_ERR_NO_PROFILE, "no profile '%s'", name);
	}

	static void list(void *ctx, ctl_call *call)
	{
		TestOps *self = of(ctx);
		std::vector<ctl_list_entry> e(self->statuses.size());
		for (size_t i = 0; i < e.size(); i++) {
			std::snprintf(e[i].name, sizeof(e[i].name), "%s", self->statuses[i].name);
			e[i].state = self->statuses[i].state;
		}
		ctl_call_reply_list(call, e.data(), e.size());
	}

	static const ctl_ops *table()
	{
		static const ctl_ops ops = { up, down, status, list };
		return &ops;
	}
};

inline std::vector<ctl_status> sample_statuses(time_t now)
{
	std::vector<ctl_status> v(2);
	ctl_status &w = v[0], &h = v[1];
	std::memset(&w, 0, sizeof(w));
	std::memset(&h, 0, sizeof(h));
	std::strcpy(w.name, "work");
	w.state = CTL_STATE_CONNECTED;
	std::strcpy(w.gateway, "vpn.example.com");
	w.transport = CTL_TRANSPORT_UDP;
	std::strcpy(w.interface, "wlan0");
	std::strcpy(w.local, "192.168.1.10:4500");
	std::strcpy(w.remote, "203.0.113.5:4500");
	w.nat = true;
	w.mobike = true;
	std::strcpy(w.virtual_ip, "10.10.0.2");
	std::strcpy(w.dns[0], "10.10.0.1");
	std::strcpy(w.dns[1], "10.10.0.53");
	w.n_dns = 2;
	std::strcpy(w.ike, "aes256gcm16-prfsha256-x25519");
	std::strcpy(w.esp, "aes256gcm16");
	w.bytes_in = 12897485; // 12.3 MiB
	w.bytes_out = 1288490; // 1.2 MiB
	w.packets_in = 10432;
	w.packets_out = 5012;
	w.since = now - 3723; // 1h 02m
	w.established_at = w.since;

	std::strcpy(h.name, "home");
	h.state = CTL_STATE_DISCONNECTED;
	std::strcpy(h.gateway, "home.example.net");
	std::strcpy(h.last_error, "authentication failed: the gateway refused our pre-shared key");
	h.since = now - 192; // 3m 12s
	return v;
}

// A ctl_server on its own loop thread.
class TestDaemon {
public:
	explicit TestDaemon(const std::string &dir, const char *group = nullptr,
			    unsigned max_conns = 0, unsigned request_timeout_ms = 0)
	{
		sock = dir + "/run/vpnd.sock";
		uv_loop_init(&loop_);
		uv_async_init(&loop_, &wake_, on_wake);
		wake_.data = this;
		ops.loop = &loop_;
		ops.statuses = sample_statuses(time(nullptr));
		ctl_server_config cfg = {};
		cfg.socket_path = sock.c_str();
		cfg.group = group;
		cfg.max_conns = max_conns;
		cfg.request_timeout_ms = request_timeout_ms;
		start_rc = ctl_server_start(&loop_, &cfg, TestOps::table(), &ops, &srv_);
		thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
	}

	~TestDaemon() { stop(); }

	// Run f on the loop thread and wait for it.
	void on_loop(std::function<void()> f)
	{
		std::promise<void> done;
		{
			std::lock_guard<std::mutex> g(m_);
			tasks_.push_back([&] {
				f();
				done.set_value();
			});
		}
		uv_async_send(&wake_);
		done.get_future().wait();
	}

	size_t conn_count()
	{
		size_t n = 0;
		on_loop([&] { n = srv_ ? ctl_server_conn_count(srv_) : 0; });
		return n;
	}

	bool wait_conn_count(size_t want, int ms = 3000)
	{
		for (int i = 0; i < ms / 10; i++) {
			if (conn_count() == want)
				return true;
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		return conn_count() == want;
	}

	bool wait_held(const std::string &name, int ms = 3000)
	{
		for (int i = 0; i < ms / 10; i++) {
			bool have = false;
			on_loop([&] { have = ops.held.count(name) > 0; });
			if (have)
				return true;
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		return false;
	}

	void stop()
	{
		if (stopped_)
			return;
		stopped_ = true;
		on_loop([this] {
			if (srv_)
				ctl_server_stop(srv_, nullptr, nullptr);
			srv_ = nullptr;
			uv_close(reinterpret_cast<uv_handle_t *>(&wake_), nullptr);
		});
		thread_.join();
		// Calls still held are orphans now: finishing them must be safe.
		for (auto &kv : ops.held)
			ctl_call_fail(kv.second, CTL_ERR_CANCELLED, "test over");
		ops.held.clear();
		uv_loop_close(&loop_);
	}

	std::string sock;
	TestOps ops;
	int start_rc = 0;

private:
	static void on_wake(uv_async_t *a)
	{
		auto *self = static_cast<TestDaemon *>(a->data);
		std::vector<std::function<void()>> tasks;
		{
			std::lock_guard<std::mutex> g(self->m_);
			tasks.swap(self->tasks_);
		}
		for (auto &t : tasks)
			t();
	}

	uv_loop_t loop_;
	uv_async_t wake_;
	ctl_server *srv_ = nullptr;
	std::thread thread_;
	std::mutex m_;
	std::vector<std::function<void()>> tasks_;
	bool stopped_ = false;
};

// A raw client speaking the line protocol.
class RawClient {
public:
	explicit RawClient(const std::string &path)
	{
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_un sa = {};
		sa.sun_family = AF_UNIX;
		std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
		connected = connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0;
	}
	~RawClient() { close_fd(); }
	void close_fd()
	{
		if (fd >= 0)
			::close(fd);
		fd = -1;
	}
	bool send_raw(const std::string &s)
	{
		size_t off = 0;
		while (off < s.size()) {
			ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
			if (n <= 0)
				return false;
			off += static_cast<size_t>(n);
		}
		return true;
	}
	// One line without its '\n'; "" + eof=true on EOF; "" on timeout.
	std::string read_line(int ms = 3000)
	{
		auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
		for (;;) {
			size_t nl = buf_.find('\n');
			if (nl != std::string::npos) {
				std::string line = buf_.substr(0, nl);
				buf_.erase(0, nl + 1);
				return line;
			}
			int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
							    deadline - std::chrono::steady_clock::now())
							    .count());
			if (left <= 0)
				return "";
			pollfd p = { fd, POLLIN, 0 };
			if (poll(&p, 1, left) <= 0)
				continue;
			char tmp[65536];
			ssize_t n = ::read(fd, tmp, sizeof(tmp));
			if (n <= 0) {
				eof = true;
				return "";
			}
			buf_.append(tmp, static_cast<size_t>(n));
		}
	}
	// True when the server closed the connection within ms.
	bool wait_eof(int ms = 3000)
	{
		for (;;) {
			std::string l = read_line(ms);
			if (eof)
				return true;
			if (l.empty())
				return false;
		}
	}
	int fd = -1;
	bool connected = false;
	bool eof = false;

private:
	std::string buf_;
};

// A decoded reply that releases its JSON arrays.
struct Msg : ctl_msg {
	Msg() { std::memset(static_cast<ctl_msg *>(this), 0, sizeof(ctl_msg)); }
	Msg(const Msg &) = delete;
	Msg(Msg &&o) noexcept { take(o); }
	Msg &operator=(Msg &&o) noexcept
	{
		if (this != &o) {
			ctl_msg_clear(this);
			take(o);
		}
		return *this;
	}
	~Msg() { ctl_msg_clear(this); }

private:
	void take(Msg &o)
	{
		std::memcpy(static_cast<ctl_msg *>(this), static_cast<ctl_msg *>(&o), sizeof(ctl_msg));
		o.status = nullptr;
		o.profiles = nullptr;
	}
};

inline Msg decode(const std::string &line)
{
	Msg m;
	char why[256] = "";
	int rc = ctl_msg_decode(line.data(), line.size(), &m, why, sizeof(why));
	EXPECT_EQ(rc, 0) << line << ": " << why;
	return m;
}

struct ProcResult {
	int exit_code = -1;
	std::string out, err;
};

// Run argv with LC_ALL=C; as `uid`/`gid` with no supplementary groups when
// uid != 0. on_out sees stdout as it grows (to interrupt at the right time).
inline ProcResult run_proc(const std::vector<std::string> &argv, uid_t uid = 0,
			   gid_t gid = 0,
			   std::function<void(pid_t, const std::string &)> on_out = nullptr,
			   int timeout_ms = 30000)
{
	ProcResult r;
	int outp[2], errp[2];
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0)
		return r;
	std::vector<char *> av;
	for (const auto &a : argv)
		av.push_back(const_cast<char *>(a.c_str()));
	av.push_back(nullptr);
	char env0[] = "LC_ALL=C";
	char env1[] = "PATH=/usr/bin:/bin";
	char *envp[] = { env0, env1, nullptr };

	pid_t pid = fork();
	if (pid == 0) {
		// Only async-signal-safe calls between fork and exec.
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		if (uid != 0 &&
		    (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
			_exit(126);
		execve(av[0], av.data(), envp);
		_exit(127);
	}
	::close(outp[1]);
	::close(errp[1]);
	auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
	bool out_open = true, err_open = true, killed = false;
	while (out_open || err_open) {
		pollfd p[2] = { { out_open ? outp[0] : -1, POLLIN, 0 },
				{ err_open ? errp[0] : -1, POLLIN, 0 } };
		if (std::chrono::steady_clock::now() > deadline && !killed) {
			kill(pid, SIGKILL);
			killed = true;
		}
		if (poll(p, 2, 100) <= 0)
			continue;
		char tmp[4096];
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			ssize_t n = ::read(i ? errp[0] : outp[0], tmp, sizeof(tmp));
			if (n <= 0) {
				(i ? err_open : out_open) = false;
				continue;
			}
			(i ? r.err : r.out).append(tmp, static_cast<size_t>(n));
			if (i == 0 && on_out)
				on_out(pid, r.out);
		}
	}
	::close(outp[0]);
	::close(errp[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return r;
}

} // namespace ctltest
