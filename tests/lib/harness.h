/*
 * harness — an in-process jobqd master for socket tests: a forked child
 * runs httpd over a fresh segment on 127.0.0.1 (an ephemeral port), while
 * the test talks to it over real sockets and plays the dispatcher on the
 * shared segment.
 *
 *   harness_config(c)          defaults for tests (small queue, 1 s timeouts)
 *   harness_start(hs, c)       create the segment, fork the server; 0 or -1
 *   harness_start_fds(hs, c, n)  the same, the server limited to n client fds
 *                              (RLIMIT_NOFILE) to provoke EMFILE on accept
 *   harness_stop(hs)           quit the server (httpd_free); 0 if it exited 0
 *   harness_drain(hs, n)       act as the dispatcher: run up to n queued jobs
 *                              to DONE and free their slots; returns how many
 *   harness_draining(hs, on)   httpd_set_draining in the server
 *   harness_doorbell(hs)       bytes the server wrote to the doorbell so far
 */
#ifndef JOBQD_TEST_HARNESS_H
#define JOBQD_TEST_HARNESS_H

#include <sys/types.h>

#include "common/config.h"
#include "common/segment.h"

struct harness {
	pid_t pid;
	int port;
	char shm[64];
	struct segment *seg;
	int ctl;		/* write end of the control pipe */
	int bell;		/* read end of the doorbell pipe */
	unsigned rung;
};

void harness_config(struct config *c);
int harness_start(struct harness *hs, const struct config *c);
int harness_start_fds(struct harness *hs, const struct config *c, unsigned n);
/* 0, or -1 when the server did not exit cleanly (sanitizer reports). */
int harness_stop(struct harness *hs);
unsigned harness_drain(struct harness *hs, unsigned n);
void harness_draining(struct harness *hs, int on);
unsigned harness_doorbell(struct harness *hs);

#endif
