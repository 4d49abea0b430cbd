/* The kind-independent part of paths: dispatch through the ops table, the
 * state machine, and the UDP demultiplexer (a pure function of the bytes). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include "client/transport/internal.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

const char *tp_state_name(enum tp_state s)
{
	switch (s) {
	case TP_PATH_IKE: return "ike";
	case TP_PATH_NATT: return "nat-t";
	case TP_PATH_CLOSING: return "closing";
	}
	return "?";
}

const char *tp_addr_str(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, cap, "(none)");
	}
	return buf;
}

int tp_path_transition(struct tp_path *path, enum tp_state to)
{
	enum tp_state from = path->state;
	int ok;
	char r[64];

	switch (to) {
	case TP_PATH_NATT:
		ok = from == TP_PATH_IKE;
		break;
	case TP_PATH_CLOSING:
		ok = from == TP_PATH_IKE || from == TP_PATH_NATT;
		break;
	default:
		ok = 0; /* nothing goes back to the IKE port */
		break;
	}
	if (!ok) {
		vlog_err("transport", "path to %s: refusing state change %s -> %s",
			 tp_addr_str(&path->remote, r, sizeof(r)), tp_state_name(from),
			 tp_state_name(to));
		return -EINVAL;
	}
	vlog_info("transport", "path to %s: %s -> %s", tp_addr_str(&path->remote, r, sizeof(r)),
		  tp_state_name(from), tp_state_name(to));
	path->state = to;
	return 0;
}

int tp_path_open(uv_loop_t *loop, const struct tp_path_cfg *cfg,
		 const struct tp_callbacks *cb, struct tp_path **out)
{
	*out = NULL;
	if (!loop || !cfg || !cb || !cb->ike || !cb->esp || !cb->error)
		return -EINVAL;
	switch (cfg->kind) {
	case TP_UDP:
		return tp_udp_open(loop, cfg, cb, out);
	case TP_TCP:
		vlog_err("transport", "TCP encapsulation (RFC 9329) is not implemented yet");
		return -EPROTONOSUPPORT;
	}
	return -EINVAL;
}

void tp_path_close(struct tp_path *path)
{
	if (path && path->state != TP_PATH_CLOSING)
		path->ops->close(path);
}

int tp_send_ike(struct tp_path *path, const uint8_t *msg, size_t len)
{
	if (path->state == TP_PATH_CLOSING)
		return -ESHUTDOWN;
	return path->ops->send_ike(path, msg, len);
}

int tp_send_esp(struct tp_path *path, struct pkt *const *pkts, size_t n)
{
	if (path->state == TP_PATH_CLOSING)
		return -ESHUTDOWN;
	return path->ops->send_esp(path, pkts, n);
}

int tp_path_float(struct tp_path *path)
{
	if (path->state == TP_PATH_CLOSING)
		return -ESHUTDOWN;
	return path->ops->float_natt(path);
}

int tp_path_set_keepalive(struct tp_path *path, uint32_t ms)
{
	if (path->state == TP_PATH_CLOSING)
		return -ESHUTDOWN;
	return path->ops->set_keepalive(path, ms);
}

enum tp_rx_kind tp_demux_udp(const uint8_t *p, size_t len, bool natt_port,
			     size_t *skip)
{
	struct cur c;
	uint32_t first;

	*skip = 0;
	if (!natt_port)
		return len >= TP_IKE_HDR_LEN ? TP_RX_IKE : TP_RX_MALFORMED;
	cur_init(&c, p, len);
	if (len == 1) {
		uint8_t b = 0;

		if (cur_u8(&c, &b) < 0)
			return TP_RX_MALFORMED;
		return b == 0xff ? TP_RX_KEEPALIVE : TP_RX_MALFORMED;
	}
	if (cur_be32(&c, &first) < 0)
		return TP_RX_MALFORMED;
	if (first == 0) {
		if (cur_left(&c) < TP_IKE_HDR_LEN)
			return TP_RX_MALFORMED;
		*skip = TP_NON_ESP_MARKER_LEN;
		return TP_RX_IKE;
	}
	/* ESP: SPIs 1-255 are reserved (RFC 4303 2.1), and at least the
	 * sequence number must follow; esp_open checks the rest exactly. */
	if (first < 256 || cur_left(&c) < 4)
		return TP_RX_MALFORMED;
	return TP_RX_ESP;
}
