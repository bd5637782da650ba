/*
 * proto — whole-message reads and writes on pipes (see proto.h).
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "common/proto.h"

/* Wait up to a second until fd is ready for events (the middle of a big
 * message); 0 when it timed out. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 1000);
}

int proto_write(int fd, const void *msg, size_t len)
{
	const char *p = msg;
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && off > 0) {
				(void)wait_fd(fd, POLLOUT);	/* finish a big message */
				continue;
			}
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int proto_read(int fd, void *msg, size_t len)
{
	char *p = msg;
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, p + off, len - off);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && off > 0) {
				/* The rest is on its way; a second of silence
				 * means it is not coming. */
				if (wait_fd(fd, POLLIN) == 0) {
					errno = EPROTO;
					return -1;
				}
				continue;
			}
			return -1;
		}
		if (n == 0) {
			if (off == 0)
				return 0;
			errno = EPROTO;
			return -1;
		}
		off += (size_t)n;
	}
	return 1;
}
