/* UDP paths: IKE on 500, IKE and ESP on 4500 (RFC 7296 2.23, RFC 3948),
 * batched with recvmmsg/sendmmsg, UDP GSO/GRO when the kernel has them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which uses struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/transport/internal.h"
#include "client/util/log.h"

#define UDP_SOCKBUF (4 << 20)
#define GSO_FAILURES_MAX 8u
#define LOG_INTERVAL_MS 1000u

struct tp_udp;

struct udp_sock {
	int fd; /* -1 when closed */
	uv_poll_t poll;
	bool natt; /* connected to the NAT-T port: markers, keepalives, ESP */
	struct tp_udp *u;
};

union ctrl_rx {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

union ctrl_tx {
	char buf[CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr align;
};

struct tp_udp {
	struct tp_path base;
	struct tp_path_cfg cfg;
	struct udp_sock ike, natt;
	uv_timer_t nat_keepalive;
	uint32_t keepalive_ms; /* 0: off */
	uint64_t last_tx;      /* loop time of the last datagram sent */
	unsigned open_handles; /* libuv handles whose close callback is pending */
	unsigned gso_failures; /* consecutive GSO refusals */
	uint64_t log_next;     /* rate limit for malformed/error log lines */
	uint64_t log_suppressed;

	uint8_t *rx_mem; /* TP_RX_SLOTS * TP_RX_SLOT_SIZE, mapped lazily */
	struct mmsghdr rx_msgs[TP_RX_SLOTS];
	struct iovec rx_iov[TP_RX_SLOTS];
	union ctrl_rx rx_ctrl[TP_RX_SLOTS];
	struct pkt rx_pkts[TP_RX_SLOTS * TP_RX_MAX_SEGS];

	struct mmsghdr tx_msgs[TP_TX_BATCH];
	struct iovec tx_iov[TP_TX_BATCH];
	union ctrl_tx tx_ctrl[TP_TX_BATCH];
	uint16_t tx_count[TP_TX_BATCH]; /* packets in each message */
};

static const struct tp_ops udp_ops;

static struct tp_udp *udp_of(struct tp_path *p)
{
	return (struct tp_udp *)p;
}

static bool closing(const struct tp_udp *u)
{
	return u->base.state == TP_PATH_CLOSING;
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

static void ss_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* Log at most one line per second per path for things a remote party can
 * cause at packet rate. */
static bool log_allowed(struct tp_udp *u)
{
	uint64_t now = uv_now(u->base.loop);

	if (now < u->log_next) {
		u->log_suppressed++;
		return false;
	}
	u->log_next = now + LOG_INTERVAL_MS;
	return true;
}

/* ---- lifetime of the path's memory ---------------------------------------- */

static void udp_release(struct tp_udp *u)
{
	if (--u->open_handles)
		return;
	if (u->rx_mem)
		munmap(u->rx_mem, (size_t)TP_RX_SLOTS * TP_RX_SLOT_SIZE);
	free(u);
}

static void on_poll_closed(uv_handle_t *h)
{
	udp_release(((struct udp_sock *)h->data)->u);
}

static void on_timer_closed(uv_handle_t *h)
{
	udp_release(h->data);
}

static void udp_sock_close(struct udp_sock *s)
{
	if (s->fd < 0)
		return;
	/* uv_close takes the fd out of epoll at once; closing the fd right
	 * after is then safe, only the handle memory waits for the callback. */
	uv_close((uv_handle_t *)&s->poll, on_poll_closed);
	close(s->fd);
	s->fd = -1;
}

static void udp_close(struct tp_path *path)
{
	struct tp_udp *u = udp_of(path);

	if (tp_path_transition(path, TP_PATH_CLOSING) < 0)
		return;
	uv_timer_stop(&u->nat_keepalive);
	uv_close((uv_handle_t *)&u->nat_keepalive, on_timer_closed);
	udp_sock_close(&u->ike);
	udp_sock_close(&u->natt);
}

/* ---- errors the network reports ---------------------------------------------- */

static void report_error(struct tp_udp *u, int err, uint32_t info)
{
	char r[64];

	u->base.stats.errors++;
	if (log_allowed(u))
		vlog_notice("transport", "path to %s: %s%s",
			    tp_addr_str(&u->base.remote, r, sizeof(r)), strerror(-err),
			    err == -EMSGSIZE ? " (path MTU reported)" : "");
	u->base.cb.error(&u->base, err, info, u->base.cb.arg);
}

/* Drain the error queue (IP_RECVERR) and the pending socket error. Returns
 * how many errors were reported. */
static int drain_errors(struct tp_udp *u, struct udp_sock *s)
{
	int reported = 0, i, soerr = 0;
	socklen_t sl = sizeof(soerr);

	for (i = 0; i < 64 && !closing(u) && s->fd >= 0; i++) {
		uint8_t data[64];
		union {
			char buf[512];
			struct cmsghdr align;
		} ctrl;
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctrl.buf,
				    .msg_controllen = sizeof(ctrl.buf)};
		struct cmsghdr *c;

		if (recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			struct sock_extended_err ee;

			if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
				continue;
			if (c->cmsg_len < CMSG_LEN(sizeof(ee)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			if (ee.ee_errno == 0)
				continue;
			report_error(u, -(int)ee.ee_errno, ee.ee_info);
			reported++;
			if (closing(u))
				return reported;
		}
	}
	if (!closing(u) && s->fd >= 0 &&
	    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr &&
	    !reported) {
		report_error(u, -soerr, 0);
		reported++;
	}
	return reported;
}

/* ---- receive ------------------------------------------------------------------ */

static void rx_reset(struct tp_udp *u, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct msghdr *mh = &u->rx_msgs[i].msg_hdr;

		u->rx_iov[i].iov_base = u->rx_mem + (size_t)i * TP_RX_SLOT_SIZE;
		u->rx_iov[i].iov_len = TP_RX_SLOT_SIZE;
		mh->msg_name = NULL;
		mh->msg_namelen = 0;
		mh->msg_iov = &u->rx_iov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = u->rx_ctrl[i].buf;
		mh->msg_controllen = sizeof(u->rx_ctrl[i].buf);
		mh->msg_flags = 0;
	}
}

static size_t gro_size(struct msghdr *mh, size_t len)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int seg;

			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
			if (seg > 0 && (size_t)seg < len)
				return (size_t)seg;
		}
	}
	return len;
}

