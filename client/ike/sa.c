/* The IKE SA: its state machine, sending requests and responses (with
 * protection, fragmentation and retransmission) and the dispatch of what
 * arrives to the exchange that owns it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/ike/sk.h"
#include "client/util/log.h"

void ike_cfg_defaults(struct ike_cfg *cfg)
{
	cfg->mobike = true;
	cfg->fragmentation = true;
	cfg->force_encap = true;
	cfg->frag_mtu = 1280;
	cfg->retransmit_base_ms = 500;
	cfg->retransmit_max_ms = 8000;
	cfg->retransmit_tries = 6;
	cfg->connect_timeout_ms = 30000;
	cfg->dpd_interval_s = 30;
	cfg->rekey_ike_s = 3 * 3600;
	cfg->rekey_child_s = 45 * 60;
}

const char *ike_state_name(enum ike_state s)
{
	switch (s) {
	case IKE_STATE_IDLE: return "idle";
	case IKE_STATE_INIT_SENT: return "init-sent";
	case IKE_STATE_AUTH_SENT: return "auth-sent";
	case IKE_STATE_EAP: return "eap";
	case IKE_STATE_ESTABLISHED: return "established";
	case IKE_STATE_DELETING: return "deleting";
	case IKE_STATE_CLOSED: return "closed";
	}
	return "?";
}

const char *ike_fail_name(enum ike_fail f)
{
	switch (f) {
	case IKE_FAIL_NONE: return "none";
	case IKE_FAIL_UNREACHABLE: return "unreachable";
	case IKE_FAIL_NO_PROPOSAL: return "no_proposal";
	case IKE_FAIL_AUTH_REFUSED: return "auth_failed";
	case IKE_FAIL_PEER_AUTH: return "peer_auth_failed";
	case IKE_FAIL_CERT_UNTRUSTED: return "cert_untrusted";
	case IKE_FAIL_ID_MISMATCH: return "id_mismatch";
	case IKE_FAIL_EAP: return "eap_failed";
	case IKE_FAIL_TS_UNACCEPTABLE: return "ts_unacceptable";
	case IKE_FAIL_NO_ADDRESS: return "no_address";
	case IKE_FAIL_PROTOCOL: return "protocol_error";
	case IKE_FAIL_DEAD_PEER: return "dead_peer";
	case IKE_FAIL_DELETED: return "deleted_by_peer";
	case IKE_FAIL_LOCAL: return "local_error";
	case IKE_FAIL_CLOSED_BY_USER: return "closed";
	}
	return "?";
}

/* Legal moves. Everything may fail into CLOSED; nothing leaves CLOSED. */
static bool transition_allowed(enum ike_state from, enum ike_state to)
{
	if (from == IKE_STATE_CLOSED)
		return false;
	if (to == IKE_STATE_CLOSED)
		return true;
	switch (from) {
	case IKE_STATE_IDLE:
		return to == IKE_STATE_INIT_SENT;
	case IKE_STATE_INIT_SENT:
		return to == IKE_STATE_AUTH_SENT || to == IKE_STATE_EAP;
	case IKE_STATE_EAP:
		return to == IKE_STATE_AUTH_SENT;
	case IKE_STATE_AUTH_SENT:
		return to == IKE_STATE_ESTABLISHED;
	case IKE_STATE_ESTABLISHED:
		return to == IKE_STATE_DELETING;
	default:
		return false;
	}
}

int ike_set_state(struct ike_sa *sa, enum ike_state to, const char *why)
{
	if (!transition_allowed(sa->state, to)) {
		vlog_err(IKE_LOG, "IKE SA %016llx: refusing move %s -> %s (%s)",
			 (unsigned long long)sa->g.spi_i, ike_state_name(sa->state),
			 ike_state_name(to), why);
		return -EPROTO;
	}
	vlog_info(IKE_LOG, "IKE SA %016llx: %s -> %s (%s)",
		  (unsigned long long)sa->g.spi_i, ike_state_name(sa->state),
		  ike_state_name(to), why);
	sa->state = to;
	return 0;
}

uint64_t ike_now_ms(const struct ike_sa *sa)
{
	return uv_now(sa->loop);
}

static void stop_timers(struct ike_sa *sa)
{
	uv_timer_stop(&sa->t_retransmit);
	uv_timer_stop(&sa->t_connect);
	uv_timer_stop(&sa->t_dpd);
	uv_timer_stop(&sa->t_rekey_ike);
	uv_timer_stop(&sa->t_rekey_child);
	uv_timer_stop(&sa->t_delete);
	uv_timer_stop(&sa->t_old_sa);
}

