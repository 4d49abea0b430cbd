/* DNS through resolv.conf. See plat.h.
 *
 * The file is replaced by rename, never written through: when it is a
 * symlink (to systemd-resolved's file in /run, say) the symlink itself is
 * replaced and later put back, so the target is never touched. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/util/log.h"
#include "platform/internal.h"

/* Bounds what we write and what we accept to compare against it. */
#define RESOLV_MAX_BYTES 8192
/* An original larger than this is not a resolv.conf we dare to replace. */
#define RESOLV_ORIG_MAX (1u << 20)

int plat_dns_name_ok(const char *s)
{
	size_t n = strnlen(s, PLAT_DNS_NAME_MAX + 1), label = 0, i;

	if (n == 0 || n > PLAT_DNS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			/* No empty labels; one trailing dot is fine. */
			if (label == 0)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

static int dns_render(const struct plat_dns *dns, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	size_t len = 0;
	unsigned i;
	int n;

	n = snprintf(buf, cap, "# Written by vpnctl; the previous file comes back on disconnect.\n");
	len += (size_t)n;
	for (i = 0; i < dns->nservers && len < cap; i++) {
		n = snprintf(buf + len, cap - len, "nameserver %s\n",
			     plat_ip_str(&dns->servers[i], a, sizeof(a)));
		len += (size_t)n;
	}
	if (dns->nsearch && len < cap) {
		len += (size_t)snprintf(buf + len, cap - len, "search");
		for (i = 0; i < dns->nsearch && len < cap; i++)
			len += (size_t)snprintf(buf + len, cap - len, " %s", dns->search[i]);
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "\n");
	}
	return len < cap ? (int)len : -ENOSPC;
}

static int fsync_parent(const char *path)
{
	char copy[PATH_MAX];
	int fd, err = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int overwrite_in_place(const char *path, const char *data, size_t len);

/* When the file cannot be replaced — a bind-mounted file (ip netns exec's
 * /etc/netns/NAME/resolv.conf, a container's resolv.conf: EBUSY) or a
 * read-only /etc where only the file itself is writable (systemd's
 * ProtectSystem=strict with ReadWritePaths=/etc/resolv.conf: EROFS) — write
 * it in place, which is what its readers see. Never through a symlink. */
static int in_place_fallback(const char *path, const char *data, size_t len, int err)
{
	if (err != -EBUSY && err != -EROFS && err != -EACCES && err != -EPERM &&
	    err != -EXDEV)
		return err;
	return overwrite_in_place(path, data, len);
}

static int overwrite_in_place(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW), err;

	if (fd < 0)
		return -errno;
	err = plat_write_all(fd, data, len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Replace path by a file with these contents: a temporary file next to it,
 * fsync'ed, renamed over it. */
static int replace_file(const char *path, const char *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.vpnctl-XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return in_place_fallback(path, data, len, -errno);
	err = plat_write_all(fd, data, len);
	if (!err && fchmod(fd, mode) < 0)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	close(fd);
	if (!err && rename(tmp, path) < 0) {
		err = -errno;
		unlink(tmp);
		return in_place_fallback(path, data, len, err);
	}
	if (err)
		unlink(tmp);
	return err ? err : fsync_parent(path);
}

static int replace_with_symlink(const char *path, const char *target)
{
	char tmp[PATH_MAX];
	int err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.vpnctl-link-%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return -errno;
	if (rename(tmp, path) < 0) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return fsync_parent(path);
}

/* Read a regular file of at most max bytes into a malloc'ed buffer. */
static int read_file_at(int dirfd, const char *path, size_t max, char **out,
			size_t *len, mode_t *mode)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), err;

	if (fd < 0)
		return -errno;
	err = plat_read_fd(fd, max, out, len, mode);
	close(fd);
	return err;
}

struct dns_op {
	const char *path;
	const char *ours;
	size_t len;
};

static int dns_apply_op(struct plat *p, const void *arg)
{
	const struct dns_op *op = arg;

	(void)p;
	return replace_file(op->path, op->ours, op->len, 0644);
}

/* Save the original in the state directory (or note that it is a symlink
 * or absent) and describe it in rec. */
static int dns_save_original(struct plat *p, const char *path, json_t *rec,
			     char *backup, size_t backup_len)
{
	struct stat st;
	char target[PATH_MAX];
	char *data = NULL;
	size_t len;
	mode_t mode;
	ssize_t n;
	int fd, err;

	backup[0] = '\0';
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		return json_object_set_new(rec, "orig", json_string("absent")) ? -ENOMEM : 0;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		/* json_string refuses what is not UTF-8: such a target we
		 * could not restore, so we do not replace it either. */
		if (json_object_set_new(rec, "orig", json_string("symlink")) ||
		    json_object_set_new(rec, "target", json_string(target)))
			return -EINVAL;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	err = read_file_at(AT_FDCWD, path, RESOLV_ORIG_MAX, &data, &len, &mode);
	if (err)
		return err;
	snprintf(backup, backup_len, "%s.resolv-%" PRIu64, p->j.name, p->j.next_id);
	fd = openat(p->j.dirfd, backup, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
	} else {
		err = plat_write_all(fd, data, len);
		if (!err && fsync(fd) < 0)
			err = -errno;
		close(fd);
		if (!err && fsync(p->j.dirfd) < 0)
			err = -errno;
	}
	free(data);
	if (!err && (json_object_set_new(rec, "orig", json_string("file")) ||
		     json_object_set_new(rec, "backup", json_string(backup)) ||
		     json_object_set_new(rec, "mode", json_integer(mode))))
		err = -ENOMEM;
	if (err) {
		unlinkat(p->j.dirfd, backup, 0);
		backup[0] = '\0';
	}
	return err;
}

int plat_dns_apply(struct plat *p, const char *resolv_path,
		   const struct plat_dns *dns, uint64_t *id)
{
	char ours[RESOLV_MAX_BYTES], backup[PLAT_NAME_MAX + 32];
	struct dns_op op;
	json_t *rec;
	unsigned i;
	int len, err;

	if (resolv_path[0] != '/' || dns->nservers == 0 ||
	    dns->nservers > PLAT_DNS_MAX_SERVERS || dns->nsearch > PLAT_DNS_MAX_SEARCH) {
		vlog_err(PLAT_MOD, "dns: bad request (%u servers, %u domains, path %s)",
			 dns->nservers, dns->nsearch, resolv_path);
		return -EINVAL;
	}
	for (i = 0; i < dns->nservers; i++)
		if (dns->servers[i].family != AF_INET && dns->servers[i].family != AF_INET6)
			return -EINVAL;
	for (i = 0; i < dns->nsearch; i++) {
		if (!plat_dns_name_ok(dns->search[i])) {
			vlog_err(PLAT_MOD, "dns: refusing search domain '%.*s'",
				 PLAT_DNS_NAME_MAX, dns->search[i]);
			return -EINVAL;
		}
	}
	len = dns_render(dns, ours, sizeof(ours));
	if (len < 0)
		return len;
	rec = json_pack("{s:s,s:s,s:s}", "kind", "resolv", "path", resolv_path, "ours", ours);
	if (!rec) {
		vlog_err(PLAT_MOD, "dns: cannot record path %s", resolv_path);
		return -EINVAL;
	}
	err = dns_save_original(p, resolv_path, rec, backup, sizeof(backup));
	if (err) {
		json_decref(rec);
		vlog_err(PLAT_MOD, "dns: saving %s: %s", resolv_path, strerror(-err));
		return err;
	}
	op.path = resolv_path;
	op.ours = ours;
	op.len = (size_t)len;
	err = plat_change(p, rec, dns_apply_op, &op, id);
	if (err) {
		if (backup[0])
			unlinkat(p->j.dirfd, backup, 0);
		vlog_err(PLAT_MOD, "dns: writing %s: %s", resolv_path, strerror(-err));
		return err;
	}
	vlog_info(PLAT_MOD, "dns: %u server(s), %u domain(s) in %s", dns->nservers,
		  dns->nsearch, resolv_path);
	return 0;
}

/* Is the file at path still exactly what we wrote? */
static int dns_still_ours(const char *path, const char *ours)
{
	char *cur;
	size_t len;
	int same;

	if (read_file_at(AT_FDCWD, path, RESOLV_MAX_BYTES, &cur, &len, NULL))
		return 0;
	same = len == strlen(ours) && memcmp(cur, ours, len) == 0;
	free(cur);
	return same;
}

static int dns_restore(struct plat *p, const char *path, const char *orig, json_t *rec)
{
	const char *s;
	char *data;
	size_t len;
	uint32_t mode;
	int err;

	if (strcmp(orig, "absent") == 0)
		return unlink(path) < 0 && errno != ENOENT ? -errno : fsync_parent(path);
	if (strcmp(orig, "symlink") == 0) {
		if (plat_rec_str(rec, "target", &s))
			return -EBADMSG;
		return replace_with_symlink(path, s);
	}
	if (strcmp(orig, "file") || plat_rec_str(rec, "backup", &s) ||
	    plat_rec_u32(rec, "mode", &mode) || mode > 07777 || strchr(s, '/'))
		return -EBADMSG;
	err = read_file_at(p->j.dirfd, s, RESOLV_ORIG_MAX, &data, &len, NULL);
	if (err == -ENOENT) {
		vlog_err(PLAT_MOD, "dns: the saved copy of %s is gone", path);
		return -EBADMSG;
	}
	if (err)
		return err;
	err = replace_file(path, data, len, (mode_t)mode);
	free(data);
	return err;
}

int plat_undo_resolv(struct plat *p, json_t *rec)
{
	const char *path, *orig, *ours, *backup = NULL;
	int err;

	if (plat_rec_str(rec, "path", &path) || path[0] != '/' ||
	    plat_rec_str(rec, "orig", &orig) || plat_rec_str(rec, "ours", &ours))
		return -EBADMSG;
	plat_rec_str(rec, "backup", &backup);
	if (backup && strchr(backup, '/'))
		return -EBADMSG;
	if (!dns_still_ours(path, ours)) {
		/* Someone wrote a newer resolv.conf since: theirs wins. */
		vlog_notice(PLAT_MOD, "dns: %s was replaced by someone else; leaving it",
			    path);
		err = 0;
	} else {
		err = dns_restore(p, path, orig, rec);
		if (!err)
			vlog_info(PLAT_MOD, "dns: %s restored", path);
	}
	if (!err && backup)
		unlinkat(p->j.dirfd, backup, 0);
	return err;
}
