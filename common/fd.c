/*
 * fd — pipes, non-blocking mode, and closing what a child must not keep
 * (see fd.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fd.h"

int fd_pipe(int p[2], int flags)
{
	return pipe2(p, O_CLOEXEC | flags);
}

int fd_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

/* qsort order for ints. */
static int int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int fd_keep_only(const int *keep, size_t n)
{
	int sorted[64];
	unsigned int next = 3;

	if (n > sizeof(sorted) / sizeof(sorted[0])) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = keep[i];
	qsort(sorted, n, sizeof(int), int_cmp);
	for (size_t i = 0; i < n; i++) {
		if (sorted[i] < (int)next)
			continue;
		if ((unsigned int)sorted[i] > next &&
		    close_range(next, (unsigned int)sorted[i] - 1, 0) == -1)
			return -1;
		next = (unsigned int)sorted[i] + 1;
	}
	return close_range(next, ~0u, 0);
}

int fd_devnull_stdio(int keep_stderr)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd == -1)
		return -1;
	if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1 ||
	    (!keep_stderr && dup2(fd, 2) == -1)) {
		close(fd);
		return -1;
	}
	if (fd > 2)
		close(fd);
	return 0;
}
