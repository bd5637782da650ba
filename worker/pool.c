/*
 * pool — fork, reap and account for the workers (see pool.h).
 *
 * The table has one entry per scoreboard entry; an entry is EMPTY, or holds
 * one worker process: STARTING (forked, not yet announced), IDLE, BUSY, or
 * DEAD (reaped, waiting for pool_next_death).  Retirement is a flag on top
 * of the state: the job pipe is closed, the worker finishes its job and
 * exits at EOF.  Idle workers are kept on an intrusive LIFO list: the most
 * recently idle worker gets the next job, its pages and caches are warm.
 *
 * The throttle: a worker that dies before it completed a job (and that we
 * neither killed nor retired) may mean the handler or the environment is
 * broken.  Respawning then goes one worker at a time with a delay (struct
 * backoff) that starts at THROTTLE_MIN and doubles up to THROTTLE_MAX.
 * Reset policy: one completed job anywhere (the handler works) or a reload
 * (pool_throttle_reset: a new handler deserves a fresh start) resets it.
 * Only a death of a worker spawned after the last step raises the delay
 * again, so N workers dying together count once.  The first step is not
 * news (an operator may have killed an idle worker); the warning is logged
 * from the second on, when a throttled respawn died too.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/child.h"
#include "common/clock.h"
#include "common/fd.h"
#include "common/log.h"
#include "worker/pool.h"
#include "worker/worker.h"

#define THROTTLE_MIN	(100 * 1000000LL)	/* ns */
#define THROTTLE_MAX	(5000 * 1000000LL)
#define SPAWN_RETRY	(1000 * 1000000LL)	/* after a failed fork */
#define NONE		(-1)

enum wstate { W_EMPTY, W_STARTING, W_IDLE, W_BUSY, W_DEAD };

struct entry {
	enum wstate state;
	pid_t pid;
	uint32_t gen;		/* spawn serial */
	uint32_t rgen;		/* reload generation */
	int job_fd;		/* write end; -1 once retired */
	int retired;
	int timed_out;
	int killed;		/* by us: timeout or shutdown */
	uint32_t timed_at;	/* timed_out: progress then (the job's index) */
	int listed;		/* on the idle list */
	int wstatus;		/* W_DEAD: from waitpid */
	uint32_t n, reported;	/* the batch; busy while reported < n */
	struct proto_job job[PROTO_BATCH];
	int64_t timeout;	/* ns per job, 0 = none */
	int64_t spawned;	/* CLOCK_MONOTONIC */
	uint64_t jobs_done;
	int32_t prev, next;	/* idle list */
};

struct pool {
	struct segment *seg;
	pid_t self;
	int idle_r, idle_w;
	uint32_t serial;		/* last spawn serial */
	uint32_t high;			/* entries [high, ...) are all EMPTY */
	unsigned live, busy, idle, retired, deadlines;
	int32_t idle_head;
	struct backoff backoff;
	int64_t respawn_at, stepped_at;
	uint32_t dead[SEG_SCORE_COUNT];	/* collected deaths, FIFO */
	uint32_t dead_head, dead_n;
	struct entry e[SEG_SCORE_COUNT];
};

struct pool *pool_create(struct segment *seg, char *err, size_t errlen)
{
	struct pool *p = calloc(1, sizeof(*p));
	int fds[2];

	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (fd_pipe(fds, 0) == -1) {
		snprintf(err, errlen, "idle pipe: %s", strerror(errno));
		free(p);
		return NULL;
	}
	/* Only the read end is non-blocking: a worker whose report finds the
	 * pipe full blocks until we read (each report is one atomic write). */
	if (fd_nonblock(fds[0], 1) == -1) {
		snprintf(err, errlen, "idle pipe: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(p);
		return NULL;
	}
	p->seg = seg;
	p->self = getpid();
	p->idle_r = fds[0];
	p->idle_w = fds[1];
	p->idle_head = NONE;
	backoff_init(&p->backoff, THROTTLE_MIN, THROTTLE_MAX);
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
		p->e[i].job_fd = -1;
		p->e[i].prev = p->e[i].next = NONE;
	}
	return p;
}

