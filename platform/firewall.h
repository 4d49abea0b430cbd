/* The kill switch: while a profile is up, nothing leaves the machine's
 * physical interfaces except what keeps the tunnel itself alive.
 *
 * One nftables table of our own per profile, `inet vpnctl_<name>`, with one
 * base chain on the postrouting hook. Postrouting, not output: it sees the
 * final output interface (after any re-routing by others' mangle or NAT
 * chains) and it also sees forwarded packets, so containers and VMs behind
 * a bridge cannot leak either. A drop in our chain is final whatever other
 * tables accept; an accept only lets the packet on to others' chains, so
 * the kill switch can only ever restrict. The chain lets through:
 *
 *   - loopback, and anything out of the tunnel interfaces (exact names);
 *   - UDP to a gateway address on the IKE/NAT-T ports, and TCP to a
 *     gateway on the TCP encapsulation ports (RFC 9329), both only from
 *     sockets carrying our fwmark. The mark alone is not enough: any
 *     process with CAP_NET_ADMIN can set it, and other VPNs mark their
 *     packets too, so it narrows the gateway rule instead of replacing it;
 *   - DHCP (client 68 -> 67, DHCPv6 546 -> 547), and the ICMPv6 the link
 *     needs: router and neighbour solicitation/advertisement with hop
 *     limit 255 and MLD reports with hop limit 1 (neither can be routed
 *     off the link);
 *   - with allow_lan, the given LAN prefixes, but only where they lie in
 *     private or link-local space (RFC 1918, RFC 6598, RFC 3927, RFC 4193,
 *     fe80::/10), plus link-local multicast and broadcast. A LAN prefix in
 *     public space is refused: a hostile network could otherwise hand out
 *     a netmask covering the addresses it wants to see in the clear (the
 *     "LocalNet" attack of TunnelCrack).
 *   Everything else is counted and dropped.
 *
 * Gateways, ports, marks, tunnel names and LAN prefixes live in nft sets;
 * plat_killswitch_update() swaps their contents in one nft transaction, so
 * there is no moment where the old set is gone and the new one not yet
 * there, and the drop rule never moves.
 *
 * Not filtered: AF_PACKET sockets (dhclient's raw DHCP, tcpdump injection)
 * bypass netfilter altogether; only root can open them.
 *
 * The table is journaled ("nft-table") before it is created, so
 * plat_undo()/plat_undo_all()/plat_state_cleanup() delete it, also after a
 * crash. The rules go in through libnftables, one transaction per call.
 *
 * All functions return 0 or a negative errno.
 */
#ifndef VPN_PLATFORM_FIREWALL_H
#define VPN_PLATFORM_FIREWALL_H

#include <net/if.h>
#include <stdint.h>

#include "platform/plat.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PLAT_KS_MAX_GW 8
#define PLAT_KS_MAX_PORTS 4
#define PLAT_KS_MAX_TUN 4
#define PLAT_KS_MAX_LAN 16
/* "vpnctl_" + a profile name of at most 64 characters. */
#define PLAT_KS_TABLE_MAX 72

struct plat_killswitch_cfg {
	unsigned ngw;
	struct plat_ip gw[PLAT_KS_MAX_GW];     /* every address of the gateway */
	unsigned nudp;                         /* 0: 500 and 4500 */
	uint16_t udp_ports[PLAT_KS_MAX_PORTS];
	unsigned ntcp;                         /* TCP encapsulation; 0: none */
	uint16_t tcp_ports[PLAT_KS_MAX_PORTS];
	uint32_t fwmark;                       /* of our IKE/ESP sockets; 0: any */
	unsigned ntun;                         /* tunnel interfaces, exact names */
	char tun[PLAT_KS_MAX_TUN][IFNAMSIZ];
	int allow_lan;
	unsigned nlan;                         /* e.g. the uplinks' addresses */
	struct plat_prefix lan[PLAT_KS_MAX_LAN]; /* host bits are ignored */
};

/* Create table `inet vpnctl_<name>` (name: [A-Za-z0-9._-], 1-64 chars)
 * with cfg, journaled first. A table of that name left behind by someone
 * is replaced in the same transaction. Calling it again while it is on
 * rebuilds the table under the same record (same *id). -EINVAL for a bad name or cfg,
 * -EPERM without CAP_NET_ADMIN, -EIO when nftables refuses
 * (its message is logged). */
int plat_killswitch_on(struct plat *p, const char *name,
		       const struct plat_killswitch_cfg *cfg, uint64_t *id);

/* Replace gateways, ports, mark, tunnel names and LAN prefixes of a table
 * that is on, atomically. On failure the previous contents stay. -ENOENT
 * when the table is not there. */
int plat_killswitch_update(const char *name, const struct plat_killswitch_cfg *cfg);

/* Delete the table and drop its journal record (the record of the most
 * recent plat_killswitch_on with this name). -ENOENT when this journal has
 * no such record; a table already gone counts as deleted. */
int plat_killswitch_off(struct plat *p, const char *name);

/* What the drop rule has counted since the table was created. */
int plat_killswitch_dropped(const char *name, uint64_t *packets, uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
