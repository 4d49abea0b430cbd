/* systemd-resolved over D-Bus. See resolved.h. */
#define _GNU_SOURCE
#include "platform/resolved.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "client/util/log.h"
#include "platform/internal.h"

#define RESOLVE_NAME "org.freedesktop.resolve1"
#define RESOLVE_PATH "/org/freedesktop/resolve1"
#define RESOLVE_IFACE "org.freedesktop.resolve1.Manager"
#define RESOLVE_NO_SUCH_LINK "org.freedesktop.resolve1.NoSuchLink"

/* resolved answers in milliseconds; a hung one must not hold connect. */
#define RESOLVED_CALL_TIMEOUT_US (3 * 1000 * 1000)
/* resolved takes its name once it knows the links; a little later the
 * first push is more likely to land at once. */
#define RESOLVED_APPEARED_DELAY_MS 100
#define RESOLVED_REAPPLY_TRIES 6
#define BUS_RECONNECT_FIRST_MS 1000
#define BUS_RECONNECT_MAX_MS 30000

struct resolved_link {
	int used;
	int ifindex;
	char ifname[IFNAMSIZ];
	struct plat *p;
	uint64_t id;
	int full;
	struct plat_dns dns;
};

struct bus_io {
	uv_poll_t h;
	struct plat_resolved *r;
};

struct plat_resolved {
	uv_loop_t *loop;
	sd_bus *bus;
	sd_bus_slot *owner_match;
	struct bus_io *io;
	uv_timer_t bus_deadline;       /* sd-bus's own timeouts */
	uv_timer_t resolved_appeared;  /* push the links again */
	uv_timer_t bus_reconnect;      /* the system bus went away */
	unsigned reconnect_ms;
	unsigned reapply_tries;
	int owner;                     /* resolve1 has an owner, as last heard */
	int closing;
	int open_handles;
	struct resolved_link links[PLAT_RESOLVED_MAX_LINKS];
};

/* --- Calls ------------------------------------------------------------------- */

/* resolved's and the bus's error names as errnos; log the call. */
static int call_result(int err, const sd_bus_error *e, const char *member, int ifindex)
{
	if (err >= 0)
		return 0;
	if (sd_bus_error_has_name(e, RESOLVE_NO_SUCH_LINK))
		err = -ENODEV;
	else if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
					SD_BUS_ERROR_NAME_HAS_NO_OWNER))
		err = -ENOENT;
	else if (sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_METHOD))
		err = -EOPNOTSUPP;
	/* No link or no resolved: the callers decide whether that is bad. */
	vlog(err == -ENODEV || err == -ENOENT ? VLOG_NOTICE : VLOG_ERR, PLAT_MOD,
	     "resolved: %s(%d): %s%s%s", member, ifindex,
	     e && e->name ? e->name : strerror(-err), e && e->message ? ": " : "",
	     e && e->message ? e->message : "");
	return err;
}

static int call_new(sd_bus *bus, const char *member, int ifindex, sd_bus_message **m)
{
	int err = sd_bus_message_new_method_call(bus, m, RESOLVE_NAME, RESOLVE_PATH,
						 RESOLVE_IFACE, member);

	/* Never start resolved by bus activation: it is the system's choice. */
	if (err >= 0)
		err = sd_bus_message_set_auto_start(*m, 0);
	if (err >= 0)
		err = sd_bus_message_append(*m, "i", (int32_t)ifindex);
	if (err < 0) {
		*m = sd_bus_message_unref(*m);
		return err;
	}
	return 0;
}

static int call_send(sd_bus *bus, sd_bus_message *m, const char *member, int ifindex)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int err = sd_bus_call(bus, m, RESOLVED_CALL_TIMEOUT_US, &e, NULL);

	err = call_result(err, &e, member, ifindex);
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	return err;
}

