/*
 * child — the set-up every forked jobqd process (dispatcher, worker) does
 * once, first thing at its entry:
 *
 *   child_setup(role, keep, n)
 *
 * names the process ("dispatcher", "worker 3": the log prefix and the
 * title ps shows as "jobqd: ROLE"), lets the log drop what it must not
 * share with the parent (syslog), and closes every fd >= 3 but keep[0..n-1]
 * and the log's own file.  The master's sockets, pipes and signalfd never
 * reach a child; the name is set last, so a process that bears it holds
 * none of them (tests rely on that).  Failure is fatal (logged, exit 1).
 * Signal state and process groups stay with each child: they differ.
 *
 *   child_sched_batch()
 *
 * puts the calling process (the dispatcher, so also every worker it
 * forks) under SCHED_BATCH when it runs under SCHED_OTHER (a policy the
 * operator chose is left alone): a job's wake-up of the dispatcher or a
 * worker then does not preempt the master answering HTTP on the same CPU;
 * they run when it waits, or at the next tick.  Best effort: a refusal
 * leaves the policy as it was.
 *
 *   child_sched_restore()
 *
 * in a process about to exec a job's program: SCHED_OTHER again when
 * child_sched_batch changed it, so a program runs under the policy the
 * daemon was started with.
 *
 *   child_kill(pid)
 *
 * SIGKILLs a worker, the way its job is never left behind: its process
 * group (or pid alone when it has not made one yet), then the process group
 * of each of its children (an exec job runs in a group of its own with
 * whatever it started).  The worker goes first, so it cannot see its job
 * die and report that as the job's result.  0, or -1 with errno when pid
 * itself could not be signalled.
 */
#ifndef JOBQD_CHILD_H
#define JOBQD_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#define CHILD_KEEP_MAX	8	/* fds a child may keep, the log's not counted */

void child_setup(const char *role, const int *keep, size_t n);
void child_sched_batch(void);
void child_sched_restore(void);
int child_kill(pid_t pid);

#endif
