/* Child SAs: the ESP proposals and traffic selectors we ask for, the
 * configuration payload (RFC 7296 3.15), and turning an answer into keys for
 * the ESP layer (2.17). */
#include <errno.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/log.h"

int ike_map_algs(const struct ike_proposal *p, struct ike_key_algs *algs, bool *esn)
{
	const struct ike_xform *e = p->n[IKE_XFORM_ENCR] ? &p->x[IKE_XFORM_ENCR][0] : NULL;

	memset(algs, 0, sizeof(*algs));
	*esn = p->n[IKE_XFORM_ESN] && p->x[IKE_XFORM_ESN][0].id == IKE_ESN_YES;
	if (!e)
		return -EINVAL;
	switch (e->id) {
	case IKE_ENCR_AES_CBC:
		algs->encr = CRYPTO_ENCR_AES_CBC;
		algs->encr_key_bits = e->key_bits;
		break;
	case IKE_ENCR_AES_GCM_16:
		algs->encr = CRYPTO_ENCR_AES_GCM_16;
		algs->encr_key_bits = e->key_bits;
		break;
	case IKE_ENCR_CHACHA20_POLY1305:
		algs->encr = CRYPTO_ENCR_CHACHA20_POLY1305;
		algs->encr_key_bits = 256;
		break;
	default:
		return -ENOTSUP;
	}
	algs->integ = CRYPTO_INTEG_NONE;
	if (p->n[IKE_XFORM_INTEG]) {
		switch (p->x[IKE_XFORM_INTEG][0].id) {
		case IKE_INTEG_NONE: break;
		case IKE_INTEG_HMAC_SHA2_256_128: algs->integ = CRYPTO_INTEG_HMAC_SHA2_256_128; break;
		case IKE_INTEG_HMAC_SHA2_384_192: algs->integ = CRYPTO_INTEG_HMAC_SHA2_384_192; break;
		case IKE_INTEG_HMAC_SHA2_512_256: algs->integ = CRYPTO_INTEG_HMAC_SHA2_512_256; break;
		default: return -ENOTSUP;
		}
	}
	if (p->protocol == IKE_PROTO_IKE) {
		if (!p->n[IKE_XFORM_PRF])
			return -EINVAL;
		switch (p->x[IKE_XFORM_PRF][0].id) {
		case IKE_PRF_HMAC_SHA1: algs->prf = CRYPTO_PRF_HMAC_SHA1; break;
		case IKE_PRF_HMAC_SHA2_256: algs->prf = CRYPTO_PRF_HMAC_SHA2_256; break;
		case IKE_PRF_HMAC_SHA2_384: algs->prf = CRYPTO_PRF_HMAC_SHA2_384; break;
		case IKE_PRF_HMAC_SHA2_512: algs->prf = CRYPTO_PRF_HMAC_SHA2_512; break;
		default: return -ENOTSUP;
		}
	}
	return ike_keys_algs_valid(algs) ? 0 : -EINVAL; /* 1 when valid */
}

int ike_child_new_spi(struct ike_sa *sa, uint32_t *spi)
{
	uint32_t v;
	int err;

	do {
		err = crypto_random(&v, sizeof(v));
		if (err)
			return err;
		/* 1..255 are reserved by IANA (RFC 4303 2.1); avoid our own. */
	} while (v < 256 || ike_child_by_spi_in(sa, v));
	*spi = v;
	return 0;
}

int ike_child_build_sa(struct ike_sa *sa, struct ike_builder *b, uint32_t spi,
		       bool with_dh)
{
	struct ike_proposal p[IKE_MAX_PROPOSALS];
	size_t i, n = sa->cfg.n_esp;

	memcpy(p, sa->cfg.esp, n * sizeof(p[0]));
	for (i = 0; i < n; i++) {
		p[i].protocol = IKE_PROTO_ESP;
		p[i].spi_len = IKE_CHILD_SPI_LEN;
		put_be32(p[i].spi, spi);
		/* No key exchange in IKE_AUTH (RFC 7296 1.2): PFS groups only
		 * apply to CREATE_CHILD_SA. */
		if (!with_dh)
			p[i].n[IKE_XFORM_DH] = 0;
	}
	return ike_build_sa(b, p, n);
}

