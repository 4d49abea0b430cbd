// Profiles: good files for each auth method, every refusal with its exact
// "FILE:LINE: reason", and the permission warnings. Files are written into a
// fresh /tmp/ctl-test-* directory with the modes each case needs.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "client/daemon/profile.h"
#include "client/util/log.h"

namespace {

std::vector<std::string> g_log;

void log_sink(int level, const char *module, const char *msg, void *)
{
	g_log.push_back(std::string(level == VLOG_WARNING ? "warning" : "other") + ": " +
			module + ": " + msg);
}

class Profile : public ::testing::Test {
protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/ctl-test-profile-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		g_log.clear();
		vlog_set_sink(log_sink, nullptr);
	}
	void TearDown() override
	{
		vlog_set_sink(nullptr, nullptr);
		vpn_profile_set_proposal_check(nullptr);
		std::filesystem::remove_all(dir);
	}

	std::string write(const std::string &name, const std::string &text, mode_t mode = 0600)
	{
		std::string path = dir + "/" + name;
		std::filesystem::create_directories(std::filesystem::path(path).parent_path());
		std::ofstream(path, std::ios::binary) << text;
		chmod(path.c_str(), mode);
		return path;
	}

	// Load NAME.conf written from `text`; returns rc, fills err / profile.
	int load(const std::string &text, mode_t mode = 0600, const std::string &name = "t")
	{
		std::string path = write(name + ".conf", text, mode);
		vpn_profile_free(p);
		p = nullptr;
		char buf[VPN_PROFILE_ERR_MAX] = "";
		int rc = vpn_profile_load(path.c_str(), name.c_str(), &p, buf, sizeof(buf));
		err = buf;
		return rc;
	}

	// Expect a refusal "DIR/t.conf:LINE: reason".
	void refused(const std::string &text, int line, const std::string &reason)
	{
		SCOPED_TRACE(text);
		EXPECT_EQ(load(text), -EINVAL);
		EXPECT_EQ(err, dir + "/t.conf:" + std::to_string(line) + ": " + reason);
		EXPECT_EQ(p, nullptr);
		bool logged = false;
		for (const auto &l : g_log)
			logged = logged || l.find(err) != std::string::npos;
		EXPECT_TRUE(logged) << "the refusal is logged";
	}

	~Profile() override { vpn_profile_free(p); }

	std::string dir, err;
	vpn_profile *p = nullptr;
};

const char kPsk[] = "[connection]\n"
		    "gateway = vpn.example.com\n"
		    "auth = psk\n"
		    "psk = s3cret with spaces\n";

TEST_F(Profile, PskWithDefaults)
{
	ASSERT_EQ(load(kPsk), 0) << err;
	EXPECT_STREQ(p->name, "t");
	EXPECT_EQ(std::string(p->path), dir + "/t.conf");
	EXPECT_STREQ(p->gateway, "vpn.example.com");
	EXPECT_EQ(p->auth, VPN_AUTH_PSK);
	ASSERT_EQ(p->psk_len, 18u);
	EXPECT_EQ(std::memcmp(p->psk, "s3cret with spaces", 18), 0);
	EXPECT_EQ(p->remote_id, nullptr);
	EXPECT_EQ(p->local_id, nullptr);
	EXPECT_EQ(p->ike, nullptr);
	EXPECT_EQ(p->esp, nullptr);
	EXPECT_EQ(p->n_routes, 0u);
	EXPECT_EQ(p->transport, VPN_TRANSPORT_AUTO);
	EXPECT_TRUE(p->mobike);
	EXPECT_FALSE(p->full_tunnel);
	EXPECT_FALSE(p->killswitch);
	EXPECT_FALSE(p->allow_lan);
	EXPECT_FALSE(p->autoconnect);
	EXPECT_EQ(p->n_warnings, 0u) << "root-owned 0600 file";
}

