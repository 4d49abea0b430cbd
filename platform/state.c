/* The state journal (see state.h): append-only JSON lines, fsync'ed. */
#define _GNU_SOURCE
#include "platform/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/util/log.h"
#include "platform/internal.h"

#define JOURNAL_SUFFIX ".journal"
#define JOURNAL_VERSION 1
/* A journal holds a handful of records per connection; anything near this
 * size is not ours to parse. */
#define JOURNAL_MAX_BYTES (16u << 20)

static int journal_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > PLAT_NAME_MAX)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_-") == n;
}

static int read_boot_id(char out[PLAT_BOOT_ID_LEN + 1])
{
	char buf[64];
	ssize_t r;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r < PLAT_BOOT_ID_LEN)
		return -EIO;
	memcpy(out, buf, PLAT_BOOT_ID_LEN);
	out[PLAT_BOOT_ID_LEN] = '\0';
	return 0;
}

int plat_read_fd(int fd, size_t max, char **out, size_t *len, mode_t *mode)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -errno;
		}
		if (r == 0) /* shrunk under us: take what is there */
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	if (mode)
		*mode = st.st_mode & 07777;
	return 0;
}

int plat_write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t r = write(fd, s, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		s += r;
		len -= (size_t)r;
	}
	return 0;
}

static json_int_t rec_id(json_t *rec)
{
	json_t *v = json_object_get(rec, "id");

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Parse the journal into its live records (oldest first); also report the
 * highest id seen and whether the file ends in a torn line. */
static void journal_parse(const char *name, const char *buf, size_t len,
			 json_t *live, json_int_t *max_id, int *torn)
{
	size_t off = 0;
	unsigned lineno = 0;

	*max_id = 0;
	*torn = len > 0 && buf[len - 1] != '\n';
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) : len - off;
		json_error_t jerr;
		json_t *rec;
		json_int_t id;

		lineno++;
		if (!nl) {
			vlog_warn(PLAT_MOD, "journal %s: line %u torn by a crash; skipped",
				  name, lineno);
			break;
		}
		rec = l ? json_loadb(buf + off, l, JSON_REJECT_DUPLICATES, &jerr) : NULL;
		off += l + 1;
		id = rec ? rec_id(rec) : -1;
		if (!json_is_object(rec) || id <= 0) {
			if (l)
				vlog_warn(PLAT_MOD, "journal %s: line %u is not a record; skipped",
					  name, lineno);
			json_decref(rec);
			continue;
		}
		if (id > *max_id)
			*max_id = id;
		if (json_is_true(json_object_get(rec, "done"))) {
			size_t i;
			json_t *r;

			json_array_foreach(live, i, r) {
				if (rec_id(r) == id) {
					json_array_remove(live, i);
					break;
				}
			}
			json_decref(rec);
		} else if (json_is_string(json_object_get(rec, "kind"))) {
			json_array_append_new(live, rec);
		} else {
			vlog_warn(PLAT_MOD, "journal %s: line %u has no kind; skipped",
				  name, lineno);
			json_decref(rec);
		}
	}
}

static int journal_scan(int fd, const char *name, json_t **live,
			json_int_t *max_id, int *torn)
{
	char *buf = NULL;
	size_t len = 0;
	int err = plat_read_fd(fd, JOURNAL_MAX_BYTES, &buf, &len, NULL);

	if (err == -EFBIG)
		vlog_err(PLAT_MOD, "journal %s: too large to be ours", name);
	if (err)
		return err;
	*live = json_array();
	if (!*live) {
		free(buf);
		return -ENOMEM;
	}
	journal_parse(name, buf, len, *live, max_id, torn);
	free(buf);
	return 0;
}

int plat_journal_open(struct plat_journal *j, const char *dir, const char *name)
{
	char file[PLAT_NAME_MAX + sizeof(JOURNAL_SUFFIX)];
	json_t *live = NULL;
	json_int_t max_id;
	int torn, err, created = 0;

	memset(j, 0, sizeof(*j));
	j->dirfd = j->fd = -1;
	if (!journal_name_ok(name)) {
		vlog_err(PLAT_MOD, "bad journal name '%s'", name);
		return -EINVAL;
	}
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(file, sizeof(file), "%s" JOURNAL_SUFFIX, name);
	err = read_boot_id(j->boot);
	if (err) {
		vlog_err(PLAT_MOD, "cannot read the boot id: %s", strerror(-err));
		return err;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		vlog_err(PLAT_MOD, "state directory %s: %s", dir, strerror(-err));
		return err;
	}
	j->dirfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (j->dirfd < 0) {
		err = -errno;
		vlog_err(PLAT_MOD, "state directory %s: %s", dir, strerror(-err));
		return err;
	}
	j->fd = openat(j->dirfd, file, O_RDWR | O_APPEND | O_CLOEXEC);
	if (j->fd < 0 && errno == ENOENT) {
		j->fd = openat(j->dirfd, file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
			       0600);
		created = 1;
	}
	if (j->fd < 0) {
		err = -errno;
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			vlog_notice(PLAT_MOD, "journal %s/%s is in use by another process",
				    dir, file);
		goto fail;
	}
	if (created && fsync(j->dirfd) < 0) {
		err = -errno;
		goto fail;
	}
	err = journal_scan(j->fd, name, &live, &max_id, &torn);
	if (err)
		goto fail;
	j->live = (unsigned)json_array_size(live);
	j->next_id = (uint64_t)max_id + 1;
	json_decref(live);
	/* Start the next record on a line of its own. */
	if (torn && (err = plat_write_all(j->fd, "\n", 1)) < 0)
		goto fail;
	return 0;
fail:
	if (err != -EBUSY)
		vlog_err(PLAT_MOD, "journal %s/%s: %s", dir, file, strerror(-err));
	plat_journal_close(j);
	return err;
}

