/*
 * bench_ring — how fast slot indices move between two processes through a
 * real segment's ready ring, next to a pipe carrying the same 4-byte
 * messages (proto_write/proto_read, one system call each way per item).
 *
 * Producer and consumer are forked; both wait on a start pipe, the clock
 * runs from the start signal until the consumer has seen the last item
 * (it reports that time and whether the sequence was exact).
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fd.h"
#include "common/proto.h"
#include "common/ring.h"
#include "common/segment.h"

#define RING_ITEMS	20000000u
#define PIPE_ITEMS	1000000u
#define RING_CAP	4096u

struct report {
	int64_t end_ns;
	uint32_t received;
	uint32_t ok;
};

static pid_t parent;

/* Block until the parent closes the start pipe; die with the parent. */
static void
child_start(int start_fd)
{
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(99);
	(void)read(start_fd, &c, 1);
}

static void
spin(uint32_t *n)
{
	if (++*n % 64 == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

static void
ring_producer(struct ring *r, uint32_t items)
{
	uint32_t spins = 0;

	for (uint32_t v = 0; v < items; ) {
		if (ring_push(r, v % RING_CAP) == 0)
			v++;
		else
			spin(&spins);
	}
}

static void
ring_consumer(struct ring *r, uint32_t items, struct report *rep)
{
	uint32_t spins = 0, v, n = 0;

	rep->ok = 1;
	while (n < items) {
		if (ring_pop(r, &v) == -1) {
			spin(&spins);
			continue;
		}
		if (v != n % RING_CAP)
			rep->ok = 0;
		n++;
	}
	rep->received = n;
	rep->end_ns = clock_mono_ns();
}

static void
pipe_producer(int fd, uint32_t items)
{
	for (uint32_t v = 0; v < items; v++)
		if (proto_write(fd, &v, sizeof(v)) == -1)
			_exit(1);
}

static void
pipe_consumer(int fd, uint32_t items, struct report *rep)
{
	uint32_t v, n = 0;

	rep->ok = 1;
	while (n < items && proto_read(fd, &v, sizeof(v)) == 1) {
		if (v != n)
			rep->ok = 0;
		n++;
	}
	rep->received = n;
	rep->end_ns = clock_mono_ns();
}

/* Run one transport; items per second, or -1 on a failure. */
static double
run(const char *label, struct ring *r, uint32_t items)
{
	int start[2], rep_fd[2], data[2] = { -1, -1 }, st, fail = 0;
	struct report rep;
	pid_t prod, cons;
	int64_t t0;
	double secs;

	if (fd_pipe(start, 0) == -1 || fd_pipe(rep_fd, 0) == -1 ||
	    (r == NULL && fd_pipe(data, 0) == -1)) {
		perror("pipe");
		return -1;
	}
	if ((cons = fork()) == 0) {
		close(start[1]);
		child_start(start[0]);
		memset(&rep, 0, sizeof(rep));
		if (r != NULL)
			ring_consumer(r, items, &rep);
		else {
			close(data[1]);
			pipe_consumer(data[0], items, &rep);
		}
		_exit(write(rep_fd[1], &rep, sizeof(rep)) == sizeof(rep) ? 0 : 1);
	}
	if ((prod = fork()) == 0) {
		close(start[1]);
		child_start(start[0]);
		if (r != NULL)
			ring_producer(r, items);
		else
			pipe_producer(data[1], items);
		_exit(0);
	}
	if (cons == -1 || prod == -1) {
		perror("fork");
		return -1;
	}
	if (data[0] != -1) {
		close(data[0]);
		close(data[1]);
	}
	close(rep_fd[1]);
	close(start[0]);
	usleep(20000);		/* let both reach the start pipe */
	t0 = clock_mono_ns();
	close(start[1]);
	if (read(rep_fd[0], &rep, sizeof(rep)) != sizeof(rep)) {
		fprintf(stderr, "%s: no report from the consumer\n", label);
		fail = 1;
	}
	close(rep_fd[0]);
	if (fail)
		kill(prod, SIGKILL);
	for (int k = 0; k < 2; k++)
		if (waitpid(k ? prod : cons, &st, 0) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail = 1;
	if (fail || !rep.ok || rep.received != items) {
		fprintf(stderr, "%s: failed (received %" PRIu32 " of %" PRIu32 ", order %s)\n",
		    label, rep.received, items, rep.ok ? "ok" : "wrong");
		return -1;
	}
	secs = (double)(rep.end_ns - t0) / 1e9;
	printf("%s: %.0f pairs/s (%" PRIu32 " items in %.3f s)\n", label, items / secs, items, secs);
	return items / secs;
}

int
main(void)
{
	char name[64], err[256];
	struct segment *s;
	double ring_rate, pipe_rate;

	parent = getpid();
	snprintf(name, sizeof(name), "/jobqd-bench-%ld", (long)getpid());
	segment_unlink(name);
	if (segment_open(name, RING_CAP, 16, 0, geteuid(), &s, err, sizeof(err)) != SEG_CREATED) {
		fprintf(stderr, "bench_ring: %s\n", err);
		return 1;
	}
	segment_unlink(name);	/* the mapping outlives the name */
	/* The ready ring of a fresh segment is empty; use it as is. */
	ring_rate = run("ring", segment_ready(s), RING_ITEMS);
	pipe_rate = run("pipe", NULL, PIPE_ITEMS);
	segment_close(s);
	if (ring_rate < 0 || pipe_rate < 0)
		return 1;
	printf("ring/pipe: %.1fx\n", ring_rate / pipe_rate);
	return 0;
}
