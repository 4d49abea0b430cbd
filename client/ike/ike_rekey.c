/* Rekeying the IKE SA (RFC 7296 1.3.2, 2.18), both ways.
 *
 * A rekey is a CREATE_CHILD_SA on the current IKE SA carrying an IKE
 * proposal with the new SPI, a nonce and a KE. Its result is a new
 * generation (new SPIs and keys; the Child SAs move over unchanged):
 *   SKEYSEED = prf_old(SK_d old, g^ir new | Ni | Nr)
 * The side that started the rekey is the original initiator of the new
 * generation and deletes the old one, on the old one. */
#include <errno.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/log.h"

static uint16_t current_group(const struct ike_sa *sa)
{
	return sa->ike_prop.n[IKE_XFORM_DH] ? sa->ike_prop.x[IKE_XFORM_DH][0].id
					     : sa->cfg.ike[0].x[IKE_XFORM_DH][0].id;
}

static int new_spi(uint64_t *spi)
{
	int err;

	do {
		err = crypto_random(spi, sizeof(*spi));
	} while (!err && !*spi);
	return err;
}

/* Derive the new generation's keys into `keys`. spi_i/spi_r and ni/nr are
 * those of the rekey exchange: its initiator's first. */
static int derive_new(struct ike_sa *sa, const struct ike_proposal *chosen,
		      const uint8_t *gir, size_t gir_len, const uint8_t *ni, size_t ni_len,
		      const uint8_t *nr, size_t nr_len, uint64_t spi_i, uint64_t spi_r,
		      struct ike_sa_keys *keys)
{
	struct ike_key_algs algs;
	uint8_t skeyseed[CRYPTO_PRF_MAX_LEN], si[8], sr[8];
	bool esn;
	int err;

	err = ike_map_algs(chosen, &algs, &esn);
	if (err)
		return err;
	err = ike_keys_skeyseed_rekey(sa->keys.algs.prf, sa->keys.sk_d, sa->keys.prf_len, gir,
				      gir_len, ni, ni_len, nr, nr_len, skeyseed);
	if (!err) {
		put_be64(si, spi_i);
		put_be64(sr, spi_r);
		err = ike_keys_derive_sa(&algs, skeyseed, crypto_prf_len(sa->keys.algs.prf), ni,
					 ni_len, nr, nr_len, si, sr, keys);
	}
	crypto_wipe(skeyseed, sizeof(skeyseed));
	return err;
}

/* Move to the new generation: the current one becomes sa->old. */
static int switch_generation(struct ike_sa *sa, const struct ike_proposal *chosen,
			     struct ike_sa_keys *keys, uint64_t spi_i, uint64_t spi_r,
			     bool we_initiated)
{
	struct crypto_cipher *out = NULL, *in = NULL;
	int err;

	err = ike_keys_sa_ciphers(keys, we_initiated, &out, &in);
	if (err)
		return err;
	err = ike_gen_retire(sa);
	if (err) {
		crypto_cipher_free(out);
		crypto_cipher_free(in);
		return err;
	}
	sa->g.spi_i = spi_i;
	sa->g.spi_r = spi_r;
	sa->g.orig_initiator = we_initiated;
	sa->g.c_out = out;
	sa->g.c_in = in;
	ike_keys_sa_wipe(&sa->keys);
	sa->keys = *keys;
	sa->ike_prop = *chosen;
	ike_proposal_format(chosen, sa->info.ike_alg, sizeof(sa->info.ike_alg));
	vlog_notice(IKE_LOG, "IKE SA rekeyed (by %s): now %016llx_i %016llx_r, %s",
		    we_initiated ? "us" : "the gateway", (unsigned long long)spi_i,
		    (unsigned long long)spi_r, sa->info.ike_alg);
	return 0;
}

/* ---- we rekey ------------------------------------------------------------------- */

static int build_rekey_ike(struct ike_sa *sa, struct ike_builder *b)
{
	struct ike_proposal p[IKE_MAX_PROPOSALS];
	uint8_t ke[IKE_KE_MAX];
	uint16_t group = crypto_dh_group(sa->rekey.dh);
	size_t i, len = crypto_dh_public_len(group);
	int err;

	memcpy(p, sa->cfg.ike, sa->cfg.n_ike * sizeof(p[0]));
	for (i = 0; i < sa->cfg.n_ike; i++) {
		p[i].spi_len = IKE_SPI_LEN;
		put_be64(p[i].spi, sa->rekey.new_spi_i);
	}
	ike_build_sa(b, p, sa->cfg.n_ike);
	ike_build_nonce(b, sa->rekey.ni, sizeof(sa->rekey.ni));
	err = crypto_dh_public(sa->rekey.dh, ke, len);
	if (err)
		return err;
	return ike_build_ke(b, group, ke, len);
}

