/* vpnctl: ask vpnd to bring tunnels up and down and show their status.
 * A thin client: everything it knows comes from the control socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <sys/stat.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ui-cli/cli.h"

#define DEFAULT_TIMEOUT_S 60
#define CANCEL_WAIT_S 10

struct opts {
	const char *socket;
	int timeout_s;
	bool json;
	struct ctl_request req;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vpnctl [OPTIONS] [COMMAND]\n"
		"\n"
		"Commands:\n"
		"  up NAME          connect profile NAME and wait until the tunnel is up\n"
		"  down [NAME]      disconnect NAME (default: every active profile)\n"
		"  status [NAME]    state, path, addresses, algorithms and traffic (default)\n"
		"  list             profiles and their states\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH     vpnd's control socket (default %s)\n"
		"  -t, --timeout SECS    how long to wait for vpnd (default %d); an up that is\n"
		"                        not done by then is cancelled\n"
		"  -j, --json            status, list: print vpnd's JSON (status NAME: one object)\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n"
		"\n"
		"Interrupting `vpnctl up` (Ctrl-C) cancels the connection attempt.\n"
		"\n"
		"Exit status:\n"
		"   0  success\n"
		"   1  other failure (vpnd error, unexpected reply)\n"
		"   2  bad command line\n"
		"   3  vpnd is not running or its socket cannot be reached\n"
		"   4  permission denied (join the group %s)\n"
		"   5  no such profile, or the profile is invalid\n"
		"   6  authentication failed (our credentials were refused)\n"
		"   7  gateway not trusted: certificate not trusted or identity mismatch\n"
		"   8  negotiation failed: no proposal chosen or traffic selectors unacceptable\n"
		"   9  gateway unreachable or its name did not resolve\n"
		"  10  timed out (--timeout)\n"
		"  11  cancelled (interrupted, or a down cancelled the up)\n",
		CTL_DEFAULT_SOCKET, DEFAULT_TIMEOUT_S, CTL_DEFAULT_GROUP);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vpnctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vpnctl --help'.\n");
	return -1;
}

static int parse_command(int argc, char **argv, struct opts *o)
{
	static const char *const ops[] = { "up", "down", "status", "list" };
	const char *cmd = optind < argc ? argv[optind++] : "status";
	int nargs = argc - optind, found = -1;

	for (int i = 0; i < 4; i++) {
		if (strcmp(cmd, ops[i]) == 0)
			found = i;
	}
	if (found < 0)
		return usage_error("unknown command '%s'", cmd);
	o->req.op = (enum ctl_op)found;
	if (o->req.op == CTL_OP_UP && nargs != 1)
		return usage_error("%s needs exactly one profile name", cmd);
	if (o->req.op == CTL_OP_LIST && nargs != 0)
		return usage_error("%s takes no arguments", cmd);
	if (nargs > 1)
		return usage_error("%s takes at most one profile name", cmd);
	if (nargs == 1) {
		if (!ctl_name_valid(argv[optind]))
			return usage_error("invalid profile name '%s'", argv[optind]);
		o->req.has_name = true;
		snprintf(o->req.name, sizeof(o->req.name), "%s", argv[optind]);
	}
	return 0;
}

/* 0: run; 1: nothing more to do (help, version); -1: usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->socket = CTL_DEFAULT_SOCKET;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:t:jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > 86400)
				return usage_error("--timeout wants seconds from 1 to 86400, not '%s'",
						   optarg);
			o->timeout_s = (int)v;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("vpnctl %s\n", VPN_VERSION);
			return 1;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	return parse_command(argc, argv, o);
}

/* Signals become readable events on a descriptor so a wait for vpnd can be
 * interrupted without races. */
