/* Platform: links, addresses, routes, policy rules, DNS, and the watcher
 * that tells roaming which uplinks exist.
 *
 * Every change a `struct plat` makes to the system is first appended to its
 * journal in the state directory (platform/state.h) and fsync'ed; undoing
 * the change removes the record. So after a crash plat_state_cleanup() can
 * undo exactly what this daemon changed and nothing else. Each change
 * returns the id of its record; plat_undo(id) reverts one change,
 * plat_undo_all() reverts all of them in reverse order (disconnect, failure,
 * daemon exit).
 *
 * Netlink calls are synchronous (a request and its ACK, microseconds on a
 * local socket); they run at connect, roam and disconnect, never per packet.
 *
 * Routing scheme (the session decides; plat_tunnel_rules() spells it out):
 *   Our IKE/ESP sockets carry fwmark M (SO_MARK). Tunnel routes live in
 *   table T, never in main, and one rule sends everything that is not
 *   marked to T:
 *     prio P:    not fwmark M lookup T
 *   Split tunnel: T holds the traffic selectors' prefixes via the TUN.
 *     Unmarked traffic to those prefixes takes the tunnel even where main
 *     has a more specific route (as strongSwan's table 220 does); anything
 *     else finds no route in T and falls through to main.
 *   Full tunnel: T holds default routes via the TUN, and one more rule
 *     keeps the LAN reachable (wg-quick's scheme):
 *     prio P-1:  lookup main suppress_prefixlength 0
 *     i.e. main's specific routes win, main's default route does not.
 *   The gateway's own traffic is marked, skips T, and follows main's
 *   default route: it stays on the physical uplink, also after roaming,
 *   with no host route to keep up to date.
 *   Routes and rules we add carry protocol PLAT_RTPROT, so `ip route show
 *   proto 118` lists them and deletion never matches a route of others.
 *
 * A connection, in order (the session's part):
 *   daemon start: plat_state_cleanup(state_dir)
 *   plat_open; tun_open + plat_tun_record; plat_watch_ignore(tun)
 *   plat_link_set_mtu(tun_esp_mtu(...)); plat_addr_add(virtual IP as /32
 *     or /128, so no connected route lands in main); plat_link_set_up;
 *     plat_addr_wait_local
 *   plat_route_add into T (selectors, or 0.0.0.0/0 and ::/0 via the TUN)
 *   plat_tunnel_rules + plat_rule_add, per family in use
 *   plat_dns_apply
 *   down, failure, exit: plat_undo_all; tun_close; plat_close
 *
 * All functions return 0 or a negative errno.
 */
#ifndef VPN_PLATFORM_PLAT_H
#define VPN_PLATFORM_PLAT_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Routing protocol number on our routes and rules (unassigned by IANA's
 * iproute2 list; "118" in `ip route`). */
#define PLAT_RTPROT 118

/* An IPv4 or IPv6 address; family 0 means "none". */
struct plat_ip {
	uint8_t family; /* AF_INET, AF_INET6 or 0 */
	uint8_t addr[16];
};

struct plat_prefix {
	struct plat_ip ip;
	uint8_t plen;
};

/* "INET6_ADDRSTRLEN + /128". */
#define PLAT_PREFIX_STRLEN 52

/* Parse "192.0.2.1" / "2001:db8::1"; "10.0.0.0/8" or an address with its
 * prefix length "10.0.0.2/24" (a bare address is a host prefix). -EINVAL. */
int plat_ip_parse(struct plat_ip *ip, const char *s);
int plat_prefix_parse(struct plat_prefix *p, const char *s);
/* 1 when no host bits are set: a network, as a route's destination must
 * be. */
int plat_prefix_is_net(const struct plat_prefix *p);
/* Format into buf (PLAT_PREFIX_STRLEN is always enough); returns buf. */
const char *plat_ip_str(const struct plat_ip *ip, char *buf, size_t len);
const char *plat_prefix_str(const struct plat_prefix *p, char *buf, size_t len);
int plat_ip_equal(const struct plat_ip *a, const struct plat_ip *b);

struct plat;

/* Open the platform context and its journal `<state_dir>/<name>.journal`
 * (name: [A-Za-z0-9_-], at most 64 chars). The journal is locked for as
 * long as the context lives: -EBUSY when another process has it. Creates
 * state_dir (mode 0700) if missing. */
int plat_open(struct plat **out, const char *state_dir, const char *name);
/* Close without undoing anything: the records stay for plat_undo_all()
 * of a later context or for plat_state_cleanup(). */
void plat_close(struct plat *p);

/* Revert one change and drop its record. A change already gone from the
 * system (the link vanished, someone deleted the route) counts as undone.
 * -ENOENT when no live record has this id. */
int plat_undo(struct plat *p, uint64_t id);
/* Revert every change of this journal, newest first. Keeps going past a
 * failure and returns the first error; the journal is empty afterwards
 * except for records it could not undo (and said so in the log). */
int plat_undo_all(struct plat *p);
/* Records not yet undone. */
unsigned plat_pending(const struct plat *p);

/* --- Links and addresses ------------------------------------------------ */

/* Record the TUN device we just created, so a clean-up deletes it should
 * it outlive us. Recorded after creation because its name is only known
 * then; if we die in between, the kernel removes the non-persistent device
 * with our fd. */
int plat_tun_record(struct plat *p, int ifindex, const char *ifname,
		    uint64_t *id);

/* MTU and up/down of a link we own (our TUN): not journaled, the link
 * goes away with its settings. */
