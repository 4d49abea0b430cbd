/* Internals of the IKE engine, shared by its files (one per exchange or
 * concern). Nothing outside client/ike includes this. */
#ifndef VPN_IKE_INT_H
#define VPN_IKE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/ike/frag.h"
#include "client/ike/ike.h"

#define IKE_LOG "ike"

#define IKE_NONCE_LEN 32
#define IKE_MSG_MAX 65536     /* largest message we build or accept */
#define IKE_REQ_MAX_FRAGS 16  /* datagrams one request may need */
#define IKE_MAX_CHILDREN 4    /* current + rekeyed ones in overlap */
#define IKE_COOKIE_RETRIES 3
#define IKE_INVALID_KE_RETRIES 2
#define IKE_EAP_MAX_ROUNDS 8
#define IKE_MAX_CHAIN 4       /* intermediate certificates we accept */
#define IKE_KE_MAX 512        /* largest KE value (MODP 4096) */
#define IKE_GIR_MAX 512

/* Requests we start. Only one is outstanding at a time (window size 1);
 * the others wait as pending bits and start in this order. */
enum ike_task {
	IKE_TASK_NONE = 0,
	IKE_TASK_SA_INIT,
	IKE_TASK_AUTH,        /* the IKE_AUTH request(s), EAP rounds included */
	IKE_TASK_DELETE_IKE,
	IKE_TASK_REKEY_IKE,
	IKE_TASK_REKEY_CHILD,
	IKE_TASK_DELETE_CHILD,
	IKE_TASK_DELETE_OLD_IKE, /* the Delete of the IKE SA a rekey replaced */
	IKE_TASK_DPD,
};

/* A datagram set we sent and may have to send again. */
struct ike_outmsg {
	uint32_t msgid;
	uint8_t exchange;
	bool natt;
	unsigned n;                       /* datagrams (fragments) */
	size_t off[IKE_REQ_MAX_FRAGS];
	size_t len[IKE_REQ_MAX_FRAGS];
	size_t used;
	uint8_t *buf;                     /* IKE_MSG_MAX + fragment headers */
};

enum ike_child_state {
	IKE_CHILD_FREE,
	IKE_CHILD_INSTALLED,
	IKE_CHILD_REKEYING, /* a CREATE_CHILD_SA replacing it is under way */
	IKE_CHILD_REKEYED,  /* replaced; waiting for its Delete */
};

struct ike_child {
	enum ike_child_state state;
	uint32_t spi_in, spi_out;
	struct ike_proposal prop;       /* chosen proposal (ESP) */
	size_t n_tsi, n_tsr;
	struct ike_ts tsi[IKE_MAX_TS], tsr[IKE_MAX_TS];
	/* Rekey collision (RFC 7296 2.8.1): the gateway rekeyed this SA while
	 * our rekey of it was under way. The SA its rekey made, and the lower
	 * nonce of its exchange, decide which of the two new SAs goes. */
	uint32_t coll_spi_in;
	uint16_t coll_nonce_len;
	uint8_t coll_nonce[IKE_NONCE_MAX_LEN];
};

/* EAP-MSCHAPv2 (RFC 2759 inside RFC 3748, in IKE_AUTH). */
enum ike_eap_state {
	IKE_EAP_NONE,
	IKE_EAP_IDENTITY_SENT,
	IKE_EAP_RESPONSE_SENT,  /* MSCHAPv2 Response with the NT-Response */
	IKE_EAP_SUCCESS_SENT,   /* our MSCHAPv2 Success ack */
	IKE_EAP_DONE,           /* EAP-Success received: MSK ready */
};

struct ike_eap_ctx {
	enum ike_eap_state state;
	unsigned rounds;
	uint8_t auth_challenge[16];
	uint8_t peer_challenge[16];
	uint8_t nt_response[24];
	uint8_t msk[64];
	bool have_msk;
};

/* The pieces of an in-progress CREATE_CHILD_SA we started. */
struct ike_rekey {
	uint32_t old_spi_in;
	uint32_t new_spi_in;
	uint64_t new_spi_i;              /* IKE rekey: our new SPI */
	uint8_t ni[IKE_NONCE_LEN];
	struct crypto_dh *dh;
};

/* One generation of the IKE SA: SPIs, SK ciphers and message counters. A
 * rekey makes a new generation; the previous one lives on (sa->old) only
 * until its Delete exchange is over. */
struct ike_gen {
	uint64_t spi_i, spi_r;    /* as in the header: the original initiator's first */
	bool orig_initiator;      /* we are this generation's original initiator */
	struct crypto_cipher *c_out, *c_in;
	uint32_t next_msgid;      /* our next request */
	uint32_t peer_msgid;      /* the peer's next request */
	bool have_resp;
	struct ike_outmsg resp;   /* last response, resent on a retransmitted request */
};

struct ike_sa {
	uv_loop_t *loop;
	struct ike_cfg cfg;
	const struct ike_sa_ops *ops;
	void *arg;
	enum ike_state state;
	bool closed_reported;
	unsigned handles_open; /* uv handles still to close before free */
	bool free_pending;

