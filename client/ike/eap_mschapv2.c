/* EAP (RFC 3748) with EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2,
 * RFC 2759) as the peer, inside IKE_AUTH (RFC 7296 2.16).
 *
 * Requests we answer: Identity, MSCHAPv2 Challenge, MSCHAPv2 Success (we
 * check the authenticator response, so a gateway that does not know the
 * password cannot pretend success), MSCHAPv2 Failure, EAP-Success and
 * EAP-Failure. Anything else is refused with a log line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

#define EAP_CODE_REQUEST 1
#define EAP_CODE_RESPONSE 2
#define EAP_CODE_SUCCESS 3
#define EAP_CODE_FAILURE 4
#define EAP_TYPE_IDENTITY 1
#define EAP_TYPE_NAK 3
#define EAP_TYPE_MSCHAPV2 26

#define MSCHAPV2_CHALLENGE 1
#define MSCHAPV2_RESPONSE 2
#define MSCHAPV2_SUCCESS 3
#define MSCHAPV2_FAILURE 4

#define MSCHAPV2_CHALLENGE_LEN 16
#define MSCHAPV2_RESPONSE_LEN 49 /* peer challenge 16, reserved 8, NT-Response 24, flags 1 */

static int eap_header(struct wbuf *w, uint8_t code, uint8_t id)
{
	wbuf_u8(w, code);
	wbuf_u8(w, id);
	wbuf_be16(w, 0); /* patched */
	return wbuf_err(w);
}

static int eap_finish(struct wbuf *w, size_t *len)
{
	if (wbuf_err(w) || w->len > UINT16_MAX)
		return -ENOSPC;
	put_be16(w->p + 2, (uint16_t)w->len);
	*len = w->len;
	return 0;
}

static const char *eap_identity(const struct ike_sa *sa)
{
	return sa->cfg.eap_identity ? sa->cfg.eap_identity : "";
}

static int answer_identity(struct ike_sa *sa, const struct ike_eap *req,
			   struct wbuf *w)
{
	const char *id = eap_identity(sa);

	eap_header(w, EAP_CODE_RESPONSE, req->id);
	wbuf_u8(w, EAP_TYPE_IDENTITY);
	wbuf_put(w, id, strlen(id));
	sa->eap.state = IKE_EAP_IDENTITY_SENT;
	return 0;
}

/* The Challenge: OpCode, MS-CHAPv2-ID, MS-Length, Value-Size, Challenge,
 * Name. Our Response carries the peer challenge and the NT-Response. */
static int answer_challenge(struct ike_sa *sa, const struct ike_eap *req,
			    struct cur *c, struct wbuf *w)
{
	const char *user = eap_identity(sa);
	uint8_t ms_id, vsize;
	uint16_t ms_len;
	size_t user_len = strlen(user);
	int err;

	if (cur_u8(c, &ms_id) || cur_be16(c, &ms_len) || cur_u8(c, &vsize) ||
	    vsize != MSCHAPV2_CHALLENGE_LEN ||
	    cur_bytes(c, sa->eap.auth_challenge, MSCHAPV2_CHALLENGE_LEN)) {
		vlog_warn(IKE_LOG, "EAP-MSCHAPv2 Challenge malformed");
		return -EBADMSG;
	}
	crypto_random(sa->eap.peer_challenge, sizeof(sa->eap.peer_challenge));
	err = crypto_mschapv2_nt_response(sa->eap.auth_challenge, sa->eap.peer_challenge,
					  user, sa->cfg.eap_password ? sa->cfg.eap_password : "",
					  sa->eap.nt_response);
	if (err)
		return err;
	eap_header(w, EAP_CODE_RESPONSE, req->id);
	wbuf_u8(w, EAP_TYPE_MSCHAPV2);
	wbuf_u8(w, MSCHAPV2_RESPONSE);
	wbuf_u8(w, ms_id);
	/* MS-Length: the MSCHAPv2 part from OpCode to the end. */
	wbuf_be16(w, (uint16_t)(4 + 1 + MSCHAPV2_RESPONSE_LEN + user_len));
	wbuf_u8(w, MSCHAPV2_RESPONSE_LEN);
	wbuf_put(w, sa->eap.peer_challenge, 16);
	wbuf_zero(w, 8);
	wbuf_put(w, sa->eap.nt_response, 24);
	wbuf_u8(w, 0); /* flags */
	wbuf_put(w, user, user_len);
	sa->eap.state = IKE_EAP_RESPONSE_SENT;
	return 0;
}

/* Success request: "S=<40 hex> M=<message>": check the authenticator
 * response before acknowledging, then derive the MSK. */
static int answer_success(struct ike_sa *sa, const struct ike_eap *req,
			  struct cur *c, struct wbuf *w)
{
	char expect[43];
	uint8_t ms_id;
	uint16_t ms_len;
	const uint8_t *msg;
	size_t msg_len;
	int err;