static int call_set_dns(sd_bus *bus, int ifindex, const struct plat_dns *dns)
{
	sd_bus_message *m;
	unsigned i;
	int err = call_new(bus, "SetLinkDNS", ifindex, &m);

	if (err)
		return err;
	err = sd_bus_message_open_container(m, 'a', "(iay)");
	for (i = 0; err >= 0 && i < dns->nservers; i++) {
		const struct plat_ip *s = &dns->servers[i];

		err = sd_bus_message_open_container(m, 'r', "iay");
		if (err >= 0)
			err = sd_bus_message_append(m, "i", (int32_t)s->family);
		if (err >= 0)
			err = sd_bus_message_append_array(m, 'y', s->addr,
							  s->family == AF_INET ? 4 : 16);
		if (err >= 0)
			err = sd_bus_message_close_container(m);
	}
	if (err >= 0)
		err = sd_bus_message_close_container(m);
	if (err < 0) {
		sd_bus_message_unref(m);
		return err;
	}
	return call_send(bus, m, "SetLinkDNS", ifindex);
}

static int call_set_domains(sd_bus *bus, int ifindex, const struct plat_dns *dns, int full)
{
	sd_bus_message *m;
	unsigned i;
	int err = call_new(bus, "SetLinkDomains", ifindex, &m);

	if (err)
		return err;
	/* (name, routing-only): the gateway's domains only steer lookups to
	 * the tunnel; they are not search domains. "." is "~.". */
	err = sd_bus_message_open_container(m, 'a', "(sb)");
	for (i = 0; err >= 0 && i < dns->nsearch; i++)
		err = sd_bus_message_append(m, "(sb)", dns->search[i], 1);
	if (err >= 0 && full)
		err = sd_bus_message_append(m, "(sb)", ".", 1);
	if (err >= 0)
		err = sd_bus_message_close_container(m);
	if (err < 0) {
		sd_bus_message_unref(m);
		return err;
	}
	return call_send(bus, m, "SetLinkDomains", ifindex);
}

static int call_simple(sd_bus *bus, const char *member, int ifindex, const int *b)
{
	sd_bus_message *m;
	int err = call_new(bus, member, ifindex, &m);

	if (err)
		return err;
	if (b && (err = sd_bus_message_append(m, "b", *b)) < 0) {
		sd_bus_message_unref(m);
		return err;
	}
	return call_send(bus, m, member, ifindex);
}

/* Tell resolved everything about one link; revert a half-done push. */
static int link_push(sd_bus *bus, int ifindex, const struct plat_dns *dns, int full)
{
	int err = call_set_dns(bus, ifindex, dns);

	if (!err)
		err = call_set_domains(bus, ifindex, dns, full);
	if (!err) {
		err = call_simple(bus, "SetLinkDefaultRoute", ifindex, &full);
		/* resolved before v240 has no such call; with routing-only
		 * domains it still keeps other names off the link. */
		if (err == -EOPNOTSUPP) {
			vlog_notice(PLAT_MOD, "resolved: no SetLinkDefaultRoute (old resolved)");
			err = 0;
		}
	}
	if (err && err != -ENOENT)
		call_simple(bus, "RevertLink", ifindex, NULL);
	return err;
}

static int bus_has_resolved(sd_bus *bus)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int has = 0, err;

	err = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				 "org.freedesktop.DBus", "NameHasOwner", &e, &reply, "s",
				 RESOLVE_NAME);
	if (err >= 0)
		err = sd_bus_message_read(reply, "b", &has);
	if (err < 0)
		vlog_err(PLAT_MOD, "resolved: NameHasOwner: %s",
			 e.message ? e.message : strerror(-err));
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	return err < 0 ? err : !!has;
}

/* --- Input ---------------------------------------------------------------- */

