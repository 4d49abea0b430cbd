/* libFuzzer target: the profile loader (client/daemon/profile.h) on
 * arbitrary file contents.
 *
 * The loader reads files only (inih), so each input is written to a file in
 * a private temporary directory made once per process, then loaded with the
 * proposal check the daemon installs (ike_proposals_parse), so ike/esp values
 * reach the proposal parser too. Nothing may crash, read out of bounds or
 * leak; a refused profile must say why, an accepted one must hold what the
 * format requires. Secret files (psk_file, eap_password_file) that an input
 * names are opened as the loader does: regular files only, non-blocking. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "client/daemon/profile.h"
#include "client/ike/proposal.h"
#include "client/util/log.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static int proposal_check(const char *list, bool is_esp, char *why, size_t whylen)
{
	struct ike_proposal p[IKE_MAX_PROPOSALS];
	size_t n;

	return ike_proposals_parse(list, is_esp ? IKE_PROTO_ESP : IKE_PROTO_IKE, p,
				   IKE_MAX_PROPOSALS, &n, why, whylen);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/vpn-fuzz-profile.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
	atexit(cleanup);
	vlog_set_sink(fuzz_quiet, NULL);
	vpn_profile_set_proposal_check(proposal_check);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct vpn_profile *p = NULL;
	char err[VPN_PROFILE_ERR_MAX];
	FILE *f;
	int r;

	if (!ready) {
		setup();
		ready = 1;
	}
	/* A little past the loader's own limit, so the limit itself is hit. */
	if (size > VPN_PROFILE_MAX_FILE + 1024)
		return 0;
	f = fopen(path, "wb");
	if (!f)
		abort();
	if ((size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	/* The loader warns about secrets readable by others: keep it quiet
	 * and deterministic. */
	chmod(path, 0600);
	err[0] = '\0';
	r = vpn_profile_load(path, "fuzz", &p, err, sizeof(err));
	if (r < 0) {
		fuzz_check(p == NULL);
		fuzz_check(err[0] != '\0');
		fuzz_check(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	fuzz_check(r == 0 && p != NULL);
	fuzz_check(p->gateway && p->gateway[0]);
	fuzz_check(strcmp(p->name, "fuzz") == 0);
	fuzz_check(p->n_routes <= VPN_PROFILE_MAX_ROUTES);
	fuzz_check(p->n_warnings <= VPN_PROFILE_MAX_WARNINGS);
	switch (p->auth) {
	case VPN_AUTH_PSK:
		fuzz_check(p->psk != NULL && p->psk_len > 0 && p->psk_len <= VPN_PROFILE_MAX_SECRET);
		break;
	case VPN_AUTH_PUBKEY:
		fuzz_check(p->cert != NULL && p->key != NULL);
		break;
	case VPN_AUTH_EAP_MSCHAPV2:
		fuzz_check(p->eap_password != NULL);
		break;
	default:
		abort();
	}
	vpn_profile_free(p);
	return 0;
}