void plat_journal_close(struct plat_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->fd = j->dirfd = -1;
}

static int journal_write(struct plat_journal *j, json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	size_t len;
	int err;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len] = '\n';
	/* One write of the whole line: with O_APPEND it lands intact or, on a
	 * crash, as a torn last line that the parser skips. */
	err = plat_write_all(j->fd, s, len + 1);
	free(s);
	if (!err && fdatasync(j->fd) < 0)
		err = -errno;
	if (err)
		vlog_err(PLAT_MOD, "journal %s: write: %s", j->name, strerror(-err));
	return err;
}

int plat_journal_add(struct plat_journal *j, json_t *rec, uint64_t *id)
{
	uint64_t rid = j->next_id;
	int err;

	if (!rec)
		return -ENOMEM;
	if (json_object_set_new(rec, "id", json_integer((json_int_t)rid)) ||
	    json_object_set_new(rec, "v", json_integer(JOURNAL_VERSION)) ||
	    json_object_set_new(rec, "boot", json_string(j->boot))) {
		json_decref(rec);
		return -ENOMEM;
	}
	err = journal_write(j, rec);
	json_decref(rec);
	if (err)
		return err;
	j->next_id++;
	j->live++;
	if (id)
		*id = rid;
	return 0;
}

int plat_journal_done(struct plat_journal *j, uint64_t id)
{
	json_t *rec = json_pack("{s:I,s:i,s:b}", "id", (json_int_t)id, "v",
				JOURNAL_VERSION, "done", 1);
	int err;

	if (!rec)
		return -ENOMEM;
	err = journal_write(j, rec);
	json_decref(rec);
	if (err)
		return err;
	if (j->live)
		j->live--;
	if (j->live == 0) {
		/* Nothing left to undo: start over with an empty file. */
		if (ftruncate(j->fd, 0) < 0 || fdatasync(j->fd) < 0) {
			err = -errno;
			vlog_err(PLAT_MOD, "journal %s: truncate: %s", j->name,
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

int plat_journal_load(struct plat_journal *j, json_t **live)
{
	json_int_t max_id;
	int torn;

	return journal_scan(j->fd, j->name, live, &max_id, &torn);
}

/* Calls fn for the stem of every journal file under dir. */
static int for_each_journal(const char *dir, int (*fn)(const char *dir,
						       const char *stem, void *arg),
			    void *arg)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int first_err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), sl = strlen(JOURNAL_SUFFIX);
		char stem[PLAT_NAME_MAX + 1];
		int err;

		if (n <= sl || n - sl > PLAT_NAME_MAX ||
		    strcmp(de->d_name + n - sl, JOURNAL_SUFFIX))
			continue;
		memcpy(stem, de->d_name, n - sl);
		stem[n - sl] = '\0';
		if (!journal_name_ok(stem))
			continue;
		err = fn(dir, stem, arg);
		if (err && (!first_err || first_err == -EBUSY))
			first_err = err;
	}
	closedir(d);
	return first_err;
}

static int cleanup_one(const char *dir, const char *stem, void *arg)
{
	struct plat *p;
	int err = plat_open(&p, dir, stem);

	(void)arg;
	if (err)
		return err;
	if (plat_pending(p))
		vlog_notice(PLAT_MOD, "clean-up: undoing %u change(s) of %s",
			    plat_pending(p), stem);
	err = plat_undo_all(p);
	plat_close(p);
	return err;
}

int plat_state_cleanup(const char *state_dir)
{
	return for_each_journal(state_dir, cleanup_one, NULL);
}

static int count_one(const char *dir, const char *stem, void *arg)
{
	char path[PATH_MAX];
	json_t *live;
	json_int_t max_id;
	int torn, fd, err;

	snprintf(path, sizeof(path), "%s/%s" JOURNAL_SUFFIX, dir, stem);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = journal_scan(fd, stem, &live, &max_id, &torn);
	close(fd);
	if (err)
		return err;
	*(unsigned *)arg += (unsigned)json_array_size(live);
	json_decref(live);
	return 0;
}

int plat_state_pending(const char *state_dir)
{
	unsigned n = 0;
	int err = for_each_journal(state_dir, count_one, &n);

	return err ? err : (int)n;
}
