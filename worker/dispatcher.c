/*
 * dispatcher — the poll loop between the master and the workers (see
 * dispatcher.h); the policy half: which job goes to which worker, when to
 * spawn, what a result or a death does to a slot.  The mechanism (fork,
 * reap, scoreboard, throttle) is pool.c.
 *
 * One loop, one place to act:
 *   1. signals (self-pipe) set flags; SIGCHLD collects deaths
 *   2. idle announcements are read in batches and validated (pool_idle);
 *      each finished job is recorded in its slot
 *   3. deaths are handled after the idle pipe is drained, so a worker's
 *      last result counts before its death is judged
 *   4. timeouts kill, missing workers are spawned (throttled)
 *   5. scheduled jobs that are due join the retry list; jobs go FIFO to
 *      idle workers, a batch each (batch_size): the retry list first,
 *      then the ready ring (a delayed job popped from it goes to the
 *      timers; a slot popped from it leaves them: see segment_cancel)
 *   6. poll() on the idle pipe, the doorbell, the control pipe and the
 *      self-pipe, until the nearest deadline or respawn time, at most
 *      BEAT_MS: each round stores a heartbeat for /healthz
 *
 * Every slot state change goes through segment_run, segment_requeue,
 * segment_schedule, segment_due or segment_finish, which keep the gauges.
 *
 * Slot results.  Status 0 is DONE.  Anything else is a failed attempt
 * (its enum slot_reason in the slot: EXIT or SIGNAL as the worker's
 * handler told them apart; a death is LOST, or TIMEOUT when we killed
 * it for job_timeout): while attempts < max_attempts the slot waits
 * SCHEDULED for its backoff (timers_backoff of retry_delay, in a heap of
 * due times rebuilt from the slot table when we start), then is QUEUED
 * again on the retry list (served before the ready ring); else FAILED.  A worker death is a failed
 * attempt with exit_status 128 + signal (137 for a timeout or SIGKILL) or
 * the exit code.  A slot popped from the ready ring with attempts already
 * at max_attempts (its run was orphaned by a dispatcher crash and counted
 * by recovery) is FAILED without running, with exit_status -1: that attempt
 * has no known result.  An assignment whose write fails (the worker died
 * after announcing itself) never reached a worker: no attempt, its jobs
 * are QUEUED again first in line.  A worker's death settles each job of
 * its batch (death_jobs): finished ones by the result in their slot, the
 * running one as a failed attempt, the rest QUEUED again first in line
 * without an attempt.  DONE and FAILED slots go back to the master
 * on the free ring.
 *
 * The doorbell (lost-wakeup safe): with an idle worker and nothing to
 * assign, store dispatcher_sleeping = 1, fence, look at the ready ring once
 * more, and only then poll.  The master pushes first and then exchanges the
 * flag to 0, writing a byte only if it was 1: either we see its push, or it
 * sees our flag.  Without an idle worker the flag is not set: a worker
 * announcing itself wakes us anyway.
 *
 * Reload (CTL_CONFIG): a new generation of workers is spawned while the
 * old one keeps running jobs; the first new worker to announce itself
 * retires the old one (counted as a good reload).  If more new workers
 * die before announcing themselves than the generation has (all of them,
 * then a throttled respawn), the old configuration comes back and the new
 * workers are retired (a failed reload).
 *
 * Ending: CTL_STOP or SIGTERM kills every worker's process group, reaps
 * them and exits 0; the jobs they were running go back to QUEUED without
 * counting the attempt we cut short (the master's recovery requeues them).
 * A worker found dead of anything but our SIGKILL (it crashed on its own
 * during the stop) is charged its attempt like any death.
 * CTL_DRAIN assigns until nothing is queued or running, then closes.  EOF
 * from the master closes at once.  Closing = no more assignments or
 * spawns, every job pipe closed; busy workers finish and report, then
 * exit at EOF; the dispatcher exits 0 when the last one is reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/child.h"
#include "common/clock.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/plural.h"
#include "common/proto.h"
#include "worker/dispatcher.h"
#include "worker/handler.h"
#include "worker/pool.h"
#include "worker/timers.h"

#define IDLE_BATCH	(2 * PROTO_BATCH)	/* idle messages per read */
#define SHORT_JOB_NS	1000000		/* batch by idle workers below this run time */
#define UNKNOWN_RUN_NS	1000000000	/* a handler's run time until measured */
#define BEAT_MS		1000	/* poll at most this long: an idle loop still beats */

