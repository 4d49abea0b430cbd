/* Transports: how IKE and ESP packets reach the gateway.
 *
 * A path is (local address, remote address, kind). The session owns the
 * IKE SA and the ESP SAs; a path owns only sockets. To roam (MOBIKE) or fall
 * back to TCP (RFC 9329), the session opens another path and closes the old
 * one while the SAs live on: nothing here knows about SAs.
 *
 * Kinds are behind a small ops table (struct tp_ops). Implemented: UDP
 * (RFC 7296 2.23 ports 500/4500, RFC 3948 UDP encapsulation and NAT
 * keepalives). TCP encapsulation is a later issue: opening a TP_TCP path
 * fails with -EPROTONOSUPPORT.
 *
 * UDP in detail:
 *   - One connected, non-blocking socket per remote port, each on the libuv
 *     loop through a uv_poll_t. Connected, because then the kernel filters
 *     out other senders, routes once, and reports ICMP errors.
 *   - IKE goes to remote port 500 without marker until tp_path_float();
 *     then IKE and ESP go to remote port 4500 from a new socket, IKE behind
 *     the four-byte non-ESP marker (RFC 3948 2.2), and the port-500 socket is
 *     closed.
 *   - Receive: recvmmsg in batches into the path's receive ring (with UDP
 *     GRO when the kernel has it). Demux: from port 500 everything is IKE;
 *     on 4500, four zero bytes are IKE (marker stripped), a single 0xFF is a
 *     NAT keepalive (ignored), anything else with a plausible SPI is ESP. All
 *     ESP datagrams of one recvmmsg call reach the esp callback at once.
 *   - Send: ESP batches with one sendmmsg; runs of equal-sized packets go as
 *     one UDP GSO message (UDP_SEGMENT) when the kernel has it, falling back
 *     to plain datagrams per message if the kernel refuses.
 *   - NAT keepalives (one 0xFF byte, RFC 3948 2.3) from the nat_keepalive
 *     timer, only after nothing else was sent for the interval.
 *   - ICMP errors (port/host/net unreachable, fragmentation needed) reach the
 *     error callback through the socket's error queue (IP_RECVERR).
 *   - Optional local address, interface (SO_BINDTODEVICE) and fwmark
 *     (SO_MARK, needs CAP_NET_ADMIN) so the full-tunnel routes can exclude
 *     our own packets. The kernel never sees ESP as ESP: no UDP_ENCAP.
 *
 * Callbacks run on the loop thread. Received buffers belong to the path and
 * are valid only during the callback (the callee may modify them in place,
 * e.g. decrypt). A callback may close the path; no callback runs after
 * tp_path_close(). */
#ifndef VPN_TRANSPORT_TRANSPORT_H
#define VPN_TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/esp/pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* libuv's loop, declared rather than included: <uv.h> needs POSIX feature
 * macros that strict C11 users of this header may not define. */
struct uv_loop_s;

#define TP_PORT_IKE 500
#define TP_PORT_NATT 4500
#define TP_NON_ESP_MARKER_LEN 4
#define TP_IKE_HDR_LEN 28 /* shortest plausible IKE message */
#define TP_KEEPALIVE_DEFAULT 0u /* keepalive_ms: 20 s */
#define TP_KEEPALIVE_OFF UINT32_MAX
#define TP_KEEPALIVE_DEFAULT_MS 20000u

/* Receive ring: TP_RX_SLOTS datagrams per recvmmsg, each slot large enough
 * for a GRO super-packet or an unfragmented IKE message of any size. The
 * ring is mapped lazily (pages are only backed once written), so without
 * GRO a path costs about one page per slot. */
#define TP_RX_SLOTS 32u
#define TP_RX_SLOT_SIZE 65536u
#define TP_RX_MAX_SEGS 64u /* per GRO super-packet */
#define TP_RX_ROUNDS 8u    /* recvmmsg calls per wakeup before yielding */
#define TP_TX_BATCH 64u    /* packets per sendmmsg */
#define TP_GSO_MAX_SEGS 64u
#define TP_GSO_MAX_BYTES 65000u

enum tp_kind {
	TP_UDP,
	TP_TCP,
};

enum tp_state {
	TP_PATH_IKE,     /* UDP to remote port 500, no marker, no ESP yet */
	TP_PATH_NATT,    /* UDP to remote port 4500 with markers; ESP allowed */
	TP_PATH_CLOSING, /* closed by the session; memory goes once libuv let go */
};

const char *tp_state_name(enum tp_state s);