void ike_fail(struct ike_sa *sa, enum ike_fail why, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	unsigned i;

	if (sa->closed_reported)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (sa->state != IKE_STATE_CLOSED)
		ike_set_state(sa, IKE_STATE_CLOSED, reason);
	stop_timers(sa);
	sa->task = IKE_TASK_NONE;
	sa->pending = 0;
	sa->closed_reported = true;
	if (why == IKE_FAIL_CLOSED_BY_USER || why == IKE_FAIL_DELETED)
		vlog_notice(IKE_LOG, "IKE SA %016llx closed: %s",
			    (unsigned long long)sa->g.spi_i, reason);
	else
		vlog_err(IKE_LOG, "IKE SA %016llx failed (%s): %s",
			 (unsigned long long)sa->g.spi_i, ike_fail_name(why), reason);
	for (i = 0; i < IKE_MAX_CHILDREN; i++)
		if (sa->child[i].state != IKE_CHILD_FREE)
			ike_child_remove(sa, &sa->child[i], true);
	/* May free the SA (deferred until the uv handles are closed). */
	sa->ops->closed(sa->arg, why, reason);
}

/* ---- building and sending ------------------------------------------------ */

static size_t cipher_iv_len(const struct crypto_cipher *c)
{
	return crypto_cipher_iv_len(c);
}

static bool remote_is_ipv6(const struct ike_sa *sa)
{
	return sa->remote.ss_family == AF_INET6;
}

/* Fragment the (unsealed) message in b: its inner payloads become SKF
 * datagrams appended to out. RFC 7383 2.5. */
static int fragment(struct ike_sa *sa, const struct ike_gen *gen, struct ike_builder *b,
		    const struct ike_header *h, struct ike_outmsg *out)
{
	struct ike_frag_plan plan;
	struct ike_header fh = *h;
	const uint8_t *inner = b->w.p + b->sk_inner;
	size_t inner_len = ike_build_sk_inner_len(b);
	uint8_t first = b->w.p[b->sk_hdr];
	size_t max_msg = ike_frag_max_msg(sa->cfg.frag_mtu, remote_is_ipv6(sa), sa->natt);
	uint16_t num;
	int err;

	err = ike_frag_plan_for(gen->c_out, inner_len, max_msg, &plan);
	if (err)
		return err;
	if (plan.count > IKE_REQ_MAX_FRAGS)
		return -EMSGSIZE;
	/* The fragments are written behind the unsealed message, which holds
	 * the inner payloads they are cut from; then moved to the front. */
	size_t base = b->w.len;
	size_t at = base;
	for (num = 1; num <= plan.count; num++) {
		size_t len;

		fh.next = IKE_PT_SKF;
		err = ike_frag_seal(gen->c_out, &fh, first, inner, inner_len, &plan,
				    num, out->buf + at, IKE_MSG_MAX * 2 - at, &len);
		if (err)
			return err;
		out->off[num - 1] = at - base;
		out->len[num - 1] = len;
		at += len;
	}
	memmove(out->buf, out->buf + base, at - base);
	out->n = plan.count;
	out->used = at - base;
	vlog_info(IKE_LOG, "%s message %u: %zu octets sent in %u fragments",
		  ike_exchange_name(h->exchange), h->msgid, inner_len, plan.count);
	return 0;
}

static int build_message(struct ike_sa *sa, const struct ike_gen *gen, uint8_t exchange,
			 uint32_t msgid, bool response, ike_build_fn build,
			 struct ike_outmsg *out)
{
	struct ike_header h = {
		.spi_i = gen->spi_i,
		.spi_r = gen->spi_r,
		.version = IKE_VERSION_BYTE,
		.exchange = exchange,
		.flags = (gen->orig_initiator ? IKE_HDR_FLAG_INITIATOR : 0) |
			 (response ? IKE_HDR_FLAG_RESPONSE : 0),
		.msgid = msgid,
	};
	struct ike_builder b;
	size_t len, aad_len, inner_len, total;
	int err;

	out->msgid = msgid;
	out->exchange = exchange;
	out->natt = sa->natt;
	out->n = 0;
	ike_build_init(&b, out->buf, IKE_MSG_MAX * 2, &h);
	if (exchange == IKE_EXCH_IKE_SA_INIT) {
		err = build(sa, &b);
		if (!err)
			err = ike_build_finish(&b, &len);
		if (err)
			return err;
		out->n = 1;
		out->off[0] = 0;
		out->len[0] = len;
		out->used = len;
		return 0;
	}
	if (!gen->c_out)
		return -EINVAL;
	err = ike_build_sk_begin(&b, cipher_iv_len(gen->c_out));
	if (!err)
		err = build(sa, &b);
	if (err)
		return err;
	inner_len = ike_build_sk_inner_len(&b);
	total = b.sk_hdr + IKE_PAYLOAD_HDR_LEN + ike_sk_overhead(gen->c_out, inner_len) + inner_len;
	if (sa->peer_frag && sa->cfg.fragmentation &&
	    total > ike_frag_max_msg(sa->cfg.frag_mtu, remote_is_ipv6(sa), sa->natt))
		return fragment(sa, gen, &b, &h, out);
	(void)aad_len;
	err = ike_build_sk_seal(&b, gen->c_out, &len);
	if (err)
		return err;
	if (len > IKE_MSG_MAX)
		return -EMSGSIZE;
	out->n = 1;
	out->off[0] = 0;
	out->len[0] = len;
	out->used = len;
	return 0;
}

