/* A session: one connection to one gateway.
 *
 * It owns the IKE SA, the ESP SAs of its Child SAs, the current path to the
 * gateway, the TUN device and every system change made for the tunnel
 * (addresses, routes, rules, DNS), and it moves packets between the TUN
 * device and the path. The reconnect and roam policy lives here and only
 * here; the daemon only starts and stops sessions and reads their status.
 *
 * State machine (one transition function, sess_set_state):
 *   IDLE -> RESOLVING -> CONNECTING -> CONFIGURING -> CONNECTED
 *   any -> DISCONNECTING -> DOWN, any -> FAILED
 *   any -> RECONNECTING -> RESOLVING ...   (keep-up sessions, see below)
 * A session that failed or is down can be started again.
 *
 * Keep-up: a session with cfg.keep_up (autoconnect profiles), or one that
 * was connected once, does not stay FAILED when its tunnel breaks: it goes
 * RECONNECTING and starts over after a capped exponential back-off
 * (timer reconnect_backoff: 1, 2, 4 ... 60 s), until sess_down. */
#ifndef VPN_SESSION_H
#define VPN_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "client/ike/ike.h"
#include "platform/plat.h"

struct plat_resolved;

#ifdef __cplusplus
extern "C" {
#endif

#define SESS_MAX_ROUTES 32

enum sess_state {
	SESS_IDLE,
	SESS_RESOLVING,
	SESS_CONNECTING,    /* IKE_SA_INIT / IKE_AUTH */
	SESS_CONFIGURING,   /* TUN, addresses, routes, DNS */
	SESS_CONNECTED,
	SESS_DISCONNECTING, /* our Delete is out */
	SESS_DOWN,          /* closed on request */
	SESS_FAILED,        /* ended by an error; reason in status */
	SESS_RECONNECTING,  /* waiting to start over after a failure */
};
const char *sess_state_name(enum sess_state s);

/* Progress steps reported while connecting. */
enum sess_step {
	SESS_STEP_RESOLVING,
	SESS_STEP_IKE_SA_INIT,
	SESS_STEP_AUTHENTICATING,
	SESS_STEP_CONFIGURING,
};

struct sess_cfg {
	char name[80];
	char gateway[256];     /* host name or address */
	uint16_t ike_port;     /* 0: 500 */
	uint16_t natt_port;    /* 0: 4500 */
	struct ike_cfg ike;    /* identities, credentials, proposals, timers */

	/* routing */
	bool full_tunnel;      /* route everything (TSr 0.0.0.0/0) */
	unsigned n_routes;     /* 0: route what the gateway's TS allow */
	struct plat_prefix routes[SESS_MAX_ROUTES];
	uint32_t fwmark;       /* on our sockets; 0: derived from the table */
	uint32_t table;        /* policy routing table; 0: chosen per session */
	uint32_t rule_priority;

	/* system */
	const char *state_dir;   /* platform journal */
	const char *resolv_conf; /* NULL: /etc/resolv.conf; "" leaves DNS alone */
	const char *tun_name;    /* NULL: "vpn%d" */
	unsigned path_mtu;       /* 0: 1500 */
	bool tun_offload;        /* TUN GSO/GRO offloads */
	bool keep_up;            /* retry from the first failure on (autoconnect) */
	uint32_t backoff_max_s;  /* 0: 60 */

	/* Kill switch: from the first IKE packet to `down`, also while
	 * reconnecting, nothing leaves the physical links but IKE/ESP to the
	 * gateway, DHCP/ND, and the uplinks' LANs with allow_lan. */
	bool killswitch;
	bool allow_lan;
	struct plat_watch *watch;        /* uplinks (LAN prefixes); may be NULL */
	struct plat_resolved *resolved;  /* systemd-resolved, NULL: resolv.conf */
};

struct sess_status {
	enum sess_state state;
	char gateway[256];
	char interface[IFNAMSIZ];
	struct sockaddr_storage local, remote;
	bool nat, mobike;
	bool have_vip4, have_vip6;
	uint8_t vip4[4], vip6[16];
	unsigned n_dns;
	struct plat_ip dns[IKE_MAX_DNS * 2];
	char ike_alg[96], esp_alg[96];
	uint64_t bytes_in, bytes_out, packets_in, packets_out;
	int64_t established_at; /* unix seconds, 0 if never */
	int64_t since;          /* unix seconds of the last state change */
	enum ike_fail fail;     /* why the last attempt failed */
	char last_error[512];
	unsigned attempts;      /* failed attempts since the last connect */
	int64_t retry_at;       /* RECONNECTING: unix seconds of the next attempt */
};

struct sess_ops {
	void (*progress)(void *arg, enum sess_step step, const char *detail);
	/* Every state change; `reason` is the failure or close reason when the
	 * new state is FAILED, RECONNECTING or DOWN. */
	void (*state)(void *arg, enum sess_state state, enum ike_fail why,
		      const char *reason);
	/* The gateway asked for key exchange group `group` (INVALID_KE_PAYLOAD):
	 * the session's own retries use it; the owner may keep it for the
	 * next session of this profile (cfg.ike.ke_group). Optional. */
	void (*ke_group)(void *arg, uint16_t group);
};

struct sess;

int sess_new(uv_loop_t *loop, const struct sess_cfg *cfg, const struct sess_ops *ops,
	     void *arg, struct sess **out);
/* Connect. -EBUSY unless IDLE, DOWN or FAILED. */
int sess_up(struct sess *s);
/* Disconnect politely (bounded); ops->state reports DOWN. */
void sess_down(struct sess *s);
/* Release; tears down without telling the gateway if still up. */
void sess_free(struct sess *s);
void sess_status(const struct sess *s, struct sess_status *out);
enum sess_state sess_state(const struct sess *s);

#ifdef __cplusplus
}
#endif
#endif
