/* IKE_SA_INIT (RFC 7296 1.2): proposals, key exchange and nonces, NAT
 * detection (2.23), COOKIE (2.6), INVALID_KE_PAYLOAD (1.2), and the
 * announcements of fragmentation (RFC 7383) and signature hash algorithms
 * (RFC 7427). On success the IKE SA's keys exist and IKE_AUTH starts. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/log.h"

int ike_natd_hash(uint64_t spi_i, uint64_t spi_r, const struct sockaddr *addr,
		  uint8_t out[IKE_NATD_HASH_LEN])
{
	uint8_t spis[16], port[2];
	struct crypto_iov iov[4];

	put_be64(spis, spi_i);
	put_be64(spis + 8, spi_r);
	iov[0] = (struct crypto_iov){spis, sizeof(spis)};
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		iov[1] = (struct crypto_iov){&in->sin_addr, 4};
		memcpy(port, &in->sin_port, 2);
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		iov[1] = (struct crypto_iov){&in6->sin6_addr, 16};
		memcpy(port, &in6->sin6_port, 2);
	} else {
		return -EAFNOSUPPORT;
	}
	iov[2] = (struct crypto_iov){port, 2};
	return crypto_hash(CRYPTO_HASH_SHA1, iov, 3, out);
}

/* The group of our KE: the one the gateway asked for, else the first DH
 * transform of our first proposal. */
static uint16_t choose_group(const struct ike_sa *sa)
{
	const struct ike_cfg *cfg = &sa->cfg;
	size_t i, j;

	if (sa->ke_group)
		return sa->ke_group;
	if (cfg->ke_group) {
		for (i = 0; i < cfg->n_ike; i++)
			for (j = 0; j < cfg->ike[i].n[IKE_XFORM_DH]; j++)
				if (cfg->ike[i].x[IKE_XFORM_DH][j].id == cfg->ke_group)
					return cfg->ke_group;
	}
	return cfg->ike[0].n[IKE_XFORM_DH] ? cfg->ike[0].x[IKE_XFORM_DH][0].id : 0;
}

static bool group_offered(const struct ike_sa *sa, uint16_t group)
{
	size_t i, j;

	for (i = 0; i < sa->cfg.n_ike; i++)
		for (j = 0; j < sa->cfg.ike[i].n[IKE_XFORM_DH]; j++)
			if (sa->cfg.ike[i].x[IKE_XFORM_DH][j].id == group)
				return true;
	return false;
}

static int build_init(struct ike_sa *sa, struct ike_builder *b)
{
	uint8_t ke[IKE_KE_MAX];
	uint8_t natd[IKE_NATD_HASH_LEN];
	uint8_t hashes[6];
	size_t ke_len = crypto_dh_public_len(sa->ke_group);
	int err;

	if (sa->cookie_len)
		ike_build_notify(b, IKE_PROTO_NONE, NULL, 0, IKE_N_COOKIE,
				 sa->cookie, sa->cookie_len);
	ike_build_sa(b, sa->cfg.ike, sa->cfg.n_ike);
	if (!ke_len || ke_len > sizeof(ke))
		return -ENOTSUP;
	err = crypto_dh_public(sa->dh, ke, ke_len);
	if (err)
		return err;
	ike_build_ke(b, sa->ke_group, ke, ke_len);
	ike_build_nonce(b, sa->ni, sizeof(sa->ni));
	/* NAT_DETECTION_SOURCE_IP: with force_encap a value no address hashes
	 * to, so the gateway sees "NAT" and encapsulates ESP in UDP, which is
	 * the only ESP we speak (strongSwan's encap=yes does the same). */
	if (sa->cfg.force_encap)
		crypto_random(natd, sizeof(natd));
	else if ((err = ike_natd_hash(sa->g.spi_i, 0, (struct sockaddr *)&sa->local, natd)))
		return err;
	ike_build_notify(b, IKE_PROTO_NONE, NULL, 0, IKE_N_NAT_DETECTION_SOURCE_IP,
			 natd, sizeof(natd));
	err = ike_natd_hash(sa->g.spi_i, 0, (struct sockaddr *)&sa->remote, natd);
	if (err)
		return err;
	ike_build_notify(b, IKE_PROTO_NONE, NULL, 0,
			 IKE_N_NAT_DETECTION_DESTINATION_IP, natd, sizeof(natd));
	if (sa->cfg.fragmentation)
		ike_build_notify(b, IKE_PROTO_NONE, NULL, 0,
				 IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
	put_be16(hashes, IKE_HASH_SHA2_256);
	put_be16(hashes + 2, IKE_HASH_SHA2_384);
	put_be16(hashes + 4, IKE_HASH_SHA2_512);
	return ike_build_notify(b, IKE_PROTO_NONE, NULL, 0,
				IKE_N_SIGNATURE_HASH_ALGORITHMS, hashes,
				sizeof(hashes));
}

static int keep_copy(uint8_t **dst, size_t *dst_len, const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len);

	if (!p)
		return -ENOMEM;
	memcpy(p, src, len);
	free(*dst);
	*dst = p;
	*dst_len = len;
	return 0;
}