static int transmit(struct ike_sa *sa, const struct ike_outmsg *m)
{
	unsigned i;
	int err = 0;

	for (i = 0; i < m->n; i++) {
		int e = sa->ops->send(sa->arg, m->buf + m->off[i], m->len[i], m->natt);
		if (e && !err)
			err = e;
	}
	return err;
}

static void on_retransmit(uv_timer_t *t);

int ike_send_request(struct ike_sa *sa, enum ike_task task, uint8_t exchange,
		     ike_build_fn build)
{
	/* The Delete of a rekeyed IKE SA travels on that old generation. */
	struct ike_gen *gen = task == IKE_TASK_DELETE_OLD_IKE ? sa->old : &sa->g;
	uint32_t msgid;
	int err;

	if (!gen)
		return -EINVAL;
	msgid = exchange == IKE_EXCH_IKE_SA_INIT ? 0 : gen->next_msgid;
	if (sa->task != IKE_TASK_NONE && sa->task != task)
		return -EBUSY;
	err = build_message(sa, gen, exchange, msgid, false, build, &sa->req);
	if (err) {
		vlog_err(IKE_LOG, "building %s request %u: %s",
			 ike_exchange_name(exchange), msgid, ike_strerror(err));
		return err;
	}
	sa->task = task;
	sa->req_gen = gen;
	sa->tries = 1;
	sa->req_first_ms = ike_now_ms(sa);
	sa->retransmit_ms = sa->cfg.retransmit_base_ms;
	vlog_debug(IKE_LOG, "sending %s request %u (%zu octets)",
		   ike_exchange_name(exchange), msgid, sa->req.used);
	err = transmit(sa, &sa->req);
	if (err)
		vlog_warn(IKE_LOG, "sending %s request %u: %s",
			  ike_exchange_name(exchange), msgid, strerror(-err));
	uv_timer_start(&sa->t_retransmit, on_retransmit, sa->retransmit_ms, 0);
	return 0;
}

static int send_response_gen(struct ike_sa *sa, struct ike_gen *gen, uint8_t exchange,
			     uint32_t msgid, ike_build_fn build)
{
	int err = build_message(sa, gen, exchange, msgid, true, build, &gen->resp);

	if (err) {
		vlog_err(IKE_LOG, "building %s response %u: %s",
			 ike_exchange_name(exchange), msgid, ike_strerror(err));
		gen->have_resp = false;
		return err;
	}
	gen->have_resp = true;
	gen->peer_msgid = msgid + 1;
	err = transmit(sa, &gen->resp);
	if (err)
		vlog_warn(IKE_LOG, "sending %s response %u: %s",
			  ike_exchange_name(exchange), msgid, strerror(-err));
	return 0;
}

int ike_send_response(struct ike_sa *sa, uint8_t exchange, uint32_t msgid,
		      ike_build_fn build)
{
	return send_response_gen(sa, &sa->g, exchange, msgid, build);
}

void ike_request_done(struct ike_sa *sa)
{
	uv_timer_stop(&sa->t_retransmit);
	if (sa->req_gen)
		sa->req_gen->next_msgid = sa->req.msgid + 1;
	sa->req_gen = NULL;
	sa->task = IKE_TASK_NONE;
	sa->path_errors = 0;
}

void ike_schedule(struct ike_sa *sa, enum ike_task task)
{
	sa->pending |= 1u << task;
}

/* Start the next waiting task once nothing is outstanding. */
static void run_pending(struct ike_sa *sa)
{
	static const enum ike_task order[] = {
		IKE_TASK_DELETE_IKE, IKE_TASK_DELETE_OLD_IKE, IKE_TASK_DELETE_CHILD,
		IKE_TASK_REKEY_IKE, IKE_TASK_REKEY_CHILD, IKE_TASK_DPD,
	};
	size_t i;

	if (sa->task != IKE_TASK_NONE || sa->closed_reported)
		return;
	if (sa->state != IKE_STATE_ESTABLISHED && sa->state != IKE_STATE_DELETING)
		return;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		enum ike_task t = order[i];
		int err = 0;

		if (!(sa->pending & (1u << t)))
			continue;
		sa->pending &= ~(1u << t);
		switch (t) {
		case IKE_TASK_DELETE_IKE: err = ike_delete_ike_send(sa); break;
		case IKE_TASK_REKEY_CHILD: err = ike_rekey_child_send(sa); break;
		case IKE_TASK_DELETE_CHILD: err = ike_delete_child_send(sa); break;
		case IKE_TASK_DPD: err = ike_dpd_send(sa); break;
		case IKE_TASK_REKEY_IKE: err = ike_rekey_ike_send(sa, 0); break;
		case IKE_TASK_DELETE_OLD_IKE: err = ike_delete_old_send(sa); break;
		default: break;
		}
		if (err)
			vlog_warn(IKE_LOG, "task %d could not start: %s", (int)t,
				  ike_strerror(err));
		if (sa->task != IKE_TASK_NONE)
			return;
	}
}