static void malformed(struct tp_udp *u, size_t len, const char *why)
{
	char r[64];

	u->base.stats.rx_malformed++;
	if (log_allowed(u))
		vlog_info("transport", "path to %s: dropped %zu-byte datagram: %s",
			  tp_addr_str(&u->base.remote, r, sizeof(r)), len, why);
}

static void flush_esp(struct tp_udp *u, size_t *np)
{
	size_t n = *np;

	*np = 0;
	if (n && !closing(u))
		u->base.cb.esp(&u->base, u->rx_pkts, n, u->base.cb.arg);
}

static void rx_one(struct tp_udp *u, struct udp_sock *s, uint8_t *d, size_t len,
		   size_t *np)
{
	size_t skip;

	u->base.stats.rx_datagrams++;
	switch (tp_demux_udp(d, len, s->natt, &skip)) {
	case TP_RX_ESP:
		if (*np == TP_RX_SLOTS * TP_RX_MAX_SEGS)
			flush_esp(u, np);
		/* A view, no headroom claimed: the bytes before it may be the
		 * previous segment of a GRO packet, still in use. */
		pkt_view(&u->rx_pkts[(*np)++], d, len, 0, 0);
		u->base.stats.rx_esp++;
		break;
	case TP_RX_IKE:
		/* Keep arrival order between IKE and the ESP before it. */
		flush_esp(u, np);
		if (closing(u))
			return;
		u->base.stats.rx_ike++;
		u->base.cb.ike(&u->base, d + skip, len - skip, u->base.cb.arg);
		break;
	case TP_RX_KEEPALIVE:
		u->base.stats.rx_keepalive++;
		break;
	case TP_RX_MALFORMED:
		malformed(u, len, s->natt ? "neither IKE, ESP nor keepalive" : "too short for IKE");
		break;
	}
}

