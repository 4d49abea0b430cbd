/* Control protocol: newline-delimited JSON between vpnctl and vpnd.
 *
 * Both directions are decoded strictly where a wrong value would make the
 * receiver act wrongly (requests, codes, states, types) and text is cleaned
 * into one printable UTF-8 line before it can reach a terminal or a log. */
#include "client/daemon/ctl_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
	[CTL_OP_UP] = "up",
	[CTL_OP_DOWN] = "down",
	[CTL_OP_STATUS] = "status",
	[CTL_OP_LIST] = "list",
};

static const char *const state_names[] = {
	[CTL_STATE_DISCONNECTED] = "disconnected",
	[CTL_STATE_CONNECTING] = "connecting",
	[CTL_STATE_CONNECTED] = "connected",
	[CTL_STATE_RECONNECTING] = "reconnecting",
};

static const char *const step_names[] = {
	[CTL_STEP_RESOLVING] = "resolving",
	[CTL_STEP_CONNECTING] = "connecting",
	[CTL_STEP_IKE_SA_INIT] = "IKE_SA_INIT",
	[CTL_STEP_AUTHENTICATING] = "authenticating",
	[CTL_STEP_CONFIGURING] = "configuring",
	[CTL_STEP_RETRYING] = "retrying",
};

static const char *const err_codes[] = {
	[CTL_ERR_AUTH_FAILED] = "auth_failed",
	[CTL_ERR_CERT_UNTRUSTED] = "cert_untrusted",
	[CTL_ERR_ID_MISMATCH] = "identity_mismatch",
	[CTL_ERR_NO_PROPOSAL] = "no_proposal_chosen",
	[CTL_ERR_TS_UNACCEPTABLE] = "ts_unacceptable",
	[CTL_ERR_RESOLVE] = "resolve_failed",
	[CTL_ERR_UNREACHABLE] = "gateway_unreachable",
	[CTL_ERR_TIMEOUT] = "timeout",
	[CTL_ERR_CANCELLED] = "cancelled",
	[CTL_ERR_NO_PROFILE] = "no_such_profile",
	[CTL_ERR_BAD_PROFILE] = "bad_profile",
	[CTL_ERR_PERMISSION] = "permission_denied",
	[CTL_ERR_NOT_CONNECTED] = "not_connected",
	[CTL_ERR_BUSY] = "busy",
	[CTL_ERR_SYSTEM] = "system_error",
	[CTL_ERR_PROTOCOL] = "protocol_error",
	[CTL_ERR_INTERNAL] = "internal_error",
	[CTL_ERR_UNKNOWN] = "unknown",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *ctl_op_name(enum ctl_op op)
{
	return (size_t)op < N_ELEMS(op_names) ? op_names[op] : "?";
}

const char *ctl_state_name(enum ctl_state st)
{
	return (size_t)st < N_ELEMS(state_names) ? state_names[st] : "?";
}

const char *ctl_transport_name(enum ctl_transport t)
{
	switch (t) {
	case CTL_TRANSPORT_UDP: return "udp";
	case CTL_TRANSPORT_TCP: return "tcp";
	default: return NULL;
	}
}

const char *ctl_step_name(enum ctl_step step)
{
	return (size_t)step < N_ELEMS(step_names) ? step_names[step] : "?";
}

const char *ctl_err_code(enum ctl_err err)
{
	return (size_t)err < N_ELEMS(err_codes) ? err_codes[err] : "unknown";
}

int ctl_state_parse(const char *s, enum ctl_state *out)
{
	for (size_t i = 0; i < N_ELEMS(state_names); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum ctl_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

enum ctl_err ctl_err_parse(const char *s)
{
	for (size_t i = 0; i < N_ELEMS(err_codes); i++) {
		if (strcmp(s, err_codes[i]) == 0)
			return (enum ctl_err)i;
	}
	return CTL_ERR_UNKNOWN;
}

bool ctl_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || name[0] == '.' || name[0] == '-')
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

		if (!ok || n >= CTL_NAME_MAX)
			return false;
	}
	return n > 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one.
 * Overlong forms and surrogates count as invalid, as jansson would refuse
 * them and the line would not decode. */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t ctl_text_clean(char *dst, size_t cap, const char *src)
{
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t o = 0;

	while (*s) {
		size_t n = utf8_seq_len(s);

		if (n == 0) {
			n = 1;
			if (o + 1 >= cap)
				break;
			dst[o++] = '?';
		} else if (n == 1) {
			if (o + 1 >= cap)
				break;
			dst[o++] = (*s < 0x20 || *s == 0x7f) ? ' ' : (char)*s;
		} else {
			if (o + n >= cap)
				break;
			memcpy(dst + o, s, n);
			o += n;
		}
		s += n;
	}
	dst[o] = '\0';
	return o;
}

static void set_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* A key as it may appear in a reason: peers choose keys, so clean them. */
static const char *shown(const char *s, char *buf, size_t cap)
{
	ctl_text_clean(buf, cap, s);
	return buf;
}

/* A JSON string of cleaned text, so a log line or a file name with odd
 * bytes never makes encoding fail. */
static json_t *text_json(const char *s, size_t cap)
{
	char buf[CTL_TEXT_MAX];

	if (cap > sizeof(buf))
		cap = sizeof(buf);
	ctl_text_clean(buf, cap, s);
	return json_string(buf);
}

/* Text or null: empty means "does not apply". */
static json_t *opt_text_json(const char *s, size_t cap)
{
	return s && s[0] ? text_json(s, cap) : json_null();
}

/* Serialise and free `obj`, appending the newline that frames it. */
static char *dump_line(json_t *obj, size_t max)
{
	char *s, *line;
	size_t n;

	if (!obj)
		return NULL;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return NULL;
	n = strlen(s);
	if (n > max) {
		free(s);
		return NULL;
	}
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

/* json_object_set_new that remembers a failure instead of leaking. */
static void put(json_t *obj, const char *key, json_t *val, bool *failed)
{
	if (!val || json_object_set_new(obj, key, val) != 0)
		*failed = true;
}

char *ctl_request_encode(const struct ctl_request *req)
{
	json_t *obj = json_object();
	bool failed = false;

	if (!obj)
		return NULL;
	put(obj, "op", json_string(ctl_op_name(req->op)), &failed);
	if (req->has_name)
		put(obj, "name", text_json(req->name, sizeof(req->name)), &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_REQUEST_MAX);
}

/* Parse one line into a JSON object; shared by both directions. */
static int load_object(const char *line, size_t len, size_t max, json_t **out,
		       char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *v;

	if (len > max) {
		set_why(why, whylen, "line longer than %zu bytes", max);
		return -EMSGSIZE;
	}
	if (memchr(line, '\0', len)) {
		set_why(why, whylen, "line contains a NUL byte");
		return -EPROTO;
	}
	v = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		set_why(why, whylen, "malformed JSON at column %d: %s", jerr.column,
			jerr.text);
		return -EPROTO;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		set_why(why, whylen, "expected a JSON object");
		return -EPROTO;
	}
	*out = v;
	return 0;
}

static int parse_op(const json_t *v, enum ctl_op *op, char *why, size_t whylen)
{
	char b[40];

	if (!json_is_string(v)) {
		set_why(why, whylen, "\"op\" must be a string");
		return -EPROTO;
	}
	for (size_t i = 0; i < N_ELEMS(op_names); i++) {
		if (strcmp(json_string_value(v), op_names[i]) == 0) {
			*op = (enum ctl_op)i;
			return 0;
		}
	}
	set_why(why, whylen, "unknown op \"%s\"",
		shown(json_string_value(v), b, sizeof(b)));
	return -EPROTO;
}

static int parse_name(const json_t *v, struct ctl_request *out, char *why,
		      size_t whylen)
{
	char b[CTL_NAME_MAX + 8];

	if (!json_is_string(v)) {
		set_why(why, whylen, "\"name\" must be a string");
		return -EPROTO;
	}
	if (!ctl_name_valid(json_string_value(v))) {
		set_why(why, whylen,
			"invalid profile name \"%s\" (1-%d of A-Z a-z 0-9 . _ -, not starting with . or -)",
			shown(json_string_value(v), b, sizeof(b)), CTL_NAME_MAX);
		return -EPROTO;
	}
	strcpy(out->name, json_string_value(v));
	out->has_name = true;
	return 0;
}

int ctl_request_decode(const char *line, size_t len, struct ctl_request *out,
		       char *why, size_t whylen)
{
	const char *key;
	json_t *obj, *val, *op = NULL;
	char b[40];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = load_object(line, len, CTL_REQUEST_MAX, &obj, why, whylen);
	if (rc)
		return rc;
	json_object_foreach(obj, key, val) {
		if (strcmp(key, "op") == 0) {
			op = val;
		} else if (strcmp(key, "name") == 0) {
			rc = parse_name(val, out, why, whylen);
		} else {
			set_why(why, whylen, "unknown key \"%s\"", shown(key, b, sizeof(b)));
			rc = -EPROTO;
		}
		if (rc)
			goto out;
	}
	if (!op) {
		set_why(why, whylen, "missing \"op\"");
		rc = -EPROTO;
		goto out;
	}
	rc = parse_op(op, &out->op, why, whylen);
	if (rc)
		goto out;
	if (out->op == CTL_OP_UP && !out->has_name) {
		set_why(why, whylen, "up needs a profile name");
		rc = -EPROTO;
	} else if (out->op == CTL_OP_LIST && out->has_name) {
		set_why(why, whylen, "list takes no profile name");
		rc = -EPROTO;
	}
out:
	json_decref(obj);
	return rc;
}

char *ctl_encode_progress(enum ctl_step step, const char *detail)
{
	json_t *obj = json_object();
	bool failed = false;

	if (!obj)
		return NULL;
	put(obj, "event", json_string("progress"), &failed);
	put(obj, "step", json_string(ctl_step_name(step)), &failed);
	put(obj, "detail", opt_text_json(detail, CTL_TEXT_MAX), &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_RESPONSE_MAX);
}

char *ctl_encode_warning(const char *detail)
{
	json_t *obj = json_object();
	bool failed = false;

	if (!obj)
		return NULL;
	put(obj, "event", json_string("warning"), &failed);
	put(obj, "detail", text_json(detail, CTL_TEXT_MAX), &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_RESPONSE_MAX);
}

char *ctl_encode_ok(void)
{
	json_t *obj = json_object();
	bool failed = false;

	if (!obj)
		return NULL;
	put(obj, "ok", json_true(), &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_RESPONSE_MAX);
}

char *ctl_encode_error(enum ctl_err code, const char *error)
{
	json_t *obj = json_object();
	bool failed = false;

	if (!obj)
		return NULL;
	put(obj, "ok", json_false(), &failed);
	put(obj, "code", json_string(ctl_err_code(code)), &failed);
	put(obj, "error", text_json(error && error[0] ? error : ctl_err_code(code),
				    CTL_TEXT_MAX), &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_RESPONSE_MAX);
}

static json_t *u64_json(uint64_t v)
{
	/* JSON integers are signed 64-bit in jansson; counters never get there
	 * in practice, but clamp rather than wrap to a negative number. */
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *ctl_status_to_json(const struct ctl_status *st, time_t now)
{
	json_t *obj = json_object(), *dns = json_array();
	const char *tr = ctl_transport_name(st->transport);
	bool failed = !obj || !dns;

	for (size_t i = 0; !failed && i < st->n_dns && i < CTL_DNS_MAX; i++) {
		if (json_array_append_new(dns, text_json(st->dns[i], CTL_ADDR_MAX)))
			failed = true;
	}
	if (failed) {
		json_decref(obj);
		json_decref(dns);
		return NULL;
	}
	put(obj, "name", text_json(st->name, sizeof(st->name)), &failed);
	put(obj, "state", json_string(ctl_state_name(st->state)), &failed);
	put(obj, "gateway", opt_text_json(st->gateway, sizeof(st->gateway)), &failed);
	put(obj, "transport", tr ? json_string(tr) : json_null(), &failed);
	put(obj, "interface", opt_text_json(st->interface, sizeof(st->interface)), &failed);
	put(obj, "local", opt_text_json(st->local, sizeof(st->local)), &failed);
	put(obj, "remote", opt_text_json(st->remote, sizeof(st->remote)), &failed);
	put(obj, "nat", json_boolean(st->nat), &failed);
	put(obj, "mobike", json_boolean(st->mobike), &failed);
	put(obj, "virtual_ip", opt_text_json(st->virtual_ip, sizeof(st->virtual_ip)), &failed);
	put(obj, "dns", dns, &failed);
	put(obj, "ike", opt_text_json(st->ike, sizeof(st->ike)), &failed);
	put(obj, "esp", opt_text_json(st->esp, sizeof(st->esp)), &failed);
	put(obj, "bytes_in", u64_json(st->bytes_in), &failed);
	put(obj, "bytes_out", u64_json(st->bytes_out), &failed);
	put(obj, "packets_in", u64_json(st->packets_in), &failed);
	put(obj, "packets_out", u64_json(st->packets_out), &failed);
	put(obj, "established_at",
	    st->established_at > 0 ? json_integer(st->established_at) : json_null(),
	    &failed);
	put(obj, "since", st->since > 0 ? json_integer(st->since) : json_null(), &failed);
	put(obj, "duration",
	    st->since > 0 && now >= st->since ? json_integer(now - st->since) : json_null(),
	    &failed);
	put(obj, "reason", opt_text_json(st->reason, sizeof(st->reason)), &failed);
	put(obj, "last_error", opt_text_json(st->last_error, sizeof(st->last_error)),
	    &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

char *ctl_encode_status(const struct ctl_status *st, size_t n, time_t now)
{
	json_t *obj = json_object(), *arr = json_array();
	bool failed = !obj || !arr;

	for (size_t i = 0; !failed && i < n; i++) {
		if (json_array_append_new(arr, ctl_status_to_json(&st[i], now)))
			failed = true;
	}
	if (failed) {
		json_decref(obj);
		json_decref(arr);
		return NULL;
	}
	put(obj, "ok", json_true(), &failed);
	put(obj, "status", arr, &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_RESPONSE_MAX);
}

char *ctl_encode_list(const struct ctl_list_entry *e, size_t n)
{
	json_t *obj = json_object(), *arr = json_array();
	bool failed = !obj || !arr;

	for (size_t i = 0; !failed && i < n; i++) {
		json_t *ent = json_object();

		if (!ent || json_array_append_new(arr, ent)) {
			failed = true;
			break;
		}
		put(ent, "name", text_json(e[i].name, sizeof(e[i].name)), &failed);
		put(ent, "state", json_string(ctl_state_name(e[i].state)), &failed);
	}
	if (failed) {
		json_decref(obj);
		json_decref(arr);
		return NULL;
	}
	put(obj, "ok", json_true(), &failed);
	put(obj, "profiles", arr, &failed);
	if (failed) {
		json_decref(obj);
		return NULL;
	}
	return dump_line(obj, CTL_RESPONSE_MAX);
}

/* Copy an optional string member: absent or null leaves dst empty. */
static int get_text(const json_t *obj, const char *key, char *dst, size_t cap,
		    bool required, char *why, size_t whylen)
{
	const json_t *v = json_object_get(obj, key);

	dst[0] = '\0';
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		set_why(why, whylen, "missing \"%s\"", key);
		return -EPROTO;
	}
	if (!json_is_string(v)) {
		set_why(why, whylen, "\"%s\" must be a string", key);
		return -EPROTO;
	}
	if (json_string_length(v) >= cap) {
		set_why(why, whylen, "\"%s\" longer than %zu bytes", key, cap - 1);
		return -EPROTO;
	}
	ctl_text_clean(dst, cap, json_string_value(v));
	return 0;
}

static int get_bool(const json_t *obj, const char *key, bool *dst, char *why,
		    size_t whylen)
{
	const json_t *v = json_object_get(obj, key);

	*dst = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		set_why(why, whylen, "\"%s\" must be true or false", key);
		return -EPROTO;
	}
	*dst = json_is_true(v);
	return 0;
}

static int get_count(const json_t *obj, const char *key, int64_t *dst, char *why,
		     size_t whylen)
{
	const json_t *v = json_object_get(obj, key);

	*dst = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		set_why(why, whylen, "\"%s\" must be a non-negative integer", key);
		return -EPROTO;
	}
	*dst = json_integer_value(v);
	return 0;
}

static int get_u64(const json_t *obj, const char *key, uint64_t *dst, char *why,
		   size_t whylen)
{
	int64_t v;
	int rc = get_count(obj, key, &v, why, whylen);

	*dst = (uint64_t)v;
	return rc;
}

static int get_dns(const json_t *obj, struct ctl_status *out, char *why,
		   size_t whylen)
{
	const json_t *v = json_object_get(obj, "dns"), *e;
	size_t i;

	out->n_dns = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > CTL_DNS_MAX) {
		set_why(why, whylen, "\"dns\" must be a list of at most %d addresses",
			CTL_DNS_MAX);
		return -EPROTO;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) >= CTL_ADDR_MAX) {
			set_why(why, whylen, "\"dns\" entries must be addresses");
			return -EPROTO;
		}
		ctl_text_clean(out->dns[i], CTL_ADDR_MAX, json_string_value(e));
	}
	out->n_dns = json_array_size(v);
	return 0;
}

