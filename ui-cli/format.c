/* How vpnctl shows what vpnd reports: human units, durations, and the
 * status block. Exit codes live here too: they are the other half of what
 * a user (or a script) sees. */
#include "ui-cli/cli.h"

#include <inttypes.h>
#include <string.h>

int cli_exit_code(enum ctl_err err)
{
	switch (err) {
	case CTL_ERR_PERMISSION: return CLI_EXIT_PERMISSION;
	case CTL_ERR_NO_PROFILE:
	case CTL_ERR_BAD_PROFILE: return CLI_EXIT_PROFILE;
	case CTL_ERR_AUTH_FAILED: return CLI_EXIT_AUTH;
	case CTL_ERR_CERT_UNTRUSTED:
	case CTL_ERR_ID_MISMATCH: return CLI_EXIT_PEER_AUTH;
	case CTL_ERR_NO_PROPOSAL:
	case CTL_ERR_TS_UNACCEPTABLE: return CLI_EXIT_NEGOTIATION;
	case CTL_ERR_RESOLVE:
	case CTL_ERR_UNREACHABLE:
	case CTL_ERR_TIMEOUT: return CLI_EXIT_NETWORK;
	case CTL_ERR_CANCELLED: return CLI_EXIT_CANCELLED;
	default: return CLI_EXIT_FAILED;
	}
}

void cli_format_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, cap, "%" PRIu64 " B", n);
		return;
	}
	v /= 1024.0;
	/* Step up before printing so 1023.96 KiB shows as 1.0 MiB, not 1024.0 KiB. */
	while (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void cli_format_duration(int64_t secs, char *buf, size_t cap)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, cap, "%" PRId64 "s", secs);
	else if (secs < 3600)
		snprintf(buf, cap, "%" PRId64 "m %02" PRId64 "s", secs / 60, secs % 60);
	else if (secs < 86400)
		snprintf(buf, cap, "%" PRId64 "h %02" PRId64 "m", secs / 3600, secs / 60 % 60);
	else
		snprintf(buf, cap, "%" PRId64 "d %02" PRId64 "h", secs / 86400, secs / 3600 % 24);
}

static void print_head(FILE *out, const struct ctl_status *st, time_t now)
{
	char dur[32];

	fprintf(out, "%s: %s", st->name, ctl_state_name(st->state));
	if (st->since > 0) {
		cli_format_duration((int64_t)now - st->since, dur, sizeof(dur));
		fprintf(out, " for %s", dur);
	}
	if (st->state == CTL_STATE_RECONNECTING && st->reason[0])
		fprintf(out, " (%s)", st->reason);
	fputc('\n', out);
}

static void print_path(FILE *out, const struct ctl_status *st, const char *arrow)
{
	const char *tr = ctl_transport_name(st->transport);

	if (tr)
		fprintf(out, "  transport:  %s\n", tr);
	if (!st->interface[0] && !st->local[0] && !st->remote[0])
		return;
	fprintf(out, "  path:       ");
	if (st->interface[0])
		fprintf(out, "%s, ", st->interface);
	fprintf(out, "%s %s %s, NAT: %s, MOBIKE: %s\n", st->local[0] ? st->local : "?",
		arrow, st->remote[0] ? st->remote : "?", st->nat ? "yes" : "no",
		st->mobike ? "yes" : "no");
}

static void print_traffic(FILE *out, const struct ctl_status *st)
{
	char in[32], outb[32];

	cli_format_bytes(st->bytes_in, in, sizeof(in));
	cli_format_bytes(st->bytes_out, outb, sizeof(outb));
	fprintf(out, "  traffic:    in %s (%" PRIu64 " packets), out %s (%" PRIu64 " packets)\n",
		in, st->packets_in, outb, st->packets_out);
}

void cli_print_status(FILE *out, const struct ctl_status *st, time_t now,
		      const char *arrow)
{
	bool active = st->state != CTL_STATE_DISCONNECTED;

	print_head(out, st, now);
	if (st->gateway[0])
		fprintf(out, "  gateway:    %s\n", st->gateway);
	if (active)
		print_path(out, st, arrow);
	if (active && st->virtual_ip[0])
		fprintf(out, "  virtual IP: %s\n", st->virtual_ip);
	if (active && st->n_dns) {
		fprintf(out, "  DNS:        ");
		for (size_t i = 0; i < st->n_dns; i++)
			fprintf(out, "%s%s", i ? ", " : "", st->dns[i]);
		fputc('\n', out);
	}
	if (active && st->ike[0])
		fprintf(out, "  IKE:        %s\n", st->ike);
	if (active && st->esp[0])
		fprintf(out, "  ESP:        %s\n", st->esp);
	if (active)
		print_traffic(out, st);
	fprintf(out, "  last error: %s\n", st->last_error[0] ? st->last_error : "none");
}
