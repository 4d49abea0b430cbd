/* DNS through systemd-resolved: the gateway's servers and domains on the
 * tunnel link, over resolved's D-Bus API (org.freedesktop.resolve1 on the
 * system bus, sd-bus).
 *
 *   split tunnel: the servers, and the gateway's domains (RFC 8598) as
 *                 routing-only domains ("~corp.example"); the link is not
 *                 a default route, so other names never go to the tunnel;
 *   full tunnel:  the servers, the domains, and the root routing domain
 *                 "~.": every name goes to the tunnel's servers.
 *
 * Each link is journaled ("resolved-link", with ifindex and name) before
 * resolved is told, so plat_undo()/plat_undo_all()/plat_state_cleanup()
 * call RevertLink. A link that has vanished, or a resolved that is not
 * running, counts as already reverted: resolved forgets a link with the
 * link. We never start resolved by bus activation.
 *
 * The handle follows resolved: when org.freedesktop.resolve1 gets a new
 * owner (resolved restarted) the settings of every link applied through
 * this handle are pushed again; when the system bus itself goes away it
 * reconnects. The bus connection runs on the libuv loop (its fd in a
 * uv_poll_t, sd-bus's deadlines in a uv_timer_t). Method calls made by
 * apply/revert are synchronous, bounded by a timeout of a few seconds,
 * like the netlink calls of plat.h: they run at connect and disconnect,
 * not per packet.
 *
 * The bus is the system bus as sd-bus finds it: DBUS_SYSTEM_BUS_ADDRESS
 * when set (tests run a private dbus-daemon), else the standard socket.
 *
 * All functions return 0 or a negative errno.
 */
#ifndef VPN_PLATFORM_RESOLVED_H
#define VPN_PLATFORM_RESOLVED_H

#include <stdint.h>
#include <uv.h>

#include "platform/plat.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PLAT_RESOLVED_MAX_LINKS 8

struct plat_resolved;

/* Connect to the system bus and watch for resolved. Fails (-ENOENT,
 * -ECONNREFUSED, ...) when there is no system bus at all; succeeds
 * whether resolved runs or not. */
int plat_resolved_open(struct plat_resolved **out, uv_loop_t *loop);

/* 1 when resolved is on the bus now, 0 when not (or the bus is gone).
 * Asks the bus, so it is exact at the moment of the call. */
int plat_resolved_available(struct plat_resolved *r);

/* Give the link `ifindex` the servers and domains of dns (dns->search are
 * the gateway's domains; each a plain DNS name). full: full tunnel (see
 * above). The record goes into p's journal; *id (may be NULL) gets its id.
 * Applying again to a link this handle already has replaces its settings
 * under the same record. -ENOENT when resolved is not running, -ENODEV
 * when the link does not exist, -EINVAL for bad input, -ENOSPC past
 * PLAT_RESOLVED_MAX_LINKS links. On an error nothing new is journaled and
 * a half-done change is reverted: a new link is left without our settings,
 * a link applied before gets its previous settings back.
 *
 * p must stay open while the handle has the link: revert it (or close the
 * handle) before plat_close(p). */
int plat_resolved_apply(struct plat_resolved *r, struct plat *p, int ifindex,
			const struct plat_dns *dns, int full, uint64_t *id);

/* Revert the link (RevertLink) and drop its record; stop following it.
 * Also fine after the record was undone otherwise (plat_undo_all), or
 * when the handle has no such link: then there is nothing left to do and
 * it returns 0. */
int plat_resolved_revert(struct plat_resolved *r, struct plat *p, int ifindex);

/* Close the bus connection; nothing is reverted (the journal keeps the
 * records). Memory goes once the loop has closed the handles. */
void plat_resolved_close(struct plat_resolved *r);

#ifdef __cplusplus
}
#endif
#endif