static void rx_batch(struct tp_udp *u, struct udp_sock *s, unsigned n)
{
	size_t np = 0;
	unsigned i;

	for (i = 0; i < n && !closing(u); i++) {
		struct msghdr *mh = &u->rx_msgs[i].msg_hdr;
		size_t len = u->rx_msgs[i].msg_len, seg, off;
		uint8_t *base = u->rx_iov[i].iov_base;

		if (mh->msg_flags & MSG_TRUNC) {
			malformed(u, len, "larger than the receive slot");
			continue;
		}
		seg = gro_size(mh, len);
		for (off = 0; off < len && !closing(u); off += seg)
			rx_one(u, s, base + off, len - off < seg ? len - off : seg, &np);
	}
	flush_esp(u, &np);
	rx_reset(u, n);
}

static void udp_rx(struct tp_udp *u, struct udp_sock *s)
{
	unsigned round;
	int n;

	for (round = 0; round < TP_RX_ROUNDS && !closing(u) && s->fd >= 0; round++) {
		n = recvmmsg(s->fd, u->rx_msgs, TP_RX_SLOTS, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* A pending ICMP error surfaces here too; the error
			 * queue holds its details. */
			{
				int err = -errno;

				if (!drain_errors(u, s) && !closing(u))
					report_error(u, err, 0);
			}
			return;
		}
		if (n == 0)
			return;
		u->base.stats.rx_calls++;
		rx_batch(u, s, (unsigned)n);
		/* A short batch means the queue is (nearly) empty: skip the
		 * recvmmsg that would only say EAGAIN; epoll is level-triggered
		 * and calls us again for anything that arrived meanwhile. */
		if ((unsigned)n < TP_RX_SLOTS)
			return;
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct udp_sock *s = h->data;
	struct tp_udp *u = s->u;

	if (closing(u) || s->fd < 0)
		return;
	if (status < 0) {
		/* libuv stops a poll handle when epoll says EPOLLERR, which a
		 * UDP socket does while an ICMP error is queued: drain the
		 * errors, then watch the socket again. */
		drain_errors(u, s);
		if (!closing(u) && s->fd >= 0)
			uv_poll_start(&s->poll, UV_READABLE, on_poll);
		return;
	}
	if (events & UV_READABLE)
		udp_rx(u, s);
}

/* ---- sockets --------------------------------------------------------------- */

static void set_buf(int fd, int force_opt, int opt)
{
	int v = UDP_SOCKBUF;

	/* FORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static int sock_fail(struct tp_udp *u, int fd, const char *what)
{
	int err = -errno;
	char r[64];

	vlog_err("transport", "path to %s: %s: %s",
		 tp_addr_str(&u->cfg.remote, r, sizeof(r)), what, strerror(-err));
	if (fd >= 0)
		close(fd);
	return err;
}

static int udp_sock_open(struct tp_udp *u, struct udp_sock *s, uint16_t rport,
			 uint16_t lport, bool natt)
{
	const struct tp_path_cfg *cfg = &u->cfg;
	int family = cfg->remote.ss_family, fd, one = 1, r;
	struct sockaddr_storage remote = cfg->remote, local;
	socklen_t ll = sizeof(local);

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return sock_fail(u, -1, "socket");
	if (cfg->ifname[0] &&
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg->ifname,
		       (socklen_t)strnlen(cfg->ifname, sizeof(cfg->ifname))) < 0)
		return sock_fail(u, fd, "SO_BINDTODEVICE");
	if (cfg->fwmark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &cfg->fwmark, sizeof(cfg->fwmark)) < 0)
		return sock_fail(u, fd, "SO_MARK");
	if (family == AF_INET6)
		r = setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
	else
		r = setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
	if (r < 0)
		return sock_fail(u, fd, "IP_RECVERR");
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF);

	if (cfg->local.ss_family != AF_UNSPEC || lport) {
		if (cfg->local.ss_family != AF_UNSPEC) {
			local = cfg->local;
		} else {
			memset(&local, 0, sizeof(local));
			local.ss_family = (sa_family_t)family;
		}
		ss_set_port(&local, lport);
		if (bind(fd, (struct sockaddr *)&local, ss_len(&local)) < 0)
			return sock_fail(u, fd, "bind");
	}
	ss_set_port(&remote, rport);
	if (connect(fd, (struct sockaddr *)&remote, ss_len(&remote)) < 0)
		return sock_fail(u, fd, "connect");
	if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0)
		return sock_fail(u, fd, "getsockname");

	if (natt) {
		int v = 0;
		socklen_t vl = sizeof(v);

		/* Probe, don't assume: UDP_SEGMENT/UDP_GRO exist since 4.18/5.0. */
		u->base.gso = !cfg->no_gso &&
			      getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &vl) == 0;
		u->base.gro = !cfg->no_gro &&
			      setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	}
	r = uv_poll_init(u->base.loop, &s->poll, fd);
	if (r < 0) {
		errno = -r;
		return sock_fail(u, fd, "uv_poll_init");
	}
	s->fd = fd;
	s->natt = natt;
	s->u = u;
	s->poll.data = s;
	u->open_handles++;
	uv_poll_start(&s->poll, UV_READABLE, on_poll);
	u->base.local = local;
	u->base.remote = remote;
	return 0;
}