int ctl_status_from_json(const json_t *obj, struct ctl_status *out, char *why,
			 size_t whylen)
{
	char state[CTL_STEP_MAX], tr[8];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		set_why(why, whylen, "status entries must be objects");
		return -EPROTO;
	}
	rc = get_text(obj, "name", out->name, sizeof(out->name), true, why, whylen);
	if (!rc && !ctl_name_valid(out->name)) {
		set_why(why, whylen, "invalid profile name in status");
		rc = -EPROTO;
	}
	if (!rc)
		rc = get_text(obj, "state", state, sizeof(state), true, why, whylen);
	if (!rc && ctl_state_parse(state, &out->state)) {
		set_why(why, whylen, "unknown state \"%s\"", state);
		rc = -EPROTO;
	}
	if (!rc)
		rc = get_text(obj, "transport", tr, sizeof(tr), false, why, whylen);
	if (!rc) {
		if (strcmp(tr, "udp") == 0) {
			out->transport = CTL_TRANSPORT_UDP;
		} else if (strcmp(tr, "tcp") == 0) {
			out->transport = CTL_TRANSPORT_TCP;
		} else if (tr[0]) {
			set_why(why, whylen, "unknown transport \"%s\"", tr);
			rc = -EPROTO;
		}
	}
#define TEXT(k, f) if (!rc) rc = get_text(obj, k, out->f, sizeof(out->f), false, why, whylen)
	TEXT("gateway", gateway);
	TEXT("interface", interface);
	TEXT("local", local);
	TEXT("remote", remote);
	TEXT("virtual_ip", virtual_ip);
	TEXT("ike", ike);
	TEXT("esp", esp);
	TEXT("reason", reason);
	TEXT("last_error", last_error);
