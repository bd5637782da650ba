/*
 * listener — open the master's listening socket from c->listen.
 *
 * Numeric addresses only (config_listen_addr); the socket is non-blocking
 * and close-on-exec so it never leaks into the dispatcher or the workers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "server/listener.h"

#define LISTEN_BACKLOG	511

int listener_open(const struct config *c, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	if (config_listen_addr(c, &ss, &len) == -1) {
		snprintf(err, errlen, "listen %s: not a numeric address:port", c->listen);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		goto fail;
	}
	return fd;
fail:
	snprintf(err, errlen, "listen %s: %s", c->listen, strerror(errno));
	return -1;
}