/* ---- keepalives ------------------------------------------------------------ */

static void keepalive_arm(struct tp_udp *u, uint64_t after);

static void on_nat_keepalive(uv_timer_t *t)
{
	struct tp_udp *u = t->data;
	uint64_t now = uv_now(u->base.loop), idle = now - u->last_tx;
	static const uint8_t ka = 0xff;

	if (closing(u) || u->natt.fd < 0 || !u->keepalive_ms)
		return;
	if (idle < u->keepalive_ms) {
		/* Something else went out meanwhile and refreshed the NAT
		 * mapping; look again when the interval after it ends. */
		keepalive_arm(u, u->keepalive_ms - idle);
		return;
	}
	if (send(u->natt.fd, &ka, 1, MSG_DONTWAIT) == 1) {
		u->base.stats.tx_keepalive++;
		u->last_tx = now;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
		int err = -errno;

		if (!drain_errors(u, &u->natt) && !closing(u))
			report_error(u, err, 0);
		if (closing(u))
			return;
	}
	keepalive_arm(u, u->keepalive_ms);
}

static void keepalive_arm(struct tp_udp *u, uint64_t after)
{
	if (closing(u) || u->base.state != TP_PATH_NATT || !u->keepalive_ms) {
		uv_timer_stop(&u->nat_keepalive);
		return;
	}
	uv_timer_start(&u->nat_keepalive, on_nat_keepalive, after, 0);
}

static uint32_t keepalive_interval(uint32_t ms)
{
	if (ms == TP_KEEPALIVE_OFF)
		return 0;
	return ms == TP_KEEPALIVE_DEFAULT ? TP_KEEPALIVE_DEFAULT_MS : ms;
}

static int udp_set_keepalive(struct tp_path *path, uint32_t ms)
{
	struct tp_udp *u = udp_of(path);

	u->keepalive_ms = keepalive_interval(ms);
	keepalive_arm(u, u->keepalive_ms);
	return 0;
}

/* ---- send ------------------------------------------------------------------ */

static int udp_send_ike(struct tp_path *path, const uint8_t *msg, size_t len)
{
	static const uint8_t marker[TP_NON_ESP_MARKER_LEN];
	struct tp_udp *u = udp_of(path);
	struct udp_sock *s = path->state == TP_PATH_NATT ? &u->natt : &u->ike;
	struct iovec iov[2];
	struct msghdr mh = {0};
	int n = 0;

	if (s->fd < 0)
		return -ENOTCONN;
	if (len < TP_IKE_HDR_LEN || len > TP_RX_SLOT_SIZE - 64)
		return -EINVAL;
	if (s->natt) {
		iov[n].iov_base = (void *)marker;
		iov[n++].iov_len = sizeof(marker);
	}
	iov[n].iov_base = (void *)msg;
	iov[n++].iov_len = len;
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n;
	path->stats.tx_calls++;
	if (sendmsg(s->fd, &mh, MSG_DONTWAIT) < 0)
		return -errno;
	path->stats.tx_ike++;
	u->last_tx = uv_now(path->loop);
	return 0;
}

/* One message per packet, no GSO: the fallback, and the whole path when
 * the kernel lacks UDP_SEGMENT. */
