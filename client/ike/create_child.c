/* CREATE_CHILD_SA (RFC 7296 1.3): rekeying Child SAs, both when our
 * rekey_child timer fires and when the gateway rekeys. PFS (a KE payload)
 * is used when the ESP proposals name a group.
 *
 * Rekeying the IKE SA itself lives in ike_rekey.c. */
#include <errno.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/log.h"

/* ---- helpers ---------------------------------------------------------------- */

static struct ike_child *rekey_candidate(struct ike_sa *sa)
{
	struct ike_child *best = NULL;
	unsigned i;

	for (i = 0; i < IKE_MAX_CHILDREN; i++)
		if (sa->child[i].state == IKE_CHILD_INSTALLED)
			best = &sa->child[i]; /* the newest installed one */
	return best;
}

static uint16_t pfs_group(const struct ike_sa *sa)
{
	const struct ike_proposal *p = &sa->cfg.esp[0];

	return p->n[IKE_XFORM_DH] ? p->x[IKE_XFORM_DH][0].id : 0;
}

/* Nonces compare as octet strings; a prefix is the lower (RFC 7296 2.8.1
 * only says "lowest"; this is how strongSwan and libreswan read it). */
static int nonce_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static void lower_nonce(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
			const uint8_t **out, size_t *out_len)
{
	bool first = nonce_cmp(a, alen, b, blen) <= 0;

	*out = first ? a : b;
	*out_len = first ? alen : blen;
}

/* ---- we rekey a Child SA ------------------------------------------------------ */

static int build_rekey_child(struct ike_sa *sa, struct ike_builder *b)
{
	struct ike_child *ch = ike_child_by_spi_in(sa, sa->rekey.old_spi_in);
	uint8_t spi[4], ke[IKE_KE_MAX];
	uint16_t group = pfs_group(sa);
	int err;

	if (!ch)
		return -ENOENT;
	put_be32(spi, ch->spi_in);
	ike_build_notify(b, IKE_PROTO_ESP, spi, 4, IKE_N_REKEY_SA, NULL, 0);
	err = ike_child_build_sa(sa, b, sa->rekey.new_spi_in, group != 0);
	if (err)
		return err;
	ike_build_nonce(b, sa->rekey.ni, sizeof(sa->rekey.ni));
	if (group) {
		size_t len = crypto_dh_public_len(group);

		err = crypto_dh_public(sa->rekey.dh, ke, len);
		if (err)
			return err;
		ike_build_ke(b, group, ke, len);
	}
	ike_build_ts(b, IKE_PT_TSI, ch->tsi, ch->n_tsi);
	return ike_build_ts(b, IKE_PT_TSR, ch->tsr, ch->n_tsr);
}

int ike_rekey_child_send(struct ike_sa *sa)
{
	struct ike_child *ch = rekey_candidate(sa);
	uint16_t group = pfs_group(sa);
	int err;

	if (!ch)
		return 0;
	crypto_dh_free(sa->rekey.dh);
	memset(&sa->rekey, 0, sizeof(sa->rekey));
	sa->rekey.old_spi_in = ch->spi_in;
	err = ike_child_new_spi(sa, &sa->rekey.new_spi_in);
	if (!err)
		err = crypto_random(sa->rekey.ni, sizeof(sa->rekey.ni));
	if (!err && group)
		err = crypto_dh_new(group, &sa->rekey.dh);
	if (!err)
		err = ike_send_request(sa, IKE_TASK_REKEY_CHILD, IKE_EXCH_CREATE_CHILD_SA,
				       build_rekey_child);
	if (err)
		return err;
	ch->state = IKE_CHILD_REKEYING;
	vlog_info(IKE_LOG, "rekeying Child SA %08x_i", ch->spi_in);
	return 0;
}

/* Both sides rekeyed `old` at once (RFC 7296 2.8.1). The new SA whose
 * exchange holds the lowest of the four nonces is redundant; the side that
 * started that exchange deletes it, the other side deletes the old one. */
static void resolve_collision(struct ike_sa *sa, struct ike_child *old, const uint8_t *nr,
			      size_t nr_len)
{
	const uint8_t *ours;
	size_t ours_len;
	bool ours_redundant;

	lower_nonce(sa->rekey.ni, sizeof(sa->rekey.ni), nr, nr_len, &ours, &ours_len);
	ours_redundant = nonce_cmp(ours, ours_len, old->coll_nonce, old->coll_nonce_len) < 0;
	vlog_notice(IKE_LOG,
		    "Child SA rekey collision on %08x_i: %08x_i (ours) and %08x_i (the "
		    "gateway's); %s",
		    old->spi_in, sa->rekey.new_spi_in, old->coll_spi_in,
		    ours_redundant ? "ours has the lowest nonce: we delete it"
				   : "the gateway's has the lowest nonce: it deletes that one, "
				     "we delete the old SA");
	old->state = IKE_CHILD_REKEYED;
	sa->del_child_spi_in = ours_redundant ? sa->rekey.new_spi_in : old->spi_in;
	ike_schedule(sa, IKE_TASK_DELETE_CHILD);
}