static void on_retransmit(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;
	uint64_t next;

	if (sa->task == IKE_TASK_NONE)
		return;
	if (sa->tries >= sa->cfg.retransmit_tries) {
		enum ike_fail why = sa->state == IKE_STATE_ESTABLISHED ||
					    sa->state == IKE_STATE_DELETING
				    ? IKE_FAIL_DEAD_PEER
				    : IKE_FAIL_UNREACHABLE;
		if (sa->task == IKE_TASK_DELETE_IKE || sa->state == IKE_STATE_DELETING) {
			ike_fail(sa, IKE_FAIL_CLOSED_BY_USER,
				 "closed (the gateway did not confirm the Delete)");
			return;
		}
		char peer[64];

		ike_addr_str((struct sockaddr *)&sa->remote, peer, sizeof(peer));
		if (why == IKE_FAIL_UNREACHABLE)
			ike_fail(sa, why,
				 "gateway unreachable: no answer from %s to %s after %u tries in %.1f s",
				 peer, ike_exchange_name(sa->req.exchange), sa->tries,
				 (double)(ike_now_ms(sa) - sa->req_first_ms) / 1000.0);
		else
			ike_fail(sa, why, "gateway %s stopped answering (%s unanswered after %u tries)",
				 peer, ike_exchange_name(sa->req.exchange), sa->tries);
		return;
	}
	sa->tries++;
	next = (uint64_t)sa->retransmit_ms * 2;
	if (next > sa->cfg.retransmit_max_ms)
		next = sa->cfg.retransmit_max_ms;
	sa->retransmit_ms = (uint32_t)next;
	vlog_info(IKE_LOG, "retransmitting %s request %u (try %u)",
		  ike_exchange_name(sa->req.exchange), sa->req.msgid, sa->tries);
	transmit(sa, &sa->req);
	uv_timer_start(&sa->t_retransmit, on_retransmit, sa->retransmit_ms, 0);
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;

	if (sa->state == IKE_STATE_ESTABLISHED || sa->state == IKE_STATE_CLOSED)
		return;
	ike_fail(sa, IKE_FAIL_UNREACHABLE,
		 "no IKE SA within %u s (stuck in %s)",
		 sa->cfg.connect_timeout_ms / 1000, ike_state_name(sa->state));
}

/* ---- receiving ------------------------------------------------------------ */

/* Open the SK or SKF payload. Returns 1 with `inner` filled when a whole
 * message is there, 0 when a fragment was stored, negative on error. */
static int unprotect(struct ike_sa *sa, const struct ike_gen *gen, uint8_t *buf,
		     const struct ike_msg *m, struct ike_chain *inner)
{
	const struct ike_payload *last;
	struct ike_skf skf;
	uint8_t *plain, first;
	size_t plain_len, len;
	int err;

	if (!gen->c_in || m->chain.n == 0)
		return -EBADMSG;
	last = &m->chain.pl[m->chain.n - 1];
	if (last->type == IKE_PT_SK) {
		err = ike_sk_decrypt(gen->c_in, buf, m, inner);
		return err ? err : 1;
	}
	if (last->type != IKE_PT_SKF) {
		vlog_warn(IKE_LOG, "%s message %u is not encrypted: dropped",
			  ike_exchange_name(m->hdr.exchange), m->hdr.msgid);
		return -EBADMSG;
	}
	if (!sa->cfg.fragmentation)
		return -EBADMSG;
	err = ike_skf_decrypt(gen->c_in, buf, m, &skf, &plain, &plain_len);
	if (err)
		return err;
	if (!sa->frag) {
		sa->frag = malloc(sizeof(*sa->frag));
		sa->scratch = malloc(IKE_FRAG_MAX_BYTES);
		if (!sa->frag || !sa->scratch)
			return -ENOMEM;
		ike_frag_init(sa->frag);
	}
	err = ike_frag_add(sa->frag, m->hdr.msgid, skf.num, skf.total, skf.first,
			   plain, plain_len, ike_now_ms(sa), ike_now_ms(sa) + 10000);
	if (err <= 0)
		return err;
	err = ike_frag_assemble(sa->frag, sa->scratch, IKE_FRAG_MAX_BYTES, &len, &first);
	if (err)
		return err;
	err = ike_decode_inner(sa->scratch, len, first, inner);
	return err ? err : 1;
}

static void dispatch_response(struct ike_sa *sa, const struct ike_msg *m,
			      const struct ike_chain *inner)
{
	switch (m->hdr.exchange) {
	case IKE_EXCH_IKE_AUTH:
		ike_auth_recv(sa, &m->hdr, inner);
		break;
	case IKE_EXCH_INFORMATIONAL:
		ike_info_recv_response(sa, &m->hdr, inner);
		break;
	case IKE_EXCH_CREATE_CHILD_SA:
		ike_create_child_recv_response(sa, &m->hdr, inner);
		break;
	default:
		break;
	}
}