static void ts_any(struct ike_ts *ts, bool v6)
{
	memset(ts, 0, sizeof(*ts));
	ts->type = v6 ? IKE_TS_IPV6_ADDR_RANGE : IKE_TS_IPV4_ADDR_RANGE;
	ts->ip_proto = IKE_IPPROTO_ANY;
	ts->start_port = 0;
	ts->end_port = 0xffff;
	memset(ts->end, 0xff, v6 ? 16 : 4);
}

int ike_child_build_ts(struct ike_sa *sa, struct ike_builder *b)
{
	struct ike_ts any[2];
	size_t n_any = 1;

	ts_any(&any[0], false);
	if (sa->cfg.want_ipv6) {
		ts_any(&any[1], true);
		n_any = 2;
	}
	/* Our side is whatever address the gateway gives us; its side what
	 * the profile routes (or everything). */
	ike_build_ts(b, IKE_PT_TSI, sa->cfg.n_tsi ? sa->cfg.tsi : any,
		     sa->cfg.n_tsi ? sa->cfg.n_tsi : n_any);
	return ike_build_ts(b, IKE_PT_TSR, sa->cfg.n_tsr ? sa->cfg.tsr : any,
			    sa->cfg.n_tsr ? sa->cfg.n_tsr : n_any);
}

int ike_child_build_cp_request(struct ike_sa *sa, struct ike_builder *b)
{
	struct ike_cp_attr a[5];
	size_t n = 0;

	a[n++] = (struct ike_cp_attr){IKE_CP_INTERNAL_IP4_ADDRESS, 0, NULL};
	a[n++] = (struct ike_cp_attr){IKE_CP_INTERNAL_IP4_DNS, 0, NULL};
	if (sa->cfg.want_ipv6) {
		a[n++] = (struct ike_cp_attr){IKE_CP_INTERNAL_IP6_ADDRESS, 0, NULL};
		a[n++] = (struct ike_cp_attr){IKE_CP_INTERNAL_IP6_DNS, 0, NULL};
	}
	a[n++] = (struct ike_cp_attr){IKE_CP_INTERNAL_DNS_DOMAIN, 0, NULL};
	return ike_build_cp(b, IKE_CFG_REQUEST, a, n);
}

static int mask_to_prefix(const uint8_t m[4])
{
	uint32_t v = get_be32(m);
	int n = 0;

	while (v & 0x80000000u) {
		n++;
		v <<= 1;
	}
	return v ? -1 : n; /* holes in the mask are not a prefix */
}

