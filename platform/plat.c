/* The platform context: netlink socket, journal, undo. See plat.h. */
#define _GNU_SOURCE
#include "platform/plat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/util/log.h"
#include "platform/internal.h"

/* --- Addresses ------------------------------------------------------------ */

int plat_ip_parse(struct plat_ip *ip, const char *s)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->addr) == 1) {
		ip->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static unsigned ip_bits(const struct plat_ip *ip)
{
	return ip->family == AF_INET ? 32 : 128;
}

int plat_prefix_parse(struct plat_prefix *p, const char *s)
{
	char buf[PLAT_PREFIX_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	char *end;

	memset(p, 0, sizeof(*p));
	if (alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (plat_ip_parse(&p->ip, buf))
		return -EINVAL;
	plen = ip_bits(&p->ip);
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (errno || *end || plen > ip_bits(&p->ip))
			return -EINVAL;
	}
	p->plen = (uint8_t)plen;
	return 0;
}

int plat_prefix_is_net(const struct plat_prefix *p)
{
	unsigned i;

	for (i = p->plen; i < ip_bits(&p->ip); i++)
		if (p->ip.addr[i / 8] & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

const char *plat_ip_str(const struct plat_ip *ip, char *buf, size_t len)
{
	if (!ip->family || !inet_ntop(ip->family, ip->addr, buf, (socklen_t)len))
		snprintf(buf, len, "-");
	return buf;
}

const char *plat_prefix_str(const struct plat_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", plat_ip_str(&p->ip, a, sizeof(a)), p->plen);
	return buf;
}

int plat_ip_equal(const struct plat_ip *a, const struct plat_ip *b)
{
	return a->family == b->family &&
	       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* --- Netlink -------------------------------------------------------------- */

void plat_ip_from_nl(struct plat_ip *ip, struct nl_addr *a)
{
	unsigned len;

	memset(ip, 0, sizeof(*ip));
	if (!a)
		return;
	len = nl_addr_get_len(a);
	if ((nl_addr_get_family(a) == AF_INET && len == 4) ||
	    (nl_addr_get_family(a) == AF_INET6 && len == 16)) {
		ip->family = (uint8_t)nl_addr_get_family(a);
		memcpy(ip->addr, nl_addr_get_binary_addr(a), len);
	}
}

static int plat_nl_err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct plat *p = arg;

	(void)nla;
	p->nl_errno = e->error;
	return NL_STOP;
}

void plat_nl_reset(struct plat *p)
{
	p->nl_errno = 0;
}

int plat_nl_result(struct plat *p, int nlerr)
{
	if (nlerr >= 0)
		return 0;
	if (p->nl_errno < 0)
		return p->nl_errno;
	switch (-nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	default:
		return -EIO;
	}
}

int plat_err_gone(int err)
{
	return err == -ENOENT || err == -ESRCH || err == -ENODEV ||
	       err == -EADDRNOTAVAIL || err == -ENXIO;
}

int plat_open(struct plat **out, const char *state_dir, const char *name)
{
	struct plat *p = calloc(1, sizeof(*p));
	struct nl_cb *cb;
	int err;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->j.fd = p->j.dirfd = -1;
	err = plat_journal_open(&p->j, state_dir, name);
	if (err)
		goto fail;
	p->sk = nl_socket_alloc();
	if (!p->sk) {
		err = -ENOMEM;
		goto fail;
	}
	err = nl_connect(p->sk, NETLINK_ROUTE);
	if (err < 0) {
		vlog_err(PLAT_MOD, "netlink: %s", nl_geterror(err));
		err = plat_nl_result(p, err);
		goto fail;
	}
	/* Keep the kernel's errno: libnl folds several into one code. */
	cb = nl_socket_get_cb(p->sk);
	nl_cb_err(cb, NL_CB_CUSTOM, plat_nl_err_cb, p);
	nl_cb_put(cb);
	*out = p;
	return 0;
fail:
	plat_close(p);
	return err;
}

void plat_close(struct plat *p)
{
	if (!p)
		return;
	if (p->j.live)
		vlog_info(PLAT_MOD, "journal %s: %u change(s) left for clean-up",
			  p->j.name, p->j.live);
	plat_journal_close(&p->j);
	if (p->sk)
		nl_socket_free(p->sk);
	free(p);
}

unsigned plat_pending(const struct plat *p)
{
	return p->j.live;
}

int plat_link_is(struct plat *p, int ifindex, const char *ifname)
{
	char cur[IFNAMSIZ];
	int err = plat_link_get(p, ifindex, cur, NULL, NULL);

	if (err)
		return err == -ENODEV ? 0 : err;
	return strcmp(cur, ifname) == 0;
}

/* --- Journal and undo ----------------------------------------------------- */

int plat_rec_u32(json_t *rec, const char *key, uint32_t *out)
{
	json_t *v = json_object_get(rec, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > UINT32_MAX)
		return -EBADMSG;
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

int plat_rec_str(json_t *rec, const char *key, const char **out)
{
	*out = json_string_value(json_object_get(rec, key));
	return *out ? 0 : -EBADMSG;
}

int plat_rec_ifname(json_t *rec, const char *key, char out[IFNAMSIZ])
{
	const char *s;

	if (plat_rec_str(rec, key, &s) || s[0] == '\0' || strlen(s) >= IFNAMSIZ)
		return -EBADMSG;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

int plat_rec_prefix(json_t *rec, const char *key, struct plat_prefix *out)
{
	const char *s;

	if (plat_rec_str(rec, key, &s) || plat_prefix_parse(out, s))
		return -EBADMSG;
	return 0;
}

int plat_rec_ip_opt(json_t *rec, const char *key, struct plat_ip *out)
{
	json_t *v = json_object_get(rec, key);

	memset(out, 0, sizeof(*out));
	if (!v)
		return 0;
	if (!json_is_string(v) || plat_ip_parse(out, json_string_value(v)))
		return -EBADMSG;
	return 0;
}

int plat_rec_set_ip(json_t *rec, const char *key, const struct plat_ip *ip)
{
	char buf[INET6_ADDRSTRLEN];

	if (!ip->family)
		return 0;
	return json_object_set_new(rec, key, json_string(plat_ip_str(ip, buf, sizeof(buf))))
		       ? -ENOMEM : 0;
}

int plat_change(struct plat *p, json_t *rec, int (*apply)(struct plat *, const void *),
		const void *arg, uint64_t *id)
{
	uint64_t rid;
	int err = plat_journal_add(&p->j, rec, &rid);

	if (err)
		return err;
	err = apply(p, arg);
	if (err) {
		/* It did not happen: nothing to undo. */
		plat_journal_done(&p->j, rid);
		return err;
	}
	if (id)
		*id = rid;
	return 0;
}

static const struct plat_kind {
	const char *name;
	int (*undo)(struct plat *, json_t *);
	int kernel; /* kernel state: forgotten by a reboot */
} plat_kinds[] = {
	{ "tun", plat_undo_tun, 1 },
	{ "addr", plat_undo_addr, 1 },
	{ "route", plat_undo_route, 1 },
	{ "rule", plat_undo_rule, 1 },
	{ "resolv", plat_undo_resolv, 0 },
	{ "nft-table", plat_undo_nft_table, 1 },
	/* resolved keeps link settings in /run and by ifindex: gone with a reboot */
	{ "resolved-link", plat_undo_resolved_link, 1 },
};

static int plat_undo_rec(struct plat *p, json_t *rec)
{
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	const char *boot = json_string_value(json_object_get(rec, "boot"));
	uint64_t id = (uint64_t)json_integer_value(json_object_get(rec, "id"));
	const struct plat_kind *k = NULL;
	size_t i;
	int err;

	for (i = 0; i < sizeof(plat_kinds) / sizeof(plat_kinds[0]); i++)
		if (kind && strcmp(kind, plat_kinds[i].name) == 0)
			k = &plat_kinds[i];
	if (!k) {
		/* Written by a newer version: keep it for one that knows. */
		vlog_err(PLAT_MOD, "journal %s: record %" PRIu64 " of unknown kind '%s' kept",
			 p->j.name, id, kind ? kind : "?");
		return -EPROTONOSUPPORT;
	}
	if (k->kernel && (!boot || strcmp(boot, p->j.boot))) {
		vlog_info(PLAT_MOD, "journal %s: %s record %" PRIu64
			  " is from an earlier boot; nothing to undo",
			  p->j.name, kind, id);
		return plat_journal_done(&p->j, id);
	}
	err = k->undo(p, rec);
	if (err == -EBADMSG) {
		/* Undecodable: keeping it would fail every clean-up forever. */
		vlog_err(PLAT_MOD, "journal %s: %s record %" PRIu64 " is corrupt; dropped",
			 p->j.name, kind, id);
		err = 0;
	} else if (err) {
		vlog_err(PLAT_MOD, "journal %s: undoing %s record %" PRIu64 ": %s; kept",
			 p->j.name, kind, id, strerror(-err));
		return err;
	} else {
		vlog_info(PLAT_MOD, "journal %s: %s record %" PRIu64 " undone", p->j.name,
			  kind, id);
	}
	return plat_journal_done(&p->j, id);
}

int plat_undo(struct plat *p, uint64_t id)
{
	json_t *live, *rec;
	size_t i;
	int err = plat_journal_load(&p->j, &live);

	if (err)
		return err;
	err = -ENOENT;
	json_array_foreach(live, i, rec) {
		if ((uint64_t)json_integer_value(json_object_get(rec, "id")) == id) {
			err = plat_undo_rec(p, rec);
			break;
		}
	}
	json_decref(live);
	return err;
}

int plat_undo_all(struct plat *p)
{
	json_t *live;
	size_t i;
	int err = plat_journal_load(&p->j, &live), first = 0;

	if (err)
		return err;
	for (i = json_array_size(live); i > 0; i--) {
		err = plat_undo_rec(p, json_array_get(live, i - 1));
		if (err && !first)
			first = err;
	}
	json_decref(live);
	return first;
}
