/* The data path: TUN -> ESP -> path, and path -> ESP -> TUN.
 *
 * Runs once per packet, so: buffers come from a pool made at start (the TX
 * batch is taken once and reused), received packets are decrypted in place
 * in the transport's receive ring, TUN reads and writes and UDP sends go in
 * batches, and nothing here allocates or logs per packet. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/session/sess_int.h"
#include "client/util/log.h"

int sess_dp_init(struct sess *s)
{
	size_t got;
	int err;

	esp_table_init(&s->in_table);
	err = pkt_pool_new(SESS_POOL, PKT_BUF_SIZE, &s->pool);
	if (err)
		return err;
	got = pkt_get_bulk(s->pool, s->tx, SESS_BATCH);
	if (got != SESS_BATCH) {
		pkt_pool_free(s->pool);
		s->pool = NULL;
		return -ENOMEM;
	}
	return 0;
}

void sess_dp_free(struct sess *s)
{
	unsigned i;

	sess_dp_clear(s);
	if (s->pool) {
		for (i = 0; i < SESS_BATCH; i++)
			pkt_put(s->pool, s->tx[i]);
		pkt_pool_free(s->pool);
		s->pool = NULL;
	}
}

static void free_pair(struct sess *s, struct sess_sa_pair *p)
{
	if (p->in) {
		esp_table_del(&s->in_table, p->in->spi);
		esp_sa_free(p->in);
	}
	esp_sa_free(p->out);
	memset(p, 0, sizeof(*p));
}

void sess_dp_clear(struct sess *s)
{
	unsigned i;

	for (i = 0; i < SESS_MAX_SAS; i++)
		if (s->sas[i].in || s->sas[i].out)
			free_pair(s, &s->sas[i]);
	s->cur = NULL;
}

int sess_dp_add_child(struct sess *s, const struct ike_child_info *c)
{
	struct esp_sa_cfg in = {
		.spi = c->spi_in,
		.dir = ESP_DIR_IN,
		.encr = c->algs.encr,
		.key_bits = c->algs.encr_key_bits,
		.keymat = c->encr_in,
		.keymat_len = c->encr_len,
		.integ = c->algs.integ,
		.ikey = c->integ_in,
		.ikey_len = c->integ_len,
		.esn = c->esn,
	};
	struct esp_sa_cfg out = in;
	struct sess_sa_pair *p = NULL;
	unsigned i;
	int err;

	out.spi = c->spi_out;
	out.dir = ESP_DIR_OUT;
	out.keymat = c->encr_out;
	out.ikey = c->integ_out;
	for (i = 0; i < SESS_MAX_SAS && !p; i++)
		if (!s->sas[i].in && !s->sas[i].out)
			p = &s->sas[i];
	if (!p)
		return -ENOSPC;
	err = esp_sa_new(&in, &p->in);
	if (!err)
		err = esp_sa_new(&out, &p->out);
	if (!err)
		err = esp_table_add(&s->in_table, p->in);
	if (err) {
		esp_sa_free(p->in);
		esp_sa_free(p->out);
		memset(p, 0, sizeof(*p));
		return err;
	}
	p->n_tsi = c->n_tsi;
	p->n_tsr = c->n_tsr;
	memcpy(p->tsi, c->tsi, sizeof(p->tsi));
	memcpy(p->tsr, c->tsr, sizeof(p->tsr));
	snprintf(p->esp_alg, sizeof(p->esp_alg), "%s", c->esp_alg);
	/* New outbound traffic takes the newest SA at once (a rekey's new SA
	 * is installed on both sides when this runs). */
	s->cur = p;
	return 0;
}

void sess_dp_del_child(struct sess *s, uint32_t spi_in)
{
	unsigned i;

	for (i = 0; i < SESS_MAX_SAS; i++) {
		struct sess_sa_pair *p = &s->sas[i];

		if (!p->in || p->in->spi != spi_in)
			continue;
		if (s->cur == p)
			s->cur = NULL;
		free_pair(s, p);
	}
	if (!s->cur) {
		for (i = SESS_MAX_SAS; i-- > 0;)
			if (s->sas[i].out) {
				s->cur = &s->sas[i];
				break;
			}
	}
}

/* ---- traffic selectors (RFC 4301 5.1: packets must match their SA) ---------- */

static bool ts_has(const struct ike_ts *ts, size_t n, const uint8_t *addr, bool v6)
{
	size_t i, alen = v6 ? 16 : 4;
	uint8_t type = v6 ? IKE_TS_IPV6_ADDR_RANGE : IKE_TS_IPV4_ADDR_RANGE;

	for (i = 0; i < n; i++)
		if (ts[i].type == type && memcmp(ts[i].start, addr, alen) <= 0 &&
		    memcmp(addr, ts[i].end, alen) <= 0)
			return true;
	return false;
}