static int dns_valid(int ifindex, const struct plat_dns *dns)
{
	unsigned i;

	if (ifindex <= 0 || dns->nservers == 0 || dns->nservers > PLAT_DNS_MAX_SERVERS ||
	    dns->nsearch > PLAT_DNS_MAX_SEARCH)
		return 0;
	for (i = 0; i < dns->nservers; i++)
		if (dns->servers[i].family != AF_INET && dns->servers[i].family != AF_INET6)
			return 0;
	for (i = 0; i < dns->nsearch; i++) {
		if (!plat_dns_name_ok(dns->search[i])) {
			vlog_err(PLAT_MOD, "resolved: refusing domain '%.*s'", PLAT_DNS_NAME_MAX,
				 dns->search[i]);
			return 0;
		}
	}
	return 1;
}

/* --- The bus on the loop ------------------------------------------------------ */

static void bus_dispatch(struct plat_resolved *r);
static int bus_connect(struct plat_resolved *r);
static void links_push_all(struct plat_resolved *r);

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void maybe_free(struct plat_resolved *r)
{
	if (r->closing && r->open_handles == 0)
		free(r);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct plat_resolved *r = h->data;

	r->open_handles--;
	maybe_free(r);
}

static void on_io_closed(uv_handle_t *h)
{
	struct bus_io *io = (struct bus_io *)h;
	struct plat_resolved *r = io->r;

	free(io);
	r->open_handles--;
	maybe_free(r);
}

/* Stop watching the fd before sd-bus closes it. */
static void bus_drop(struct plat_resolved *r)
{
	if (r->io) {
		uv_poll_stop(&r->io->h);
		uv_close((uv_handle_t *)&r->io->h, on_io_closed);
		r->io = NULL;
	}
	uv_timer_stop(&r->bus_deadline);
	r->owner_match = sd_bus_slot_unref(r->owner_match);
	r->bus = sd_bus_flush_close_unref(r->bus);
	r->owner = 0;
}

static void on_bus_reconnect(uv_timer_t *t)
{
	struct plat_resolved *r = t->data;

	if (bus_connect(r) == 0) {
		vlog_info(PLAT_MOD, "resolved: back on the system bus");
		r->reconnect_ms = BUS_RECONNECT_FIRST_MS;
		/* resolved may have restarted with the bus: push again. */
		if (r->owner)
			links_push_all(r);
		return;
	}
	if (r->reconnect_ms < BUS_RECONNECT_MAX_MS)
		r->reconnect_ms *= 2;
	uv_timer_start(&r->bus_reconnect, on_bus_reconnect, r->reconnect_ms, 0);
}

static void bus_lost(struct plat_resolved *r, int err)
{
	vlog_warn(PLAT_MOD, "resolved: system bus connection lost (%s); reconnecting",
		  strerror(-err));
	bus_drop(r);
	r->reconnect_ms = BUS_RECONNECT_FIRST_MS;
	uv_timer_start(&r->bus_reconnect, on_bus_reconnect, r->reconnect_ms, 0);
}

static void on_bus_io(uv_poll_t *h, int status, int events)
{
	struct bus_io *io = (struct bus_io *)h;

	(void)status;
	(void)events;
	/* An error on the fd shows up in sd_bus_process as well. */
	bus_dispatch(io->r);
}

static void on_bus_deadline(uv_timer_t *t)
{
	bus_dispatch(t->data);
}

/* Wait for what sd-bus wants next: its fd events and its next deadline. */
static void bus_arm(struct plat_resolved *r)
{
	uint64_t until, now;
	int ev = sd_bus_get_events(r->bus), uvev = 0;

	if (ev < 0) {
		bus_lost(r, ev);
		return;
	}
	if (ev & POLLIN)
		uvev |= UV_READABLE;
	if (ev & POLLOUT)
		uvev |= UV_WRITABLE;
	uv_poll_start(&r->io->h, uvev, on_bus_io);
	if (sd_bus_get_timeout(r->bus, &until) >= 0 && until != UINT64_MAX) {
		now = now_usec();
		uv_timer_start(&r->bus_deadline, on_bus_deadline,
			       until > now ? (until - now + 999) / 1000 : 0, 0);
	} else {
		uv_timer_stop(&r->bus_deadline);
	}
}

