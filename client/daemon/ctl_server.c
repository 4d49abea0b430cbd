/* Control socket server: one connection = one bounded line reader, one
 * deadline timer and at most one call in flight (see ctl_server.h).
 *
 * Lifetime rules that keep a hung-up client harmless: a call and its
 * connection point at each other; whichever ends first clears the other's
 * pointer. A connection is freed only in the close callback of its last
 * handle, and write requests own their buffers, so nothing the loop still
 * holds points into freed memory. */
#define _GNU_SOURCE
#include "client/daemon/ctl_server.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/util/log.h"

#define MOD "ctl"
#define DEFAULT_MAX_CONNS 32
#define DEFAULT_REQUEST_TIMEOUT_MS 30000
/* After an error reply, how long the client gets to take it before we cut. */
#define DRAIN_TIMEOUT_MS 1000
/* Replies queued for a client that does not read; beyond this it is cut. */
#define WRITE_QUEUE_MAX (4u * CTL_RESPONSE_MAX)
#define LISTEN_BACKLOG 64

enum conn_state {
	CONN_IDLE,     /* waiting for a request line */
	CONN_CALL,     /* a call is in flight */
	CONN_DRAINING, /* error reply sent, shutting down our side */
	CONN_CLOSED,   /* uv_close() called, freed when both handles closed */
};

struct ctl_conn {
	struct ctl_server *srv;
	struct ctl_conn *prev, *next;
	uv_pipe_t pipe;
	uv_timer_t request_deadline; /* idle: whole request due; draining: cut */
	uv_shutdown_t shutdown_req;
	enum conn_state state;
	int open_handles;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int may_control; /* -1: not looked up yet, 0: no, 1: yes */
	struct ctl_call *call;
	size_t len;
	char buf[CTL_REQUEST_MAX + 1]; /* a full line plus its '\n' */
};

struct ctl_call {
	struct ctl_conn *conn; /* NULL once the client is gone */
	enum ctl_op op;
	bool has_name;
	char name[CTL_NAME_MAX + 1];
	uid_t uid;
	pid_t pid;
};

struct ctl_server {
	uv_loop_t *loop;
	uv_pipe_t listener;
	bool listener_open;
	const struct ctl_ops *ops;
	void *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char group[64];
	dev_t dev;
	ino_t ino;
	unsigned max_conns, request_timeout_ms;
	struct ctl_conn *conns;
	size_t n_conns;
	bool stopping;
	void (*done)(void *arg);
	void *done_arg;
};

static const char *const conn_state_names[] = {
	[CONN_IDLE] = "idle",
	[CONN_CALL] = "call",
	[CONN_DRAINING] = "draining",
	[CONN_CLOSED] = "closed",
};

static void conn_close(struct ctl_conn *conn);

/* ---- connection state machine ---------------------------------------- */

static bool conn_move_allowed(enum conn_state from, enum conn_state to)
{
	switch (from) {
	case CONN_IDLE: return to == CONN_CALL || to == CONN_DRAINING || to == CONN_CLOSED;
	case CONN_CALL: return to == CONN_IDLE || to == CONN_DRAINING || to == CONN_CLOSED;
	case CONN_DRAINING: return to == CONN_CLOSED;
	case CONN_CLOSED: return false;
	}
	return false;
}

static void conn_arm_deadline(struct ctl_conn *conn);

/* The one place a connection changes state; the deadline follows it. */
static int conn_set_state(struct ctl_conn *conn, enum conn_state to)
{
	if (!conn_move_allowed(conn->state, to)) {
		vlog_err(MOD, "uid %u pid %d: refused connection move %s -> %s",
			 (unsigned)conn->uid, (int)conn->pid,
			 conn_state_names[conn->state], conn_state_names[to]);
		return -EINVAL;
	}
	vlog_debug(MOD, "uid %u pid %d: connection %s -> %s", (unsigned)conn->uid,
		   (int)conn->pid, conn_state_names[conn->state], conn_state_names[to]);
	conn->state = to;
	conn_arm_deadline(conn);
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

struct wreq {
	uv_write_t req;
	char *line;
};

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	/* The connection may be gone; only the request is ours to touch. */
	if (status < 0 && status != UV_ECANCELED)
		vlog_debug(MOD, "reply not delivered: %s", uv_strerror(status));
	free(w->line);
	free(w);
}

