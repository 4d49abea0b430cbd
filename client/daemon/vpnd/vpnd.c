/* vpnd's connections and the control socket's operations on them.
 *
 * One connection per profile that was brought up. It keeps its session and
 * the credentials the session borrows; `up` waits on it until the tunnel is
 * up or failed, `down` until it is down. A profile is read again at every
 * `up`, so edits take effect on the next connect. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/daemon/vpnd/vpnd.h"
#include "client/util/log.h"
#include "platform/resolved.h"

#define VPND_LOG "vpnd"
#define MAX_DOWN_WAITERS 8
#define SHUTDOWN_BOUND_MS 3000

struct conn {
	bool used;
	unsigned idx; /* routing table and rule priority derive from it */
	char name[CTL_NAME_MAX + 1];
	struct vpnd *d;
	struct sess *sess;
	struct vpnd_creds creds;
	struct ctl_call *up_call;
	struct ctl_call *down_calls[MAX_DOWN_WAITERS];
	unsigned n_down;
	uint16_t ke_group; /* the gateway's INVALID_KE_PAYLOAD choice, kept across ups */
};

struct vpnd {
	uv_loop_t *loop;
	struct vpnd_paths paths;
	struct ctl_server *ctl;
	struct plat_resolved *resolved; /* NULL without a system bus */
	struct plat_watch *watch;       /* uplinks, for the kill switch's LANs */
	struct conn conns[VPND_MAX_CONNS];
	uv_timer_t shutdown_timer;
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
	bool shutting_down;
};

/* ---- mapping session facts to the control protocol -------------------------------- */

static enum ctl_err err_of(enum ike_fail f)
{
	switch (f) {
	case IKE_FAIL_AUTH_REFUSED:
	case IKE_FAIL_PEER_AUTH:
	case IKE_FAIL_EAP:
		return CTL_ERR_AUTH_FAILED;
	case IKE_FAIL_CERT_UNTRUSTED: return CTL_ERR_CERT_UNTRUSTED;
	case IKE_FAIL_ID_MISMATCH: return CTL_ERR_ID_MISMATCH;
	case IKE_FAIL_NO_PROPOSAL: return CTL_ERR_NO_PROPOSAL;
	case IKE_FAIL_TS_UNACCEPTABLE: return CTL_ERR_TS_UNACCEPTABLE;
	case IKE_FAIL_UNREACHABLE:
	case IKE_FAIL_DEAD_PEER:
	case IKE_FAIL_DELETED:
		return CTL_ERR_UNREACHABLE;
	case IKE_FAIL_LOCAL: return CTL_ERR_SYSTEM;
	case IKE_FAIL_CLOSED_BY_USER: return CTL_ERR_CANCELLED;
	case IKE_FAIL_NO_ADDRESS:
	case IKE_FAIL_PROTOCOL:
	default:
		return CTL_ERR_PROTOCOL;
	}
}

static enum ctl_state ctl_state_of(enum sess_state s)
{
	switch (s) {
	case SESS_RESOLVING:
	case SESS_CONNECTING:
	case SESS_CONFIGURING:
		return CTL_STATE_CONNECTING;
	case SESS_CONNECTED:
		return CTL_STATE_CONNECTED;
	case SESS_RECONNECTING:
		return CTL_STATE_RECONNECTING;
	default:
		return CTL_STATE_DISCONNECTED;
	}
}

static enum ctl_step step_of(enum sess_step s)
{
	switch (s) {
	case SESS_STEP_RESOLVING: return CTL_STEP_RESOLVING;
	case SESS_STEP_IKE_SA_INIT: return CTL_STEP_IKE_SA_INIT;
	case SESS_STEP_AUTHENTICATING: return CTL_STEP_AUTHENTICATING;
	case SESS_STEP_CONFIGURING: return CTL_STEP_CONFIGURING;
	}
	return CTL_STEP_CONNECTING;
}