/* Process everything sd-bus has, including what a synchronous call read
 * off the socket while it waited (the fd will not wake us for that). */
static void bus_dispatch(struct plat_resolved *r)
{
	int n;

	if (!r->bus)
		return;
	do
		n = sd_bus_process(r->bus, NULL);
	while (n > 0 && r->bus);
	if (!r->bus) /* dropped by a callback */
		return;
	if (n < 0 || !sd_bus_is_open(r->bus)) {
		bus_lost(r, n < 0 ? n : -ENOTCONN);
		return;
	}
	bus_arm(r);
}

static void on_resolved_appeared(uv_timer_t *t)
{
	links_push_all(t->data);
}

static int on_owner_changed(sd_bus_message *m, void *arg, sd_bus_error *e)
{
	struct plat_resolved *r = arg;
	const char *name, *old_owner, *new_owner;

	(void)e;
	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    strcmp(name, RESOLVE_NAME))
		return 0;
	r->owner = new_owner[0] != '\0';
	if (!r->owner) {
		vlog_notice(PLAT_MOD, "resolved: left the bus");
		uv_timer_stop(&r->resolved_appeared);
		return 0;
	}
	vlog_notice(PLAT_MOD, "resolved: on the bus (%s)", new_owner);
	r->reapply_tries = 0;
	uv_timer_start(&r->resolved_appeared, on_resolved_appeared,
		       RESOLVED_APPEARED_DELAY_MS, 0);
	return 0;
}

static int bus_connect(struct plat_resolved *r)
{
	sd_bus *bus = NULL;
	struct bus_io *io;
	int err, has;

	err = sd_bus_open_system(&bus);
	if (err < 0) {
		vlog_err(PLAT_MOD, "resolved: system bus: %s", strerror(-err));
		return err;
	}
	err = sd_bus_match_signal(bus, &r->owner_match, "org.freedesktop.DBus",
				  "/org/freedesktop/DBus", "org.freedesktop.DBus",
				  "NameOwnerChanged", on_owner_changed, r);
	has = err < 0 ? err : bus_has_resolved(bus);
	io = has < 0 ? NULL : calloc(1, sizeof(*io));
	if (has < 0 || !io) {
		err = has < 0 ? has : -ENOMEM;
		vlog_err(PLAT_MOD, "resolved: watching the bus: %s", strerror(-err));
		r->owner_match = sd_bus_slot_unref(r->owner_match);
		sd_bus_flush_close_unref(bus);
		return err;
	}
	err = uv_poll_init(r->loop, &io->h, sd_bus_get_fd(bus));
	if (err) {
		free(io);
		r->owner_match = sd_bus_slot_unref(r->owner_match);
		sd_bus_flush_close_unref(bus);
		return err;
	}
	io->r = r;
	r->open_handles++;
	r->io = io;
	r->bus = bus;
	r->owner = has;
	bus_dispatch(r);
	return 0;
}

/* --- Links ------------------------------------------------------------------- */

static struct resolved_link *link_find(struct plat_resolved *r, struct plat *p, int ifindex)
{
	unsigned i;

	for (i = 0; i < PLAT_RESOLVED_MAX_LINKS; i++)
		if (r->links[i].used && r->links[i].ifindex == ifindex &&
		    (!p || r->links[i].p == p))
			return &r->links[i];
	return NULL;
}

/* Is the link's journal record still there to stand for it? */
static int link_record_live(struct resolved_link *l)
{
	json_t *live, *rec;
	size_t i;
	int found = 0;

	if (plat_journal_load(&l->p->j, &live))
		return 1; /* cannot tell: keep following */
	json_array_foreach(live, i, rec)
		if ((uint64_t)json_integer_value(json_object_get(rec, "id")) == l->id)
			found = 1;
	json_decref(live);
	return found;
}

