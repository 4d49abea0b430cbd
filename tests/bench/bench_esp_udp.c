/* Micro-benchmark of the ESP data path over loopback UDP, run by hand (not a
 * test: its figures depend on the machine and its load).
 *
 * Two UDP paths on 127.0.0.1 point at each other. Each round seals a burst
 * of 1400-byte inner packets with AES-256-GCM and sends them on path A
 * (phase "seal+send"), then runs the loop until path B received them and
 * opened every one (phase "recv+open"). Each phase is timed with the
 * thread's CPU clock; single-threaded, so CPU time is also the time it
 * takes. Loopback delivers into the receiver's socket from the sender's
 * context, so "seal+send" includes the kernel's loopback receive work.
 *
 * Modes: one packet per send call (no batching); batches of 64 with plain
 * sendmmsg; batches of 64 with UDP GSO (and GRO on the receiver).
 *
 * Build after the normal build (from the source tree):
 *   cc -O2 -D_GNU_SOURCE -I. tests/bench/bench_esp_udp.c -o build/bench_esp_udp \
 *      build/client/transport/libvpn_transport.a build/client/esp/libvpn_esp.a \
 *      build/client/crypto/libvpn_crypto.a build/client/util/libvpn_util.a \
 *      -luv -L/usr/lib/x86_64-linux-gnu/android -lcrypto \
 *      -Wl,-rpath,/usr/lib/x86_64-linux-gnu/android
 *   build/bench_esp_udp [packets]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "client/crypto/crypto.h"
#include "client/esp/esp.h"
#include "client/esp/pkt.h"
#include "client/transport/transport.h"
#include "client/util/log.h"

#define INNER 1400
#define BURST 256

struct bench {
	struct esp_sa *out, *in;
	uint64_t received, opened, bad;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_ike(struct tp_path *p, uint8_t *m, size_t l, void *a)
{
	(void)p, (void)m, (void)l, (void)a;
}

static void on_err(struct tp_path *p, int e, uint32_t i, void *a)
{
	(void)p, (void)i, (void)a;
	fprintf(stderr, "path error %d\n", e);
}

static void on_esp(struct tp_path *path, struct pkt *pkts, size_t n, void *arg)
{
	struct bench *b = arg;
	uint8_t nh;

	(void)path;
	for (size_t i = 0; i < n; i++) {
		b->received++;
		if (esp_open(b->in, &pkts[i], &nh) == 0 && pkts[i].len == INNER)
			b->opened++;
		else
			b->bad++;
	}
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

static struct tp_path *open_path(uv_loop_t *loop, uint16_t lport, uint16_t rport,
				 int gso, struct bench *b)
{
	struct tp_path_cfg cfg = {0};
	struct tp_callbacks cb = {.ike = on_ike, .esp = on_esp, .error = on_err, .arg = b};
	struct sockaddr_in *r = (struct sockaddr_in *)&cfg.remote;
	struct tp_path *p;

	cfg.kind = TP_UDP;
	r->sin_family = AF_INET;
	r->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.natt = true;
	cfg.local_natt_port = lport;
	cfg.remote_natt_port = rport;
	cfg.keepalive_ms = TP_KEEPALIVE_OFF;
	cfg.no_gso = !gso;
	cfg.no_gro = !gso;
	if (tp_path_open(loop, &cfg, &cb, &p) < 0)
		exit(1);
	return p;
}

static struct esp_sa *sa(enum esp_dir dir)
{
	uint8_t key[36];
	struct esp_sa_cfg c = {0};
	struct esp_sa *s;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	c.spi = 0xbe4c0001;
	c.dir = dir;
	c.encr = CRYPTO_ENCR_AES_GCM_16;
	c.key_bits = 256;
	c.keymat = key;
	c.keymat_len = sizeof(key);
	if (esp_sa_new(&c, &s) < 0)
		exit(1);
	return s;
}

static void run(const char *name, size_t per_call, int gso, uint64_t total,
		struct pkt_pool *pool)
{
	uv_loop_t loop;
	struct bench b = {0};
	struct tp_path *a, *rx;
	struct pkt *batch[BURST];
	uint64_t tx_ns = 0, rx_ns = 0, sent = 0, t0, calls0;
	uint16_t pa = free_port(), pb = free_port();

	uv_loop_init(&loop);
	b.out = sa(ESP_DIR_OUT);
	b.in = sa(ESP_DIR_IN);
	a = open_path(&loop, pa, pb, gso, &b);
	rx = open_path(&loop, pb, pa, gso, &b);
	calls0 = 0;
	while (sent < total) {
		size_t n = pkt_get_bulk(pool, batch, BURST), i;

		t0 = cpu_ns();
		for (i = 0; i < n; i++) {
			uint8_t *d = pkt_append(batch[i], INNER);

			d[0] = 0x45;
			memset(d + 1, (int)i, 19);
			esp_seal(b.out, batch[i], ESP_NH_IPV4);
		}
		for (i = 0; i < n; i += per_call) {
			size_t k = n - i < per_call ? n - i : per_call;
			int r = tp_send_esp(a, batch + i, k);

			if (r > 0)
				sent += (uint64_t)r;
		}
		tx_ns += cpu_ns() - t0;
		for (i = 0; i < n; i++)
			pkt_put(pool, batch[i]);

		t0 = cpu_ns();
		for (int spins = 0; b.received < sent && spins < 100000; spins++)
			uv_run(&loop, UV_RUN_NOWAIT);
		rx_ns += cpu_ns() - t0;
		if (b.received < sent)
			sent = b.received; /* dropped by the kernel; count what arrived */
	}
	printf("%-22s seal+send %8.0f pkt/s %6.0f ns/pkt (%llu syscalls, %llu GSO msgs) | "
	       "recv+open %8.0f pkt/s %6.0f ns/pkt (%llu recvmmsg) | %.2f Gbit/s inner, bad %llu\n",
	       name, 1e9 * (double)sent / (double)tx_ns, (double)tx_ns / (double)sent,
	       (unsigned long long)(a->stats.tx_calls - calls0),
	       (unsigned long long)a->stats.tx_gso_msgs, 1e9 * (double)b.opened / (double)rx_ns,
	       (double)rx_ns / (double)b.opened, (unsigned long long)rx->stats.rx_calls,
	       8.0 * INNER * (double)b.opened / (double)(tx_ns + rx_ns),
	       (unsigned long long)b.bad);
	tp_path_close(a);
	tp_path_close(rx);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	esp_sa_free(b.out);
	esp_sa_free(b.in);
}

