/*
 * pool — the dispatcher's worker table: fork, reap, kill, the scoreboard
 * entries in shared memory, the idle list and the respawn throttle.  The
 * mechanism only; which job goes where and when to spawn is decided by the
 * dispatcher (dispatcher.c).
 *
 * A worker's index is its scoreboard entry (0 .. SEG_SCORE_COUNT-1).  Each
 * spawn gets a fresh serial, "gen", that the worker echoes in every idle
 * announcement; pool_idle() checks index, pid and gen against the table so
 * a message from a replaced worker is recognised and dropped.
 *
 *   pool_create(seg, err, n)    the table and the shared idle pipe
 *   pool_destroy(p)             free it (workers are not touched)
 *   pool_idle_fd(p)             read end of the idle pipe (non-blocking)
 *   pool_spawn(p, c, rgen)      fork one worker into a free entry
 *   pool_idle(p, m, &done)      validate an idle announcement or a result;
 *                               the batch's last result makes it idle
 *   pool_take_idle(p)           an idle worker for the next batch, or -1
 *   pool_pid(p, i)              worker i's pid
 *   pool_rgen(p, i)             worker i's reload generation
 *   pool_assign(p, i, ...)      send a batch of jobs to idle worker i
 *   pool_reap(p, block)         collect exited workers (waitpid)
 *   pool_next_death(p, &death)  hand out one collected death, free its entry
 *   pool_expire(p, now)         kill workers whose job ran past job_timeout
 *   pool_retire(p, rgen)        close the job pipes of other generations
 *   pool_retire_all(p)          close every job pipe (drain, shutdown)
 *   pool_kill_all(p)            SIGKILL every worker's process group
 *   pool_spawn_allowed(p, now)  how many spawns the throttle allows now
 *   pool_next_event(p)          the nearest deadline or respawn time
 *   pool_count(p, what)         live / busy / idle / current workers
 *   pool_count_gen(p, rgen)     live workers of one generation, not retired
 *
 * Deaths are collected in two steps on purpose: a worker writes its last
 * announcement before it exits, so between pool_reap() and
 * pool_next_death() the dispatcher drains the idle pipe and a job that was
 * finished is recorded as such instead of being requeued as lost.
 *
 * A batch on the scoreboard: pool_assign sets job_id to the first job and
 * progress to 0; the worker marks each job it starts (job_id,
 * job_started) and, after writing the job's result into its slot, counts
 * it in progress.  Job timeouts run from job_started, per job; the kill
 * notes the job it is for (progress then), and a death whose progress
 * went past it was a kill that landed after that job ended ("late").
 * A death reports the jobs of the batch not reported on the pipe: the first
 * "finished" of them by progress, their results in the slots, then the one
 * that was running, if any, then those never started.
 */
#ifndef JOBQD_POOL_H
#define JOBQD_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/proto.h"
#include "common/segment.h"

struct pool;

/* A finished job reported by pool_idle(). */
struct pool_done {
	uint32_t slot;
	uint64_t job_id;
	int32_t status;
};

/* A worker that exited, reported by pool_reap(). */
struct pool_death {
	uint32_t index;
	pid_t pid;
	int wstatus;		/* from waitpid */
	uint32_t n;		/* jobs of its batch it did not report */
	uint32_t finished;	/* of job[0 .. n): finished, result in the slot */
	int running;		/* job[finished] was running */
	struct proto_job job[PROTO_BATCH];
	int timed_out;		/* we killed it for job_timeout */
	int killed;		/* we killed it: timeout or pool_kill_all */
	int late;		/* the job it timed out for had finished when the
				 * kill landed: the running job was cut short */
	int retired;		/* its job pipe was closed: exit expected */
	uint32_t rgen;		/* its reload generation */
	int throttled;		/* it died before its first job: respawn later */
};

enum pool_count_what { POOL_LIVE, POOL_BUSY, POOL_IDLE, POOL_CURRENT };

struct pool *pool_create(struct segment *seg, char *err, size_t errlen);
void pool_destroy(struct pool *p);
int pool_idle_fd(const struct pool *p);
/* Fork a worker of reload generation rgen; its index, or -1 (no free
 * entry, or fork/pipe failed: logged). */
int pool_spawn(struct pool *p, const struct config *c, uint32_t rgen);
/* -1 stale or bogus (logged at debug), 0 an announcement without a job,
 * 1 a finished job in *done.  A retired worker is not put on the idle list. */
int pool_idle(struct pool *p, const struct msg_idle *m, struct pool_done *done);
int pool_take_idle(struct pool *p);
pid_t pool_pid(const struct pool *p, uint32_t i);
uint32_t pool_rgen(const struct pool *p, uint32_t i);
/* Mark worker i busy with n (1 .. PROTO_BATCH) jobs and write the
 * assignment (timeout: ns each job may run, 0 = none); 0.  -1 when the
 * write failed (the worker died after announcing itself): no job reached
 * it, worker i is retired and its death will be reaped as that of an idle
 * worker. */
int pool_assign(struct pool *p, uint32_t i, const struct proto_job *job, uint32_t n,
    int64_t timeout);
/* waitpid(-1) until nothing is left; block: wait for at least one.
 * Returns how many were collected.  Their entries stay valid (messages
 * they sent are still accepted) until pool_next_death(). */
unsigned pool_reap(struct pool *p, int block);
/* 1 and *d for one collected death (its entry is then free), 0 none. */
int pool_next_death(struct pool *p, struct pool_death *d);
/* Kill (process group, SIGKILL) the workers whose job runs past its
 * timeout. */
void pool_expire(struct pool *p, int64_t now);
void pool_retire(struct pool *p, uint32_t rgen);
void pool_retire_all(struct pool *p);
void pool_kill_all(struct pool *p);
/* Throttle: a job completed (the handler works) / reset on reload. */
void pool_throttle_reset(struct pool *p);
unsigned pool_spawn_allowed(struct pool *p, int64_t now);
/* CLOCK_MONOTONIC ns of the next job deadline, or of the throttled
 * respawn when want_spawn; 0 none. */
int64_t pool_next_event(const struct pool *p, int want_spawn);
/* POOL_CURRENT: live and not retired (the current generation). */
unsigned pool_count(const struct pool *p, enum pool_count_what what);
/* Live, not retired workers of reload generation rgen (a walk of the
 * table: for the time a reload is pending). */
unsigned pool_count_gen(const struct pool *p, uint32_t rgen);

#endif
