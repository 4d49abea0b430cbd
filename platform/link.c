/* Links and addresses. See plat.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <string.h>

#include "client/util/log.h"
#include "platform/internal.h"

static int link_change(struct plat *p, int ifindex, struct rtnl_link *chg)
{
	struct rtnl_link *orig = rtnl_link_alloc();
	int err;

	if (!orig)
		return -ENOMEM;
	rtnl_link_set_ifindex(orig, ifindex);
	plat_nl_reset(p);
	err = plat_nl_result(p, rtnl_link_change(p->sk, orig, chg, 0));
	rtnl_link_put(orig);
	return err;
}

int plat_link_set_mtu(struct plat *p, int ifindex, unsigned mtu)
{
	struct rtnl_link *chg = rtnl_link_alloc();
	int err;

	if (!chg)
		return -ENOMEM;
	rtnl_link_set_mtu(chg, mtu);
	err = link_change(p, ifindex, chg);
	rtnl_link_put(chg);
	if (err)
		vlog_err(PLAT_MOD, "link %d: set mtu %u: %s", ifindex, mtu, strerror(-err));
	else
		vlog_info(PLAT_MOD, "link %d: mtu %u", ifindex, mtu);
	return err;
}

int plat_link_set_up(struct plat *p, int ifindex, int up)
{
	struct rtnl_link *chg = rtnl_link_alloc();
	int err;

	if (!chg)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	else
		rtnl_link_unset_flags(chg, IFF_UP);
	err = link_change(p, ifindex, chg);
	rtnl_link_put(chg);
	if (err)
		vlog_err(PLAT_MOD, "link %d: set %s: %s", ifindex, up ? "up" : "down",
			 strerror(-err));
	else
		vlog_info(PLAT_MOD, "link %d: %s", ifindex, up ? "up" : "down");
	return err;
}

int plat_link_get(struct plat *p, int ifindex, char name[IFNAMSIZ],
		  unsigned *mtu, unsigned *flags)
{
	struct rtnl_link *link = NULL;
	int err;

	plat_nl_reset(p);
	err = rtnl_link_get_kernel(p->sk, ifindex, NULL, &link);
	if (err < 0) {
		err = plat_nl_result(p, err);
		return err == -ENOENT ? -ENODEV : err;
	}
	if (name)
		snprintf(name, IFNAMSIZ, "%s", rtnl_link_get_name(link));
	if (mtu)
		*mtu = rtnl_link_get_mtu(link);
	if (flags)
		*flags = rtnl_link_get_flags(link);
	rtnl_link_put(link);
	return 0;
}

int plat_tun_record(struct plat *p, int ifindex, const char *ifname,
		    uint64_t *id)
{
	if (ifindex <= 0 || !ifname[0] || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	return plat_journal_add(&p->j,
				json_pack("{s:s,s:i,s:s}", "kind", "tun", "ifindex",
					  ifindex, "ifname", ifname),
				id);
}

int plat_undo_tun(struct plat *p, json_t *rec)
{
	char ifname[IFNAMSIZ];
	struct rtnl_link *link = NULL;
	const char *type;
	uint32_t ifindex;
	int err;

	if (plat_rec_u32(rec, "ifindex", &ifindex) || ifindex == 0 ||
	    ifindex > INT32_MAX || plat_rec_ifname(rec, "ifname", ifname))
		return -EBADMSG;
	plat_nl_reset(p);
	err = rtnl_link_get_kernel(p->sk, (int)ifindex, NULL, &link);
	if (err < 0) {
		err = plat_nl_result(p, err);
		return plat_err_gone(err) ? 0 : err;
	}
	/* Only the TUN we made: same index, same name, still a TUN. */
	type = rtnl_link_get_type(link);
	if (strcmp(rtnl_link_get_name(link), ifname) || !type || strcmp(type, "tun")) {
		rtnl_link_put(link);
		vlog_info(PLAT_MOD, "tun %s (%u) is gone", ifname, ifindex);
		return 0;
	}
	plat_nl_reset(p);
	err = plat_nl_result(p, rtnl_link_delete(p->sk, link));
	rtnl_link_put(link);
	if (plat_err_gone(err))
		err = 0;
	if (!err)
		vlog_info(PLAT_MOD, "tun %s deleted", ifname);
	return err;
}

static struct rtnl_addr *addr_build(int ifindex, const struct plat_prefix *a)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local;

	if (!ra)
		return NULL;
	local = nl_addr_build(a->ip.family, a->ip.addr, a->ip.family == AF_INET ? 4 : 16);
	if (!local) {
		rtnl_addr_put(ra);
		return NULL;
	}
	nl_addr_set_prefixlen(local, a->plen);
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_family(ra, a->ip.family);
	rtnl_addr_set_local(ra, local);
	rtnl_addr_set_prefixlen(ra, a->plen);
	nl_addr_put(local);
	return ra;
}

struct addr_op {
	int ifindex;
	const struct plat_prefix *a;
};

static int addr_apply(struct plat *p, const void *arg)
{
	const struct addr_op *op = arg;
	struct rtnl_addr *ra = addr_build(op->ifindex, op->a);
	int err;

	if (!ra)
		return -ENOMEM;
	/* The gateway assigned this address to us alone: no DAD. */
	if (op->a->ip.family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	plat_nl_reset(p);
	err = plat_nl_result(p, rtnl_addr_add(p->sk, ra, NLM_F_EXCL));
	rtnl_addr_put(ra);
	return err;
}

int plat_addr_add(struct plat *p, int ifindex, const struct plat_prefix *addr,
		  uint64_t *id)
{
	struct addr_op op = { ifindex, addr };
	char name[IFNAMSIZ], a[PLAT_PREFIX_STRLEN];
	json_t *rec;
	int err;

	if (addr->ip.family != AF_INET && addr->ip.family != AF_INET6)
		return -EAFNOSUPPORT;
	err = plat_link_get(p, ifindex, name, NULL, NULL);
	if (err)
		return err;
	plat_prefix_str(addr, a, sizeof(a));
	rec = json_pack("{s:s,s:i,s:s,s:s}", "kind", "addr", "ifindex", ifindex,
			"ifname", name, "addr", a);
	err = plat_change(p, rec, addr_apply, &op, id);
	if (err)
		vlog_err(PLAT_MOD, "%s: add address %s: %s", name, a, strerror(-err));
	else
		vlog_info(PLAT_MOD, "%s: address %s", name, a);
	return err;
}

int plat_undo_addr(struct plat *p, json_t *rec)
{
	struct plat_prefix a;
	char ifname[IFNAMSIZ];
	struct rtnl_addr *ra;
	uint32_t ifindex;
	int err;

	if (plat_rec_u32(rec, "ifindex", &ifindex) || ifindex == 0 ||
	    ifindex > INT32_MAX || plat_rec_ifname(rec, "ifname", ifname) ||
	    plat_rec_prefix(rec, "addr", &a))
		return -EBADMSG;
	err = plat_link_is(p, (int)ifindex, ifname);
	if (err <= 0)
		return err;
	ra = addr_build((int)ifindex, &a);
	if (!ra)
		return -ENOMEM;
	plat_nl_reset(p);
	err = plat_nl_result(p, rtnl_addr_delete(p->sk, ra, 0));
	rtnl_addr_put(ra);
	return plat_err_gone(err) ? 0 : err;
}