static void rekey_child_done(struct ike_sa *sa, const struct ike_chain *c)
{
	struct ike_child *old = ike_child_by_spi_in(sa, sa->rekey.old_spi_in);
	const struct ike_payload *p;
	struct ike_nonce nr;
	uint8_t gir[IKE_GIR_MAX];
	size_t gir_len = 0;
	uint16_t group = pfs_group(sa);
	int err;

	p = ike_chain_find(c, IKE_PT_NONCE);
	if (!p || ike_parse_nonce(p, &nr)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "Child SA rekey answer without a nonce");
		return;
	}
	if (group) {
		struct ike_ke ke;

		p = ike_chain_find(c, IKE_PT_KE);
		if (!p || ike_parse_ke(p, &ke) || ke.group != group) {
			ike_fail(sa, IKE_FAIL_PROTOCOL, "Child SA rekey answer without our PFS group");
			return;
		}
		gir_len = crypto_dh_shared_len(group);
		if (crypto_dh_shared(sa->rekey.dh, ke.data, ke.len, gir, gir_len)) {
			ike_fail(sa, IKE_FAIL_PROTOCOL, "invalid key exchange value in a Child SA rekey");
			crypto_wipe(gir, sizeof(gir));
			return;
		}
	}
	err = ike_child_install(sa, c, sa->rekey.new_spi_in, sa->rekey.ni,
				sizeof(sa->rekey.ni), nr.data, nr.len,
				group ? gir : NULL, gir_len, true, sa->rekey.old_spi_in);
	crypto_wipe(gir, sizeof(gir));
	crypto_dh_free(sa->rekey.dh);
	sa->rekey.dh = NULL;
	if (err)
		return;
	if (old && old->coll_spi_in) {
		resolve_collision(sa, old, nr.data, nr.len);
	} else if (old) {
		old->state = IKE_CHILD_REKEYED;
		sa->del_child_spi_in = old->spi_in;
		ike_schedule(sa, IKE_TASK_DELETE_CHILD);
	}
	if (sa->cfg.rekey_child_s)
		ike_arm_rekey_child(sa, sa->cfg.rekey_child_s);
}

void ike_create_child_recv_response(struct ike_sa *sa, const struct ike_header *h,
				    const struct ike_chain *c)
{
	struct ike_notify scratch;
	const struct ike_notify *e;
	struct ike_child *old;

	(void)h;
	if (sa->task == IKE_TASK_REKEY_IKE) {
		ike_rekey_ike_recv_response(sa, c);
		return;
	}
	if (sa->task != IKE_TASK_REKEY_CHILD)
		return;
	ike_request_done(sa);
	old = ike_child_by_spi_in(sa, sa->rekey.old_spi_in);
	e = ike_first_error(c, &scratch);
	if (e) {
		vlog_warn(IKE_LOG, "the gateway refused to rekey Child SA %08x_i: %s; retrying in 60 s",
			  sa->rekey.old_spi_in, ike_notify_name(e->type));
		if (old && old->state == IKE_CHILD_REKEYING)
			old->state = IKE_CHILD_INSTALLED;
		crypto_dh_free(sa->rekey.dh);
		sa->rekey.dh = NULL;
		/* The Child SA keeps working meanwhile, up to its hard limit. */
		ike_arm_rekey_child(sa, 60);
		return;
	}
	if (!old) {
		/* The gateway deleted it meanwhile; the new one still stands. */
		vlog_info(IKE_LOG, "rekeyed Child SA vanished meanwhile");
	}
	rekey_child_done(sa, c);
}

/* ---- the gateway rekeys -------------------------------------------------------- */

/* Responder's choice: the first of the peer's proposals (its preference)
 * that one of ours accepts, with one transform per type from its order.
 * A DH group is taken only when the peer sent a KE of that group. */
