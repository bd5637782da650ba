/*
 * listener — the master's listening socket.
 *
 *   listener_open(c, err, n)   socket + SO_REUSEADDR + bind + listen on
 *                              c->listen, non-blocking and close-on-exec
 */
#ifndef JOBQD_LISTENER_H
#define JOBQD_LISTENER_H

#include <stddef.h>

#include "common/config.h"

/* The fd, or -1 with "listen ADDR: reason" in err (and errno, when a
 * system call failed). */
int listener_open(const struct config *c, char *err, size_t errlen);

#endif
