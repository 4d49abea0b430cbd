/* libFuzzer target: proposal strings. Whatever parses must format to a
 * canonical string that parses back to the same proposals, and each
 * proposal must accept a choice of its own first transforms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/ike/codec.h"
#include "client/ike/proposal.h"
#include "client/util/log.h"
#include "fuzz_common.h"

static void one(const char *s, uint8_t proto)
{
	static struct ike_proposal p[IKE_MAX_PROPOSALS], q[IKE_MAX_PROPOSALS];
	static char canon[8192];
	char err[128];
	size_t n, m, which;
	int rc;

	rc = ike_proposals_parse(s, proto, p, IKE_MAX_PROPOSALS, &n, err, sizeof(err));
	fuzz_check(rc == 0 || (rc <= IKE_ERR_FIRST && rc >= IKE_ERR_LAST));
	if (rc)
		return;
	fuzz_check(ike_proposals_format(p, n, canon, sizeof(canon)) == 0);
	fuzz_check(ike_proposals_parse(canon, proto, q, IKE_MAX_PROPOSALS, &m, err,
				  sizeof(err)) == 0);
	fuzz_check(m == n);
	for (size_t i = 0; i < n; i++) {
		struct ike_proposal c;

		fuzz_check(memcmp(p[i].n, q[i].n, sizeof(p[i].n)) == 0);
		fuzz_check(memcmp(p[i].x, q[i].x, sizeof(p[i].x)) == 0);
		memset(&c, 0, sizeof(c));
		c.num = p[i].num;
		c.protocol = p[i].protocol;
		for (uint8_t t = IKE_XFORM_ENCR; t < IKE_PROPOSAL_NTYPES; t++)
			if (p[i].n[t])
				ike_proposal_add(&c, t, p[i].x[t][0].id,
						 p[i].x[t][0].key_bits);
		fuzz_check(ike_proposal_match(p, n, &c, &which) == 0 && which == i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char s[4096];

	vlog_set_sink(fuzz_quiet, NULL);
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	one(s, IKE_PROTO_IKE);
	one(s, IKE_PROTO_ESP);
	return 0;
}
