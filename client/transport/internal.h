/* Internal to client/transport: what the kinds share with the generic
 * path code. */
#ifndef VPN_TRANSPORT_INTERNAL_H
#define VPN_TRANSPORT_INTERNAL_H

#include <uv.h>

#include "client/transport/transport.h"

/* The path's one state transition function: logs every move, refuses the
 * illegal ones (-EINVAL) without changing anything. */
int tp_path_transition(struct tp_path *path, enum tp_state to);

int tp_udp_open(uv_loop_t *loop, const struct tp_path_cfg *cfg,
		const struct tp_callbacks *cb, struct tp_path **out);

/* "192.0.2.1:4500" / "[2001:db8::1]:500" for log lines. */
const char *tp_addr_str(const struct sockaddr_storage *ss, char *buf, size_t cap);

#endif
