/* The system side of a tunnel: the TUN device with the virtual IP and an
 * MTU that fits ESP in a 1500-byte path, the routes and policy rules, and
 * DNS. Every change goes through platform/plat.h, which journals it first,
 * so sess_net_teardown (or a clean-up after a crash) undoes exactly these.
 *
 * Routing follows plat.h's scheme: our sockets carry fwmark M, tunnel
 * routes live in table T, and "not fwmark M lookup T" sends the rest of the
 * machine's traffic there; the gateway's own packets stay on the physical
 * uplink whatever it is. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/session/sess_int.h"
#include "client/util/log.h"
#include "platform/firewall.h"
#include "platform/resolved.h"

#define UDP_OUTER_V4 28 /* IPv4 + UDP header in front of ESP */
#define UDP_OUTER_V6 48

static uint32_t fwmark_of(const struct sess *s)
{
	return s->cfg.fwmark ? s->cfg.fwmark : s->cfg.table;
}

/* Where the next journal id of this attempt goes (NULL when full: such a
 * change is still undone by the final plat_undo_all). */
static uint64_t *next_id(struct sess *s)
{
	if (s->n_net_ids >= sizeof(s->net_ids) / sizeof(s->net_ids[0]))
		return NULL;
	return &s->net_ids[s->n_net_ids];
}

static int recorded(struct sess *s, int err)
{
	if (!err && s->n_net_ids < sizeof(s->net_ids) / sizeof(s->net_ids[0]))
		s->n_net_ids++;
	return err;
}

int sess_plat_open(struct sess *s)
{
	/* Journal names take [A-Za-z0-9_-]; profile names also '.'. */
	char jname[sizeof(s->cfg.name)];
	size_t i;
	int err;

	if (s->plat)
		return 0;
	for (i = 0; s->cfg.name[i] && i + 1 < sizeof(jname); i++)
		jname[i] = s->cfg.name[i] == '.' ? '_' : s->cfg.name[i];
	jname[i] = 0;
	err = plat_open(&s->plat, s->cfg.state_dir, jname);
	if (err)
		vlog_err(SESS_LOG, "%s: state directory %s: %s", s->cfg.name, s->cfg.state_dir,
			 strerror(-err));
	return err;
}

static void killswitch_cfg(struct sess *s, struct plat_killswitch_cfg *k)
{
	struct plat_uplinks up;
	unsigned i, j;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < s->n_gw && k->ngw < PLAT_KS_MAX_GW; i++)
		k->gw[k->ngw++] = s->gw_all[i];
	k->nudp = 2;
	k->udp_ports[0] = s->cfg.ike_port ? s->cfg.ike_port : 500;
	k->udp_ports[1] = s->cfg.natt_port ? s->cfg.natt_port : 4500;
	k->fwmark = fwmark_of(s);
	if (s->tun.fd >= 0) {
		k->ntun = 1;
		snprintf(k->tun[0], sizeof(k->tun[0]), "%s", s->tun.ifname);
	}
	k->allow_lan = s->cfg.allow_lan;
	if (s->cfg.allow_lan && s->cfg.watch && !plat_watch_read(s->cfg.watch, &up)) {
		for (i = 0; i < up.n; i++)
			for (j = 0; j < up.link[i].naddrs && k->nlan < PLAT_KS_MAX_LAN; j++)
				k->lan[k->nlan++] = up.link[i].addrs[j];
	}
}

int sess_killswitch_on(struct sess *s)
{
	struct plat_killswitch_cfg k;
	int err;

	killswitch_cfg(s, &k);
	/* First record of the journal: undone last, after the routes. */
	err = plat_killswitch_on(s->plat, s->cfg.name, &k, NULL);
	if (err) {
		vlog_err(SESS_LOG, "%s: kill switch: %s", s->cfg.name, strerror(-err));
		return err;
	}
	s->killswitch_on = true;
	vlog_notice(SESS_LOG, "%s: kill switch on (%u gateway address(es)%s)", s->cfg.name,
		    k.ngw, k.allow_lan ? ", LAN allowed" : "");
	return 0;
}