int ike_sa_init_send(struct ike_sa *sa)
{
	int err;

	if (!sa->dh) {
		sa->ke_group = choose_group(sa);
		err = crypto_dh_new(sa->ke_group, &sa->dh);
		if (err) {
			vlog_err(IKE_LOG, "key exchange group %u: %s", sa->ke_group,
				 ike_strerror(err));
			return err;
		}
		crypto_random(sa->ni, sizeof(sa->ni));
	}
	sa->g.spi_r = 0;
	err = ike_send_request(sa, IKE_TASK_SA_INIT, IKE_EXCH_IKE_SA_INIT, build_init);
	if (err)
		return err;
	return keep_copy(&sa->init_req, &sa->init_req_len, sa->req.buf, sa->req.len[0]);
}

/* Answers that are not an IKE SA yet: COOKIE, INVALID_KE_PAYLOAD, errors.
 * Returns 1 when handled (retried or failed). */
static int handle_notify_only(struct ike_sa *sa, const struct ike_msg *m)
{
	const struct ike_payload *p;
	struct ike_notify n;
	const struct ike_notify *e;
	uint16_t group;

	p = ike_chain_find_notify(&m->chain, IKE_N_COOKIE);
	if (p && !ike_parse_notify(p, &n)) {
		if (n.len == 0 || n.len > IKE_COOKIE_MAX_LEN) {
			vlog_warn(IKE_LOG, "COOKIE of %zu octets ignored", n.len);
			return 1;
		}
		if (++sa->cookie_tries > IKE_COOKIE_RETRIES) {
			ike_fail(sa, IKE_FAIL_PROTOCOL,
				 "the gateway keeps asking for a COOKIE");
			return 1;
		}
		vlog_info(IKE_LOG, "gateway asks for a COOKIE (%zu octets): retrying", n.len);
		memcpy(sa->cookie, n.data, n.len);
		sa->cookie_len = n.len;
		ike_request_done(sa);
		if (ike_sa_init_send(sa))
			ike_fail(sa, IKE_FAIL_LOCAL, "cannot resend IKE_SA_INIT");
		return 1;
	}
	p = ike_chain_find_notify(&m->chain, IKE_N_INVALID_KE_PAYLOAD);
	if (p && !ike_parse_notify(p, &n) && !ike_notify_invalid_ke(&n, &group)) {
		if (group == sa->ke_group) {
			ike_fail(sa, IKE_FAIL_PROTOCOL,
				 "the gateway refuses key exchange group %u and asks for that same group",
				 group);
			return 1;
		}
		if (!group_offered(sa, group) || !crypto_dh_supported(group)) {
			ike_fail(sa, IKE_FAIL_NO_PROPOSAL,
				 "the gateway wants key exchange group %u, which we do not offer",
				 group);
			return 1;
		}
		if (++sa->invalid_ke_tries > IKE_INVALID_KE_RETRIES) {
			ike_fail(sa, IKE_FAIL_PROTOCOL,
				 "the gateway keeps refusing our key exchange group");
			return 1;
		}
		vlog_info(IKE_LOG, "gateway asks for group %u instead of %u: retrying",
			  group, sa->ke_group);
		if (sa->ops->ke_group)
			sa->ops->ke_group(sa->arg, group);
		crypto_dh_free(sa->dh);
		sa->dh = NULL;
		sa->ke_group = group;
		if (crypto_dh_new(group, &sa->dh)) {
			ike_fail(sa, IKE_FAIL_LOCAL, "cannot create group %u", group);
			return 1;
		}
		ike_request_done(sa);
		if (ike_sa_init_send(sa))
			ike_fail(sa, IKE_FAIL_LOCAL, "cannot resend IKE_SA_INIT");
		return 1;
	}
	e = ike_first_error(&m->chain, &n);
	if (!e)
		return 0;
	if (e->type == IKE_N_NO_PROPOSAL_CHOSEN)
		ike_fail(sa, IKE_FAIL_NO_PROPOSAL,
			 "no proposal chosen: the gateway accepts none of our IKE proposals");
	else
		ike_fail(sa, IKE_FAIL_PROTOCOL, "the gateway answered IKE_SA_INIT with %s",
			 ike_notify_name(e->type));
	return 1;
}

