/* vpnd: the daemon that holds the tunnels.
 *
 *   vpnd [--foreground] [--socket PATH] [--profiles DIR] [--state-dir DIR]
 *        [--cleanup] [--debug]
 *
 * One libuv loop runs the control socket, every session's IKE and data
 * path. At start, and with --cleanup, whatever a previous vpnd left in the
 * system (recorded in the state directory's journals) is undone first. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <uv.h>

#include "client/crypto/crypto.h"
#include "client/daemon/vpnd/vpnd.h"
#include "client/util/log.h"
#include "platform/state.h"

#define DEFAULT_PROFILES "/etc/vpnctl/profiles"
#define DEFAULT_STATE "/var/lib/vpnctl"

struct opts {
	bool foreground, cleanup, debug, no_tun_offload;
	const char *socket, *profiles, *state_dir, *resolv_conf, *group;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vpnd [OPTIONS]\n"
		"\n"
		"  -f, --foreground      log to stderr instead of the journal\n"
		"  -s, --socket PATH     control socket (default %s)\n"
		"  -p, --profiles DIR    profile directory (default %s)\n"
		"  -S, --state-dir DIR   state and clean-up journal (default %s)\n"
		"      --resolv-conf PATH  the resolv.conf to manage (default /etc/resolv.conf)\n"
		"  -g, --group NAME      the group whose members may connect (default %s)\n"
		"      --cleanup         undo what an earlier vpnd left in the system, then exit\n"
		"      --no-tun-offload  plain TUN reads and writes (no GSO/GRO super-packets)\n"
		"  -d, --debug           log debug lines\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n",
		CTL_DEFAULT_SOCKET, DEFAULT_PROFILES, DEFAULT_STATE, CTL_DEFAULT_GROUP);
}

static int parse(int argc, char **argv, struct opts *o)
{
	enum { OPT_CLEANUP = 256, OPT_RESOLV, OPT_NO_OFFLOAD };
	static const struct option longopts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"socket", required_argument, NULL, 's'},
		{"profiles", required_argument, NULL, 'p'},
		{"state-dir", required_argument, NULL, 'S'},
		{"resolv-conf", required_argument, NULL, OPT_RESOLV},
		{"group", required_argument, NULL, 'g'},
		{"cleanup", no_argument, NULL, OPT_CLEANUP},
		{"no-tun-offload", no_argument, NULL, OPT_NO_OFFLOAD},
		{"debug", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->socket = CTL_DEFAULT_SOCKET;
	o->profiles = DEFAULT_PROFILES;
	o->state_dir = DEFAULT_STATE;
	while ((c = getopt_long(argc, argv, "fs:p:S:g:dhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = true; break;
		case 's': o->socket = optarg; break;
		case 'p': o->profiles = optarg; break;
		case 'S': o->state_dir = optarg; break;
		case OPT_RESOLV: o->resolv_conf = optarg; break;
		case 'g': o->group = optarg; break;
		case OPT_CLEANUP: o->cleanup = true; break;
		case OPT_NO_OFFLOAD: o->no_tun_offload = true; break;
		case 'd': o->debug = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("vpnd %s\n", VPN_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vpnd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void journal_sink(int level, const char *module, const char *msg, void *arg)
{
	(void)arg;
	sd_journal_send("MESSAGE=%s: %s", module, msg, "PRIORITY=%d", level,
			"VPN_MODULE=%s", module, "SYSLOG_IDENTIFIER=vpnd", NULL);
}

struct runtime {
	uv_loop_t *loop;
	struct vpnd *d;
	uv_signal_t sigint, sigterm;
	bool stopping;
};

static void on_shutdown_done(void *arg)
{
	struct runtime *rt = arg;

	vpnd_free(rt->d);
	rt->d = NULL;
	uv_close((uv_handle_t *)&rt->sigint, NULL);
	uv_close((uv_handle_t *)&rt->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct runtime *rt = h->data;

	if (rt->stopping)
		return;
	rt->stopping = true;
	vlog_notice("vpnd", "signal %d: closing every tunnel", signum);
	sd_notify(0, "STOPPING=1");
	vpnd_shutdown(rt->d, on_shutdown_done, rt);
}

static int cleanup(const char *state_dir)
{
	int err = plat_state_cleanup(state_dir);

	if (err)
		vlog_err("vpnd", "clean-up of %s: %s", state_dir, strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	struct paths_storage {
		struct vpnd_paths p;
	} ps;
	struct runtime rt;
	struct opts o;
	int err;

	memset(&o, 0, sizeof(o));
	memset(&rt, 0, sizeof(rt));
	if (parse(argc, argv, &o))
		return 2;
	if (!o.foreground && !getenv("VPND_LOG_STDERR") && sd_booted() > 0)
		vlog_set_sink(journal_sink, NULL);
	if (o.debug)
		vlog_set_level(VLOG_DEBUG);
	if (o.cleanup) {
		/* -EBUSY: a running vpnd owns a journal; the rest was cleaned. */
		err = cleanup(o.state_dir);
		return err && err != -EBUSY ? 1 : 0;
	}
	if (crypto_init()) {
		vlog_err("vpnd", "crypto self-check failed");
		return 1;
	}
	umask(077);
	if (mkdir(o.state_dir, 0700) && errno != EEXIST) {
		vlog_err("vpnd", "state directory %s: %s", o.state_dir, strerror(errno));
		return 1;
	}
	/* Leftovers of a vpnd that died: undo them before anything new. */
	cleanup(o.state_dir);

	rt.loop = uv_default_loop();
	ps.p = (struct vpnd_paths){
		.socket = o.socket,
		.profiles = o.profiles,
		.state_dir = o.state_dir,
		.resolv_conf = o.resolv_conf,
		.group = o.group,
		.no_tun_offload = o.no_tun_offload,
	};
	err = vpnd_new(rt.loop, &ps.p, &rt.d);
	if (err) {
		vlog_err("vpnd", "control socket %s: %s", o.socket, strerror(-err));
		return 1;
	}
	uv_signal_init(rt.loop, &rt.sigint);
	uv_signal_init(rt.loop, &rt.sigterm);
	rt.sigint.data = rt.sigterm.data = &rt;
	uv_signal_start(&rt.sigint, on_signal, SIGINT);
	uv_signal_start(&rt.sigterm, on_signal, SIGTERM);
	vlog_notice("vpnd", "ready: socket %s, profiles %s, state %s", o.socket, o.profiles,
		    o.state_dir);
	sd_notify(0, "READY=1");
	vpnd_autoconnect(rt.d);
	uv_run(rt.loop, UV_RUN_DEFAULT);
	uv_loop_close(rt.loop);
	vlog_notice("vpnd", "stopped");
	return 0;
}
