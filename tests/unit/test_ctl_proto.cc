// Control protocol: requests and responses round-trip, and every kind of bad
// line is refused with a reason instead of being half-understood.
#include <cstring>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "client/daemon/ctl_proto.h"

namespace {

struct Decoded {
	int rc;
	ctl_request req;
	std::string why;
};

Decoded decode_req(const std::string &line)
{
	Decoded d;
	char why[CTL_TEXT_MAX] = "";
	d.rc = ctl_request_decode(line.data(), line.size(), &d.req, why, sizeof(why));
	d.why = why;
	return d;
}

std::string strip_nl(char *line)
{
	std::string s = line;
	free(line);
	EXPECT_FALSE(s.empty());
	EXPECT_EQ(s.back(), '\n');
	s.pop_back();
	EXPECT_EQ(s.find('\n'), std::string::npos) << "one line per message";
	return s;
}

TEST(CtlProto, RequestRoundTrip)
{
	const ctl_op ops[] = { CTL_OP_UP, CTL_OP_DOWN, CTL_OP_STATUS, CTL_OP_LIST };
	for (ctl_op op : ops) {
		for (int named = 0; named < 2; named++) {
			if ((op == CTL_OP_UP && !named) || (op == CTL_OP_LIST && named))
				continue;
			ctl_request req = {};
			req.op = op;
			req.has_name = named;
			std::strcpy(req.name, named ? "work-2.home_x" : "");
			std::string line = strip_nl(ctl_request_encode(&req));
			Decoded d = decode_req(line);
			ASSERT_EQ(d.rc, 0) << line << ": " << d.why;
			EXPECT_EQ(d.req.op, op);
			EXPECT_EQ(d.req.has_name, (bool)named);
			EXPECT_STREQ(d.req.name, req.name);
		}
	}
}

TEST(CtlProto, RequestWireForm)
{
	ctl_request req = {};
	req.op = CTL_OP_UP;
	req.has_name = true;
	std::strcpy(req.name, "work");
	EXPECT_EQ(strip_nl(ctl_request_encode(&req)), R"({"op":"up","name":"work"})");
}

TEST(CtlProto, RequestRefusals)
{
	const struct {
		std::string line;
		std::string why;
	} cases[] = {
		{ "", "malformed JSON" },
		{ "not json", "malformed JSON" },
		{ R"({"op":"up","name":"work")", "malformed JSON" }, // truncated
		{ R"({"op":"st)", "malformed JSON" },
		{ R"(["up","work"])", "expected a JSON object" },
		{ R"("up")", "malformed JSON" },
		{ R"({})", "missing \"op\"" },
		{ R"({"name":"work"})", "missing \"op\"" },
		{ R"({"op":1})", "\"op\" must be a string" },
		{ R"({"op":"reboot"})", "unknown op \"reboot\"" },
		{ R"({"op":"UP","name":"x"})", "unknown op \"UP\"" },
		{ R"({"op":"status","verbose":true})", "unknown key \"verbose\"" },
		{ R"({"op":"up","name":7})", "\"name\" must be a string" },
		{ R"({"op":"up","name":null})", "\"name\" must be a string" },
		{ R"({"op":"up","name":"../../etc/passwd"})", "invalid profile name" },
		{ R"({"op":"up","name":".hidden"})", "invalid profile name" },
		{ R"({"op":"up","name":"-x"})", "invalid profile name" },
		{ R"({"op":"up","name":""})", "invalid profile name" },
		{ R"({"op":"up","name":"a b"})", "invalid profile name" },
		{ R"({"op":"up"})", "up needs a profile name" },
		{ R"({"op":"list","name":"work"})", "list takes no profile name" },
		{ R"({"op":"up","op":"down","name":"x"})", "malformed JSON" }, // duplicate key
	};
	for (const auto &c : cases) {
		Decoded d = decode_req(c.line);
		EXPECT_EQ(d.rc, -EPROTO) << c.line;
		EXPECT_NE(d.why.find(c.why), std::string::npos) << c.line << " -> " << d.why;
	}
}

TEST(CtlProto, RequestWithNulByteRefused)
{
	std::string line = std::string(R"({"op":"list"})") + '\0';
	Decoded d = decode_req(line);
	EXPECT_EQ(d.rc, -EPROTO);
	EXPECT_EQ(d.why, "line contains a NUL byte");
}

TEST(CtlProto, OversizedRequestRefused)
{
	std::string pad(CTL_REQUEST_MAX, ' ');
	std::string ok = R"({"op":"list"})";
	ok += std::string(CTL_REQUEST_MAX - ok.size(), ' ');
	EXPECT_EQ(decode_req(ok).rc, 0) << "exactly the limit is accepted";
	Decoded d = decode_req(ok + " ");
	EXPECT_EQ(d.rc, -EMSGSIZE);
	EXPECT_NE(d.why.find("longer than 65536 bytes"), std::string::npos) << d.why;
}

TEST(CtlProto, NameRules)
{
	EXPECT_TRUE(ctl_name_valid("work"));
	EXPECT_TRUE(ctl_name_valid("A.b_c-9"));
	EXPECT_TRUE(ctl_name_valid(std::string(CTL_NAME_MAX, 'x').c_str()));
	EXPECT_FALSE(ctl_name_valid(std::string(CTL_NAME_MAX + 1, 'x').c_str()));
	EXPECT_FALSE(ctl_name_valid(""));
	EXPECT_FALSE(ctl_name_valid(nullptr));
	EXPECT_FALSE(ctl_name_valid("."));
	EXPECT_FALSE(ctl_name_valid(".."));
	EXPECT_FALSE(ctl_name_valid("a/b"));
	EXPECT_FALSE(ctl_name_valid("-rf"));
	EXPECT_FALSE(ctl_name_valid("caf\xc3\xa9"));
}

TEST(CtlProto, TextCleaning)
{
	char out[16];
	EXPECT_EQ(ctl_text_clean(out, sizeof(out), "a\nb\tc\x7f"), 6u);
	EXPECT_STREQ(out, "a b c ");
	ctl_text_clean(out, sizeof(out), "bad\xff\xfe.");
	EXPECT_STREQ(out, "bad?" "?.");
	ctl_text_clean(out, sizeof(out), "\xc0\xaf"); // overlong '/'
	EXPECT_STREQ(out, "??");
	ctl_text_clean(out, sizeof(out), "\xed\xa0\x80"); // surrogate
	EXPECT_STREQ(out, "???");
	// Cut at a character boundary: 14 bytes then a 2-byte char does not fit.
	ctl_text_clean(out, sizeof(out), "aaaaaaaaaaaaaa\xc3\xa9");
	EXPECT_STREQ(out, "aaaaaaaaaaaaaa");
	ctl_text_clean(out, sizeof(out), "\xe2\x86\x92ok");
	EXPECT_STREQ(out, "\xe2\x86\x92ok");
	ctl_text_clean(out, sizeof(out), nullptr);
	EXPECT_STREQ(out, "");
}

TEST(CtlProto, NameTablesRoundTrip)
{
	for (int s = CTL_STATE_DISCONNECTED; s <= CTL_STATE_RECONNECTING; s++) {
		ctl_state back;
		ASSERT_EQ(ctl_state_parse(ctl_state_name((ctl_state)s), &back), 0);
		EXPECT_EQ(back, s);
	}
	EXPECT_STREQ(ctl_state_name(CTL_STATE_CONNECTING), "connecting");
	EXPECT_STREQ(ctl_state_name(CTL_STATE_RECONNECTING), "reconnecting");
	for (int e = CTL_ERR_AUTH_FAILED; e < CTL_ERR_UNKNOWN; e++)
		EXPECT_EQ(ctl_err_parse(ctl_err_code((ctl_err)e)), e);
	EXPECT_EQ(ctl_err_parse("martian"), CTL_ERR_UNKNOWN);
	EXPECT_STREQ(ctl_err_code(CTL_ERR_AUTH_FAILED), "auth_failed");
	EXPECT_STREQ(ctl_err_code(CTL_ERR_NO_PROPOSAL), "no_proposal_chosen");
	EXPECT_STREQ(ctl_step_name(CTL_STEP_IKE_SA_INIT), "IKE_SA_INIT");
	EXPECT_STREQ(ctl_transport_name(CTL_TRANSPORT_TCP), "tcp");
	EXPECT_EQ(ctl_transport_name(CTL_TRANSPORT_NONE), nullptr);
}

ctl_status full_status()
{
	ctl_status st;
	std::memset(&st, 0, sizeof(st));
	std::strcpy(st.name, "work");
	st.state = CTL_STATE_RECONNECTING;
	std::strcpy(st.gateway, "vpn.example.com");
	st.transport = CTL_TRANSPORT_TCP;
	std::strcpy(st.interface, "wlan0");
	std::strcpy(st.local, "[2001:db8::10]:51234");
	std::strcpy(st.remote, "[2001:db8::1]:4500");
	st.nat = true;
	st.mobike = false;
	std::strcpy(st.virtual_ip, "10.10.0.2");
	std::strcpy(st.dns[0], "10.10.0.1");
	std::strcpy(st.dns[1], "fd00::53");
	st.n_dns = 2;
	std::strcpy(st.ike, "aes256gcm16-prfsha256-x25519");
	std::strcpy(st.esp, "aes256gcm16");
	st.bytes_in = 1ull << 40;
	st.bytes_out = 12345;
	st.packets_in = 999;
	st.packets_out = 1;
	st.established_at = 1700000000;
	st.since = 1700000100;
	std::strcpy(st.reason, "network changed (wlan0 lost)");
	std::strcpy(st.last_error, "gateway unreachable");
	return st;
}

TEST(CtlProto, StatusRoundTripAndExactKeys)
{
	ctl_status st = full_status();
	std::string line = strip_nl(ctl_encode_status(&st, 1, 1700000160));

	ctl_msg m;
	char why[256] = "";
	ASSERT_EQ(ctl_msg_decode(line.data(), line.size(), &m, why, sizeof(why)), 0) << why;
	ASSERT_EQ(m.kind, CTL_MSG_RESULT);
	EXPECT_TRUE(m.ok);
	ASSERT_TRUE(json_is_array(m.status));
	ASSERT_EQ(json_array_size(m.status), 1u);
	json_t *obj = json_array_get(m.status, 0);

	std::set<std::string> keys;
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) keys.insert(k);
	const std::set<std::string> want = {
		"name", "state", "gateway", "transport", "interface", "local", "remote",
		"nat", "mobike", "virtual_ip", "dns", "ike", "esp", "bytes_in", "bytes_out",
		"packets_in", "packets_out", "established_at", "since", "duration", "reason",
		"last_error",
	};
	EXPECT_EQ(keys, want);
	EXPECT_STREQ(json_string_value(json_object_get(obj, "state")), "reconnecting");
	EXPECT_STREQ(json_string_value(json_object_get(obj, "transport")), "tcp");
	EXPECT_EQ(json_integer_value(json_object_get(obj, "duration")), 60);
	EXPECT_TRUE(json_is_true(json_object_get(obj, "nat")));
	EXPECT_TRUE(json_is_false(json_object_get(obj, "mobike")));