TEST_F(Profile, PskFileTrimmedRelativeToProfileDir)
{
	write("secrets/work.psk", "  \n\tline-secret;x \r\n\n", 0600);
	ASSERT_EQ(load("[connection]\n"
		       "gateway = 192.0.2.1\n"
		       "auth = psk\n"
		       "psk_file = secrets/work.psk\n"
		       "local_id = alice@example.com\n"
		       "remote_id = vpn.example.com\n"),
		  0)
		<< err;
	ASSERT_EQ(p->psk_len, 13u);
	EXPECT_EQ(std::string(reinterpret_cast<char *>(p->psk), p->psk_len), "line-secret;x");
	EXPECT_STREQ(p->local_id, "alice@example.com");
	EXPECT_STREQ(p->remote_id, "vpn.example.com");
	EXPECT_EQ(p->n_warnings, 0u);
}

TEST_F(Profile, PubkeyWithEverything)
{
	write("certs/me.pem", "cert");
	write("certs/me.key", "key", 0600);
	write("/ca.pem", "ca", 0644);
	ASSERT_EQ(load("; a comment\n"
		       "# another\n"
		       "\n"
		       "[connection]\n"
		       "  gateway = 2001:db8::1   ; inline comment\n"
		       "auth = pubkey\n"
		       "cert = certs/me.pem\n"
		       "key = certs/me.key\n"
		       "ca = " + dir + "/ca.pem\n"
		       "remote_id = C=CH, O=strongSwan, CN=gw\n"
		       "ike = aes256gcm16-prfsha256-x25519,aes128-sha256-modp3072!\n"
		       "esp = aes256gcm16\n"
		       "routes = 10.0.0.0/8, 192.168.1.0/24 2001:db8:1::/48,0.0.0.0/0\n"
		       "transport = tcp\n"
		       "mobike = no\n"
		       "killswitch = yes\n"
		       "allow_lan = yes\n"
		       "autoconnect = yes\n",
		       0644),
		  0)
		<< err;
	EXPECT_STREQ(p->gateway, "2001:db8::1");
	EXPECT_EQ(p->auth, VPN_AUTH_PUBKEY);
	EXPECT_EQ(std::string(p->cert), dir + "/certs/me.pem");
	EXPECT_EQ(std::string(p->key), dir + "/certs/me.key");
	EXPECT_EQ(std::string(p->ca), dir + "/ca.pem");
	EXPECT_STREQ(p->remote_id, "C=CH, O=strongSwan, CN=gw");
	EXPECT_STREQ(p->ike, "aes256gcm16-prfsha256-x25519,aes128-sha256-modp3072!");
	EXPECT_STREQ(p->esp, "aes256gcm16");
	ASSERT_EQ(p->n_routes, 4u);
	char a[INET6_ADDRSTRLEN];
	EXPECT_EQ(p->routes[0].family, AF_INET);
	EXPECT_STREQ(inet_ntop(AF_INET, p->routes[0].addr, a, sizeof(a)), "10.0.0.0");
	EXPECT_EQ(p->routes[0].prefix_len, 8);
	EXPECT_EQ(p->routes[1].prefix_len, 24);
	EXPECT_EQ(p->routes[2].family, AF_INET6);
	EXPECT_STREQ(inet_ntop(AF_INET6, p->routes[2].addr, a, sizeof(a)), "2001:db8:1::");
	EXPECT_EQ(p->routes[2].prefix_len, 48);
	EXPECT_EQ(p->routes[3].prefix_len, 0);
	EXPECT_EQ(p->transport, VPN_TRANSPORT_TCP);
	EXPECT_FALSE(p->mobike);
	EXPECT_TRUE(p->killswitch);
	EXPECT_TRUE(p->allow_lan);
	EXPECT_TRUE(p->autoconnect);
	EXPECT_EQ(p->n_warnings, 0u) << "no secret in a 0644 profile, key is 0600";
}

TEST_F(Profile, EapWithPasswordFileCrlfAndBom)
{
	write("ca.pem", "ca", 0644);
	write("eap.pw", "pa ss\n", 0600);
	ASSERT_EQ(load("\xef\xbb\xbf[connection]\r\n"
		       "gateway = gw-1.example.org.\r\n"
		       "auth = eap-mschapv2\r\n"
		       "ca = ca.pem\r\n"
		       "eap_identity = alice\r\n"
		       "eap_password_file = eap.pw\r\n"
		       "full_tunnel = yes\r\n"),
		  0)
		<< err;
	EXPECT_EQ(p->auth, VPN_AUTH_EAP_MSCHAPV2);
	EXPECT_STREQ(p->gateway, "gw-1.example.org.");
	EXPECT_STREQ(p->eap_identity, "alice");
	EXPECT_STREQ(p->eap_password, "pa ss");
	EXPECT_TRUE(p->full_tunnel);
	EXPECT_STREQ(vpn_auth_name(p->auth), "eap-mschapv2");
}

