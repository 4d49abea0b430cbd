/* Which payloads each kind of message must and may carry (RFC 7296 1.2-1.4,
 * 1.5, 2.6, 2.16, 3.10.1; RFC 5998 for EAP-only; RFC 4555 for MOBIKE's
 * INFORMATIONAL exchanges). The exchanges pick the kind they expect and
 * check once; the walker already refused repeats and SK in the wrong place. */
#include <errno.h>

#include "client/ike/codec.h"
#include "client/ike/codec_int.h"
#include "client/util/log.h"

#define B(t) IKE_PT_BIT(IKE_PT_##t)
#define CHILD (B(SA) | B(TSI) | B(TSR))

static const struct ike_msg_rule rules[IKE_MSG_KIND_COUNT] = {
	[IKE_MSG_SA_INIT_REQ] = {
		"IKE_SA_INIT request", IKE_EXCH_IKE_SA_INIT, false, false,
		B(SA) | B(KE) | B(NONCE),
		B(SA) | B(KE) | B(NONCE) | B(NOTIFY) | B(VENDOR), 0},
	[IKE_MSG_SA_INIT_RESP] = {
		"IKE_SA_INIT response", IKE_EXCH_IKE_SA_INIT, true, false,
		B(SA) | B(KE) | B(NONCE),
		B(SA) | B(KE) | B(NONCE) | B(NOTIFY) | B(VENDOR) | B(CERTREQ), 0},
	[IKE_MSG_AUTH_REQ] = {
		"IKE_AUTH request", IKE_EXCH_IKE_AUTH, false, true,
		B(IDI) | B(AUTH),
		B(IDI) | B(AUTH) | B(CERT) | B(CERTREQ) | B(IDR) | B(CP) | CHILD |
			B(NOTIFY) | B(VENDOR),
		CHILD},
	[IKE_MSG_AUTH_RESP] = {
		"IKE_AUTH response", IKE_EXCH_IKE_AUTH, true, true,
		B(IDR) | B(AUTH),
		B(IDR) | B(AUTH) | B(CERT) | B(CP) | CHILD | B(NOTIFY) | B(VENDOR),
		CHILD},
	[IKE_MSG_AUTH_EAP_START_REQ] = {
		"IKE_AUTH request (EAP start)", IKE_EXCH_IKE_AUTH, false, true,
		B(IDI),
		B(IDI) | B(CERTREQ) | B(IDR) | B(CP) | CHILD | B(NOTIFY) | B(VENDOR),
		CHILD},
	[IKE_MSG_AUTH_EAP_FIRST_RESP] = {
		"IKE_AUTH response (EAP start)", IKE_EXCH_IKE_AUTH, true, true,
		B(IDR) | B(EAP),
		/* AUTH and CERT are absent with EAP_ONLY_AUTHENTICATION (RFC 5998) */
		B(IDR) | B(EAP) | B(AUTH) | B(CERT) | B(NOTIFY) | B(VENDOR), 0},
	[IKE_MSG_AUTH_EAP_REQ] = {
		"IKE_AUTH request (EAP)", IKE_EXCH_IKE_AUTH, false, true,
		B(EAP), B(EAP) | B(NOTIFY), 0},
	[IKE_MSG_AUTH_EAP_RESP] = {
		"IKE_AUTH response (EAP)", IKE_EXCH_IKE_AUTH, true, true,
		B(EAP), B(EAP) | B(NOTIFY), 0},
	[IKE_MSG_AUTH_EAP_FINAL_REQ] = {
		"IKE_AUTH request (EAP final AUTH)", IKE_EXCH_IKE_AUTH, false, true,
		B(AUTH), B(AUTH) | B(NOTIFY), 0},
	[IKE_MSG_AUTH_EAP_FINAL_RESP] = {
		"IKE_AUTH response (EAP final AUTH)", IKE_EXCH_IKE_AUTH, true, true,
		B(AUTH),
		B(AUTH) | B(CP) | CHILD | B(NOTIFY) | B(VENDOR), CHILD},
	[IKE_MSG_CREATE_CHILD_REQ] = {
		"CREATE_CHILD_SA request", IKE_EXCH_CREATE_CHILD_SA, false, true,
		B(SA) | B(NONCE) | B(TSI) | B(TSR),
		B(SA) | B(NONCE) | B(TSI) | B(TSR) | B(KE) | B(NOTIFY) | B(CP), CHILD},
	[IKE_MSG_CREATE_CHILD_RESP] = {
		"CREATE_CHILD_SA response", IKE_EXCH_CREATE_CHILD_SA, true, true,
		B(SA) | B(NONCE) | B(TSI) | B(TSR),
		B(SA) | B(NONCE) | B(TSI) | B(TSR) | B(KE) | B(NOTIFY) | B(CP), CHILD},
	[IKE_MSG_REKEY_IKE_REQ] = {
		"CREATE_CHILD_SA request (IKE rekey)", IKE_EXCH_CREATE_CHILD_SA, false, true,
		B(SA) | B(NONCE) | B(KE),
		B(SA) | B(NONCE) | B(KE) | B(NOTIFY), 0},
	[IKE_MSG_REKEY_IKE_RESP] = {
		"CREATE_CHILD_SA response (IKE rekey)", IKE_EXCH_CREATE_CHILD_SA, true, true,
		B(SA) | B(NONCE) | B(KE),
		B(SA) | B(NONCE) | B(KE) | B(NOTIFY), 0},
	[IKE_MSG_INFO_REQ] = {
		"INFORMATIONAL request", IKE_EXCH_INFORMATIONAL, false, true,
		0, B(NOTIFY) | B(DELETE) | B(CP), 0},
	[IKE_MSG_INFO_RESP] = {
		"INFORMATIONAL response", IKE_EXCH_INFORMATIONAL, true, true,
		0, B(NOTIFY) | B(DELETE) | B(CP), 0},
};