void pool_destroy(struct pool *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < p->high; i++)
		if (p->e[i].job_fd != -1)
			close(p->e[i].job_fd);
	close(p->idle_r);
	close(p->idle_w);
	free(p);
}

int pool_idle_fd(const struct pool *p)
{
	return p->idle_r;
}

/* Put entry i at the head of the idle list. */
static void idle_push(struct pool *p, uint32_t i)
{
	struct entry *e = &p->e[i];

	e->listed = 1;
	e->prev = NONE;
	e->next = p->idle_head;
	if (p->idle_head != NONE)
		p->e[p->idle_head].prev = (int32_t)i;
	p->idle_head = (int32_t)i;
	p->idle++;
}

/* Take entry i off the idle list. */
static void idle_remove(struct pool *p, uint32_t i)
{
	struct entry *e = &p->e[i];

	if (!e->listed)
		return;
	e->listed = 0;
	if (e->prev != NONE)
		p->e[e->prev].next = e->next;
	else
		p->idle_head = e->next;
	if (e->next != NONE)
		p->e[e->next].prev = e->prev;
	e->prev = e->next = NONE;
	p->idle--;
}

static void retire(struct pool *p, uint32_t i);

/* Publish an entry's state on the scoreboard. */
static void score_set(struct pool *p, uint32_t i, enum score_state st, uint64_t job_id)
{
	struct score *sc = segment_score(p->seg, i);

	atomic_store_explicit(&sc->job_id, job_id, memory_order_relaxed);
	atomic_store_explicit(&sc->state, st, memory_order_release);
}

int pool_spawn(struct pool *p, const struct config *c, uint32_t rgen)
{
	struct worker_args a;
	struct entry *e;
	struct score *sc;
	sigset_t all, old;
	uint32_t i;
	int jp[2];
	pid_t pid;

	for (i = 0; i < SEG_SCORE_COUNT && p->e[i].state != W_EMPTY; i++)
		;
	if (i == SEG_SCORE_COUNT)
		return -1;
	if (fd_pipe(jp, 0) == -1) {
		log_warn("job pipe for worker %u", i);
		p->respawn_at = clock_mono_ns() + SPAWN_RETRY;
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.index = i;
	a.gen = ++p->serial;
	a.job_fd = jp[0];
	a.idle_fd = p->idle_w;
	a.parent = p->self;
	a.seg = p->seg;
	a.cfg = c;
	/* No dispatcher signal handler may run in the child before it resets
	 * them: block everything across the fork. */
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, &old) == -1)
		fatal("sigprocmask");
	pid = fork();
	if (pid == 0)
		worker_run(&a);
	if (sigprocmask(SIG_SETMASK, &old, NULL) == -1)
		fatal("sigprocmask");
	close(jp[0]);
	if (pid == -1) {
		log_warn("fork worker %u", i);
		close(jp[1]);
		p->respawn_at = clock_mono_ns() + SPAWN_RETRY;
		return -1;
	}
	e = &p->e[i];
	memset(e, 0, sizeof(*e));
	e->state = W_STARTING;
	e->pid = pid;
	e->gen = a.gen;
	e->rgen = rgen;
	e->job_fd = jp[1];
	e->spawned = clock_mono_ns();
	e->prev = e->next = NONE;
	if (i >= p->high)
		p->high = i + 1;
	p->live++;
	if (backoff_delay(&p->backoff) > 0)
		p->respawn_at = e->spawned + backoff_delay(&p->backoff);	/* one per step */
	sc = segment_score(p->seg, i);
	atomic_store(&sc->pid, pid);
	atomic_store(&sc->jobs_done, 0);
	sc->generation = rgen;
	score_set(p, i, SCORE_STARTING, 0);
	log_debug("worker %u spawned, pid %ld, serial %" PRIu32, i, (long)pid, a.gen);
	return (int)i;
}

