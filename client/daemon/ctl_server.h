/* The control socket server of vpnd, on the daemon's libuv loop.
 *
 * It binds the unix socket (creating its parent directory, replacing only a
 * stale socket, root:vpn 0660, or root-only 0600 when the group does not
 * exist), accepts connections, reads request lines into a bounded buffer,
 * checks who may act, and hands each request to the ops table the daemon
 * implements. The protocol is described in ctl_proto.h.
 *
 * Who may do what: status and list are answered to anyone who can connect;
 * up and down need the peer (SO_PEERCRED) to be root or a member of the group
 * (its primary group or a member in the group database); anyone else gets
 * "permission denied (join the group vpn)" and nothing happens.
 *
 * Isolation: a malformed, oversized or truncated request, a request sent
 * before the previous one finished, a client that does not complete its
 * request within `request_timeout_ms`, or one that does not read its replies,
 * closes that connection only, with a log line.
 *
 * Calls. Every request becomes a `struct ctl_call` handed to an op. The op
 * finishes it exactly once, right away or later from the loop thread, with
 * ctl_call_ok(), ctl_call_fail(), ctl_call_reply_status() or
 * ctl_call_reply_list(); the finisher frees the call. Before that it may send
 * progress and warnings. If the client hangs up first, the call stays valid
 * and finishing it is safe (the reply goes nowhere); ctl_call_client_gone()
 * turns true.
 *
 * Hang-up policy: an `up` whose client went away CONTINUES. A connection
 * attempt belongs to the daemon, not to the vpnctl process that asked for it
 * (a script's timeout, a closed terminal or a crashed GUI must not leave a
 * half-built tunnel); vpnctl itself cancels explicitly by sending `down NAME`
 * when the user interrupts it or its --timeout expires. Ops that want to stop
 * early may test ctl_call_client_gone().
 *
 * The server ignores SIGPIPE for the whole process (a client that hangs up
 * while we write must not kill vpnd). All functions run on the loop thread. */
#ifndef VPN_DAEMON_CTL_SERVER_H
#define VPN_DAEMON_CTL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

#include "client/daemon/ctl_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ctl_server;
struct ctl_call;

/* Implemented by the daemon. `name` is a valid profile name (ctl_name_valid)
 * or NULL where the request may omit it (down and status: all profiles).
 * The string lives as long as the call. */
struct ctl_ops {
	/* Connect NAME; finish when the tunnel is up (ok) or has failed. */
	void (*up)(void *ctx, const char *name, struct ctl_call *call);
	/* Disconnect NAME or every active profile; ok once torn down. */
	void (*down)(void *ctx, const char *name, struct ctl_call *call);
	/* Finish with ctl_call_reply_status(): NAME's status or every profile's. */
	void (*status)(void *ctx, const char *name, struct ctl_call *call);
	/* Finish with ctl_call_reply_list(). */
	void (*list)(void *ctx, struct ctl_call *call);
};

struct ctl_server_config {
	const char *socket_path;     /* NULL: CTL_DEFAULT_SOCKET */
	const char *group;           /* NULL: CTL_DEFAULT_GROUP ("vpn") */
	unsigned max_conns;          /* 0: 32 connections at once */
	unsigned request_timeout_ms; /* 0: 30000; an idle connection must deliver a
					whole request line within this time */
};

/* Bind and listen. -EADDRINUSE when another server answers on the path,
 * -EEXIST when something that is not a socket sits there, -ENAMETOOLONG for
 * a path that does not fit sun_path, other -errno from the system. */
int ctl_server_start(uv_loop_t *loop, const struct ctl_server_config *cfg,
		     const struct ctl_ops *ops, void *ctx, struct ctl_server **out);

/* Close every connection and the listener, remove the socket file (if it is
 * still ours) and free the server; `done` runs once all handles are closed.
 * Calls in flight stay valid and must still be finished by their ops. */
void ctl_server_stop(struct ctl_server *srv, void (*done)(void *arg), void *arg);

/* Open connections (for tests and the daemon's own status). */
size_t ctl_server_conn_count(const struct ctl_server *srv);

/* The request behind a call. */
enum ctl_op ctl_call_op(const struct ctl_call *call);
uid_t ctl_call_uid(const struct ctl_call *call);
pid_t ctl_call_pid(const struct ctl_call *call);
bool ctl_call_client_gone(const struct ctl_call *call);

/* Events before the final reply; `fmt` may be NULL for no detail. */
void ctl_call_progress(struct ctl_call *call, enum ctl_step step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctl_call_warning(struct ctl_call *call, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Finishers: exactly one per call; each frees the call. */
void ctl_call_ok(struct ctl_call *call);
void ctl_call_fail(struct ctl_call *call, enum ctl_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctl_call_reply_status(struct ctl_call *call, const struct ctl_status *st, size_t n);
void ctl_call_reply_list(struct ctl_call *call, const struct ctl_list_entry *e, size_t n);

#ifdef __cplusplus
}
#endif
#endif