struct dispatcher {
	struct config cfg;
	struct segment *seg;
	struct seg_header *h;
	struct ring *ready, *freer;
	uint32_t cap;
	struct pool *pool;
	uint32_t rgen;			/* reload generation of cfg */
	uint32_t gens;			/* generations numbered so far */
	int pending;			/* a reload waits for its first worker */
	struct config old;		/* while pending: the generation serving */
	uint32_t old_rgen;
	unsigned pending_deaths;	/* new workers dead before announcing */
	uint32_t *retry;		/* FIFO of slot indices, cap entries */
	uint32_t retry_head, retry_n;
	struct timers *timers;		/* SCHEDULED slots by run_at */
	uint64_t rnd;			/* xorshift state for the jitter */
	int doorbell_fd, ctl_fd, sig_r;
	int draining;			/* CTL_DRAIN: close once empty */
	int closing;			/* no more work: retire all, exit when gone */
	int stopping;			/* CTL_STOP / SIGTERM: kill all, exit */
	int64_t run_ns;			/* moving average of job run times */
	unsigned ncpu;			/* CPUs online */
	unsigned char ibuf[IDLE_BATCH * sizeof(struct msg_idle)];
	size_t ilen;
};

static volatile sig_atomic_t got_chld, got_term, got_usr1;
static int sig_w = -1;

/* Signal handler: set the flag, wake the loop. */
static void on_signal(int sig)
{
	int saved = errno;
	char b = 0;

	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGTERM)
		got_term = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	(void)!write(sig_w, &b, 1);
	errno = saved;
}

/* Our own signal state: whatever mask the master had, handlers for the
 * three signals we act on, SIGINT/SIGHUP/SIGPIPE ignored (the master owns
 * the terminal and reloads; a dead worker's pipe is not fatal). */
static int setup_signals(void)
{
	struct sigaction sa;
	sigset_t none;
	int sp[2];

	if (fd_pipe(sp, O_NONBLOCK) == -1)
		return -1;
	sig_w = sp[1];
	memset(&sa, 0, sizeof(sa));
	sigfillset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGUSR1, &sa, NULL) == -1)
		return -1;
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGHUP, &sa, NULL) == -1 ||
	    sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		return -1;
	return sp[0];
}

/* DONE or FAILED, back to the master. */
static void finish(struct dispatcher *d, uint32_t i, enum slot_state st)
{
	if (segment_finish(d->seg, i, st) == -1)
		fatalx("slot %" PRIu32 ": cannot finish (state %" PRIu32 ", free ring %" PRIu32 ")",
		    i, atomic_load(&segment_slot(d->seg, i)->state), ring_count(d->freer));
}

/* Put slot i at the end (or, first, at the head) of the retry list. */
static void retry_push(struct dispatcher *d, uint32_t i, int first)
{
	if (d->retry_n == d->cap)
		fatalx("retry list full pushing slot %" PRIu32, i);
	if (first) {
		d->retry_head = (d->retry_head + d->cap - 1) % d->cap;
		d->retry[d->retry_head] = i;
	} else
		d->retry[(d->retry_head + d->retry_n) % d->cap] = i;
	d->retry_n++;
}

/* RUNNING slot i goes back to QUEUED: charged (its attempt failed), or
 * not (it never ran, or we cut it short), first in line. */
static void requeue(struct dispatcher *d, uint32_t i, int charged)
{
	if (segment_requeue(d->seg, i, charged) == -1)
		fatalx("slot %" PRIu32 " is not running", i);
	retry_push(d, i, !charged);
}

/* A random 32-bit number (xorshift64*: the jitter needs no more). */
static uint32_t rnd32(struct dispatcher *d)
{
	d->rnd ^= d->rnd >> 12;
	d->rnd ^= d->rnd << 25;
	d->rnd ^= d->rnd >> 27;
	return (uint32_t)((d->rnd * 2685821657736338717ULL) >> 32);
}

/* A RUNNING slot's attempt failed (enum slot_reason why): SCHEDULED for
 * its backoff (or at once QUEUED, ahead of new work, when retry_delay is
 * 0), or FAILED. */
