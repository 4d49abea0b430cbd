/* vpnctl's pieces: talking to vpnd (client.c) and showing what it says
 * (format.c). main.c only parses arguments and drives them. Kept in a
 * library so the unit tests can check the formatting and the exit codes. */
#ifndef VPN_UI_CLI_H
#define VPN_UI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "client/daemon/ctl_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* vpnctl's exit codes; `vpnctl --help` lists them. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,      /* anything not listed below */
	CLI_EXIT_USAGE = 2,       /* bad command line */
	CLI_EXIT_NO_DAEMON = 3,   /* vpnd not running / socket unreachable */
	CLI_EXIT_PERMISSION = 4,  /* not root and not in group vpn */
	CLI_EXIT_PROFILE = 5,     /* no such profile, or the profile is invalid */
	CLI_EXIT_AUTH = 6,        /* our credentials were refused */
	CLI_EXIT_PEER_AUTH = 7,   /* gateway certificate not trusted / identity mismatch */
	CLI_EXIT_NEGOTIATION = 8, /* no proposal chosen / traffic selectors unacceptable */
	CLI_EXIT_NETWORK = 9,     /* name did not resolve / gateway unreachable */
	CLI_EXIT_TIMEOUT = 10,    /* no answer within --timeout (up is cancelled) */
	CLI_EXIT_CANCELLED = 11,  /* interrupted, or a down cancelled the up */
};

int cli_exit_code(enum ctl_err err);

/* "512 B", "12.3 MiB" (binary units, one decimal). */
void cli_format_bytes(uint64_t n, char *buf, size_t cap);
/* "45s", "3m 12s", "2h 05m", "3d 04h". */
void cli_format_duration(int64_t secs, char *buf, size_t cap);
/* The human form of one status; `arrow` joins local and remote. */
void cli_print_status(FILE *out, const struct ctl_status *st, time_t now,
		      const char *arrow);

/* A connection to vpnd. */
struct cli_conn {
	int fd;
	size_t len;
	char *buf; /* CTL_RESPONSE_MAX + 1 */
};

int64_t cli_now_ms(void); /* CLOCK_MONOTONIC */
/* 0 or -errno from socket()/connect(). */
int cli_connect(struct cli_conn *c, const char *path);
int cli_send(struct cli_conn *c, const struct ctl_request *req);
/* The next message; waits until `deadline_ms` (cli_now_ms() scale). Returns
 * 0, -ETIMEDOUT, -EINTR when `sigfd` (a signalfd, or -1) became readable,
 * -ECONNRESET when vpnd closed the connection, -EMSGSIZE / -EPROTO for a bad
 * reply (`why` says what), or another -errno. */
int cli_recv(struct cli_conn *c, int64_t deadline_ms, int sigfd, struct ctl_msg *msg,
	     char *why, size_t whylen);
void cli_close(struct cli_conn *c);

#ifdef __cplusplus
}
#endif
#endif
