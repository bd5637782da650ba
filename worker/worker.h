/*
 * worker — the loop of one worker process.
 *
 * worker_run() is called in the child right after the dispatcher forks it
 * and never returns.  It cleans up the process (own process group, death
 * signal tied to the dispatcher, default signals, only its own fds), builds
 * the handler, then loops: announce "idle, finished SLOT with STATUS" for
 * each job of its last batch, in one write on the shared idle pipe; read
 * the next struct msg_assign (a batch) from its own job pipe; run the
 * handler on each job's payload in the shared slot, one after another.  EOF on the job
 * pipe means "retired": exit 0.  A handler that cannot be built (say the
 * spool directory cannot be created) is logged and the worker exits 1
 * before its first announcement; the dispatcher throttles the respawns.
 */
#ifndef JOBQD_WORKER_H
#define JOBQD_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/segment.h"

struct worker_args {
	uint32_t index;		/* scoreboard index */
	uint32_t gen;		/* spawn serial, echoed in every msg_idle */
	int job_fd;		/* read end of its job pipe */
	int idle_fd;		/* write end of the shared idle pipe */
	pid_t parent;		/* the dispatcher */
	struct segment *seg;
	const struct config *cfg;
};

_Noreturn void worker_run(const struct worker_args *a);

#endif
