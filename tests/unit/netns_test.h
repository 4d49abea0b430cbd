// Shared by the unit tests that run against the real kernel (platform,
// firewall, TUN, resolved). The binary moves itself into new network and
// mount namespaces before any test runs, with a private tmpfs on /tmp:
// ctest runs each test in its own process, so each starts from an empty
// namespace, and nothing here can touch the host's network or files.
// Needs root.
#ifndef VPN_TESTS_NETNS_TEST_H
#define VPN_TESTS_NETNS_TEST_H

#include <gtest/gtest.h>

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace netnstest {

// Enter the private namespaces. own_sys: also mount a sysfs, which shows
// the namespace that mounted it (ours from then on).
inline void enter_private_netns(bool own_sys)
{
	ASSERT_EQ(geteuid(), 0u) << "these tests need root (network namespaces)";
	ASSERT_EQ(unshare(CLONE_NEWNET | CLONE_NEWNS), 0) << strerror(errno);
	ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
		<< strerror(errno);
	ASSERT_EQ(mount("tmpfs", "/tmp", "tmpfs", 0, "size=16m,mode=1777"), 0) << strerror(errno);
	if (own_sys) {
		ASSERT_EQ(mount("sysfs", "/sys", "sysfs", 0, nullptr), 0) << strerror(errno);
	}
	ASSERT_EQ(system("ip link set lo up"), 0);
}

class NetnsEnv : public ::testing::Environment {
public:
	explicit NetnsEnv(bool own_sys = false) : own_sys_(own_sys) {}
	void SetUp() override { enter_private_netns(own_sys_); }

private:
	bool own_sys_;
};

// A shell command built printf-style; its exit status, -1 if it died.
inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// What a shell command prints on stdout.
inline std::string out(const std::string &cmd)
{
	std::string s;
	char buf[512];
	FILE *f = popen(cmd.c_str(), "r");

	if (!f)
		return s;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		s.append(buf, n);
	pclose(f);
	return s;
}

inline bool contains(const std::string &hay, const std::string &needle)
{
	return hay.find(needle) != std::string::npos;
}

} // namespace netnstest

#endif