static void fail_attempt(struct dispatcher *d, uint32_t i, struct slot *sl, uint32_t why)
{
	char id[JOBID_STRLEN + 1];

	sl->reason = why;
	jobid_format(sl->id, id);
	if (sl->attempts < d->cfg.max_attempts) {
		int64_t wait = d->cfg.retry_delay == 0 ? 0 :
		    timers_backoff((int64_t)d->cfg.retry_delay * 1000000000,
		    (int64_t)d->cfg.retry_delay_max * 1000000000, sl->attempts, rnd32(d));

		if (wait == 0) {
			log_info("job %s: attempt %" PRIu32 " failed with status %" PRId32
			    ", requeued", id, sl->attempts, sl->exit_status);
			requeue(d, i, 1);
			return;
		}
		log_info("job %s: attempt %" PRIu32 " failed with status %" PRId32
		    ", scheduled in %" PRId64 " ms", id, sl->attempts, sl->exit_status,
		    wait / 1000000);
		if (segment_schedule(d->seg, i, clock_wall_ns() + wait) == -1 ||
		    timers_push(d->timers, i, sl->run_at) == -1)
			fatalx("slot %" PRIu32 ": cannot schedule", i);
		return;
	}
	log_warnx("job %s failed after %" PRIu32 " attempts (status %" PRId32 ")",
	    id, sl->attempts, sl->exit_status);
	finish(d, i, SLOT_FAILED);
}

/* The slot a worker held, checked against our own records. */
static struct slot *held_slot(struct dispatcher *d, uint32_t i, uint64_t job_id)
{
	struct slot *sl;

	if (i >= d->cap)
		fatalx("worker held slot %" PRIu32 " of %" PRIu32, i, d->cap);
	sl = segment_slot(d->seg, i);
	if (sl->id != job_id || atomic_load_explicit(&sl->state, memory_order_relaxed) != SLOT_RUNNING)
		fatalx("slot %" PRIu32 " is not running job %016" PRIx64, i, job_id);
	return sl;
}

/* A worker finished a job with status (its times are in the slot). */
static void record(struct dispatcher *d, uint32_t i, uint64_t job_id, int32_t status)
{
	struct slot *sl = held_slot(d, i, job_id);
	int64_t run = sl->t_finished - sl->t_started;

	d->run_ns += ((run > 0 ? run : 0) - d->run_ns) / 8;
	sl->exit_status = status;
	if (status == 0)
		finish(d, i, SLOT_DONE);
	else if (status < 0)
		fail_attempt(d, i, sl, SLOT_REASON_LOST);
	else	/* the worker wrote which: its handler tells exit from signal */
		fail_attempt(d, i, sl, sl->reason == SLOT_REASON_SIGNAL ?
		    SLOT_REASON_SIGNAL : SLOT_REASON_EXIT);
}

/* A pending reload's first worker announced itself: the new generation
 * can start, the old one is retired (it finishes its batches). */
static void reload_done(struct dispatcher *d)
{
	log_info("reload: generation %" PRIu32 " started, retiring generation %" PRIu32,
	    d->rgen, d->old_rgen);
	d->pending = 0;
	pool_retire(d->pool, d->rgen);
	atomic_fetch_add(&d->h->reloads_ok, 1);
}

/* A pending reload's workers keep dying before announcing themselves:
 * back to the generation that serves (log and level stay as reloaded). */
static void reload_undo(struct dispatcher *d, const char *why)
{
	log_errorx("reload: the new workers cannot start (%s): keeping generation %" PRIu32,
	    why, d->old_rgen);
	memcpy(d->old.log, d->cfg.log, sizeof(d->old.log));
	d->old.log_level = d->cfg.log_level;
	d->cfg = d->old;
	d->rgen = d->old_rgen;
	d->pending = 0;
	pool_retire(d->pool, d->rgen);
	pool_throttle_reset(d->pool);
	atomic_fetch_add(&d->h->reloads_failed, 1);
}

/* Process the whole messages in the idle buffer. */
static void idle_messages(struct dispatcher *d)
{
	size_t off = 0;

	for (; d->ilen - off >= sizeof(struct msg_idle); off += sizeof(struct msg_idle)) {
		struct msg_idle m;
		struct pool_done r;

		memcpy(&m, d->ibuf + off, sizeof(m));
		switch (pool_idle(d->pool, &m, &r)) {
		case 0:
			if (d->pending && pool_rgen(d->pool, m.index) == d->rgen)
				reload_done(d);
			break;
		case 1:
			record(d, r.slot, r.job_id, r.status);
			break;
		}
	}
	/* A torn message cannot happen (writes <= PIPE_BUF are atomic); keep
	 * any tail for the next read all the same. */
	memmove(d->ibuf, d->ibuf + off, d->ilen - off);
	d->ilen -= off;
}

