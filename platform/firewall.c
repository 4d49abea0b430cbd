/* The kill switch with nftables. See firewall.h.
 *
 * Through libnftables (nft's own library): the commands are the same text
 * `nft -f` reads, one buffer is one kernel transaction (all the atomicity
 * the kill switch needs), and the dependency is a library the package
 * manager sees. It runs at connect, roam and disconnect, never per packet.
 */
#define _GNU_SOURCE
#include "platform/firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "client/util/log.h"
#include "platform/internal.h"

#define KS_TABLE_PREFIX "vpnctl_"
#define KS_NAME_MAX 64
/* What we log of nft's complaint. */
#define NFT_ERR_SHOWN 512

/* --- Running nft ------------------------------------------------------------ */

/* nft says why in words only; turn the usual ones back into errnos. */
static int nft_errno(const char *msg)
{
	if (strstr(msg, "Operation not permitted"))
		return -EPERM;
	if (strstr(msg, "No such file or directory"))
		return -ENOENT;
	if (strstr(msg, "Protocol not supported") || strstr(msg, "Operation not supported"))
		return -EPROTONOSUPPORT;
	return -EIO;
}

static void nft_log_failure(const char *what, const char *msg)
{
	char shown[NFT_ERR_SHOWN];
	size_t i, n = 0;

	/* One log line: nft's several lines joined, control bytes dropped. */
	for (i = 0; msg[i] && n + 4 < sizeof(shown); i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c == '\n') {
			if (msg[i + 1] && n) {
				memcpy(shown + n, " | ", 3);
				n += 3;
			}
		} else if (c >= 0x20 && c != 0x7f) {
			shown[n++] = (char)c;
		}
	}
	shown[n] = '\0';
	vlog_err(PLAT_MOD, "killswitch: nft %s: %s", what, n ? shown : "failed");
}

/* Run one nft command line (args, NULL-terminated, as after "nft"; a
 * leading "-j" asks for JSON) or, when script is not NULL, a whole script.
 * Its output goes into *out when out is not NULL (malloc'ed). */
static int nft_run(const char *what, const char *const *args, const char *script,
		   char **out)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	char cmd[512];
	size_t n = 0;
	int rc, err = 0;

	if (out)
		*out = NULL;
	if (!ctx)
		return -ENOMEM;
	if (nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
		nft_ctx_free(ctx);
		return -ENOMEM;
	}
	if (!script) {
		cmd[0] = 0;
		for (; *args; args++) {
			if (!strcmp(*args, "-j")) {
				nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
				continue;
			}
			rc = snprintf(cmd + n, sizeof(cmd) - n, "%s%s", n ? " " : "", *args);
			if (rc < 0 || (size_t)rc >= sizeof(cmd) - n) {
				nft_ctx_free(ctx);
				return -E2BIG;
			}
			n += (size_t)rc;
		}
	}
	rc = nft_run_cmd_from_buffer(ctx, script ? script : cmd);
	if (rc) {
		const char *msg = nft_ctx_get_error_buffer(ctx);

		nft_log_failure(what, msg ? msg : "");
		err = nft_errno(msg ? msg : "");
	} else if (out) {
		const char *o = nft_ctx_get_output_buffer(ctx);

		*out = strdup(o ? o : "");
		if (!*out)
			err = -ENOMEM;
	}
	nft_ctx_free(ctx);
	return err;
}

static int nft_script(const char *what, const char *script)
{
	static const char *const args[] = { "-f", "-", NULL };

	return nft_run(what, args, script, NULL);
}

/* --- Names and configuration ------------------------------------------------ */

/* Profile names ([A-Za-z0-9._-]) are nft identifiers once prefixed with a
 * letter; nft 1.0 takes no quoted table names. */