/* Queue one reply line; takes ownership of `line`. */
static void conn_send(struct ctl_conn *conn, char *line)
{
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (conn->state == CONN_CLOSED || conn->state == CONN_DRAINING) {
		free(line);
		return;
	}
	if (!line) {
		vlog_err(MOD, "uid %u pid %d: cannot encode a reply (out of memory); closing",
			 (unsigned)conn->uid, (int)conn->pid);
		conn_close(conn);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&conn->pipe) > WRITE_QUEUE_MAX) {
		vlog_warn(MOD, "uid %u pid %d: client does not read its replies; closing",
			  (unsigned)conn->uid, (int)conn->pid);
		free(line);
		conn_close(conn);
		return;
	}
	w = malloc(sizeof(*w));
	if (!w) {
		free(line);
		conn_close(conn);
		return;
	}
	w->line = line;
	b = uv_buf_init(line, (unsigned)strlen(line));
	rc = uv_write(&w->req, (uv_stream_t *)&conn->pipe, &b, 1, on_written);
	if (rc < 0) {
		vlog_debug(MOD, "uid %u pid %d: write: %s", (unsigned)conn->uid,
			   (int)conn->pid, uv_strerror(rc));
		free(line);
		free(w);
		conn_close(conn);
	}
}

/* ---- closing ---------------------------------------------------------- */

static void server_maybe_done(struct ctl_server *srv)
{
	void (*done)(void *);
	void *arg;

	if (!srv->stopping || srv->listener_open || srv->n_conns)
		return;
	done = srv->done;
	arg = srv->done_arg;
	free(srv);
	if (done)
		done(arg);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct ctl_conn *conn = h->data;
	struct ctl_server *srv = conn->srv;

	if (--conn->open_handles > 0)
		return;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		srv->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	srv->n_conns--;
	free(conn);
	server_maybe_done(srv);
}

/* The call outlives the connection: mark it so its op can still finish it. */
static void conn_detach_call(struct ctl_conn *conn)
{
	struct ctl_call *call = conn->call;

	if (!call)
		return;
	call->conn = NULL;
	conn->call = NULL;
	if (call->op == CTL_OP_UP)
		vlog_info(MOD, "uid %u pid %d: client went away during up %s; the up continues",
			  (unsigned)conn->uid, (int)conn->pid, call->name);
	else
		vlog_info(MOD, "uid %u pid %d: client went away during %s",
			  (unsigned)conn->uid, (int)conn->pid, ctl_op_name(call->op));
}

static void conn_close(struct ctl_conn *conn)
{
	if (conn->state == CONN_CLOSED)
		return;
	conn_detach_call(conn);
	conn_set_state(conn, CONN_CLOSED);
	uv_close((uv_handle_t *)&conn->pipe, on_conn_handle_closed);
	uv_close((uv_handle_t *)&conn->request_deadline, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct ctl_conn *conn = req->data;

	(void)status;
	conn_close(conn);
}

/* A bad client: log, tell it why in one line, and let only it go. */
static void conn_fail(struct ctl_conn *conn, enum ctl_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conn_fail(struct ctl_conn *conn, enum ctl_err code, const char *fmt, ...)
{
	char why[CTL_TEXT_MAX], shown[CTL_TEXT_MAX];
	va_list ap;

	if (conn->state == CONN_CLOSED || conn->state == CONN_DRAINING)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ctl_text_clean(shown, sizeof(shown), why);
	vlog_warn(MOD, "uid %u pid %d: %s; closing the connection", (unsigned)conn->uid,
		  (int)conn->pid, shown);
	conn_send(conn, ctl_encode_error(code, shown));
	if (conn->state == CONN_CLOSED)
		return;
	conn_detach_call(conn);
	conn_set_state(conn, CONN_DRAINING);
	uv_read_stop((uv_stream_t *)&conn->pipe);
	conn->shutdown_req.data = conn;
	if (uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->pipe, on_shutdown) < 0)
		conn_close(conn);
}

/* ---- deadline ----------------------------------------------------------- */

static void on_request_deadline(uv_timer_t *t)
{
	struct ctl_conn *conn = t->data;

	if (conn->state == CONN_IDLE)
		vlog_warn(MOD, "uid %u pid %d: no complete request within %u ms; closing",
			  (unsigned)conn->uid, (int)conn->pid, conn->srv->request_timeout_ms);
	conn_close(conn);
}

static void conn_arm_deadline(struct ctl_conn *conn)
{
	switch (conn->state) {
	case CONN_IDLE:
		uv_timer_start(&conn->request_deadline, on_request_deadline,
			       conn->srv->request_timeout_ms, 0);
		break;
	case CONN_DRAINING:
		uv_timer_start(&conn->request_deadline, on_request_deadline,
			       DRAIN_TIMEOUT_MS, 0);
		break;
	default:
		uv_timer_stop(&conn->request_deadline);
		break;
	}
}

/* ---- who may act ------------------------------------------------------ */

static char *alloc_nss_buf(long hint, size_t *cap)
{
	*cap = hint > 0 ? (size_t)hint : 16384;
	return malloc(*cap);
}

/* getgrnam_r/getpwuid_r want a caller buffer whose size is a guess: grow it
 * on ERANGE up to a sane limit. */
static int lookup_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	size_t cap;
	char *buf = alloc_nss_buf(sysconf(_SC_GETGR_R_SIZE_MAX), &cap);
	int rc;

	for (;;) {
		if (!buf)
			return -ENOMEM;
		rc = getgrnam_r(name, &gr, buf, cap, &res);
		if (rc != ERANGE || cap >= (1u << 20))
			break;
		cap *= 2;
		free(buf);
		buf = malloc(cap);
	}
	if (rc == 0 && res)
		*gid = gr.gr_gid;
	free(buf);
	if (rc)
		return -rc;
	return res ? 0 : -ENOENT;
}