/* src in `from` and dst in `to`. The caller checked the IP version. */
static bool ts_allows(const uint8_t *ip, size_t len, const struct ike_ts *from,
		      size_t nfrom, const struct ike_ts *to, size_t nto)
{
	bool v6 = (ip[0] >> 4) == 6;

	if (v6) {
		if (len < 40)
			return false;
		return ts_has(from, nfrom, ip + 8, true) && ts_has(to, nto, ip + 24, true);
	}
	if (len < 20)
		return false;
	return ts_has(from, nfrom, ip + 12, false) && ts_has(to, nto, ip + 16, false);
}

/* ---- outbound: TUN -> ESP -> path -------------------------------------------------- */

static unsigned seal_batch(struct sess *s, unsigned n)
{
	struct sess_sa_pair *cur = s->cur;
	unsigned i, m = 0;

	for (i = 0; i < n; i++) {
		struct pkt *p = s->tx[i];
		int nh;

		p->data = s->tun_rd[i].buf + s->tun_rd[i].off;
		p->len = s->tun_rd[i].len;
		if (!cur || !cur->out) {
			s->drop_no_sa++;
			continue;
		}
		nh = esp_nh_for(p->data, p->len);
		if (nh < 0 || !ts_allows(p->data, p->len, cur->tsi, cur->n_tsi, cur->tsr,
					 cur->n_tsr)) {
			s->drop_policy_out++;
			continue;
		}
		s->bytes_out += p->len;
		if (esp_seal(cur->out, p, (uint8_t)nh))
			continue; /* counted by the ESP layer */
		s->send[m++] = p;
	}
	s->packets_out += m;
	return m;
}

static void on_tun_readable(uv_poll_t *h, int status, int events)
{
	struct sess *s = h->data;
	unsigned round, i;

	if (status < 0 || !(events & UV_READABLE))
		return;
	for (round = 0; round < SESS_TUN_ROUNDS; round++) {
		int n, m;

		for (i = 0; i < SESS_BATCH; i++) {
			s->tun_rd[i].buf = s->tx[i]->buf;
			s->tun_rd[i].cap = s->tx[i]->size;
		}
		n = tun_read_batch(&s->tun, s->tun_rd, SESS_BATCH, PKT_HEADROOM, PKT_TAILROOM);
		if (n <= 0)
			break;
		m = (int)seal_batch(s, (unsigned)n);
		if (m > 0 && s->path)
			tp_send_esp(s->path, s->send, (size_t)m);
		if (n < (int)SESS_BATCH)
			break;
	}
}

int sess_dp_start_tun(struct sess *s)
{
	int err;

	if (s->tun_poll)
		return -EALREADY;
	s->tun_poll = malloc(sizeof(*s->tun_poll));
	if (!s->tun_poll)
		return -ENOMEM;
	err = uv_poll_init(s->loop, s->tun_poll, s->tun.fd);
	if (err) {
		free(s->tun_poll);
		s->tun_poll = NULL;
		return err;
	}
	s->tun_poll->data = s;
	return uv_poll_start(s->tun_poll, UV_READABLE, on_tun_readable);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

void sess_dp_stop_tun(struct sess *s)
{
	if (!s->tun_poll)
		return;
	/* Stop before the fd closes: libuv drops it from epoll right here. */
	uv_poll_stop(s->tun_poll);
	uv_close((uv_handle_t *)s->tun_poll, free_handle);
	s->tun_poll = NULL;
}

/* ---- inbound: path -> ESP -> TUN ----------------------------------------------------- */

void sess_dp_rx(struct tp_path *path, struct pkt *pkts, size_t n, void *arg)
{
	struct sess *s = arg;
	size_t i, m = 0;

	(void)path;
	if (s->tun.fd < 0 || s->state != SESS_CONNECTED)
		return;
	for (i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];
		struct esp_sa *sa = NULL;
		struct sess_sa_pair *pair = NULL;
		uint8_t nh;
		unsigned k;

		if (esp_table_open(&s->in_table, p, &nh, &sa))
			continue; /* counted and rate-limit-logged by the ESP layer */
		if (nh == ESP_NH_NONE || !p->len)
			continue;
		for (k = 0; k < SESS_MAX_SAS && !pair; k++)
			if (s->sas[k].in == sa)
				pair = &s->sas[k];
		if (!pair || (nh != ESP_NH_IPV4 && nh != ESP_NH_IPV6) ||
		    !ts_allows(p->data, p->len, pair->tsr, pair->n_tsr, pair->tsi, pair->n_tsi)) {
			s->drop_policy_in++;
			continue;
		}
		s->bytes_in += p->len;
		s->tun_wr[m].buf = p->data;
		s->tun_wr[m].cap = p->len;
		s->tun_wr[m].off = 0;
		s->tun_wr[m].len = p->len;
		m++;
	}
	if (m) {
		s->packets_in += m;
		tun_write_batch(&s->tun, s->tun_wr, (unsigned)m);
		if (s->ike)
			ike_sa_traffic_seen(s->ike);
	}
}