static int ks_table_name(const char *name, char table[PLAT_KS_TABLE_MAX])
{
	size_t n = strlen(name);

	if (n == 0 || n > KS_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") != n)
		return -EINVAL;
	snprintf(table, PLAT_KS_TABLE_MAX, KS_TABLE_PREFIX "%s", name);
	return 0;
}

/* Interface names go into the script between quotes. */
static int ks_ifname_ok(const char *s)
{
	size_t n = strnlen(s, IFNAMSIZ), i;

	if (n == 0 || n >= IFNAMSIZ)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '/' || c == ':')
			return 0;
	}
	return 1;
}

static unsigned ip_bits(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

static void prefix_mask(struct plat_prefix *p)
{
	unsigned i;

	for (i = p->plen; i < ip_bits(p->ip.family); i++)
		p->ip.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

static int prefix_contains(const struct plat_prefix *outer, const struct plat_prefix *inner)
{
	unsigned i;

	if (outer->ip.family != inner->ip.family || outer->plen > inner->plen)
		return 0;
	for (i = 0; i < outer->plen; i++) {
		uint8_t bit = (uint8_t)(0x80 >> (i % 8));

		if ((outer->ip.addr[i / 8] & bit) != (inner->ip.addr[i / 8] & bit))
			return 0;
	}
	return 1;
}

/* Where a LAN may be: private, shared (CGN) and link-local space. */
static const char *const lan_private[] = {
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
	"fc00::/7", "fe80::/10",
};
/* Always part of the LAN when it is allowed: link-local addresses,
 * link-local multicast (mDNS, LLMNR), SSDP and broadcast. */
static const char *const lan_implicit[] = {
	"169.254.0.0/16", "224.0.0.0/24", "239.255.255.250/32", "255.255.255.255/32",
	"fe80::/10", "ff02::/16",
};

static int lan_is_private(const struct plat_prefix *p)
{
	struct plat_prefix r;
	size_t i;

	for (i = 0; i < sizeof(lan_private) / sizeof(lan_private[0]); i++)
		if (plat_prefix_parse(&r, lan_private[i]) == 0 && prefix_contains(&r, p))
			return 1;
	return 0;
}

#define KS_LAN_ALL (PLAT_KS_MAX_LAN + sizeof(lan_implicit) / sizeof(lan_implicit[0]))

struct ks_lan {
	unsigned n;
	struct plat_prefix p[KS_LAN_ALL];
};

static void lan_add(struct ks_lan *l, const struct plat_prefix *p)
{
	unsigned i, k;

	for (i = 0; i < l->n; i++)
		if (prefix_contains(&l->p[i], p))
			return;
	/* The new one may cover some we have: an interval set refuses
	 * overlapping elements. */
	for (i = k = 0; i < l->n; i++)
		if (!prefix_contains(p, &l->p[i]))
			l->p[k++] = l->p[i];
	l->n = k;
	l->p[l->n++] = *p;
}

static void lan_build(const struct plat_killswitch_cfg *cfg, struct ks_lan *l)
{
	char buf[PLAT_PREFIX_STRLEN];
	struct plat_prefix p;
	size_t i;

	l->n = 0;
	if (!cfg->allow_lan)
		return;
	for (i = 0; i < sizeof(lan_implicit) / sizeof(lan_implicit[0]); i++)
		if (plat_prefix_parse(&p, lan_implicit[i]) == 0)
			lan_add(l, &p);
	for (i = 0; i < cfg->nlan; i++) {
		p = cfg->lan[i];
		prefix_mask(&p);
		if (!lan_is_private(&p)) {
			vlog_warn(PLAT_MOD, "killswitch: LAN %s is not private address space; "
				  "not allowed", plat_prefix_str(&p, buf, sizeof(buf)));
			continue;
		}
		lan_add(l, &p);
	}
}

static int ks_cfg_valid(const struct plat_killswitch_cfg *cfg)
{
	unsigned i;

	if (cfg->ngw > PLAT_KS_MAX_GW || cfg->nudp > PLAT_KS_MAX_PORTS ||
	    cfg->ntcp > PLAT_KS_MAX_PORTS || cfg->ntun > PLAT_KS_MAX_TUN ||
	    cfg->nlan > PLAT_KS_MAX_LAN)
		return 0;
	for (i = 0; i < cfg->ngw; i++)
		if (cfg->gw[i].family != AF_INET && cfg->gw[i].family != AF_INET6)
			return 0;
	for (i = 0; i < cfg->nudp; i++)
		if (!cfg->udp_ports[i])
			return 0;
	for (i = 0; i < cfg->ntcp; i++)
		if (!cfg->tcp_ports[i])
			return 0;
	for (i = 0; i < cfg->ntun; i++)
		if (!ks_ifname_ok(cfg->tun[i]))
			return 0;
	for (i = 0; i < cfg->nlan; i++) {
		uint8_t f = cfg->lan[i].ip.family;

		if ((f != AF_INET && f != AF_INET6) || cfg->lan[i].plen > ip_bits(f))
			return 0;
	}
	return 1;
}

/* --- Scripts ------------------------------------------------------------------ */

/* The chain never changes; the sets carry everything that does. */
static void ks_render_table(FILE *f, const char *table)
{
	/* Creating the table first makes the delete succeed when there was
	 * none; a leftover of the same name goes in the same transaction. */
	fprintf(f,
		"table inet %1$s {}\n"
		"delete table inet %1$s\n"
		"table inet %1$s {\n"
		"\tset tun { type ifname; }\n"
		"\tset marks { type mark; }\n"
		"\tset gw4 { type ipv4_addr; }\n"
		"\tset gw6 { type ipv6_addr; }\n"
		"\tset udp_ports { type inet_service; }\n"
		"\tset tcp_ports { type inet_service; }\n"
		"\tset lan4 { type ipv4_addr; flags interval; }\n"
		"\tset lan6 { type ipv6_addr; flags interval; }\n"
		"\tcounter dropped { }\n"
		"\tchain postrouting {\n"
		"\t\ttype filter hook postrouting priority -300; policy accept;\n"
		"\t\toifname \"lo\" accept\n"
		"\t\toifname @tun accept\n"
		"\t\tmeta mark @marks ip daddr @gw4 udp dport @udp_ports accept\n"
		"\t\tmeta mark @marks ip6 daddr @gw6 udp dport @udp_ports accept\n"
		"\t\tmeta mark @marks ip daddr @gw4 tcp dport @tcp_ports accept\n"
		"\t\tmeta mark @marks ip6 daddr @gw6 tcp dport @tcp_ports accept\n"
		"\t\tmeta nfproto ipv4 udp sport 68 udp dport 67 accept\n"
		"\t\tmeta nfproto ipv6 udp sport 546 udp dport 547 accept\n"
		"\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } "
		"ip6 hoplimit 255 accept\n"
		"\t\ticmpv6 type { mld-listener-report, mld2-listener-report } "
		"ip6 hoplimit 1 accept\n"
		"\t\tip daddr @lan4 accept\n"
		"\t\tip6 daddr @lan6 accept\n"
		"\t\tcounter name \"dropped\" drop\n"
		"\t}\n"
		"}\n",
		table);
}

/* "flush set" and, when there is anything, "add element ... { ... }". */
static void set_begin(FILE *f, const char *table, const char *set, unsigned n)
{
	fprintf(f, "flush set inet %s %s\n", table, set);
	if (n)
		fprintf(f, "add element inet %s %s {", table, set);
}

static void set_end(FILE *f, unsigned n)
{
	if (n)
		fprintf(f, " }\n");
}

static void ks_render_sets(FILE *f, const char *table, const struct plat_killswitch_cfg *cfg,
			   const struct ks_lan *lan)
{
	static const uint16_t ike_ports[] = { 500, 4500 };
	const uint16_t *udp = cfg->nudp ? cfg->udp_ports : ike_ports;
	unsigned nudp = cfg->nudp ? cfg->nudp : 2, i, n, fam;
	char buf[PLAT_PREFIX_STRLEN];

	set_begin(f, table, "tun", cfg->ntun);
	for (i = 0; i < cfg->ntun; i++)
		fprintf(f, "%s \"%s\"", i ? "," : "", cfg->tun[i]);
	set_end(f, cfg->ntun);
	/* Mark 0 is what unmarked sockets carry: "any socket". */
	set_begin(f, table, "marks", 1);
	fprintf(f, " 0x%" PRIx32, cfg->fwmark);
	set_end(f, 1);
	for (fam = 0; fam < 2; fam++) {
		uint8_t af = fam ? AF_INET6 : AF_INET;

		for (i = n = 0; i < cfg->ngw; i++)
			n += cfg->gw[i].family == af;
		set_begin(f, table, fam ? "gw6" : "gw4", n);
		for (i = n = 0; i < cfg->ngw; i++)
			if (cfg->gw[i].family == af)
				fprintf(f, "%s %s", n++ ? "," : "",
					plat_ip_str(&cfg->gw[i], buf, sizeof(buf)));
		set_end(f, n);
		for (i = n = 0; i < lan->n; i++)
			n += lan->p[i].ip.family == af;
		set_begin(f, table, fam ? "lan6" : "lan4", n);
		for (i = n = 0; i < lan->n; i++)
			if (lan->p[i].ip.family == af)
				fprintf(f, "%s %s", n++ ? "," : "",
					plat_prefix_str(&lan->p[i], buf, sizeof(buf)));
		set_end(f, n);
	}
	set_begin(f, table, "udp_ports", nudp);
	for (i = 0; i < nudp; i++)
		fprintf(f, "%s %u", i ? "," : "", udp[i]);
	set_end(f, nudp);
	set_begin(f, table, "tcp_ports", cfg->ntcp);
	for (i = 0; i < cfg->ntcp; i++)
		fprintf(f, "%s %u", i ? "," : "", cfg->tcp_ports[i]);
	set_end(f, cfg->ntcp);
}

/* The whole script for on (with_table) or update. */
static int ks_render(const char *table, const struct plat_killswitch_cfg *cfg,
		     int with_table, char **script)
{
	struct ks_lan lan;
	size_t len;
	FILE *f;

	lan_build(cfg, &lan);
	*script = NULL;
	f = open_memstream(script, &len);
	if (!f)
		return -ENOMEM;
	if (with_table)
		ks_render_table(f, table);
	ks_render_sets(f, table, cfg, &lan);
	if (fclose(f) != 0) {
		free(*script);
		*script = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* --- The API ------------------------------------------------------------------- */

static void ks_log(const char *what, const char *table, const struct plat_killswitch_cfg *cfg)
{
	vlog_info(PLAT_MOD, "killswitch: %s %s: %u gateway address(es), %u tunnel link(s), "
		  "fwmark 0x%" PRIx32 ", LAN %s", what, table, cfg->ngw, cfg->ntun, cfg->fwmark,
		  cfg->allow_lan ? "allowed" : "blocked");
}

/* The live record of this table in p's journal: -ENOENT when none. */
static int ks_record_find(struct plat *p, const char *table, uint64_t *id)
{
	json_t *live, *rec;
	size_t i;
	int err = plat_journal_load(&p->j, &live);

	if (err)
		return err;
	*id = 0;
	for (i = json_array_size(live); i > 0 && !*id; i--) {
		const char *kind, *t;

		rec = json_array_get(live, i - 1);
		if (plat_rec_str(rec, "kind", &kind) == 0 && strcmp(kind, "nft-table") == 0 &&
		    plat_rec_str(rec, "table", &t) == 0 && strcmp(t, table) == 0)
			*id = (uint64_t)json_integer_value(json_object_get(rec, "id"));
	}
	json_decref(live);
	return *id ? 0 : -ENOENT;
}

static int ks_apply(struct plat *p, const void *arg)
{
	(void)p;
	return nft_script("creating the table", arg);
}

int plat_killswitch_on(struct plat *p, const char *name,
		       const struct plat_killswitch_cfg *cfg, uint64_t *id)
{
	char table[PLAT_KS_TABLE_MAX], *script;
	uint64_t prev;
	json_t *rec;
	int err;

	if (ks_table_name(name, table) || !ks_cfg_valid(cfg)) {
		vlog_err(PLAT_MOD, "killswitch: bad request for '%.*s'", KS_NAME_MAX, name);
		return -EINVAL;
	}
	err = ks_render(table, cfg, 1, &script);
	if (err)
		return err;
	if (ks_record_find(p, table, &prev) == 0) {
		/* On already: rebuilt under the record that stands for it. */
		err = nft_script("rebuilding the table", script);
		if (!err && id)
			*id = prev;
	} else {
		rec = json_pack("{s:s,s:s,s:s}", "kind", "nft-table", "family", "inet", "table",
				table);
		err = plat_change(p, rec, ks_apply, script, id);
	}
	free(script);
	if (!err)
		ks_log("on", table, cfg);
	return err;
}

int plat_killswitch_update(const char *name, const struct plat_killswitch_cfg *cfg)
{
	char table[PLAT_KS_TABLE_MAX], *script;
	int err;

	if (ks_table_name(name, table) || !ks_cfg_valid(cfg)) {
		vlog_err(PLAT_MOD, "killswitch: bad update for '%.*s'", KS_NAME_MAX, name);
		return -EINVAL;
	}
	err = ks_render(table, cfg, 0, &script);
	if (err)
		return err;
	err = nft_script("updating the sets", script);
	free(script);
	if (!err)
		ks_log("update", table, cfg);
	return err;
}

int plat_killswitch_off(struct plat *p, const char *name)
{
	char table[PLAT_KS_TABLE_MAX];
	uint64_t id;
	int err;

	if (ks_table_name(name, table))
		return -EINVAL;
	err = ks_record_find(p, table, &id);
	return err ? err : plat_undo(p, id);
}

int plat_killswitch_dropped(const char *name, uint64_t *packets, uint64_t *bytes)
{
	char table[PLAT_KS_TABLE_MAX], *out = NULL;
	const char *args[] = { "-j", "list", "counter", "inet", table, "dropped", NULL };
	json_t *doc, *items, *it, *c;
	json_error_t jerr;
	size_t i;
	int err;

	if (ks_table_name(name, table))
		return -EINVAL;
	err = nft_run("reading the counter", args, NULL, &out);
	if (err)
		return err;
	doc = json_loads(out, 0, &jerr);
	free(out);
	items = json_object_get(doc, "nftables");
	err = -EBADMSG;
	json_array_foreach(items, i, it) {
		json_t *pk, *by;

		c = json_object_get(it, "counter");
		pk = json_object_get(c, "packets");
		by = json_object_get(c, "bytes");
		if (json_is_integer(pk) && json_is_integer(by) && json_integer_value(pk) >= 0 &&
		    json_integer_value(by) >= 0) {
			*packets = (uint64_t)json_integer_value(pk);
			*bytes = (uint64_t)json_integer_value(by);
			err = 0;
			break;
		}
	}
	if (err)
		vlog_err(PLAT_MOD, "killswitch: nft gave no counter for %s", table);
	json_decref(doc);
	return err;
}

int plat_undo_nft_table(struct plat *p, json_t *rec)
{
	const char *family, *table;
	char check[PLAT_KS_TABLE_MAX], script[3 * PLAT_KS_TABLE_MAX + 64];
	size_t pl = strlen(KS_TABLE_PREFIX);

	(void)p;
	/* The record is input: only one of our own tables, named as we name
	 * them, ever gets deleted. */
	if (plat_rec_str(rec, "family", &family) || strcmp(family, "inet") ||
	    plat_rec_str(rec, "table", &table) || strncmp(table, KS_TABLE_PREFIX, pl) ||
	    ks_table_name(table + pl, check) || strcmp(check, table))
		return -EBADMSG;
	snprintf(script, sizeof(script), "table inet %1$s {}\ndelete table inet %1$s\n", table);
	return nft_script("deleting the table", script);
}