static bool user_in_group(uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	gid_t *groups = NULL;
	int n = 32, rc;
	bool member = false;
	size_t cap;
	char *buf = alloc_nss_buf(sysconf(_SC_GETPW_R_SIZE_MAX), &cap);

	for (;;) {
		if (!buf)
			return false;
		rc = getpwuid_r(uid, &pw, buf, cap, &res);
		if (rc != ERANGE || cap >= (1u << 20))
			break;
		cap *= 2;
		free(buf);
		buf = malloc(cap);
	}
	if (rc || !res) {
		free(buf);
		return false;
	}
	for (int tries = 0; tries < 4 && !member; tries++) {
		int want = n;
		gid_t *g = realloc(groups, (size_t)n * sizeof(*g));

		if (!g)
			break;
		groups = g;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &want) >= 0) {
			for (int i = 0; i < want; i++)
				member = member || groups[i] == gid;
			break;
		}
		n = want > n ? want : n * 2;
	}
	free(groups);
	free(buf);
	return member;
}

/* Root, or the group as the peer's primary group or in the group database.
 * Looked up when first needed, so a status reader costs no NSS lookup and
 * a group created after vpnd started counts. */
static bool conn_may_control(struct ctl_conn *conn)
{
	gid_t gid;
	int rc;

	if (conn->may_control >= 0)
		return conn->may_control;
	conn->may_control = 0;
	if (conn->uid == 0) {
		conn->may_control = 1;
		return true;
	}
	rc = lookup_group(conn->srv->group, &gid);
	if (rc == 0)
		conn->may_control = conn->gid == gid || user_in_group(conn->uid, gid);
	else if (rc != -ENOENT)
		vlog_err(MOD, "looking up group %s: %s", conn->srv->group, strerror(-rc));
	return conn->may_control;
}

/* ---- requests ------------------------------------------------------------- */

static void dispatch(struct ctl_conn *conn, const struct ctl_request *req)
{
	struct ctl_server *srv = conn->srv;
	struct ctl_call *call = calloc(1, sizeof(*call));
	const char *name;

	if (!call) {
		conn_fail(conn, CTL_ERR_INTERNAL, "out of memory");
		return;
	}
	call->conn = conn;
	call->op = req->op;
	call->has_name = req->has_name;
	memcpy(call->name, req->name, sizeof(call->name));
	call->uid = conn->uid;
	call->pid = conn->pid;
	conn->call = call;
	conn_set_state(conn, CONN_CALL);
	name = call->has_name ? call->name : NULL;
	switch (call->op) {
	case CTL_OP_UP: srv->ops->up(srv->ctx, name, call); break;
	case CTL_OP_DOWN: srv->ops->down(srv->ctx, name, call); break;
	case CTL_OP_STATUS: srv->ops->status(srv->ctx, name, call); break;
	case CTL_OP_LIST: srv->ops->list(srv->ctx, call); break;
	}
}