	if (sa->eap.state != IKE_EAP_RESPONSE_SENT || cur_u8(c, &ms_id) ||
	    cur_be16(c, &ms_len)) {
		vlog_warn(IKE_LOG, "EAP-MSCHAPv2 Success out of order or malformed");
		return -EBADMSG;
	}
	msg_len = cur_left(c);
	if (cur_ptr(c, msg_len, &msg) || msg_len < 42) {
		vlog_warn(IKE_LOG, "EAP-MSCHAPv2 Success without an authenticator response");
		return -EBADMSG;
	}
	err = crypto_mschapv2_auth_response(sa->cfg.eap_password ? sa->cfg.eap_password : "",
					    sa->eap.nt_response, sa->eap.peer_challenge,
					    sa->eap.auth_challenge, eap_identity(sa), expect);
	if (err)
		return err;
	/* The hex may come in either case (RFC 2759 says upper). */
	if (msg[0] != 'S' || msg[1] != '=' || strncasecmp((const char *)msg, expect, 42)) {
		ike_fail(sa, IKE_FAIL_PEER_AUTH,
			 "authentication failed: the gateway's MSCHAPv2 authenticator response is wrong (it does not know our password)");
		return -EACCES;
	}
	err = crypto_mschapv2_msk(sa->cfg.eap_password ? sa->cfg.eap_password : "",
				  sa->eap.nt_response, sa->eap.msk);
	if (err)
		return err;
	eap_header(w, EAP_CODE_RESPONSE, req->id);
	wbuf_u8(w, EAP_TYPE_MSCHAPV2);
	wbuf_u8(w, MSCHAPV2_SUCCESS);
	sa->eap.state = IKE_EAP_SUCCESS_SENT;
	return 0;
}

/* Failure request: "E=691 R=0 C=... V=3 M=..." */
static void report_failure(struct ike_sa *sa, struct cur *c)
{
	char text[128] = "";
	uint8_t ms_id;
	uint16_t ms_len;
	size_t n;

	if (!cur_u8(c, &ms_id) && !cur_be16(c, &ms_len)) {
		n = cur_left(c) < sizeof(text) - 1 ? cur_left(c) : sizeof(text) - 1;
		memcpy(text, cur_pos(c), n);
		text[n] = 0;
		for (size_t i = 0; i < n; i++)
			if (text[i] < 0x20 || text[i] > 0x7e)
				text[i] = '?';
	}
	if (strstr(text, "E=691"))
		ike_fail(sa, IKE_FAIL_EAP,
			 "authentication failed: the gateway refused the EAP password for '%s' (MSCHAPv2 error 691)",
			 eap_identity(sa));
	else
		ike_fail(sa, IKE_FAIL_EAP, "authentication failed: EAP-MSCHAPv2 failure (%s)",
			 text[0] ? text : "no reason given");
}

int ike_eap_process(struct ike_sa *sa, const struct ike_eap *req, uint8_t *out,
		    size_t cap, size_t *out_len)
{
	struct wbuf w;
	struct cur c;
	uint8_t op;
	int err;

	if (req->code == EAP_CODE_SUCCESS) {
		if (sa->eap.state != IKE_EAP_SUCCESS_SENT) {
			ike_fail(sa, IKE_FAIL_EAP, "EAP-Success before MSCHAPv2 finished");
			return -EPROTO;
		}
		sa->eap.state = IKE_EAP_DONE;
		sa->eap.have_msk = true;
		vlog_info(IKE_LOG, "EAP-MSCHAPv2 succeeded for '%s'", eap_identity(sa));
		return 1;
	}
	if (req->code == EAP_CODE_FAILURE) {
		ike_fail(sa, IKE_FAIL_EAP, "authentication failed: the gateway ended EAP with a failure");
		return -EACCES;
	}
	if (req->code != EAP_CODE_REQUEST) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "EAP code %u from the gateway", req->code);
		return -EPROTO;
	}
	wbuf_init(&w, out, cap);
	/* The type-data after code, id, length and type. */
	cur_init(&c, req->msg, req->len);
	if (cur_skip(&c, IKE_EAP_HDR_LEN + 1)) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "EAP request without a type");
		return -EBADMSG;
	}
	switch (req->type) {
	case EAP_TYPE_IDENTITY:
		err = answer_identity(sa, req, &w);
		break;
	case EAP_TYPE_MSCHAPV2:
		if (cur_u8(&c, &op)) {
			err = -EBADMSG;
			break;
		}
		if (op == MSCHAPV2_CHALLENGE) {
			err = answer_challenge(sa, req, &c, &w);
		} else if (op == MSCHAPV2_SUCCESS) {
			err = answer_success(sa, req, &c, &w);
		} else if (op == MSCHAPV2_FAILURE) {
			report_failure(sa, &c);
			return -EACCES;
		} else {
			vlog_warn(IKE_LOG, "EAP-MSCHAPv2 opcode %u not expected", op);
			err = -EBADMSG;
		}
		break;
	default:
		/* A method we do not speak: a Nak naming MSCHAPv2 (RFC 3748 5.3.1). */
		vlog_info(IKE_LOG, "gateway proposes EAP method %u: answering Nak (MSCHAPv2)",
			  req->type);
		eap_header(&w, EAP_CODE_RESPONSE, req->id);
		wbuf_u8(&w, EAP_TYPE_NAK);
		wbuf_u8(&w, EAP_TYPE_MSCHAPV2);
		err = 0;
		break;
	}
	if (err) {
		if (!sa->closed_reported)
			ike_fail(sa, IKE_FAIL_EAP, "EAP exchange failed: %s", ike_strerror(err));
		return err;
	}
	err = eap_finish(&w, out_len);
	if (err)
		ike_fail(sa, IKE_FAIL_LOCAL, "EAP response too large");
	return err ? err : 0;
}
