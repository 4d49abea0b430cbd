/* Profile loading: inih does the INI syntax, this file the meaning.
 *
 * inih reads lines through our reader over the file held in memory, which
 * lets us count lines exactly as inih does (its handler has no line number in
 * Debian's build), strip indentation so no line turns into a continuation,
 * and refuse over-long lines instead of letting inih split them silently.
 * The handler only collects raw values with their line; the checks run after
 * the whole file was read, because what a key may hold depends on `auth`,
 * which may come later in the file. */
#define _GNU_SOURCE
#include "client/daemon/profile.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "client/util/log.h"

#define MOD "profile"

enum key_id {
	K_GATEWAY,
	K_REMOTE_ID,
	K_LOCAL_ID,
	K_AUTH,
	K_PSK,
	K_PSK_FILE,
	K_CERT,
	K_KEY,
	K_CA,
	K_EAP_IDENTITY,
	K_EAP_PASSWORD,
	K_EAP_PASSWORD_FILE,
	K_IKE,
	K_ESP,
	K_ROUTES,
	K_TRANSPORT,
	K_MOBIKE,
	K_FULL_TUNNEL,
	K_KILLSWITCH,
	K_ALLOW_LAN,
	K_AUTOCONNECT,
	K_IKE_REKEY,
	K_ESP_REKEY,
	K_DPD,
	K_COUNT,
};

static const char *const key_names[K_COUNT] = {
	[K_GATEWAY] = "gateway",
	[K_REMOTE_ID] = "remote_id",
	[K_LOCAL_ID] = "local_id",
	[K_AUTH] = "auth",
	[K_PSK] = "psk",
	[K_PSK_FILE] = "psk_file",
	[K_CERT] = "cert",
	[K_KEY] = "key",
	[K_CA] = "ca",
	[K_EAP_IDENTITY] = "eap_identity",
	[K_EAP_PASSWORD] = "eap_password",
	[K_EAP_PASSWORD_FILE] = "eap_password_file",
	[K_IKE] = "ike",
	[K_ESP] = "esp",
	[K_ROUTES] = "routes",
	[K_TRANSPORT] = "transport",
	[K_MOBIKE] = "mobike",
	[K_FULL_TUNNEL] = "full_tunnel",
	[K_KILLSWITCH] = "killswitch",
	[K_ALLOW_LAN] = "allow_lan",
	[K_AUTOCONNECT] = "autoconnect",
	[K_IKE_REKEY] = "ike_rekey",
	[K_ESP_REKEY] = "esp_rekey",
	[K_DPD] = "dpd",
};

/* Which auth methods use a key; keys not listed here are used by all. */
#define USED_BY(psk, pubkey, eap) ((psk) << VPN_AUTH_PSK | (pubkey) << VPN_AUTH_PUBKEY | \
				   (eap) << VPN_AUTH_EAP_MSCHAPV2)
static unsigned key_used_by(enum key_id k)
{
	switch (k) {
	case K_PSK:
	case K_PSK_FILE: return USED_BY(1, 0, 0);
	case K_CERT:
	case K_KEY: return USED_BY(0, 1, 0);
	case K_CA: return USED_BY(0, 1, 1);
	case K_EAP_IDENTITY:
	case K_EAP_PASSWORD:
	case K_EAP_PASSWORD_FILE: return USED_BY(0, 0, 1);
	default: return USED_BY(1, 1, 1);
	}
}

static const char *const auth_names[] = {
	[VPN_AUTH_PSK] = "psk",
	[VPN_AUTH_PUBKEY] = "pubkey",
	[VPN_AUTH_EAP_MSCHAPV2] = "eap-mschapv2",
};

static vpn_proposal_check_fn proposal_check;

struct parse_ctx {
	const char *path;      /* for messages */
	char dir[PATH_MAX];    /* base of relative paths */
	const char *buf;       /* the file, in memory */
	size_t len, pos;
	int lineno;            /* lines handed to inih so far (= inih's count) */
	size_t line_start, line_end; /* the raw line inih is looking at */
	int connection_line;   /* first [connection] header, 0 if none */
	int err_line;          /* first error; 0: none yet */
	char err[VPN_PROFILE_ERR_MAX];
	int line_of[K_COUNT];  /* where each key was set; 0: absent */
	char *raw[K_COUNT];    /* values as written */
	struct vpn_profile *p;
};

void vpn_profile_set_proposal_check(vpn_proposal_check_fn fn)
{
	proposal_check = fn;
}

const char *vpn_auth_name(enum vpn_auth auth)
{
	return (size_t)auth < sizeof(auth_names) / sizeof(auth_names[0]) ?
		auth_names[auth] : "?";
}