static void read_status_notifies(struct ike_sa *sa, const struct ike_chain *c)
{
	uint8_t expect[IKE_NATD_HASH_LEN];
	bool saw_src = false, src_match = false, saw_dst = false, dst_match = false;
	struct ike_notify n;
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (c->pl[i].type != IKE_PT_NOTIFY || ike_parse_notify(&c->pl[i], &n))
			continue;
		switch (n.type) {
		case IKE_N_NAT_DETECTION_SOURCE_IP:
			/* The gateway's address as it sees it, vs where we sent. */
			saw_src = true;
			if (n.len == IKE_NATD_HASH_LEN &&
			    !ike_natd_hash(sa->g.spi_i, sa->g.spi_r,
					   (struct sockaddr *)&sa->remote, expect) &&
			    !memcmp(expect, n.data, n.len))
				src_match = true;
			break;
		case IKE_N_NAT_DETECTION_DESTINATION_IP:
			/* Our address as the gateway sees it, vs our local one. */
			saw_dst = true;
			if (n.len == IKE_NATD_HASH_LEN &&
			    !ike_natd_hash(sa->g.spi_i, sa->g.spi_r,
					   (struct sockaddr *)&sa->local, expect) &&
			    !memcmp(expect, n.data, n.len))
				dst_match = true;
			break;
		case IKE_N_IKEV2_FRAGMENTATION_SUPPORTED:
			sa->peer_frag = true;
			break;
		case IKE_N_SIGNATURE_HASH_ALGORITHMS:
			ike_notify_hash_algs(&n, sa->peer_hash_algs,
					     sizeof(sa->peer_hash_algs) / sizeof(sa->peer_hash_algs[0]),
					     &sa->n_peer_hash_algs);
			break;
		default:
			break;
		}
	}
	sa->nat_remote = saw_src && !src_match;
	sa->nat_local = saw_dst && !dst_match;
	vlog_info(IKE_LOG, "NAT detection: %s%s%s",
		  sa->nat_local ? "we are behind a NAT" : "no NAT on our side",
		  sa->nat_remote ? ", the gateway is behind a NAT" : "",
		  saw_src || saw_dst ? "" : " (the gateway sent no NAT detection)");
}

/* Check the chosen proposal and the gateway's KE and nonce; derive keys. */
static int derive(struct ike_sa *sa, const struct ike_msg *m)
{
	struct ike_sa_payload sap;
	struct ike_ke ke;
	struct ike_nonce nonce;
	struct ike_key_algs algs;
	uint8_t gir[IKE_GIR_MAX], skeyseed[CRYPTO_PRF_MAX_LEN];
	uint8_t spi_i[8], spi_r[8];
	size_t which, gir_len;
	bool esn;
	int err;

	/* The payload table waives SA, KE and Nonce for an answer with an
	 * error notify or a COOKIE, by type alone; one that did not parse
	 * lets such an answer through to here. */
	if (!ike_chain_find(&m->chain, IKE_PT_SA) || !ike_chain_find(&m->chain, IKE_PT_KE) ||
	    !ike_chain_find(&m->chain, IKE_PT_NONCE))
		return IKE_ERR_MISSING_PAYLOAD;
	err = ike_parse_sa(ike_chain_find(&m->chain, IKE_PT_SA), &sap);
	if (err)
		return err;
	if (sap.n != 1 || sap.p[0].protocol != IKE_PROTO_IKE) {
		vlog_warn(IKE_LOG, "IKE_SA_INIT response: %u proposals instead of one IKE proposal",
			  sap.n);
		return IKE_ERR_PROPOSAL_MISMATCH;
	}
	err = ike_proposal_match(sa->cfg.ike, sa->cfg.n_ike, &sap.p[0], &which);
	if (err)
		return err;
	sa->ike_prop = sap.p[0];
	err = ike_map_algs(&sa->ike_prop, &algs, &esn);
	if (err)
		return err;
	err = ike_parse_ke(ike_chain_find(&m->chain, IKE_PT_KE), &ke);
	if (err)
		return err;
	if (!sa->ike_prop.n[IKE_XFORM_DH] ||
	    ke.group != sa->ike_prop.x[IKE_XFORM_DH][0].id || ke.group != sa->ke_group) {
		vlog_warn(IKE_LOG, "IKE_SA_INIT response: KE group %u does not fit ours (%u)",
			  ke.group, sa->ke_group);
		return -EPROTO; /* a protocol error, not a choice we did not offer */
	}
	err = ike_parse_nonce(ike_chain_find(&m->chain, IKE_PT_NONCE), &nonce);
	if (err)
		return err;
	memcpy(sa->nr, nonce.data, nonce.len);
	sa->nr_len = nonce.len;

	gir_len = crypto_dh_shared_len(sa->ke_group);
	err = crypto_dh_shared(sa->dh, ke.data, ke.len, gir, gir_len);
	if (err) {
		vlog_warn(IKE_LOG, "the gateway's key exchange value is invalid");
		err = -EBADMSG;
		goto out;
	}
	err = ike_keys_skeyseed(algs.prf, sa->ni, sizeof(sa->ni), sa->nr, sa->nr_len,
				gir, gir_len, skeyseed);
	if (err)
		goto out;
	put_be64(spi_i, sa->g.spi_i);
	put_be64(spi_r, sa->g.spi_r);
	err = ike_keys_derive_sa(&algs, skeyseed, crypto_prf_len(algs.prf), sa->ni,
				 sizeof(sa->ni), sa->nr, sa->nr_len, spi_i, spi_r,
				 &sa->keys);
	if (err)
		goto out;
	err = ike_keys_sa_ciphers(&sa->keys, 1, &sa->g.c_out, &sa->g.c_in);
	if (err)
		goto out;
	sa->have_keys = true;
	ike_proposal_format(&sa->ike_prop, sa->info.ike_alg, sizeof(sa->info.ike_alg));
out:
	crypto_wipe(gir, sizeof(gir));
	crypto_wipe(skeyseed, sizeof(skeyseed));
	return err;
}

