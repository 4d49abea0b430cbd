/* Internals of client/session, shared by its files. */
#ifndef VPN_SESS_INT_H
#define VPN_SESS_INT_H

#include <uv.h>

#include "client/esp/esp.h"
#include "client/esp/pkt.h"
#include "client/session/session.h"
#include "client/transport/transport.h"
#include "tun/tun.h"

#define SESS_LOG "session"
#define SESS_BATCH 64       /* packets per TUN read / ESP send batch */
#define SESS_POOL 256       /* packet buffers of the TX path */
#define SESS_TUN_ROUNDS 8   /* batches per wakeup before yielding to the loop */
#define SESS_MAX_SAS 8      /* ESP SAs alive at once (rekey overlap) */

struct sess_sa_pair {
	struct esp_sa *in, *out;
	size_t n_tsi, n_tsr;
	struct ike_ts tsi[IKE_MAX_TS], tsr[IKE_MAX_TS];
	char esp_alg[96];
};

struct sess {
	uv_loop_t *loop;
	struct sess_cfg cfg;
	const struct sess_ops *ops;
	void *arg;
	enum sess_state state;
	int64_t since, established_at;
	enum ike_fail fail;
	char last_error[512];
	bool freeing;
	char pending_fail[512]; /* set when we close the IKE SA because of a local failure */
	bool was_connected;     /* since the last sess_up: keep it up */
	unsigned attempts;      /* failures in a row */
	int64_t retry_at;
	uv_timer_t *t_reconnect; /* reconnect_backoff; heap, closed on free */
	unsigned handles_open;

	/* resolving */
	uv_getaddrinfo_t gai;
	bool gai_pending;
	struct sockaddr_storage gw;
	unsigned n_gw;                     /* every address the name resolved to */
	struct plat_ip gw_all[8];

	struct tp_path *path;
	struct ike_sa *ike;
	struct ike_sa_info info;
	bool have_info;

	/* system state */
	struct plat *plat;
	bool killswitch_on;
	uint64_t net_ids[48];   /* journal records of this attempt, oldest first */
	unsigned n_net_ids;
	int resolved_ifindex;   /* link given to systemd-resolved, 0 none */
	struct tun_dev tun;
	bool tun_up;
	uv_poll_t *tun_poll; /* heap: it may outlive a closed TUN while libuv closes it */

	/* data path */
	struct pkt_pool *pool;
	struct pkt *tx[SESS_BATCH];
	struct tun_pkt tun_rd[SESS_BATCH];
	struct tun_pkt tun_wr[TP_RX_SLOTS * TP_RX_MAX_SEGS];
	struct pkt *send[SESS_BATCH];
	struct esp_table in_table;
	struct sess_sa_pair sas[SESS_MAX_SAS];
	struct sess_sa_pair *cur; /* outbound traffic uses cur->out */

	uint64_t bytes_in, bytes_out, packets_in, packets_out;
	uint64_t drop_policy_in, drop_policy_out, drop_no_sa;
};

int sess_set_state(struct sess *s, enum sess_state to, const char *why);
int64_t sess_wall_now(void);

/* datapath.c */
int sess_dp_init(struct sess *s);
void sess_dp_free(struct sess *s);
int sess_dp_add_child(struct sess *s, const struct ike_child_info *c);
void sess_dp_del_child(struct sess *s, uint32_t spi_in);
void sess_dp_clear(struct sess *s);
int sess_dp_start_tun(struct sess *s);
void sess_dp_stop_tun(struct sess *s);
void sess_dp_rx(struct tp_path *path, struct pkt *pkts, size_t n, void *arg);

/* netcfg.c */
int sess_plat_open(struct sess *s);
int sess_killswitch_on(struct sess *s);
int sess_net_configure(struct sess *s);
/* Undo this attempt's changes; `final` also ends the kill switch. */
void sess_net_teardown(struct sess *s, bool final);

#endif
