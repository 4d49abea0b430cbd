/* The control protocol between vpnctl and vpnd.
 *
 * Transport: a unix stream socket (default CTL_DEFAULT_SOCKET). Framing:
 * newline-delimited JSON, one compact object per line. A request line is at
 * most CTL_REQUEST_MAX bytes, a response line at most CTL_RESPONSE_MAX (status
 * of every profile can be long); a longer line, malformed JSON, a wrong type,
 * an unknown key or an unknown op is a protocol error and the server closes
 * that connection after one {"ok":false,"code":"protocol_error",...} line.
 *
 * Requests (client -> vpnd):
 *   {"op":"up","name":"work"}
 *   {"op":"down"}            {"op":"down","name":"work"}
 *   {"op":"status"}          {"op":"status","name":"work"}
 *   {"op":"list"}
 * One request is in flight per connection: the client sends the next one only
 * after the final response of the previous one (a line that arrives earlier is
 * a protocol error). A connection may carry several requests in sequence.
 *
 * Responses (vpnd -> client), zero or more events and then one final object:
 *   {"event":"progress","step":"resolving","detail":"gw.example"}   (up only)
 *   {"event":"warning","detail":"work.conf holds a secret and ..."}
 *   {"ok":true}                                                  up, down
 *   {"ok":true,"status":[{...status object...}, ...]}             status
 *   {"ok":true,"profiles":[{"name":"work","state":"connected"}]}  list
 *   {"ok":false,"code":"auth_failed","error":"<one clear line>"}   any op
 *
 * A status object always carries every key (null where it does not apply):
 *   name, state (connecting|connected|reconnecting|disconnected), gateway,
 *   transport (udp|tcp), interface, local, remote ("addr:port", "[v6]:port"),
 *   nat, mobike (bool), virtual_ip, dns (list), ike, esp (negotiated
 *   algorithms), bytes_in, bytes_out, packets_in, packets_out,
 *   established_at, since (unix seconds), duration (seconds in the current
 *   state), reason (why reconnecting), last_error.
 * Decoders ignore keys they do not know, so keys may be added.
 *
 * Functions return 0 or a negative errno: -EMSGSIZE for an over-long line,
 * -EPROTO for anything else malformed (with a one-line reason in `why`),
 * -ENOMEM. Encoders return a malloc'd line that ends in '\n' (free() it) or
 * NULL when out of memory. */
#ifndef VPN_DAEMON_CTL_PROTO_H
#define VPN_DAEMON_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTL_DEFAULT_SOCKET "/run/vpnctl/vpnd.sock"
#define CTL_DEFAULT_GROUP "vpn"

#define CTL_REQUEST_MAX (64u * 1024u)   /* bytes in a request line, '\n' excluded */
#define CTL_RESPONSE_MAX (1024u * 1024u) /* bytes in a response line */

#define CTL_NAME_MAX 64       /* profile name: [A-Za-z0-9._-], not starting with '.' or '-' */
#define CTL_HOST_MAX 255      /* gateway: DNS name or address */
#define CTL_ADDR_MAX 46       /* INET6_ADDRSTRLEN */
#define CTL_ADDRPORT_MAX 56   /* "[" addr "]:" port */
#define CTL_IFNAME_MAX 16     /* IFNAMSIZ */
#define CTL_ALG_MAX 128       /* "aes256gcm16-prfsha256-x25519" */
#define CTL_DNS_MAX 8
#define CTL_TEXT_MAX 512      /* one line of error, reason, detail */
#define CTL_STEP_MAX 32

enum ctl_op {
	CTL_OP_UP,
	CTL_OP_DOWN,
	CTL_OP_STATUS,
	CTL_OP_LIST,
};

enum ctl_state {
	CTL_STATE_DISCONNECTED,
	CTL_STATE_CONNECTING,
	CTL_STATE_CONNECTED,
	CTL_STATE_RECONNECTING,
};

enum ctl_transport {
	CTL_TRANSPORT_NONE, /* no path yet (disconnected): null on the wire */
	CTL_TRANSPORT_UDP,
	CTL_TRANSPORT_TCP,
};

/* The steps of `up`, in the order a connection goes through them. */
enum ctl_step {
	CTL_STEP_RESOLVING,      /* looking up the gateway's name */
	CTL_STEP_CONNECTING,     /* opening the transport (TCP connect) */
	CTL_STEP_IKE_SA_INIT,    /* first exchange sent */
	CTL_STEP_AUTHENTICATING, /* IKE_AUTH (and EAP rounds) */
	CTL_STEP_CONFIGURING,    /* TUN, addresses, routes, DNS */
	CTL_STEP_RETRYING,       /* starting over (other transport, other address) */
};

