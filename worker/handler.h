/*
 * handler — what a worker does with one job: sleep, noop, exec, spool.
 *
 * A handler is built once per worker process from the config (it checks
 * what it can up front: the spool directories exist, the program is
 * executable) and then runs jobs one at a time.  handler_run() returns the
 * job's status: 0 done; otherwise the exit code, or 128 + signal, of the
 * attempt; job->signal says which (the signal that killed the program,
 * else 0: a program that exits 130 did not die of SIGINT).  It never kills the worker; internal failures (pipe, fork,
 * write) are logged and reported as status 1.
 *
 *   handler_create(c, err, n)  build; NULL with a reason in err
 *   handler_run(h, job)        run one job, return its status (exec: its
 *                              stdout kept in job->output)
 *   handler_free(h)
 *   handler_clean(c)           at start-up, when no worker runs: remove
 *                              what killed workers left (spool: files in
 *                              DIR/tmp older than a run, TMP_STALE_S)
 */
#ifndef JOBQD_HANDLER_H
#define JOBQD_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

struct handler;

struct handler_job {
	uint64_t id;
	uint32_t attempt;		/* 1 for the first run */
	const unsigned char *payload;	/* in shared memory */
	size_t len;
	/* exec: the first output_max bytes of the program's stdout go to
	 * output (in shared memory), their count to output_len; output_max
	 * 0: stdout is logged like stderr */
	unsigned char *output;
	size_t output_max;
	size_t output_len;		/* set by handler_run; 0 for the others */
	int signal;			/* set by handler_run: what killed it, or 0 */
};

struct handler *handler_create(const struct config *c, char *err, size_t errlen);
int handler_run(struct handler *h, struct handler_job *job);
void handler_free(struct handler *h);
void handler_clean(const struct config *c);

#endif
