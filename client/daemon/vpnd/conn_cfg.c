/* From a profile to a session configuration: identities, credentials,
 * proposals, traffic selectors and routes. Everything a profile can get
 * wrong is refused here with one line naming the key. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/daemon/vpnd/vpnd.h"
#include "client/ike/proposal.h"
#include "client/util/log.h"

/* Defaults when a profile names no proposals: AEADs first, then CBC+HMAC;
 * the first group (x25519) goes into the first KE. */
#define DEFAULT_IKE                                                                      \
	"aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-"        \
	"curve25519-ecp256-ecp384-modp3072-modp2048,"                                     \
	"aes256-aes128-sha256-sha384-sha512-curve25519-ecp256-ecp384-modp3072-modp2048"
#define DEFAULT_ESP "aes256gcm16-aes128gcm16-chacha20poly1305,aes256-aes128-sha256-sha384-sha512"

int vpnd_proposal_check(const char *list, bool is_esp, char *why, size_t whylen)
{
	struct ike_proposal p[IKE_MAX_PROPOSALS];
	size_t n;
	int err;

	err = ike_proposals_parse(list, is_esp ? IKE_PROTO_ESP : IKE_PROTO_IKE, p,
				  IKE_MAX_PROPOSALS, &n, why, whylen);
	return err ? err : ike_proposals_supported(p, n, why, whylen);
}

void vpnd_creds_free(struct vpnd_creds *c)
{
	crypto_cert_free(c->cert);
	crypto_privkey_free(c->key);
	crypto_ca_store_free(c->ca);
	crypto_cert_free(c->ca_cert);
	if (c->psk) {
		crypto_wipe(c->psk, c->psk_len);
		free(c->psk);
	}
	if (c->eap_password) {
		crypto_wipe(c->eap_password, strlen(c->eap_password));
		free(c->eap_password);
	}
	free(c->eap_identity);
	memset(c, 0, sizeof(*c));
}

static int fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int load_credentials(const struct vpn_profile *p, struct vpnd_creds *c,
			    char *why, size_t whylen)
{
	int err;

	if (p->auth == VPN_AUTH_PSK) {
		c->psk = malloc(p->psk_len);
		if (!c->psk)
			return -ENOMEM;
		memcpy(c->psk, p->psk, p->psk_len);
		c->psk_len = p->psk_len;
		return 0;
	}
	if (p->ca) {
		err = crypto_ca_store_load(p->ca, &c->ca);
		if (!err)
			err = crypto_cert_load_pem(p->ca, &c->ca_cert);
		if (err)
			return fail(why, whylen, "%s: ca %s: not a readable PEM CA certificate",
				    p->path, p->ca);
	}
	if (p->auth == VPN_AUTH_PUBKEY) {
		err = crypto_cert_load_pem(p->cert, &c->cert);
		if (err)
			return fail(why, whylen, "%s: cert %s: not a readable PEM certificate",
				    p->path, p->cert);
		err = crypto_privkey_load_pem(p->key, &c->key);
		if (err)
			return fail(why, whylen, "%s: key %s: not a readable PEM private key",
				    p->path, p->key);
		return 0;
	}
	c->eap_identity = strdup(p->eap_identity ? p->eap_identity : "");
	c->eap_password = strdup(p->eap_password ? p->eap_password : "");
	if (!c->eap_identity || !c->eap_password)
		return -ENOMEM;
	return 0;
}

static int identities(const struct vpn_profile *p, struct sess_cfg *cfg,
		      const struct vpnd_creds *c, char *why, size_t whylen)
{
	struct ike_cfg *ic = &cfg->ike;

	if (p->local_id) {
		if (ike_identity_parse(p->local_id, &ic->local_id))
			return fail(why, whylen, "%s: local_id '%s' is not a usable identity",
				    p->path, p->local_id);
	} else if (p->auth == VPN_AUTH_PUBKEY) {
		/* The certificate's subject, as strongSwan does. */
		size_t len;

		if (crypto_cert_subject_der(c->cert, ic->local_id.data, IKE_ID_MAX, &len))
			return fail(why, whylen, "%s: cert %s: cannot read its subject", p->path,
				    p->cert);
		ic->local_id.type = IKE_ID_DER_ASN1_DN;
		ic->local_id.len = (uint16_t)len;
	} else if (p->auth == VPN_AUTH_EAP_MSCHAPV2 && p->eap_identity) {
		if (ike_identity_parse(p->eap_identity, &ic->local_id))
			return fail(why, whylen, "%s: eap_identity '%s' is not a usable identity",
				    p->path, p->eap_identity);
	} else {
		return fail(why, whylen, "%s: local_id is required with auth = %s", p->path,
			    vpn_auth_name(p->auth));
	}
	if (p->remote_id) {
		if (ike_identity_parse(p->remote_id, &ic->remote_id))
			return fail(why, whylen, "%s: remote_id '%s' is not a usable identity",
				    p->path, p->remote_id);
	} else if (p->auth != VPN_AUTH_PSK) {
		/* Without remote_id the gateway must prove the name we dialled. */
		if (ike_identity_parse(p->gateway, &ic->remote_id))
			return fail(why, whylen, "%s: gateway '%s' is not a usable identity",
				    p->path, p->gateway);
	}
	return 0;
}

static void ts_any(struct ike_ts *ts, bool v6)
{
	memset(ts, 0, sizeof(*ts));
	ts->type = v6 ? IKE_TS_IPV6_ADDR_RANGE : IKE_TS_IPV4_ADDR_RANGE;
	ts->end_port = 0xffff;
	memset(ts->end, 0xff, v6 ? 16 : 4);
}