TEST_F(Profile, EapInlinePassword)
{
	write("ca.pem", "ca", 0644);
	ASSERT_EQ(load("[connection]\ngateway = 198.51.100.7\nauth = eap-mschapv2\nca = ca.pem\n"
		       "eap_identity = DOMAIN\\bob\neap_password = hunter2\n"),
		  0)
		<< err;
	EXPECT_STREQ(p->eap_identity, "DOMAIN\\bob");
	EXPECT_STREQ(p->eap_password, "hunter2");
}

TEST_F(Profile, StructureErrors)
{
	refused("gateway = x\n[connection]\n", 1, "key 'gateway' outside [connection]");
	refused("[connection]\ngateway = x\n\n[extra]\nfoo = 1\n", 5,
		"unknown section [extra] (a profile has one [connection] section)");
	refused("[connection]\ngatway = x\n", 2, "unknown key 'gatway'");
	refused("[connection]\ngateway = a.example\nauth = psk\ngateway = b.example\n", 4,
		"duplicate key 'gateway' (first set on line 2)");
	refused("[connection]\ngateway =\n", 2, "empty value for 'gateway'");
	refused("[connection]\ngateway = a\njust words\n", 3,
		"expected 'key = value', '[section]' or a comment");
	refused("[connection\ngateway = a\n", 1, "section header without closing ']'");
	refused("", 1, "no [connection] section");
	refused("; only a comment\n", 1, "no [connection] section");
	refused("[connection]\ngateway = a\nremote_id = " + std::string(300, 'x') + "\n", 3,
		"line longer than 198 characters");
}

TEST_F(Profile, RequiredKeys)
{
	refused("\n[connection]\nauth = psk\npsk = x\n", 2, "missing 'gateway'");
	refused("[connection]\ngateway = gw.example\n", 1,
		"missing 'auth' (psk, pubkey or eap-mschapv2)");
	refused("[connection]\ngateway = gw.example\nauth = password\n", 3,
		"'auth' must be one of psk, pubkey, eap-mschapv2, not 'password'");
	refused("[connection]\ngateway = gw.example\nauth = psk\n", 3,
		"auth = psk needs 'psk' or 'psk_file'");
	write("k", "secret");
	refused("[connection]\ngateway = gw.example\nauth = psk\npsk = a\npsk_file = k\n", 5,
		"'psk' and 'psk_file' are both set: keep one");
	write("c.pem", "c");
	refused("[connection]\ngateway = gw.example\nauth = pubkey\ncert = c.pem\n", 3,
		"auth = pubkey needs 'cert', 'key' and 'ca'");
	refused("[connection]\ngateway = gw.example\nauth = eap-mschapv2\nca = c.pem\n", 3,
		"auth = eap-mschapv2 needs 'eap_identity' and 'ca'");
	refused("[connection]\ngateway = gw.example\nauth = eap-mschapv2\nca = c.pem\n"
		"eap_identity = bob\n",
		3, "auth = eap-mschapv2 needs 'eap_password' or 'eap_password_file'");
	refused("[connection]\ngateway = gw.example\nauth = eap-mschapv2\nca = c.pem\n"
		"eap_identity = bob\neap_password_file = k\neap_password = x\n",
		7, "'eap_password' and 'eap_password_file' are both set: keep one");
}