static int signals_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static int connect_daemon(const struct opts *o, struct cli_conn *c)
{
	int rc = cli_connect(c, o->socket);

	if (rc == 0)
		return 0;
	if (rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENOTDIR) {
		fprintf(stderr, "vpnctl: vpnd is not running (nothing listens on %s)\n", o->socket);
		return CLI_EXIT_NO_DAEMON;
	}
	if (rc == -EACCES || rc == -EPERM) {
		/* Name the group that owns the socket: it is the one to join. */
		struct stat st;
		const struct group *gr = stat(o->socket, &st) ? NULL : getgrgid(st.st_gid);

		fprintf(stderr, "vpnctl: permission denied on %s (join the group %s)\n",
			o->socket, gr && gr->gr_gid != 0 ? gr->gr_name : CTL_DEFAULT_GROUP);
		return CLI_EXIT_PERMISSION;
	}
	fprintf(stderr, "vpnctl: cannot connect to %s: %s\n", o->socket, strerror(-rc));
	return CLI_EXIT_NO_DAEMON;
}

static const char *what(const struct opts *o, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", ctl_op_name(o->req.op), o->req.has_name ? " " : "",
		 o->req.has_name ? o->req.name : "");
	return buf;
}

/* After an interrupted or timed-out up: take back what we asked for, so a
 * non-zero exit means the tunnel is not coming up behind the user's back. */
static void cancel_up(const struct opts *o, int sigfd)
{
	struct ctl_request down = o->req;
	struct cli_conn c;
	struct ctl_msg m;
	char why[CTL_TEXT_MAX];
	int rc;

	down.op = CTL_OP_DOWN;
	if (cli_connect(&c, o->socket) != 0 || cli_send(&c, &down) != 0) {
		fprintf(stderr, "vpnctl: could not cancel; run 'vpnctl down %s'\n", o->req.name);
		cli_close(&c);
		return;
	}
	do {
		rc = cli_recv(&c, cli_now_ms() + CANCEL_WAIT_S * 1000, sigfd, &m, why, sizeof(why));
		if (rc == 0 && m.kind == CTL_MSG_RESULT)
			break;
		if (rc == 0)
			ctl_msg_clear(&m);
	} while (rc == 0);
	if (rc)
		fprintf(stderr, "vpnctl: no confirmation of the cancel; check 'vpnctl status %s'\n",
			o->req.name);
	else if (!m.ok && m.code != CTL_ERR_NOT_CONNECTED)
		fprintf(stderr, "vpnctl: cancelling %s: %s\n", o->req.name, m.error);
	if (rc == 0)
		ctl_msg_clear(&m);
	cli_close(&c);
}

/* Read until the final reply, showing progress and warnings on the way.
 * Returns -1 with *m filled, or an exit code. */
static int converse(const struct opts *o, struct cli_conn *c, int sigfd, struct ctl_msg *m)
{
	int64_t deadline = cli_now_ms() + (int64_t)o->timeout_s * 1000;
	char why[CTL_TEXT_MAX], w[CTL_NAME_MAX + 16], last[CTL_STEP_MAX] = "";
	bool up = o->req.op == CTL_OP_UP;
	int rc;

	for (;;) {
		rc = cli_recv(c, deadline, sigfd, m, why, sizeof(why));
		if (rc == -ETIMEDOUT) {
			fprintf(stderr, "vpnctl: %s: no result within %d s%s%s%s%s\n",
				what(o, w, sizeof(w)), o->timeout_s, last[0] ? " (last step: " : "",
				last, last[0] ? ")" : "", up ? "; cancelling" : "");
			if (up)
				cancel_up(o, sigfd);
			return CLI_EXIT_TIMEOUT;
		}
		if (rc == -EINTR) {
			fprintf(stderr, "vpnctl: %s: interrupted%s\n", what(o, w, sizeof(w)),
				up ? "; cancelling" : "");
			if (up)
				cancel_up(o, -1);
			return CLI_EXIT_CANCELLED;
		}
		if (rc == -ECONNRESET) {
			fprintf(stderr, "vpnctl: %s: vpnd closed the connection\n", what(o, w, sizeof(w)));
			return CLI_EXIT_FAILED;
		}
		if (rc == -EPROTO || rc == -EMSGSIZE) {
			fprintf(stderr, "vpnctl: unexpected reply from vpnd: %s\n", why);
			return CLI_EXIT_FAILED;
		}
		if (rc) {
			fprintf(stderr, "vpnctl: reading from vpnd: %s\n", strerror(-rc));
			return CLI_EXIT_FAILED;
		}
		if (m->kind == CTL_MSG_RESULT)
			return -1;
		if (m->kind == CTL_MSG_PROGRESS) {
			printf("[%s]%s%s\n", m->step, m->detail[0] ? " " : "", m->detail);
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", m->step);
		} else {
			fprintf(stderr, "warning: %s\n", m->detail);
		}
		ctl_msg_clear(m);
	}
}