static void addrport(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "";

	out[0] = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(out, cap, "%s:%u", a, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(out, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
	}
}

static void fill_status(const struct conn *c, const char *name, struct ctl_status *o)
{
	struct sess_status st;
	unsigned i;

	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->state = CTL_STATE_DISCONNECTED;
	if (!c || !c->sess)
		return;
	sess_status(c->sess, &st);
	o->state = ctl_state_of(st.state);
	ctl_text_clean(o->gateway, sizeof(o->gateway), st.gateway);
	if (st.state >= SESS_CONNECTING && st.state <= SESS_DISCONNECTING) {
		o->transport = CTL_TRANSPORT_UDP;
		addrport(&st.local, o->local, sizeof(o->local));
		addrport(&st.remote, o->remote, sizeof(o->remote));
	}
	if (st.state == SESS_CONNECTED) {
		snprintf(o->interface, sizeof(o->interface), "%s", st.interface);
		o->nat = st.nat;
		o->mobike = st.mobike;
		if (st.have_vip4)
			inet_ntop(AF_INET, st.vip4, o->virtual_ip, sizeof(o->virtual_ip));
		else if (st.have_vip6)
			inet_ntop(AF_INET6, st.vip6, o->virtual_ip, sizeof(o->virtual_ip));
		for (i = 0; i < st.n_dns && o->n_dns < CTL_DNS_MAX; i++)
			plat_ip_str(&st.dns[i], o->dns[o->n_dns++], CTL_ADDR_MAX);
		snprintf(o->ike, sizeof(o->ike), "%s", st.ike_alg);
		snprintf(o->esp, sizeof(o->esp), "%s", st.esp_alg);
	}
	o->bytes_in = st.bytes_in;
	o->bytes_out = st.bytes_out;
	o->packets_in = st.packets_in;
	o->packets_out = st.packets_out;
	o->established_at = st.established_at;
	o->since = st.since;
	ctl_text_clean(o->last_error, sizeof(o->last_error), st.last_error);
	if (st.state == SESS_RECONNECTING) {
		long wait = (long)(st.retry_at - (int64_t)time(NULL));

		snprintf(o->reason, sizeof(o->reason), "attempt %u failed, next in %ld s: %.400s",
			 st.attempts, wait > 0 ? wait : 0, st.last_error);
	}
}

/* ---- connections ---------------------------------------------------------------- */

static struct conn *conn_find(struct vpnd *d, const char *name)
{
	unsigned i;

	for (i = 0; i < VPND_MAX_CONNS; i++)
		if (d->conns[i].used && !strcmp(d->conns[i].name, name))
			return &d->conns[i];
	return NULL;
}

static struct conn *conn_get(struct vpnd *d, const char *name)
{
	struct conn *c = conn_find(d, name);
	unsigned i;

	if (c)
		return c;
	for (i = 0; i < VPND_MAX_CONNS; i++) {
		c = &d->conns[i];
		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->idx = i;
		c->d = d;
		snprintf(c->name, sizeof(c->name), "%s", name);
		return c;
	}
	return NULL;
}

static void finish_downs(struct conn *c)
{
	unsigned i;

	for (i = 0; i < c->n_down; i++)
		ctl_call_ok(c->down_calls[i]);
	c->n_down = 0;
}

static bool all_down(const struct vpnd *d)
{
	unsigned i;

	for (i = 0; i < VPND_MAX_CONNS; i++) {
		const struct conn *c = &d->conns[i];

		if (c->used && c->sess) {
			enum sess_state s = sess_state(c->sess);

			if (s != SESS_DOWN && s != SESS_FAILED && s != SESS_IDLE)
				return false;
		}
	}
	return true;
}

static void shutdown_check(struct vpnd *d)
{
	void (*done)(void *) = d->shutdown_done;

	if (!d->shutting_down || !done || !all_down(d))
		return;
	d->shutdown_done = NULL;
	uv_timer_stop(&d->shutdown_timer);
	done(d->shutdown_arg);
}

static void on_sess_progress(void *arg, enum sess_step step, const char *detail)
{
	struct conn *c = arg;

	if (c->up_call)
		ctl_call_progress(c->up_call, step_of(step), detail ? "%s" : NULL, detail);
}

static void on_sess_state(void *arg, enum sess_state state, enum ike_fail why,
			  const char *reason)
{
	struct conn *c = arg;

	switch (state) {
	case SESS_CONNECTED:
		vlog_notice(VPND_LOG, "%s: connected", c->name);
		if (c->up_call) {
			ctl_call_ok(c->up_call);
			c->up_call = NULL;
		}
		break;
	case SESS_FAILED:
		vlog_err(VPND_LOG, "%s: %s", c->name, reason);
		if (c->up_call) {
			ctl_call_fail(c->up_call, err_of(why), "%s", reason);
			c->up_call = NULL;
		}
		finish_downs(c);
		break;
	case SESS_RECONNECTING:
		vlog_warn(VPND_LOG, "%s: reconnecting: %s", c->name, reason);
		if (c->up_call) {
			/* This attempt failed; the session keeps trying. */
			ctl_call_fail(c->up_call, err_of(why), "%s (retrying in the background)",
				      reason);
			c->up_call = NULL;
		}
		break;
	case SESS_DOWN:
		vlog_notice(VPND_LOG, "%s: disconnected", c->name);
		if (c->up_call) {
			ctl_call_fail(c->up_call, CTL_ERR_CANCELLED, "cancelled: %s",
				      reason ? reason : "down requested");
			c->up_call = NULL;
		}
		finish_downs(c);
		break;
	default:
		break;
	}
	shutdown_check(c->d);
}

static void on_sess_ke_group(void *arg, uint16_t group)
{
	struct conn *c = arg;

	c->ke_group = group;
	vlog_info(VPND_LOG, "%s: the next connect starts with key exchange group %u", c->name,
		  group);
}

static const struct sess_ops sess_ops = {
	.progress = on_sess_progress,
	.state = on_sess_state,
	.ke_group = on_sess_ke_group,
};

static bool sess_busy(const struct conn *c)
{
	enum sess_state s;

	if (!c->sess)
		return false;
	s = sess_state(c->sess);
	return s != SESS_DOWN && s != SESS_FAILED && s != SESS_IDLE;
}

/* ---- control operations ------------------------------------------------------------ */

/* Report a refusal of `up`: to the caller, or to the log when vpnd itself
 * started the connection (autoconnect). */
static void up_fail(struct ctl_call *call, const char *name, enum ctl_err code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void up_fail(struct ctl_call *call, const char *name, enum ctl_err code,
		    const char *fmt, ...)
{
	char msg[CTL_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (call)
		ctl_call_fail(call, code, "%s", msg);
	else
		vlog_err(VPND_LOG, "%s: not connecting: %s", name, msg);
}

/* Bring NAME up; `call` (may be NULL: autoconnect) finishes when the tunnel
 * is up or the attempt failed. */
static void conn_up(struct vpnd *d, const char *name, struct ctl_call *call)
{
	struct vpn_profile *p = NULL;
	struct sess_cfg *cfg;
	struct conn *c;
	char err[VPN_PROFILE_ERR_MAX];
	bool autoconnect = false;
	size_t i;
	int e;

	if (d->shutting_down) {
		up_fail(call, name, CTL_ERR_BUSY, "vpnd is shutting down");
		return;
	}
	c = conn_find(d, name);
	if (c && sess_busy(c)) {
		if (sess_state(c->sess) == SESS_CONNECTED && call)
			ctl_call_ok(call); /* already up: nothing to do */
		else
			up_fail(call, name, CTL_ERR_BUSY, "%s is already connecting", name);
		return;
	}
	e = vpn_profile_load_named(d->paths.profiles, name, &p, err, sizeof(err));
	if (e) {
		up_fail(call, name, e == -ENOENT ? CTL_ERR_NO_PROFILE : CTL_ERR_BAD_PROFILE,
			      "%s", err);
		return;
	}
	for (i = 0; i < p->n_warnings && call; i++)
		ctl_call_warning(call, "%s", p->warnings[i]);
	if (p->transport == VPN_TRANSPORT_TCP) {
		vpn_profile_free(p);
		up_fail(call, name, CTL_ERR_BAD_PROFILE,
			      "%s: transport = tcp: TCP encapsulation is not available yet", name);
		return;
	}
	c = conn_get(d, name);
	if (!c) {
		vpn_profile_free(p);
		up_fail(call, name, CTL_ERR_BUSY, "too many connections (%d)", VPND_MAX_CONNS);
		return;
	}
	if (c->sess) {
		sess_free(c->sess);
		c->sess = NULL;
	}
	vpnd_creds_free(&c->creds);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		vpn_profile_free(p);
		up_fail(call, name, CTL_ERR_INTERNAL, "out of memory");
		return;
	}
	e = vpnd_profile_to_cfg(p, cfg, &c->creds, err, sizeof(err));
	autoconnect = p->autoconnect;
	vpn_profile_free(p);
	if (e) {
		free(cfg);
		up_fail(call, name, CTL_ERR_BAD_PROFILE, "%s", err);
		return;
	}
	/* Only used if the profile still offers it (ike/sa_init.c). */
	cfg->ike.ke_group = c->ke_group;
	cfg->table = 30320 + c->idx;
	cfg->fwmark = 0x76700000u | c->idx;
	cfg->rule_priority = 30400 + 2 * c->idx;
	cfg->state_dir = d->paths.state_dir;
	cfg->keep_up = autoconnect;
	cfg->resolved = d->resolved;
	/* TUN offloads cut the syscalls per packet by an order of magnitude
	 * for TCP (super-packets split and coalesced in tun/). */
	cfg->tun_offload = !d->paths.no_tun_offload;
	cfg->watch = d->watch;
	cfg->resolv_conf = d->paths.resolv_conf;
	e = sess_new(d->loop, cfg, &sess_ops, c, &c->sess);
	crypto_wipe(cfg, sizeof(*cfg));
	free(cfg);
	if (e) {
		vpnd_creds_free(&c->creds);
		up_fail(call, name, CTL_ERR_INTERNAL, "cannot create the session: %s", strerror(-e));
		return;
	}
	c->up_call = call;
	vlog_notice(VPND_LOG, "%s: connecting", name);
	e = sess_up(c->sess);
	if (e) {
		up_fail(c->up_call, name, CTL_ERR_INTERNAL, "cannot start: %s", strerror(-e));
		c->up_call = NULL;
	}
}

static void op_up(void *ctx, const char *name, struct ctl_call *call)
{
	conn_up(ctx, name, call);
}

static void down_one(struct conn *c, struct ctl_call *call)
{
	if (!sess_busy(c)) {
		if (call)
			ctl_call_ok(call);
		return;
	}
	if (call) {
		if (c->n_down == MAX_DOWN_WAITERS) {
			ctl_call_fail(call, CTL_ERR_BUSY, "too many waiting requests");
			return;
		}
		c->down_calls[c->n_down++] = call;
	}
	vlog_notice(VPND_LOG, "%s: disconnecting", c->name);
	sess_down(c->sess);
}

static void op_down(void *ctx, const char *name, struct ctl_call *call)
{
	struct vpnd *d = ctx;
	struct conn *c;
	unsigned i;
	bool any = false;

	if (name) {
		c = conn_find(d, name);
		if (!c || !sess_busy(c)) {
			ctl_call_fail(call, CTL_ERR_NOT_CONNECTED, "%s is not connected", name);
			return;
		}
		down_one(c, call);
		return;
	}
	/* Every active connection; the call finishes when the last is down. */
	for (i = 0; i < VPND_MAX_CONNS; i++) {
		c = &d->conns[i];
		if (c->used && sess_busy(c)) {
			down_one(c, NULL);
			any = true;
		}
	}
	(void)any;
	ctl_call_ok(call);
}

/* Names of the profiles on disk, without reading them (no secrets). */
static size_t profile_names(const struct vpnd *d, char (*names)[CTL_NAME_MAX + 1], size_t max)
{
	DIR *dir = opendir(d->paths.profiles);
	struct dirent *e;
	size_t n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max) {
		size_t len = strlen(e->d_name);
		char name[CTL_NAME_MAX + 1];

		if (len <= 5 || strcmp(e->d_name + len - 5, ".conf") || len - 5 > CTL_NAME_MAX)
			continue;
		memcpy(name, e->d_name, len - 5);
		name[len - 5] = 0;
		if (ctl_name_valid(name))
			memcpy(names[n++], name, sizeof(name));
	}
	closedir(dir);
	qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	return n;
}

static size_t all_names(const struct vpnd *d, char (*names)[CTL_NAME_MAX + 1], size_t max)
{
	size_t n = profile_names(d, names, max), k;
	unsigned i;

	/* Connections whose profile was removed while up still show. */
	for (i = 0; i < VPND_MAX_CONNS && n < max; i++) {
		const struct conn *c = &d->conns[i];
		bool seen = false;

		if (!c->used)
			continue;
		for (k = 0; k < n && !seen; k++)
			seen = !strcmp(names[k], c->name);
		if (!seen)
			memcpy(names[n++], c->name, sizeof(c->name));
	}
	return n;
}

static void op_status(void *ctx, const char *name, struct ctl_call *call)
{
	struct vpnd *d = ctx;
	static char names[VPN_PROFILE_MAX_PROFILES][CTL_NAME_MAX + 1];
	struct ctl_status *st;
	size_t n, i;

	if (name) {
		struct ctl_status one;
		struct conn *c = conn_find(d, name);
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s.conf", d->paths.profiles, name);
		if (!c && access(path, F_OK)) {
			ctl_call_fail(call, CTL_ERR_NO_PROFILE, "no profile %s in %s", name,
				      d->paths.profiles);
			return;
		}
		fill_status(c, name, &one);
		ctl_call_reply_status(call, &one, 1);
		return;
	}
	n = all_names(d, names, VPN_PROFILE_MAX_PROFILES);
	st = calloc(n ? n : 1, sizeof(*st));
	if (!st) {
		ctl_call_fail(call, CTL_ERR_INTERNAL, "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		fill_status(conn_find(d, names[i]), names[i], &st[i]);
	ctl_call_reply_status(call, st, n);
	free(st);
}

static void op_list(void *ctx, struct ctl_call *call)
{
	struct vpnd *d = ctx;
	static char names[VPN_PROFILE_MAX_PROFILES][CTL_NAME_MAX + 1];
	struct ctl_list_entry *e;
	size_t n, i;

	n = all_names(d, names, VPN_PROFILE_MAX_PROFILES);
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e) {
		ctl_call_fail(call, CTL_ERR_INTERNAL, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		struct conn *c = conn_find(d, names[i]);

		memcpy(e[i].name, names[i], sizeof(e[i].name));
		e[i].state = c && c->sess ? ctl_state_of(sess_state(c->sess))
					  : CTL_STATE_DISCONNECTED;
	}
	ctl_call_reply_list(call, e, n);
	free(e);
}

static const struct ctl_ops ctl_ops = {
	.up = op_up,
	.down = op_down,
	.status = op_status,
	.list = op_list,
};

/* ---- life cycle ------------------------------------------------------------------ */

static void on_uplinks(const struct plat_uplinks *u, void *arg)
{
	(void)arg;
	vlog_info(VPND_LOG, "uplinks: %u usable%s%s", u->n,
		  u->preferred >= 0 ? ", preferred " : "",
		  u->preferred >= 0 ? u->link[u->preferred].ifname : "");
}

int vpnd_new(uv_loop_t *loop, const struct vpnd_paths *paths, struct vpnd **out)
{
	struct ctl_server_config sc = {.socket_path = paths->socket, .group = paths->group};
	struct vpnd *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->paths = *paths;
	vpn_profile_set_proposal_check(vpnd_proposal_check);
	uv_timer_init(loop, &d->shutdown_timer);
	d->shutdown_timer.data = d;
	err = ctl_server_start(loop, &sc, &ctl_ops, d, &d->ctl);
	if (err) {
		uv_close((uv_handle_t *)&d->shutdown_timer, NULL);
		/* The timer handle lives in d: let the loop finish closing it. */
		uv_run(loop, UV_RUN_NOWAIT);
		free(d);
		return err;
	}
	/* DNS goes through systemd-resolved when it runs, else resolv.conf. */
	if (!d->paths.resolv_conf && plat_resolved_open(&d->resolved, loop) == 0)
		vlog_info(VPND_LOG, "system bus found: DNS through systemd-resolved when it runs");
	if (plat_watch_start(&d->watch, loop, 0, on_uplinks, d))
		d->watch = NULL;
	*out = d;
	return 0;
}

void vpnd_autoconnect(struct vpnd *d)
{
	static char names[VPN_PROFILE_MAX_PROFILES][CTL_NAME_MAX + 1];
	size_t n = profile_names(d, names, VPN_PROFILE_MAX_PROFILES), i;

	for (i = 0; i < n; i++) {
		struct vpn_profile *p = NULL;
		char err[VPN_PROFILE_ERR_MAX];
		bool yes;

		if (vpn_profile_load_named(d->paths.profiles, names[i], &p, err, sizeof(err))) {
			vlog_warn(VPND_LOG, "%s", err);
			continue;
		}
		yes = p->autoconnect;
		vpn_profile_free(p);
		if (yes) {
			vlog_notice(VPND_LOG, "%s: autoconnect", names[i]);
			conn_up(d, names[i], NULL);
		}
	}
}

static void on_shutdown_bound(uv_timer_t *t)
{
	struct vpnd *d = t->data;
	void (*done)(void *) = d->shutdown_done;

	vlog_warn(VPND_LOG, "connections did not close in time; tearing down");
	d->shutdown_done = NULL;
	if (done)
		done(d->shutdown_arg);
}

void vpnd_shutdown(struct vpnd *d, void (*done)(void *arg), void *arg)
{
	unsigned i;

	d->shutting_down = true;
	d->shutdown_done = done;
	d->shutdown_arg = arg;
	for (i = 0; i < VPND_MAX_CONNS; i++)
		if (d->conns[i].used && sess_busy(&d->conns[i]))
			down_one(&d->conns[i], NULL);
	uv_timer_start(&d->shutdown_timer, on_shutdown_bound, SHUTDOWN_BOUND_MS, 0);
	shutdown_check(d);
}

static void on_ctl_stopped(void *arg)
{
	(void)arg;
}

/* The shutdown timer is the last handle inside d: its close frees d. */
static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void vpnd_free(struct vpnd *d)
{
	unsigned i;

	if (!d)
		return;
	for (i = 0; i < VPND_MAX_CONNS; i++) {
		struct conn *c = &d->conns[i];

		if (!c->used)
			continue;
		if (c->up_call)
			ctl_call_fail(c->up_call, CTL_ERR_CANCELLED, "vpnd is stopping");
		c->up_call = NULL;
		finish_downs(c);
		sess_free(c->sess); /* undoes any system change still in place */
		c->sess = NULL;
		vpnd_creds_free(&c->creds);
	}
	if (d->ctl)
		ctl_server_stop(d->ctl, on_ctl_stopped, NULL);
	if (d->watch)
		plat_watch_close(d->watch);
	if (d->resolved)
		plat_resolved_close(d->resolved);
	uv_close((uv_handle_t *)&d->shutdown_timer, on_timer_closed);
}