static void wipe(void *p, size_t n)
{
	if (p)
		explicit_bzero(p, n);
}

static void wipe_str_free(char *s)
{
	if (s) {
		wipe(s, strlen(s));
		free(s);
	}
}

/* Messages are cut to fit their buffer: a long path must not lose the
 * whole line, and a cut message is still the right one. */
static void msg(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void msg(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!dst || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

/* Record the first error only: it is the one the user fixes first, and
 * later ones are often its consequences. Returns 0 for inih's handler. */
static int fail(struct parse_ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parse_ctx *c, int line, const char *fmt, ...)
{
	char reason[VPN_PROFILE_ERR_MAX];
	va_list ap;

	if (c->err_line)
		return 0;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	c->err_line = line > 0 ? line : 1;
	msg(c->err, sizeof(c->err), "%s:%d: %s", c->path, c->err_line, reason);
	return 0;
}

static void warn(struct parse_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn(struct parse_ctx *c, const char *fmt, ...)
{
	struct vpn_profile *p = c->p;
	va_list ap;

	if (p->n_warnings >= VPN_PROFILE_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(p->warnings[p->n_warnings], VPN_PROFILE_ERR_MAX, fmt, ap);
	va_end(ap);
	vlog_warn(MOD, "%s", p->warnings[p->n_warnings]);
	p->n_warnings++;
}

/* A value shown in a message: cleaned and short, never a secret. */
static const char *shown(const char *s, char *buf, size_t cap)
{
	ctl_text_clean(buf, cap, s);
	return buf;
}

/* fgets-like reader over the in-memory file (see the top comment). */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	const char *nl, *s, *e;
	size_t n;

	if (c->pos >= c->len || num < 3)
		return NULL;
	s = c->buf + c->pos;
	nl = memchr(s, '\n', c->len - c->pos);
	e = nl ? nl : c->buf + c->len;
	c->pos = (size_t)(e - c->buf) + (nl ? 1 : 0);
	c->lineno++;
	/* A UTF-8 byte order mark is dropped here, so the header check below
	 * sees the line as written. */
	if (c->lineno == 1 && e - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	c->line_start = (size_t)(s - c->buf);
	c->line_end = (size_t)(e - c->buf);
	n = (size_t)(e - s);
	if (n + 2 > (size_t)num) {
		fail(c, c->lineno, "line longer than %d characters", num - 2);
		n = 0; /* inih sees an empty line and stays in step */
	}
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	if (c->connection_line == 0 && n >= 12 && memcmp(s, "[connection]", 12) == 0)
		c->connection_line = c->lineno;
	return str;
}

static int key_lookup(const char *name)
{
	for (int k = 0; k < K_COUNT; k++) {
		if (strcmp(name, key_names[k]) == 0)
			return k;
	}
	return -1;
}

/* inih drops "<space>;..." as a comment; in a secret that would silently
 * change the secret, so refuse it instead. */
static bool raw_line_has_inline_comment(const struct parse_ctx *c)
{
	const char *s = c->buf + c->line_start, *e = c->buf + c->line_end;
	const char *eq = s;

	while (eq < e && *eq != '=' && *eq != ':')
		eq++;
	for (const char *q = eq + 1; q < e; q++) {
		if (*q == ';' && (q[-1] == ' ' || q[-1] == '\t'))
			return true;
	}
	return false;
}

static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct parse_ctx *c = user;
	char b1[64];
	int k;

	if (c->err_line)
		return 1; /* only the first error is reported */
	if (section[0] == '\0')
		return fail(c, c->lineno, "key '%s' outside [connection]",
			    shown(name, b1, sizeof(b1)));
	if (strcmp(section, "connection") != 0)
		return fail(c, c->lineno,
			    "unknown section [%s] (a profile has one [connection] section)",
			    shown(section, b1, sizeof(b1)));
	k = key_lookup(name);
	if (k < 0)
		return fail(c, c->lineno, "unknown key '%s'", shown(name, b1, sizeof(b1)));
	if (c->line_of[k])
		return fail(c, c->lineno, "duplicate key '%s' (first set on line %d)",
			    name, c->line_of[k]);
	if (value[0] == '\0')
		return fail(c, c->lineno, "empty value for '%s'", name);
	if ((k == K_PSK || k == K_EAP_PASSWORD) && raw_line_has_inline_comment(c))
		return fail(c, c->lineno,
			    "'%s' contains ' ;', which starts a comment: put the secret in %s_file",
			    name, name);
	c->raw[k] = strdup(value);
	if (!c->raw[k])
		return fail(c, c->lineno, "out of memory");
	c->line_of[k] = c->lineno;
	return 1;
}

static bool has_ctl_chars(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static bool valid_hostname(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253 + (size_t)(s[len - 1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (label == 0 && ch == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return s[len - 1] != '-';
}

static int take_str(struct parse_ctx *c, int line, char **dst, const char *v)
{
	*dst = strdup(v);
	if (!*dst) {
		fail(c, line, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int check_gateway(struct parse_ctx *c, const char *v, int line)
{
	unsigned char a[16];
	char b[80];

	if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1 &&
	    !valid_hostname(v)) {
		fail(c, line, "gateway '%s' is neither an IP address nor a host name",
		     shown(v, b, sizeof(b)));
		return -EINVAL;
	}
	return take_str(c, line, &c->p->gateway, v);
}

/* Identities and the EAP user name: any printable text IKE can carry. */
static int check_text(struct parse_ctx *c, enum key_id k, const char *v, int line,
		      char **dst)
{
	if (strlen(v) > 255) {
		fail(c, line, "'%s' is longer than 255 bytes", key_names[k]);
		return -EINVAL;
	}
	if (has_ctl_chars(v)) {
		fail(c, line, "'%s' contains control characters", key_names[k]);
		return -EINVAL;
	}
	return take_str(c, line, dst, v);
}

static int check_enum(struct parse_ctx *c, enum key_id k, const char *v, int line,
		      const char *const *names, size_t n, int *out)
{
	char b[40];

	for (size_t i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	if (n == 2)
		fail(c, line, "'%s' must be %s or %s, not '%s'", key_names[k], names[0],
		     names[1], shown(v, b, sizeof(b)));
	else
		fail(c, line, "'%s' must be one of %s, %s, %s, not '%s'", key_names[k],
		     names[0], names[1], names[2], shown(v, b, sizeof(b)));
	return -EINVAL;
}

static int check_bool(struct parse_ctx *c, enum key_id k, const char *v, int line,
		      bool *out)
{
	static const char *const yes_no[] = { "yes", "no" };
	int i = 0, rc;

	rc = check_enum(c, k, v, line, yes_no, 2, &i);
	*out = i == 0;
	return rc;
}

/* A duration: a number with an optional unit s, m or h ("90", "45m", "3h").
 * 0 turns the timer off; otherwise at least `min` seconds, at most a day. */
static int check_duration(struct parse_ctx *c, enum key_id k, const char *v, int line,
			  uint32_t min, uint32_t *out)
{
	unsigned long n = 0, mult = 1;
	const char *s = v;

	if (!*s)
		goto bad;
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (unsigned long)(*s++ - '0');
		if (n > 86400ul * 1000)
			goto bad;
	}
	if (s == v)
		goto bad;
	if (*s == 's' || *s == 'm' || *s == 'h') {
		mult = *s == 's' ? 1 : *s == 'm' ? 60 : 3600;
		s++;
	}
	if (*s)
		goto bad;
	n *= mult;
	if (n != 0 && (n < min || n > 86400)) {
		fail(c, line, "'%s' must be 0 or between %us and 24h", key_names[k], min);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
bad:
	fail(c, line, "'%s' is not a duration (like 90s, 45m, 3h): '%s'", key_names[k], v);
	return -EINVAL;
}

static int resolve_path(struct parse_ctx *c, enum key_id k, const char *v, int line,
			char **out)
{
	char buf[PATH_MAX];
	int n;

	if (v[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", v);
	else
		n = snprintf(buf, sizeof(buf), "%s/%s", c->dir, v);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		fail(c, line, "'%s' path is too long", key_names[k]);
		return -ENAMETOOLONG;
	}
	return take_str(c, line, out, buf);
}

/* "Readable by others than root": another owner can read it, and so can a
 * group or everyone when those bits are set. */
static void check_secret_mode(struct parse_ctx *c, const char *path,
			      const struct stat *st)
{
	if (st->st_uid == 0 && !(st->st_mode & (S_IRGRP | S_IROTH)))
		return;
	warn(c, "%s holds a secret and is readable by others than root "
		"(owner uid %u, mode %04o): chown root and chmod 600 it",
	     path, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
}

/* cert, key, ca: the crypto layer reads them later; check now that it can. */
static int check_file(struct parse_ctx *c, enum key_id k, const char *v, int line,
		      char **out, bool secret)
{
	struct stat st;
	int rc = resolve_path(c, k, v, line, out);

	if (rc)
		return rc;
	if (stat(*out, &st) != 0) {
		rc = -errno;
		fail(c, line, "%s %s: %s", key_names[k], *out, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(c, line, "%s %s is not a regular file", key_names[k], *out);
		return -EINVAL;
	}
	if (access(*out, R_OK) != 0) {
		rc = -errno;
		fail(c, line, "%s %s: %s", key_names[k], *out, strerror(-rc));
		return rc;
	}
	if (secret)
		check_secret_mode(c, *out, &st);
	return 0;
}

static int read_fd_all(int fd, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap)
			break;
	}
	*len = n;
	return 0;
}

/* Open a file that must be a regular file; O_NONBLOCK so a FIFO planted
 * under the expected name cannot hang the daemon. */
static int open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* psk_file, eap_password_file: one line, surrounding whitespace trimmed. */
static int read_secret_file(struct parse_ctx *c, enum key_id k, const char *v,
			    int line, char **out, size_t *out_len)
{
	char buf[VPN_PROFILE_MAX_SECRET + 256];
	char *path = NULL, *s, *e;
	struct stat st;
	size_t n = 0;
	int fd, rc;

	rc = resolve_path(c, k, v, line, &path);
	if (rc)
		return rc;
	fd = open_regular(path, &st);
	if (fd < 0) {
		rc = fd;
		fail(c, line, "%s %s: %s", key_names[k], path,
		     rc == -EINVAL ? "not a regular file" : strerror(-rc));
		goto out;
	}
	rc = read_fd_all(fd, buf, sizeof(buf), &n);
	close(fd);
	if (rc) {
		fail(c, line, "%s %s: %s", key_names[k], path, strerror(-rc));
		goto out;
	}
	s = buf;
	e = buf + n;
	while (s < e && is_space(*s))
		s++;
	while (e > s && is_space(e[-1]))
		e--;
	rc = -EINVAL;
	if (n == sizeof(buf) || (size_t)(e - s) > VPN_PROFILE_MAX_SECRET)
		fail(c, line, "%s %s holds more than %d bytes", key_names[k], path,
		     VPN_PROFILE_MAX_SECRET);
	else if (e == s)
		fail(c, line, "%s %s is empty", key_names[k], path);
	else if (memchr(s, '\n', (size_t)(e - s)) || memchr(s, '\r', (size_t)(e - s)) ||
		 memchr(s, '\0', (size_t)(e - s)))
		fail(c, line, "%s %s must hold the secret on one line", key_names[k],
		     path);
	else
		rc = 0;
	if (rc == 0) {
		*out = malloc((size_t)(e - s) + 1);
		if (!*out) {
			rc = -ENOMEM;
			fail(c, line, "out of memory");
		} else {
			memcpy(*out, s, (size_t)(e - s));
			(*out)[e - s] = '\0';
			*out_len = (size_t)(e - s);
			check_secret_mode(c, path, &st);
		}
	}
out:
	wipe(buf, sizeof(buf));
	free(path);
	return rc;
}

static int take_inline_secret(struct parse_ctx *c, enum key_id k, const char *v,
			      int line, char **out, size_t *out_len)
{
	size_t n = strlen(v);

	if (n > VPN_PROFILE_MAX_SECRET) {
		fail(c, line, "'%s' is longer than %d bytes", key_names[k],
		     VPN_PROFILE_MAX_SECRET);
		return -EINVAL;
	}
	*out_len = n;
	return take_str(c, line, out, v);
}

/* strongSwan proposal syntax is algorithms joined by '-', proposals by ','
 * and a trailing '!' for strict; the meaning is for the proposal parser. */
static int check_proposals(struct parse_ctx *c, enum key_id k, const char *v,
			   int line, char **out)
{
	char why[VPN_PROFILE_ERR_MAX] = "";

	if (strlen(v) > 512) {
		fail(c, line, "'%s' is longer than 512 characters", key_names[k]);
		return -EINVAL;
	}
	for (const char *q = v; *q; q++) {
		char ch = *q;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == ',' || ch == '_' ||
		      ch == '!')) {
			fail(c, line, "'%s' may only hold algorithm names joined by '-' "
				      "and ',' (found '%c')", key_names[k],
			     (ch >= 0x20 && ch < 0x7f) ? ch : '?');
			return -EINVAL;
		}
	}
	if (proposal_check && proposal_check(v, k == K_ESP, why, sizeof(why)) < 0) {
		fail(c, line, "%s: %s", key_names[k], why[0] ? why : "invalid proposal");
		return -EINVAL;
	}
	return take_str(c, line, out, v);
}

/* Byte i of the netmask of a /plen prefix. */
static uint8_t mask_byte(size_t i, unsigned long plen)
{
	size_t bit = i * 8;

	if (bit >= plen)
		return 0;
	return plen - bit >= 8 ? 0xff : (uint8_t)(0xff << (8 - (plen - bit)));
}

static int parse_route(const char *tok, struct vpn_route *r, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1], net[INET6_ADDRSTRLEN];
	const char *slash = strchr(tok, '/');
	uint8_t masked[16];
	unsigned long plen;
	size_t alen, bytes;
	bool host_bits = false;
	char *end;

	memset(r, 0, sizeof(*r));
	alen = slash ? (size_t)(slash - tok) : 0;
	if (!slash || alen == 0 || alen >= sizeof(addr)) {
		snprintf(why, whylen, "route '%.60s' is not in CIDR form (like 10.0.0.0/8)", tok);
		return -EINVAL;
	}
	memcpy(addr, tok, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, r->addr) == 1) {
		r->family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, r->addr) == 1) {
		r->family = AF_INET6;
	} else {
		snprintf(why, whylen, "route '%.60s': '%s' is not an IP address", tok, addr);
		return -EINVAL;
	}
	bytes = r->family == AF_INET ? 4 : 16;
	errno = 0;
	plen = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno ||
	    plen > bytes * 8) {
		snprintf(why, whylen, "route '%.60s': prefix length must be 0-%zu", tok,
			 bytes * 8);
		return -EINVAL;
	}
	r->prefix_len = (uint8_t)plen;
	for (size_t i = 0; i < bytes; i++) {
		masked[i] = r->addr[i] & mask_byte(i, plen);
		host_bits = host_bits || masked[i] != r->addr[i];
	}
	/* Most likely a typo for the network: name it instead of guessing. */
	if (host_bits) {
		inet_ntop(r->family, masked, net, sizeof(net));
		snprintf(why, whylen, "route '%.60s' has host bits set (the network is %s/%lu)",
			 tok, net, plen);
		return -EINVAL;
	}
	return 0;
}

static int check_routes(struct parse_ctx *c, const char *v, int line)
{
	char why[VPN_PROFILE_ERR_MAX], *copy, *tok, *save = NULL;
	struct vpn_profile *p = c->p;
	int rc = 0;

	copy = strdup(v);
	p->routes = calloc(VPN_PROFILE_MAX_ROUTES, sizeof(*p->routes));
	if (!copy || !p->routes) {
		free(copy);
		fail(c, line, "out of memory");
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (p->n_routes == VPN_PROFILE_MAX_ROUTES) {
			fail(c, line, "more than %d routes", VPN_PROFILE_MAX_ROUTES);
			rc = -EINVAL;
			break;
		}
		rc = parse_route(tok, &p->routes[p->n_routes], why, sizeof(why));
		if (rc) {
			fail(c, line, "%s", why);
			break;
		}
		p->n_routes++;
	}
	if (!rc && p->n_routes == 0) {
		fail(c, line, "'routes' lists no route");
		rc = -EINVAL;
	}
	free(copy);
	return rc;
}

static int apply_key(struct parse_ctx *c, enum key_id k, const char *v, int line)
{
	static const char *const transports[] = {
		[VPN_TRANSPORT_AUTO] = "auto",
		[VPN_TRANSPORT_UDP] = "udp",
		[VPN_TRANSPORT_TCP] = "tcp",
	};
	struct vpn_profile *p = c->p;
	size_t ignored;
	int t = 0, rc;

	switch (k) {
	case K_GATEWAY: return check_gateway(c, v, line);
	case K_REMOTE_ID: return check_text(c, k, v, line, &p->remote_id);
	case K_LOCAL_ID: return check_text(c, k, v, line, &p->local_id);
	case K_AUTH: return 0; /* parsed first, see build() */
	case K_PSK: return take_inline_secret(c, k, v, line, (char **)&p->psk, &p->psk_len);
	case K_PSK_FILE: return read_secret_file(c, k, v, line, (char **)&p->psk, &p->psk_len);
	case K_CERT: return check_file(c, k, v, line, &p->cert, false);
	case K_KEY: return check_file(c, k, v, line, &p->key, true);
	case K_CA: return check_file(c, k, v, line, &p->ca, false);
	case K_EAP_IDENTITY: return check_text(c, k, v, line, &p->eap_identity);
	case K_EAP_PASSWORD:
		return take_inline_secret(c, k, v, line, &p->eap_password, &ignored);
	case K_EAP_PASSWORD_FILE:
		return read_secret_file(c, k, v, line, &p->eap_password, &ignored);
	case K_IKE: return check_proposals(c, k, v, line, &p->ike);
	case K_ESP: return check_proposals(c, k, v, line, &p->esp);
	case K_ROUTES: return check_routes(c, v, line);
	case K_TRANSPORT:
		rc = check_enum(c, k, v, line, transports, 3, &t);
		p->transport = (enum vpn_transport_pref)t;
		return rc;
	case K_MOBIKE: return check_bool(c, k, v, line, &p->mobike);
	case K_FULL_TUNNEL: return check_bool(c, k, v, line, &p->full_tunnel);
	case K_KILLSWITCH: return check_bool(c, k, v, line, &p->killswitch);
	case K_ALLOW_LAN: return check_bool(c, k, v, line, &p->allow_lan);
	case K_AUTOCONNECT: return check_bool(c, k, v, line, &p->autoconnect);
	case K_IKE_REKEY: return check_duration(c, k, v, line, 10, &p->ike_rekey_s);
	case K_ESP_REKEY: return check_duration(c, k, v, line, 10, &p->esp_rekey_s);
	case K_DPD: return check_duration(c, k, v, line, 5, &p->dpd_s);
	case K_COUNT: break;
	}
	return -EINVAL;
}

/* Keys one auth method needs: one of each group must be present. */
static int check_required(struct parse_ctx *c)
{
	const int *at = c->line_of;
	int line = c->connection_line;
	const char *an = auth_names[c->p->auth];

	if (!at[K_GATEWAY])
		return fail(c, line, "missing 'gateway'");
	switch (c->p->auth) {
	case VPN_AUTH_PSK:
		if (!at[K_PSK] && !at[K_PSK_FILE])
			return fail(c, at[K_AUTH], "auth = psk needs 'psk' or 'psk_file'");
		break;
	case VPN_AUTH_PUBKEY:
		if (!at[K_CERT] || !at[K_KEY] || !at[K_CA])
			return fail(c, at[K_AUTH], "auth = %s needs 'cert', 'key' and 'ca'", an);
		break;
	case VPN_AUTH_EAP_MSCHAPV2:
		if (!at[K_EAP_IDENTITY] || !at[K_CA])
			return fail(c, at[K_AUTH], "auth = %s needs 'eap_identity' and 'ca'", an);
		if (!at[K_EAP_PASSWORD] && !at[K_EAP_PASSWORD_FILE])
			return fail(c, at[K_AUTH],
				    "auth = %s needs 'eap_password' or 'eap_password_file'", an);
		break;
	}
	if (at[K_ROUTES] && c->p->full_tunnel)
		return fail(c, at[K_ROUTES] > at[K_FULL_TUNNEL] ? at[K_ROUTES] : at[K_FULL_TUNNEL],
			    "'routes' and 'full_tunnel = yes' contradict each other: keep one");
	return 1;
}

/* Two ways to give one secret: refused before either is read, so the
 * second can never overwrite (and leak) the first. */
static int check_one_of(struct parse_ctx *c, enum key_id a, enum key_id b)
{
	int la = c->line_of[a], lb = c->line_of[b];

	if (!la || !lb || !(key_used_by(a) & (1u << c->p->auth)))
		return 0;
	fail(c, la > lb ? la : lb, "'%s' and '%s' are both set: keep one", key_names[a],
	     key_names[b]);
	return -EINVAL;
}

/* Check and convert every value, in file order so the first problem in the
 * file is the one reported. */
static int build(struct parse_ctx *c)
{
	int order[K_COUNT], n = 0, t = 0;

	if (!c->connection_line && !c->err_line)
		return fail(c, 1, "no [connection] section");
	if (!c->line_of[K_AUTH])
		return fail(c, c->connection_line,
			    "missing 'auth' (psk, pubkey or eap-mschapv2)");
	if (check_enum(c, K_AUTH, c->raw[K_AUTH], c->line_of[K_AUTH], auth_names, 3, &t))
		return 0;
	c->p->auth = (enum vpn_auth)t;
	if (check_one_of(c, K_PSK, K_PSK_FILE) ||
	    check_one_of(c, K_EAP_PASSWORD, K_EAP_PASSWORD_FILE))
		return 0;
	for (int k = 0; k < K_COUNT; k++) {
		if (c->line_of[k])
			order[n++] = k;
	}
	for (int i = 1; i < n; i++) {
		for (int j = i; j > 0 && c->line_of[order[j]] < c->line_of[order[j - 1]]; j--) {
			int tmp = order[j];

			order[j] = order[j - 1];
			order[j - 1] = tmp;
		}
	}
	for (int i = 0; i < n; i++) {
		enum key_id k = (enum key_id)order[i];

		if (!(key_used_by(k) & (1u << c->p->auth)))
			return fail(c, c->line_of[k], "'%s' is not used with auth = %s",
				    key_names[k], auth_names[c->p->auth]);
		if (apply_key(c, k, c->raw[k], c->line_of[k]))
			return 0;
	}
	return check_required(c);
}

/* inih's own complaints (no '=' on a line, no ']'): say which. */
static void syntax_error(struct parse_ctx *c, int line)
{
	const char *s = c->buf, *e = c->buf + c->len;

	for (int l = 1; l < line && s < e; l++) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));

		s = nl ? nl + 1 : e;
	}
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	c->err_line = 0;
	if (s < e && *s == '[')
		fail(c, line, "section header without closing ']'");
	else
		fail(c, line, "expected 'key = value', '[section]' or a comment");
}

static int read_profile_file(struct parse_ctx *c, char **buf, size_t *len,
			     struct stat *st)
{
	int fd = open_regular(c->path, st), rc;

	if (fd < 0) {
		msg(c->err, sizeof(c->err), "%s: %s", c->path,
			 fd == -EINVAL ? "not a regular file" : strerror(-fd));
		return fd;
	}
	if (st->st_size > VPN_PROFILE_MAX_FILE) {
		close(fd);
		msg(c->err, sizeof(c->err), "%s: larger than %d bytes", c->path,
			 VPN_PROFILE_MAX_FILE);
		return -EFBIG;
	}
	*buf = malloc(VPN_PROFILE_MAX_FILE + 1);
	if (!*buf) {
		close(fd);
		msg(c->err, sizeof(c->err), "%s: out of memory", c->path);
		return -ENOMEM;
	}
	rc = read_fd_all(fd, *buf, VPN_PROFILE_MAX_FILE + 1, len);
	close(fd);
	if (rc || *len > VPN_PROFILE_MAX_FILE) {
		msg(c->err, sizeof(c->err), "%s: %s", c->path,
			 rc ? strerror(-rc) : "grew while being read");
		return rc ? rc : -EFBIG;
	}
	if (memchr(*buf, '\0', *len)) {
		msg(c->err, sizeof(c->err), "%s: contains a NUL byte (not a text file)",
			 c->path);
		return -EINVAL;
	}
	return 0;
}

static void set_dir(struct parse_ctx *c, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(c->dir, sizeof(c->dir), ".");
	else if (slash == path)
		snprintf(c->dir, sizeof(c->dir), "/");
	else
		snprintf(c->dir, sizeof(c->dir), "%.*s", (int)(slash - path), path);
}

static int parse(struct parse_ctx *c)
{
	int ret = ini_parse_stream(read_line, c, on_key, c);

	if (ret == -2) {
		fail(c, c->lineno, "out of memory");
		return -ENOMEM;
	}
	if (ret > 0 && (c->err_line == 0 || ret < c->err_line))
		syntax_error(c, ret);
	if (!c->err_line)
		build(c);
	return c->err_line ? -EINVAL : 0;
}

int vpn_profile_load(const char *path, const char *name, struct vpn_profile **out,
		     char *err, size_t errlen)
{
	struct parse_ctx c;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.path = path;
	set_dir(&c, path);
	if (!ctl_name_valid(name)) {
		msg(c.err, sizeof(c.err),
			 "%s: invalid profile name (1-%d of A-Z a-z 0-9 . _ -, not starting with . or -)",
			 path, CTL_NAME_MAX);
		rc = -EINVAL;
		goto out;
	}
	rc = read_profile_file(&c, &buf, &len, &st);
	if (rc)
		goto out;
	c.buf = buf;
	c.len = len;
	c.p = calloc(1, sizeof(*c.p));
	if (!c.p) {
		rc = -ENOMEM;
		msg(c.err, sizeof(c.err), "%s: out of memory", path);
		goto out;
	}
	snprintf(c.p->name, sizeof(c.p->name), "%s", name);
	c.p->transport = VPN_TRANSPORT_AUTO;
	c.p->mobike = true;
	c.p->ike_rekey_s = c.p->esp_rekey_s = c.p->dpd_s = VPN_PROFILE_UNSET;
	rc = parse(&c);
	if (!rc && (c.line_of[K_PSK] || c.line_of[K_EAP_PASSWORD]))
		check_secret_mode(&c, path, &st);
	if (!rc && !(c.p->path = strdup(path))) {
		rc = -ENOMEM;
		msg(c.err, sizeof(c.err), "%s: out of memory", path);
	}
out:
	for (int k = 0; k < K_COUNT; k++)
		wipe_str_free(c.raw[k]);
	if (buf) {
		wipe(buf, len);
		free(buf);
	}
	if (rc) {
		vlog_err(MOD, "%s", c.err);
		if (err && errlen)
			msg(err, errlen, "%s", c.err);
		vpn_profile_free(c.p);
		return rc;
	}
	*out = c.p;
	return 0;
}

int vpn_profile_load_named(const char *dir, const char *name,
			   struct vpn_profile **out, char *err, size_t errlen)
{
	char path[PATH_MAX], b[CTL_NAME_MAX + 8];
	struct stat st;
	int n;

	*out = NULL;
	if (!ctl_name_valid(name)) {
		msg(err, errlen, "invalid profile name '%s'", shown(name, b, sizeof(b)));
		return -EINVAL;
	}
	n = snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		msg(err, errlen, "%s/%s.conf: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) != 0 && errno == ENOENT) {
		msg(err, errlen, "no profile '%s' in %s", name, dir);
		return -ENOENT;
	}
	return vpn_profile_load(path, name, out, err, errlen);
}

void vpn_profile_free(struct vpn_profile *p)
{
	if (!p)
		return;
	if (p->psk) {
		wipe(p->psk, p->psk_len);
		free(p->psk);
	}
	wipe_str_free(p->eap_password);
	free(p->path);
	free(p->gateway);
	free(p->remote_id);
	free(p->local_id);
	free(p->cert);
	free(p->key);
	free(p->ca);
	free(p->eap_identity);
	free(p->ike);
	free(p->esp);
	free(p->routes);
	free(p);
}

static int add_set_error(struct vpn_profile_set *set, const char *text)
{
	char (*e)[VPN_PROFILE_ERR_MAX];

	e = realloc(set->errors, (set->n_errors + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	set->errors = e;
	msg(set->errors[set->n_errors++], VPN_PROFILE_ERR_MAX, "%s", text);
	return 0;
}

static int cmp_profile(const void *a, const void *b)
{
	const struct vpn_profile *const *pa = a, *const *pb = b;

	return strcmp((*pa)->name, (*pb)->name);
}

/* NAME from "NAME.conf"; false for files that are not profiles at all. */
static bool profile_stem(const char *file, char *name, size_t cap)
{
	size_t n = strlen(file);

	if (n <= 5 || strcmp(file + n - 5, ".conf") != 0 || file[0] == '.')
		return false;
	snprintf(name, cap, "%.*s", (int)(n - 5), file);
	return true;
}

static int load_dir_entry(const char *dir, const char *file,
			  struct vpn_profile_set *set, size_t *cap)
{
	char name[PATH_MAX], path[PATH_MAX], err[VPN_PROFILE_ERR_MAX];
	struct vpn_profile *p;
	int n;

	if (!profile_stem(file, name, sizeof(name)))
		return 0;
	n = snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof(path))
		return add_set_error(set, "profile path too long");
	if (!ctl_name_valid(name)) {
		msg(err, sizeof(err),
			 "%.400s: invalid profile name (1-%d of A-Z a-z 0-9 . _ -, not starting with . or -)",
			 path, CTL_NAME_MAX);
		vlog_err(MOD, "%s", err);
		return add_set_error(set, err);
	}
	if (set->n == VPN_PROFILE_MAX_PROFILES) {
		msg(err, sizeof(err), "%.400s: more than %d profiles, ignored", path,
			 VPN_PROFILE_MAX_PROFILES);
		vlog_err(MOD, "%s", err);
		return add_set_error(set, err);
	}
	if (vpn_profile_load(path, name, &p, err, sizeof(err)))
		return add_set_error(set, err);
	if (set->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct vpn_profile **items = realloc(set->items, ncap * sizeof(*items));

		if (!items) {
			vpn_profile_free(p);
			return -ENOMEM;
		}
		set->items = items;
		*cap = ncap;
	}
	set->items[set->n++] = p;
	return 0;
}

int vpn_profile_load_dir(const char *dir, struct vpn_profile_set *set, char *err,
			 size_t errlen)
{
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int rc = 0;

	memset(set, 0, sizeof(*set));
	d = opendir(dir);
	if (!d) {
		rc = -errno;
		msg(err, errlen, "%s: %s", dir, strerror(-rc));
		vlog_err(MOD, "profiles directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	while (!rc && (errno = 0, de = readdir(d)) != NULL)
		rc = load_dir_entry(dir, de->d_name, set, &cap);
	if (!rc && errno)
		rc = -errno;
	closedir(d);
	if (rc) {
		msg(err, errlen, "%s: %s", dir, strerror(-rc));
		vpn_profile_set_free(set);
		return rc;
	}
	if (set->n)
		qsort(set->items, set->n, sizeof(*set->items), cmp_profile);
	return 0;
}

const struct vpn_profile *vpn_profile_set_find(const struct vpn_profile_set *set,
					       const char *name)
{
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->items[i]->name, name) == 0)
			return set->items[i];
	}
	return NULL;
}

void vpn_profile_set_free(struct vpn_profile_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		vpn_profile_free(set->items[i]);
	free(set->items);
	free(set->errors);
	memset(set, 0, sizeof(*set));
}
