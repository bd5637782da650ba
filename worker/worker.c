/*
 * worker — one worker process: set up, then announce / read / run until
 * EOF on the job pipe (see worker.h).
 *
 * The worker only reads the slot (payload and length); every result is
 * written by the dispatcher from the status the worker announces, so a
 * worker that dies mid-job leaves nothing half-written in shared memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/child.h"
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

void worker_run(const struct worker_args *a)
{
	struct msg_idle m;
	struct msg_assign job;
	struct handler *h;
	char err[256];
	uint32_t cap = segment_capacity(a->seg);
	long len;

	setup(a);
	if ((h = handler_create(a->cfg, err, sizeof(err))) == NULL) {
		log_errorx("handler \"%s\": %s", a->cfg->handler, err);
		_exit(1);
	}
	memset(&m, 0, sizeof(m));
	m.index = a->index;
	m.pid = (int32_t)getpid();
	m.gen = a->gen;
	m.slot = PROTO_NO_SLOT;
	for (;;) {
		struct handler_job j;
		struct slot *sl;
		int r;

		if (proto_write(a->idle_fd, &m, sizeof(m)) == -1) {
			log_warn("idle pipe");
			_exit(1);
		}
		r = proto_read(a->job_fd, &job, sizeof(job));
		if (r == 0)
			_exit(0);	/* retired: the dispatcher closed our pipe */
		if (r == -1) {
			log_warn("job pipe");
			_exit(1);
		}
		if (log_reopen_if(atomic_load(&segment_header(a->seg)->log_generation)) == -1)
			log_warn("reopening the log");
		if (job.slot >= cap)
			fatalx("assignment for slot %u of %u", job.slot, cap);
		sl = segment_slot(a->seg, job.slot);
		j.id = job.job_id;
		j.attempt = job.attempt;
		j.payload = sl->payload;
		m.slot = job.slot;
		m.job_id = job.job_id;
		if ((len = segment_payload_len(a->seg, job.slot)) < 0) {
			const char *bad = segment_bad_once(a->seg);

			if (bad != NULL)
				log_warnx("shared memory: %s: job failed (later bad values fail jobs silently)", bad);
			m.status = -1;
			continue;
		}
		j.len = (size_t)len;
		m.status = handler_run(h, &j);
	}
}
