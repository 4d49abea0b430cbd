/* A session's life: resolve the gateway, open the path, run the IKE SA, set
 * the system up for the tunnel, and undo all of it when the tunnel ends. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/session/sess_int.h"
#include "client/util/log.h"

const char *sess_state_name(enum sess_state s)
{
	switch (s) {
	case SESS_IDLE: return "idle";
	case SESS_RESOLVING: return "resolving";
	case SESS_CONNECTING: return "connecting";
	case SESS_CONFIGURING: return "configuring";
	case SESS_CONNECTED: return "connected";
	case SESS_DISCONNECTING: return "disconnecting";
	case SESS_DOWN: return "down";
	case SESS_FAILED: return "failed";
	case SESS_RECONNECTING: return "reconnecting";
	}
	return "?";
}

int64_t sess_wall_now(void)
{
	return (int64_t)time(NULL);
}

static bool allowed(enum sess_state from, enum sess_state to)
{
	if (to == SESS_FAILED || to == SESS_DOWN)
		return from != SESS_IDLE || to == SESS_DOWN;
	if (to == SESS_RECONNECTING)
		return from != SESS_IDLE && from != SESS_DOWN && from != SESS_FAILED &&
		       from != SESS_RECONNECTING && from != SESS_DISCONNECTING;
	switch (from) {
	case SESS_IDLE:
	case SESS_DOWN:
	case SESS_FAILED:
	case SESS_RECONNECTING:
		return to == SESS_RESOLVING;
	case SESS_RESOLVING:
		return to == SESS_CONNECTING || to == SESS_DISCONNECTING;
	case SESS_CONNECTING:
		return to == SESS_CONFIGURING || to == SESS_DISCONNECTING;
	case SESS_CONFIGURING:
		return to == SESS_CONNECTED || to == SESS_DISCONNECTING;
	case SESS_CONNECTED:
		return to == SESS_DISCONNECTING;
	case SESS_DISCONNECTING:
		return false;
	}
	return false;
}

int sess_set_state(struct sess *s, enum sess_state to, const char *why)
{
	if (!allowed(s->state, to)) {
		vlog_err(SESS_LOG, "%s: refusing move %s -> %s (%s)", s->cfg.name,
			 sess_state_name(s->state), sess_state_name(to), why);
		return -EPROTO;
	}
	vlog_info(SESS_LOG, "%s: %s -> %s (%s)", s->cfg.name, sess_state_name(s->state),
		  sess_state_name(to), why);
	s->state = to;
	s->since = sess_wall_now();
	return 0;
}

static void progress(struct sess *s, enum sess_step step, const char *detail)
{
	if (s->ops->progress)
		s->ops->progress(s->arg, step, detail);
}

/* ---- ending ------------------------------------------------------------------ */

static void teardown(struct sess *s, bool final)
{
	sess_dp_stop_tun(s);
	sess_net_teardown(s, final);
	sess_dp_clear(s);
	if (s->ike) {
		ike_sa_free(s->ike);
		s->ike = NULL;
	}
	if (s->path) {
		tp_path_close(s->path);
		s->path = NULL;
	}
	s->have_info = false;
}

static void start_attempt(struct sess *s, const char *why);

static void on_reconnect_backoff(uv_timer_t *t)
{
	struct sess *s = t->data;

	if (s->state == SESS_RECONNECTING)
		start_attempt(s, "reconnecting");
}

/* Seconds before attempt n+1: 1, 2, 4 ... capped, with +-20 % jitter so a
 * gateway that restarts is not hit by all its clients at once. */
static uint64_t backoff_ms(const struct sess *s)
{
	uint32_t cap = s->cfg.backoff_max_s ? s->cfg.backoff_max_s : 60;
	uint64_t base = s->attempts > 16 ? cap : (1ull << (s->attempts - 1));
	uint32_t r = 0;

	if (base > cap)
		base = cap;
	crypto_random(&r, sizeof(r));
	return base * 800 + (r % 400) * base;
}