/* Read the idle pipe until it is empty. */
static void read_idle(struct dispatcher *d)
{
	for (;;) {
		size_t want = sizeof(d->ibuf) - d->ilen;
		ssize_t n = read(pool_idle_fd(d->pool), d->ibuf + d->ilen, want);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				fatal("idle pipe");
			return;
		}
		if (n == 0)
			fatalx("idle pipe: EOF");	/* we hold a write end */
		d->ilen += (size_t)n;
		idle_messages(d);
		if ((size_t)n < want)
			return;		/* a short read: the pipe is empty */
	}
}

/* Scheduled slots whose run_at came: QUEUED, first in line. */
static void due(struct dispatcher *d)
{
	int64_t now = clock_wall_ns(), i;

	while ((i = timers_pop(d->timers, now)) >= 0)
		if (segment_due(d->seg, (uint32_t)i) == 0)
			retry_push(d, (uint32_t)i, 1);
}

/* What a death means for the jobs of its batch: the finished ones are
 * recorded from their slots, the running one fails its attempt (unless we
 * cut it short while stopping), the rest go back first in line, not
 * charged, in their order. */
static void death_jobs(struct dispatcher *d, const struct pool_death *x, int32_t status)
{
	uint32_t k;

	for (k = 0; k < x->finished; k++)
		record(d, x->job[k].slot, x->job[k].job_id,
		    segment_slot(d->seg, x->job[k].slot)->exit_status);
	for (uint32_t u = x->n; u > k + (uint32_t)x->running; u--) {
		(void)held_slot(d, x->job[u - 1].slot, x->job[u - 1].job_id);
		requeue(d, x->job[u - 1].slot, 0);
	}
	if (x->running) {
		struct slot *sl = held_slot(d, x->job[k].slot, x->job[k].job_id);

		if (((d->stopping && x->killed && !x->timed_out) || x->late) &&
		    WIFSIGNALED(x->wstatus) && WTERMSIG(x->wstatus) == SIGKILL) {
			/* We cut it short (stopping, or killing for the
			 * previous job's timeout as that job ended): not the
			 * job's attempt.  QUEUED, first in line.  A worker
			 * that died otherwise (a crash of its own) is
			 * charged below like any other. */
			requeue(d, x->job[k].slot, 0);
			return;
		}
		sl->t_finished = clock_wall_ns();
		sl->exit_status = status;
		fail_attempt(d, x->job[k].slot, sl,
		    x->timed_out ? SLOT_REASON_TIMEOUT : SLOT_REASON_LOST);
	}
}

/* Log a death and settle the jobs of its batch. */
static void handle_deaths(struct dispatcher *d)
{
	struct pool_death x;

	while (pool_next_death(d->pool, &x)) {
		char id[JOBID_STRLEN + 5] = "no job";
		char how[64];
		int32_t status;

		if (WIFSIGNALED(x.wstatus)) {
			status = 128 + WTERMSIG(x.wstatus);
			snprintf(how, sizeof(how), "killed by signal %d (%s)",
			    WTERMSIG(x.wstatus), strsignal(WTERMSIG(x.wstatus)));
		} else {
			status = WEXITSTATUS(x.wstatus);
			snprintf(how, sizeof(how), "exited with status %d", status);
		}
		if (x.running) {
			memcpy(id, "job ", 4);
			jobid_format(x.job[x.finished].job_id, id + 4);
		}
		if (d->stopping || (x.retired && x.n == 0 && status == 0))
			log_debug("worker %" PRIu32 " (pid %ld) %s, %s",
			    x.index, (long)x.pid, how, id);
		else {
			log_warnx("worker %" PRIu32 " (pid %ld) %s, %s",
			    x.index, (long)x.pid, how, id);
			atomic_fetch_add_explicit(&d->h->worker_deaths, 1, memory_order_relaxed);
		}
		death_jobs(d, &x, status);
		/* every new worker died before announcing itself, and a
		 * throttled respawn too: the new generation cannot start */
		if (d->pending && x.rgen == d->rgen && x.throttled &&
		    ++d->pending_deaths > d->cfg.workers)
			reload_undo(d, how);
	}
}

/* Collect deaths, let their last messages in first, then judge them. */
static void reap(struct dispatcher *d, int block)
{
	if (pool_reap(d->pool, block) == 0)
		return;
	read_idle(d);
	handle_deaths(d);
}