	ctl_status back;
	ASSERT_EQ(ctl_status_from_json(obj, &back, why, sizeof(why)), 0) << why;
	EXPECT_STREQ(back.name, st.name);
	EXPECT_EQ(back.state, st.state);
	EXPECT_STREQ(back.gateway, st.gateway);
	EXPECT_EQ(back.transport, st.transport);
	EXPECT_STREQ(back.interface, st.interface);
	EXPECT_STREQ(back.local, st.local);
	EXPECT_STREQ(back.remote, st.remote);
	EXPECT_EQ(back.nat, st.nat);
	EXPECT_EQ(back.mobike, st.mobike);
	EXPECT_STREQ(back.virtual_ip, st.virtual_ip);
	ASSERT_EQ(back.n_dns, 2u);
	EXPECT_STREQ(back.dns[0], st.dns[0]);
	EXPECT_STREQ(back.dns[1], st.dns[1]);
	EXPECT_STREQ(back.ike, st.ike);
	EXPECT_STREQ(back.esp, st.esp);
	EXPECT_EQ(back.bytes_in, st.bytes_in);
	EXPECT_EQ(back.bytes_out, st.bytes_out);
	EXPECT_EQ(back.packets_in, st.packets_in);
	EXPECT_EQ(back.packets_out, st.packets_out);
	EXPECT_EQ(back.established_at, st.established_at);
	EXPECT_EQ(back.since, st.since);
	EXPECT_STREQ(back.reason, st.reason);
	EXPECT_STREQ(back.last_error, st.last_error);
	ctl_msg_clear(&m);
}