static void links_push_all(struct plat_resolved *r)
{
	unsigned i;
	int failed = 0;

	for (i = 0; i < PLAT_RESOLVED_MAX_LINKS && r->bus; i++) {
		struct resolved_link *l = &r->links[i];
		int err;

		if (!l->used)
			continue;
		if (!link_record_live(l) || plat_link_is(l->p, l->ifindex, l->ifname) == 0) {
			/* Undone behind our back, or the link is gone. */
			vlog_info(PLAT_MOD, "resolved: no longer following %s", l->ifname);
			memset(l, 0, sizeof(*l));
			continue;
		}
		err = link_push(r->bus, l->ifindex, &l->dns, l->full);
		if (err) {
			failed = 1;
			continue;
		}
		vlog_info(PLAT_MOD, "resolved: DNS of %s applied again", l->ifname);
	}
	bus_dispatch(r);
	if (failed && r->bus && r->owner && ++r->reapply_tries < RESOLVED_REAPPLY_TRIES)
		uv_timer_start(&r->resolved_appeared, on_resolved_appeared,
			       RESOLVED_APPEARED_DELAY_MS << r->reapply_tries, 0);
}

struct link_op {
	sd_bus *bus;
	int ifindex;
	const struct plat_dns *dns;
	int full;
};

static int link_apply_op(struct plat *p, const void *arg)
{
	const struct link_op *op = arg;

	(void)p;
	return link_push(op->bus, op->ifindex, op->dns, op->full);
}

/* --- The API -------------------------------------------------------------------- */

int plat_resolved_open(struct plat_resolved **out, uv_loop_t *loop)
{
	struct plat_resolved *r = calloc(1, sizeof(*r));
	int err;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	uv_timer_init(loop, &r->bus_deadline);
	uv_timer_init(loop, &r->resolved_appeared);
	uv_timer_init(loop, &r->bus_reconnect);
	r->bus_deadline.data = r->resolved_appeared.data = r->bus_reconnect.data = r;
	r->open_handles = 3;
	err = bus_connect(r);
	if (err) {
		plat_resolved_close(r);
		return err;
	}
	vlog_info(PLAT_MOD, "resolved: %s", r->owner ? "running" : "not running");
	*out = r;
	return 0;
}

int plat_resolved_available(struct plat_resolved *r)
{
	int has;

	if (!r->bus)
		return 0;
	has = bus_has_resolved(r->bus);
	bus_dispatch(r);
	if (has < 0)
		return 0;
	r->owner = has;
	return has;
}