void ike_sa_init_recv(struct ike_sa *sa, const struct ike_msg *m, uint8_t *buf,
		      size_t len)
{
	int err;

	if (sa->state != IKE_STATE_INIT_SENT)
		return;
	if (handle_notify_only(sa, m))
		return;
	if (m->hdr.spi_r == 0) {
		vlog_warn(IKE_LOG, "IKE_SA_INIT response without a responder SPI: dropped");
		return;
	}
	if (ike_check_payloads(IKE_MSG_SA_INIT_RESP, NULL, &m->chain)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "malformed IKE_SA_INIT response");
		return;
	}
	sa->g.spi_r = m->hdr.spi_r;
	err = derive(sa, m);
	if (err) {
		if (err == IKE_ERR_PROPOSAL_MISMATCH)
			ike_fail(sa, IKE_FAIL_NO_PROPOSAL,
				 "no proposal chosen: the gateway picked a proposal we did not offer");
		else if (err == -EPROTO)
			ike_fail(sa, IKE_FAIL_PROTOCOL,
				 "IKE_SA_INIT response refused: its key exchange is not of the group we sent (%u)",
				 sa->ke_group);
		else if (err == -EBADMSG)
			ike_fail(sa, IKE_FAIL_PROTOCOL,
				 "IKE_SA_INIT response refused: the gateway's key exchange value is invalid");
		else
			ike_fail(sa, IKE_FAIL_PROTOCOL, "IKE_SA_INIT response refused: %s",
				 ike_strerror(err));
		return;
	}
	if (keep_copy(&sa->init_resp, &sa->init_resp_len, buf, len)) {
		ike_fail(sa, IKE_FAIL_LOCAL, "out of memory");
		return;
	}
	read_status_notifies(sa, &m->chain);
	ike_request_done(sa);
	crypto_dh_free(sa->dh);
	sa->dh = NULL;
	vlog_info(IKE_LOG, "IKE SA %016llx_i %016llx_r: %s",
		  (unsigned long long)sa->g.spi_i, (unsigned long long)sa->g.spi_r,
		  sa->info.ike_alg);
	/* RFC 7296 2.23 / RFC 4555 3.3: move to port 4500 when there is a NAT
	 * or MOBIKE may be used; we always do, as ESP only runs in UDP. */
	if (sa->nat_local || sa->nat_remote || sa->cfg.force_encap || sa->cfg.mobike)
		sa->natt = true;
	err = ike_auth_send(sa);
	if (err)
		ike_fail(sa, IKE_FAIL_LOCAL, "cannot build IKE_AUTH: %s", ike_strerror(err));
}