int pool_idle(struct pool *p, const struct msg_idle *m, struct pool_done *done)
{
	struct entry *e;

	if (m->index >= SEG_SCORE_COUNT || p->e[m->index].state == W_EMPTY ||
	    p->e[m->index].pid != m->pid || p->e[m->index].gen != m->gen) {
		log_debug("stale idle message (worker %" PRIu32 ", pid %" PRId32
		    ", serial %" PRIu32 "): dropped", m->index, m->pid, m->gen);
		return -1;
	}
	e = &p->e[m->index];
	if (m->slot == PROTO_NO_SLOT) {
		if (e->state != W_STARTING) {
			log_debug("worker %" PRIu32 " announced itself twice: dropped", m->index);
			return -1;
		}
		e->state = W_IDLE;
		score_set(p, m->index, e->retired ? SCORE_EXITING : SCORE_IDLE, 0);
		if (!e->retired)
			idle_push(p, m->index);
		return 0;
	}
	/* results come in the order of the batch */
	if ((e->state != W_BUSY && e->state != W_DEAD) || e->reported == e->n ||
	    e->job[e->reported].slot != m->slot || e->job[e->reported].job_id != m->job_id) {
		log_debug("worker %" PRIu32 " reported slot %" PRIu32 " it does not hold: dropped",
		    m->index, m->slot);
		return -1;
	}
	done->slot = m->slot;
	done->job_id = m->job_id;
	done->status = m->status;
	e->jobs_done++;
	atomic_store_explicit(&segment_score(p->seg, m->index)->jobs_done, e->jobs_done,
	    memory_order_relaxed);
	pool_throttle_reset(p);		/* the handler works */
	if (++e->reported < e->n)
		return 1;
	if (e->timeout != 0)
		p->deadlines--;
	e->timeout = 0;
	p->busy--;
	if (e->state == W_DEAD)
		return 1;	/* its death is being handled: result only */
	e->state = W_IDLE;
	score_set(p, m->index, e->retired ? SCORE_EXITING : SCORE_IDLE, 0);
	if (!e->retired && !e->timed_out)
		idle_push(p, m->index);
	return 1;
}

pid_t pool_pid(const struct pool *p, uint32_t i)
{
	return p->e[i].pid;
}

uint32_t pool_rgen(const struct pool *p, uint32_t i)
{
	return p->e[i].rgen;
}

int pool_take_idle(struct pool *p)
{
	int32_t i = p->idle_head;

	if (i == NONE)
		return -1;
	idle_remove(p, (uint32_t)i);
	return i;
}

int pool_assign(struct pool *p, uint32_t i, const struct proto_job *job, uint32_t n,
    int64_t timeout)
{
	struct entry *e = &p->e[i];
	struct score *sc = segment_score(p->seg, i);
	struct msg_assign m = { .n = n };

	if (e->state != W_IDLE || e->retired || e->listed || n == 0 || n > PROTO_BATCH)
		fatalx("assigning %u jobs to worker %u in state %d", n, i, (int)e->state);
	memcpy(m.job, job, n * sizeof(*job));
	memcpy(e->job, job, n * sizeof(*job));
	e->state = W_BUSY;
	e->n = n;
	e->reported = 0;
	e->timeout = timeout;
	if (timeout != 0)
		p->deadlines++;
	p->busy++;
	atomic_store_explicit(&sc->progress, 0, memory_order_relaxed);
	atomic_store_explicit(&sc->job_started, 0, memory_order_relaxed);
	score_set(p, i, SCORE_BUSY, job[0].job_id);
	if (proto_write(e->job_fd, &m, sizeof(m)) == 0)
		return 0;
	/* EPIPE: it died after announcing itself, before its death was
	 * reaped.  The job never reached it: undo, and retire the entry (a
	 * worker alive behind some other error exits at EOF); a replacement
	 * is spawned at once. */
	log_debug("worker %u (pid %ld): job pipe: %s", i, (long)e->pid, strerror(errno));
	if (e->timeout != 0)
		p->deadlines--;
	e->state = W_IDLE;
	e->n = e->reported = 0;
	e->timeout = 0;
	p->busy--;
	retire(p, i);
	return -1;
}

/* The entry of pid among the live ones, or -1. */
static int find_pid(const struct pool *p, pid_t pid)
{
	for (uint32_t i = 0; i < p->high; i++)
		if (p->e[i].pid == pid && p->e[i].state != W_EMPTY && p->e[i].state != W_DEAD)
			return (int)i;
	return -1;
}

