/* Routes, route lookup and policy rules. See plat.h for the scheme. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/util/log.h"
#include "platform/internal.h"

static unsigned alen(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

static struct nl_addr *nl_addr_of(const struct plat_ip *ip, unsigned plen)
{
	struct nl_addr *a = nl_addr_build(ip->family, ip->addr, alen(ip->family));

	if (a)
		nl_addr_set_prefixlen(a, plen);
	return a;
}

static struct rtnl_route *route_build(const struct plat_route *r)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = nl_addr_of(&r->dst.ip, r->dst.plen), *a;
	int ok = rt && nh && dst;

	if (ok) {
		rtnl_route_set_family(rt, r->dst.ip.family);
		ok = rtnl_route_set_dst(rt, dst) == 0;
		rtnl_route_set_table(rt, r->table ? r->table : RT_TABLE_MAIN);
		rtnl_route_set_priority(rt, r->metric);
		rtnl_route_set_protocol(rt, PLAT_RTPROT);
		rtnl_route_set_type(rt, RTN_UNICAST);
		rtnl_route_set_scope(rt, r->gw.family ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	}
	if (ok && r->src.family) {
		a = nl_addr_of(&r->src, alen(r->src.family) * 8);
		ok = a && rtnl_route_set_pref_src(rt, a) == 0;
		nl_addr_put(a);
	}
	if (ok && r->oif)
		rtnl_route_nh_set_ifindex(nh, r->oif);
	if (ok && r->gw.family) {
		a = nl_addr_of(&r->gw, alen(r->gw.family) * 8);
		ok = a != NULL;
		if (a)
			rtnl_route_nh_set_gateway(nh, a);
		nl_addr_put(a);
	}
	nl_addr_put(dst);
	if (!ok) {
		if (nh)
			rtnl_route_nh_free(nh);
		rtnl_route_put(rt);
		return NULL;
	}
	rtnl_route_add_nexthop(rt, nh);
	return rt;
}

static int route_apply(struct plat *p, const void *arg)
{
	struct rtnl_route *rt = route_build(arg);
	int err;

	if (!rt)
		return -ENOMEM;
	plat_nl_reset(p);
	err = plat_nl_result(p, rtnl_route_add(p->sk, rt, NLM_F_EXCL));
	rtnl_route_put(rt);
	return err;
}

static int route_valid(const struct plat_route *r)
{
	uint8_t f = r->dst.ip.family;

	if (f != AF_INET && f != AF_INET6)
		return 0;
	if ((r->gw.family && r->gw.family != f) || (r->src.family && r->src.family != f))
		return 0;
	if (!r->oif && !r->gw.family)
		return 0;
	return plat_prefix_is_net(&r->dst) && r->oif >= 0;
}

static void route_str(const struct plat_route *r, char *buf, size_t len)
{
	char d[PLAT_PREFIX_STRLEN], g[PLAT_PREFIX_STRLEN];

	snprintf(buf, len, "%s via %s dev %d table %u metric %u",
		 plat_prefix_str(&r->dst, d, sizeof(d)), plat_ip_str(&r->gw, g, sizeof(g)),
		 r->oif, r->table ? r->table : RT_TABLE_MAIN, r->metric);
}

int plat_route_add(struct plat *p, const struct plat_route *r, uint64_t *id)
{
	char d[PLAT_PREFIX_STRLEN], desc[160], ifname[IFNAMSIZ] = "";
	json_t *rec;
	int err;

	if (!route_valid(r))
		return -EINVAL;
	if (r->oif && (err = plat_link_get(p, r->oif, ifname, NULL, NULL)))
		return err;
	rec = json_pack("{s:s,s:s,s:i,s:s,s:I,s:I}", "kind", "route", "dst",
			plat_prefix_str(&r->dst, d, sizeof(d)), "oif", r->oif,
			"ifname", ifname, "table",
			(json_int_t)(r->table ? r->table : RT_TABLE_MAIN), "metric",
			(json_int_t)r->metric);
	if (rec && (plat_rec_set_ip(rec, "gw", &r->gw) ||
		    plat_rec_set_ip(rec, "src", &r->src))) {
		json_decref(rec);
		return -ENOMEM;
	}
	route_str(r, desc, sizeof(desc));
	err = plat_change(p, rec, route_apply, r, id);
	if (err)
		vlog_err(PLAT_MOD, "route %s: %s", desc, strerror(-err));
	else
		vlog_info(PLAT_MOD, "route %s", desc);
	return err;
}

int plat_undo_route(struct plat *p, json_t *rec)
{
	struct plat_route r;
	struct rtnl_route *rt;
	char ifname[IFNAMSIZ] = "";
	uint32_t oif;
	int err;

	memset(&r, 0, sizeof(r));
	if (plat_rec_prefix(rec, "dst", &r.dst) || plat_rec_ip_opt(rec, "gw", &r.gw) ||
	    plat_rec_ip_opt(rec, "src", &r.src) || plat_rec_u32(rec, "oif", &oif) ||
	    oif > INT32_MAX || plat_rec_u32(rec, "table", &r.table) ||
	    plat_rec_u32(rec, "metric", &r.metric))
		return -EBADMSG;
	r.oif = (int)oif;
	if (!route_valid(&r) || (r.oif && plat_rec_ifname(rec, "ifname", ifname)))
		return -EBADMSG;
	/* A route dies with its link; an index now used by another link is
	 * not ours to touch. */
	if (r.oif && (err = plat_link_is(p, r.oif, ifname)) <= 0)
		return err;
	rt = route_build(&r);
	if (!rt)
		return -ENOMEM;
	plat_nl_reset(p);
	err = plat_nl_result(p, rtnl_route_delete(p->sk, rt, 0));
	rtnl_route_put(rt);
	return plat_err_gone(err) ? 0 : err;
}