int ike_rekey_ike_send(struct ike_sa *sa, uint16_t group)
{
	int err;

	if (sa->old)
		return -EBUSY; /* the previous rekey is still being cleaned up */
	crypto_dh_free(sa->rekey.dh);
	memset(&sa->rekey, 0, sizeof(sa->rekey));
	err = new_spi(&sa->rekey.new_spi_i);
	if (!err)
		err = crypto_random(sa->rekey.ni, sizeof(sa->rekey.ni));
	if (!err)
		err = crypto_dh_new(group ? group : current_group(sa), &sa->rekey.dh);
	if (!err)
		err = ike_send_request(sa, IKE_TASK_REKEY_IKE, IKE_EXCH_CREATE_CHILD_SA,
				       build_rekey_ike);
	if (!err)
		vlog_info(IKE_LOG, "rekeying the IKE SA");
	return err;
}

static void retry_later(struct ike_sa *sa, const char *why)
{
	vlog_warn(IKE_LOG, "IKE SA rekey failed (%s); trying again in 60 s", why);
	crypto_dh_free(sa->rekey.dh);
	sa->rekey.dh = NULL;
	ike_arm_rekey_ike(sa, 60);
}

void ike_rekey_ike_recv_response(struct ike_sa *sa, const struct ike_chain *c)
{
	struct ike_notify scratch, n;
	const struct ike_notify *e;
	const struct ike_payload *p;
	struct ike_sa_payload sap;
	struct ike_nonce nr;
	struct ike_ke ke;
	struct ike_sa_keys keys;
	uint8_t gir[IKE_GIR_MAX];
	size_t which, gir_len;
	uint16_t group;
	int err;

	ike_request_done(sa);
	e = ike_first_error(c, &scratch);
	if (e) {
		p = ike_chain_find_notify(c, IKE_N_INVALID_KE_PAYLOAD);
		if (p && !ike_parse_notify(p, &n) && !ike_notify_invalid_ke(&n, &group) &&
		    crypto_dh_supported(group) && group != crypto_dh_group(sa->rekey.dh)) {
			vlog_info(IKE_LOG, "IKE SA rekey: the gateway wants group %u", group);
			if (!ike_rekey_ike_send(sa, group))
				return;
		}
		retry_later(sa, ike_notify_name(e->type));
		return;
	}
	p = ike_chain_find(c, IKE_PT_SA);
	if (!p || ike_parse_sa(p, &sap) || sap.n != 1 || sap.p[0].protocol != IKE_PROTO_IKE ||
	    sap.p[0].spi_len != IKE_SPI_LEN ||
	    ike_proposal_match(sa->cfg.ike, sa->cfg.n_ike, &sap.p[0], &which)) {
		retry_later(sa, "unusable SA payload");
		return;
	}
	group = crypto_dh_group(sa->rekey.dh);
	p = ike_chain_find(c, IKE_PT_KE);
	if (!p || ike_parse_ke(p, &ke) || ke.group != group ||
	    sap.p[0].x[IKE_XFORM_DH][0].id != group) {
		retry_later(sa, "KE of another group");
		return;
	}
	p = ike_chain_find(c, IKE_PT_NONCE);
	if (!p || ike_parse_nonce(p, &nr)) {
		retry_later(sa, "no nonce");
		return;
	}
	gir_len = crypto_dh_shared_len(group);
	err = crypto_dh_shared(sa->rekey.dh, ke.data, ke.len, gir, gir_len);
	if (!err)
		err = derive_new(sa, &sap.p[0], gir, gir_len, sa->rekey.ni, sizeof(sa->rekey.ni),
				 nr.data, nr.len, sa->rekey.new_spi_i, get_be64(sap.p[0].spi),
				 &keys);
	crypto_wipe(gir, sizeof(gir));
	crypto_dh_free(sa->rekey.dh);
	sa->rekey.dh = NULL;
	if (!err)
		err = switch_generation(sa, &sap.p[0], &keys, sa->rekey.new_spi_i,
					get_be64(sap.p[0].spi), true);
	ike_keys_sa_wipe(&keys);
	if (err) {
		retry_later(sa, ike_strerror(err));
		return;
	}
	/* We started it: we delete the old one (on the old one). */
	ike_schedule(sa, IKE_TASK_DELETE_OLD_IKE);
	if (sa->cfg.rekey_ike_s)
		ike_arm_rekey_ike(sa, sa->cfg.rekey_ike_s);
}

static int build_delete_old(struct ike_sa *sa, struct ike_builder *b)
{
	(void)sa;
	return ike_build_delete(b, IKE_PROTO_IKE, 0, NULL, 0);
}

int ike_delete_old_send(struct ike_sa *sa)
{
	if (!sa->old)
		return 0;
	return ike_send_request(sa, IKE_TASK_DELETE_OLD_IKE, IKE_EXCH_INFORMATIONAL,
				build_delete_old);
}

/* ---- the gateway rekeys ---------------------------------------------------------------- */

/* The first of the peer's IKE proposals one of ours accepts, with the KE's
 * group as DH. */
