/*
 * notify — sd_notify(3) without libsystemd (see notify.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/notify.h"

static int sock = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;

int notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (path == NULL)
		return 0;
	n = strlen(path);
	if (n < 2 || n >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) {
		unsetenv("NOTIFY_SOCKET");
		errno = EINVAL;
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, n);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '@' ? 0 : 1));
	unsetenv("NOTIFY_SOCKET");
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return sock == -1 ? -1 : 0;
}

int notify_enabled(void)
{
	return sock != -1;
}

int notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;
	ssize_t r;

	if (sock == -1)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	do
		r = sendto(sock, msg, (size_t)n, MSG_NOSIGNAL,
		    (const struct sockaddr *)&addr, addr_len);
	while (r == -1 && errno == EINTR);
	return r == -1 ? -1 : 0;
}

int notify_reloading(void)
{
	return notify_send("RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)(clock_mono_ns() / 1000));
}