/* --- Lookup --------------------------------------------------------------- */

struct lookup_ctx {
	struct plat_route_info *out;
	int got, done;
};

static int lookup_valid(struct nl_msg *msg, void *arg)
{
	struct lookup_ctx *c = arg;
	struct rtnl_route *rt = NULL;
	struct rtnl_nexthop *nh;

	if (rtnl_route_parse(nlmsg_hdr(msg), &rt) < 0)
		return NL_SKIP;
	memset(c->out, 0, sizeof(*c->out));
	nh = rtnl_route_get_nnexthops(rt) ? rtnl_route_nexthop_n(rt, 0) : NULL;
	if (nh) {
		c->out->oif = rtnl_route_nh_get_ifindex(nh);
		plat_ip_from_nl(&c->out->gw, rtnl_route_nh_get_gateway(nh));
	}
	plat_ip_from_nl(&c->out->src, rtnl_route_get_pref_src(rt));
	c->out->table = rtnl_route_get_table(rt);
	c->out->type = rtnl_route_get_type(rt);
	c->got = 1;
	rtnl_route_put(rt);
	return NL_OK;
}

static int lookup_ack(struct nl_msg *msg, void *arg)
{
	(void)msg;
	((struct lookup_ctx *)arg)->done = 1;
	return NL_STOP;
}

int plat_route_get(struct plat *p, const struct plat_ip *dst, uint32_t mark,
		   struct plat_route_info *out)
{
	struct rtmsg rtm;
	struct lookup_ctx c = { out, 0, 0 };
	struct nl_msg *msg;
	struct nl_cb *scb, *cb;
	int err;

	if (dst->family != AF_INET && dst->family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(&rtm, 0, sizeof(rtm));
	rtm.rtm_family = dst->family;
	rtm.rtm_dst_len = (unsigned char)(alen(dst->family) * 8);
	rtm.rtm_flags = RTM_F_LOOKUP_TABLE;
	msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, (int)alen(dst->family), dst->addr) < 0 ||
	    (mark && nla_put_u32(msg, RTA_MARK, mark) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	scb = nl_socket_get_cb(p->sk);
	cb = nl_cb_clone(scb);
	nl_cb_put(scb);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, lookup_valid, &c);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, lookup_ack, &c);
	plat_nl_reset(p);
	err = nl_send_auto(p->sk, msg);
	nlmsg_free(msg);
	/* The answer and the ACK arrive as separate datagrams: read until
	 * the ACK, so nothing stale is left for the next request. */
	while (err >= 0 && !c.done)
		err = nl_recvmsgs(p->sk, cb);
	nl_cb_put(cb);
	err = plat_nl_result(p, err);
	if (!err && !c.got)
		err = -ENETUNREACH;
	return err;
}

int plat_addr_wait_local(struct plat *p, const struct plat_ip *addr,
			 unsigned timeout_ms)
{
	const struct timespec ms = { 0, 1000000 };
	struct plat_route_info ri;
	unsigned waited;
	char a[PLAT_PREFIX_STRLEN];

	for (waited = 0;; waited++) {
		int err = plat_route_get(p, addr, 0, &ri);

		if (!err && ri.type == RTN_LOCAL)
			break;
		if (err && err != -ENETUNREACH && err != -EHOSTUNREACH)
			return err;
		if (waited >= timeout_ms) {
			vlog_err(PLAT_MOD, "%s not usable after %u ms",
				 plat_ip_str(addr, a, sizeof(a)), timeout_ms);
			return -ETIMEDOUT;
		}
		nanosleep(&ms, NULL);
	}
	if (waited)
		vlog_debug(PLAT_MOD, "%s usable after %u ms", plat_ip_str(addr, a, sizeof(a)),
			   waited);
	return 0;
}

/* --- Rules ---------------------------------------------------------------- */