static void dispatch_request(struct ike_sa *sa, const struct ike_msg *m,
			     const struct ike_chain *inner)
{
	switch (m->hdr.exchange) {
	case IKE_EXCH_INFORMATIONAL:
		ike_info_recv_request(sa, &m->hdr, inner);
		break;
	case IKE_EXCH_CREATE_CHILD_SA:
		ike_create_child_recv_request(sa, &m->hdr, inner);
		break;
	default:
		vlog_warn(IKE_LOG, "peer request %s %u ignored: not expected now",
			  ike_exchange_name(m->hdr.exchange), m->hdr.msgid);
		break;
	}
}

static void on_dpd(uv_timer_t *t);

static void peer_seen(struct ike_sa *sa)
{
	sa->last_rx_ms = ike_now_ms(sa);
	if (sa->state == IKE_STATE_ESTABLISHED && sa->cfg.dpd_interval_s)
		uv_timer_start(&sa->t_dpd, on_dpd, sa->cfg.dpd_interval_s * 1000ull, 0);
}

static void recv_response(struct ike_sa *sa, struct ike_gen *gen, uint8_t *buf,
			  size_t len, struct ike_msg *m)
{
	struct ike_chain inner;
	int err;

	if (sa->task == IKE_TASK_NONE || m->hdr.msgid != sa->req.msgid ||
	    m->hdr.exchange != sa->req.exchange || gen != sa->req_gen) {
		vlog_debug(IKE_LOG, "unexpected %s response %u: dropped",
			   ike_exchange_name(m->hdr.exchange), m->hdr.msgid);
		return;
	}
	if (m->hdr.exchange == IKE_EXCH_IKE_SA_INIT) {
		ike_sa_init_recv(sa, m, buf, len);
		return;
	}
	err = unprotect(sa, gen, buf, m, &inner);
	if (err <= 0)
		return; /* a fragment, or refused (logged) */
	peer_seen(sa);
	dispatch_response(sa, m, &inner);
}

static int build_empty(struct ike_sa *sa, struct ike_builder *b)
{
	(void)sa;
	(void)b;
	return 0;
}

/* A request on the generation a rekey replaced: only its Delete (or a
 * liveness check) is expected; answered on that generation. */
static void old_request(struct ike_sa *sa, const struct ike_msg *m,
			const struct ike_chain *inner)
{
	bool delete_ike = false;
	unsigned i;

	if (m->hdr.exchange != IKE_EXCH_INFORMATIONAL) {
		vlog_info(IKE_LOG, "%s request on the rekeyed IKE SA ignored",
			  ike_exchange_name(m->hdr.exchange));
		return;
	}
	for (i = 0; i < inner->n; i++) {
		struct ike_delete d;

		if (inner->pl[i].type == IKE_PT_DELETE && !ike_parse_delete(&inner->pl[i], &d) &&
		    d.protocol == IKE_PROTO_IKE)
			delete_ike = true;
	}
	send_response_gen(sa, sa->old, IKE_EXCH_INFORMATIONAL, m->hdr.msgid, build_empty);
	if (delete_ike) {
		vlog_info(IKE_LOG, "rekeyed IKE SA %016llx_i %016llx_r deleted by the peer",
			  (unsigned long long)sa->old->spi_i, (unsigned long long)sa->old->spi_r);
		ike_drop_old(sa);
	}
}

/* The refusal of an authenticated but malformed request (RFC 7296 2.5,
 * 3.10.1): the notify type is in resp_error, UNSUPPORTED_CRITICAL_PAYLOAD
 * names the payload type. Read by build_refusal, one at a time. */
static uint8_t refused_type;

static int build_refusal(struct ike_sa *sa, struct ike_builder *b)
{
	bool critical = sa->resp_error == IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD;

	return ike_build_notify(b, IKE_PROTO_NONE, NULL, 0, sa->resp_error, &refused_type,
				critical ? 1 : 0);
}

static void recv_request(struct ike_sa *sa, struct ike_gen *gen, uint8_t *buf,
			 struct ike_msg *m)
{
	struct ike_chain inner;
	int err;

	if (!sa->have_keys)
		return;
	if (gen->have_resp && m->hdr.msgid + 1 == gen->peer_msgid) {
		vlog_info(IKE_LOG, "peer retransmitted %s request %u: answering again",
			  ike_exchange_name(m->hdr.exchange), m->hdr.msgid);
		transmit(sa, &gen->resp);
		return;
	}
	if (m->hdr.msgid != gen->peer_msgid) {
		vlog_warn(IKE_LOG, "peer request %u out of window (expecting %u): dropped",
			  m->hdr.msgid, gen->peer_msgid);
		return;
	}
	inner.buf = NULL; /* set once the inner chain is walked, i.e. it decrypted */
	err = unprotect(sa, gen, buf, m, &inner);
	if (err < 0 && inner.buf && ike_err_notify(err)) {
		/* The gateway sent it (it decrypted): answer, or it retransmits
		 * until it takes us for dead. */
		vlog_warn(IKE_LOG, "peer request %s %u refused with %s",
			  ike_exchange_name(m->hdr.exchange), m->hdr.msgid,
			  ike_notify_name(ike_err_notify(err)));
		refused_type = inner.bad_type;
		sa->resp_error = ike_err_notify(err);
		send_response_gen(sa, gen, m->hdr.exchange, m->hdr.msgid, build_refusal);
		sa->resp_error = 0;
		return;
	}
	if (err <= 0)
		return;
	peer_seen(sa);
	if (gen == sa->old)
		old_request(sa, m, &inner);
	else
		dispatch_request(sa, m, &inner);
}

