/* The uplink watcher. See plat.h.
 *
 * A netlink socket subscribed to link, address and route changes only says
 * "something changed"; once changes settle we dump links, addresses and
 * routes afresh and derive the uplinks. Re-reading instead of applying each
 * event keeps the view right even when the kernel drops events on a full
 * socket buffer (ENOBUFS), and a report only goes out when the uplinks
 * differ from the last one, so our own route changes cost a dump, not a
 * MOBIKE update.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/util/log.h"
#include "platform/internal.h"

#define WATCH_SETTLE_DEFAULT_MS 150
/* A link that keeps flapping must not postpone the report for ever. */
#define WATCH_SETTLE_MAX_MS 1000
#define WATCH_IGNORE_MAX 16
#define WATCH_RCVBUF (1 << 20)

struct plat_watch {
	uv_loop_t *loop;
	uv_poll_t poll;
	uv_timer_t netlink_settle;  /* armed by netlink change notifications */
	uint64_t burst_start;
	unsigned settle_ms;
	struct nl_sock *ev;         /* subscribed to the change groups */
	struct nl_sock *sync;       /* dumps */
	struct nl_cache *links, *addrs, *routes;
	plat_uplinks_cb cb;
	void *arg;
	int ignore[WATCH_IGNORE_MAX];
	unsigned nignore;
	struct plat_uplinks last;
	int reported;
	int open_handles;
	int warned_full;
};

static int watch_ignored(const struct plat_watch *w, int ifindex)
{
	unsigned i;

	for (i = 0; i < w->nignore; i++)
		if (w->ignore[i] == ifindex)
			return 1;
	return 0;
}