/* The next QUEUED slot from the ready ring (with one, from its head entry
 * only), whose delayed (SCHEDULED) slots go to the timers (and canceled
 * ones, in segment_next_ready, to the free ring); one the master canceled
 * between the pop and our look at its state is the master's (it pushes
 * it again for us to free).  -1 none. */
static int64_t next_ready(struct dispatcher *d, int one)
{
	const char *bad;
	long i;

	for (;;) {
		struct slot *sl;
		uint32_t st;

		i = one ? segment_pop_ready(d->seg) : segment_next_ready(d->seg);
		if ((bad = segment_bad_once(d->seg)) != NULL)
			log_warnx("shared memory: %s: dropped (later bad values are dropped "
			    "silently)", bad);
		if (i < 0)
			return -1;
		sl = segment_slot(d->seg, (uint32_t)i);
		st = atomic_load_explicit(&sl->state, memory_order_acquire);
		if (st == SLOT_QUEUED)
			return i;
		if (st == SLOT_SCHEDULED)
			(void)timers_push(d->timers, (uint32_t)i, sl->run_at);
		if (one)
			return -1;
	}
}

/* Next slot to run: the retry list first, then the ready ring.  -1 none. */
static int64_t next_job(struct dispatcher *d)
{
	long i;

	if (d->retry_n > 0) {
		i = d->retry[d->retry_head];
		d->retry_head = (d->retry_head + 1) % d->cap;
		d->retry_n--;
		return i;
	}
	return next_ready(d, 0);
}

/* No worker is idle: still take from the head of the ready ring what
 * needs none, canceled slots (freed: a cancel does not wait for a
 * worker) and delayed jobs (into the timers), one entry at a time, up to
 * the first job to run, which stays there (it can still be canceled). */
static void skim_ready(struct dispatcher *d)
{
	uint32_t i;
	int64_t j;

	while (ring_peek(d->ready, &i) == 0) {
		if (i < d->cap) {
			struct slot *sl = segment_slot(d->seg, i);

			if (atomic_load(&sl->state) == SLOT_QUEUED &&
			    !(atomic_load(&sl->rings) & SLOT_CANCELING))
				return;
		}
		/* QUEUED only if it changed since we looked: first in line */
		if ((j = next_ready(d, 1)) >= 0)
			retry_push(d, (uint32_t)j, 0);
	}
}

/* segment_on_pop: a slot the ready ring names is not in our timers (a
 * canceled one we held must not fire once it is reused). */
static void forget(void *arg, uint32_t i)
{
	struct dispatcher *d = arg;

	(void)timers_remove(d->timers, i);
}

/* The size of the next batch: a fair share of the queue, at most
 * PROTO_BATCH.  Shared among all the pool's workers, ceil(queued /
 * workers), a queue no longer than the pool is never batched: no job
 * waits behind another while a busy worker is about to be idle.  Only
 * while jobs run shorter than SHORT_JOB_NS (a moving average) is it
 * shared among as many idle workers as there are CPUs, and a batch gets
 * up to SHORT_JOB_NS of work before another worker is woken, for bigger
 * batches: waiting behind such jobs costs less than a wake-up (a worker's
 * and the dispatcher's, at its report), and more batches at once than
 * CPUs run no sooner. */
static uint32_t batch_size(struct dispatcher *d)
{
	unsigned workers = d->cfg.workers, idle = pool_count(d->pool, POOL_IDLE);
	uint32_t queued = atomic_load_explicit(&d->h->queued, memory_order_relaxed), n;
	uint32_t waiting = timers_count(d->timers);	/* counted queued, not ready */

	queued = queued > waiting ? queued - waiting : 0;

	if (d->run_ns < SHORT_JOB_NS)
		workers = idle < d->ncpu ? idle : d->ncpu;
	else if (workers < idle)
		workers = idle;
	n = (uint32_t)((queued + (uint64_t)workers - 1) / workers);
	if (d->run_ns < SHORT_JOB_NS) {
		/* another worker only for more than SHORT_JOB_NS of work */
		uint64_t least = SHORT_JOB_NS / ((uint64_t)d->run_ns + 1);

		if (n < least)
			n = least < queued ? (uint32_t)least : queued;
	}
	return n == 0 ? 1 : n > PROTO_BATCH ? PROTO_BATCH : n;
}