	/* path */
	struct sockaddr_storage local, remote;
	bool natt; /* talk to port 4500 with the non-ESP marker */

	struct ike_gen g;     /* current generation */
	struct ike_gen *old;  /* the one a rekey replaced, until deleted */

	/* IKE_SA_INIT */
	uint8_t ni[IKE_NONCE_LEN];
	uint8_t nr[IKE_NONCE_MAX_LEN];
	size_t nr_len;
	struct crypto_dh *dh;
	uint16_t ke_group;
	uint8_t cookie[IKE_COOKIE_MAX_LEN];
	size_t cookie_len;
	unsigned cookie_tries, invalid_ke_tries;
	uint8_t *init_req;  /* RealMessage1: our last IKE_SA_INIT request */
	size_t init_req_len;
	uint8_t *init_resp; /* RealMessage2 */
	size_t init_resp_len;

	/* negotiated */
	struct ike_proposal ike_prop;
	struct ike_sa_keys keys;
	bool have_keys;
	bool peer_mobike, peer_frag;
	uint16_t peer_hash_algs[8];
	size_t n_peer_hash_algs;
	bool nat_local, nat_remote;
	bool auth_peer_done; /* the gateway's AUTH verified */
	uint8_t peer_id_body[IKE_ID_HDR_LEN + IKE_ID_MAX]; /* IDr as received */
	size_t peer_id_body_len;

	/* requests we send */
	enum ike_task task;      /* outstanding request, NONE if idle */
	struct ike_gen *req_gen; /* the generation it travels on */
	unsigned pending;        /* bit per enum ike_task waiting to start */
	struct ike_outmsg req;
	unsigned tries;
	uint64_t req_first_ms;     /* when the outstanding request was first sent */
	uint32_t retransmit_ms;
	int path_errors;

	uint8_t *scratch;        /* assembly of a received fragmented message */
	struct ike_frag_reasm *frag;

	struct ike_eap_ctx eap;
	struct ike_child child[IKE_MAX_CHILDREN];
	uint32_t auth_spi_in;    /* our SPI for the Child SA of IKE_AUTH */
	struct ike_rekey rekey;
	uint32_t del_child_spi_in;   /* IKE_TASK_DELETE_CHILD: ours to delete */
	/* What the response being built carries (the build callbacks read it). */
	uint32_t resp_del_spis[IKE_MAX_CHILDREN];
	unsigned resp_n_del;
	uint16_t resp_error;         /* an error Notify to answer with, 0 none */
	struct ike_chain *resp_req;  /* the request being answered */

	struct ike_sa_info info;
	uint64_t last_rx_ms;

	/* timers, named after the protocol event that arms them */
	uv_timer_t t_retransmit;   /* our request is unanswered */
	uv_timer_t t_connect;      /* the whole connect took too long */
	uv_timer_t t_dpd;          /* the peer has been silent: liveness check */
	uv_timer_t t_rekey_ike;
	uv_timer_t t_rekey_child;
	uv_timer_t t_delete;       /* our Delete went unanswered long enough */
	uv_timer_t t_old_sa;       /* a rekeyed IKE SA waits this long for its Delete */
};