unsigned pool_reap(struct pool *p, int block)
{
	unsigned n = 0;

	for (;;) {
		int st, i;
		pid_t pid = waitpid(-1, &st, block && n == 0 ? 0 : WNOHANG);

		if (pid == -1) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_warn("waitpid");
			return n;
		}
		if (pid == 0)
			return n;
		if ((i = find_pid(p, pid)) == -1) {
			log_debug("reaped unknown child %ld", (long)pid);
			continue;
		}
		idle_remove(p, (uint32_t)i);
		p->e[i].state = W_DEAD;
		p->e[i].wstatus = st;
		p->dead[(p->dead_head + p->dead_n++) % SEG_SCORE_COUNT] = (uint32_t)i;
		n++;
	}
}

/* A death before any completed job, not caused by us: throttle. */
static void throttle_step(struct pool *p, const struct entry *e, uint32_t i)
{
	int64_t now = clock_mono_ns(), delay;

	if (e->spawned < p->stepped_at)
		return;		/* spawned before the last step: same cause */
	delay = backoff_step(&p->backoff);
	p->stepped_at = now;
	p->respawn_at = now + delay;
	if (delay > THROTTLE_MIN)
		log_warnx("worker %u died before completing a job, as did the one "
		    "before it: respawning one worker every %" PRId64 " ms until one "
		    "completes a job", i, delay / 1000000);
	else
		log_debug("worker %u died before completing a job: its replacement "
		    "starts in %" PRId64 " ms", i, delay / 1000000);
}

int pool_next_death(struct pool *p, struct pool_death *d)
{
	struct entry *e;
	uint32_t i;

	if (p->dead_n == 0)
		return 0;
	i = p->dead[p->dead_head];
	p->dead_head = (p->dead_head + 1) % SEG_SCORE_COUNT;
	p->dead_n--;
	e = &p->e[i];
	memset(d, 0, sizeof(*d));
	d->index = i;
	d->pid = e->pid;
	d->wstatus = e->wstatus;
	d->timed_out = e->timed_out;
	d->killed = e->killed;
	d->retired = e->retired;
	d->rgen = e->rgen;
	if (e->reported < e->n) {
		struct score *sc = segment_score(p->seg, i);
		uint32_t done = atomic_load_explicit(&sc->progress, memory_order_acquire);

		d->n = e->n - e->reported;
		memcpy(d->job, e->job + e->reported, d->n * sizeof(d->job[0]));
		/* progress counts from the batch's start; trust it no further
		 * than the batch */
		d->finished = done <= e->reported ? 0 : done >= e->n ? d->n : done - e->reported;
		d->running = d->finished < d->n &&
		    atomic_load_explicit(&sc->job_id, memory_order_relaxed) ==
		    d->job[d->finished].job_id;
		/* the timed-out job ended before our kill landed: the one
		 * running then was not it */
		d->late = e->timed_out && done > e->timed_at;
		p->busy--;
		if (e->timeout != 0)
			p->deadlines--;
	}
	if (e->retired)
		p->retired--;
	p->live--;
	if (d->finished > 0)
		pool_throttle_reset(p);		/* it completed a job: the handler works */
	else if (e->jobs_done == 0 && !e->killed && !e->retired) {
		d->throttled = 1;
		throttle_step(p, e, i);
	}
	if (e->job_fd != -1)
		close(e->job_fd);
	memset(e, 0, sizeof(*e));
	e->state = W_EMPTY;
	e->job_fd = -1;
	e->prev = e->next = NONE;
	atomic_store(&segment_score(p->seg, i)->pid, 0);
	score_set(p, i, SCORE_EMPTY, 0);
	while (p->high > 0 && p->e[p->high - 1].state == W_EMPTY)
		p->high--;
	return 1;
}

/* SIGKILL a worker and its job (child_kill). */
static void kill_worker(struct entry *e)
{
	e->killed = 1;
	if (child_kill(e->pid) == -1 && errno != ESRCH)
		log_warn("kill %ld", (long)e->pid);
}