struct tp_path_cfg {
	enum tp_kind kind;
	struct sockaddr_storage remote;   /* the gateway; port ignored */
	struct sockaddr_storage local;    /* AF_UNSPEC: the kernel chooses */
	uint16_t remote_ike_port;         /* 0: 500 */
	uint16_t remote_natt_port;        /* 0: 4500 */
	uint16_t local_ike_port;          /* 0: ephemeral */
	uint16_t local_natt_port;         /* 0: ephemeral */
	char ifname[16];                  /* SO_BINDTODEVICE; "" for none */
	uint32_t fwmark;                  /* SO_MARK; 0 for none */
	bool natt;                        /* start on the NAT-T port (MOBIKE, forced encapsulation) */
	uint32_t keepalive_ms;            /* TP_KEEPALIVE_DEFAULT or _OFF or ms */
	bool no_gso;                      /* benchmarks and tests: plain sendmmsg */
	bool no_gro;
};

struct tp_path;

struct tp_callbacks {
	/* One IKE message (marker already stripped). */
	void (*ike)(struct tp_path *path, uint8_t *msg, size_t len, void *arg);
	/* ESP packets of one receive batch, SPI first, in arrival order. */
	void (*esp)(struct tp_path *path, struct pkt *pkts, size_t n, void *arg);
	/* An error the network reported for this path: -ECONNREFUSED,
	 * -EHOSTUNREACH, -ENETUNREACH, -EMSGSIZE (info: the path MTU), ... */
	void (*error)(struct tp_path *path, int err, uint32_t info, void *arg);
	void *arg;
};

struct tp_stats {
	uint64_t rx_calls;      /* recvmmsg calls that returned data */
	uint64_t rx_datagrams;  /* after GRO segmentation */
	uint64_t rx_ike;
	uint64_t rx_esp;
	uint64_t rx_keepalive;
	uint64_t rx_malformed;
	uint64_t tx_calls;      /* sendmmsg/sendmsg calls */
	uint64_t tx_ike;
	uint64_t tx_esp;
	uint64_t tx_keepalive;
	uint64_t tx_gso_msgs;   /* messages sent as GSO super-packets */
	uint64_t tx_dropped;    /* not taken by the kernel (buffer full, error) */
	uint64_t gso_fallbacks; /* GSO messages the kernel refused, resent plain */
	uint64_t errors;        /* reported through the error callback */
};

struct tp_ops {
	int (*send_ike)(struct tp_path *path, const uint8_t *msg, size_t len);
	int (*send_esp)(struct tp_path *path, struct pkt *const *pkts, size_t n);
	int (*float_natt)(struct tp_path *path);
	int (*set_keepalive)(struct tp_path *path, uint32_t ms);
	void (*close)(struct tp_path *path);
};

/* Common head of every kind's path. Read-only for users. */
struct tp_path {
	const struct tp_ops *ops;
	enum tp_kind kind;
	enum tp_state state;
	struct uv_loop_s *loop;
	struct sockaddr_storage local;  /* the socket's address in use */
	struct sockaddr_storage remote; /* address and port in use */
	bool gso;                       /* UDP GSO in use for ESP batches */
	bool gro;                       /* UDP GRO enabled on receive */
	struct tp_callbacks cb;
	struct tp_stats stats;
};

/* Open a path: sockets created, bound, connected and polled. -EINVAL (bad
 * config), -EPROTONOSUPPORT (TCP: not yet), -EPERM (fwmark or device without
 * the capability), socket errors. */
int tp_path_open(struct uv_loop_s *loop, const struct tp_path_cfg *cfg,
		 const struct tp_callbacks *cb, struct tp_path **out);
/* Close sockets and timers; the memory is released from libuv's close
 * callbacks, so keep running the loop. No callback runs after this. */
void tp_path_close(struct tp_path *path);

/* Send one IKE message (adds the non-ESP marker on the NAT-T port). */
int tp_send_ike(struct tp_path *path, const uint8_t *msg, size_t len);
/* Send sealed ESP packets. Returns how many the kernel took (the caller still
 * owns every pkt and frees them all), or a negative errno when none was:
 * -ENOTCONN before NAT-T (ESP needs UDP encapsulation), -ECONNREFUSED and
 * friends when the network already said the peer is unreachable. */
int tp_send_esp(struct tp_path *path, struct pkt *const *pkts, size_t n);
/* Switch to the NAT-T port (RFC 7296 2.23): new socket to remote port 4500,
 * markers from now on, keepalives start. -EALREADY if already there. */
int tp_path_float(struct tp_path *path);
/* Keepalive interval (TP_KEEPALIVE_DEFAULT, TP_KEEPALIVE_OFF or ms). */
int tp_path_set_keepalive(struct tp_path *path, uint32_t ms);

/* Demultiplex one received UDP datagram (RFC 3948 2.2, 2.3). `natt_port`:
 * it arrived from the NAT-T port. On TP_RX_IKE, *skip is the marker length
 * to strip. Pure function: the fuzz target drives it directly. */
enum tp_rx_kind {
	TP_RX_IKE,
	TP_RX_ESP,
	TP_RX_KEEPALIVE,
	TP_RX_MALFORMED,
};
enum tp_rx_kind tp_demux_udp(const uint8_t *p, size_t len, bool natt_port,
			     size_t *skip);

#ifdef __cplusplus
}
#endif
#endif