static int select_ike(const struct ike_sa *sa, const struct ike_sa_payload *offer,
		      uint16_t group, struct ike_proposal *out)
{
	static const int types[] = {IKE_XFORM_ENCR, IKE_XFORM_PRF, IKE_XFORM_INTEG};
	struct ike_xform g = {group, 0};
	unsigned i, k;
	size_t j;

	for (i = 0; i < offer->n; i++) {
		const struct ike_proposal *t = &offer->p[i];

		if (t->protocol != IKE_PROTO_IKE || t->spi_len != IKE_SPI_LEN ||
		    !ike_proposal_has(t, IKE_XFORM_DH, &g))
			continue;
		for (j = 0; j < sa->cfg.n_ike; j++) {
			const struct ike_proposal *o = &sa->cfg.ike[j];
			struct ike_proposal c;
			bool ok = ike_proposal_has(o, IKE_XFORM_DH, &g);

			memset(&c, 0, sizeof(c));
			c.num = t->num;
			c.protocol = IKE_PROTO_IKE;
			c.spi_len = IKE_SPI_LEN;
			for (k = 0; k < 3 && ok; k++)
				ok = !ike_proposal_pick(t, o, types[k], &c);
			if (!ok)
				continue;
			ike_proposal_add(&c, IKE_XFORM_DH, group, 0);
			*out = c;
			return 0;
		}
	}
	return -ENOENT;
}

struct ike_rekey_resp {
	struct ike_proposal chosen;
	uint8_t nr[IKE_NONCE_LEN];
	uint8_t ke[IKE_KE_MAX];
	size_t ke_len;
	uint16_t group;
};
static struct ike_rekey_resp irr; /* read by build_rekey_ike_resp */

static int build_rekey_ike_resp(struct ike_sa *sa, struct ike_builder *b)
{
	(void)sa;
	ike_build_sa(b, &irr.chosen, 1);
	ike_build_nonce(b, irr.nr, sizeof(irr.nr));
	return ike_build_ke(b, irr.group, irr.ke, irr.ke_len);
}

/* Returns the Notify to answer with instead, or 0 when answered. */
uint16_t ike_rekey_ike_recv_request(struct ike_sa *sa, const struct ike_header *h,
				    const struct ike_chain *c,
				    const struct ike_sa_payload *offer)
{
	const struct ike_payload *p;
	struct ike_nonce ni;
	struct ike_ke ke;
	struct crypto_dh *dh = NULL;
	struct ike_sa_keys keys;
	uint8_t gir[IKE_GIR_MAX];
	uint64_t our_spi, their_spi;
	size_t gir_len;
	int err;

	/* RFC 7296 2.25.2: a rekey while ours (or its clean-up) is under way
	 * is answered with TEMPORARY_FAILURE; the peer retries later. */
	if (sa->task != IKE_TASK_NONE || sa->old)
		return IKE_N_TEMPORARY_FAILURE;
	p = ike_chain_find(c, IKE_PT_KE);
	if (!p || ike_parse_ke(p, &ke))
		return IKE_N_INVALID_SYNTAX;
	p = ike_chain_find(c, IKE_PT_NONCE);
	if (!p || ike_parse_nonce(p, &ni))
		return IKE_N_INVALID_SYNTAX;
	if (!crypto_dh_supported(ke.group) || select_ike(sa, offer, ke.group, &irr.chosen)) {
		/* A proposal we could take with another group: say which. */
		return IKE_N_NO_PROPOSAL_CHOSEN;
	}
	their_spi = 0;
	for (unsigned i = 0; i < offer->n; i++)
		if (offer->p[i].num == irr.chosen.num)
			their_spi = get_be64(offer->p[i].spi);
	if (!their_spi || new_spi(&our_spi))
		return IKE_N_INVALID_SYNTAX;
	put_be64(irr.chosen.spi, our_spi);
	crypto_random(irr.nr, sizeof(irr.nr));
	irr.group = ke.group;
	irr.ke_len = crypto_dh_public_len(ke.group);
	gir_len = crypto_dh_shared_len(ke.group);
	err = crypto_dh_new(ke.group, &dh);
	if (!err)
		err = crypto_dh_public(dh, irr.ke, irr.ke_len);
	if (!err)
		err = crypto_dh_shared(dh, ke.data, ke.len, gir, gir_len);
	crypto_dh_free(dh);
	/* The rekey's initiator (the gateway) comes first: its SPI and nonce. */
	if (!err)
		err = derive_new(sa, &irr.chosen, gir, gir_len, ni.data, ni.len, irr.nr,
				 sizeof(irr.nr), their_spi, our_spi, &keys);
	crypto_wipe(gir, sizeof(gir));
	if (err) {
		crypto_wipe(&irr, sizeof(irr));
		return IKE_N_INVALID_SYNTAX; /* an invalid KE value, or no keys */
	}
	/* The answer goes out on the old generation, which is still current. */
	ike_send_response(sa, IKE_EXCH_CREATE_CHILD_SA, h->msgid, build_rekey_ike_resp);
	err = switch_generation(sa, &irr.chosen, &keys, their_spi, our_spi, false);
	ike_keys_sa_wipe(&keys);
	crypto_wipe(&irr, sizeof(irr));
	if (err)
		ike_fail(sa, IKE_FAIL_LOCAL, "cannot switch to the rekeyed IKE SA: %s",
			 ike_strerror(err));
	return 0;
}