static int killswitch_update(struct sess *s)
{
	struct plat_killswitch_cfg k;
	int err;

	if (!s->killswitch_on)
		return 0;
	killswitch_cfg(s, &k);
	err = plat_killswitch_update(s->cfg.name, &k);
	if (err)
		vlog_err(SESS_LOG, "%s: kill switch update: %s", s->cfg.name, strerror(-err));
	return err;
}

static int route_via_tun(struct sess *s, const struct plat_prefix *dst)
{
	struct plat_route r;
	char buf[PLAT_PREFIX_STRLEN];
	int err;

	memset(&r, 0, sizeof(r));
	r.dst = *dst;
	r.oif = s->tun.ifindex;
	r.table = s->cfg.table;
	if (dst->ip.family == AF_INET && s->info.have_ip4) {
		r.src.family = AF_INET;
		memcpy(r.src.addr, s->info.ip4, 4);
	} else if (dst->ip.family == AF_INET6 && s->info.have_ip6) {
		r.src.family = AF_INET6;
		memcpy(r.src.addr, s->info.ip6, 16);
	} else {
		return 0; /* no address of that family in the tunnel */
	}
	err = recorded(s, plat_route_add(s->plat, &r, next_id(s)));
	if (err == -EEXIST)
		err = 0;
	if (err)
		vlog_err(SESS_LOG, "%s: route %s via %s: %s", s->cfg.name,
			 plat_prefix_str(dst, buf, sizeof(buf)), s->tun.ifname, strerror(-err));
	else
		vlog_info(SESS_LOG, "%s: route %s via %s (table %u)", s->cfg.name,
			  plat_prefix_str(dst, buf, sizeof(buf)), s->tun.ifname, s->cfg.table);
	return err;
}

/* An IPv4 range as the fewest prefixes that cover it exactly. */
static int route_v4_range(struct sess *s, uint32_t lo, uint32_t hi)
{
	uint64_t at = lo, end = (uint64_t)hi + 1;
	int err;

	while (at < end) {
		unsigned plen = 32;
		struct plat_prefix p;

		/* The largest aligned block starting at `at` within the range. */
		while (plen > 0) {
			uint64_t size = 1ull << (32 - (plen - 1));

			if ((at & (size - 1)) || at + size > end)
				break;
			plen--;
		}
		memset(&p, 0, sizeof(p));
		p.ip.family = AF_INET;
		put_be32(p.ip.addr, (uint32_t)at);
		p.plen = (uint8_t)plen;
		err = route_via_tun(s, &p);
		if (err)
			return err;
		at += 1ull << (32 - plen);
	}
	return 0;
}

/* An IPv6 range routed when it is one prefix (what gateways send). */
static int route_v6_range(struct sess *s, const uint8_t *lo, const uint8_t *hi)
{
	struct plat_prefix p;
	unsigned plen;

	for (plen = 0; plen <= 128; plen++) {
		unsigned i;
		bool ok = true;

		/* bits after plen: lo all 0, hi all 1; bits before: equal */
		for (i = 0; i < 128 && ok; i++) {
			int bl = lo[i / 8] >> (7 - i % 8) & 1, bh = hi[i / 8] >> (7 - i % 8) & 1;

			ok = i < plen ? bl == bh : (bl == 0 && bh == 1);
		}
		if (ok)
			break;
	}
	if (plen > 128) {
		vlog_warn(SESS_LOG, "%s: an IPv6 traffic selector that is not a prefix is not routed",
			  s->cfg.name);
		return 0;
	}
	memset(&p, 0, sizeof(p));
	p.ip.family = AF_INET6;
	memcpy(p.ip.addr, lo, 16);
	p.plen = (uint8_t)plen;
	return route_via_tun(s, &p);
}

static bool ts_is_everything(const struct ike_ts *ts)
{
	static const uint8_t zero[16], ones[16] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	size_t alen = ts->type == IKE_TS_IPV6_ADDR_RANGE ? 16 : 4;

	return !memcmp(ts->start, zero, alen) && !memcmp(ts->end, ones, alen);
}

