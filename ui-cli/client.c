/* vpnctl's side of the control socket: connect, send one request line, read
 * reply lines with a deadline while staying interruptible by signals. */
#define _GNU_SOURCE
#include "ui-cli/cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_connect(struct cli_conn *c, const char *path)
{
	struct sockaddr_un sa;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c->buf = malloc(CTL_RESPONSE_MAX + 1);
	if (!c->buf)
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		cli_close(c);
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		cli_close(c);
		return rc;
	}
	return 0;
}

int cli_send(struct cli_conn *c, const struct ctl_request *req)
{
	char *line = ctl_request_encode(req);
	size_t len, off = 0;
	int rc = 0;

	if (!line)
		return -ENOMEM;
	len = strlen(line);
	while (off < len) {
		/* MSG_NOSIGNAL: a vpnd that went away is an error, not a SIGPIPE. */
		ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	return rc;
}

/* Decode the first buffered line, if there is a whole one. */
static int take_line(struct cli_conn *c, struct ctl_msg *msg, char *why, size_t whylen,
		     bool *got)
{
	char *nl = memchr(c->buf, '\n', c->len);
	size_t n;
	int rc;

	*got = false;
	if (!nl) {
		if (c->len > CTL_RESPONSE_MAX) {
			snprintf(why, whylen, "reply longer than %u bytes", CTL_RESPONSE_MAX);
			return -EMSGSIZE;
		}
		return 0;
	}
	n = (size_t)(nl - c->buf);
	rc = ctl_msg_decode(c->buf, n, msg, why, whylen);
	c->len -= n + 1;
	memmove(c->buf, nl + 1, c->len);
	*got = rc == 0;
	return rc;
}

static int wait_readable(int fd, int64_t deadline_ms, int sigfd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = sigfd, .events = POLLIN },
	};

	for (;;) {
		int64_t left = deadline_ms - cli_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, sigfd >= 0 ? 2 : 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (sigfd >= 0 && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				return -errno;
			return -EINTR;
		}
		if (p[0].revents)
			return 0;
	}
}

int cli_recv(struct cli_conn *c, int64_t deadline_ms, int sigfd, struct ctl_msg *msg,
	     char *why, size_t whylen)
{
	for (;;) {
		bool got;
		ssize_t n;
		int rc = take_line(c, msg, why, whylen, &got);

		if (rc || got)
			return rc;
		rc = wait_readable(c->fd, deadline_ms, sigfd);
		if (rc)
			return rc;
		n = read(c->fd, c->buf + c->len, CTL_RESPONSE_MAX + 1 - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
}

void cli_close(struct cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
}
