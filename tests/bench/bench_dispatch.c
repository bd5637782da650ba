/*
 * bench_dispatch — noop jobs per second through ready ring -> dispatcher ->
 * workers -> free ring, beside a raw pipe pool measured in the same run.
 *
 * raw pool:   W forked processes announce "idle" on one shared pipe and
 *             read a job (one struct proto_job) from their own pipe; the
 *             parent answers each idle message with a job.  The floor for
 *             a pool that sends one job per message: two pipe writes, two
 *             reads and two wake-ups per job.
 * dispatcher: the real dispatcher_run() with W noop workers, batching the
 *             jobs (proto.h) when the queue is longer than the pool; this
 *             process
 *             plays the master: reserve + enqueue + doorbell, and reclaims
 *             finished slots from the free ring (sleeping 50 us when it
 *             has nothing to do, as an idle HTTP loop would be in epoll).
 *
 * Each is run three times, alternating; the best of each is compared.
 *   usage: bench_dispatch [JOBS] [WORKERS]   (defaults 200000, 4)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/segment.h"
#include "worker/dispatcher.h"

#define MAXW 64

/* Sleep some microseconds. */
static void usleep_ns(long ns)
{
	struct timespec ts = { 0, ns };

	nanosleep(&ts, NULL);
}

/* One raw-pool worker: announce, read a job, repeat until EOF. */
static _Noreturn void raw_worker(uint32_t index, int idle_w, int job_r)
{
	struct msg_idle m = { .index = index, .pid = (int32_t)getpid(), .slot = PROTO_NO_SLOT };
	struct proto_job a;

	for (;;) {
		if (proto_write(idle_w, &m, sizeof(m)) == -1)
			_exit(1);
		if (proto_read(job_r, &a, sizeof(a)) != 1)
			_exit(0);
		m.slot = a.slot;
		m.job_id = a.job_id;
	}
}

/* Jobs per second through the raw pool. */
static double raw_pool(unsigned jobs, unsigned nw)
{
	int idle[2], job[MAXW][2];
	pid_t pid[MAXW];
	struct msg_idle buf[64];
	unsigned sent = 0, done = 0;
	int64_t t0;

	if (fd_pipe(idle, 0) == -1)
		fatal("pipe");
	for (unsigned w = 0; w < nw; w++) {
		if (fd_pipe(job[w], 0) == -1)
			fatal("pipe");
		if ((pid[w] = fork()) == -1)
			fatal("fork");
		if (pid[w] == 0) {
			int keep[2] = { idle[1], job[w][0] };

			if (fd_keep_only(keep, 2) == -1)
				_exit(1);
			raw_worker(w, idle[1], job[w][0]);
		}
		close(job[w][0]);
	}
	close(idle[1]);
	t0 = clock_mono_ns();
	while (done < jobs) {
		ssize_t n = read(idle[0], buf, sizeof(buf));

		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			fatal("raw pool: idle pipe");
		}
		for (size_t k = 0; k < (size_t)n / sizeof(buf[0]); k++) {
			struct proto_job a = { .slot = sent, .attempt = 1, .job_id = sent + 1 };

			if (buf[k].slot != PROTO_NO_SLOT)
				done++;
			if (sent < jobs) {
				if (proto_write(job[buf[k].index][1], &a, sizeof(a)) == -1)
					fatal("raw pool: job pipe");
				sent++;
			}
		}
	}
	t0 = clock_mono_ns() - t0;
	for (unsigned w = 0; w < nw; w++)
		close(job[w][1]);
	for (unsigned w = 0; w < nw; w++)
		waitpid(pid[w], NULL, 0);
	close(idle[0]);
	return jobs / (t0 / 1e9);
}

/* Jobs per second through the dispatcher. */
static double dispatch(unsigned jobs, unsigned nw)
{
	enum { CAP = 1024 };
	struct segment *seg;
	struct seg_header *h;
	struct config c;
	char name[64], err[256];
	int door[2], ctl[2], st;
	unsigned sent = 0, idle_loops = 0;
	uint64_t base;
	int64_t t0;
	pid_t pid;

	snprintf(name, sizeof(name), "/jobqd-bench-%ld", (long)getpid());
	segment_unlink(name);
	if (segment_open(name, CAP, 64, 0, geteuid(), &seg, err, sizeof(err)) != SEG_CREATED)
		fatalx("segment: %s", err);
	h = segment_header(seg);
	memset(&c, 0, sizeof(c));
	c.workers = nw;
	c.queue = CAP;
	c.max_payload = 64;
	c.handler_kind = HANDLER_NOOP;
	strcpy(c.handler, "noop");
	c.max_attempts = 3;
	c.log_level = LOG_LEVEL_WARN;
	if (fd_pipe(door, O_NONBLOCK) == -1 || fd_pipe(ctl, 0) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(door[1]);
		close(ctl[1]);
		dispatcher_run(&c, seg, door[0], ctl[0]);
	}
	close(door[0]);
	close(ctl[0]);
	/* Let the workers start before the clock does. */
	while (atomic_load(&segment_score(seg, nw - 1)->state) != SCORE_IDLE)
		usleep_ns(1000000);
	base = atomic_load(&h->completed);
	t0 = clock_mono_ns();
	while (atomic_load_explicit(&h->completed, memory_order_relaxed) - base < jobs) {
		unsigned batch = 0;
		long i;

		while (sent < jobs && (i = segment_reserve(seg)) != -1) {
			segment_payload(seg, (uint32_t)i)[0] = 'x';
			segment_enqueue(seg, (uint32_t)i, 1);
			sent++;
			batch++;
		}
		if (batch > 0 && atomic_exchange(&h->dispatcher_sleeping, 0) == 1)
			(void)!write(door[1], "x", 1);
		if (batch == 0) {
			idle_loops++;
			usleep_ns(50000);
		}
	}
	t0 = clock_mono_ns() - t0;
	{
		struct msg_ctl m = { .type = CTL_STOP };

		(void)!write(ctl[1], &m, sizeof(m));
	}
	waitpid(pid, &st, 0);
	close(door[1]);
	close(ctl[1]);
	if (atomic_load(&h->failed) != 0)
		fatalx("%lu jobs failed", (unsigned long)atomic_load(&h->failed));
	segment_close(seg);
	segment_unlink(name);
	return jobs / (t0 / 1e9);
}

int main(int argc, char **argv)
{
	unsigned jobs = argc > 1 ? (unsigned)atoi(argv[1]) : 200000;
	unsigned nw = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
	double raw = 0, disp = 0;

	if (nw < 1 || nw > MAXW || jobs < 1000)
		fatalx("usage: bench_dispatch [JOBS >= 1000] [WORKERS 1..%d]", MAXW);
	log_open("stderr", LOG_LEVEL_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (int round = 0; round < 3; round++) {
		double r = raw_pool(jobs, nw), d = dispatch(jobs, nw);

		printf("round %d: raw pipe pool %9.0f jobs/s   batched dispatcher %9.0f jobs/s   ratio %.2f\n",
		    round + 1, r, d, d / r);
		fflush(stdout);	/* before the next fork copies the buffer */
		if (r > raw)
			raw = r;
		if (d > disp)
			disp = d;
	}
	printf("best: raw pipe pool %.0f jobs/s, batched dispatcher %.0f jobs/s, ratio %.2f "
	    "(%u noop jobs, %u workers, %ld cpus)\n",
	    raw, disp, disp / raw, jobs, nw, sysconf(_SC_NPROCESSORS_ONLN));
	return 0;
}
