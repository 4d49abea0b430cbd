/* libFuzzer target: whole-message decode, then the typed parse of every
 * payload found, the inner chain of an SK payload (as it would be after
 * decryption, for the IV/ICV sizes we use), the exchange table for every
 * message kind, and a build/parse round trip of every SA payload.
 * Invariant checks abort (a crash is what the fuzzer reports). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/ike/codec.h"
#include "client/ike/proposal.h"
#include "client/util/log.h"
#include "fuzz_common.h"

/* Parsing an SA payload, building it again and parsing that must give
 * the same proposals. */
static void sa_round_trip(const struct ike_payload *p)
{
	static struct ike_sa_payload sa, again;
	static uint8_t buf[70000];
	struct ike_builder b;
	struct ike_chain c;
	size_t len;
	char text[2048];

	if (ike_parse_sa(p, &sa))
		return;
	for (unsigned i = 0; i < sa.n; i++) {
		size_t which;

		ike_proposal_format(&sa.p[i], text, sizeof(text));
		ike_proposal_match(sa.p, sa.n, &sa.p[i], &which);
	}
	ike_build_init_chain(&b, buf, sizeof(buf));
	if (ike_build_sa(&b, sa.p, sa.n) || ike_build_finish(&b, &len))
		return; /* proposals without any known transform cannot be rebuilt */
	fuzz_check(ike_decode_inner(buf, len, b.first, &c) == 0);
	fuzz_check(ike_parse_sa(&c.pl[0], &again) == 0);
	fuzz_check(again.n == sa.n);
	for (unsigned i = 0; i < sa.n; i++) {
		fuzz_check(again.p[i].num == sa.p[i].num);
		fuzz_check(again.p[i].protocol == sa.p[i].protocol);
		fuzz_check(memcmp(again.p[i].n, sa.p[i].n, sizeof(sa.p[i].n)) == 0);
		fuzz_check(memcmp(again.p[i].x, sa.p[i].x, sizeof(sa.p[i].x)) == 0);
	}
}

static void notify_helpers(const struct ike_payload *p)
{
	struct ike_notify n;
	uint16_t g, algs[8];
	uint32_t v;
	size_t cnt;
	bool q;
	uint8_t code;

	if (ike_parse_notify(p, &n))
		return;
	fuzz_check(n.data + n.len == p->data + p->len);
	ike_notify_invalid_ke(&n, &g);
	ike_notify_u32(&n, &v);
	ike_notify_hash_algs(&n, algs, 8, &cnt);
	ike_notify_keep_old(&n, &q, &code);
}

static void parse_chain(const struct ike_chain *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		const struct ike_payload *p = &c->pl[i];

		/* every view lies inside the decoded buffer */
		fuzz_check(p->off + p->len <= c->len);
		fuzz_check(p->data == c->buf + p->off);
		ike_parse_any(p);
		if (p->type == IKE_PT_SA)
			sa_round_trip(p);
		if (p->type == IKE_PT_NOTIFY)
			notify_helpers(p);
	}
}

static void inner_of_sk(const struct ike_msg *m)
{
	static const size_t ivs[] = {0, 8, 16}, icvs[] = {0, 16};
	const struct ike_payload *p = ike_chain_find(&m->chain, IKE_PT_SK);
	struct ike_chain in;
	struct ike_sk sk;

	if (!p || ike_parse_sk(p, &sk))
		return;
	for (size_t a = 0; a < 3; a++) {
		for (size_t b = 0; b < 2; b++) {
			size_t iv = ivs[a], icv = icvs[b], pad;

			if (sk.len < iv + icv + 1)
				continue;
			pad = sk.body[sk.len - icv - 1];
			if (pad + 1 > sk.len - iv - icv)
				continue;
			if (ike_decode_inner(sk.body + iv, sk.len - iv - icv - 1 - pad,
					     sk.first, &in) == 0) {
				parse_chain(&in);
				for (int k = 0; k < IKE_MSG_KIND_COUNT; k++)
					ike_check_payloads((enum ike_msg_kind)k, &m->chain, &in);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ike_msg m;
	static struct ike_chain c;
	int err;

	vlog_set_sink(fuzz_quiet, NULL);
	err = ike_decode(data, size, &m);
	fuzz_check(err == 0 || (err <= IKE_ERR_FIRST && err >= IKE_ERR_LAST));
	ike_strerror(err);
	ike_err_notify(err);
	if (err == 0) {
		fuzz_check(m.hdr.length == size);
		parse_chain(&m.chain);
		for (int k = 0; k < IKE_MSG_KIND_COUNT; k++)
			ike_check_payloads((enum ike_msg_kind)k, NULL, &m.chain);
		inner_of_sk(&m);
	}
	/* The same bytes as a bare chain whose first type is the first octet:
	 * reaches the walker without a valid header. */
	if (size > 1 && ike_decode_inner(data + 1, size - 1, data[0], &c) == 0)
		parse_chain(&c);
	return 0;
}