int plat_resolved_apply(struct plat_resolved *r, struct plat *p, int ifindex,
			const struct plat_dns *dns, int full, uint64_t *id)
{
	struct resolved_link *l;
	struct link_op op;
	char ifname[IFNAMSIZ];
	json_t *rec;
	unsigned i;
	int err;

	if (!dns_valid(ifindex, dns)) {
		vlog_err(PLAT_MOD, "resolved: bad request for link %d (%u servers, %u domains)",
			 ifindex, dns->nservers, dns->nsearch);
		return -EINVAL;
	}
	err = plat_link_get(p, ifindex, ifname, NULL, NULL);
	if (err)
		return err;
	if (!plat_resolved_available(r)) {
		vlog_err(PLAT_MOD, "resolved: not running; cannot set DNS on %s", ifname);
		return -ENOENT;
	}
	if (!full && dns->nsearch == 0)
		vlog_notice(PLAT_MOD, "resolved: split tunnel without domains: the servers on %s "
			    "will not be asked", ifname);
	op.bus = r->bus;
	op.ifindex = ifindex;
	op.dns = dns;
	op.full = full;
	l = link_find(r, p, ifindex);
	if (l && strcmp(l->ifname, ifname) == 0 && link_record_live(l)) {
		/* Same link, new settings: its record still stands for it. */
		err = link_push(r->bus, ifindex, dns, full);
		if (err && err != -ENOENT && link_push(r->bus, ifindex, &l->dns, l->full) == 0)
			vlog_notice(PLAT_MOD, "resolved: kept the previous DNS of %s", ifname);
		bus_dispatch(r);
		if (err)
			return err;
		l->dns = *dns;
		l->full = full;
		if (id)
			*id = l->id;
		goto done;
	}
	if (l)
		memset(l, 0, sizeof(*l));
	for (i = 0, l = NULL; i < PLAT_RESOLVED_MAX_LINKS && !l; i++)
		if (!r->links[i].used)
			l = &r->links[i];
	if (!l)
		return -ENOSPC;
	rec = json_pack("{s:s,s:i,s:s}", "kind", "resolved-link", "ifindex", ifindex,
			"ifname", ifname);
	err = plat_change(p, rec, link_apply_op, &op, &l->id);
	bus_dispatch(r);
	if (err)
		return err;
	l->used = 1;
	l->ifindex = ifindex;
	memcpy(l->ifname, ifname, sizeof(ifname));
	l->p = p;
	l->dns = *dns;
	l->full = full;
	if (id)
		*id = l->id;
done:
	vlog_info(PLAT_MOD, "resolved: %u server(s), %u domain(s) on %s (%s)", dns->nservers,
		  dns->nsearch, ifname, full ? "all names" : "routing domains only");
	return 0;
}

int plat_resolved_revert(struct plat_resolved *r, struct plat *p, int ifindex)
{
	struct resolved_link *l = link_find(r, p, ifindex);
	uint64_t id;
	int err;

	if (!l)
		return 0;
	id = l->id;
	memset(l, 0, sizeof(*l));
	err = plat_undo(p, id);
	/* Undone already (plat_undo_all ran first): nothing left but to
	 * stop following. */
	return err == -ENOENT ? 0 : err;
}

void plat_resolved_close(struct plat_resolved *r)
{
	if (!r)
		return;
	bus_drop(r);
	r->closing = 1;
	uv_timer_stop(&r->resolved_appeared);
	uv_timer_stop(&r->bus_reconnect);
	uv_close((uv_handle_t *)&r->bus_deadline, on_handle_closed);
	uv_close((uv_handle_t *)&r->resolved_appeared, on_handle_closed);
	uv_close((uv_handle_t *)&r->bus_reconnect, on_handle_closed);
}

/* --- Undo (also from the clean-up, without a loop) -------------------------------- */

int plat_undo_resolved_link(struct plat *p, json_t *rec)
{
	char ifname[IFNAMSIZ];
	sd_bus *bus = NULL;
	uint32_t ifindex;
	int err;

	if (plat_rec_u32(rec, "ifindex", &ifindex) || ifindex == 0 || ifindex > INT_MAX ||
	    plat_rec_ifname(rec, "ifname", ifname))
		return -EBADMSG;
	err = plat_link_is(p, (int)ifindex, ifname);
	if (err <= 0)
		return err; /* gone, and resolved forgot it with the link */
	err = sd_bus_open_system(&bus);
	if (err == -ENOENT || err == -ECONNREFUSED) {
		vlog_notice(PLAT_MOD, "resolved: no system bus; nothing to revert on %s", ifname);
		return 0;
	}
	if (err < 0) {
		vlog_err(PLAT_MOD, "resolved: system bus: %s", strerror(-err));
		return err;
	}
	err = call_simple(bus, "RevertLink", (int)ifindex, NULL);
	sd_bus_flush_close_unref(bus);
	if (err == -ENOENT || err == -ENODEV) {
		/* Not running, or it does not know the link: nothing it holds. */
		vlog_notice(PLAT_MOD, "resolved: nothing to revert on %s", ifname);
		return 0;
	}
	if (!err)
		vlog_info(PLAT_MOD, "resolved: %s reverted", ifname);
	return err;
}