/* Which generation a message belongs to, by its SPIs; NULL for none. */
static struct ike_gen *gen_of(struct ike_sa *sa, const struct ike_header *h)
{
	if (h->spi_i == sa->g.spi_i &&
	    (h->spi_r == sa->g.spi_r ||
	     (h->exchange == IKE_EXCH_IKE_SA_INIT && sa->state == IKE_STATE_INIT_SENT)))
		return &sa->g;
	if (sa->old && h->spi_i == sa->old->spi_i && h->spi_r == sa->old->spi_r)
		return sa->old;
	return NULL;
}

void ike_sa_recv(struct ike_sa *sa, uint8_t *buf, size_t len)
{
	struct ike_gen *gen;
	struct ike_msg m;
	uint8_t peer_i;

	if (sa->state == IKE_STATE_CLOSED || sa->state == IKE_STATE_IDLE)
		return;
	if (ike_decode(buf, len, &m))
		return; /* logged by the codec */
	gen = gen_of(sa, &m.hdr);
	if (!gen) {
		vlog_debug(IKE_LOG, "message for another IKE SA (%016llx_i %016llx_r): dropped",
			   (unsigned long long)m.hdr.spi_i, (unsigned long long)m.hdr.spi_r);
		return;
	}
	/* The peer's messages carry the I flag when it is the original
	 * initiator of that generation (after it rekeyed the IKE SA). */
	peer_i = gen->orig_initiator ? 0 : IKE_HDR_FLAG_INITIATOR;
	if ((m.hdr.flags & IKE_HDR_FLAG_INITIATOR) != peer_i)
		vlog_warn(IKE_LOG, "message with the wrong Initiator flag: dropped");
	else if (m.hdr.flags & IKE_HDR_FLAG_RESPONSE)
		recv_response(sa, gen, buf, len, &m);
	else
		recv_request(sa, gen, buf, &m);
	run_pending(sa);
}

void ike_sa_traffic_seen(struct ike_sa *sa)
{
	sa->last_rx_ms = ike_now_ms(sa);
}

void ike_sa_path_error(struct ike_sa *sa, int err)
{
	if (sa->task == IKE_TASK_NONE)
		return;
	sa->path_errors++;
	vlog_info(IKE_LOG, "path error while %s request %u is outstanding: %s",
		  ike_exchange_name(sa->req.exchange), sa->req.msgid, strerror(-err));
	/* An ICMP error for every try of a fresh IKE SA means nobody listens:
	 * say so after three instead of waiting out the back-off. */
	if (sa->state == IKE_STATE_INIT_SENT && sa->path_errors >= 3) {
		char peer[64];

		ike_addr_str((struct sockaddr *)&sa->remote, peer, sizeof(peer));
		ike_fail(sa, IKE_FAIL_UNREACHABLE,
			 "gateway unreachable: %s refuses IKE (%s) on %u tries", peer,
			 strerror(-err), sa->tries);
	}
}

/* ---- timers of the established IKE SA ------------------------------------------ */

static void on_dpd(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;
	uint64_t quiet = ike_now_ms(sa) - sa->last_rx_ms;
	uint64_t interval = sa->cfg.dpd_interval_s * 1000ull;

	if (sa->state != IKE_STATE_ESTABLISHED)
		return;
	/* RFC 7296 2.4: only when nothing protected came from the peer for
	 * the interval; ESP counts (ike_sa_traffic_seen). */
	if (quiet < interval) {
		uv_timer_start(&sa->t_dpd, on_dpd, interval - quiet, 0);
		return;
	}
	ike_schedule(sa, IKE_TASK_DPD);
	run_pending(sa);
}

static void on_rekey_child(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;

	if (sa->state != IKE_STATE_ESTABLISHED)
		return;
	ike_schedule(sa, IKE_TASK_REKEY_CHILD);
	run_pending(sa);
}

static void on_rekey_ike(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;

	if (sa->state != IKE_STATE_ESTABLISHED)
		return;
	ike_schedule(sa, IKE_TASK_REKEY_IKE);
	run_pending(sa);
}

void ike_arm_rekey_ike(struct ike_sa *sa, uint32_t seconds)
{
	uv_timer_start(&sa->t_rekey_ike, on_rekey_ike, seconds * 1000ull, 0);
}

void ike_arm_rekey_child(struct ike_sa *sa, uint32_t seconds)
{
	uv_timer_start(&sa->t_rekey_child, on_rekey_child, seconds * 1000ull, 0);
}