const struct ike_msg_rule *ike_msg_rule_of(enum ike_msg_kind kind)
{
	if ((unsigned)kind >= IKE_MSG_KIND_COUNT)
		return NULL;
	return &rules[kind];
}

/* RFC 7296 2.21.2: in IKE_AUTH these errors refuse only the Child SA; the
 * IKE SA is still set up, so IDr and AUTH must be there. */
static bool child_sa_error(uint16_t t)
{
	switch (t) {
	case IKE_N_NO_PROPOSAL_CHOSEN:
	case IKE_N_TS_UNACCEPTABLE:
	case IKE_N_SINGLE_PAIR_REQUIRED:
	case IKE_N_INTERNAL_ADDRESS_FAILURE:
	case IKE_N_FAILED_CP_REQUIRED:
	case IKE_N_NO_ADDITIONAL_SAS:
	case IKE_N_INVALID_SELECTORS:
		return true;
	default:
		return false;
	}
}

/* What an error notify (or, in IKE_SA_INIT, a COOKIE request) takes out of
 * a response's required set (RFC 7296 1.2, 2.6, 2.21): everything, or in
 * IKE_AUTH only the Child SA part for Child SA errors. */
static uint32_t waived(const struct ike_msg_rule *r, const struct ike_chain *c)
{
	uint32_t w = 0;

	for (unsigned i = 0; i < c->n; i++) {
		uint16_t t;

		if (c->pl[i].type != IKE_PT_NOTIFY)
			continue;
		t = ike_peek_notify_type(&c->pl[i]);
		if (t && t <= IKE_NOTIFY_ERROR_MAX)
			w |= (r->exchange == IKE_EXCH_IKE_AUTH && child_sa_error(t))
				     ? CHILD : UINT32_MAX;
		if (t == IKE_N_COOKIE && r->exchange == IKE_EXCH_IKE_SA_INIT)
			w = UINT32_MAX;
	}
	return w;
}

static uint8_t first_type(uint32_t mask)
{
	for (unsigned t = 32; t < 64; t++)
		if (mask & ((uint32_t)1 << (t - 32)))
			return (uint8_t)t;
	return 0;
}

int ike_check_payloads(enum ike_msg_kind kind, const struct ike_chain *outer,
		       const struct ike_chain *payloads)
{
	const struct ike_msg_rule *r = ike_msg_rule_of(kind);
	uint32_t present = 0, waive = 0, missing, part;

	if (!r || !payloads)
		return -EINVAL;
	if (r->protected_ && outer) {
		bool have_sk = false;

		for (unsigned i = 0; i < outer->n; i++) {
			const struct ike_payload *p = &outer->pl[i];

			if (p->type == IKE_PT_SK || p->type == IKE_PT_SKF) {
				have_sk = true;
			} else if (p->known) {
				return ike_refuse(IKE_ERR_UNEXPECTED_PAYLOAD, p->type,
						  false, p->hdr_off,
						  "%s: outside the encrypted payload",
						  r->name);
			}
		}
		if (!have_sk)
			return ike_refuse(IKE_ERR_MISSING_PAYLOAD, IKE_PT_SK, false, 0,
					  "%s: no encrypted payload", r->name);
	}
	for (unsigned i = 0; i < payloads->n; i++) {
		const struct ike_payload *p = &payloads->pl[i];

		if (!p->known)
			continue; /* non-critical unknowns were skipped by the walker */
		if (!(r->allowed & IKE_PT_BIT(p->type)))
			return ike_refuse(IKE_ERR_UNEXPECTED_PAYLOAD, p->type, p->inner,
					  p->hdr_off, "%s", r->name);
		present |= IKE_PT_BIT(p->type);
	}
	if (r->response)
		waive = waived(r, payloads);
	missing = r->required & ~present & ~waive;
	if (missing)
		return ike_refuse(IKE_ERR_MISSING_PAYLOAD, first_type(missing),
				  r->protected_, 0, "%s", r->name);
	part = present & r->together;
	if (part && part != r->together && !(waive & r->together))
		return ike_refuse(IKE_ERR_MISSING_PAYLOAD,
				  first_type(r->together & ~part), r->protected_, 0,
				  "%s: SA, TSi and TSr go together", r->name);
	return 0;
}
