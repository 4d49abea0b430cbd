/* libFuzzer target: RFC 7383 fragments.
 *
 * Input, first octet even — reassembly: records of
 *   msgid(1) num(1) total(1) next(1) now(1) len(2, big-endian) data(len)
 * fed to ike_frag_add (clock now*100, deadline now*100+1000); a complete
 * message is assembled and its inner chain walked and parsed.
 *
 * First octet odd — splitting: mtu(2) iv(1) icv(1) block(1) first(1) and
 * the rest as inner payloads: every planned fragment is built, decoded as a
 * message, its data reassembled, and the result must equal the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/ike/codec.h"
#include "client/ike/frag.h"
#include "client/util/log.h"
#include "fuzz_common.h"

static struct ike_frag_reasm reasm;
static uint8_t out[IKE_FRAG_MAX_BYTES];
static uint8_t msgbuf[70000];

static void walk(const uint8_t *p, size_t len, uint8_t first)
{
	static struct ike_chain c;

	if (ike_decode_inner(p, len, first, &c))
		return;
	for (unsigned i = 0; i < c.n; i++)
		ike_parse_any(&c.pl[i]);
}

static void reassemble(const uint8_t *d, size_t size)
{
	size_t at = 0;

	ike_frag_init(&reasm);
	while (size - at >= 7) {
		uint8_t msgid = d[at], num = d[at + 1], total = d[at + 2], next = d[at + 3];
		uint64_t now = (uint64_t)d[at + 4] * 100;
		size_t len = (size_t)d[at + 5] << 8 | d[at + 6], olen;
		uint8_t first;
		int rc;

		at += 7;
		if (len > size - at)
			len = size - at;
		rc = ike_frag_add(&reasm, msgid, num, total, next, d + at, len, now,
				  now + 1000);
		at += len;
		fuzz_check(rc == 0 || rc == 1 || (rc <= IKE_ERR_FIRST && rc >= IKE_ERR_LAST));
		fuzz_check(reasm.bytes <= IKE_FRAG_MAX_BYTES);
		if (rc == 1) {
			fuzz_check(ike_frag_assemble(&reasm, out, sizeof(out), &olen, &first) == 0);
			walk(out, olen, first);
		}
		if (d[at - 1] == 0xee)
			ike_frag_expire(&reasm, now + 1000);
	}
}

static void split(const uint8_t *d, size_t size)
{
	struct ike_frag_plan plan;
	struct ike_header h;
	size_t mtu, inner_len, olen;
	uint8_t iv, icv, block, first, got_first;
	const uint8_t *inner;
	int rc = 0;

	if (size < 7)
		return;
	mtu = (size_t)d[0] << 8 | d[1];
	iv = d[2] & 31;
	icv = d[3] & 63;
	block = d[4] & 31;
	first = d[5];
	inner = d + 6;
	inner_len = size - 6;
	if (ike_frag_compute_plan(inner_len, mtu, iv, icv, block, &plan))
		return;
	if (plan.count > IKE_FRAG_MAX)
		return; /* we would not accept it back; the plan itself is checked */
	memset(&h, 0, sizeof(h));
	h.spi_i = 1;
	h.exchange = IKE_EXCH_IKE_AUTH;
	h.msgid = 3;
	ike_frag_init(&reasm);
	for (uint16_t num = 1; num <= plan.count; num++) {
		static struct ike_msg m;
		struct ike_skf f;
		size_t aad, chunk, total;

		fuzz_check(ike_frag_build(&h, first, inner, inner_len, &plan, num, msgbuf,
				     sizeof(msgbuf), &aad, &chunk, &total) == 0);
		fuzz_check(total <= mtu);
		memset(msgbuf + aad + plan.iv_len + chunk, 0, total - aad - plan.iv_len - chunk);
		fuzz_check(ike_decode(msgbuf, total, &m) == 0);
		fuzz_check(m.chain.n == 1 && ike_parse_skf(&m.chain.pl[0], &f) == 0);
		fuzz_check(f.num == num && f.total == plan.count && f.aad_len == aad);
		rc = ike_frag_add(&reasm, 3, num, plan.count, f.first,
				  f.body + plan.iv_len, chunk, 0, 1);
		fuzz_check(rc == (num == plan.count ? 1 : 0));
	}
	fuzz_check(ike_frag_assemble(&reasm, out, sizeof(out), &olen, &got_first) == 0);
	fuzz_check(olen == inner_len && memcmp(out, inner, olen) == 0);
	fuzz_check(got_first == first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vlog_set_sink(fuzz_quiet, NULL);
	if (size < 1)
		return 0;
	if (data[0] & 1)
		split(data + 1, size - 1);
	else
		reassemble(data + 1, size - 1);
	return 0;
}