/* Global, settled addresses of the link. Returns a bitmask: 1 IPv4, 2 IPv6. */
static int watch_addrs(struct plat_watch *w, struct plat_uplink *u)
{
	struct nl_object *o;
	int fams = 0;

	for (o = nl_cache_get_first(w->addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		unsigned fl = rtnl_addr_get_flags(a);
		struct plat_prefix *pfx;

		if (rtnl_addr_get_ifindex(a) != u->ifindex ||
		    rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE ||
		    (fl & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
			continue;
		if (u->naddrs == PLAT_UPLINK_ADDRS)
			break;
		pfx = &u->addrs[u->naddrs];
		plat_ip_from_nl(&pfx->ip, rtnl_addr_get_local(a));
		if (!pfx->ip.family)
			continue;
		pfx->plen = (uint8_t)rtnl_addr_get_prefixlen(a);
		fams |= pfx->ip.family == AF_INET ? 1 : 2;
		u->naddrs++;
	}
	return fams;
}

/* The lowest-metric default route of main via the link, per family. */
static void watch_defaults(struct plat_watch *w, struct plat_uplink *u)
{
	struct nl_object *o;

	for (o = nl_cache_get_first(w->routes); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		int i, n = rtnl_route_get_nnexthops(r);
		int fam = rtnl_route_get_family(r);
		struct plat_default_route *d;

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(r) != RTN_UNICAST || !dst ||
		    nl_addr_get_prefixlen(dst) != 0)
			continue;
		if (fam == AF_INET)
			d = &u->def4;
		else if (fam == AF_INET6)
			d = &u->def6;
		else
			continue;
		for (i = 0; i < n; i++) {
			struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, i);

			if (rtnl_route_nh_get_ifindex(nh) != u->ifindex)
				continue;
			if (d->present && d->metric <= rtnl_route_get_priority(r))
				continue;
			d->present = 1;
			d->metric = rtnl_route_get_priority(r);
			plat_ip_from_nl(&d->gw, rtnl_route_nh_get_gateway(nh));
		}
	}
}

static int uplink_cmp(const void *a, const void *b)
{
	const struct plat_uplink *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static void pick_preferred(struct plat_uplinks *out)
{
	uint32_t best = 0, best4 = 0, best6 = 0;
	unsigned i;

	out->preferred = out->preferred4 = out->preferred6 = -1;
	for (i = 0; i < out->n; i++) {
		const struct plat_uplink *u = &out->link[i];

		if (u->def4.present && (out->preferred4 < 0 || u->def4.metric < best4)) {
			out->preferred4 = (int)i;
			best4 = u->def4.metric;
		}
		if (u->def6.present && (out->preferred6 < 0 || u->def6.metric < best6)) {
			out->preferred6 = (int)i;
			best6 = u->def6.metric;
		}
	}
	if (out->preferred4 >= 0) {
		out->preferred = out->preferred4;
		best = best4;
	}
	/* On a tie IPv4 stays preferred: most gateways are reached over it. */
	if (out->preferred6 >= 0 && (out->preferred < 0 || best6 < best))
		out->preferred = out->preferred6;
}

int plat_watch_read(struct plat_watch *w, struct plat_uplinks *out)
{
	struct nl_object *o;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = nl_cache_refill(w->sync, w->links)) < 0 ||
	    (err = nl_cache_refill(w->sync, w->addrs)) < 0 ||
	    (err = nl_cache_refill(w->sync, w->routes)) < 0) {
		vlog_err(PLAT_MOD, "watch: dump: %s", nl_geterror(err));
		pick_preferred(out);
		return -EIO;
	}
	for (o = nl_cache_get_first(w->links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		unsigned fl = rtnl_link_get_flags(l);
		struct plat_uplink *u;
		int fams;

		if ((fl & IFF_LOOPBACK) || (fl & (IFF_UP | IFF_RUNNING)) != (IFF_UP | IFF_RUNNING) ||
		    watch_ignored(w, rtnl_link_get_ifindex(l)))
			continue;
		if (out->n == PLAT_UPLINK_MAX) {
			if (!w->warned_full)
				vlog_warn(PLAT_MOD, "watch: more than %d uplinks; the rest are left out",
					  PLAT_UPLINK_MAX);
			w->warned_full = 1;
			break;
		}
		u = &out->link[out->n];
		memset(u, 0, sizeof(*u));
		u->ifindex = rtnl_link_get_ifindex(l);
		snprintf(u->ifname, sizeof(u->ifname), "%s", rtnl_link_get_name(l));
		fams = watch_addrs(w, u);
		watch_defaults(w, u);
		/* A default route is only usable with an address to send from. */
		if (!(fams & 1))
			memset(&u->def4, 0, sizeof(u->def4));
		if (!(fams & 2))
			memset(&u->def6, 0, sizeof(u->def6));
		if (u->def4.present || u->def6.present)
			out->n++;
	}
	qsort(out->link, out->n, sizeof(out->link[0]), uplink_cmp);
	pick_preferred(out);
	return 0;
}

static int defroute_equal(const struct plat_default_route *a,
			  const struct plat_default_route *b)
{
	return a->present == b->present && a->metric == b->metric &&
	       plat_ip_equal(&a->gw, &b->gw);
}

static int uplinks_equal(const struct plat_uplinks *a, const struct plat_uplinks *b)
{
	unsigned i, k;

	if (a->n != b->n || a->preferred != b->preferred ||
	    a->preferred4 != b->preferred4 || a->preferred6 != b->preferred6)
		return 0;
	for (i = 0; i < a->n; i++) {
		const struct plat_uplink *x = &a->link[i], *y = &b->link[i];

		if (x->ifindex != y->ifindex || strcmp(x->ifname, y->ifname) ||
		    x->naddrs != y->naddrs || !defroute_equal(&x->def4, &y->def4) ||
		    !defroute_equal(&x->def6, &y->def6))
			return 0;
		for (k = 0; k < x->naddrs; k++)
			if (x->addrs[k].plen != y->addrs[k].plen ||
			    !plat_ip_equal(&x->addrs[k].ip, &y->addrs[k].ip))
				return 0;
	}
	return 1;
}

static void on_netlink_settle(uv_timer_t *t)
{
	struct plat_watch *w = t->data;
	struct plat_uplinks now;

	if (plat_watch_read(w, &now))
		return;
	if (w->reported && uplinks_equal(&now, &w->last))
		return;
	w->last = now;
	w->reported = 1;
	vlog_info(PLAT_MOD, "watch: %u uplink(s), preferred %s", now.n,
		  now.preferred >= 0 ? now.link[now.preferred].ifname : "none");
	w->cb(&w->last, w->arg);
}

static void arm_settle(struct plat_watch *w)
{
	uint64_t now = uv_now(w->loop);

	if (!uv_is_active((uv_handle_t *)&w->netlink_settle))
		w->burst_start = now;
	else if (now - w->burst_start >= WATCH_SETTLE_MAX_MS)
		return;
	uv_timer_start(&w->netlink_settle, on_netlink_settle, w->settle_ms, 0);
}

static void on_netlink_readable(uv_poll_t *h, int status, int events)
{
	struct plat_watch *w = h->data;
	char buf[256];
	int changed = 0;

	(void)events;
	if (status < 0) {
		vlog_err(PLAT_MOD, "watch: poll: %s", uv_strerror(status));
		return;
	}
	/* The content does not matter, only that something changed: drain. */
	for (;;) {
		ssize_t r = recv(nl_socket_get_fd(w->ev), buf, sizeof(buf),
				 MSG_DONTWAIT | MSG_TRUNC);

		if (r >= 0) {
			changed = 1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == ENOBUFS) {
			/* Events were lost; the dump will see the truth. */
			changed = 1;
			continue;
		}
		break;
	}
	if (changed)
		arm_settle(w);
}

static void watch_free(struct plat_watch *w)
{
	if (w->links)
		nl_cache_free(w->links);
	if (w->addrs)
		nl_cache_free(w->addrs);
	if (w->routes)
		nl_cache_free(w->routes);
	if (w->ev)
		nl_socket_free(w->ev);
	if (w->sync)
		nl_socket_free(w->sync);
	free(w);
}

static int watch_sockets(struct plat_watch *w)
{
	int err;

	w->ev = nl_socket_alloc();
	w->sync = nl_socket_alloc();
	if (!w->ev || !w->sync)
		return -NLE_NOMEM;
	nl_socket_disable_seq_check(w->ev);
	if ((err = nl_connect(w->ev, NETLINK_ROUTE)) < 0 ||
	    (err = nl_socket_add_memberships(w->ev, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
					     RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
					     RTNLGRP_IPV6_ROUTE, 0)) < 0 ||
	    (err = nl_socket_set_nonblocking(w->ev)) < 0 ||
	    (err = nl_socket_set_buffer_size(w->ev, WATCH_RCVBUF, 0)) < 0 ||
	    (err = nl_connect(w->sync, NETLINK_ROUTE)) < 0)
		return err;
	if ((err = rtnl_link_alloc_cache(w->sync, AF_UNSPEC, &w->links)) < 0 ||
	    (err = rtnl_addr_alloc_cache(w->sync, &w->addrs)) < 0 ||
	    (err = rtnl_route_alloc_cache(w->sync, AF_UNSPEC, 0, &w->routes)) < 0)
		return err;
	return 0;
}

int plat_watch_start(struct plat_watch **out, uv_loop_t *loop,
		     unsigned settle_ms, plat_uplinks_cb cb, void *arg)
{
	struct plat_watch *w = calloc(1, sizeof(*w));
	int err;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->cb = cb;
	w->arg = arg;
	w->settle_ms = settle_ms ? settle_ms : WATCH_SETTLE_DEFAULT_MS;
	err = watch_sockets(w);
	if (err < 0) {
		vlog_err(PLAT_MOD, "watch: netlink: %s", nl_geterror(err));
		watch_free(w);
		return err == -NLE_NOMEM ? -ENOMEM : -EIO;
	}
	err = uv_poll_init(loop, &w->poll, nl_socket_get_fd(w->ev));
	if (err) {
		watch_free(w);
		return err;
	}
	uv_timer_init(loop, &w->netlink_settle);
	w->poll.data = w;
	w->netlink_settle.data = w;
	w->open_handles = 2;
	uv_poll_start(&w->poll, UV_READABLE, on_netlink_readable);
	/* The first report tells the session where it stands. */
	uv_timer_start(&w->netlink_settle, on_netlink_settle, 0, 0);
	*out = w;
	return 0;
}

int plat_watch_ignore(struct plat_watch *w, int ifindex)
{
	if (watch_ignored(w, ifindex))
		return 0;
	if (w->nignore == WATCH_IGNORE_MAX)
		return -ENOSPC;
	w->ignore[w->nignore++] = ifindex;
	arm_settle(w);
	return 0;
}

static void on_watch_closed(uv_handle_t *h)
{
	struct plat_watch *w = h->data;

	if (--w->open_handles == 0)
		watch_free(w);
}

void plat_watch_close(struct plat_watch *w)
{
	if (!w)
		return;
	uv_poll_stop(&w->poll);
	uv_timer_stop(&w->netlink_settle);
	uv_close((uv_handle_t *)&w->poll, on_watch_closed);
	uv_close((uv_handle_t *)&w->netlink_settle, on_watch_closed);
}
