/*
 * dispatcher — the process between the master and the workers.
 *
 * dispatcher_run() is called in the child right after the master forks it
 * and never returns.  It forks and supervises the workers (one job pipe
 * each, one shared idle pipe), moves slot indices from the ready ring to
 * idle workers (in batches when the queue is long), records results in the
 * slots, returns finished slots on the free ring, requeues the jobs of a
 * worker that died or timed out, and respawns workers (throttled).
 *
 * Its inputs from the master:
 *   doorbell_fd  read end, non-blocking: a byte means "the ready ring has
 *                work" (sent only when the dispatcher flagged it sleeps);
 *                EOF means the master is gone
 *   ctl_fd       read end, blocking: struct msg_ctl messages (proto.h):
 *                CTL_CONFIG + struct config (reload: new worker generation,
 *                handler, timeouts), CTL_DRAIN (finish the queue, exit 0),
 *                CTL_STOP (kill the workers, exit 0); EOF = master gone
 * On EOF from the master it stops assigning, lets running jobs finish,
 * records them, and exits.
 */
#ifndef JOBQD_DISPATCHER_H
#define JOBQD_DISPATCHER_H

#include "common/config.h"
#include "common/segment.h"

_Noreturn void dispatcher_run(const struct config *c, struct segment *seg,
    int doorbell_fd, int ctl_fd);

#endif