TEST(CtlProto, DisconnectedStatusUsesNulls)
{
	ctl_status st;
	std::memset(&st, 0, sizeof(st));
	std::strcpy(st.name, "home");
	json_t *obj = ctl_status_to_json(&st, 1000);
	ASSERT_NE(obj, nullptr);
	for (const char *k : { "gateway", "transport", "interface", "local", "remote",
			       "virtual_ip", "ike", "esp", "established_at", "since",
			       "duration", "reason", "last_error" })
		EXPECT_TRUE(json_is_null(json_object_get(obj, k))) << k;
	EXPECT_STREQ(json_string_value(json_object_get(obj, "state")), "disconnected");
	EXPECT_EQ(json_array_size(json_object_get(obj, "dns")), 0u);
	EXPECT_EQ(json_integer_value(json_object_get(obj, "bytes_in")), 0);
	json_decref(obj);
}

TEST(CtlProto, EventsAndResultsRoundTrip)
{
	ctl_msg m;
	char why[256] = "";
	std::string l;

	l = strip_nl(ctl_encode_progress(CTL_STEP_RESOLVING, "gw.example"));
	EXPECT_EQ(l, R"({"event":"progress","step":"resolving","detail":"gw.example"})");
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	EXPECT_EQ(m.kind, CTL_MSG_PROGRESS);
	EXPECT_STREQ(m.step, "resolving");
	EXPECT_STREQ(m.detail, "gw.example");

	l = strip_nl(ctl_encode_progress(CTL_STEP_IKE_SA_INIT, nullptr));
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	EXPECT_STREQ(m.step, "IKE_SA_INIT");
	EXPECT_STREQ(m.detail, "");

	l = strip_nl(ctl_encode_warning("work.conf is readable by others"));
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	EXPECT_EQ(m.kind, CTL_MSG_WARNING);
	EXPECT_STREQ(m.detail, "work.conf is readable by others");

	l = strip_nl(ctl_encode_ok());
	EXPECT_EQ(l, R"({"ok":true})");
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	EXPECT_EQ(m.kind, CTL_MSG_RESULT);
	EXPECT_TRUE(m.ok);
	EXPECT_EQ(m.status, nullptr);

	// Text with a newline and invalid UTF-8 still makes one decodable line.
	l = strip_nl(ctl_encode_error(CTL_ERR_AUTH_FAILED, "authentication failed:\nbad \xff psk"));
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	EXPECT_FALSE(m.ok);
	EXPECT_EQ(m.code, CTL_ERR_AUTH_FAILED);
	EXPECT_STREQ(m.code_str, "auth_failed");
	EXPECT_STREQ(m.error, "authentication failed: bad ? psk");

	ctl_list_entry e[2] = {};
	std::strcpy(e[0].name, "home");
	e[0].state = CTL_STATE_DISCONNECTED;
	std::strcpy(e[1].name, "work");
	e[1].state = CTL_STATE_CONNECTING;
	l = strip_nl(ctl_encode_list(e, 2));
	EXPECT_EQ(l, R"({"ok":true,"profiles":[{"name":"home","state":"disconnected"},)"
		     R"({"name":"work","state":"connecting"}]})");
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	ASSERT_EQ(json_array_size(m.profiles), 2u);
	ctl_msg_clear(&m);
}

