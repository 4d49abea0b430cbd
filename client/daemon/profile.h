/* Connection profiles: NAME.conf in the profiles directory.
 *
 * One INI file per connection with a single [connection] section:
 *   gateway       address or DNS name (required)
 *   remote_id     identity the gateway must prove (default: chosen by IKE)
 *   local_id      our identity (default: chosen by IKE)
 *   auth          psk | pubkey | eap-mschapv2 (required)
 *   psk, psk_file                  auth = psk: exactly one of them
 *   cert, key                      auth = pubkey: our certificate and key
 *   ca                             auth = pubkey | eap-mschapv2: trust anchor
 *   eap_identity                   auth = eap-mschapv2
 *   eap_password, eap_password_file  auth = eap-mschapv2: exactly one
 *   ike, esp      proposal lists, strongSwan style (aes256gcm16-prfsha256-x25519)
 *   routes        CIDR list (IPv4 and IPv6), comma or space separated;
 *                 default: what the gateway's traffic selectors allow
 *   transport     auto | udp | tcp (default auto)
 *   mobike        yes | no (default yes)
 *   full_tunnel   yes | no (default no): send everything through the tunnel
 *   killswitch    yes | no (default no): block traffic outside the tunnel
 *   allow_lan     yes | no (default no): with killswitch, keep the local LAN
 *   autoconnect   yes | no (default no): bring up when vpnd starts
 *   ike_rekey     how often we rekey the IKE SA: 30s, 45m, 3h (default 3h; 0 never)
 *   esp_rekey     how often we rekey the Child SA (default 45m; 0 never)
 *   dpd           liveness check after this much silence (default 30s; 0 off)
 *
 * Everything is checked at load; the first problem refuses the profile with
 * "FILE:LINE: reason". Keys outside [connection], unknown keys, duplicate
 * keys, keys the chosen auth does not use, empty values and lines longer than
 * inih's line limit are refused. Leading whitespace is ignored (there are no
 * continuation lines); an inline comment starts with whitespace and ';', so a
 * secret containing " ;" belongs in psk_file / eap_password_file (an inline
 * ';' in psk or eap_password is refused rather than silently cut).
 *
 * Relative paths (cert, key, ca, *_file) are relative to the profile's
 * directory. Secrets named by *_file are read at load (one line, trimmed).
 * A profile (inline psk or eap_password) or secret file (*_file, key) that is
 * readable by anyone but root (owned by another user, or group/other bits)
 * gets a warning: logged and kept in `warnings` so `vpnctl up` can show it.
 *
 * Functions return 0 or a negative errno; `err` (when not NULL) receives one
 * line "FILE:LINE: reason" or "FILE: reason". Secrets are wiped on free. */
#ifndef VPN_DAEMON_PROFILE_H
#define VPN_DAEMON_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/daemon/ctl_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VPN_PROFILE_MAX_ROUTES 64
#define VPN_PROFILE_MAX_WARNINGS 4
#define VPN_PROFILE_MAX_FILE (64 * 1024)  /* bytes in a profile */
#define VPN_PROFILE_MAX_SECRET 1024        /* bytes in a PSK or password */
#define VPN_PROFILE_MAX_PROFILES 256       /* profiles in one directory */
#define VPN_PROFILE_ERR_MAX CTL_TEXT_MAX
#define VPN_PROFILE_UNSET UINT32_MAX

enum vpn_auth {
	VPN_AUTH_PSK,
	VPN_AUTH_PUBKEY,
	VPN_AUTH_EAP_MSCHAPV2,
};

enum vpn_transport_pref {
	VPN_TRANSPORT_AUTO, /* UDP first, TCP (RFC 9329) when UDP is blocked */
	VPN_TRANSPORT_UDP,
	VPN_TRANSPORT_TCP,
};

struct vpn_route {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network address, host bits zero */
	uint8_t prefix_len;
};

struct vpn_profile {
	char name[CTL_NAME_MAX + 1];
	char *path;         /* the file it came from */
	char *gateway;
	char *remote_id;    /* NULL: not set */
	char *local_id;     /* NULL: not set */
	enum vpn_auth auth;
	uint8_t *psk;       /* auth = psk; secret, psk_len bytes (also NUL-terminated) */
	size_t psk_len;
	char *cert, *key, *ca;  /* absolute paths, NULL when unused */
	char *eap_identity;
	char *eap_password; /* secret, NUL-terminated */
	char *ike, *esp;    /* proposal strings, NULL: defaults */
	struct vpn_route *routes;
	size_t n_routes;    /* 0: take the gateway's traffic selectors */
	enum vpn_transport_pref transport;
	bool mobike, full_tunnel, killswitch, allow_lan, autoconnect;
	/* Timers in seconds; VPN_PROFILE_UNSET: the daemon's default. */
	uint32_t ike_rekey_s, esp_rekey_s, dpd_s;
	char warnings[VPN_PROFILE_MAX_WARNINGS][VPN_PROFILE_ERR_MAX];
	size_t n_warnings;
};

/* Hook for the proposal parser (client/ike proposals), written outside this
 * module: the daemon installs it at start. When set, every ike / esp value is
 * passed to it at load time (is_esp tells which list) and a negative return
 * refuses the profile with the reason it wrote into `why`. While unset, ike
 * and esp are only checked for their character set here, and whoever uses
 * them must parse them before use. */
typedef int (*vpn_proposal_check_fn)(const char *list, bool is_esp, char *why,
				     size_t whylen);
void vpn_profile_set_proposal_check(vpn_proposal_check_fn fn);

/* Load one file. `name` is the profile name (usually from the file name). */
int vpn_profile_load(const char *path, const char *name, struct vpn_profile **out,
		     char *err, size_t errlen);
/* Load DIR/NAME.conf; -ENOENT with "no profile NAME in DIR" when absent,
 * -EINVAL for a name ctl_name_valid() refuses. */
int vpn_profile_load_named(const char *dir, const char *name,
			   struct vpn_profile **out, char *err, size_t errlen);
void vpn_profile_free(struct vpn_profile *p);

/* Every NAME.conf of a directory, sorted by name. A refused file does not
 * stop the others: its "FILE:LINE: reason" goes into `errors`. */
struct vpn_profile_set {
	struct vpn_profile **items;
	size_t n;
	char (*errors)[VPN_PROFILE_ERR_MAX];
	size_t n_errors;
};

/* 0 (even when some files were refused) or -errno when the directory
 * cannot be read; `err` says why then. */
int vpn_profile_load_dir(const char *dir, struct vpn_profile_set *set, char *err,
			 size_t errlen);
const struct vpn_profile *vpn_profile_set_find(const struct vpn_profile_set *set,
					       const char *name);
void vpn_profile_set_free(struct vpn_profile_set *set);

const char *vpn_auth_name(enum vpn_auth auth);

#ifdef __cplusplus
}
#endif
#endif