static void handle_line(struct ctl_conn *conn, const char *line, size_t len)
{
	struct ctl_request req;
	char why[CTL_TEXT_MAX];

	if (ctl_request_decode(line, len, &req, why, sizeof(why)) < 0) {
		conn_fail(conn, CTL_ERR_PROTOCOL, "bad request: %s", why);
		return;
	}
	vlog_info(MOD, "uid %u pid %d: %s%s%s", (unsigned)conn->uid, (int)conn->pid,
		  ctl_op_name(req.op), req.has_name ? " " : "", req.has_name ? req.name : "");
	if ((req.op == CTL_OP_UP || req.op == CTL_OP_DOWN) && !conn_may_control(conn)) {
		char text[CTL_TEXT_MAX];

		vlog_notice(MOD, "uid %u pid %d: %s refused: not root and not in group %s",
			    (unsigned)conn->uid, (int)conn->pid, ctl_op_name(req.op),
			    conn->srv->group);
		snprintf(text, sizeof(text), "permission denied (join the group %s)",
			 conn->srv->group);
		conn_send(conn, ctl_encode_error(CTL_ERR_PERMISSION, text));
		conn_arm_deadline(conn); /* the next request gets a full period */
		return;
	}
	dispatch(conn, &req);
}

/* Handle every complete line in the buffer, in order, one call at a time. */
static void conn_process(struct ctl_conn *conn)
{
	while (conn->state == CONN_IDLE || conn->state == CONN_CALL) {
		char *nl = memchr(conn->buf, '\n', conn->len);
		size_t line_len;

		if (!nl) {
			if (conn->len > CTL_REQUEST_MAX)
				conn_fail(conn, CTL_ERR_PROTOCOL,
					  "request longer than %u bytes", CTL_REQUEST_MAX);
			return;
		}
		if (conn->state == CONN_CALL) {
			conn_fail(conn, CTL_ERR_PROTOCOL,
				  "request sent before the previous one finished");
			return;
		}
		line_len = (size_t)(nl - conn->buf);
		handle_line(conn, conn->buf, line_len);
		/* The buffer stays valid even if that closed the connection:
		 * it is freed only in the close callback. */
		conn->len -= line_len + 1;
		memmove(conn->buf, nl + 1, conn->len);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct ctl_conn *conn = h->data;

	(void)suggested;
	b->base = conn->buf + conn->len;
	b->len = sizeof(conn->buf) - conn->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct ctl_conn *conn = s->data;

	(void)b;
	if (nread == UV_EOF) {
		if (conn->len)
			vlog_warn(MOD, "uid %u pid %d: connection closed in the middle of a request "
				       "(%zu bytes without a newline)",
				  (unsigned)conn->uid, (int)conn->pid, conn->len);
		conn_close(conn);
		return;
	}
	if (nread < 0) {
		vlog_warn(MOD, "uid %u pid %d: read: %s; closing", (unsigned)conn->uid,
			  (int)conn->pid, uv_strerror((int)nread));
		conn_close(conn);
		return;
	}
	conn->len += (size_t)nread;
	conn_process(conn);
}

/* ---- accepting ------------------------------------------------------------ */

static int conn_read_cred(struct ctl_conn *conn)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	uv_os_fd_t fd;
	int rc = uv_fileno((uv_handle_t *)&conn->pipe, &fd);

	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return -errno;
	conn->uid = uc.uid;
	conn->gid = uc.gid;
	conn->pid = uc.pid;
	return 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct ctl_server *srv = listener->data;
	struct ctl_conn *conn;
	int rc;

	if (status < 0) {
		vlog_err(MOD, "accept on %s: %s", srv->path, uv_strerror(status));
		return;
	}
	conn = malloc(sizeof(*conn));
	if (!conn) {
		vlog_err(MOD, "out of memory for a control connection");
		return;
	}
	memset(conn, 0, offsetof(struct ctl_conn, buf));
	conn->srv = srv;
	conn->uid = (uid_t)-1;
	conn->gid = (gid_t)-1;
	conn->may_control = -1;
	uv_pipe_init(srv->loop, &conn->pipe, 0);
	uv_timer_init(srv->loop, &conn->request_deadline);
	conn->pipe.data = conn;
	conn->request_deadline.data = conn;
	conn->open_handles = 2;
	conn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = conn;
	srv->conns = conn;
	srv->n_conns++;

	rc = uv_accept(listener, (uv_stream_t *)&conn->pipe);
	if (rc == 0)
		rc = conn_read_cred(conn);
	if (rc < 0) {
		vlog_err(MOD, "accept on %s: %s", srv->path, strerror(-rc));
		conn_close(conn);
		return;
	}
	vlog_debug(MOD, "uid %u pid %d: connected", (unsigned)conn->uid, (int)conn->pid);
	conn_arm_deadline(conn);
	if (srv->n_conns > srv->max_conns) {
		conn_fail(conn, CTL_ERR_BUSY, "too many control connections (%u)",
			  srv->max_conns);
		return;
	}
	rc = uv_read_start((uv_stream_t *)&conn->pipe, on_alloc, on_read);
	if (rc < 0) {
		vlog_err(MOD, "uid %u pid %d: read: %s", (unsigned)conn->uid, (int)conn->pid,
			 uv_strerror(rc));
		conn_close(conn);
	}
}