/* The crypto share of the cost: the thread CPU clock is a syscall, so time
 * whole loops, never single packets. Seal-only loop, then seal+open loop;
 * open is the difference. */
static void crypto_only(uint64_t total, struct pkt_pool *pool)
{
	struct esp_sa *out = sa(ESP_DIR_OUT), *in = sa(ESP_DIR_IN);
	struct pkt *p = pkt_get(pool);
	uint64_t seal_ns, both_ns, t0;
	uint8_t nh;

	t0 = cpu_ns();
	for (uint64_t i = 0; i < total; i++) {
		pkt_reset(p);
		pkt_append(p, INNER)[0] = 0x45;
		esp_seal(out, p, ESP_NH_IPV4);
	}
	seal_ns = cpu_ns() - t0;
	t0 = cpu_ns();
	for (uint64_t i = 0; i < total; i++) {
		pkt_reset(p);
		pkt_append(p, INNER)[0] = 0x45;
		esp_seal(out, p, ESP_NH_IPV4);
		if (esp_open(in, p, &nh) < 0)
			exit(1);
	}
	both_ns = cpu_ns() - t0;
	printf("%-22s seal %6.0f ns/pkt, open %6.0f ns/pkt\n", "crypto only (no I/O)",
	       (double)seal_ns / (double)total, (double)(both_ns - seal_ns) / (double)total);
	pkt_put(pool, p);
	esp_sa_free(out);
	esp_sa_free(in);
}

int main(int argc, char **argv)
{
	uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
	struct pkt_pool *pool;

	if (crypto_init() < 0 || pkt_pool_new(BURST, PKT_BUF_SIZE, &pool) < 0)
		return 1;
	vlog_set_level(VLOG_WARNING);
	printf("%llu packets of %d bytes, AES-256-GCM, loopback UDP\n",
	       (unsigned long long)total, INNER);
	crypto_only(total, pool);
	run("no batch (1/call)", 1, 0, total, pool);
	run("batch 64, no GSO", 64, 0, total, pool);
	run("batch 64, GSO+GRO", 64, 1, total, pool);
	pkt_pool_free(pool);
	return 0;
}
