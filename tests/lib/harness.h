/*
 * harness — an in-process jobqd master for socket tests: a forked child
 * runs httpd over a fresh segment on 127.0.0.1 (an ephemeral port), while
 * the test talks to it over real sockets and plays the dispatcher on the
 * shared segment.
 *
 *   harness_config(c)          defaults for tests (small queue, 1 s timeouts)
 *   harness_start(hs, c)       create the segment, fork the server; 0 or -1
 *   harness_start_opts(hs, c, o)  the same with test-only server limits:
 *                              o->nfds: n client fds (RLIMIT_NOFILE) to
 *                              provoke EMFILE on accept; o->sndbuf: the
 *                              accepted sockets' SO_SNDBUF (0: the kernel's
 *                              autotuning), so tests can make the server's
 *                              kernel buffering small and known
 *   harness_stop(hs)           quit the server (httpd_free); 0 if it exited 0
 *   harness_drain(hs, n)       act as the dispatcher: run up to n queued jobs
 *                              to DONE and free their slots; returns how many
 *   harness_draining(hs, on)   httpd_set_draining in the server: 0 once the
 *                              server has done it, -1 if it did not say so
 *   harness_doorbell(hs)       bytes the server wrote to the doorbell so far
 *   harness_doorbell_wait(hs, n)  the same, after waiting (bounded by
 *                              HARNESS_WAIT_MS) for at least n
 */
#ifndef JOBQD_TEST_HARNESS_H
#define JOBQD_TEST_HARNESS_H

#include <sys/types.h>

#include "common/config.h"
#include "common/segment.h"

#define HARNESS_WAIT_MS	10000	/* the bound of every wait for the server */

struct harness_opts {
	unsigned nfds;
	int sndbuf;
};

struct harness {
	pid_t pid;
	int port;
	char shm[64];
	struct segment *seg;
	int ctl;		/* write end of the control pipe */
	int bell;		/* read end of the doorbell pipe */
	int ack;		/* read end: a byte per control byte handled */
	unsigned rung;
};

void harness_config(struct config *c);
int harness_start(struct harness *hs, const struct config *c);
int harness_start_opts(struct harness *hs, const struct config *c,
    const struct harness_opts *o);
/* 0, or -1 when the server did not exit cleanly (sanitizer reports). */
int harness_stop(struct harness *hs);
unsigned harness_drain(struct harness *hs, unsigned n);
int harness_draining(struct harness *hs, int on);
unsigned harness_doorbell(struct harness *hs);
unsigned harness_doorbell_wait(struct harness *hs, unsigned n);

#endif
