/* vpnd's core: the connections (one per profile that was brought up) and
 * the control socket's operations on them. main.c wires it to a loop, the
 * log and the signals. */
#ifndef VPN_VPND_H
#define VPN_VPND_H

#include <stdbool.h>

#include <uv.h>

#include "client/daemon/ctl_server.h"
#include "client/daemon/profile.h"
#include "client/session/session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VPND_MAX_CONNS 16

struct vpnd_paths {
	const char *socket;      /* control socket */
	const char *profiles;    /* profile directory */
	const char *state_dir;   /* platform journals */
	const char *resolv_conf; /* NULL: /etc/resolv.conf */
	const char *group;       /* may up/down besides root; NULL: "vpn" */
	bool no_tun_offload;     /* plain TUN I/O (benchmarks compare both) */
};

struct vpnd;

/* Credentials and proposals loaded from a profile for one connection; they
 * must outlive the session that borrows them. */
struct vpnd_creds {
	struct crypto_cert *cert;
	struct crypto_privkey *key;
	struct crypto_ca_store *ca;
	struct crypto_cert *ca_cert;
	uint8_t *psk;
	size_t psk_len;
	char *eap_identity, *eap_password;
};

/* Translate a profile into a session configuration (everything but the
 * per-connection routing table, fwmark and paths). Loads certificates and
 * keys into `creds`. -EINVAL with a one-line reason in `why`. */
int vpnd_profile_to_cfg(const struct vpn_profile *p, struct sess_cfg *cfg,
			struct vpnd_creds *creds, char *why, size_t whylen);
void vpnd_creds_free(struct vpnd_creds *c);
/* The proposal-string check installed into the profile loader. */
int vpnd_proposal_check(const char *list, bool is_esp, char *why, size_t whylen);

int vpnd_new(uv_loop_t *loop, const struct vpnd_paths *paths, struct vpnd **out);
/* Bring up every profile with autoconnect = yes (kept up: retried after
 * any failure). */
void vpnd_autoconnect(struct vpnd *d);
/* Take every connection down politely; `done` runs when all are down (or
 * after a bound). */
void vpnd_shutdown(struct vpnd *d, void (*done)(void *arg), void *arg);
void vpnd_free(struct vpnd *d);

#ifdef __cplusplus
}
#endif
#endif
