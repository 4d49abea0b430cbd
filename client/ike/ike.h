/* The IKEv2 engine: one IKE SA as initiator (RFC 7296), with its Child SAs.
 *
 * The engine owns the protocol: message IDs, retransmission, the exchanges
 * (IKE_SA_INIT, IKE_AUTH with PSK / certificates / EAP-MSCHAPv2,
 * CREATE_CHILD_SA, INFORMATIONAL), the keys, and the answers to the peer's
 * requests. It owns no socket and no packet path: it hands finished
 * datagrams to ops->send and tells the session what happened through the
 * other callbacks. That is what lets the session swap the path (another
 * local address, UDP vs TCP) under a live IKE SA, and what lets unit tests
 * drive the engine with scripted responses.
 *
 * Time: the engine arms named uv timers on the loop it is given
 * (retransmit, dpd, rekey_ike, rekey_child, frag_reassembly).
 *
 * Functions return 0 or a negative errno. */
#ifndef VPN_IKE_H
#define VPN_IKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "client/crypto/crypto.h"
#include "client/ike/codec.h"
#include "client/ike/keys.h"
#include "client/ike/proposal.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ike_auth_kind {
	IKE_AUTHK_PSK,
	IKE_AUTHK_PUBKEY,
	IKE_AUTHK_EAP_MSCHAPV2, /* we authenticate by EAP, the gateway by certificate */
};

#define IKE_ID_MAX 256

/* An identity as it travels in IDi/IDr: ID type and data. */
struct ike_identity {
	uint8_t type; /* enum ike_id_type; 0 = not configured */
	uint16_t len;
	uint8_t data[IKE_ID_MAX];
};

/* Parse the profile form of an identity: an IPv4/IPv6 address, "user@host"
 * (RFC822), a distinguished name ("C=CH, O=lab, CN=gw"), otherwise an FQDN.
 * The prefixes "fqdn:", "email:", "ip:" and "dn:" force a type. */
int ike_identity_parse(const char *s, struct ike_identity *out);
/* Printable form for logs and status ("gw.lab.example", "C=CH, CN=gw"). */
void ike_identity_str(const struct ike_identity *id, char *out, size_t cap);

#define IKE_CFG_MAX_TS 8

struct ike_cfg {
	enum ike_auth_kind auth;
	struct ike_identity local_id;  /* IDi */
	struct ike_identity remote_id; /* expected IDr */
	/* Send remote_id as IDr (RFC 7296 3.5: optional). Off by default: the
	 * gateway then picks its configuration by our identity and shows us its
	 * own, which we check here, so a wrong remote_id reads "identity
	 * mismatch" instead of the gateway's generic AUTHENTICATION_FAILED. On
	 * for gateways that host several identities on one address. */
	bool send_idr;

	/* PSK (owned by the caller, must outlive the IKE SA) */
	const uint8_t *psk;
	size_t psk_len;
	/* certificates: our cert and key (pubkey), the CA that must vouch for
	 * the gateway (pubkey and EAP); borrowed */
	const struct crypto_cert *cert;
	const struct crypto_privkey *key;
	const struct crypto_ca_store *ca;
	const struct crypto_cert *const *ca_certs; /* for CERTREQ hashes */
	size_t n_ca_certs;
	/* EAP-MSCHAPv2 */
	const char *eap_identity;
	const char *eap_password;

	/* proposals, in order of preference */
	struct ike_proposal ike[IKE_MAX_PROPOSALS];
	size_t n_ike;
	struct ike_proposal esp[IKE_MAX_PROPOSALS];
	size_t n_esp;
	/* group for the first KE (a group the gateway asked for earlier);
	 * 0 = the first group of the first proposal */
	uint16_t ke_group;

	/* traffic selectors we ask for: TSi (our side; usually "any", the
	 * gateway narrows it to the virtual IP) and TSr (the gateway's side) */
	struct ike_ts tsi[IKE_CFG_MAX_TS];
	size_t n_tsi;
	struct ike_ts tsr[IKE_CFG_MAX_TS];
	size_t n_tsr;
	bool want_ipv6; /* ask for INTERNAL_IP6_ADDRESS / DNS too */