void ike_arm_established_timers(struct ike_sa *sa)
{
	uv_timer_stop(&sa->t_connect);
	if (sa->cfg.dpd_interval_s)
		uv_timer_start(&sa->t_dpd, on_dpd, sa->cfg.dpd_interval_s * 1000ull, 0);
	if (sa->cfg.rekey_child_s)
		uv_timer_start(&sa->t_rekey_child, on_rekey_child,
			       sa->cfg.rekey_child_s * 1000ull, 0);
	if (sa->cfg.rekey_ike_s)
		uv_timer_start(&sa->t_rekey_ike, on_rekey_ike,
			       sa->cfg.rekey_ike_s * 1000ull, 0);
}

/* ---- life cycle --------------------------------------------------------------- */

int ike_sa_new(uv_loop_t *loop, const struct ike_cfg *cfg,
	       const struct ike_sa_ops *ops, void *arg, struct ike_sa **out)
{
	struct ike_sa *sa;
	uv_timer_t *timers[7];
	size_t i;

	if (!cfg->n_ike || !cfg->n_esp)
		return -EINVAL;
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	sa->req.buf = malloc(IKE_MSG_MAX * 2);
	sa->g.resp.buf = malloc(IKE_MSG_MAX * 2);
	if (!sa->req.buf || !sa->g.resp.buf) {
		free(sa->req.buf);
		free(sa->g.resp.buf);
		free(sa);
		return -ENOMEM;
	}
	sa->loop = loop;
	sa->cfg = *cfg;
	if (!sa->cfg.retransmit_base_ms || sa->cfg.retransmit_base_ms > 500)
		sa->cfg.retransmit_base_ms = 500;
	if (!sa->cfg.retransmit_tries)
		sa->cfg.retransmit_tries = 6;
	if (sa->cfg.retransmit_max_ms < sa->cfg.retransmit_base_ms)
		sa->cfg.retransmit_max_ms = sa->cfg.retransmit_base_ms;
	if (!sa->cfg.frag_mtu)
		sa->cfg.frag_mtu = 1280;
	sa->ops = ops;
	sa->arg = arg;
	sa->state = IKE_STATE_IDLE;
	do {
		crypto_random(&sa->g.spi_i, sizeof(sa->g.spi_i));
	} while (!sa->g.spi_i);
	timers[0] = &sa->t_retransmit;
	timers[1] = &sa->t_connect;
	timers[2] = &sa->t_dpd;
	timers[3] = &sa->t_rekey_ike;
	timers[4] = &sa->t_rekey_child;
	timers[5] = &sa->t_delete;
	timers[6] = &sa->t_old_sa;
	for (i = 0; i < 7; i++) {
		uv_timer_init(loop, timers[i]);
		timers[i]->data = sa;
	}
	sa->handles_open = 7;
	sa->g.orig_initiator = true;
	*out = sa;
	return 0;
}

int ike_sa_set_path(struct ike_sa *sa, const struct sockaddr *local,
		    const struct sockaddr *remote)
{
	size_t llen = local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in);
	size_t rlen = remote->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);

	if ((local->sa_family != AF_INET && local->sa_family != AF_INET6) ||
	    local->sa_family != remote->sa_family)
		return -EAFNOSUPPORT;
	memset(&sa->local, 0, sizeof(sa->local));
	memset(&sa->remote, 0, sizeof(sa->remote));
	memcpy(&sa->local, local, llen);
	memcpy(&sa->remote, remote, rlen);
	return 0;
}

int ike_sa_start(struct ike_sa *sa)
{
	int err;

	if (sa->state != IKE_STATE_IDLE || !sa->remote.ss_family)
		return -EINVAL;
	err = ike_set_state(sa, IKE_STATE_INIT_SENT, "connecting");
	if (err)
		return err;
	uv_timer_start(&sa->t_connect, on_connect_timeout, sa->cfg.connect_timeout_ms, 0);
	err = ike_sa_init_send(sa);
	if (err) {
		ike_fail(sa, IKE_FAIL_LOCAL, "cannot build IKE_SA_INIT: %s",
			 ike_strerror(err));
		return err;
	}
	if (sa->ops->progress)
		sa->ops->progress(sa->arg, IKE_PROGRESS_SA_INIT);
	return 0;
}

static void on_delete_timeout(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;

	ike_fail(sa, IKE_FAIL_CLOSED_BY_USER, "closed");
}

void ike_sa_close(struct ike_sa *sa)
{
	if (sa->closed_reported)
		return;
	if (sa->state != IKE_STATE_ESTABLISHED) {
		/* Nothing to tell the gateway that it would keep. */
		ike_fail(sa, IKE_FAIL_CLOSED_BY_USER, "closed before it was up");
		return;
	}
	ike_set_state(sa, IKE_STATE_DELETING, "closing");
	uv_timer_stop(&sa->t_dpd);
	uv_timer_stop(&sa->t_rekey_ike);
	uv_timer_stop(&sa->t_rekey_child);
	sa->pending = 0;
	/* Bounded: two seconds for the gateway to confirm. */
	uv_timer_start(&sa->t_delete, on_delete_timeout, 2000, 0);
	if (sa->task != IKE_TASK_NONE) {
		/* Window size one (RFC 7296 2.3): the Delete takes the next
		 * message ID once the outstanding request is answered. Sent
		 * now under the same ID, a gateway that has answered that
		 * request already would only repeat its answer, and we would
		 * take that for the confirmation of a Delete it never saw. */
		ike_schedule(sa, IKE_TASK_DELETE_IKE);
		return;
	}
	if (ike_delete_ike_send(sa))
		ike_fail(sa, IKE_FAIL_CLOSED_BY_USER, "closed (Delete not sent)");
}

