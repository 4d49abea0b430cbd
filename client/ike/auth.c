/* IKE_AUTH (RFC 7296 1.2, 2.15, 2.16): our identity and proof (PSK,
 * certificate, or EAP followed by an MSK-keyed AUTH), the gateway's identity
 * and proof, the configuration request and the first Child SA.
 *
 * The gateway is always authenticated before anything it configures is
 * used: its AUTH (and for certificates its chain and identity) is checked
 * in the first response, and again with the MSK after EAP. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/log.h"

#define AUTH_MAX 1024 /* signature or PRF output */

static int id_body(const struct ike_identity *id, uint8_t *out, size_t cap,
		   size_t *len)
{
	if (cap < (size_t)IKE_ID_HDR_LEN + id->len)
		return -ENOSPC;
	out[0] = id->type;
	out[1] = out[2] = out[3] = 0;
	memcpy(out + IKE_ID_HDR_LEN, id->data, id->len);
	*len = IKE_ID_HDR_LEN + id->len;
	return 0;
}

int ike_auth_octets(struct ike_sa *sa, bool ours, const uint8_t *idb,
		    size_t idb_len, uint8_t **out, size_t *out_len)
{
	const uint8_t *msg = ours ? sa->init_req : sa->init_resp;
	size_t msg_len = ours ? sa->init_req_len : sa->init_resp_len;
	const uint8_t *nonce = ours ? sa->nr : sa->ni;
	size_t nonce_len = ours ? sa->nr_len : sizeof(sa->ni);
	const uint8_t *skp = ours ? sa->keys.sk_pi : sa->keys.sk_pr;
	size_t prf_len = sa->keys.prf_len;
	struct crypto_iov iov = {idb, idb_len};
	uint8_t *o;
	int err;

	if (!msg)
		return -EINVAL;
	o = malloc(msg_len + nonce_len + prf_len);
	if (!o)
		return -ENOMEM;
	memcpy(o, msg, msg_len);
	memcpy(o + msg_len, nonce, nonce_len);
	err = crypto_prf(sa->keys.algs.prf, skp, prf_len, &iov, 1, o + msg_len + nonce_len);
	if (err) {
		free(o);
		return err;
	}
	*out = o;
	*out_len = msg_len + nonce_len + prf_len;
	return 0;
}

/* Our AUTH payload data for PSK, pubkey, or the MSK after EAP. */
static int build_our_auth(struct ike_sa *sa, struct ike_builder *b)
{
	uint8_t idb[IKE_ID_HDR_LEN + IKE_ID_MAX], auth[AUTH_MAX];
	uint8_t *octets = NULL;
	size_t idb_len, octets_len, auth_len = sizeof(auth);
	uint8_t method;
	int err;

	err = id_body(&sa->cfg.local_id, idb, sizeof(idb), &idb_len);
	if (!err)
		err = ike_auth_octets(sa, true, idb, idb_len, &octets, &octets_len);
	if (err)
		return err;
	switch (sa->cfg.auth) {
	case IKE_AUTHK_PSK:
		method = IKE_AUTH_PSK;
		err = ike_auth_psk_compute(sa, sa->cfg.psk, sa->cfg.psk_len, octets,
					   octets_len, auth, &auth_len);
		break;
	case IKE_AUTHK_EAP_MSCHAPV2:
		method = IKE_AUTH_PSK;
		err = sa->eap.have_msk
			      ? ike_auth_psk_compute(sa, sa->eap.msk, sizeof(sa->eap.msk),
						     octets, octets_len, auth, &auth_len)
			      : -EINVAL;
		break;
	case IKE_AUTHK_PUBKEY:
		err = ike_auth_sign(sa, octets, octets_len, &method, auth, &auth_len);
		break;
	default:
		err = -EINVAL;
		break;
	}
	free(octets);
	if (!err)
		err = ike_build_auth(b, method, auth, auth_len);
	crypto_wipe(auth, sizeof(auth));
	return err;
}

static int build_certreq(struct ike_sa *sa, struct ike_builder *b)
{
	uint8_t hashes[IKE_CERTREQ_HASH_LEN * 8];
	size_t i, n = 0;

	for (i = 0; i < sa->cfg.n_ca_certs && n < 8; i++)
		if (!crypto_cert_spki_sha1(sa->cfg.ca_certs[i],
					   hashes + n * IKE_CERTREQ_HASH_LEN))
			n++;
	return ike_build_certreq(b, IKE_CERT_X509_SIG, hashes, n * IKE_CERTREQ_HASH_LEN);
}