/* The end of an attempt or of a tunnel: undo everything, then report. */
static void finish(struct sess *s, enum sess_state to, enum ike_fail why,
		   const char *reason)
{
	bool retry = to == SESS_FAILED && (s->cfg.keep_up || s->was_connected) &&
		     s->t_reconnect;

	/* The kill switch stays while we retry: no leak between attempts. */
	teardown(s, !retry);
	s->fail = why;
	if (to == SESS_FAILED)
		snprintf(s->last_error, sizeof(s->last_error), "%s", reason);
	if (retry) {
		uint64_t ms;

		s->attempts++;
		ms = backoff_ms(s);
		if (sess_set_state(s, SESS_RECONNECTING, reason))
			return;
		s->retry_at = sess_wall_now() + (int64_t)((ms + 999) / 1000);
		vlog_notice(SESS_LOG, "%s: reconnecting in %.1f s (attempt %u failed: %s)",
			    s->cfg.name, (double)ms / 1000.0, s->attempts, reason);
		uv_timer_start(s->t_reconnect, on_reconnect_backoff, ms, 0);
		if (s->ops->state)
			s->ops->state(s->arg, SESS_RECONNECTING, why, reason);
		return;
	}
	if (sess_set_state(s, to, reason))
		return;
	if (s->ops->state)
		s->ops->state(s->arg, to, why, reason);
}

/* ---- the IKE SA's callbacks ------------------------------------------------------ */

static int ike_send(void *arg, const uint8_t *msg, size_t len, bool natt)
{
	struct sess *s = arg;
	int err;

	if (!s->path)
		return -ENOTCONN;
	if (natt && s->path->state == TP_PATH_IKE) {
		/* RFC 7296 2.23: from IKE_AUTH on, port 4500 with the marker. */
		err = tp_path_float(s->path);
		if (err)
			return err;
		ike_sa_set_path(s->ike, (struct sockaddr *)&s->path->local,
				(struct sockaddr *)&s->path->remote);
	}
	return tp_send_ike(s->path, msg, len);
}

static void ike_progress(void *arg, enum ike_progress step)
{
	struct sess *s = arg;

	switch (step) {
	case IKE_PROGRESS_SA_INIT:
		progress(s, SESS_STEP_IKE_SA_INIT, s->cfg.gateway);
		break;
	case IKE_PROGRESS_AUTH:
		progress(s, SESS_STEP_AUTHENTICATING, NULL);
		break;
	case IKE_PROGRESS_EAP:
	case IKE_PROGRESS_ESTABLISHED:
		break;
	}
}

static void ike_child_up(void *arg, const struct ike_child_info *c)
{
	struct sess *s = arg;
	int err = sess_dp_add_child(s, c);

	if (err)
		vlog_err(SESS_LOG, "%s: cannot install Child SA %08x: %s", s->cfg.name,
			 c->spi_in, strerror(-err));
}

static void ike_child_down(void *arg, uint32_t spi_in, uint32_t spi_out)
{
	struct sess *s = arg;

	(void)spi_out;
	sess_dp_del_child(s, spi_in);
}

static void ike_established(void *arg, const struct ike_sa_info *info)
{
	struct sess *s = arg;
	char why[256];
	int err;

	s->info = *info;
	s->have_info = true;
	if (sess_set_state(s, SESS_CONFIGURING, "IKE SA established"))
		return;
	progress(s, SESS_STEP_CONFIGURING, NULL);
	err = sess_net_configure(s);
	if (err) {
		snprintf(why, sizeof(why), "cannot configure the tunnel: %s", strerror(-err));
		/* Undo at once, then tell the gateway with a Delete so it keeps no
		 * half-used SA; ike_closed reports this reason. */
		sess_net_teardown(s, false);
		snprintf(s->pending_fail, sizeof(s->pending_fail), "%s", why);
		sess_set_state(s, SESS_DISCONNECTING, why);
		ike_sa_close(s->ike);
		return;
	}
	s->established_at = sess_wall_now();
	s->was_connected = true;
	s->attempts = 0;
	if (sess_set_state(s, SESS_CONNECTED, "tunnel up"))
		return;
	if (s->ops->state)
		s->ops->state(s->arg, SESS_CONNECTED, IKE_FAIL_NONE, NULL);
}