TEST(CtlProto, UnknownCodeIsKeptAndNewKeysIgnored)
{
	std::string l = R"({"ok":false,"code":"quota_exceeded","error":"too many tunnels","hint":"x"})";
	ctl_msg m;
	char why[256] = "";
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	EXPECT_EQ(m.code, CTL_ERR_UNKNOWN);
	EXPECT_STREQ(m.code_str, "quota_exceeded");

	l = R"({"ok":true,"status":[{"name":"w","state":"connected","mtu":1400}]})";
	ASSERT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), 0) << why;
	ctl_msg_clear(&m);
}

TEST(CtlProto, ResponseRefusals)
{
	const struct {
		std::string line;
		std::string why;
	} cases[] = {
		{ R"({"event":"progress"})", "missing \"step\"" },
		{ R"({"event":"progress","step":3})", "\"step\" must be a string" },
		{ R"({"event":"fireworks"})", "unknown event" },
		{ R"({"event":"warning"})", "missing \"detail\"" },
		{ R"({"ok":"yes"})", "boolean \"ok\"" },
		{ R"({"hello":1})", "boolean \"ok\"" },
		{ R"({"ok":false,"error":"x"})", "missing \"code\"" },
		{ R"({"ok":false,"code":"auth_failed"})", "missing \"error\"" },
		{ R"({"ok":true,"status":{}})", "\"status\" must be a list" },
		{ R"({"ok":true,"status":[1]})", "status entries must be objects" },
		{ R"({"ok":true,"status":[{"state":"connected"}]})", "missing \"name\"" },
		{ R"({"ok":true,"status":[{"name":"w","state":"dancing"}]})", "unknown state" },
		{ R"({"ok":true,"status":[{"name":"w","state":"connected","transport":"sctp"}]})",
		  "unknown transport" },
		{ R"({"ok":true,"status":[{"name":"w","state":"connected","nat":"yes"}]})",
		  "\"nat\" must be true or false" },
		{ R"({"ok":true,"status":[{"name":"w","state":"connected","bytes_in":-1}]})",
		  "non-negative integer" },
		{ R"({"ok":true,"status":[{"name":"w","state":"connected","dns":"1.1.1.1"}]})",
		  "\"dns\" must be a list" },
		{ R"({"ok":true,"status":[{"name":"w","state":"connected","dns":[1]}]})",
		  "\"dns\" entries" },
		{ R"({"ok":true,"status":[{"name":"../x","state":"connected"}]})",
		  "invalid profile name" },
		{ R"({"ok":true,"profiles":[{"name":"w"}]})", "missing \"state\"" },
		{ R"({"ok":true,"status":[{"name":"w","state":"connected","interface":"averyveryverylongname"}]})",
		  "\"interface\" longer than 15 bytes" },
	};
	for (const auto &c : cases) {
		ctl_msg m;
		char why[256] = "";
		EXPECT_EQ(ctl_msg_decode(c.line.data(), c.line.size(), &m, why, sizeof(why)), -EPROTO)
			<< c.line;
		EXPECT_NE(std::string(why).find(c.why), std::string::npos) << c.line << " -> " << why;
	}
	std::string big(CTL_RESPONSE_MAX + 1, ' ');
	ctl_msg m;
	char why[256] = "";
	EXPECT_EQ(ctl_msg_decode(big.data(), big.size(), &m, why, sizeof(why)), -EMSGSIZE);
}

TEST(CtlProto, TooManyDnsServersRefused)
{
	std::string l = R"({"ok":true,"status":[{"name":"w","state":"connected","dns":[)";
	for (int i = 0; i <= CTL_DNS_MAX; i++)
		l += std::string(i ? "," : "") + "\"10.0.0." + std::to_string(i) + "\"";
	l += "]}]}";
	ctl_msg m;
	char why[256] = "";
	EXPECT_EQ(ctl_msg_decode(l.data(), l.size(), &m, why, sizeof(why)), -EPROTO);
	EXPECT_NE(std::string(why).find("at most 8"), std::string::npos) << why;
}

} // namespace