/* The first IKE_AUTH request: everything but, with EAP, our AUTH. */
static int build_auth_first(struct ike_sa *sa, struct ike_builder *b)
{
	const struct ike_cfg *cfg = &sa->cfg;
	int err;

	ike_build_id(b, IKE_PT_IDI, cfg->local_id.type, cfg->local_id.data,
		     cfg->local_id.len);
	if (cfg->auth == IKE_AUTHK_PUBKEY) {
		const uint8_t *der;
		size_t der_len;

		err = crypto_cert_der(cfg->cert, &der, &der_len);
		if (err)
			return err;
		ike_build_cert(b, IKE_CERT_X509_SIG, der, der_len);
	}
	ike_build_notify(b, IKE_PROTO_NONE, NULL, 0, IKE_N_INITIAL_CONTACT, NULL, 0);
	if (cfg->auth != IKE_AUTHK_PSK && cfg->n_ca_certs)
		build_certreq(sa, b);
	if (cfg->send_idr && cfg->remote_id.type)
		ike_build_id(b, IKE_PT_IDR, cfg->remote_id.type, cfg->remote_id.data,
			     cfg->remote_id.len);
	if (cfg->auth != IKE_AUTHK_EAP_MSCHAPV2) {
		err = build_our_auth(sa, b);
		if (err)
			return err;
	}
	ike_child_build_cp_request(sa, b);
	err = ike_child_build_sa(sa, b, sa->auth_spi_in, false);
	if (err)
		return err;
	ike_child_build_ts(sa, b);
	if (cfg->mobike)
		ike_build_notify(b, IKE_PROTO_NONE, NULL, 0, IKE_N_MOBIKE_SUPPORTED, NULL, 0);
	return ike_build_notify(b, IKE_PROTO_NONE, NULL, 0,
				IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED, NULL, 0);
}

static uint8_t eap_out[2048];
static size_t eap_out_len;

static int build_auth_eap(struct ike_sa *sa, struct ike_builder *b)
{
	return ike_build_eap(b, eap_out, eap_out_len);
}

static int build_auth_final(struct ike_sa *sa, struct ike_builder *b)
{
	return build_our_auth(sa, b);
}

int ike_auth_send(struct ike_sa *sa)
{
	int err;

	if (!sa->auth_spi_in) {
		err = ike_child_new_spi(sa, &sa->auth_spi_in);
		if (err)
			return err;
	}
	err = ike_set_state(sa, sa->cfg.auth == IKE_AUTHK_EAP_MSCHAPV2 ? IKE_STATE_EAP
								       : IKE_STATE_AUTH_SENT,
			    "IKE_SA_INIT done");
	if (err)
		return err;
	if (sa->ops->progress)
		sa->ops->progress(sa->arg, IKE_PROGRESS_AUTH);
	return ike_send_request(sa, IKE_TASK_AUTH, IKE_EXCH_IKE_AUTH, build_auth_first);
}

/* ---- the gateway's identity and proof ---------------------------------------- */

static enum crypto_id_type id_type_for_cert(uint8_t t, bool *ok)
{
	*ok = true;
	switch (t) {
	case IKE_ID_FQDN: return CRYPTO_ID_FQDN;
	case IKE_ID_RFC822_ADDR: return CRYPTO_ID_EMAIL;
	case IKE_ID_IPV4_ADDR: return CRYPTO_ID_IPV4;
	case IKE_ID_IPV6_ADDR: return CRYPTO_ID_IPV6;
	case IKE_ID_DER_ASN1_DN: return CRYPTO_ID_DN;
	default: *ok = false; return CRYPTO_ID_FQDN;
	}
}

static void id_to_str(const struct ike_id *id, char *out, size_t cap)
{
	struct ike_identity tmp = {.type = id->type};

	tmp.len = id->len > IKE_ID_MAX ? IKE_ID_MAX : (uint16_t)id->len;
	memcpy(tmp.data, id->data, tmp.len);
	ike_identity_str(&tmp, out, cap);
}

static bool id_equal(const struct ike_identity *want, const struct ike_id *got)
{
	return want->type == got->type && want->len == got->len &&
	       !memcmp(want->data, got->data, got->len);
}