static void ike_closed(void *arg, enum ike_fail why, const char *reason)
{
	struct sess *s = arg;

	if (s->pending_fail[0]) {
		char local[sizeof(s->pending_fail)];

		memcpy(local, s->pending_fail, sizeof(local));
		s->pending_fail[0] = 0;
		finish(s, SESS_FAILED, IKE_FAIL_LOCAL, local);
		return;
	}
	if (why == IKE_FAIL_CLOSED_BY_USER)
		finish(s, SESS_DOWN, why, reason);
	else
		finish(s, SESS_FAILED, why, reason);
}

/* Remember the group the gateway wants, so a reconnect does not pay for
 * another INVALID_KE_PAYLOAD round trip (RFC 7296 1.2). */
static void ike_ke_group(void *arg, uint16_t group)
{
	struct sess *s = arg;

	s->cfg.ike.ke_group = group;
	if (s->ops->ke_group)
		s->ops->ke_group(s->arg, group);
}

static const struct ike_sa_ops ike_ops = {
	.send = ike_send,
	.progress = ike_progress,
	.established = ike_established,
	.child_up = ike_child_up,
	.child_down = ike_child_down,
	.closed = ike_closed,
	.ke_group = ike_ke_group,
};

/* ---- the path's callbacks ----------------------------------------------------------- */

static void path_ike(struct tp_path *path, uint8_t *msg, size_t len, void *arg)
{
	struct sess *s = arg;

	(void)path;
	if (s->ike)
		ike_sa_recv(s->ike, msg, len);
}

static void path_error(struct tp_path *path, int err, uint32_t info, void *arg)
{
	struct sess *s = arg;

	(void)path;
	(void)info;
	if (s->ike)
		ike_sa_path_error(s->ike, err);
}

/* ---- connecting ----------------------------------------------------------------------- */

static uint32_t fwmark_of(const struct sess *s)
{
	return s->cfg.fwmark ? s->cfg.fwmark : s->cfg.table;
}

static int open_path(struct sess *s)
{
	struct tp_path_cfg pc;
	struct tp_callbacks cb = {
		.ike = path_ike,
		.esp = sess_dp_rx,
		.error = path_error,
		.arg = s,
	};

	memset(&pc, 0, sizeof(pc));
	pc.kind = TP_UDP;
	pc.remote = s->gw;
	pc.remote_ike_port = s->cfg.ike_port;
	pc.remote_natt_port = s->cfg.natt_port;
	pc.fwmark = fwmark_of(s);
	pc.keepalive_ms = TP_KEEPALIVE_DEFAULT;
	return tp_path_open(s->loop, &pc, &cb, &s->path);
}