static int install_routes(struct sess *s, bool *full)
{
	const struct sess_sa_pair *cur = s->cur;
	unsigned i;
	int err;

	*full = s->cfg.full_tunnel;
	if (s->cfg.n_routes) {
		for (i = 0; i < s->cfg.n_routes; i++) {
			if (s->cfg.routes[i].plen == 0)
				*full = true;
			err = route_via_tun(s, &s->cfg.routes[i]);
			if (err)
				return err;
		}
		return 0;
	}
	if (!cur)
		return -ENOENT;
	/* Default: what the gateway's traffic selectors allow. */
	for (i = 0; i < cur->n_tsr; i++) {
		const struct ike_ts *ts = &cur->tsr[i];

		if (ts_is_everything(ts))
			*full = true;
		if (ts->type == IKE_TS_IPV4_ADDR_RANGE)
			err = route_v4_range(s, get_be32(ts->start), get_be32(ts->end));
		else
			err = route_v6_range(s, ts->start, ts->end);
		if (err)
			return err;
	}
	return 0;
}

static int install_rules(struct sess *s, bool full)
{
	struct plat_rule rules[2];
	int n, i, err, fam;
	static const uint8_t fams[2] = {AF_INET, AF_INET6};

	for (fam = 0; fam < 2; fam++) {
		if (fams[fam] == AF_INET ? !s->info.have_ip4 : !s->info.have_ip6)
			continue;
		n = plat_tunnel_rules(fams[fam], s->cfg.table, fwmark_of(s),
				      s->cfg.rule_priority, full, rules);
		if (n < 0)
			return n;
		for (i = 0; i < n; i++) {
			err = recorded(s, plat_rule_add(s->plat, &rules[i], next_id(s)));
			if (err && err != -EEXIST) {
				vlog_err(SESS_LOG, "%s: policy rule: %s", s->cfg.name, strerror(-err));
				return err;
			}
		}
	}
	return 0;
}

static int apply_dns(struct sess *s, bool full)
{
	const char *path = s->cfg.resolv_conf ? s->cfg.resolv_conf : "/etc/resolv.conf";
	struct plat_dns dns;
	unsigned i;
	int err;

	if (!s->info.n_dns4 && !s->info.n_dns6)
		return 0;
	if (!*path && !s->cfg.resolved)
		return 0;
	memset(&dns, 0, sizeof(dns));
	for (i = 0; i < s->info.n_dns4 && dns.nservers < PLAT_DNS_MAX_SERVERS; i++) {
		dns.servers[dns.nservers].family = AF_INET;
		memcpy(dns.servers[dns.nservers++].addr, s->info.dns4[i], 4);
	}
	for (i = 0; i < s->info.n_dns6 && dns.nservers < PLAT_DNS_MAX_SERVERS; i++) {
		dns.servers[dns.nservers].family = AF_INET6;
		memcpy(dns.servers[dns.nservers++].addr, s->info.dns6[i], 16);
	}
	for (i = 0; i < s->info.n_domains && dns.nsearch < PLAT_DNS_MAX_SEARCH; i++)
		snprintf(dns.search[dns.nsearch++], sizeof(dns.search[0]), "%s",
			 s->info.domains[i]);
	if (s->cfg.resolved && plat_resolved_available(s->cfg.resolved) == 1) {
		err = recorded(s, plat_resolved_apply(s->cfg.resolved, s->plat, s->tun.ifindex,
						      &dns, full, next_id(s)));
		if (err) {
			vlog_err(SESS_LOG, "%s: DNS through systemd-resolved: %s", s->cfg.name,
				 strerror(-err));
			return err;
		}
		s->resolved_ifindex = s->tun.ifindex;
		vlog_info(SESS_LOG, "%s: DNS: %u server(s) on %s through systemd-resolved (%s)",
			  s->cfg.name, dns.nservers, s->tun.ifname,
			  full ? "default route" : "routing domains only");
		return 0;
	}
	err = recorded(s, plat_dns_apply(s->plat, path, &dns, next_id(s)));
	if (err)
		vlog_err(SESS_LOG, "%s: DNS in %s: %s", s->cfg.name, path, strerror(-err));
	else
		vlog_info(SESS_LOG, "%s: DNS: %u server(s) in %s", s->cfg.name, dns.nservers, path);
	return err;
}

