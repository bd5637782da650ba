/*
 * fd — file-descriptor chores every jobqd process shares.
 *
 *   fd_pipe(p, flags)        pipe2 with O_CLOEXEC (+ flags, e.g. O_NONBLOCK)
 *   fd_nonblock(fd, on)      set or clear O_NONBLOCK
 *   fd_keep_only(keep, n)    close every fd >= 3 not in keep[] (after fork)
 *   fd_devnull_stdio(keep_stderr)  point 0, 1 (and 2) at /dev/null
 */
#ifndef JOBQD_FD_H
#define JOBQD_FD_H

#include <stddef.h>

int fd_pipe(int p[2], int flags);
int fd_nonblock(int fd, int on);
/* 0, or -1 with errno. */
int fd_keep_only(const int *keep, size_t n);
int fd_devnull_stdio(int keep_stderr);

#endif