static int select_esp(const struct ike_sa *sa, const struct ike_sa_payload *offer,
		      uint16_t ke_group, struct ike_proposal *out)
{
	static const int types[] = {IKE_XFORM_ENCR, IKE_XFORM_INTEG, IKE_XFORM_ESN};
	unsigned i, k;
	size_t j;

	for (i = 0; i < offer->n; i++) {
		const struct ike_proposal *t = &offer->p[i];

		if (t->protocol != IKE_PROTO_ESP || t->spi_len != IKE_CHILD_SPI_LEN)
			continue;
		for (j = 0; j < sa->cfg.n_esp; j++) {
			const struct ike_proposal *o = &sa->cfg.esp[j];
			struct ike_proposal c;
			bool ok = true;

			memset(&c, 0, sizeof(c));
			c.num = t->num;
			c.protocol = IKE_PROTO_ESP;
			c.spi_len = IKE_CHILD_SPI_LEN;
			/* The gateway's SPI, our outbound one, until the answer
			 * gets ours. */
			memcpy(c.spi, t->spi, IKE_CHILD_SPI_LEN);
			for (k = 0; k < 3 && ok; k++)
				ok = !ike_proposal_pick(t, o, types[k], &c);
			if (!ok)
				continue;
			if (ke_group) {
				struct ike_xform g = {ke_group, 0};

				if (!ike_proposal_has(t, IKE_XFORM_DH, &g) || !crypto_dh_supported(ke_group))
					continue;
				ike_proposal_add(&c, IKE_XFORM_DH, ke_group, 0);
			}
			*out = c;
			return 0;
		}
	}
	return -ENOENT;
}

struct rekey_resp {
	struct ike_proposal chosen;
	uint8_t nr[IKE_NONCE_LEN];
	uint8_t ke[IKE_KE_MAX];
	size_t ke_len;
	uint16_t group;
	struct ike_ts_list tsi, tsr;
};
static struct rekey_resp rr; /* read by the build callbacks below, one at a time */

static int build_rekey_resp(struct ike_sa *sa, struct ike_builder *b)
{
	(void)sa;
	ike_build_sa(b, &rr.chosen, 1);
	ike_build_nonce(b, rr.nr, sizeof(rr.nr));
	if (rr.group)
		ike_build_ke(b, rr.group, rr.ke, rr.ke_len);
	ike_build_ts(b, IKE_PT_TSI, rr.tsi.ts, rr.tsi.n);
	return ike_build_ts(b, IKE_PT_TSR, rr.tsr.ts, rr.tsr.n);
}

static int build_error_resp(struct ike_sa *sa, struct ike_builder *b)
{
	return ike_build_notify(b, IKE_PROTO_NONE, NULL, 0, sa->resp_error, NULL, 0);
}

static void answer_error(struct ike_sa *sa, const struct ike_header *h, uint16_t type)
{
	sa->resp_error = type;
	vlog_info(IKE_LOG, "answering the gateway's CREATE_CHILD_SA with %s",
		  ike_notify_name(type));
	ike_send_response(sa, IKE_EXCH_CREATE_CHILD_SA, h->msgid, build_error_resp);
	sa->resp_error = 0;
}