static const char *arrow(void)
{
	setlocale(LC_CTYPE, "");
	return strcmp(nl_langinfo(CODESET), "UTF-8") == 0 ? "\xe2\x86\x92" : "->";
}

static int print_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2)) != 0)
		return CLI_EXIT_FAILED;
	putchar('\n');
	return CLI_EXIT_OK;
}

static int show_status(const struct opts *o, const struct ctl_msg *m)
{
	const char *arr = arrow();
	time_t now = time(NULL);
	struct ctl_status st;
	const json_t *e;
	size_t i;

	if (!m->status) {
		fprintf(stderr, "vpnctl: unexpected reply from vpnd: no status\n");
		return CLI_EXIT_FAILED;
	}
	if (o->json)
		return print_json(o->req.has_name && json_array_size(m->status) == 1 ?
					  json_array_get(m->status, 0) : m->status);
	if (json_array_size(m->status) == 0)
		printf("no profiles\n");
	json_array_foreach(m->status, i, e) {
		/* ctl_msg_decode() checked every entry already. */
		if (ctl_status_from_json(e, &st, NULL, 0) != 0)
			continue;
		if (i)
			putchar('\n');
		cli_print_status(stdout, &st, now, arr);
	}
	return CLI_EXIT_OK;
}

static int show_list(const struct opts *o, const struct ctl_msg *m)
{
	const json_t *e;
	size_t i, width = 4;

	if (!m->profiles) {
		fprintf(stderr, "vpnctl: unexpected reply from vpnd: no profiles\n");
		return CLI_EXIT_FAILED;
	}
	if (o->json)
		return print_json(m->profiles);
	if (json_array_size(m->profiles) == 0)
		printf("no profiles\n");
	json_array_foreach(m->profiles, i, e) {
		size_t n = strlen(json_string_value(json_object_get(e, "name")));

		width = n > width ? n : width;
	}
	json_array_foreach(m->profiles, i, e)
		printf("%-*s  %s\n", (int)width, json_string_value(json_object_get(e, "name")),
		       json_string_value(json_object_get(e, "state")));
	return CLI_EXIT_OK;
}

static int show_result(const struct opts *o, const struct ctl_msg *m)
{
	char w[CTL_NAME_MAX + 16];

	if (!m->ok) {
		fprintf(stderr, "vpnctl: %s: %s\n", what(o, w, sizeof(w)), m->error);
		return cli_exit_code(m->code);
	}
	switch (o->req.op) {
	case CTL_OP_UP:
		printf("%s: connected\n", o->req.name);
		return CLI_EXIT_OK;
	case CTL_OP_DOWN:
		printf("%s: disconnected\n", o->req.has_name ? o->req.name : "all profiles");
		return CLI_EXIT_OK;
	case CTL_OP_STATUS:
		return show_status(o, m);
	case CTL_OP_LIST:
		return show_list(o, m);
	}
	return CLI_EXIT_FAILED;
}

int main(int argc, char **argv)
{
	struct cli_conn c;
	struct ctl_msg m;
	struct opts o;
	int rc, sigfd;

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	sigfd = signals_fd();
	rc = connect_daemon(&o, &c);
	if (rc)
		return rc;
	if (cli_send(&c, &o.req) != 0) {
		fprintf(stderr, "vpnctl: sending to vpnd: %s\n", strerror(errno));
		cli_close(&c);
		return CLI_EXIT_FAILED;
	}
	rc = converse(&o, &c, sigfd, &m);
	if (rc < 0) {
		rc = show_result(&o, &m);
		ctl_msg_clear(&m);
	}
	cli_close(&c);
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
		rc = CLI_EXIT_FAILED;
	return rc;
}