/* Why an operation failed. The wire carries the string form ("code"). */
enum ctl_err {
	CTL_ERR_AUTH_FAILED,     /* "auth_failed": our credentials were refused */
	CTL_ERR_CERT_UNTRUSTED,  /* "cert_untrusted": gateway certificate not trusted */
	CTL_ERR_ID_MISMATCH,     /* "identity_mismatch": gateway is not remote_id */
	CTL_ERR_NO_PROPOSAL,     /* "no_proposal_chosen" */
	CTL_ERR_TS_UNACCEPTABLE, /* "ts_unacceptable": traffic selectors */
	CTL_ERR_RESOLVE,         /* "resolve_failed": gateway name did not resolve */
	CTL_ERR_UNREACHABLE,     /* "gateway_unreachable": no answer on any transport */
	CTL_ERR_TIMEOUT,         /* "timeout": the daemon gave up waiting */
	CTL_ERR_CANCELLED,       /* "cancelled": a down arrived during the up */
	CTL_ERR_NO_PROFILE,      /* "no_such_profile" */
	CTL_ERR_BAD_PROFILE,     /* "bad_profile": refused with FILE:LINE: reason */
	CTL_ERR_PERMISSION,      /* "permission_denied" */
	CTL_ERR_NOT_CONNECTED,   /* "not_connected": down of an idle profile */
	CTL_ERR_BUSY,            /* "busy": the profile is in a transition */
	CTL_ERR_SYSTEM,          /* "system_error": TUN, route, DNS or firewall setup */
	CTL_ERR_PROTOCOL,        /* "protocol_error": malformed control message */
	CTL_ERR_INTERNAL,        /* "internal_error" */
	CTL_ERR_UNKNOWN,         /* a code this build does not know (decode only) */
};

struct ctl_request {
	enum ctl_op op;
	bool has_name;
	char name[CTL_NAME_MAX + 1];
};

/* What the session layer reports about one profile. Empty strings mean "does
 * not apply" and go on the wire as null. */
struct ctl_status {
	char name[CTL_NAME_MAX + 1];
	enum ctl_state state;
	char gateway[CTL_HOST_MAX + 1];
	enum ctl_transport transport;
	char interface[CTL_IFNAME_MAX];
	char local[CTL_ADDRPORT_MAX];
	char remote[CTL_ADDRPORT_MAX];
	bool nat;
	bool mobike;
	char virtual_ip[CTL_ADDR_MAX];
	char dns[CTL_DNS_MAX][CTL_ADDR_MAX];
	size_t n_dns;
	char ike[CTL_ALG_MAX];
	char esp[CTL_ALG_MAX];
	uint64_t bytes_in, bytes_out, packets_in, packets_out;
	int64_t established_at; /* unix seconds; 0: not established (null) */
	int64_t since;          /* unix seconds the current state began; 0: unknown */
	char reason[CTL_TEXT_MAX];     /* why reconnecting */
	char last_error[CTL_TEXT_MAX];
};

struct ctl_list_entry {
	char name[CTL_NAME_MAX + 1];
	enum ctl_state state;
};

enum ctl_msg_kind {
	CTL_MSG_PROGRESS,
	CTL_MSG_WARNING,
	CTL_MSG_RESULT,
};

/* One decoded response line (client side). */
struct ctl_msg {
	enum ctl_msg_kind kind;
	char step[CTL_STEP_MAX];     /* progress */
	char detail[CTL_TEXT_MAX];   /* progress, warning */
	bool ok;                     /* result */
	enum ctl_err code;           /* result, !ok */
	char code_str[CTL_STEP_MAX]; /* the code as sent, also when unknown */
	char error[CTL_TEXT_MAX];    /* result, !ok */
	json_t *status;              /* result of status: array, owned */
	json_t *profiles;            /* result of list: array, owned */
};

/* Names and string forms. */
const char *ctl_op_name(enum ctl_op op);
const char *ctl_state_name(enum ctl_state st);
const char *ctl_transport_name(enum ctl_transport t); /* NULL for NONE */
const char *ctl_step_name(enum ctl_step step);
const char *ctl_err_code(enum ctl_err err);
int ctl_state_parse(const char *s, enum ctl_state *out);
enum ctl_err ctl_err_parse(const char *s); /* CTL_ERR_UNKNOWN if not known */

/* Copy `src` into `dst` (capacity `cap` > 0) as one printable line of valid
 * UTF-8: control characters become ' ', invalid bytes '?', and the text is cut
 * at a character boundary when it does not fit. Returns the length written.
 * Everything a peer or a file supplies goes through this before it is shown
 * or logged. */
size_t ctl_text_clean(char *dst, size_t cap, const char *src);

/* A profile name: 1..CTL_NAME_MAX of [A-Za-z0-9._-], not starting with '.'
 * (no hidden files, "." or "..") nor '-' (would read as an option). */
bool ctl_name_valid(const char *name);

/* Requests. */
char *ctl_request_encode(const struct ctl_request *req);
int ctl_request_decode(const char *line, size_t len, struct ctl_request *out,
		       char *why, size_t whylen);

/* Response lines (server side). */
char *ctl_encode_progress(enum ctl_step step, const char *detail);
char *ctl_encode_warning(const char *detail);
char *ctl_encode_ok(void);
char *ctl_encode_error(enum ctl_err code, const char *error);
/* `now` fills "duration"; NULL when the line would exceed CTL_RESPONSE_MAX
 * too (caller answers with an internal error then). */
char *ctl_encode_status(const struct ctl_status *st, size_t n, time_t now);
char *ctl_encode_list(const struct ctl_list_entry *e, size_t n);

/* One status object (both directions); from_json checks the types of the
 * keys it knows and ignores others. */
json_t *ctl_status_to_json(const struct ctl_status *st, time_t now);
int ctl_status_from_json(const json_t *obj, struct ctl_status *out, char *why,
			 size_t whylen);

/* Response lines (client side). `out` must be released with ctl_msg_clear()
 * after a successful decode. */
int ctl_msg_decode(const char *line, size_t len, struct ctl_msg *out, char *why,
		   size_t whylen);
void ctl_msg_clear(struct ctl_msg *msg);

#ifdef __cplusplus
}
#endif
#endif