void pool_expire(struct pool *p, int64_t now)
{
	if (p->deadlines == 0)
		return;
	for (uint32_t i = 0; i < p->high; i++) {
		struct entry *e = &p->e[i];
		struct score *sc = segment_score(p->seg, i);
		int64_t started;
		uint32_t done;
		char id[JOBID_STRLEN + 1];

		if (e->state != W_BUSY || e->timeout == 0 || e->timed_out)
			continue;
		/* job_started between two reads of progress: it belongs to
		 * job "done" of the batch (else look again next round) */
		done = atomic_load_explicit(&sc->progress, memory_order_acquire);
		started = atomic_load_explicit(&sc->job_started, memory_order_acquire);
		if (started == 0 || now < started + e->timeout ||
		    atomic_load_explicit(&sc->progress, memory_order_acquire) != done)
			continue;
		jobid_format(atomic_load_explicit(&sc->job_id, memory_order_relaxed), id);
		log_warnx("job %s timed out after %" PRId64 " s, killing worker %ld",
		    id, (now - started + 500000000) / 1000000000, (long)e->pid);
		e->timed_out = 1;
		e->timed_at = done;
		atomic_fetch_add_explicit(&segment_header(p->seg)->job_timeouts, 1,
		    memory_order_relaxed);
		kill_worker(e);
	}
}

/* Close worker i's job pipe: it exits after its job. */
static void retire(struct pool *p, uint32_t i)
{
	struct entry *e = &p->e[i];

	if (e->retired || e->state == W_EMPTY)
		return;
	idle_remove(p, i);
	close(e->job_fd);
	e->job_fd = -1;
	e->retired = 1;
	p->retired++;
	if (e->state != W_DEAD)
		atomic_store_explicit(&segment_score(p->seg, i)->state, SCORE_EXITING,
		    memory_order_release);
}

void pool_retire(struct pool *p, uint32_t rgen)
{
	for (uint32_t i = 0; i < p->high; i++)
		if (p->e[i].rgen != rgen)
			retire(p, i);
}

void pool_retire_all(struct pool *p)
{
	for (uint32_t i = 0; i < p->high; i++)
		retire(p, i);
}

void pool_kill_all(struct pool *p)
{
	for (uint32_t i = 0; i < p->high; i++)
		if (p->e[i].state != W_EMPTY && p->e[i].state != W_DEAD)
			kill_worker(&p->e[i]);
}

void pool_throttle_reset(struct pool *p)
{
	backoff_reset(&p->backoff);
	p->respawn_at = 0;
}

unsigned pool_spawn_allowed(struct pool *p, int64_t now)
{
	if (p->respawn_at != 0 && now < p->respawn_at)
		return 0;
	return backoff_delay(&p->backoff) > 0 ? 1 : UINT_MAX;
}

int64_t pool_next_event(const struct pool *p, int want_spawn)
{
	int64_t next = 0, now = clock_mono_ns();

	/* A respawn time already passed is not an event: what stopped the
	 * spawn then (a full table) ends with a death, which wakes us. */
	if (want_spawn && p->respawn_at > now)
		next = p->respawn_at;

	if (p->deadlines == 0)
		return next;
	for (uint32_t i = 0; i < p->high; i++) {
		const struct entry *e = &p->e[i];
		int64_t started, deadline;

		if (e->state != W_BUSY || e->timeout == 0 || e->timed_out)
			continue;
		/* between two jobs of its batch: look again a timeout later */
		started = atomic_load_explicit(&segment_score(p->seg, i)->job_started,
		    memory_order_relaxed);
		deadline = (started != 0 ? started : now) + e->timeout;
		if (next == 0 || deadline < next)
			next = deadline;
	}
	return next;
}

unsigned pool_count(const struct pool *p, enum pool_count_what what)
{
	switch (what) {
	case POOL_LIVE:
		return p->live;
	case POOL_BUSY:
		return p->busy;
	case POOL_IDLE:
		return p->idle;
	case POOL_CURRENT:
		return p->live - p->retired;
	}
	return 0;
}

unsigned pool_count_gen(const struct pool *p, uint32_t rgen)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < p->high; i++)
		n += p->e[i].rgen == rgen && !p->e[i].retired &&
		    p->e[i].state != W_EMPTY && p->e[i].state != W_DEAD;
	return n;
}