static void release(struct ike_sa *sa)
{
	unsigned i;

	crypto_dh_free(sa->dh);
	crypto_dh_free(sa->rekey.dh);
	ike_drop_old(sa);
	ike_gen_clear(&sa->g);
	ike_keys_sa_wipe(&sa->keys);
	crypto_wipe(&sa->eap, sizeof(sa->eap));
	crypto_wipe(&sa->rekey, sizeof(sa->rekey));
	for (i = 0; i < IKE_MAX_CHILDREN; i++)
		crypto_wipe(&sa->child[i], sizeof(sa->child[i]));
	free(sa->init_req);
	free(sa->init_resp);
	free(sa->req.buf);
	free(sa->g.resp.buf);
	free(sa->frag);
	free(sa->scratch);
	crypto_wipe(sa, sizeof(*sa));
	free(sa);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ike_sa *sa = h->data;

	if (--sa->handles_open == 0)
		release(sa);
}

void ike_sa_free(struct ike_sa *sa)
{
	if (!sa || sa->free_pending)
		return;
	sa->free_pending = true;
	sa->closed_reported = true; /* no callbacks from here on */
	stop_timers(sa);
	uv_close((uv_handle_t *)&sa->t_retransmit, on_handle_closed);
	uv_close((uv_handle_t *)&sa->t_connect, on_handle_closed);
	uv_close((uv_handle_t *)&sa->t_dpd, on_handle_closed);
	uv_close((uv_handle_t *)&sa->t_rekey_ike, on_handle_closed);
	uv_close((uv_handle_t *)&sa->t_rekey_child, on_handle_closed);
	uv_close((uv_handle_t *)&sa->t_delete, on_handle_closed);
	uv_close((uv_handle_t *)&sa->t_old_sa, on_handle_closed);
}

enum ike_state ike_sa_state(const struct ike_sa *sa)
{
	return sa->state;
}

uint64_t ike_sa_spi_i(const struct ike_sa *sa)
{
	return sa->g.spi_i;
}

/* ---- generations ----------------------------------------------------------------- */

static void on_old_sa_timeout(uv_timer_t *t)
{
	struct ike_sa *sa = t->data;

	if (sa->old) {
		vlog_info(IKE_LOG, "rekeyed IKE SA %016llx_i: no Delete came; dropped",
			  (unsigned long long)sa->old->spi_i);
		ike_drop_old(sa);
	}
}

void ike_gen_clear(struct ike_gen *g)
{
	crypto_cipher_free(g->c_out);
	crypto_cipher_free(g->c_in);
	g->c_out = g->c_in = NULL;
}

int ike_gen_retire(struct ike_sa *sa)
{
	struct ike_gen *old = malloc(sizeof(*old));
	uint8_t *buf = malloc(IKE_MSG_MAX * 2);

	if (!old || !buf) {
		free(old);
		free(buf);
		return -ENOMEM;
	}
	if (sa->old)
		ike_drop_old(sa);
	*old = sa->g;
	sa->old = old;
	/* The current generation starts over with a fresh response buffer. */
	memset(&sa->g, 0, sizeof(sa->g));
	sa->g.resp.buf = buf;
	/* Bounded: a peer that never deletes it does not keep it alive. */
	uv_timer_start(&sa->t_old_sa, on_old_sa_timeout, 60000, 0);
	return 0;
}

void ike_drop_old(struct ike_sa *sa)
{
	struct ike_gen *old = sa->old;

	if (!old)
		return;
	uv_timer_stop(&sa->t_old_sa);
	if (sa->req_gen == old) {
		uv_timer_stop(&sa->t_retransmit);
		sa->task = IKE_TASK_NONE;
		sa->req_gen = NULL;
	}
	ike_gen_clear(old);
	free(old->resp.buf);
	crypto_wipe(old, sizeof(*old));
	free(old);
	sa->old = NULL;
}

/* ---- helpers shared by the exchanges ------------------------------------------ */

void ike_addr_str(const struct sockaddr *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof(ip));
	else if (a->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof(ip));
	snprintf(out, cap, "%s", ip);
}

const struct ike_notify *ike_first_error(const struct ike_chain *c,
					 struct ike_notify *scratch)
{
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (c->pl[i].type != IKE_PT_NOTIFY)
			continue;
		if (ike_parse_notify(&c->pl[i], scratch))
			continue;
		if (scratch->type <= IKE_NOTIFY_ERROR_MAX)
			return scratch;
	}
	return NULL;
}

bool ike_has_notify(const struct ike_chain *c, uint16_t type)
{
	return ike_chain_find_notify(c, type) != NULL;
}
