/*
 * worker — one worker process: set up, then announce / read / run until
 * EOF on the job pipe (see worker.h).
 *
 * Of a slot the worker reads the payload and its length and writes only
 * t_started, t_finished, exit_status, a failure's reason (exit or
 * signal, as the handler tells) and its output (output_len and the
 * bytes after the payload); the state and the counters are the
 * dispatcher's, from the results the worker reports.  A job's result is in
 * its slot before the job is counted in the scoreboard's progress, so the
 * results of a worker that died mid-batch are known (see pool.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/child.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/proto.h"
#include "worker/handler.h"
#include "worker/worker.h"

/* Default dispositions for every signal but SIGPIPE (ignored: a program
 * that stops reading its stdin gives EPIPE), then an empty mask. */
static void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int s = 1; s < NSIG; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		(void)sigaction(s, &sa, NULL);	/* EINVAL for the RT ones libc keeps */
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction SIGPIPE");
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		fatal("sigprocmask");
}

/* Process hygiene right after fork: group, parent death, fds, signals. */
static void setup(const struct worker_args *a)
{
	int keep[] = { a->job_fd, a->idle_fd, segment_fd(a->seg) };
	char role[32];

	snprintf(role, sizeof(role), "worker %u", a->index);
	child_setup(role, keep, sizeof(keep) / sizeof(keep[0]));
	/* Own group: killpg(pid) takes the exec child along. */
	if (setpgid(0, 0) == -1)
		fatal("setpgid");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != a->parent)
		_exit(1);	/* the dispatcher died before the prctl */
	reset_signals();
}

/* Run one job of a batch, its result into its slot and into *m. */
static void run_one(const struct worker_args *a, struct handler *h, struct score *sc,
    const struct proto_job *job, struct msg_idle *m)
{
	uint32_t cap = segment_capacity(a->seg);
	struct handler_job j;
	struct slot *sl;
	long len;

	if (job->slot >= cap)
		fatalx("assignment for slot %u of %u", job->slot, cap);
	sl = segment_slot(a->seg, job->slot);
	m->slot = job->slot;
	m->job_id = job->job_id;
	atomic_store_explicit(&sc->job_id, job->job_id, memory_order_relaxed);
	atomic_store_explicit(&sc->job_started, clock_mono_ns(), memory_order_relaxed);
	sl->t_started = clock_wall_ns();
	if ((len = segment_payload_len(a->seg, job->slot)) < 0) {
		const char *bad = segment_bad_once(a->seg);

		if (bad != NULL)
			log_warnx("shared memory: %s: job failed (later bad values fail jobs silently)", bad);
		m->status = -1;
	} else {
		j.id = job->job_id;
		j.attempt = job->attempt;
		j.payload = segment_payload(a->seg, job->slot);
		j.len = (size_t)len;
		j.output = segment_output(a->seg, job->slot, NULL);
		j.output_max = segment_max_output(a->seg);
		sl->output_len = 0;
		m->status = handler_run(h, &j);
		sl->output_len = (uint32_t)j.output_len;
		/* a failure's kind, for the dispatcher (reported after it) */
		if (m->status != 0)
			sl->reason = j.signal != 0 ? SLOT_REASON_SIGNAL : SLOT_REASON_EXIT;
	}
	sl->t_finished = clock_wall_ns();
	sl->exit_status = m->status;
	atomic_store_explicit(&sc->job_started, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&sc->progress, 1, memory_order_release);
}

void worker_run(const struct worker_args *a)
{
	struct msg_idle out[PROTO_BATCH];
	struct msg_assign batch;
	struct handler *h;
	struct score *sc = segment_score(a->seg, a->index);
	char err[256];
	uint32_t n = 1;

	setup(a);
	if ((h = handler_create(a->cfg, err, sizeof(err))) == NULL) {
		log_errorx("handler \"%s\": %s", a->cfg->handler, err);
		_exit(1);
	}
	memset(out, 0, sizeof(out));
	for (uint32_t k = 0; k < PROTO_BATCH; k++) {
		out[k].index = a->index;
		out[k].pid = (int32_t)getpid();
		out[k].gen = a->gen;
	}
	out[0].slot = PROTO_NO_SLOT;
	for (;;) {
		int r;

		/* all results in one write: atomic, as n <= PROTO_BATCH */
		if (proto_write(a->idle_fd, out, n * sizeof(out[0])) == -1) {
			log_warn("idle pipe");
			_exit(1);
		}
		r = proto_read(a->job_fd, &batch, sizeof(batch));
		if (r == 0)
			_exit(0);	/* retired: the dispatcher closed our pipe */
		if (r == -1) {
			log_warn("job pipe");
			_exit(1);
		}
		if (batch.n == 0 || batch.n > PROTO_BATCH)
			fatalx("assignment of %u jobs", batch.n);
		if (log_reopen_if(atomic_load(&segment_header(a->seg)->log_generation)) == -1)
			log_warn("reopening the log");
		n = batch.n;
		for (uint32_t k = 0; k < n; k++)
			run_one(a, h, sc, &batch.job[k], &out[k]);
	}
}
