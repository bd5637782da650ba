/*
 * proto — the messages jobqd's processes send each other through pipes.
 *
 * This header is the whole cross-process contract besides the segment
 * layout (segment.h).  Every message is fixed-size and at most PIPE_BUF
 * bytes, so a write is atomic and messages from many workers on the one
 * idle pipe never interleave.  Receivers check size, sender and generation
 * and drop what does not match: a stale message is gossip, not an error.
 *
 *   worker -> dispatcher, the shared idle pipe:  struct msg_idle, one per
 *     job of a finished batch, all in one write (at most PROTO_BATCH)
 *   dispatcher -> worker, the worker's job pipe: struct msg_assign, a
 *     batch of 1 .. PROTO_BATCH jobs to run one after another
 *   master -> dispatcher, the control pipe:      struct msg_ctl
 *     (CTL_CONFIG is followed by a struct config)
 *   master -> dispatcher, the doorbell pipe: single bytes ("work queued")
 *
 *   proto_write(fd, msg, len)  write one whole message
 *   proto_read(fd, msg, len)   read one whole message
 */
#ifndef JOBQD_PROTO_H
#define JOBQD_PROTO_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_NO_SLOT UINT32_MAX
#define PROTO_BATCH	32	/* jobs per assignment at most */

/* "Worker INDEX (pid, generation) is idle; it finished SLOT (job id) with
 * STATUS" — slot is PROTO_NO_SLOT on a worker's first announcement. */
struct msg_idle {
	uint32_t index;		/* scoreboard index */
	int32_t pid;
	uint32_t gen;		/* spawn generation: unique per worker process */
	uint32_t slot;
	uint64_t job_id;
	int32_t status;		/* 0 done; else exit code or 128 + signal */
	uint32_t pad;
};

/* "Run the job in SLOT (job id, attempt n)." */
struct proto_job {
	uint32_t slot;
	uint32_t attempt;
	uint64_t job_id;
};

/* "Run these n jobs in order, then report them all." */
struct msg_assign {
	uint32_t n;		/* 1 .. PROTO_BATCH */
	uint32_t pad;
	struct proto_job job[PROTO_BATCH];
};

enum ctl_type {
	CTL_CONFIG = 1,		/* a struct config follows: apply it */
	CTL_DRAIN,		/* run what is queued, then exit */
	CTL_STOP,		/* stop now: kill the workers, exit */
};

struct msg_ctl {
	uint32_t type;
	uint32_t len;		/* bytes that follow */
};

_Static_assert(sizeof(struct msg_idle) * PROTO_BATCH <= PIPE_BUF,
    "a batch's idle messages fit PIPE_BUF");
_Static_assert(sizeof(struct msg_assign) <= PIPE_BUF, "assign message fits PIPE_BUF");
_Static_assert(sizeof(struct msg_ctl) <= PIPE_BUF, "control message fits PIPE_BUF");

/* Write all len bytes (EINTR retried; a blocking fd waits).  0, or -1 with
 * errno (EAGAIN on a full non-blocking pipe: nothing was written). */
int proto_write(int fd, const void *msg, size_t len);
/* Read exactly len bytes.  1 on a whole message, 0 on EOF before any byte,
 * -1 with errno (EAGAIN: none ready on a non-blocking fd; EPROTO: EOF or
 * no more bytes in the middle of a message). */
int proto_read(int fd, void *msg, size_t len);

#endif