/* Check IDr against the profile and, with certificates, the chain and that
 * the certificate vouches for IDr. Fills *leaf (owned by the caller). */
static int check_peer_identity(struct ike_sa *sa, const struct ike_chain *c,
			       const struct ike_id *idr, struct crypto_cert **leaf)
{
	struct crypto_cert *chain[IKE_MAX_CHAIN];
	char got[IKE_ID_MAX + 8], want[IKE_ID_MAX + 8], reason[256];
	size_t nchain = 0;
	unsigned i;
	bool ok;
	int err = 0;

	id_to_str(idr, got, sizeof(got));
	snprintf(sa->info.remote_id, sizeof(sa->info.remote_id), "%s", got);
	if (idr->body_len > sizeof(sa->peer_id_body)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "the gateway's identity is too long");
		return -EBADMSG;
	}
	memcpy(sa->peer_id_body, idr->body, idr->body_len);
	sa->peer_id_body_len = idr->body_len;
	if (sa->cfg.remote_id.type && !id_equal(&sa->cfg.remote_id, idr)) {
		ike_identity_str(&sa->cfg.remote_id, want, sizeof(want));
		ike_fail(sa, IKE_FAIL_ID_MISMATCH,
			 "identity mismatch: the gateway identifies as '%s', the profile expects '%s'",
			 got, want);
		return -EACCES;
	}
	*leaf = NULL;
	if (sa->cfg.auth == IKE_AUTHK_PSK)
		return 0;
	for (i = 0; i < c->n; i++) {
		struct ike_cert cert;
		struct crypto_cert **slot;

		if (c->pl[i].type != IKE_PT_CERT || ike_parse_cert(&c->pl[i], &cert))
			continue;
		if (cert.encoding != IKE_CERT_X509_SIG)
			continue;
		if (!*leaf)
			slot = leaf;
		else if (nchain < IKE_MAX_CHAIN)
			slot = &chain[nchain];
		else
			break;
		if (crypto_cert_from_der(cert.data, cert.len, slot)) {
			vlog_warn(IKE_LOG, "the gateway sent a certificate we cannot parse");
			continue;
		}
		if (slot != leaf)
			nchain++;
	}
	if (!*leaf) {
		ike_fail(sa, IKE_FAIL_CERT_UNTRUSTED,
			 "certificate not trusted: the gateway sent no certificate");
		err = -EACCES;
		goto out;
	}
	if (!sa->cfg.ca) {
		ike_fail(sa, IKE_FAIL_LOCAL, "no CA configured to check the gateway's certificate");
		err = -EINVAL;
		goto out;
	}
	if (crypto_cert_verify(sa->cfg.ca, *leaf, chain, nchain, 0, reason, sizeof(reason))) {
		char subj[256] = "?";

		crypto_cert_subject_str(*leaf, subj, sizeof(subj));
		ike_fail(sa, IKE_FAIL_CERT_UNTRUSTED,
			 "certificate not trusted: %s (subject %s)", reason, subj);
		err = -EACCES;
		goto out;
	}
	enum crypto_id_type t = id_type_for_cert(idr->type, &ok);
	if (!ok || crypto_cert_matches_id(*leaf, t, idr->data, idr->len) != 1) {
		char subj[256] = "?";

		crypto_cert_subject_str(*leaf, subj, sizeof(subj));
		ike_fail(sa, IKE_FAIL_ID_MISMATCH,
			 "identity mismatch: the gateway's certificate (%s) does not contain its identity '%s'",
			 subj, got);
		err = -EACCES;
	}
out:
	for (i = 0; i < nchain; i++)
		crypto_cert_free(chain[i]);
	if (err) {
		crypto_cert_free(*leaf);
		*leaf = NULL;
	}
	return err;
}

/* Verify the gateway's AUTH payload: PSK, the MSK after EAP, or a signature
 * with the (already verified) certificate. */