static int rule_msg(struct plat *p, int type, int flags, const struct plat_rule *r)
{
	struct fib_rule_hdr frh;
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);
	int ok;

	if (!msg)
		return -ENOMEM;
	memset(&frh, 0, sizeof(frh));
	frh.family = r->family;
	frh.action = FR_ACT_TO_TBL;
	frh.table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	frh.flags = r->invert ? FIB_RULE_INVERT : 0;
	ok = nlmsg_append(msg, &frh, sizeof(frh), NLMSG_ALIGNTO) == 0 &&
	     nla_put_u32(msg, FRA_PRIORITY, r->priority) == 0 &&
	     nla_put_u32(msg, FRA_TABLE, r->table) == 0 &&
	     nla_put_u8(msg, FRA_PROTOCOL, PLAT_RTPROT) == 0;
	if (ok && r->fwmask)
		ok = nla_put_u32(msg, FRA_FWMARK, r->fwmark) == 0 &&
		     nla_put_u32(msg, FRA_FWMASK, r->fwmask) == 0;
	if (ok && r->suppress_prefixlen >= 0)
		ok = nla_put_u32(msg, FRA_SUPPRESS_PREFIXLEN,
				 (uint32_t)r->suppress_prefixlen) == 0;
	if (!ok) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	plat_nl_reset(p);
	/* nl_send_sync frees msg and waits for the ACK. */
	return plat_nl_result(p, nl_send_sync(p->sk, msg));
}

static int rule_apply(struct plat *p, const void *arg)
{
	return rule_msg(p, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, arg);
}

static int rule_valid(const struct plat_rule *r)
{
	return (r->family == AF_INET || r->family == AF_INET6) && r->table != 0 &&
	       r->suppress_prefixlen >= -1 && r->suppress_prefixlen <= 128 &&
	       (!r->invert || r->fwmask);
}

int plat_rule_add(struct plat *p, const struct plat_rule *r, uint64_t *id)
{
	json_t *rec;
	int err;

	if (!rule_valid(r))
		return -EINVAL;
	rec = json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:b,s:i}", "kind", "rule", "family",
			r->family == AF_INET ? 4 : 6, "prio", (json_int_t)r->priority,
			"table", (json_int_t)r->table, "fwmark", (json_int_t)r->fwmark,
			"fwmask", (json_int_t)r->fwmask, "invert", r->invert ? 1 : 0,
			"suppress", r->suppress_prefixlen);
	err = plat_change(p, rec, rule_apply, r, id);
	if (err)
		vlog_err(PLAT_MOD, "rule %u (ipv%d): %s", r->priority,
			 r->family == AF_INET ? 4 : 6, strerror(-err));
	else if (r->fwmask)
		vlog_info(PLAT_MOD, "rule %u (ipv%d): %sfwmark 0x%x/0x%x lookup %u",
			  r->priority, r->family == AF_INET ? 4 : 6,
			  r->invert ? "not " : "", r->fwmark, r->fwmask, r->table);
	else
		vlog_info(PLAT_MOD, "rule %u (ipv%d): lookup %u suppress_prefixlength %d",
			  r->priority, r->family == AF_INET ? 4 : 6, r->table,
			  r->suppress_prefixlen);
	return err;
}

int plat_undo_rule(struct plat *p, json_t *rec)
{
	struct plat_rule r;
	uint32_t fam;
	json_t *inv = json_object_get(rec, "invert"), *sup = json_object_get(rec, "suppress");
	int err;

	memset(&r, 0, sizeof(r));
	if (plat_rec_u32(rec, "family", &fam) || (fam != 4 && fam != 6) ||
	    plat_rec_u32(rec, "prio", &r.priority) || plat_rec_u32(rec, "table", &r.table) ||
	    plat_rec_u32(rec, "fwmark", &r.fwmark) || plat_rec_u32(rec, "fwmask", &r.fwmask) ||
	    !json_is_boolean(inv) || !json_is_integer(sup))
		return -EBADMSG;
	r.family = fam == 4 ? AF_INET : AF_INET6;
	r.invert = json_is_true(inv);
	r.suppress_prefixlen = json_integer_value(sup) < -1 || json_integer_value(sup) > 128
				       ? -2 : (int)json_integer_value(sup);
	if (!rule_valid(&r))
		return -EBADMSG;
	err = rule_msg(p, RTM_DELRULE, 0, &r);
	return plat_err_gone(err) ? 0 : err;
}

int plat_tunnel_rules(uint8_t family, uint32_t table, uint32_t fwmark,
		      uint32_t priority, int full, struct plat_rule out[2])
{
	if ((family != AF_INET && family != AF_INET6) || table == 0 || fwmark == 0 ||
	    (full && priority < 2))
		return -EINVAL;
	memset(out, 0, 2 * sizeof(out[0]));
	out[0].family = family;
	out[0].priority = priority;
	out[0].table = table;
	out[0].fwmark = fwmark;
	out[0].fwmask = 0xffffffffu;
	out[0].invert = 1;
	out[0].suppress_prefixlen = -1;
	if (!full)
		return 1;
	/* Evaluated first: main's specific routes (the LAN) beat the tunnel,
	 * main's default route does not. */
	out[1].family = family;
	out[1].priority = priority - 1;
	out[1].table = RT_TABLE_MAIN;
	out[1].suppress_prefixlen = 0;
	return 2;
}