TEST_F(Profile, KeysForAnotherAuthMethod)
{
	write("c.pem", "c");
	refused("[connection]\ngateway = gw.example\ncert = c.pem\nauth = psk\npsk = x\n", 3,
		"'cert' is not used with auth = psk");
	refused("[connection]\ngateway = gw.example\nauth = pubkey\npsk = x\n", 4,
		"'psk' is not used with auth = pubkey");
	refused("[connection]\ngateway = gw.example\nauth = psk\npsk = x\neap_identity = bob\n", 5,
		"'eap_identity' is not used with auth = psk");
	refused("[connection]\ngateway = gw.example\nauth = eap-mschapv2\nkey = c.pem\n", 4,
		"'key' is not used with auth = eap-mschapv2");
}

TEST_F(Profile, ValueErrors)
{
	const std::string head = "[connection]\nauth = psk\npsk = x\n";
	refused(head + "gateway = gw_1.example\n", 4,
		"gateway 'gw_1.example' is neither an IP address nor a host name");
	refused(head + "gateway = -gw.example\n", 4,
		"gateway '-gw.example' is neither an IP address nor a host name");
	refused(head + "gateway = a..b\n", 4,
		"gateway 'a..b' is neither an IP address nor a host name");
	const std::string g = head + "gateway = gw.example\n";
	refused(g + "mobike = true\n", 5, "'mobike' must be yes or no, not 'true'");
	refused(g + "full_tunnel = 1\n", 5, "'full_tunnel' must be yes or no, not '1'");
	refused(g + "transport = quic\n", 5, "'transport' must be one of auto, udp, tcp, not 'quic'");
	refused(g + "routes = 10.0.0.0\n", 5, "route '10.0.0.0' is not in CIDR form (like 10.0.0.0/8)");
	refused(g + "routes = 10.0.0.0/8, 10.0.0.300/32\n", 5,
		"route '10.0.0.300/32': '10.0.0.300' is not an IP address");
	refused(g + "routes = 10.0.0.0/33\n", 5, "route '10.0.0.0/33': prefix length must be 0-32");
	refused(g + "routes = fd00::/129\n", 5, "route 'fd00::/129': prefix length must be 0-128");
	refused(g + "routes = 10.0.0.0/+8\n", 5, "route '10.0.0.0/+8': prefix length must be 0-32");
	refused(g + "routes = 10.1.2.3/8\n", 5,
		"route '10.1.2.3/8' has host bits set (the network is 10.0.0.0/8)");
	refused(g + "routes = 2001:db8::1/32\n", 5,
		"route '2001:db8::1/32' has host bits set (the network is 2001:db8::/32)");
	refused(g + "routes = , ,\n", 5, "'routes' lists no route");
	refused(g + "routes = 10.0.0.0/8\nfull_tunnel = yes\n", 6,
		"'routes' and 'full_tunnel = yes' contradict each other: keep one");
	refused(g + "ike = aes256 sha256\n", 5,
		"'ike' may only hold algorithm names joined by '-' and ',' (found ' ')");
	refused(g + "esp = aes/gcm\n", 5,
		"'esp' may only hold algorithm names joined by '-' and ',' (found '/')");
	refused(g + "local_id = a\x01" "b\n", 5, "'local_id' contains control characters");
	refused("[connection]\ngateway = gw.example\nauth = psk\npsk = abc ;def\n", 4,
		"'psk' contains ' ;', which starts a comment: put the secret in psk_file");
}

TEST_F(Profile, SecretAndCertFileErrors)
{
	const std::string g = "[connection]\ngateway = gw.example\nauth = psk\n";
	refused(g + "psk_file = nope\n", 4, "psk_file " + dir + "/nope: No such file or directory");
	write("empty", " \n\n");
	refused(g + "psk_file = empty\n", 4, "psk_file " + dir + "/empty is empty");
	write("two", "line1\nline2\n");
	refused(g + "psk_file = two\n", 4, "psk_file " + dir + "/two must hold the secret on one line");
	write("huge", std::string(VPN_PROFILE_MAX_SECRET + 1, 'x'));
	refused(g + "psk_file = huge\n", 4, "psk_file " + dir + "/huge holds more than 1024 bytes");
	std::filesystem::create_directories(dir + "/adir");
	refused(g + "psk_file = adir\n", 4, "psk_file " + dir + "/adir: not a regular file");
	ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0600), 0);
	refused(g + "psk_file = fifo\n", 4, "psk_file " + dir + "/fifo: not a regular file");

	write("ca.pem", "ca");
	const std::string pk = "[connection]\ngateway = gw.example\nauth = pubkey\nca = ca.pem\n";
	refused(pk + "cert = missing.pem\nkey = ca.pem\n", 5,
		"cert " + dir + "/missing.pem: No such file or directory");
	refused(pk + "cert = adir\nkey = ca.pem\n", 5, "cert " + dir + "/adir is not a regular file");
}