static int verify_peer_auth(struct ike_sa *sa, const struct ike_chain *c,
			    const struct ike_id *idr, const struct crypto_cert *leaf,
			    bool with_msk)
{
	const struct ike_payload *p = ike_chain_find(c, IKE_PT_AUTH);
	struct ike_auth auth;
	uint8_t *octets = NULL, expect[CRYPTO_PRF_MAX_LEN];
	size_t octets_len, expect_len = sizeof(expect);
	int err;

	if (!p || ike_parse_auth(p, &auth)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "the gateway sent no usable AUTH payload");
		return -EBADMSG;
	}
	err = ike_auth_octets(sa, false, idr->body, idr->body_len, &octets, &octets_len);
	if (err) {
		ike_fail(sa, IKE_FAIL_LOCAL, "cannot compute AUTH input: %s", ike_strerror(err));
		return err;
	}
	if (with_msk || sa->cfg.auth == IKE_AUTHK_PSK) {
		const uint8_t *key = with_msk ? sa->eap.msk : sa->cfg.psk;
		size_t key_len = with_msk ? sizeof(sa->eap.msk) : sa->cfg.psk_len;

		if (auth.method != IKE_AUTH_PSK) {
			err = -EBADMSG;
			ike_fail(sa, IKE_FAIL_PEER_AUTH,
				 "authentication failed: the gateway used AUTH method %u where a shared key was expected",
				 auth.method);
			goto out;
		}
		err = ike_auth_psk_compute(sa, key, key_len, octets, octets_len, expect,
					   &expect_len);
		if (!err && (auth.len != expect_len || !crypto_memeq(expect, auth.data, expect_len)))
			err = -EBADMSG;
		if (err) {
			ike_fail(sa, IKE_FAIL_PEER_AUTH,
				 with_msk ? "authentication failed: the gateway's EAP AUTH does not verify"
					  : "authentication failed: the gateway's AUTH does not verify (wrong pre-shared key?)");
			goto out;
		}
	} else {
		err = ike_auth_verify_sig(sa, leaf, &auth, octets, octets_len);
		if (err) {
			ike_fail(sa, IKE_FAIL_PEER_AUTH,
				 "authentication failed: the gateway's signature does not verify");
			goto out;
		}
	}
out:
	crypto_wipe(expect, sizeof(expect));
	free(octets);
	return err;
}

/* First response: the gateway's IDr, certificate and AUTH. */
static int authenticate_peer(struct ike_sa *sa, const struct ike_chain *c)
{
	const struct ike_payload *p = ike_chain_find(c, IKE_PT_IDR);
	struct crypto_cert *leaf = NULL;
	struct ike_id idr;
	int err;

	if (!p || ike_parse_id(p, &idr)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "IKE_AUTH response without the gateway's identity");
		return -EBADMSG;
	}
	err = check_peer_identity(sa, c, &idr, &leaf);
	if (err)
		return err;
	/* With EAP and a gateway that does EAP-only authentication there is no
	 * AUTH before the EAP exchange; we require the gateway's certificate. */
	err = verify_peer_auth(sa, c, &idr, leaf, false);
	crypto_cert_free(leaf);
	if (err)
		return err;
	sa->auth_peer_done = true;
	vlog_info(IKE_LOG, "gateway authenticated as '%s'", sa->info.remote_id);
	return 0;
}

static void fail_from_notify(struct ike_sa *sa, const struct ike_notify *e)
{
	switch (e->type) {
	case IKE_N_AUTHENTICATION_FAILED:
		ike_fail(sa, IKE_FAIL_AUTH_REFUSED,
			 sa->cfg.auth == IKE_AUTHK_EAP_MSCHAPV2
				 ? "authentication failed: the gateway refused our EAP authentication"
				 : sa->cfg.auth == IKE_AUTHK_PSK
					   ? "authentication failed: the gateway refused our pre-shared key or identity"
					   : "authentication failed: the gateway refused our certificate or identity");
		break;
	case IKE_N_NO_PROPOSAL_CHOSEN:
		ike_fail(sa, IKE_FAIL_NO_PROPOSAL,
			 "no proposal chosen: the gateway accepts none of our ESP proposals");
		break;
	case IKE_N_TS_UNACCEPTABLE:
		ike_fail(sa, IKE_FAIL_TS_UNACCEPTABLE,
			 "traffic selectors unacceptable: the gateway refuses the requested networks");
		break;
	case IKE_N_INTERNAL_ADDRESS_FAILURE:
	case IKE_N_FAILED_CP_REQUIRED:
		ike_fail(sa, IKE_FAIL_NO_ADDRESS,
			 "the gateway assigned no virtual IP (%s)", ike_notify_name(e->type));
		break;
	default:
		ike_fail(sa, IKE_FAIL_PROTOCOL, "the gateway answered IKE_AUTH with %s",
			 ike_notify_name(e->type));
		break;
	}
}