static void start_ike(struct sess *s)
{
	char why[512];
	int err;

	err = sess_plat_open(s);
	if (err) {
		snprintf(why, sizeof(why), "state directory %s: %s", s->cfg.state_dir,
			 strerror(-err));
		finish(s, SESS_FAILED, IKE_FAIL_LOCAL, why);
		return;
	}
	if (s->cfg.killswitch && !s->killswitch_on) {
		err = sess_killswitch_on(s);
		if (err) {
			snprintf(why, sizeof(why), "cannot turn the kill switch on: %s",
				 strerror(-err));
			finish(s, SESS_FAILED, IKE_FAIL_LOCAL, why);
			return;
		}
	}
	err = open_path(s);
	if (err) {
		snprintf(why, sizeof(why), "gateway unreachable: cannot open a path to %s: %s",
			 s->cfg.gateway, strerror(-err));
		finish(s, SESS_FAILED, IKE_FAIL_UNREACHABLE, why);
		return;
	}
	err = ike_sa_new(s->loop, &s->cfg.ike, &ike_ops, s, &s->ike);
	if (!err)
		err = ike_sa_set_path(s->ike, (struct sockaddr *)&s->path->local,
				      (struct sockaddr *)&s->path->remote);
	if (err) {
		snprintf(why, sizeof(why), "cannot start IKE: %s", strerror(-err));
		finish(s, SESS_FAILED, IKE_FAIL_LOCAL, why);
		return;
	}
	if (sess_set_state(s, SESS_CONNECTING, "gateway resolved"))
		return;
	/* Failures from here on arrive through ike_closed. */
	ike_sa_start(s->ike);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sess *s = req->data;
	struct addrinfo *ai, *pick = NULL;
	char why[512];

	s->gai_pending = false;
	s->handles_open--; /* the lookup's reference (sess_up took it) */
	if (s->freeing) {
		uv_freeaddrinfo(res);
		if (s->handles_open == 0)
			free(s);
		return;
	}
	if (s->state != SESS_RESOLVING) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0) {
		snprintf(why, sizeof(why), "gateway unreachable: cannot resolve %s: %s",
			 s->cfg.gateway, uv_strerror(status));
		finish(s, SESS_FAILED, IKE_FAIL_UNREACHABLE, why);
		return;
	}
	for (ai = res; ai && !pick; ai = ai->ai_next)
		if (ai->ai_family == AF_INET)
			pick = ai;
	for (ai = res; ai && !pick; ai = ai->ai_next)
		if (ai->ai_family == AF_INET6)
			pick = ai;
	if (!pick) {
		uv_freeaddrinfo(res);
		snprintf(why, sizeof(why), "gateway unreachable: %s has no IPv4/IPv6 address",
			 s->cfg.gateway);
		finish(s, SESS_FAILED, IKE_FAIL_UNREACHABLE, why);
		return;
	}
	memset(&s->gw, 0, sizeof(s->gw));
	memcpy(&s->gw, pick->ai_addr, pick->ai_addrlen);
	s->n_gw = 0;
	for (ai = res; ai && s->n_gw < sizeof(s->gw_all) / sizeof(s->gw_all[0]); ai = ai->ai_next) {
		struct plat_ip *ip = &s->gw_all[s->n_gw];

		memset(ip, 0, sizeof(*ip));
		if (ai->ai_family == AF_INET) {
			ip->family = AF_INET;
			memcpy(ip->addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		} else if (ai->ai_family == AF_INET6) {
			ip->family = AF_INET6;
			memcpy(ip->addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		s->n_gw++;
	}
	uv_freeaddrinfo(res);
	start_ike(s);
}

int sess_up(struct sess *s)
{
	if (s->state != SESS_IDLE && s->state != SESS_DOWN && s->state != SESS_FAILED)
		return -EBUSY;
	s->last_error[0] = 0;
	s->fail = IKE_FAIL_NONE;
	s->was_connected = false;
	s->attempts = 0;
	s->bytes_in = s->bytes_out = s->packets_in = s->packets_out = 0;
	start_attempt(s, "up requested");
	return 0;
}

static void start_attempt(struct sess *s, const char *why)
{
	struct addrinfo hints;
	int err;

	err = sess_set_state(s, SESS_RESOLVING, why);
	if (err)
		return;
	if (s->killswitch_on && s->n_gw) {
		/* DNS is blocked outside the tunnel now: keep the addresses
		 * the kill switch already lets through. */
		start_ike(s);
		return;
	}
	progress(s, SESS_STEP_RESOLVING, s->cfg.gateway);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	s->gai.data = s;
	err = uv_getaddrinfo(s->loop, &s->gai, on_resolved, s->cfg.gateway, NULL, &hints);
	if (err) {
		char reason[512];

		snprintf(reason, sizeof(reason), "gateway unreachable: cannot resolve %s: %s",
			 s->cfg.gateway, uv_strerror(err));
		finish(s, SESS_FAILED, IKE_FAIL_UNREACHABLE, reason);
		return;
	}
	s->gai_pending = true;
	s->handles_open++;
}

void sess_down(struct sess *s)
{
	switch (s->state) {
	case SESS_CONNECTED:
		s->was_connected = false; /* a down is not a failure to recover from */
		sess_set_state(s, SESS_DISCONNECTING, "down requested");
		/* Stop traffic now; the Delete goes out on the IKE SA. */
		sess_dp_stop_tun(s);
		ike_sa_close(s->ike); /* ike_closed follows, bounded */
		break;
	case SESS_RESOLVING:
	case SESS_CONNECTING:
	case SESS_CONFIGURING:
		s->was_connected = false; /* no reconnect after a down */
		finish(s, SESS_DOWN, IKE_FAIL_CLOSED_BY_USER, "cancelled");
		break;
	case SESS_RECONNECTING:
		uv_timer_stop(s->t_reconnect);
		finish(s, SESS_DOWN, IKE_FAIL_CLOSED_BY_USER, "reconnecting stopped");
		break;
	default:
		break;
	}
}

int sess_new(uv_loop_t *loop, const struct sess_cfg *cfg, const struct sess_ops *ops,
	     void *arg, struct sess **out)
{
	struct sess *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cfg = *cfg;
	if (!s->cfg.path_mtu)
		s->cfg.path_mtu = 1500;
	if (!s->cfg.table)
		s->cfg.table = 30320;
	if (!s->cfg.rule_priority)
		s->cfg.rule_priority = 30320;
	s->ops = ops;
	s->arg = arg;
	s->state = SESS_IDLE;
	s->since = sess_wall_now();
	s->tun.fd = -1;
	err = sess_dp_init(s);
	if (err) {
		free(s);
		return err;
	}
	s->t_reconnect = malloc(sizeof(*s->t_reconnect));
	if (!s->t_reconnect) {
		sess_dp_free(s);
		free(s);
		return -ENOMEM;
	}
	uv_timer_init(loop, s->t_reconnect);
	s->t_reconnect->data = s;
	s->handles_open = 1; /* the session itself */
	*out = s;
	return 0;
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

void sess_free(struct sess *s)
{
	if (!s || s->freeing)
		return;
	teardown(s, true);
	if (s->plat) {
		plat_close(s->plat);
		s->plat = NULL;
	}
	sess_dp_free(s);
	s->freeing = true;
	if (s->t_reconnect) {
		uv_timer_stop(s->t_reconnect);
		uv_close((uv_handle_t *)s->t_reconnect, free_handle);
		s->t_reconnect = NULL;
	}
	crypto_wipe(&s->cfg.ike, sizeof(s->cfg.ike));
	if (s->gai_pending)
		uv_cancel((uv_req_t *)&s->gai); /* on_resolved drops the last ref */
	if (--s->handles_open == 0)
		free(s);
}

enum sess_state sess_state(const struct sess *s)
{
	return s->state;
}

void sess_status(const struct sess *s, struct sess_status *o)
{
	unsigned i;

	memset(o, 0, sizeof(*o));
	o->state = s->state;
	snprintf(o->gateway, sizeof(o->gateway), "%s", s->cfg.gateway);
	if (s->tun.fd >= 0)
		snprintf(o->interface, sizeof(o->interface), "%s", s->tun.ifname);
	if (s->path) {
		o->local = s->path->local;
		o->remote = s->path->remote;
	}
	if (s->have_info) {
		o->nat = s->info.nat_local;
		o->mobike = s->info.mobike;
		o->have_vip4 = s->info.have_ip4;
		memcpy(o->vip4, s->info.ip4, 4);
		o->have_vip6 = s->info.have_ip6;
		memcpy(o->vip6, s->info.ip6, 16);
		for (i = 0; i < s->info.n_dns4; i++) {
			o->dns[o->n_dns].family = AF_INET;
			memcpy(o->dns[o->n_dns++].addr, s->info.dns4[i], 4);
		}
		for (i = 0; i < s->info.n_dns6; i++) {
			o->dns[o->n_dns].family = AF_INET6;
			memcpy(o->dns[o->n_dns++].addr, s->info.dns6[i], 16);
		}
		snprintf(o->ike_alg, sizeof(o->ike_alg), "%s", s->info.ike_alg);
	}
	if (s->cur)
		snprintf(o->esp_alg, sizeof(o->esp_alg), "%s", s->cur->esp_alg);
	o->bytes_in = s->bytes_in;
	o->bytes_out = s->bytes_out;
	o->packets_in = s->packets_in;
	o->packets_out = s->packets_out;
	o->established_at = s->state == SESS_CONNECTED ? s->established_at : 0;
	o->since = s->since;
	o->fail = s->fail;
	snprintf(o->last_error, sizeof(o->last_error), "%s", s->last_error);
	o->attempts = s->attempts;
	o->retry_at = s->state == SESS_RECONNECTING ? s->retry_at : 0;
}