#undef TEXT
	if (!rc)
		rc = get_bool(obj, "nat", &out->nat, why, whylen);
	if (!rc)
		rc = get_bool(obj, "mobike", &out->mobike, why, whylen);
	if (!rc)
		rc = get_dns(obj, out, why, whylen);
	if (!rc)
		rc = get_u64(obj, "bytes_in", &out->bytes_in, why, whylen);
	if (!rc)
		rc = get_u64(obj, "bytes_out", &out->bytes_out, why, whylen);
	if (!rc)
		rc = get_u64(obj, "packets_in", &out->packets_in, why, whylen);
	if (!rc)
		rc = get_u64(obj, "packets_out", &out->packets_out, why, whylen);
	if (!rc)
		rc = get_count(obj, "established_at", &out->established_at, why, whylen);
	if (!rc)
		rc = get_count(obj, "since", &out->since, why, whylen);
	return rc;
}

/* Check every entry now so printers can trust what they walk. */
static int check_entries(const json_t *arr, bool status, char *why, size_t whylen)
{
	struct ctl_status st;
	const json_t *e;
	size_t i;
	int rc;

	json_array_foreach(arr, i, e) {
		if (status) {
			rc = ctl_status_from_json(e, &st, why, whylen);
		} else {
			struct ctl_list_entry le;
			char state[CTL_STEP_MAX];

			if (!json_is_object(e)) {
				set_why(why, whylen, "profile entries must be objects");
				return -EPROTO;
			}
			rc = get_text(e, "name", le.name, sizeof(le.name), true, why, whylen);
			if (!rc)
				rc = get_text(e, "state", state, sizeof(state), true, why, whylen);
			if (!rc && ctl_state_parse(state, &le.state)) {
				set_why(why, whylen, "unknown state \"%s\"", state);
				rc = -EPROTO;
			}
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int decode_event(const json_t *obj, const char *event, struct ctl_msg *out,
			char *why, size_t whylen)
{
	int rc;

	if (strcmp(event, "progress") == 0) {
		out->kind = CTL_MSG_PROGRESS;
		rc = get_text(obj, "step", out->step, sizeof(out->step), true, why, whylen);
		if (!rc)
			rc = get_text(obj, "detail", out->detail, sizeof(out->detail),
				      false, why, whylen);
		return rc;
	}
	if (strcmp(event, "warning") == 0) {
		out->kind = CTL_MSG_WARNING;
		return get_text(obj, "detail", out->detail, sizeof(out->detail), true,
				why, whylen);
	}
	set_why(why, whylen, "unknown event \"%s\"", event);
	return -EPROTO;
}

static int take_array(json_t *obj, const char *key, bool status, json_t **dst,
		      char *why, size_t whylen)
{
	json_t *v = json_object_get(obj, key);
	int rc;

	if (!v)
		return 0;
	if (!json_is_array(v)) {
		set_why(why, whylen, "\"%s\" must be a list", key);
		return -EPROTO;
	}
	rc = check_entries(v, status, why, whylen);
	if (rc)
		return rc;
	*dst = json_incref(v);
	return 0;
}

static int decode_result(json_t *obj, struct ctl_msg *out, char *why, size_t whylen)
{
	const json_t *ok = json_object_get(obj, "ok");
	int rc;

	out->kind = CTL_MSG_RESULT;
	if (!json_is_boolean(ok)) {
		set_why(why, whylen, "reply has neither \"event\" nor a boolean \"ok\"");
		return -EPROTO;
	}
	out->ok = json_is_true(ok);
	if (!out->ok) {
		rc = get_text(obj, "code", out->code_str, sizeof(out->code_str), true,
			      why, whylen);
		if (!rc)
			rc = get_text(obj, "error", out->error, sizeof(out->error), true,
				      why, whylen);
		out->code = ctl_err_parse(out->code_str);
		return rc;
	}
	rc = take_array(obj, "status", true, &out->status, why, whylen);
	if (!rc)
		rc = take_array(obj, "profiles", false, &out->profiles, why, whylen);
	return rc;
}

int ctl_msg_decode(const char *line, size_t len, struct ctl_msg *out, char *why,
		   size_t whylen)
{
	const json_t *event;
	char ev[CTL_STEP_MAX];
	json_t *obj;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = load_object(line, len, CTL_RESPONSE_MAX, &obj, why, whylen);
	if (rc)
		return rc;
	event = json_object_get(obj, "event");
	if (event) {
		rc = get_text(obj, "event", ev, sizeof(ev), true, why, whylen);
		if (!rc)
			rc = decode_event(obj, ev, out, why, whylen);
	} else {
		rc = decode_result(obj, out, why, whylen);
	}
	json_decref(obj);
	if (rc)
		ctl_msg_clear(out);
	return rc;
}

void ctl_msg_clear(struct ctl_msg *msg)
{
	json_decref(msg->status);
	json_decref(msg->profiles);
	msg->status = NULL;
	msg->profiles = NULL;
}