int plat_link_set_mtu(struct plat *p, int ifindex, unsigned mtu);
int plat_link_set_up(struct plat *p, int ifindex, int up);
/* Read back name, MTU and IFF_* flags (for checks and logs). */
int plat_link_get(struct plat *p, int ifindex, char name[IFNAMSIZ],
		  unsigned *mtu, unsigned *flags);

/* Add an address (IPv6 without DAD: it was assigned to us). -EEXIST when
 * the link already has it (then it is not ours and not journaled). */
int plat_addr_add(struct plat *p, int ifindex, const struct plat_prefix *addr,
		  uint64_t *id);

/* --- Routes and rules --------------------------------------------------- */

struct plat_route {
	struct plat_prefix dst;
	struct plat_ip gw;    /* next hop; family 0: directly via oif */
	struct plat_ip src;   /* preferred source; family 0: none */
	int oif;              /* 0: the kernel picks from gw */
	uint32_t table;       /* 0: main */
	uint32_t metric;
};

/* -EEXIST when an identical route exists (not journaled then). */
int plat_route_add(struct plat *p, const struct plat_route *r, uint64_t *id);

/* How the kernel would reach dst for a socket with fwmark `mark` (0: no
 * mark), through the policy rules. -ENETUNREACH (or -EHOSTUNREACH) when it
 * would not. */
struct plat_route_info {
	int oif;
	struct plat_ip src;   /* source address the kernel would pick */
	struct plat_ip gw;    /* family 0 when dst is on-link */
	uint32_t table;
	uint8_t type;         /* RTN_UNICAST, RTN_LOCAL (one of ours), ... */
};
int plat_route_get(struct plat *p, const struct plat_ip *dst, uint32_t mark,
		   struct plat_route_info *out);

/* Wait (blocking, polling every millisecond, at most timeout_ms) until the
 * kernel delivers packets for addr locally. IPv6 addresses become usable
 * a few milliseconds after the link comes up, from a kernel work queue,
 * even without DAD; packets that arrive before are dropped. Call once
 * after configuring the TUN, before traffic is expected. -ETIMEDOUT. */
int plat_addr_wait_local(struct plat *p, const struct plat_ip *addr,
			 unsigned timeout_ms);

struct plat_rule {
	uint8_t family;         /* AF_INET or AF_INET6 */
	uint32_t priority;      /* required: it makes deletion exact */
	uint32_t table;
	uint32_t fwmark;
	uint32_t fwmask;        /* 0: no mark match */
	int invert;             /* "not fwmark ..." */
	int suppress_prefixlen; /* -1: none */
};

int plat_rule_add(struct plat *p, const struct plat_rule *r, uint64_t *id);

/* Fill out[] with the rules of the scheme above for one family: one rule
 * (split) or two (full). Returns how many. */
int plat_tunnel_rules(uint8_t family, uint32_t table, uint32_t fwmark,
		      uint32_t priority, int full, struct plat_rule out[2]);

/* --- DNS through resolv.conf ---------------------------------------------- */

#define PLAT_DNS_MAX_SERVERS 8
#define PLAT_DNS_MAX_SEARCH 8
#define PLAT_DNS_NAME_MAX 253

struct plat_dns {
	unsigned nservers;
	struct plat_ip servers[PLAT_DNS_MAX_SERVERS];
	unsigned nsearch;
	char search[PLAT_DNS_MAX_SEARCH][PLAT_DNS_NAME_MAX + 1];
};

/* Replace resolv_path (never the host's by accident: the caller names it)
 * with our servers and search domains. The original (a file, a symlink
 * such as systemd-resolved's, or nothing) is saved in the state directory
 * first. Undo puts it back, unless someone else has replaced our file in
 * the meantime, in which case theirs stays. Domains must be plain DNS
 * names: -EINVAL otherwise (they come from the gateway). */
int plat_dns_apply(struct plat *p, const char *resolv_path,
		   const struct plat_dns *dns, uint64_t *id);

/* --- Uplink watcher -------------------------------------------------------- */

#define PLAT_UPLINK_MAX 16
#define PLAT_UPLINK_ADDRS 8

struct plat_default_route {
	int present;
	struct plat_ip gw;     /* family 0: a device route (point-to-point) */
	uint32_t metric;
};

/* A link that is up and running, not loopback, not ignored, and has for
 * at least one family both a global address and a default route in main. */
struct plat_uplink {
	int ifindex;
	char ifname[IFNAMSIZ];
	unsigned naddrs;
	struct plat_prefix addrs[PLAT_UPLINK_ADDRS];
	struct plat_default_route def4, def6;
};

struct plat_uplinks {
	unsigned n;              /* sorted by ifindex */
	struct plat_uplink link[PLAT_UPLINK_MAX];
	int preferred;           /* index of the lowest-metric default, -1 */
	int preferred4, preferred6;
};

typedef void (*plat_uplinks_cb)(const struct plat_uplinks *u, void *arg);

struct plat_watch;

/* Watch links, addresses and routes on `loop`. After changes settle for
 * settle_ms (0: 150) the callback gets the current uplinks, but only when
 * they differ from the last report; the first report comes right after
 * start. Own netlink sockets: independent of any struct plat. */
int plat_watch_start(struct plat_watch **out, uv_loop_t *loop,
		     unsigned settle_ms, plat_uplinks_cb cb, void *arg);
/* Leave this link out (our TUN). Re-evaluates at the next settle. */
int plat_watch_ignore(struct plat_watch *w, int ifindex);
/* Read the uplinks now, synchronously (also what the watcher reports). */
int plat_watch_read(struct plat_watch *w, struct plat_uplinks *out);
/* Stop; memory is released once the loop has closed the handles. */
void plat_watch_close(struct plat_watch *w);

#ifdef __cplusplus
}
#endif
#endif