	bool mobike;        /* announce MOBIKE_SUPPORTED */
	bool fragmentation; /* announce IKEV2_FRAGMENTATION_SUPPORTED */
	/* Fake the NAT_DETECTION_SOURCE_IP hash so the gateway always uses UDP
	 * encapsulation: ESP lives in userspace and travels in UDP 4500 only. */
	bool force_encap;
	size_t frag_mtu; /* path MTU used to fragment; 0 = 1280 */

	/* timing */
	uint32_t retransmit_base_ms; /* first retry after this (<= 500) */
	uint32_t retransmit_max_ms;  /* cap of one back-off step */
	uint32_t retransmit_tries;   /* sends of one request before giving up */
	uint32_t connect_timeout_ms; /* bound on the whole IKE_SA_INIT..IKE_AUTH */
	uint32_t dpd_interval_s;     /* liveness check when the peer is silent; 0 = off */
	uint32_t rekey_ike_s;        /* 0 = never initiate */
	uint32_t rekey_child_s;
};

/* Can we run every transform of these proposals? -ENOTSUP with a line
 * naming the first one we cannot (the parser knows more names). */
int ike_proposals_supported(const struct ike_proposal *p, size_t n, char *why,
			    size_t whylen);

/* Defaults for the timing fields and feature flags. */
void ike_cfg_defaults(struct ike_cfg *cfg);

enum ike_state {
	IKE_STATE_IDLE,        /* created, nothing sent */
	IKE_STATE_INIT_SENT,   /* IKE_SA_INIT request outstanding */
	IKE_STATE_AUTH_SENT,   /* IKE_AUTH with our AUTH (or the final EAP AUTH) outstanding */
	IKE_STATE_EAP,         /* EAP round trips inside IKE_AUTH */
	IKE_STATE_ESTABLISHED,
	IKE_STATE_DELETING,    /* our Delete for the IKE SA is outstanding */
	IKE_STATE_CLOSED,      /* terminal: failed or deleted */
};
const char *ike_state_name(enum ike_state s);

/* Why an IKE SA ended; the session turns it into the one line a user sees. */
enum ike_fail {
	IKE_FAIL_NONE,
	IKE_FAIL_UNREACHABLE,     /* no answer to our requests */
	IKE_FAIL_NO_PROPOSAL,     /* NO_PROPOSAL_CHOSEN, or the choice is not ours */
	IKE_FAIL_AUTH_REFUSED,    /* the gateway refused our authentication */
	IKE_FAIL_PEER_AUTH,       /* the gateway's AUTH does not verify */
	IKE_FAIL_CERT_UNTRUSTED,  /* the gateway's certificate chain */
	IKE_FAIL_ID_MISMATCH,     /* IDr / certificate does not match remote_id */
	IKE_FAIL_EAP,             /* EAP failure (wrong password ...) */
	IKE_FAIL_TS_UNACCEPTABLE,
	IKE_FAIL_NO_ADDRESS,      /* no virtual IP (INTERNAL_ADDRESS_FAILURE, FAILED_CP_REQUIRED) */
	IKE_FAIL_PROTOCOL,        /* malformed or out-of-protocol answers */
	IKE_FAIL_DEAD_PEER,       /* liveness check unanswered */
	IKE_FAIL_DELETED,         /* the gateway deleted the IKE SA */
	IKE_FAIL_LOCAL,           /* our configuration or resources */
	IKE_FAIL_CLOSED_BY_USER,
};
const char *ike_fail_name(enum ike_fail f); /* short code: "auth_failed", ... */

/* Progress steps, for `vpnctl up`. */
enum ike_progress {
	IKE_PROGRESS_SA_INIT,     /* IKE_SA_INIT sent */
	IKE_PROGRESS_AUTH,        /* authenticating */
	IKE_PROGRESS_EAP,         /* EAP exchange */
	IKE_PROGRESS_ESTABLISHED,
};

#define IKE_MAX_DNS 4
#define IKE_MAX_DOMAINS 4