/* Hand queued jobs to idle workers, a batch each. */
static void assign(struct dispatcher *d)
{
	int64_t timeout = (int64_t)d->cfg.job_timeout * 1000000000;

	while (pool_count(d->pool, POOL_IDLE) > 0) {
		struct proto_job job[PROTO_BATCH];
		uint32_t want = batch_size(d), n = 0;
		pid_t pid;
		int w;

		while (n < want) {
			int64_t j = next_job(d);
			struct slot *sl;

			if (j < 0)
				break;
			sl = segment_slot(d->seg, (uint32_t)j);
			if (sl->attempts >= d->cfg.max_attempts) {
				char id[JOBID_STRLEN + 1];

				jobid_format(sl->id, id);
				log_warnx("job %s failed: %" PRIu32 " attempts already made",
				    id, sl->attempts);
				sl->exit_status = -1;
				sl->reason = SLOT_REASON_LOST;
				sl->t_finished = clock_wall_ns();
				finish(d, (uint32_t)j, SLOT_FAILED);
				continue;
			}
			job[n++] = (struct proto_job){ .slot = (uint32_t)j, .job_id = sl->id };
		}
		if (n == 0)
			return;
		w = pool_take_idle(d->pool);
		pid = pool_pid(d->pool, (uint32_t)w);
		for (uint32_t k = 0; k < n; k++) {
			if (segment_run(d->seg, job[k].slot, pid) == -1)
				fatalx("slot %" PRIu32 " is not queued", job[k].slot);
			job[k].attempt = segment_slot(d->seg, job[k].slot)->attempts;
		}
		/* A failed write reached no worker (it had just died): not an
		 * attempt; QUEUED again, first in line, in order. */
		if (pool_assign(d->pool, (uint32_t)w, job, n, timeout) == -1)
			for (uint32_t k = n; k-- > 0;)
				requeue(d, job[k].slot, 0);
	}
}

/* Live workers of the current generation (a pending reload's: the old
 * one serves meanwhile, not retired). */
static unsigned current_workers(struct dispatcher *d)
{
	return d->pending ? pool_count_gen(d->pool, d->rgen) : pool_count(d->pool, POOL_CURRENT);
}

/* Fork the workers the current generation is missing. */
static void spawn(struct dispatcher *d)
{
	unsigned have = current_workers(d), allowed;

	if (d->closing || d->stopping || have >= d->cfg.workers)
		return;
	allowed = pool_spawn_allowed(d->pool, clock_mono_ns());
	for (; have < d->cfg.workers && allowed > 0; have++, allowed--)
		if (pool_spawn(d->pool, &d->cfg, d->rgen) == -1)
			return;
}

/* Stop taking work: close every job pipe; exit once all are reaped. */
static void start_closing(struct dispatcher *d, const char *why)
{
	unsigned busy = atomic_load(&d->h->running);

	if (d->closing)
		return;
	log_info("%s: finishing %u running job%s, then exiting", why, busy, plural(busy));
	d->closing = 1;
	d->pending = 0;
	pool_retire_all(d->pool);
}

/* Free what we hold and exit. */
static _Noreturn void finish_exit(struct dispatcher *d, int code)
{
	pool_destroy(d->pool);
	free(d->retry);
	timers_free(d->timers);
	free(d);
	exit(code);
}

/* CTL_STOP / SIGTERM: kill everything, reap, exit 0. */
static _Noreturn void stop(struct dispatcher *d)
{
	unsigned live = pool_count(d->pool, POOL_LIVE);

	d->stopping = 1;
	log_info("stopping: killing %u worker%s", live, plural(live));
	pool_kill_all(d->pool);
	while (pool_count(d->pool, POOL_LIVE) > 0) {
		if (pool_reap(d->pool, 1) == 0) {
			live = pool_count(d->pool, POOL_LIVE);
			log_warnx("%u worker%s cannot be reaped", live, plural(live));
			break;
		}
		read_idle(d);	/* results that made it count */
		handle_deaths(d);
	}
	finish_exit(d, 0);
}

/* CTL_CONFIG: a new worker generation with the new settings.  The
 * generation serving keeps serving until a new worker announces itself
 * (reload_done) or the new ones cannot start (reload_undo).  A reload
 * while one is pending replaces it: its workers are retired. */