static void ts_from_route(struct ike_ts *ts, const struct vpn_route *r)
{
	size_t alen = r->family == AF_INET6 ? 16 : 4, i;

	memset(ts, 0, sizeof(*ts));
	ts->type = r->family == AF_INET6 ? IKE_TS_IPV6_ADDR_RANGE : IKE_TS_IPV4_ADDR_RANGE;
	ts->end_port = 0xffff;
	memcpy(ts->start, r->addr, alen);
	memcpy(ts->end, r->addr, alen);
	for (i = 0; i < alen * 8; i++)
		if (i >= r->prefix_len)
			ts->end[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

static int selectors_and_routes(const struct vpn_profile *p, struct sess_cfg *cfg,
				char *why, size_t whylen)
{
	struct ike_cfg *ic = &cfg->ike;
	size_t i;

	cfg->full_tunnel = p->full_tunnel;
	ic->n_tsi = 1;
	ts_any(&ic->tsi[0], false);
	if (p->full_tunnel || !p->n_routes) {
		/* Ask for everything; the gateway narrows it to what it allows and
		 * those selectors become the routes (split) unless full_tunnel. */
		ic->n_tsr = 1;
		ts_any(&ic->tsr[0], false);
		return 0;
	}
	if (p->n_routes > IKE_CFG_MAX_TS || p->n_routes > SESS_MAX_ROUTES) {
		return fail(why, whylen, "%s: at most %d routes are supported", p->path,
			    IKE_CFG_MAX_TS);
	}
	for (i = 0; i < p->n_routes; i++) {
		const struct vpn_route *r = &p->routes[i];

		ts_from_route(&ic->tsr[i], r);
		cfg->routes[i].ip.family = (uint8_t)r->family;
		memcpy(cfg->routes[i].ip.addr, r->addr, sizeof(r->addr));
		cfg->routes[i].plen = r->prefix_len;
	}
	ic->n_tsr = p->n_routes;
	cfg->n_routes = (unsigned)p->n_routes;
	return 0;
}

int vpnd_profile_to_cfg(const struct vpn_profile *p, struct sess_cfg *cfg,
			struct vpnd_creds *creds, char *why, size_t whylen)
{
	struct ike_cfg *ic = &cfg->ike;
	char perr[256];
	int err;

	memset(cfg, 0, sizeof(*cfg));
	memset(creds, 0, sizeof(*creds));
	ike_cfg_defaults(ic);
	snprintf(cfg->name, sizeof(cfg->name), "%s", p->name);
	snprintf(cfg->gateway, sizeof(cfg->gateway), "%s", p->gateway);
	ic->mobike = p->mobike;
	cfg->killswitch = p->killswitch;
	cfg->allow_lan = p->allow_lan;
	if (p->ike_rekey_s != VPN_PROFILE_UNSET)
		ic->rekey_ike_s = p->ike_rekey_s;
	if (p->esp_rekey_s != VPN_PROFILE_UNSET)
		ic->rekey_child_s = p->esp_rekey_s;
	if (p->dpd_s != VPN_PROFILE_UNSET)
		ic->dpd_interval_s = p->dpd_s;

	err = ike_proposals_parse(p->ike ? p->ike : DEFAULT_IKE, IKE_PROTO_IKE, ic->ike,
				  IKE_MAX_PROPOSALS, &ic->n_ike, perr, sizeof(perr));
	if (err)
		return fail(why, whylen, "%s: ike: %s", p->path, perr);
	err = ike_proposals_parse(p->esp ? p->esp : DEFAULT_ESP, IKE_PROTO_ESP, ic->esp,
				  IKE_MAX_PROPOSALS, &ic->n_esp, perr, sizeof(perr));
	if (err)
		return fail(why, whylen, "%s: esp: %s", p->path, perr);

	if (ike_proposals_supported(ic->ike, ic->n_ike, perr, sizeof(perr)))
		return fail(why, whylen, "%s: ike: %s", p->path, perr);
	if (ike_proposals_supported(ic->esp, ic->n_esp, perr, sizeof(perr)))
		return fail(why, whylen, "%s: esp: %s", p->path, perr);
	err = load_credentials(p, creds, why, whylen);
	if (!err)
		err = identities(p, cfg, creds, why, whylen);
	if (!err)
		err = selectors_and_routes(p, cfg, why, whylen);
	if (err) {
		vpnd_creds_free(creds);
		return err;
	}
	switch (p->auth) {
	case VPN_AUTH_PSK:
		ic->auth = IKE_AUTHK_PSK;
		ic->psk = creds->psk;
		ic->psk_len = creds->psk_len;
		break;
	case VPN_AUTH_PUBKEY:
		ic->auth = IKE_AUTHK_PUBKEY;
		ic->cert = creds->cert;
		ic->key = creds->key;
		break;
	case VPN_AUTH_EAP_MSCHAPV2:
		ic->auth = IKE_AUTHK_EAP_MSCHAPV2;
		ic->eap_identity = creds->eap_identity;
		ic->eap_password = creds->eap_password;
		break;
	}
	ic->ca = creds->ca;
	if (creds->ca_cert) {
		/* creds lives as long as the session: the pointer stays valid. */
		ic->ca_certs = (const struct crypto_cert *const *)&creds->ca_cert;
		ic->n_ca_certs = 1;
	}
	return 0;
}
