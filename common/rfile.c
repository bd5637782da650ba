/*
 * rfile — a bounded read of a regular file (see rfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/rfile.h"

ssize_t rfile_read(const char *path, void *buf, size_t cap, struct stat *st,
    char *why, size_t n)
{
	struct stat tmp;
	size_t len = 0;
	ssize_t got;
	int fd;

	if (st == NULL)
		st = &tmp;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == -1) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, n, "%s: not a regular file", path);
		goto fail;
	}
	while (len < cap) {
		got = read(fd, (char *)buf + len, cap - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			snprintf(why, n, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	return (ssize_t)len;
fail:
	close(fd);
	return -1;
}
