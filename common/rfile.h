/*
 * rfile — read a small file an operator names (the configuration, the
 * token file) without letting it block or exhaust the process.
 *
 * The open cannot block (O_NONBLOCK: a FIFO with no writer) and follows
 * symbolic links (files under /etc often are); what was opened must be a
 * regular file (fstat: not a FIFO, /dev/zero, a tty or a directory), and
 * at most cap bytes are read.  A caller that wants to know whether the
 * file holds more than its limit passes cap = limit + 1.
 *
 *   rfile_read(path, buf, cap, st, why, n)
 */
#ifndef JOBQD_RFILE_H
#define JOBQD_RFILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The bytes read into buf (0 .. cap), with the file's fstat in *st (may
 * be NULL); or -1 with "PATH: reason" in why. */
ssize_t rfile_read(const char *path, void *buf, size_t cap, struct stat *st,
    char *why, size_t n);

#endif