static void reload(struct dispatcher *d, const struct config *c)
{
	if (strcmp(c->log, d->cfg.log) != 0 && log_open(c->log, c->log_level) == -1)
		log_warn("reload: log %s", c->log);
	log_set_level(c->log_level);
	if (d->pending)
		pool_retire(d->pool, d->old_rgen);
	else {
		d->old = d->cfg;
		d->old_rgen = d->rgen;
	}
	d->cfg = *c;
	if (d->cfg.max_attempts == 0)
		d->cfg.max_attempts = 1;
	d->rgen = ++d->gens;
	d->pending = 1;
	d->pending_deaths = 0;
	log_info("reload: generation %" PRIu32 ", %u worker%s, handler \"%s\"; generation %"
	    PRIu32 " serves until it starts", d->rgen, d->cfg.workers, plural(d->cfg.workers),
	    d->cfg.handler, d->old_rgen);
	pool_throttle_reset(d->pool);
	d->run_ns = UNKNOWN_RUN_NS;	/* a new handler */
}

/* One message from the control pipe. */
static void read_ctl(struct dispatcher *d)
{
	struct msg_ctl m;
	int r = proto_read(d->ctl_fd, &m, sizeof(m));

	if (r != 1) {
		if (r == -1)
			log_warn("control pipe");
		close(d->ctl_fd);
		d->ctl_fd = -1;
		start_closing(d, "master gone (control pipe closed)");
		return;
	}
	switch (m.type) {
	case CTL_CONFIG: {
		struct config *c = malloc(sizeof(*c));
		char skip[512];

		if (c != NULL && m.len == sizeof(*c) && proto_read(d->ctl_fd, c, sizeof(*c)) == 1) {
			reload(d, c);
			free(c);
			return;
		}
		free(c);
		log_warnx("CTL_CONFIG of %" PRIu32 " bytes, want %zu: ignored", m.len, sizeof(*c));
		for (uint32_t left = m.len; left > 0;) {
			size_t n = left < sizeof(skip) ? left : sizeof(skip);

			if (proto_read(d->ctl_fd, skip, n) != 1)
				break;
			left -= (uint32_t)n;
		}
		return;
	}
	case CTL_DRAIN:
		log_info("draining");
		d->draining = 1;
		return;
	case CTL_STOP:
		stop(d);
	default:
		log_warnx("control message type %" PRIu32 ": ignored", m.type);
	}
}

/* Empty the doorbell; EOF means the master is gone. */
static void read_doorbell(struct dispatcher *d)
{
	char buf[64];

	for (;;) {
		ssize_t n = read(d->doorbell_fd, buf, sizeof(buf));

		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0) {
			close(d->doorbell_fd);
			d->doorbell_fd = -1;
			start_closing(d, "master gone (doorbell closed)");
		} else if (errno != EAGAIN)
			log_warn("doorbell");
		return;
	}
}

/* Milliseconds until a CLOCK_MONOTONIC deadline (0 none -> -1). */
static int timeout_ms(int64_t deadline)
{
	int64_t left;

	if (deadline == 0)
		return -1;
	left = deadline - clock_mono_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 60000 ? 60000 : (int)left;
}

/* Sleep in poll() until something happens; set the doorbell flag first
 * when an idle worker waits for work. */
static void wait_events(struct dispatcher *d)
{
	int want_spawn = !d->closing && current_workers(d) < d->cfg.workers;
	int timeout = timeout_ms(pool_next_event(d->pool, want_spawn));
	int sleeping = 0, n;
	struct pollfd p[4] = {
		{ .fd = pool_idle_fd(d->pool), .events = POLLIN },
		{ .fd = d->sig_r, .events = POLLIN },
		{ .fd = d->doorbell_fd, .events = POLLIN },
		{ .fd = d->ctl_fd, .events = POLLIN },
	};

	if (timeout < 0 || timeout > BEAT_MS)
		timeout = BEAT_MS;
	if (timers_count(d->timers) > 0) {
		int64_t left = timers_next(d->timers) - clock_wall_ns();

		if (left < (int64_t)timeout * 1000000)
			timeout = left > 0 ? (int)((left + 999999) / 1000000) : 0;
	}
	if (!d->closing && d->retry_n == 0 && pool_count(d->pool, POOL_IDLE) > 0) {
		atomic_store(&d->h->dispatcher_sleeping, 1);
		atomic_thread_fence(memory_order_seq_cst);
		if (ring_count(d->ready) > 0) {
			atomic_store(&d->h->dispatcher_sleeping, 0);
			return;
		}
		sleeping = 1;
	}
	n = poll(p, 4, timeout);
	if (sleeping)
		atomic_store(&d->h->dispatcher_sleeping, 0);
	if (n == -1) {
		if (errno != EINTR)
			fatal("poll");
		return;
	}
	if (p[1].revents != 0) {
		char buf[64];

		while (read(d->sig_r, buf, sizeof(buf)) > 0)
			;
	}
	if (p[2].revents != 0)
		read_doorbell(d);
	if (p[3].revents != 0)
		read_ctl(d);
}