TEST_F(Profile, FileLevelErrors)
{
	std::string path = write("nul.conf", std::string("[connection]\ngateway = a\0b\n", 26));
	char buf[VPN_PROFILE_ERR_MAX];
	EXPECT_EQ(vpn_profile_load(path.c_str(), "nul", &p, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(std::string(buf), path + ": contains a NUL byte (not a text file)");

	path = write("big.conf", "[connection]\n; " + std::string(VPN_PROFILE_MAX_FILE, 'x') + "\n");
	EXPECT_EQ(vpn_profile_load(path.c_str(), "big", &p, buf, sizeof(buf)), -EFBIG);
	EXPECT_EQ(std::string(buf), path + ": larger than 65536 bytes");

	path = dir + "/absent.conf";
	EXPECT_EQ(vpn_profile_load(path.c_str(), "absent", &p, buf, sizeof(buf)), -ENOENT);
	EXPECT_EQ(std::string(buf), path + ": No such file or directory");

	path = write("ok.conf", kPsk);
	EXPECT_EQ(vpn_profile_load(path.c_str(), "bad name", &p, buf, sizeof(buf)), -EINVAL);
	EXPECT_NE(std::string(buf).find("invalid profile name"), std::string::npos) << buf;
	EXPECT_EQ(p, nullptr);
}

int reject_chacha(const char *list, bool is_esp, char *why, size_t whylen)
{
	if (std::strstr(list, "chacha")) {
		std::snprintf(why, whylen, "%s proposal '%s': unsupported algorithm 'chacha'",
			      is_esp ? "ESP" : "IKE", list);
		return -EINVAL;
	}
	return 0;
}

TEST_F(Profile, ProposalHookDecides)
{
	vpn_profile_set_proposal_check(reject_chacha);
	const std::string g = "[connection]\ngateway = gw.example\nauth = psk\npsk = x\n";
	ASSERT_EQ(load(g + "ike = aes256-sha256-modp2048\n"), 0) << err;
	refused(g + "esp = chacha\n", 5, "esp: ESP proposal 'chacha': unsupported algorithm 'chacha'");
}

bool has_warning(const vpn_profile *p, const std::string &needle)
{
	for (size_t i = 0; i < p->n_warnings; i++)
		if (std::string(p->warnings[i]).find(needle) != std::string::npos)
			return true;
	return false;
}

bool logged_warning(const std::string &needle)
{
	for (const auto &l : g_log)
		if (l.rfind("warning: profile: ", 0) == 0 && l.find(needle) != std::string::npos)
			return true;
	return false;
}

TEST_F(Profile, WarnsWhenInlineSecretIsReadableByOthers)
{
	ASSERT_EQ(load(kPsk, 0644), 0) << err;
	ASSERT_EQ(p->n_warnings, 1u);
	std::string want = dir + "/t.conf holds a secret and is readable by others than root "
				 "(owner uid 0, mode 0644): chown root and chmod 600 it";
	EXPECT_EQ(std::string(p->warnings[0]), want);
	EXPECT_TRUE(logged_warning(want));

	ASSERT_EQ(load(kPsk, 0640), 0) << err;
	EXPECT_TRUE(has_warning(p, "mode 0640"));

	// Owned by someone else: readable by that user even at 0600.
	std::string path = write("u.conf", kPsk, 0600);
	ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
	vpn_profile_free(p);
	char buf[VPN_PROFILE_ERR_MAX];
	ASSERT_EQ(vpn_profile_load(path.c_str(), "u", &p, buf, sizeof(buf)), 0) << buf;
	EXPECT_TRUE(has_warning(p, "(owner uid 65534, mode 0600)"));
}

TEST_F(Profile, WarnsAboutSecretFilesNotAboutSecretlessProfiles)
{
	write("k.psk", "secret\n", 0644);
	ASSERT_EQ(load("[connection]\ngateway = gw.example\nauth = psk\npsk_file = k.psk\n", 0644),
		  0)
		<< err;
	ASSERT_EQ(p->n_warnings, 1u) << "the profile itself holds no secret";
	EXPECT_TRUE(has_warning(p, dir + "/k.psk holds a secret"));

	write("c.pem", "c", 0644);
	write("me.key", "k", 0604);
	ASSERT_EQ(load("[connection]\ngateway = gw.example\nauth = pubkey\ncert = c.pem\n"
		       "key = me.key\nca = c.pem\n",
		       0644),
		  0)
		<< err;
	ASSERT_EQ(p->n_warnings, 1u);
	EXPECT_TRUE(has_warning(p, dir + "/me.key holds a secret and is readable by others than root "
					 "(owner uid 0, mode 0604)"));
}

TEST_F(Profile, LoadDirectory)
{
	write("b-work.conf", kPsk);
	write("a.home.conf", kPsk);
	write("broken.conf", "[connection]\nfoo = bar\n");
	write("bad name.conf", kPsk);
	write(".hidden.conf", kPsk);
	write("README", "not a profile");
	write("x.conf.bak", kPsk);
	vpn_profile_set set;
	char buf[VPN_PROFILE_ERR_MAX] = "";
	ASSERT_EQ(vpn_profile_load_dir(dir.c_str(), &set, buf, sizeof(buf)), 0) << buf;
	ASSERT_EQ(set.n, 2u);
	EXPECT_STREQ(set.items[0]->name, "a.home");
	EXPECT_STREQ(set.items[1]->name, "b-work");
	ASSERT_EQ(set.n_errors, 2u);
	std::vector<std::string> errors(set.errors, set.errors + set.n_errors);
	std::sort(errors.begin(), errors.end());
	EXPECT_EQ(errors[0], dir + "/bad name.conf: invalid profile name (1-64 of A-Z a-z 0-9 . _ -, "
				   "not starting with . or -)");
	EXPECT_EQ(errors[1], dir + "/broken.conf:2: unknown key 'foo'");
	ASSERT_NE(vpn_profile_set_find(&set, "b-work"), nullptr);
	EXPECT_STREQ(vpn_profile_set_find(&set, "b-work")->gateway, "vpn.example.com");
	EXPECT_EQ(vpn_profile_set_find(&set, "broken"), nullptr);
	vpn_profile_set_free(&set);
	EXPECT_EQ(set.n, 0u);

	EXPECT_EQ(vpn_profile_load_dir((dir + "/none").c_str(), &set, buf, sizeof(buf)), -ENOENT);
	EXPECT_EQ(std::string(buf), dir + "/none: No such file or directory");
}

TEST_F(Profile, LoadNamed)
{
	write("work.conf", kPsk);
	char buf[VPN_PROFILE_ERR_MAX] = "";
	ASSERT_EQ(vpn_profile_load_named(dir.c_str(), "work", &p, buf, sizeof(buf)), 0) << buf;
	EXPECT_STREQ(p->name, "work");
	vpn_profile_free(p);
	p = nullptr;
	EXPECT_EQ(vpn_profile_load_named(dir.c_str(), "home", &p, buf, sizeof(buf)), -ENOENT);
	EXPECT_EQ(std::string(buf), "no profile 'home' in " + dir);
	EXPECT_EQ(vpn_profile_load_named(dir.c_str(), "../work", &p, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(std::string(buf), "invalid profile name '../work'");
	EXPECT_EQ(p, nullptr);
}

} // namespace

namespace {

// inih would read an indented line as the continuation of the previous
// value; profiles have no continuation lines, so indentation is only layout.
TEST_F(Profile, IndentedKeysAreKeysNotContinuations)
{
	ASSERT_EQ(load("[connection]\n  gateway = gw.example\n    auth = psk\n\tpsk = x\n"), 0) << err;
	EXPECT_STREQ(p->gateway, "gw.example");
	EXPECT_EQ(p->psk_len, 1u);
}

} // namespace
