/* Shared by the files of platform/ only. */
#ifndef VPN_PLATFORM_INTERNAL_H
#define VPN_PLATFORM_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "platform/plat.h"

#define PLAT_MOD "plat"

/* Journal names are file name stems. */
#define PLAT_NAME_MAX 64
/* The kernel's boot id: a UUID string. */
#define PLAT_BOOT_ID_LEN 36

struct nl_sock;

struct plat_journal {
	int dirfd;
	int fd;
	char name[PLAT_NAME_MAX + 1];
	uint64_t next_id;
	unsigned live;
	char boot[PLAT_BOOT_ID_LEN + 1];
};

struct plat {
	struct nl_sock *sk;
	int nl_errno;          /* errno of the last NLMSG_ERROR, negative */
	struct plat_journal j;
};

/* Journal (state.c). */
int plat_journal_open(struct plat_journal *j, const char *dir, const char *name);
void plat_journal_close(struct plat_journal *j);
/* Stamp rec with id, version and boot id, append it and fsync. Steals
 * the reference to rec. */
int plat_journal_add(struct plat_journal *j, json_t *rec, uint64_t *id);
/* Mark record id undone; empties the file once nothing is live. */
int plat_journal_done(struct plat_journal *j, uint64_t id);
/* The live records, oldest first (a new JSON array for the caller). */
int plat_journal_load(struct plat_journal *j, json_t **live);

/* A regular file of at most max bytes, NUL-terminated, in a malloc'ed
 * buffer; mode may be NULL. -EINVAL when not a regular file, -EFBIG. */
int plat_read_fd(int fd, size_t max, char **out, size_t *len, mode_t *mode);
int plat_write_all(int fd, const char *s, size_t len);

/* Netlink (plat.c): map a libnl result to 0/-errno, preferring the
 * kernel's own errno when the failure was an NLMSG_ERROR. */
int plat_nl_result(struct plat *p, int nlerr);
void plat_nl_reset(struct plat *p);
/* A DNS name we may hand on: labels of letters, digits, '-' and '_', at
 * most 63 octets each, no empty label (one trailing dot is fine), at most
 * PLAT_DNS_NAME_MAX octets in all. */
int plat_dns_name_ok(const char *s);
/* Records of links we depend on name the link as well as its index, so an
 * index the kernel handed to another link since is not mistaken for ours.
 * 1: that link is there; 0: it is gone; -errno: cannot tell now. */
int plat_link_is(struct plat *p, int ifindex, const char *ifname);

/* Undo one record of each kind (link.c, route.c, dns.c, ...). Changes that are
 * already gone return 0. */
int plat_undo_tun(struct plat *p, json_t *rec);
int plat_undo_addr(struct plat *p, json_t *rec);
int plat_undo_route(struct plat *p, json_t *rec);
int plat_undo_rule(struct plat *p, json_t *rec);
int plat_undo_resolv(struct plat *p, json_t *rec);
/* firewall.c, resolved.c */
int plat_undo_nft_table(struct plat *p, json_t *rec);
int plat_undo_resolved_link(struct plat *p, json_t *rec);

/* Read fields of a journal record, checking type and range: -EBADMSG
 * when missing or wrong (the file is input like any other). Optional
 * addresses come back with family 0 when absent. */
int plat_rec_u32(json_t *rec, const char *key, uint32_t *out);
int plat_rec_str(json_t *rec, const char *key, const char **out);
int plat_rec_ifname(json_t *rec, const char *key, char out[IFNAMSIZ]);
int plat_rec_prefix(json_t *rec, const char *key, struct plat_prefix *out);
int plat_rec_ip_opt(json_t *rec, const char *key, struct plat_ip *out);
/* Add "key": "<ip>" unless ip->family is 0. */
int plat_rec_set_ip(json_t *rec, const char *key, const struct plat_ip *ip);

struct nl_addr;
/* A libnl address as ours; family 0 when absent or not IPv4/IPv6. */
void plat_ip_from_nl(struct plat_ip *ip, struct nl_addr *a);

/* Errnos that mean "already gone" when undoing. */
int plat_err_gone(int err);

/* Journal a record, run the change, and drop the record again when the
 * change failed (it did not happen, there is nothing to undo). */
int plat_change(struct plat *p, json_t *rec, int (*apply)(struct plat *, const void *),
		const void *arg, uint64_t *id);

#endif