/* The heartbeat /healthz reads: this loop ran, and saw a worker alive. */
static void beat(struct dispatcher *d)
{
	int64_t now = clock_mono_ns();

	atomic_store_explicit(&d->h->dispatcher_beat, now, memory_order_relaxed);
	if (pool_count(d->pool, POOL_IDLE) + pool_count(d->pool, POOL_BUSY) > 0)
		atomic_store_explicit(&d->h->worker_seen, now, memory_order_relaxed);
}

/* Set up the process and its state. */
static struct dispatcher *setup(const struct config *c, struct segment *seg,
    int doorbell_fd, int ctl_fd)
{
	struct dispatcher *d = calloc(1, sizeof(*d));
	char err[256];
	int keep[] = { doorbell_fd, ctl_fd, segment_fd(seg) };

	child_setup("dispatcher", keep, sizeof(keep) / sizeof(keep[0]));
	child_sched_batch();
	if (d == NULL)
		fatalx("out of memory");
	if ((d->sig_r = setup_signals()) == -1)
		fatal("signals");
	d->cfg = *c;
	if (d->cfg.max_attempts == 0)
		d->cfg.max_attempts = 1;
	d->run_ns = UNKNOWN_RUN_NS;
	d->ncpu = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? (unsigned)sysconf(_SC_NPROCESSORS_ONLN) : 1;
	d->seg = seg;
	d->h = segment_header(seg);
	d->ready = segment_ready(seg);
	d->freer = segment_free(seg);
	d->cap = segment_capacity(seg);
	d->doorbell_fd = doorbell_fd;
	d->ctl_fd = ctl_fd;
	if (fd_nonblock(doorbell_fd, 1) == -1)
		fatal("doorbell");
	if ((d->retry = calloc(d->cap, sizeof(*d->retry))) == NULL ||
	    (d->timers = timers_create(d->cap)) == NULL)
		fatalx("out of memory");
	/* the scheduled jobs recovery kept (a dispatcher crash, a restart);
	 * not those the master published since, on the ready ring (its
	 * ON_READY is set before the state: segment_publish) */
	for (uint32_t i = 0; i < d->cap; i++) {
		struct slot *sl = segment_slot(seg, i);

		if (atomic_load(&sl->state) == SLOT_SCHEDULED &&
		    !(atomic_load(&sl->rings) & SLOT_ON_READY))
			(void)timers_push(d->timers, i, sl->run_at);
	}
	d->rnd = ((uint64_t)clock_mono_ns() ^ (uint64_t)getpid() << 32) | 1;
	segment_on_pop(seg, forget, d);
	if ((d->pool = pool_create(seg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	handler_clean(&d->cfg);		/* no worker of ours runs yet */
	/* workers get as long to start as a stalled loop to be noticed */
	atomic_store(&d->h->worker_seen, clock_mono_ns());
	return d;
}

void dispatcher_run(const struct config *c, struct segment *seg, int doorbell_fd, int ctl_fd)
{
	struct dispatcher *d = setup(c, seg, doorbell_fd, ctl_fd);

	log_info("started: %u worker%s, handler \"%s\"", d->cfg.workers,
	    plural(d->cfg.workers), d->cfg.handler);
	for (;;) {
		beat(d);
		if (log_reopen_if(atomic_load(&segment_header(d->seg)->log_generation)) == -1 ||
		    (got_usr1 && log_reopen() == -1))
			log_warn("reopening the log");
		got_usr1 = 0;
		if (got_term) {
			got_term = 0;
			stop(d);
		}
		if (got_chld) {
			got_chld = 0;
			reap(d, 0);
		}
		read_idle(d);
		pool_expire(d->pool, clock_mono_ns());
		spawn(d);
		due(d);
		if (!d->closing) {
			assign(d);
			if (pool_count(d->pool, POOL_IDLE) == 0)
				skim_ready(d);
		}
		if (d->draining && !d->closing && d->retry_n == 0 &&
		    ring_count(d->ready) == 0 && pool_count(d->pool, POOL_BUSY) == 0)
			start_closing(d, "drained");
		if (d->closing && pool_count(d->pool, POOL_LIVE) == 0) {
			log_info("all workers gone: exiting");
			finish_exit(d, 0);
		}
		wait_events(d);
	}
}