/* ---- the socket file ------------------------------------------------------ */

static int make_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			int rc = -errno;

			vlog_err(MOD, "creating %s: %s", dir, strerror(-rc));
			return rc;
		}
		*p = '/';
	}
	return 0;
}

static void fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

/* Remove what sits at the path only if it is a socket nobody answers on:
 * never a file someone put there, never a live daemon's socket. */
static int clear_stale_socket(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		vlog_err(MOD, "%s exists and is not a socket; not touching it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	fill_addr(&sa, path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0) {
		vlog_err(MOD, "another server is listening on %s", path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED) {
		vlog_err(MOD, "probing %s: %s", path, strerror(-rc));
		return rc;
	}
	vlog_notice(MOD, "removing stale socket %s", path);
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int bind_listen(const char *path, int *out)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	fill_addr(&sa, path);
	/* Born 0600 so no one slips in before the chmod/chown below. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		rc = -errno;
	umask(old);
	if (!rc && listen(fd, LISTEN_BACKLOG) != 0)
		rc = -errno;
	if (rc) {
		vlog_err(MOD, "binding %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* root:GROUP 0660 when the group exists; otherwise stay root-only 0600. */
static void set_socket_access(struct ctl_server *srv)
{
	gid_t gid;
	int rc = lookup_group(srv->group, &gid);

	if (rc == 0 && chown(srv->path, (uid_t)-1, gid) == 0 && chmod(srv->path, 0660) == 0) {
		vlog_info(MOD, "listening on %s (group %s, mode 0660)", srv->path, srv->group);
		return;
	}
	if (rc == -ENOENT)
		vlog_notice(MOD, "group %s does not exist: %s stays root-only (0600)",
			    srv->group, srv->path);
	else
		vlog_warn(MOD, "cannot give %s to group %s (%s): it stays root-only (0600)",
			  srv->path, srv->group, strerror(rc ? -rc : errno));
	chmod(srv->path, 0600);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct ctl_server *srv = h->data;

	srv->listener_open = false;
	server_maybe_done(srv);
}

int ctl_server_start(uv_loop_t *loop, const struct ctl_server_config *cfg,
		     const struct ctl_ops *ops, void *ctx, struct ctl_server **out)
{
	const char *path = cfg && cfg->socket_path ? cfg->socket_path : CTL_DEFAULT_SOCKET;
	const char *group = cfg && cfg->group ? cfg->group : CTL_DEFAULT_GROUP;
	struct ctl_server *srv;
	struct stat st;
	int fd = -1, rc;

	*out = NULL;
	if (!ops || !ops->up || !ops->down || !ops->status || !ops->list)
		return -EINVAL;
	if (strlen(path) >= sizeof(srv->path) || strlen(group) >= sizeof(srv->group)) {
		vlog_err(MOD, "socket path or group name too long: %s", path);
		return -ENAMETOOLONG;
	}
	/* A client that hangs up while we write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->ops = ops;
	srv->ctx = ctx;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	snprintf(srv->group, sizeof(srv->group), "%s", group);
	srv->max_conns = cfg && cfg->max_conns ? cfg->max_conns : DEFAULT_MAX_CONNS;
	srv->request_timeout_ms = cfg && cfg->request_timeout_ms ?
		cfg->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;

	rc = make_parents(srv->path);
	if (!rc)
		rc = clear_stale_socket(srv->path);
	if (!rc)
		rc = bind_listen(srv->path, &fd);
	if (rc) {
		free(srv);
		return rc;
	}
	if (lstat(srv->path, &st) == 0) {
		srv->dev = st.st_dev;
		srv->ino = st.st_ino;
	}
	set_socket_access(srv);

	uv_pipe_init(loop, &srv->listener, 0);
	srv->listener.data = srv;
	srv->listener_open = true;
	rc = uv_pipe_open(&srv->listener, fd);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, on_connection);
	if (rc < 0) {
		vlog_err(MOD, "listening on %s: %s", srv->path, uv_strerror(rc));
		if (uv_fileno((uv_handle_t *)&srv->listener, &fd) != 0)
			close(fd);
		unlink(srv->path);
		/* The handle is freed with the server once the loop closes it. */
		srv->stopping = true;
		uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
		return rc;
	}
	*out = srv;
	return 0;
}

void ctl_server_stop(struct ctl_server *srv, void (*done)(void *arg), void *arg)
{
	struct stat st;

	if (!srv || srv->stopping)
		return;
	srv->stopping = true;
	srv->done = done;
	srv->done_arg = arg;
	/* Unlink only our socket: a second vpnd may have replaced it. */
	if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
		unlink(srv->path);
	for (struct ctl_conn *c = srv->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}

size_t ctl_server_conn_count(const struct ctl_server *srv)
{
	return srv->n_conns;
}

/* ---- calls ---------------------------------------------------------------- */

enum ctl_op ctl_call_op(const struct ctl_call *call) { return call->op; }
uid_t ctl_call_uid(const struct ctl_call *call) { return call->uid; }
pid_t ctl_call_pid(const struct ctl_call *call) { return call->pid; }
bool ctl_call_client_gone(const struct ctl_call *call) { return call->conn == NULL; }

void ctl_call_progress(struct ctl_call *call, enum ctl_step step, const char *fmt, ...)
{
	char detail[CTL_TEXT_MAX];
	va_list ap;

	if (!call->conn)
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	conn_send(call->conn, ctl_encode_progress(step, fmt ? detail : NULL));
}

void ctl_call_warning(struct ctl_call *call, const char *fmt, ...)
{
	char detail[CTL_TEXT_MAX];
	va_list ap;

	if (!call->conn)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	conn_send(call->conn, ctl_encode_warning(detail));
}

/* Send the final line (if anyone listens), free the call, and make the
 * connection ready for its next request. */
static void call_finish(struct ctl_call *call, char *line)
{
	struct ctl_conn *conn = call->conn;

	free(call);
	if (!conn) {
		free(line);
		return;
	}
	conn->call = NULL;
	conn_send(conn, line);
	if (conn->state == CONN_CALL)
		conn_set_state(conn, CONN_IDLE);
}

/* A finisher that does not fit the op is a daemon bug: answer it as one. */
static bool call_fits(struct ctl_call *call, bool fits, const char *fn)
{
	if (fits)
		return true;
	vlog_err(MOD, "%s used to finish a %s call", fn, ctl_op_name(call->op));
	call_finish(call, ctl_encode_error(CTL_ERR_INTERNAL, "internal error"));
	return false;
}

void ctl_call_ok(struct ctl_call *call)
{
	if (call_fits(call, call->op == CTL_OP_UP || call->op == CTL_OP_DOWN, "ctl_call_ok"))
		call_finish(call, ctl_encode_ok());
}

void ctl_call_fail(struct ctl_call *call, enum ctl_err code, const char *fmt, ...)
{
	char text[CTL_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	vlog_info(MOD, "uid %u pid %d: %s%s%s failed: %s: %s", (unsigned)call->uid,
		  (int)call->pid, ctl_op_name(call->op), call->has_name ? " " : "",
		  call->name, ctl_err_code(code), text);
	call_finish(call, ctl_encode_error(code, text));
}

void ctl_call_reply_status(struct ctl_call *call, const struct ctl_status *st, size_t n)
{
	char *line;

	if (!call_fits(call, call->op == CTL_OP_STATUS, "ctl_call_reply_status"))
		return;
	line = call->conn ? ctl_encode_status(st, n, time(NULL)) : NULL;
	if (call->conn && !line)
		line = ctl_encode_error(CTL_ERR_INTERNAL, "status reply too large");
	call_finish(call, line);
}

void ctl_call_reply_list(struct ctl_call *call, const struct ctl_list_entry *e, size_t n)
{
	char *line;

	if (!call_fits(call, call->op == CTL_OP_LIST, "ctl_call_reply_list"))
		return;
	line = call->conn ? ctl_encode_list(e, n) : NULL;
	if (call->conn && !line)
		line = ctl_encode_error(CTL_ERR_INTERNAL, "list reply too large");
	call_finish(call, line);
}