/* ---- sa.c: state, sending, receiving ---- */
int ike_set_state(struct ike_sa *sa, enum ike_state to, const char *why);
/* End the IKE SA: tell the session once, stop timers. */
void ike_fail(struct ike_sa *sa, enum ike_fail why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t ike_now_ms(const struct ike_sa *sa);

/* A request body builder: writes the (inner) payloads. */
typedef int (*ike_build_fn)(struct ike_sa *sa, struct ike_builder *b);
/* Build, protect (unless IKE_SA_INIT), fragment if needed, send, and arm the
 * retransmit timer. */
int ike_send_request(struct ike_sa *sa, enum ike_task task, uint8_t exchange,
		     ike_build_fn build);
/* Answer the peer's request `msgid`. */
int ike_send_response(struct ike_sa *sa, uint8_t exchange, uint32_t msgid,
		      ike_build_fn build);
/* The outstanding request is answered: stop retransmitting. */
void ike_request_done(struct ike_sa *sa);
/* Queue a task; it starts when no request is outstanding. */
void ike_schedule(struct ike_sa *sa, enum ike_task task);

/* Generations (sa.c): retire moves the current one to sa->old and leaves
 * a fresh one to fill; drop frees the old one. */
int ike_gen_retire(struct ike_sa *sa);
void ike_drop_old(struct ike_sa *sa);
void ike_gen_clear(struct ike_gen *g);

/* ---- sa_init.c ---- */
int ike_sa_init_send(struct ike_sa *sa);
void ike_sa_init_recv(struct ike_sa *sa, const struct ike_msg *m, uint8_t *buf,
		      size_t len);
int ike_natd_hash(uint64_t spi_i, uint64_t spi_r, const struct sockaddr *sa,
		  uint8_t out[IKE_NATD_HASH_LEN]);

/* ---- auth.c, auth_psk.c, auth_pubkey.c, eap_mschapv2.c ---- */
int ike_auth_send(struct ike_sa *sa);
void ike_auth_recv(struct ike_sa *sa, const struct ike_header *h,
		   const struct ike_chain *c);
/* The octets an AUTH payload signs (RFC 7296 2.15): message | nonce |
 * prf(SK_p, ID body). `ours` selects our side (initiator). */
int ike_auth_octets(struct ike_sa *sa, bool ours, const uint8_t *id_body,
		    size_t id_body_len, uint8_t **out, size_t *out_len);
int ike_auth_psk_compute(struct ike_sa *sa, const uint8_t *key, size_t key_len,
			 const uint8_t *octets, size_t octets_len, uint8_t *out,
			 size_t *out_len);
int ike_auth_sign(struct ike_sa *sa, const uint8_t *octets, size_t octets_len,
		  uint8_t *method, uint8_t *out, size_t *out_len);
int ike_auth_verify_sig(struct ike_sa *sa, const struct crypto_cert *cert,
			const struct ike_auth *auth, const uint8_t *octets,
			size_t octets_len);
/* EAP: build our response to a request; 1 when EAP succeeded (MSK ready). */
int ike_eap_process(struct ike_sa *sa, const struct ike_eap *req, uint8_t *out,
		    size_t cap, size_t *out_len);

/* ---- child.c: Child SA proposals, traffic selectors, keys, CP ---- */
int ike_child_build_sa(struct ike_sa *sa, struct ike_builder *b, uint32_t spi,
		       bool with_dh);
int ike_child_build_ts(struct ike_sa *sa, struct ike_builder *b);
int ike_child_build_cp_request(struct ike_sa *sa, struct ike_builder *b);
int ike_child_apply_cp(struct ike_sa *sa, const struct ike_chain *c);
/* The first Child SA from an IKE_AUTH response (or a CREATE_CHILD_SA):
 * check SA and TS, derive keys, report child_up. gir NULL without PFS. */
int ike_child_install(struct ike_sa *sa, const struct ike_chain *c,
		      uint32_t spi_in, const uint8_t *ni, size_t ni_len,
		      const uint8_t *nr, size_t nr_len, const uint8_t *gir,
		      size_t gir_len, bool we_initiated, uint32_t replaces);
int ike_child_install_parts(struct ike_sa *sa, const struct ike_proposal *chosen,
			    const struct ike_ts_list *tsi, const struct ike_ts_list *tsr,
			    uint32_t spi_in, uint32_t spi_out, const uint8_t *ni, size_t ni_len,
			    const uint8_t *nr, size_t nr_len, const uint8_t *gir,
			    size_t gir_len, bool we_initiated, uint32_t replaces);
struct ike_child *ike_child_by_spi_in(struct ike_sa *sa, uint32_t spi_in);
unsigned ike_child_count(const struct ike_sa *sa);
struct ike_child *ike_child_by_spi_out(struct ike_sa *sa, uint32_t spi_out);
void ike_child_remove(struct ike_sa *sa, struct ike_child *ch, bool report);
int ike_child_new_spi(struct ike_sa *sa, uint32_t *spi);
/* IKE transform IDs onto the crypto layer's enums. */
int ike_map_algs(const struct ike_proposal *p, struct ike_key_algs *algs,
		 bool *esn);

/* ---- informational.c: liveness, Delete, the peer's requests ---- */
void ike_info_recv_request(struct ike_sa *sa, const struct ike_header *h,
			   const struct ike_chain *c);
void ike_info_recv_response(struct ike_sa *sa, const struct ike_header *h,
			    const struct ike_chain *c);
int ike_dpd_send(struct ike_sa *sa);
int ike_delete_ike_send(struct ike_sa *sa);
int ike_delete_child_send(struct ike_sa *sa);

/* ---- ike_rekey.c: rekeying the IKE SA ---- */
int ike_rekey_ike_send(struct ike_sa *sa, uint16_t group);
void ike_rekey_ike_recv_response(struct ike_sa *sa, const struct ike_chain *c);
uint16_t ike_rekey_ike_recv_request(struct ike_sa *sa, const struct ike_header *h,
				    const struct ike_chain *c,
				    const struct ike_sa_payload *offer);
int ike_delete_old_send(struct ike_sa *sa);

/* ---- create_child.c: rekeying Child SAs ---- */
int ike_rekey_child_send(struct ike_sa *sa);
void ike_create_child_recv_response(struct ike_sa *sa, const struct ike_header *h,
				    const struct ike_chain *c);
void ike_create_child_recv_request(struct ike_sa *sa, const struct ike_header *h,
				   const struct ike_chain *c);

/* Helpers shared by the exchanges */
const struct ike_notify *ike_first_error(const struct ike_chain *c,
					 struct ike_notify *scratch);
bool ike_has_notify(const struct ike_chain *c, uint16_t type);
void ike_addr_str(const struct sockaddr *a, char *out, size_t cap);
void ike_arm_established_timers(struct ike_sa *sa);
void ike_arm_rekey_child(struct ike_sa *sa, uint32_t seconds);
void ike_arm_rekey_ike(struct ike_sa *sa, uint32_t seconds);

#endif