/* What the gateway configured for us (CP reply) and what was negotiated. */
struct ike_sa_info {
	bool have_ip4, have_ip6;
	uint8_t ip4[4];
	uint8_t ip4_prefix; /* from INTERNAL_IP4_NETMASK, 32 if none */
	uint8_t ip6[16];
	uint8_t ip6_prefix;
	unsigned n_dns4, n_dns6;
	uint8_t dns4[IKE_MAX_DNS][4];
	uint8_t dns6[IKE_MAX_DNS][16];
	unsigned n_domains;
	char domains[IKE_MAX_DOMAINS][256];
	bool nat_local;  /* we are behind a NAT */
	bool nat_remote; /* the gateway is */
	bool mobike;     /* both sides support MOBIKE */
	bool fragmentation;
	char ike_alg[96];  /* canonical proposal string */
	char remote_id[IKE_ID_MAX + 8];
};

/* One Child SA's keys, for the ESP layer. in/out from our point of view. */
struct ike_child_info {
	uint32_t spi_in;   /* we receive ESP with this SPI (we chose it) */
	uint32_t spi_out;  /* we send ESP with this SPI (the gateway chose it) */
	uint32_t replaces_spi_in; /* rekey: the SA this one replaces, 0 if new */
	struct ike_key_algs algs;
	bool esn;
	size_t encr_len, integ_len;
	const uint8_t *encr_in, *integ_in, *encr_out, *integ_out; /* valid during the call */
	char esp_alg[96];
	size_t n_tsi, n_tsr;
	struct ike_ts tsi[IKE_MAX_TS]; /* our side */
	struct ike_ts tsr[IKE_MAX_TS]; /* the gateway's side */
};

struct ike_sa;

struct ike_sa_ops {
	/* Send one datagram (already protected). natt: the message goes to the
	 * gateway's port 4500 with the non-ESP marker; otherwise to port 500. */
	int (*send)(void *arg, const uint8_t *msg, size_t len, bool natt);
	void (*progress)(void *arg, enum ike_progress step);
	/* IKE_AUTH done: configuration and the first Child SA follow through
	 * child_up just before this. */
	void (*established)(void *arg, const struct ike_sa_info *info);
	void (*child_up)(void *arg, const struct ike_child_info *child);
	/* A Child SA is gone (deleted by either side, or replaced by a rekey). */
	void (*child_down)(void *arg, uint32_t spi_in, uint32_t spi_out);
	/* The IKE SA ended. Called once; the engine may be freed from here on. */
	void (*closed)(void *arg, enum ike_fail why, const char *reason);
	/* The gateway asked for the group `group` (INVALID_KE_PAYLOAD): the
	 * session may remember it for the next connect. Optional. */
	void (*ke_group)(void *arg, uint16_t group);
};

/* Create an IKE SA. The configuration is copied (borrowed pointers stay
 * borrowed). */
int ike_sa_new(uv_loop_t *loop, const struct ike_cfg *cfg,
	       const struct ike_sa_ops *ops, void *arg, struct ike_sa **out);
/* Tell the engine the path's addresses (used for NAT detection and
 * MOBIKE); call before ike_sa_start and whenever the path changes. */
int ike_sa_set_path(struct ike_sa *sa, const struct sockaddr *local,
		    const struct sockaddr *remote);
/* Send IKE_SA_INIT. */
int ike_sa_start(struct ike_sa *sa);
/* A datagram from the gateway (without the non-ESP marker). Never fails the
 * caller: bad input is logged and dropped (or answered as RFC 7296 says). */
void ike_sa_recv(struct ike_sa *sa, uint8_t *msg, size_t len);
/* Protected traffic (ESP) arrived from the gateway: it is alive, so the
 * liveness check can wait. Cheap: the session calls it once per batch. */
void ike_sa_traffic_seen(struct ike_sa *sa);
/* The path reported an error (ICMP unreachable...): counts as a lost
 * request; the engine gives up sooner once several retransmits failed. */
void ike_sa_path_error(struct ike_sa *sa, int err);
/* Delete the IKE SA politely (INFORMATIONAL Delete, bounded wait). closed()
 * follows with IKE_FAIL_CLOSED_BY_USER. */
void ike_sa_close(struct ike_sa *sa);
/* Free at once, without telling the peer. Safe in any state. */
void ike_sa_free(struct ike_sa *sa);

enum ike_state ike_sa_state(const struct ike_sa *sa);
/* Our SPI (the initiator SPI) for logs. */
uint64_t ike_sa_spi_i(const struct ike_sa *sa);

#ifdef __cplusplus
}
#endif
#endif