void ike_create_child_recv_request(struct ike_sa *sa, const struct ike_header *h,
				   const struct ike_chain *c)
{
	const struct ike_payload *p;
	struct ike_notify n;
	struct ike_sa_payload offer;
	struct ike_nonce ni;
	struct ike_ke ke = {0};
	struct ike_child *old;
	struct crypto_dh *dh = NULL;
	uint8_t gir[IKE_GIR_MAX];
	size_t gir_len = 0;
	uint32_t spi_in, spi_out;
	int err;

	if (sa->state != IKE_STATE_ESTABLISHED)
		return;
	p = ike_chain_find(c, IKE_PT_SA);
	if (!p || ike_parse_sa(p, &offer) || offer.n == 0) {
		answer_error(sa, h, IKE_N_INVALID_SYNTAX);
		return;
	}
	if (offer.p[0].protocol == IKE_PROTO_IKE) {
		uint16_t refuse = ike_rekey_ike_recv_request(sa, h, c, &offer);

		if (refuse)
			answer_error(sa, h, refuse);
		return;
	}
	p = ike_chain_find_notify(c, IKE_N_REKEY_SA);
	if (!p) {
		/* A new Child SA from the gateway: taken only to replace ours
		 * when it has none left (strongSwan recreates a Child SA that
		 * expired before it could be rekeyed); a client wants no more. */
		if (ike_child_count(sa)) {
			answer_error(sa, h, IKE_N_NO_ADDITIONAL_SAS);
			return;
		}
		old = NULL;
	} else {
		if (ike_parse_notify(p, &n) || n.spi_len != 4) {
			answer_error(sa, h, IKE_N_INVALID_SYNTAX);
			return;
		}
		/* REKEY_SA names the SA by the sender's inbound SPI: our outbound. */
		old = ike_child_by_spi_out(sa, get_be32(n.spi));
		if (!old) {
			answer_error(sa, h, IKE_N_CHILD_SA_NOT_FOUND);
			return;
		}
		/* Already replaced and being deleted (our rekey won the race):
		 * RFC 7296 2.25 asks for TEMPORARY_FAILURE. */
		if (old->state == IKE_CHILD_REKEYED) {
			answer_error(sa, h, IKE_N_TEMPORARY_FAILURE);
			return;
		}
	}
	p = ike_chain_find(c, IKE_PT_NONCE);
	if (!p || ike_parse_nonce(p, &ni) || !ike_chain_find(c, IKE_PT_TSI) ||
	    !ike_chain_find(c, IKE_PT_TSR) ||
	    ike_parse_ts(ike_chain_find(c, IKE_PT_TSI), &rr.tsi) ||
	    ike_parse_ts(ike_chain_find(c, IKE_PT_TSR), &rr.tsr)) {
		answer_error(sa, h, IKE_N_INVALID_SYNTAX);
		return;
	}
	p = ike_chain_find(c, IKE_PT_KE);
	if (p && ike_parse_ke(p, &ke)) {
		answer_error(sa, h, IKE_N_INVALID_SYNTAX);
		return;
	}
	if (select_esp(sa, &offer, p ? ke.group : 0, &rr.chosen)) {
		answer_error(sa, h, IKE_N_NO_PROPOSAL_CHOSEN);
		return;
	}
	err = ike_child_new_spi(sa, &spi_in);
	if (err) {
		answer_error(sa, h, IKE_N_TEMPORARY_FAILURE);
		return;
	}
	/* Their SPI (our outbound) is in their proposal of the same number. */
	spi_out = 0;
	for (unsigned i = 0; i < offer.n; i++)
		if (offer.p[i].num == rr.chosen.num && offer.p[i].spi_len == 4)
			spi_out = get_be32(offer.p[i].spi);
	if (spi_out < 256) {
		answer_error(sa, h, IKE_N_INVALID_SYNTAX);
		return;
	}
	put_be32(rr.chosen.spi, spi_in);
	crypto_random(rr.nr, sizeof(rr.nr));
	rr.group = p ? ke.group : 0;
	if (rr.group) {
		rr.ke_len = crypto_dh_public_len(rr.group);
		gir_len = crypto_dh_shared_len(rr.group);
		if (crypto_dh_new(rr.group, &dh) || crypto_dh_public(dh, rr.ke, rr.ke_len) ||
		    crypto_dh_shared(dh, ke.data, ke.len, gir, gir_len)) {
			crypto_dh_free(dh);
			crypto_wipe(gir, sizeof(gir));
			answer_error(sa, h, IKE_N_INVALID_KE_PAYLOAD);
			return;
		}
		crypto_dh_free(dh);
	}
	uint32_t old_in = 0;

	if (old) {
		old_in = old->spi_in;
		if (old->state == IKE_CHILD_REKEYING && sa->task == IKE_TASK_REKEY_CHILD &&
		    sa->rekey.old_spi_in == old->spi_in) {
			const uint8_t *low;
			size_t low_len;

			/* Our rekey of the same SA is out: keep what decides
			 * the collision once our answer comes. */
			lower_nonce(ni.data, ni.len, rr.nr, sizeof(rr.nr), &low, &low_len);
			old->coll_spi_in = spi_in;
			old->coll_nonce_len = (uint16_t)low_len;
			memcpy(old->coll_nonce, low, low_len);
		}
		old->state = IKE_CHILD_REKEYED;
	}
	/* Keys first, so the new inbound SA exists when the gateway uses it. */
	err = ike_child_install_parts(sa, &rr.chosen, &rr.tsi, &rr.tsr, spi_in, spi_out, ni.data,
				      ni.len, rr.nr, sizeof(rr.nr), rr.group ? gir : NULL,
				      gir_len, false, old_in);
	crypto_wipe(gir, sizeof(gir));
	if (err)
		return;
	ike_send_response(sa, IKE_EXCH_CREATE_CHILD_SA, h->msgid, build_rekey_resp);
	crypto_wipe(&rr, sizeof(rr));
	/* Our own timer starts over for the new SA; the gateway deletes the old. */
	if (sa->cfg.rekey_child_s)
		ike_arm_rekey_child(sa, sa->cfg.rekey_child_s);
}