static unsigned tunnel_mtu(const struct sess *s)
{
	const struct esp_sa *out = s->cur ? s->cur->out : NULL;
	int af = s->gw.ss_family == AF_INET6 ? AF_INET6 : AF_INET;
	size_t mtu;

	if (!out)
		return 1280;
	mtu = esp_inner_mtu(out, s->cfg.path_mtu, af);
	/* IPv6 inside needs 1280; below that, run IPv4 only. */
	return mtu < 576 ? 576 : (unsigned)mtu;
}

int sess_net_configure(struct sess *s)
{
	struct plat_prefix addr;
	bool full = false;
	unsigned mtu;
	int err;

	err = sess_plat_open(s);
	if (err)
		return err;
	s->n_net_ids = 0;
	err = tun_open(&s->tun, s->cfg.tun_name, s->cfg.tun_offload ? TUN_OPEN_OFFLOAD : 0);
	if (err) {
		vlog_err(SESS_LOG, "%s: TUN device: %s", s->cfg.name, strerror(-err));
		s->tun.fd = -1;
		return err;
	}
	err = recorded(s, plat_tun_record(s->plat, s->tun.ifindex, s->tun.ifname, next_id(s)));
	if (err)
		return err;
	if (s->cfg.watch)
		plat_watch_ignore(s->cfg.watch, s->tun.ifindex);
	/* The kill switch lets the new TUN through (it stays closed until). */
	err = killswitch_update(s);
	if (err)
		return err;
	mtu = tunnel_mtu(s);
	err = plat_link_set_mtu(s->plat, s->tun.ifindex, mtu);
	if (err)
		return err;
	if (s->info.have_ip4) {
		memset(&addr, 0, sizeof(addr));
		addr.ip.family = AF_INET;
		memcpy(addr.ip.addr, s->info.ip4, 4);
		addr.plen = 32;
		err = recorded(s, plat_addr_add(s->plat, s->tun.ifindex, &addr, next_id(s)));
		if (err)
			return err;
	}
	if (s->info.have_ip6) {
		memset(&addr, 0, sizeof(addr));
		addr.ip.family = AF_INET6;
		memcpy(addr.ip.addr, s->info.ip6, 16);
		addr.plen = 128;
		err = recorded(s, plat_addr_add(s->plat, s->tun.ifindex, &addr, next_id(s)));
		if (err)
			return err;
	}
	err = plat_link_set_up(s->plat, s->tun.ifindex, 1);
	if (err)
		return err;
	err = install_routes(s, &full);
	if (!err)
		err = install_rules(s, full);
	if (!err)
		err = apply_dns(s, full);
	if (!err)
		err = sess_dp_start_tun(s);
	if (!err)
		vlog_notice(SESS_LOG, "%s: tunnel up on %s (MTU %u, %s tunnel%s)", s->cfg.name,
			    s->tun.ifname, mtu, full ? "full" : "split",
			    s->killswitch_on ? ", kill switch on" : "");
	return err;
}

void sess_net_teardown(struct sess *s, bool final)
{
	int err = 0;

	sess_dp_stop_tun(s);
	if (s->plat && s->resolved_ifindex && s->cfg.resolved) {
		plat_resolved_revert(s->cfg.resolved, s->plat, s->resolved_ifindex);
		s->resolved_ifindex = 0;
	}
	if (s->plat) {
		if (final) {
			err = plat_undo_all(s->plat);
			s->killswitch_on = false;
		} else {
			/* This attempt only, newest first; the kill switch stays. */
			while (s->n_net_ids) {
				int e = plat_undo(s->plat, s->net_ids[--s->n_net_ids]);

				if (e && e != -ENOENT && !err)
					err = e;
			}
		}
		if (err)
			vlog_warn(SESS_LOG, "%s: undoing the system changes: %s", s->cfg.name,
				  strerror(-err));
	}
	s->n_net_ids = 0;
	if (s->tun.fd >= 0) {
		tun_close(&s->tun);
		s->tun.fd = -1;
	}
}