static int send_plain(struct tp_udp *u, struct pkt *const *pkts, size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		struct msghdr *mh = &u->tx_msgs[i].msg_hdr;

		u->tx_iov[i].iov_base = pkts[i]->data;
		u->tx_iov[i].iov_len = pkts[i]->len;
		memset(mh, 0, sizeof(*mh));
		mh->msg_iov = &u->tx_iov[i];
		mh->msg_iovlen = 1;
	}
	do {
		u->base.stats.tx_calls++;
		r = sendmmsg(u->natt.fd, u->tx_msgs, (unsigned)n, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* Fill tx_msgs from pkts: consecutive packets of one size (the last of a
 * run may be shorter) become one GSO message. Returns the message count;
 * *used is how many packets they hold. */
static unsigned build_batch(struct tp_udp *u, struct pkt *const *pkts, size_t n,
			    size_t *used)
{
	unsigned nmsg = 0, niov = 0;
	size_t i = 0;

	while (i < n && nmsg < TP_TX_BATCH && niov < TP_TX_BATCH) {
		struct msghdr *mh = &u->tx_msgs[nmsg].msg_hdr;
		size_t seg = pkts[i]->len, count = 1;

		if (u->base.gso) {
			while (i + count < n && niov + count < TP_TX_BATCH &&
			       count < TP_GSO_MAX_SEGS &&
			       (count + 1) * seg <= TP_GSO_MAX_BYTES &&
			       pkts[i + count]->len <= seg) {
				bool shorter = pkts[i + count]->len < seg;

				count++;
				if (shorter)
					break; /* only the last segment may be short */
			}
		}
		memset(mh, 0, sizeof(*mh));
		mh->msg_iov = &u->tx_iov[niov];
		mh->msg_iovlen = count;
		for (size_t k = 0; k < count; k++) {
			u->tx_iov[niov + k].iov_base = pkts[i + k]->data;
			u->tx_iov[niov + k].iov_len = pkts[i + k]->len;
		}
		if (count > 1) {
			struct cmsghdr *c;
			uint16_t gso = (uint16_t)seg;

			mh->msg_control = u->tx_ctrl[nmsg].buf;
			mh->msg_controllen = sizeof(u->tx_ctrl[nmsg].buf);
			c = CMSG_FIRSTHDR(mh);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(c), &gso, sizeof(gso));
		}
		u->tx_count[nmsg++] = (uint16_t)count;
		niov += (unsigned)count;
		i += count;
	}
	*used = i;
	return nmsg;
}

static bool gso_refusal(int err)
{
	/* EIO: no checksum offload path or an xfrm policy on the route;
	 * EINVAL: segment larger than the route MTU; EOPNOTSUPP/ENOPROTOOPT:
	 * no UDP GSO at all. Plain datagrams work in all these cases. */
	return err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT ||
	       err == EMSGSIZE;
}

static void gso_refused(struct tp_udp *u, int err)
{
	char r[64];

	u->base.stats.gso_fallbacks++;
	if (++u->gso_failures < GSO_FAILURES_MAX)
		return;
	u->base.gso = false;
	vlog_notice("transport", "path to %s: the kernel refuses UDP GSO (%s); "
		    "sending plain datagrams from now on",
		    tp_addr_str(&u->base.remote, r, sizeof(r)), strerror(err));
}

static int udp_send_esp(struct tp_path *path, struct pkt *const *pkts, size_t n)
{
	struct tp_udp *u = udp_of(path);
	size_t done = 0, sent = 0;
	int first_err = 0;

	if (path->state != TP_PATH_NATT || u->natt.fd < 0)
		return -ENOTCONN;
	while (done < n) {
		size_t used, k;
		unsigned nmsg = build_batch(u, pkts + done, n - done, &used);
		int r;

		path->stats.tx_calls++;
		r = sendmmsg(u->natt.fd, u->tx_msgs, nmsg, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			for (k = 0; k < (unsigned)r; k++) {
				sent += u->tx_count[k];
				done += u->tx_count[k];
				if (u->tx_count[k] > 1)
					path->stats.tx_gso_msgs++;
			}
			u->gso_failures = 0;
			continue; /* a short count: the next call gets the errno */
		}
		if (r == 0)
			break;
		if (u->tx_count[0] > 1 && gso_refusal(errno)) {
			int err = errno;

			r = send_plain(u, pkts + done, u->tx_count[0]);
			gso_refused(u, err);
			if (r > 0) {
				sent += (size_t)r;
				done += u->tx_count[0];
				continue;
			}
			errno = -r;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			first_err = -errno;
		break;
	}
	path->stats.tx_esp += sent;
	path->stats.tx_dropped += n - sent;
	if (sent)
		u->last_tx = uv_now(path->loop);
	if (!sent && first_err)
		return first_err;
	if (!sent && n)
		return -EAGAIN;
	return (int)sent;
}

/* ---- open, float ----------------------------------------------------------- */

static int udp_float(struct tp_path *path)
{
	struct tp_udp *u = udp_of(path);
	int r;

	if (path->state == TP_PATH_NATT)
		return -EALREADY;
	r = udp_sock_open(u, &u->natt, u->cfg.remote_natt_port, u->cfg.local_natt_port,
			  true);
	if (r < 0)
		return r;
	r = tp_path_transition(path, TP_PATH_NATT);
	if (r < 0)
		return r;
	/* Nothing more is expected from port 500 once we moved: RFC 7296
	 * 2.23 has both ends continue on 4500. */
	udp_sock_close(&u->ike);
	u->last_tx = uv_now(path->loop);
	keepalive_arm(u, u->keepalive_ms);
	return 0;
}

static const struct tp_ops udp_ops = {
	.send_ike = udp_send_ike,
	.send_esp = udp_send_esp,
	.float_natt = udp_float,
	.set_keepalive = udp_set_keepalive,
	.close = udp_close,
};

static int check_cfg(const struct tp_path_cfg *cfg)
{
	int fam = cfg->remote.ss_family;

	if (fam != AF_INET && fam != AF_INET6)
		return -EINVAL;
	if (cfg->local.ss_family != AF_UNSPEC && cfg->local.ss_family != fam)
		return -EINVAL;
	if (memchr(cfg->ifname, 0, sizeof(cfg->ifname)) == NULL)
		return -EINVAL;
	return 0;
}

int tp_udp_open(uv_loop_t *loop, const struct tp_path_cfg *cfg,
		const struct tp_callbacks *cb, struct tp_path **out)
{
	struct tp_udp *u;
	char r[64];
	int err;

	err = check_cfg(cfg);
	if (err < 0) {
		vlog_err("transport", "UDP path: invalid configuration");
		return err;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->rx_mem = mmap(NULL, (size_t)TP_RX_SLOTS * TP_RX_SLOT_SIZE,
			 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->rx_mem == MAP_FAILED) {
		free(u);
		return -ENOMEM;
	}
	u->cfg = *cfg;
	if (!u->cfg.remote_ike_port)
		u->cfg.remote_ike_port = TP_PORT_IKE;
	if (!u->cfg.remote_natt_port)
		u->cfg.remote_natt_port = TP_PORT_NATT;
	u->ike.fd = u->natt.fd = -1;
	u->base.ops = &udp_ops;
	u->base.kind = TP_UDP;
	u->base.state = cfg->natt ? TP_PATH_NATT : TP_PATH_IKE;
	u->base.loop = loop;
	u->base.cb = *cb;
	u->base.remote = cfg->remote;
	u->keepalive_ms = keepalive_interval(cfg->keepalive_ms);
	rx_reset(u, TP_RX_SLOTS);

	uv_timer_init(loop, &u->nat_keepalive);
	u->nat_keepalive.data = u;
	u->open_handles = 1;

	if (cfg->natt)
		err = udp_sock_open(u, &u->natt, u->cfg.remote_natt_port,
				    u->cfg.local_natt_port, true);
	else
		err = udp_sock_open(u, &u->ike, u->cfg.remote_ike_port,
				    u->cfg.local_ike_port, false);
	if (err < 0) {
		/* The timer handle exists: release through the normal close. */
		udp_close(&u->base);
		return err;
	}
	u->last_tx = uv_now(loop);
	keepalive_arm(u, u->keepalive_ms);
	vlog_info("transport", "UDP path to %s opened (%s%s%s)",
		  tp_addr_str(&u->base.remote, r, sizeof(r)), tp_state_name(u->base.state),
		  u->base.gso ? ", GSO" : "", u->base.gro ? ", GRO" : "");
	*out = &u->base;
	return 0;
}