/* A DNS name from INTERNAL_DNS_DOMAIN: letters, digits, '-', '.', '_'. */
static bool domain_ok(const uint8_t *s, size_t len)
{
	size_t i;

	if (!len || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		uint8_t c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

int ike_child_apply_cp(struct ike_sa *sa, const struct ike_chain *c)
{
	const struct ike_payload *p = ike_chain_find(c, IKE_PT_CP);
	struct ike_sa_info *info = &sa->info;
	struct ike_cp cp;
	unsigned i;

	if (!p || ike_parse_cp(p, &cp) || cp.cfg_type != IKE_CFG_REPLY) {
		ike_fail(sa, IKE_FAIL_NO_ADDRESS,
			 "the gateway assigned no virtual IP (no configuration reply)");
		return -ENOENT;
	}
	info->ip4_prefix = 32;
	for (i = 0; i < cp.n; i++) {
		const struct ike_cp_attr *a = &cp.a[i];

		switch (a->type) {
		case IKE_CP_INTERNAL_IP4_ADDRESS:
			if (a->len == 4 && !info->have_ip4) {
				memcpy(info->ip4, a->val, 4);
				info->have_ip4 = true;
			}
			break;
		case IKE_CP_INTERNAL_IP4_NETMASK:
			if (a->len == 4) {
				int pfx = mask_to_prefix(a->val);
				if (pfx >= 0)
					info->ip4_prefix = (uint8_t)pfx;
			}
			break;
		case IKE_CP_INTERNAL_IP4_DNS:
			if (a->len == 4 && info->n_dns4 < IKE_MAX_DNS)
				memcpy(info->dns4[info->n_dns4++], a->val, 4);
			break;
		case IKE_CP_INTERNAL_IP6_ADDRESS:
			if (a->len == 17 && !info->have_ip6 && a->val[16] <= 128) {
				memcpy(info->ip6, a->val, 16);
				info->ip6_prefix = a->val[16];
				info->have_ip6 = true;
			}
			break;
		case IKE_CP_INTERNAL_IP6_DNS:
			if (a->len == 16 && info->n_dns6 < IKE_MAX_DNS)
				memcpy(info->dns6[info->n_dns6++], a->val, 16);
			break;
		case IKE_CP_INTERNAL_DNS_DOMAIN:
			if (domain_ok(a->val, a->len) && info->n_domains < IKE_MAX_DOMAINS) {
				memcpy(info->domains[info->n_domains], a->val, a->len);
				info->domains[info->n_domains++][a->len] = 0;
			} else if (a->len) {
				vlog_warn(IKE_LOG, "INTERNAL_DNS_DOMAIN with an invalid name ignored");
			}
			break;
		default:
			break;
		}
	}
	if (!info->have_ip4 && !info->have_ip6) {
		ike_fail(sa, IKE_FAIL_NO_ADDRESS,
			 "the gateway assigned no virtual IP (the reply has no address)");
		return -ENOENT;
	}
	return 0;
}

unsigned ike_child_count(const struct ike_sa *sa)
{
	unsigned i, n = 0;

	for (i = 0; i < IKE_MAX_CHILDREN; i++)
		if (sa->child[i].state != IKE_CHILD_FREE)
			n++;
	return n;
}

struct ike_child *ike_child_by_spi_in(struct ike_sa *sa, uint32_t spi_in)
{
	unsigned i;

	for (i = 0; i < IKE_MAX_CHILDREN; i++)
		if (sa->child[i].state != IKE_CHILD_FREE && sa->child[i].spi_in == spi_in)
			return &sa->child[i];
	return NULL;
}

struct ike_child *ike_child_by_spi_out(struct ike_sa *sa, uint32_t spi_out)
{
	unsigned i;

	for (i = 0; i < IKE_MAX_CHILDREN; i++)
		if (sa->child[i].state != IKE_CHILD_FREE && sa->child[i].spi_out == spi_out)
			return &sa->child[i];
	return NULL;
}

void ike_child_remove(struct ike_sa *sa, struct ike_child *ch, bool report)
{
	uint32_t in = ch->spi_in, out = ch->spi_out;

	memset(ch, 0, sizeof(*ch));
	ch->state = IKE_CHILD_FREE;
	vlog_info(IKE_LOG, "Child SA %08x_i %08x_o removed", in, out);
	if (report && sa->ops->child_down)
		sa->ops->child_down(sa->arg, in, out);
}

static bool ts_valid(const struct ike_ts_list *l)
{
	unsigned i;

	if (!l->n)
		return false;
	for (i = 0; i < l->n; i++) {
		size_t alen = l->ts[i].type == IKE_TS_IPV6_ADDR_RANGE ? 16 : 4;

		if (memcmp(l->ts[i].start, l->ts[i].end, alen) > 0 ||
		    l->ts[i].start_port > l->ts[i].end_port)
			return false;
	}
	return true;
}

int ike_child_install_parts(struct ike_sa *sa, const struct ike_proposal *chosen,
			    const struct ike_ts_list *tsi, const struct ike_ts_list *tsr,
			    uint32_t spi_in, uint32_t spi_out, const uint8_t *ni, size_t ni_len,
			    const uint8_t *nr, size_t nr_len, const uint8_t *gir,
			    size_t gir_len, bool we_initiated, uint32_t replaces)
{
	struct ike_key_algs algs;
	struct ike_child_keys keys;
	struct ike_child_info info;
	struct ike_child *slot = NULL;
	bool esn;
	unsigned i;
	int err;

	if (ike_map_algs(chosen, &algs, &esn)) {
		ike_fail(sa, IKE_FAIL_NO_PROPOSAL, "the chosen ESP algorithms are not supported");
		return -ENOTSUP;
	}
	if (!ts_valid(tsi) || !ts_valid(tsr)) {
		ike_fail(sa, IKE_FAIL_TS_UNACCEPTABLE,
			 "traffic selectors unacceptable: the gateway's answer has none we can use");
		return -EBADMSG;
	}
	for (i = 0; i < IKE_MAX_CHILDREN && !slot; i++)
		if (sa->child[i].state == IKE_CHILD_FREE)
			slot = &sa->child[i];
	if (!slot) {
		ike_fail(sa, IKE_FAIL_LOCAL, "too many Child SAs");
		return -ENOSPC;
	}
	err = ike_keys_derive_child(&sa->keys, &algs, gir, gir_len, ni, ni_len, nr,
				    nr_len, &keys);
	if (err) {
		ike_fail(sa, IKE_FAIL_LOCAL, "Child SA keys: %s", ike_strerror(err));
		return err;
	}
	memset(&info, 0, sizeof(info));
	info.spi_in = spi_in;
	info.spi_out = spi_out;
	info.replaces_spi_in = replaces;
	info.algs = algs;
	info.esn = esn;
	info.encr_len = keys.encr_len;
	info.integ_len = keys.integ_len;
	/* _i keys protect what the exchange's initiator sends. */
	info.encr_out = we_initiated ? keys.encr_i : keys.encr_r;
	info.integ_out = we_initiated ? keys.integ_i : keys.integ_r;
	info.encr_in = we_initiated ? keys.encr_r : keys.encr_i;
	info.integ_in = we_initiated ? keys.integ_r : keys.integ_i;
	ike_proposal_format(chosen, info.esp_alg, sizeof(info.esp_alg));
	/* From our side: TSi is ours when we initiated the exchange. */
	const struct ike_ts_list *ours = we_initiated ? tsi : tsr;
	const struct ike_ts_list *theirs = we_initiated ? tsr : tsi;
	info.n_tsi = ours->n;
	memcpy(info.tsi, ours->ts, ours->n * sizeof(ours->ts[0]));
	info.n_tsr = theirs->n;
	memcpy(info.tsr, theirs->ts, theirs->n * sizeof(theirs->ts[0]));

	slot->state = IKE_CHILD_INSTALLED;
	slot->spi_in = info.spi_in;
	slot->spi_out = info.spi_out;
	slot->prop = *chosen;
	slot->n_tsi = info.n_tsi;
	slot->n_tsr = info.n_tsr;
	memcpy(slot->tsi, info.tsi, sizeof(slot->tsi));
	memcpy(slot->tsr, info.tsr, sizeof(slot->tsr));
	vlog_info(IKE_LOG, "Child SA %08x_i %08x_o: %s%s", info.spi_in, info.spi_out,
		  info.esp_alg, replaces ? " (rekeyed)" : "");
	sa->ops->child_up(sa->arg, &info);
	ike_keys_child_wipe(&keys);
	crypto_wipe(&info, sizeof(info));
	return 0;
}

int ike_child_install(struct ike_sa *sa, const struct ike_chain *c, uint32_t spi_in,
		      const uint8_t *ni, size_t ni_len, const uint8_t *nr,
		      size_t nr_len, const uint8_t *gir, size_t gir_len,
		      bool we_initiated, uint32_t replaces)
{
	struct ike_sa_payload sap;
	struct ike_ts_list tsi, tsr;
	const struct ike_payload *p;
	size_t which;

	p = ike_chain_find(c, IKE_PT_SA);
	if (!p || ike_parse_sa(p, &sap) || sap.n != 1 ||
	    sap.p[0].protocol != IKE_PROTO_ESP || sap.p[0].spi_len != IKE_CHILD_SPI_LEN) {
		ike_fail(sa, IKE_FAIL_PROTOCOL, "the gateway's Child SA answer has no usable SA payload");
		return -EBADMSG;
	}
	if (ike_proposal_match(sa->cfg.esp, sa->cfg.n_esp, &sap.p[0], &which)) {
		ike_fail(sa, IKE_FAIL_NO_PROPOSAL,
			 "no proposal chosen: the gateway picked an ESP proposal we did not offer");
		return -EBADMSG;
	}
	/* A missing TS payload is no answer either (the parsers take no NULL). */
	if (!ike_chain_find(c, IKE_PT_TSI) || !ike_chain_find(c, IKE_PT_TSR) ||
	    ike_parse_ts(ike_chain_find(c, IKE_PT_TSI), &tsi) ||
	    ike_parse_ts(ike_chain_find(c, IKE_PT_TSR), &tsr)) {
		ike_fail(sa, IKE_FAIL_TS_UNACCEPTABLE,
			 "traffic selectors unacceptable: the gateway's answer has none we can use");
		return -EBADMSG;
	}
	return ike_child_install_parts(sa, &sap.p[0], &tsi, &tsr, spi_in,
				       get_be32(sap.p[0].spi), ni, ni_len,
				       nr, nr_len, gir, gir_len, we_initiated, replaces);
}