static void read_auth_notifies(struct ike_sa *sa, const struct ike_chain *c)
{
	if (ike_has_notify(c, IKE_N_MOBIKE_SUPPORTED))
		sa->peer_mobike = true;
}

/* SA, TS and CP of the last response: the first Child SA. */
static void finish(struct ike_sa *sa, const struct ike_chain *c)
{
	int err;

	read_auth_notifies(sa, c);
	err = ike_child_apply_cp(sa, c);
	if (err)
		return; /* failed (reported) */
	err = ike_child_install(sa, c, sa->auth_spi_in, sa->ni, sizeof(sa->ni), sa->nr,
				sa->nr_len, NULL, 0, true, 0);
	if (err)
		return;
	if (ike_set_state(sa, IKE_STATE_ESTABLISHED, "IKE_AUTH done"))
		return;
	sa->g.peer_msgid = 0;
	sa->info.nat_local = sa->nat_local;
	sa->info.nat_remote = sa->nat_remote;
	sa->info.mobike = sa->peer_mobike && sa->cfg.mobike;
	sa->info.fragmentation = sa->peer_frag && sa->cfg.fragmentation;
	ike_arm_established_timers(sa);
	if (sa->ops->progress)
		sa->ops->progress(sa->arg, IKE_PROGRESS_ESTABLISHED);
	sa->ops->established(sa->arg, &sa->info);
}

static void eap_step(struct ike_sa *sa, const struct ike_chain *c)
{
	const struct ike_payload *p = ike_chain_find(c, IKE_PT_EAP);
	struct ike_eap eap;
	int done;

	if (!p || ike_parse_eap(p, &eap)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "IKE_AUTH response without the expected EAP payload");
		return;
	}
	if (++sa->eap.rounds > IKE_EAP_MAX_ROUNDS) {
		ike_fail(sa, IKE_FAIL_EAP, "EAP did not finish in %d rounds", IKE_EAP_MAX_ROUNDS);
		return;
	}
	done = ike_eap_process(sa, &eap, eap_out, sizeof(eap_out), &eap_out_len);
	if (done < 0)
		return; /* failed (reported) */
	if (done == 1) {
		if (ike_set_state(sa, IKE_STATE_AUTH_SENT, "EAP succeeded"))
			return;
		if (ike_send_request(sa, IKE_TASK_AUTH, IKE_EXCH_IKE_AUTH, build_auth_final))
			ike_fail(sa, IKE_FAIL_LOCAL, "cannot build the final IKE_AUTH");
		return;
	}
	if (sa->ops->progress)
		sa->ops->progress(sa->arg, IKE_PROGRESS_EAP);
	if (ike_send_request(sa, IKE_TASK_AUTH, IKE_EXCH_IKE_AUTH, build_auth_eap))
		ike_fail(sa, IKE_FAIL_LOCAL, "cannot build an EAP IKE_AUTH");
}

void ike_auth_recv(struct ike_sa *sa, const struct ike_header *h,
		   const struct ike_chain *c)
{
	struct ike_notify scratch;
	const struct ike_notify *e;
	bool eap = sa->cfg.auth == IKE_AUTHK_EAP_MSCHAPV2;

	(void)h;
	if (sa->state != IKE_STATE_AUTH_SENT && sa->state != IKE_STATE_EAP)
		return;
	ike_request_done(sa);
	e = ike_first_error(c, &scratch);
	if (e) {
		fail_from_notify(sa, e);
		return;
	}
	if (!sa->auth_peer_done) {
		if (authenticate_peer(sa, c))
			return;
	} else if (eap && sa->eap.state == IKE_EAP_DONE) {
		/* The final response: AUTH keyed with the MSK, over the IDr of
		 * the first response (it is not repeated). */
		struct ike_id idr = {
			.type = sa->peer_id_body[0],
			.data = sa->peer_id_body + IKE_ID_HDR_LEN,
			.len = sa->peer_id_body_len - IKE_ID_HDR_LEN,
			.body = sa->peer_id_body,
			.body_len = sa->peer_id_body_len,
		};

		if (verify_peer_auth(sa, c, &idr, NULL, true))
			return;
	}
	if (eap && sa->eap.state != IKE_EAP_DONE) {
		eap_step(sa, c);
		return;
	}
	finish(sa, c);
}
