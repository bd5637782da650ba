/*
 * test_dispatcher — the dispatcher, the workers and the handlers, driven
 * by a harness that plays the master: it creates a segment, forks a child
 * that runs dispatcher_run(), fills slots, pushes the ready ring, rings the
 * doorbell the master's way and watches the slots and the free ring.
 *
 * Each case gets its own segment ("/jobqd-dtest-PID-N", unlinked at the
 * end) and temp directory (log file, scripts, spool), removed at the end.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
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
#include "worker/pool.h"

struct harness {
	char name[64];
	char dir[256];
	char log[300];
	struct segment *seg;
	struct seg_header *h;
	uint32_t cap;
	pid_t disp;
	int door_w, ctl_w;
};

static int seg_counter;
/* Called by h_start once the segment is made, before the dispatcher is
 * forked (NULL: nothing): what a master published meanwhile. */
static void (*h_prefork)(struct harness *t);

/* ---- helpers ------------------------------------------------------------ */

/* Milliseconds of sleep. */
static void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A config with the fields the dispatcher reads, handler words from w[]. */
static void cfg_init(struct config *c, enum handler_kind kind, unsigned workers,
    const char *const *w, unsigned n)
{
	size_t off = 0;

	memset(c, 0, sizeof(*c));
	c->workers = workers;
	c->queue = 64;
	c->max_payload = 4096;
	c->handler_kind = kind;
	c->max_attempts = 3;
	c->log_level = LOG_LEVEL_DEBUG;
	snprintf(c->handler, sizeof(c->handler), "%s",
	    kind == HANDLER_NOOP ? "noop" : kind == HANDLER_SLEEP ? "sleep" :
	    kind == HANDLER_EXEC ? "exec" : "spool");
	for (unsigned i = 0; i < n; i++) {
		size_t len = strlen(w[i]) + 1;

		ck_assert_uint_lt(off + len, sizeof(c->handler_words));
		memcpy(c->handler_words + off, w[i], len);
		off += len;
	}
	c->handler_argc = n;
}

/* Create the segment and the temp dir, fork the dispatcher. */
static void h_start(struct harness *t, const struct config *c, uint32_t cap, uint32_t maxp)
{
	int door[2], ctl[2];
	char err[256];

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "/jobqd-dtest-%ld-%d", (long)getpid(), seg_counter++);
	snprintf(t->dir, sizeof(t->dir), "/tmp/jobqd-dtest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->log, sizeof(t->log), "%s/log", t->dir);
	segment_unlink(t->name);
	ck_assert_int_eq(segment_open(t->name, cap, maxp, 0, geteuid(), &t->seg, err, sizeof(err)), SEG_CREATED);
	t->h = segment_header(t->seg);
	t->cap = cap;
	if (h_prefork != NULL)
		h_prefork(t);
	ck_assert_int_eq(fd_pipe(door, O_NONBLOCK), 0);
	ck_assert_int_eq(fd_pipe(ctl, 0), 0);
	t->disp = fork();
	ck_assert_int_ne(t->disp, -1);
	if (t->disp == 0) {
		close(door[1]);
		close(ctl[1]);
		if (log_open(t->log, c->log_level) == -1)
			_exit(99);
		dispatcher_run(c, t->seg, door[0], ctl[0]);
	}
	close(door[0]);
	close(ctl[0]);
	t->door_w = door[1];
	t->ctl_w = ctl[1];
}

/* Ring the doorbell the master's way. */
static void h_ring(struct harness *t)
{
	if (atomic_exchange(&t->h->dispatcher_sleeping, 0) == 1 && t->door_w != -1)
		(void)!write(t->door_w, "x", 1);
}

/* Enqueue one job; waits (bounded) for a free slot.  Returns its id. */
static uint64_t h_submit(struct harness *t, const void *payload, uint32_t len)
{
	int64_t end = clock_mono_ns() + 20 * 1000000000LL;
	long i;

	while ((i = segment_reserve(t->seg)) == -1) {
		ck_assert_msg(clock_mono_ns() < end, "no free slot in 20 s");
		msleep(1);
	}
	memcpy(segment_payload(t->seg, (uint32_t)i), payload, len);
	{
		uint64_t id = segment_enqueue(t->seg, (uint32_t)i, len);

		h_ring(t);
		return id;
	}
}

/* Wait until job id is DONE or FAILED; returns its slot. */
static struct slot *h_wait_job(struct harness *t, uint64_t id, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;
	struct slot *sl = segment_slot(t->seg, jobid_slot(id));

	for (;;) {
		uint32_t st = atomic_load(&sl->state);

		ck_assert_uint_eq(sl->id, id);
		if (st == SLOT_DONE || st == SLOT_FAILED)
			return sl;
		ck_assert_msg(clock_mono_ns() < end, "job %016" PRIx64 " still in state %u after %u ms",
		    id, st, ms);
		msleep(2);
	}
}

/* Wait for the dispatcher to exit; returns its wait status. */
static int h_wait_exit(struct harness *t, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;
	int st;

	for (;;) {
		pid_t r = waitpid(t->disp, &st, WNOHANG);

		ck_assert_int_ne(r, -1);
		if (r == t->disp) {
			t->disp = 0;
			return st;
		}
		ck_assert_msg(clock_mono_ns() < end, "dispatcher still running after %u ms", ms);
		msleep(5);
	}
}

/* Send a control message. */
static void h_ctl(struct harness *t, uint32_t type, const void *body, uint32_t len)
{
	struct msg_ctl m = { .type = type, .len = len };

	ck_assert_int_eq(proto_write(t->ctl_w, &m, sizeof(m)), 0);
	if (len > 0)
		ck_assert_int_eq(proto_write(t->ctl_w, body, len), 0);
}

/* nftw callback: remove one entry. */
static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* Stop the dispatcher (if running), drop the segment and the temp dir. */
static void h_end(struct harness *t)
{
	if (t->disp > 0) {
		struct msg_ctl m = { .type = CTL_STOP };
		int st;

		(void)!write(t->ctl_w, &m, sizeof(m));
		st = h_wait_exit(t, 10000);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "dispatcher wait status %#x", st);
	}
	if (t->door_w != -1)
		close(t->door_w);
	close(t->ctl_w);
	segment_close(t->seg);
	segment_unlink(t->name);
}

/* Remove a temp dir (unless KEEP_TEST_DIR is set, to look at logs). */
static void rm_dir(const char *dir)
{
	if (getenv("KEEP_TEST_DIR") == NULL)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole content of a file (NUL-terminated, caller frees), or NULL. */
static char *slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/* Occurrences of needle in the log. */
static int log_count(struct harness *t, const char *needle)
{
	char *s = slurp(t->log, NULL), *p;
	int n = 0;

	if (s == NULL)
		return 0;
	for (p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(s);
	return n;
}

/* Write an executable script into the temp dir; returns its path. */
static void write_script(const char *dir, const char *name, const char *body, char *path, size_t n)
{
	FILE *f;

	snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

/* The temp dir is made before the dispatcher starts; scripts need to be
 * written before the config names them, so exec cases make the dir first. */
static void pre_dir(char *dir, size_t n)
{
	snprintf(dir, n, "/tmp/jobqd-dtest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Wait until the scoreboard shows n idle workers; returns when it does. */
static void wait_idle_workers(struct harness *t, unsigned n, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;

	for (;;) {
		unsigned idle = 0;

		for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++)
			idle += atomic_load(&segment_score(t->seg, i)->state) == SCORE_IDLE;
		if (idle >= n)
			return;
		ck_assert_msg(clock_mono_ns() < end, "%u idle workers after %u ms, want %u", idle, ms, n);
		msleep(2);
	}
}

/* 1 once pid is gone or a zombie (its fds closed, its exit not collected). */
static int dead_or_zombie(pid_t pid)
{
	char path[64], *st;
	int dead;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((st = slurp(path, NULL)) == NULL)
		return 1;
	dead = strstr(st, ") Z ") != NULL || strstr(st, ") X ") != NULL;
	free(st);
	return dead;
}

/* Wait (bounded) until pid is gone or a zombie. */
static void wait_dead(pid_t pid, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;

	while (!dead_or_zombie(pid)) {
		ck_assert_msg(clock_mono_ns() < end, "pid %ld alive after %u ms", (long)pid, ms);
		msleep(2);
	}
}

/* Wait (bounded) until the log holds needle n times or more. */
static void wait_log(struct harness *t, const char *needle, int n, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;

	while (log_count(t, needle) < n) {
		ck_assert_msg(clock_mono_ns() < end, "\"%s\" %d times in the log after %u ms, want %d",
		    needle, log_count(t, needle), ms, n);
		msleep(5);
	}
}

/* Wait (bounded) until slot sl is in state st. */
static void wait_state(struct slot *sl, uint32_t st, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;

	while (atomic_load(&sl->state) != st) {
		ck_assert_msg(clock_mono_ns() < end, "slot in state %u after %u ms, want %u",
		    atomic_load(&sl->state), ms, st);
		msleep(2);
	}
}

/* ---- cases ---------------------------------------------------------------- */

/* 100,000 noop jobs through 8 workers: each DONE exactly once, in place. */
START_TEST(noop_100k)
{
	enum { N = 100000, CAP = 512 };
	struct harness t;
	struct config c;
	uint64_t *expect = calloc(CAP, sizeof(*expect));
	uint64_t submitted = 0, reclaimed = 0;
	int64_t end;

	cfg_init(&c, HANDLER_NOOP, 8, NULL, 0);
	h_start(&t, &c, CAP, 64);
	end = clock_mono_ns() + 60 * 1000000000LL;
	while (submitted < N) {
		uint32_t i;
		struct slot *sl;

		if (ring_pop(segment_free(t.seg), &i) == -1) {
			h_ring(&t);
			ck_assert_msg(clock_mono_ns() < end, "stuck: %" PRIu64 " submitted, %"
			    PRIu64 " completed", submitted, atomic_load(&t.h->completed));
			sched_yield();
			continue;
		}
		sl = segment_slot(t.seg, i);
		if (expect[i] != 0) {
			ck_assert_uint_eq(sl->id, expect[i]);
			ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
			ck_assert_uint_eq(sl->attempts, 1);
			ck_assert_int_eq(sl->exit_status, 0);
			ck_assert_uint_eq(*(uint64_t *)segment_payload(t.seg, i), expect[i]);
			reclaimed++;
		}
		atomic_store(&sl->state, SLOT_FILLING);
		expect[i] = jobid_make(0, atomic_load(&t.h->next_seq), i);
		memcpy(segment_payload(t.seg, i), &expect[i], sizeof(uint64_t));
		ck_assert_uint_eq(segment_enqueue(t.seg, i, sizeof(uint64_t)), expect[i]);
		submitted++;
		if ((submitted & 15) == 0)
			h_ring(&t);
	}
	h_ring(&t);
	while (atomic_load(&t.h->completed) < N) {
		ck_assert_msg(clock_mono_ns() < end, "%" PRIu64 " completed of %d",
		    atomic_load(&t.h->completed), N);
		msleep(1);
	}
	for (uint32_t i = 0; i < CAP; i++) {
		struct slot *sl = segment_slot(t.seg, i);

		if (expect[i] == 0 || atomic_load(&sl->state) == SLOT_FILLING)
			continue;
		ck_assert_uint_eq(sl->id, expect[i]);
		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
		reclaimed++;
	}
	ck_assert_uint_eq(reclaimed, N);
	ck_assert_uint_eq(atomic_load(&t.h->completed), N);
	ck_assert_uint_eq(atomic_load(&t.h->failed), 0);
	ck_assert_uint_eq(atomic_load(&t.h->retried), 0);
	ck_assert_uint_eq(atomic_load(&t.h->queued), 0);
	ck_assert_uint_eq(atomic_load(&t.h->running), 0);
	{
		uint64_t runs = 0, jobs = 0;

		for (int k = 0; k < SEG_HIST_BUCKETS; k++) {
			runs += atomic_load(&t.h->run_hist[k]);
			jobs += atomic_load(&t.h->wait_hist[k]);
		}
		ck_assert_uint_eq(runs, N);
		ck_assert_uint_eq(jobs, N);
	}
	h_end(&t);
	ck_assert_int_eq(log_count(&t, "job "), 0);	/* noop logs nothing per job */
	rm_dir(t.dir);
	free(expect);
}
END_TEST

/* sleep MS: one "job ID done" line per job, timestamps and the scoreboard. */
START_TEST(sleep_logs)
{
	const char *w[] = { "sleep" };
	struct harness t;
	struct config c;
	uint64_t id[4];
	char line[64], idstr[JOBID_STRLEN + 1];

	cfg_init(&c, HANDLER_SLEEP, 2, w, 0);
	c.sleep_ms = 50;
	h_start(&t, &c, 8, 16);
	for (int k = 0; k < 4; k++)
		id[k] = h_submit(&t, "x", 1);
	for (int k = 0; k < 4; k++) {
		struct slot *sl = h_wait_job(&t, id[k], 5000);

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_int_ge(sl->t_finished - sl->t_started, 45 * 1000000LL);
		ck_assert_int_ge(sl->t_started, sl->t_queued);
		ck_assert_int_gt(sl->worker_pid, 0);
	}
	{
		uint64_t done = 0;

		for (uint32_t i = 0; i < 2; i++)
			done += atomic_load(&segment_score(t.seg, i)->jobs_done);
		ck_assert_uint_eq(done, 4);
	}
	h_end(&t);
	for (int k = 0; k < 4; k++) {
		jobid_format(id[k], idstr);
		snprintf(line, sizeof(line), "job %s done", idstr);
		ck_assert_int_eq(log_count(&t, line), 1);
	}
	rm_dir(t.dir);
}
END_TEST

/* exec: stdin, environment, exit codes, signals, output in the log. */
START_TEST(exec_basics)
{
	char dir[256], script[512], body[1024], path[600], idstr[JOBID_STRLEN + 1];
	const char *w[1];
	struct harness t;
	struct config c;
	struct slot *sl;
	uint64_t ok, three, sig;
	char *s;

	pre_dir(dir, sizeof(dir));
	snprintf(body, sizeof(body),
	    "d=%s\n"
	    "cat > \"$d/$JOBQD_JOB_ID.in\"\n"
	    "echo \"$JOBQD_ATTEMPT\" > \"$d/$JOBQD_JOB_ID.attempt\"\n"
	    "echo \"hello $JOBQD_JOB_ID\"\n"
	    "echo \"oops on stderr\" >&2\n"
	    "printf 'no newline'\n"
	    "case $(head -c 1 \"$d/$JOBQD_JOB_ID.in\") in\n"
	    "k) kill -TERM $$ ;;\n"
	    "3) exit 3 ;;\n"
	    "esac\n"
	    "exit 0\n", dir);
	write_script(dir, "job.sh", body, script, sizeof(script));
	w[0] = script;
	cfg_init(&c, HANDLER_EXEC, 2, w, 1);
	c.max_attempts = 1;
	h_start(&t, &c, 8, 4096);
	ok = h_submit(&t, "0 payload\nline two\n", 19);
	three = h_submit(&t, "3", 1);
	sig = h_submit(&t, "k", 1);

	sl = h_wait_job(&t, ok, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_int_eq(sl->exit_status, 0);
	ck_assert_uint_eq(sl->attempts, 1);
	sl = h_wait_job(&t, three, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_FAILED);
	ck_assert_int_eq(sl->exit_status, 3);
	ck_assert_uint_eq(sl->reason, SLOT_REASON_EXIT);
	sl = h_wait_job(&t, sig, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_FAILED);
	ck_assert_int_eq(sl->exit_status, 128 + SIGTERM);
	ck_assert_uint_eq(sl->reason, SLOT_REASON_SIGNAL);
	h_end(&t);

	jobid_format(ok, idstr);
	snprintf(path, sizeof(path), "%s/%s.in", dir, idstr);
	s = slurp(path, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "0 payload\nline two\n");
	free(s);
	snprintf(path, sizeof(path), "%s/%s.attempt", dir, idstr);
	s = slurp(path, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "1\n");
	free(s);
	snprintf(path, sizeof(path), "job %s: hello %s", idstr, idstr);
	ck_assert_int_eq(log_count(&t, path), 1);
	snprintf(path, sizeof(path), "job %s: oops on stderr", idstr);
	ck_assert_int_eq(log_count(&t, path), 1);
	snprintf(path, sizeof(path), "job %s: no newline", idstr);
	ck_assert_int_eq(log_count(&t, path), 1);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST


/* exec: a 1 MiB payload to a program that never reads it cannot wedge the
 * worker; one that reads it gets every byte; long output lines are cut. */
START_TEST(exec_big_payload)
{
	enum { BIG = 1 << 20 };
	char dir[256], script[512], path[600], idstr[JOBID_STRLEN + 1];
	const char *w[1];
	struct harness t;
	struct config c;
	unsigned char *big = malloc(BIG);
	uint64_t skip, keep;
	struct slot *sl;
	size_t len;
	char *s;

	ck_assert_ptr_nonnull(big);
	for (size_t k = 0; k < BIG; k++)
		big[k] = (unsigned char)(k * 7 + (k >> 9));
	big[0] = 'n';
	big[1] = 'o';
	pre_dir(dir, sizeof(dir));
	write_script(dir, "job.sh",
	    "if [ \"$(head -c 2)\" = no ]; then exit 0; fi\n"
	    "cat > \"$(dirname \"$0\")/$JOBQD_JOB_ID.in\"\n"
	    "head -c 2500 /dev/zero | tr '\\0' x\n", script, sizeof(script));
	w[0] = script;
	cfg_init(&c, HANDLER_EXEC, 2, w, 1);
	c.max_attempts = 1;
	h_start(&t, &c, 4, BIG);
	skip = h_submit(&t, big, BIG);
	big[0] = 'y';
	keep = h_submit(&t, big, BIG);
	sl = h_wait_job(&t, skip, 10000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	sl = h_wait_job(&t, keep, 10000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	h_end(&t);
	jobid_format(keep, idstr);
	snprintf(path, sizeof(path), "%s/%s.in", dir, idstr);
	s = slurp(path, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(len, BIG - 2);	/* the script read 2 bytes first */
	ck_assert_int_eq(memcmp(s, big + 2, BIG - 2), 0);
	free(s);
	/* 2500 bytes without a newline: logged as 1000 + 1000 + 500. */
	snprintf(path, sizeof(path), "job %s: ", idstr);
	ck_assert_int_eq(log_count(&t, path), 3);
	free(big);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* exec while random busy workers are SIGKILLed: every job DONE in the end,
 * attempts counted (sum of attempts = jobs + retries), nothing lost. */
START_TEST(exec_sigkill)
{
	enum { N = 150, CAP = 64 };
	char dir[256], script[512];
	const char *w[1];
	struct harness t;
	struct config c;
	uint64_t ids[N];
	int owner[CAP];
	uint64_t attempts = 0;
	unsigned kills = 0, seed = (unsigned)getpid();
	int submitted = 0;
	int64_t end;

	for (int k = 0; k < CAP; k++)
		owner[k] = -1;
	pre_dir(dir, sizeof(dir));
	write_script(dir, "job.sh", "cat >/dev/null\nsleep 0.02\nexit 0\n", script, sizeof(script));
	w[0] = script;
	cfg_init(&c, HANDLER_EXEC, 4, w, 1);
	c.max_attempts = 1000;
	c.log_level = LOG_LEVEL_INFO;
	h_start(&t, &c, CAP, 64);
	end = clock_mono_ns() + 40 * 1000000000LL;
	while (submitted < N || atomic_load(&t.h->completed) < N) {
		ck_assert_msg(clock_mono_ns() < end, "%" PRIu64 " of %d done",
		    atomic_load(&t.h->completed), N);
		while (submitted < N) {
			long i = segment_reserve(t.seg);

			if (i == -1)
				break;
			/* A reused slot held a finished job: count it now
			 * (reserve kept its id and attempts). */
			if (owner[i] >= 0 && ids[owner[i]] != 0) {
				struct slot *sl = segment_slot(t.seg, (uint32_t)i);

				ck_assert_uint_eq(sl->id, ids[owner[i]]);
				attempts += sl->attempts;
				ids[owner[i]] = 0;
			}
			owner[i] = submitted;
			memcpy(segment_payload(t.seg, (uint32_t)i), "job", 3);
			ids[submitted++] = segment_enqueue(t.seg, (uint32_t)i, 3);
			h_ring(&t);
		}
		/* Every ~30 ms, SIGKILL one busy worker (not its group: the
		 * exec child must die of PR_SET_PDEATHSIG). */
		msleep(30);
		if (kills < 40) {
			uint32_t k = (uint32_t)rand_r(&seed) % 4;
			struct score *sc = segment_score(t.seg, k);
			pid_t pid = atomic_load(&sc->pid);

			if (pid > 0 && atomic_load(&sc->state) == SCORE_BUSY && kill(pid, SIGKILL) == 0)
				kills++;
		}
		/* Reclaim finished slots like the master: check them first. */
		for (int k = 0; k < submitted; k++) {
			struct slot *sl = segment_slot(t.seg, jobid_slot(ids[k]));

			if (ids[k] == 0 || sl->id != ids[k])
				continue;
			if (atomic_load(&sl->state) == SLOT_DONE) {
				attempts += sl->attempts;
				ids[k] = 0;
			} else
				ck_assert_uint_ne(atomic_load(&sl->state), SLOT_FAILED);
		}
	}
	for (int k = 0; k < submitted; k++) {
		if (ids[k] != 0) {
			struct slot *sl = h_wait_job(&t, ids[k], 1000);

			ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
			attempts += sl->attempts;
		}
	}
	ck_assert_uint_gt(kills, 5);
	ck_assert_uint_eq(atomic_load(&t.h->completed), N);
	ck_assert_uint_eq(atomic_load(&t.h->failed), 0);
	ck_assert_uint_eq(attempts, N + atomic_load(&t.h->retried));
	ck_assert_uint_ge(atomic_load(&t.h->retried), 1);
	ck_assert_uint_eq(atomic_load(&t.h->running), 0);
	ck_assert_uint_eq(atomic_load(&t.h->queued), 0);
	h_end(&t);
	/* A worker can be hit twice before it is reaped: deaths <= kills. */
	ck_assert_int_ge(log_count(&t, "killed by signal 9"), 5);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* job_timeout: the worker and its exec child are killed; a failed attempt,
 * requeued, then FAILED at max_attempts. */
START_TEST(timeout_kills)
{
	char dir[256], script[512], body[512], path[600], idstr[JOBID_STRLEN + 1];
	const char *w[1];
	struct harness t;
	struct config c;
	uint64_t slow, second;
	struct slot *sl;
	char *s;

	pre_dir(dir, sizeof(dir));
	snprintf(body, sizeof(body),
	    "echo $$ > %s/$JOBQD_JOB_ID.$JOBQD_ATTEMPT.pid\n"
	    "if [ \"$(cat)\" = second ] && [ \"$JOBQD_ATTEMPT\" = 2 ]; then exit 0; fi\n"
	    "exec sleep 30\n", dir);
	write_script(dir, "job.sh", body, script, sizeof(script));
	w[0] = script;
	cfg_init(&c, HANDLER_EXEC, 2, w, 1);
	c.max_attempts = 2;
	c.job_timeout = 1;
	h_start(&t, &c, 4, 64);
	slow = h_submit(&t, "slow", 4);
	second = h_submit(&t, "second", 6);
	sl = h_wait_job(&t, second, 8000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_uint_eq(sl->attempts, 2);
	sl = h_wait_job(&t, slow, 8000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_FAILED);
	ck_assert_uint_eq(sl->attempts, 2);
	ck_assert_int_eq(sl->exit_status, 128 + SIGKILL);
	ck_assert_uint_eq(sl->reason, SLOT_REASON_TIMEOUT);
	ck_assert_uint_eq(atomic_load(&t.h->retried), 2);
	h_end(&t);
	/* The program (exec'd sleep) died with its worker. */
	jobid_format(slow, idstr);
	snprintf(path, sizeof(path), "%s/%s.1.pid", dir, idstr);
	s = slurp(path, NULL);
	ck_assert_ptr_nonnull(s);
	{
		pid_t pid = (pid_t)atol(s);
		char stat[64];
		char *st;
		int64_t end = clock_mono_ns() + 2000000000LL;

		snprintf(stat, sizeof(stat), "/proc/%ld/stat", (long)pid);
		/* Gone, or a zombie waiting for init. */
		while ((st = slurp(stat, NULL)) != NULL && strstr(st, ") Z ") == NULL) {
			ck_assert_msg(clock_mono_ns() < end, "exec child %ld survived its worker: %s",
			    (long)pid, st);
			free(st);
			msleep(10);
		}
		free(st);
	}
	free(s);
	/* "after 1 s" on an idle machine; the seconds are not asserted */
	snprintf(path, sizeof(path), "job %s timed out after ", idstr);
	ck_assert_int_eq(log_count(&t, path), 2);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* spool DIR: DIR/tmp and DIR/new made; whole files named by id in new/. */
START_TEST(spool_files)
{
	char dir[256], spool[300], path[600], idstr[JOBID_STRLEN + 1];
	const char *w[1];
	struct harness t;
	struct config c;
	uint64_t ids[5];
	char payload[3000];
	DIR *dp;
	struct dirent *de;
	int in_tmp = 0, ino, moved = 0, written = 0;
	char evbuf[8192];
	ssize_t n;

	pre_dir(dir, sizeof(dir));
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	w[0] = spool;
	/* Watch new/: files must only ever arrive there by rename. */
	ck_assert_int_eq(mkdir(spool, 0755), 0);
	snprintf(path, sizeof(path), "%s/tmp", spool);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/new", spool);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_ge(ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), 0);
	ck_assert_int_ge(inotify_add_watch(ino, path, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE), 0);
	cfg_init(&c, HANDLER_SPOOL, 2, w, 1);
	h_start(&t, &c, 8, sizeof(payload));
	for (int k = 0; k < 5; k++) {
		memset(payload, 'a' + k, sizeof(payload));
		ids[k] = h_submit(&t, payload, (uint32_t)(1000 * (k % 3) + k));
	}
	for (int k = 0; k < 5; k++) {
		struct slot *sl = h_wait_job(&t, ids[k], 5000);
		size_t len;
		char *s;

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		jobid_format(ids[k], idstr);
		snprintf(path, sizeof(path), "%s/new/%s", spool, idstr);
		s = slurp(path, &len);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(len, (size_t)(1000 * (k % 3) + k));
		memset(payload, 'a' + k, sizeof(payload));
		ck_assert_int_eq(memcmp(s, payload, len), 0);
		free(s);
	}
	h_end(&t);
	while ((n = read(ino, evbuf, sizeof(evbuf))) > 0)
		for (char *p = evbuf; p < evbuf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			moved += (ev->mask & IN_MOVED_TO) != 0;
			written += (ev->mask & (IN_CREATE | IN_CLOSE_WRITE)) != 0;
			p += sizeof(*ev) + ev->len;
		}
	close(ino);
	ck_assert_int_eq(moved, 5);
	ck_assert_int_eq(written, 0);
	snprintf(path, sizeof(path), "%s/tmp", spool);
	dp = opendir(path);
	ck_assert_ptr_nonnull(dp);
	while ((de = readdir(dp)) != NULL)
		in_tmp += de->d_name[0] != '.';
	closedir(dp);
	ck_assert_int_eq(in_tmp, 0);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* exec: the job ends when its program exits although a background child
 * holds its output pipe; that child (and one that does not hold the pipe)
 * is killed with the job's process group. */
START_TEST(exec_ends_at_exit)
{
	char dir[256], body[700], path[600], idstr[JOBID_STRLEN + 1];
	const char *w[3];
	struct harness t;
	struct config c;
	uint64_t id;
	struct slot *sl;
	char *s;

	pre_dir(dir, sizeof(dir));
	snprintf(body, sizeof(body), "sleep 30 & echo $! > %s/$JOBQD_JOB_ID.held; "
	    "sleep 30 >/dev/null 2>&1 & echo $! > %s/$JOBQD_JOB_ID.free; echo started", dir, dir);
	w[0] = "/bin/sh";
	w[1] = "-c";
	w[2] = body;
	cfg_init(&c, HANDLER_EXEC, 1, w, 3);
	c.max_attempts = 1;	/* job_timeout = 0: nothing else ends it */
	h_start(&t, &c, 4, 64);
	id = h_submit(&t, "x", 1);
	sl = h_wait_job(&t, id, 10000);	/* the old code: running for 30 s */
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_int_eq(sl->exit_status, 0);
	jobid_format(id, idstr);
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s.%s", dir, idstr, k == 0 ? "held" : "free");
		s = slurp(path, NULL);
		ck_assert_ptr_nonnull(s);
		wait_dead((pid_t)atol(s), 5000);	/* reaped by init, or about to be */
		free(s);
	}
	snprintf(path, sizeof(path), "job %s: started", idstr);
	ck_assert_int_eq(log_count(&t, path), 1);
	h_end(&t);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* spool: a link planted at the temp name is not followed; a stale temp
 * file (a killed worker's) is removed at start-up, a fresh one is kept. */
START_TEST(spool_tmp_safe)
{
	char dir[256], spool[300], path[600], victim[600], idstr[JOBID_STRLEN + 1];
	const char *w[1];
	struct timespec old[2] = { { .tv_sec = 0, .tv_nsec = UTIME_NOW }, { 0, 0 } };
	struct harness t;
	struct config c;
	struct slot *sl;
	uint64_t id;
	long i;
	pid_t pid;
	char *s;

	pre_dir(dir, sizeof(dir));
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	ck_assert_int_eq(mkdir(spool, 0755), 0);
	snprintf(path, sizeof(path), "%s/tmp", spool);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/tmp/stale.123", spool);
	write_script(spool, "tmp/stale.123", "", path, sizeof(path));
	old[1].tv_sec = time(NULL) - 3600;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	write_script(spool, "tmp/fresh.456", "", path, sizeof(path));
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_script(dir, "victim", "", victim, sizeof(victim));
	w[0] = spool;
	cfg_init(&c, HANDLER_SPOOL, 1, w, 1);
	h_start(&t, &c, 4, 64);
	wait_idle_workers(&t, 1, 5000);
	pid = atomic_load(&segment_score(t.seg, 0)->pid);
	/* The next job's id and temp name are known before it is queued. */
	ck_assert_int_ge(i = segment_reserve(t.seg), 0);
	id = jobid_make(0, atomic_load(&t.h->next_seq), (uint32_t)i);
	jobid_format(id, idstr);
	snprintf(path, sizeof(path), "%s/tmp/%s.%ld", spool, idstr, (long)pid);
	ck_assert_int_eq(symlink(victim, path), 0);
	memcpy(segment_payload(t.seg, (uint32_t)i), "payload", 7);
	ck_assert_uint_eq(segment_enqueue(t.seg, (uint32_t)i, 7), id);
	h_ring(&t);
	sl = h_wait_job(&t, id, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	h_end(&t);
	s = slurp(victim, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "#!/bin/sh\n");	/* untouched */
	free(s);
	snprintf(path, sizeof(path), "%s/new/%s", spool, idstr);
	s = slurp(path, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "payload");
	free(s);
	snprintf(path, sizeof(path), "%s/tmp/stale.123", spool);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/tmp/fresh.456", spool);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(log_count(&t, "removed 1 file that killed workers left"), 1);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* An assignment written to a worker that died idle (its death not yet
 * collected: we trace it, so its parent hears of it only after us) never
 * ran: the job runs on a replacement as its first attempt. */
START_TEST(assign_to_dead_worker_free)
{
	struct harness t;
	struct config c;
	struct slot *sl;
	uint64_t id;
	pid_t pid;
	int st;

	cfg_init(&c, HANDLER_NOOP, 1, NULL, 0);
	c.max_attempts = 1;
	h_start(&t, &c, 4, 64);
	wait_idle_workers(&t, 1, 5000);
	pid = atomic_load(&segment_score(t.seg, 0)->pid);
	ck_assert_int_eq(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	wait_dead(pid, 5000);		/* its job pipe is closed */
	id = h_submit(&t, "x", 1);
	wait_log(&t, "job pipe", 1, 5000);	/* the write failed */
	ck_assert_int_eq(waitpid(pid, &st, __WALL), pid);	/* now the dispatcher may reap it */
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	sl = h_wait_job(&t, id, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_uint_eq(sl->attempts, 1);
	ck_assert_uint_eq(atomic_load(&t.h->retried), 0);
	h_end(&t);
	rm_dir(t.dir);
}
END_TEST

/* CTL_STOP finds a busy worker that died on its own (SIGTERM, not our
 * SIGKILL): that attempt counts. */
START_TEST(stop_charges_own_crash)
{
	const char *w[] = { "sleep" };
	struct harness t;
	struct config c;
	struct slot *sl;
	uint64_t id;
	pid_t pid;
	int st;

	cfg_init(&c, HANDLER_SLEEP, 1, w, 0);
	c.sleep_ms = 60000;
	c.max_attempts = 1;
	h_start(&t, &c, 4, 16);
	id = h_submit(&t, "x", 1);
	sl = segment_slot(t.seg, jobid_slot(id));
	wait_state(sl, SLOT_RUNNING, 5000);
	pid = sl->worker_pid;
	ck_assert_int_eq(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &st, __WALL), pid);	/* signal-delivery stop */
	ck_assert(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTERM);
	ck_assert_int_eq(ptrace(PTRACE_CONT, pid, NULL, (void *)(long)SIGTERM), 0);
	wait_dead(pid, 5000);		/* dead, its parent not told yet */
	h_ctl(&t, CTL_STOP, NULL, 0);
	wait_log(&t, "stopping: killing", 1, 5000);
	ck_assert_int_eq(waitpid(pid, &st, __WALL), pid);	/* now it reaps a SIGTERM death */
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	st = h_wait_exit(&t, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_FAILED);
	ck_assert_uint_eq(sl->attempts, 1);
	ck_assert_int_eq(sl->exit_status, 128 + SIGTERM);
	h_end(&t);
	ck_assert_int_eq(log_count(&t, "stopping: killing 1 worker\n"), 1);	/* not "1 workers" */
	rm_dir(t.dir);
}
END_TEST

/* The fd number of pid's write-only pipe (the idle pipe), or -1. */
/* 1 if process pid has an fd open on the file link names ("pipe:[N]"). */
static int has_open(pid_t pid, const char *want)
{
	char path[128], link[128];

	for (int fd = 0; fd < 256; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
		if ((n = readlink(path, link, sizeof(link) - 1)) == -1)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			return 1;
	}
	return 0;
}

/* The worker's write end of the shared idle pipe: a write-only pipe the
 * dispatcher holds too (an exec child's stdin pipe is write-only as well,
 * but the dispatcher has no end of it). */
static int idle_pipe_of(pid_t pid, pid_t disp)
{
	char path[128], link[128];

	for (int fd = 3; fd < 64; fd++) {
		char *info;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
		if ((n = readlink(path, link, sizeof(link) - 1)) == -1)
			continue;
		link[n] = '\0';
		if (strncmp(link, "pipe:", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fdinfo/%d", (long)pid, fd);
		if ((info = slurp(path, NULL)) == NULL)
			continue;
		if (strstr(info, "flags:\t") != NULL &&
		    (strtol(strstr(info, "flags:\t") + 7, NULL, 8) & O_ACCMODE) == O_WRONLY &&
		    has_open(disp, link)) {
			free(info);
			return fd;
		}
		free(info);
	}
	return -1;
}

/* A stale idle message (a replaced worker's pid and serial, or the new
 * worker's pid with an old serial) is dropped; the job it names keeps
 * running (it waits for a gate) and completes normally.  The external kill
 * of an idle worker is no "respawning ... until one succeeds". */
START_TEST(stale_idle_dropped)
{
	char dir[256], script[512], path[128], body[600], gate[300];
	const char *w[1];
	struct harness t;
	struct config c;
	struct score *sc;
	pid_t old, cur;
	uint64_t id;
	struct slot *sl;
	int fd, ifd;
	int64_t end;

	pre_dir(dir, sizeof(dir));
	snprintf(gate, sizeof(gate), "%s/gate", dir);
	snprintf(body, sizeof(body), "while [ ! -e %s ]; do sleep 0.01; done\n", gate);
	write_script(dir, "job.sh", body, script, sizeof(script));
	w[0] = script;
	cfg_init(&c, HANDLER_EXEC, 1, w, 1);
	h_start(&t, &c, 4, 64);
	sc = segment_score(t.seg, 0);
	wait_idle_workers(&t, 1, 5000);
	old = atomic_load(&sc->pid);
	ck_assert_int_eq(kill(old, SIGKILL), 0);	/* serial 1 dies idle */
	end = clock_mono_ns() + 5000000000LL;
	while ((cur = atomic_load(&sc->pid)) == old || cur == 0 ||
	    atomic_load(&sc->state) != SCORE_IDLE) {
		ck_assert_msg(clock_mono_ns() < end, "worker 0 not respawned");
		msleep(5);
	}
	id = h_submit(&t, "x", 1);
	sl = segment_slot(t.seg, jobid_slot(id));
	while (atomic_load(&sl->state) != SLOT_RUNNING) {
		ck_assert_msg(clock_mono_ns() < end, "job not started");
		msleep(5);
	}
	ifd = idle_pipe_of(cur, t.disp);
	ck_assert_int_ge(ifd, 0);
	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)cur, ifd);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	{
		struct msg_idle m = { .index = 0, .pid = old, .gen = 1,
		    .slot = jobid_slot(id), .job_id = id, .status = 0 };

		ck_assert_int_eq(proto_write(fd, &m, sizeof(m)), 0);	/* replaced worker */
		m.pid = cur;
		ck_assert_int_eq(proto_write(fd, &m, sizeof(m)), 0);	/* old serial */
		m.gen = 2;
		m.index = 7;
		ck_assert_int_eq(proto_write(fd, &m, sizeof(m)), 0);	/* wrong index */
		m.index = 5000;
		ck_assert_int_eq(proto_write(fd, &m, sizeof(m)), 0);	/* out of range */
	}
	close(fd);
	wait_log(&t, "stale idle message", 4, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_RUNNING);
	write_script(dir, "gate", "", gate, sizeof(gate));
	sl = h_wait_job(&t, id, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_uint_eq(sl->attempts, 1);
	ck_assert_uint_eq(atomic_load(&t.h->completed), 1);
	h_end(&t);
	ck_assert_int_eq(log_count(&t, "stale idle message"), 4);
	ck_assert_int_eq(log_count(&t, "respawning one worker every"), 0);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* A handler that cannot start (spool dir impossible) makes every worker die
 * at once: respawns are throttled, not a fork storm.  No assertion on how
 * many deaths fit in some time: the structure is checked instead.  Only the
 * first death of the 4 started together steps the delay; after that one
 * worker at a time, each death one step (100, 200, 400, 800 ms); so at any
 * moment deaths <= steps + 3; and the 800 ms step cannot come before
 * 100 + 200 + 400 ms have passed. */
START_TEST(broken_handler_throttled)
{
	const char *w[] = { "/proc/self/no/such/spool" };
	struct harness t;
	struct config c;
	uint64_t id;
	int64_t t0 = clock_mono_ns(), end = t0 + 20 * 1000000000LL;

	cfg_init(&c, HANDLER_SPOOL, 4, w, 1);
	h_start(&t, &c, 4, 64);
	id = h_submit(&t, "x", 1);
	for (;;) {
		/* steps before deaths: a death's step is logged before it */
		int steps = log_count(&t, "its replacement starts in") +
		    log_count(&t, "respawning one worker every");
		int deaths = log_count(&t, "exited with status 1");

		ck_assert_msg(deaths <= steps + 3, "%d deaths after %d throttle steps", deaths, steps);
		if (log_count(&t, "every 800 ms") > 0)
			break;
		ck_assert_msg(clock_mono_ns() < end, "no 800 ms step in 20 s: %d steps", steps);
		msleep(10);
	}
	ck_assert_int_ge(clock_mono_ns() - t0, 700 * 1000000LL);
	ck_assert_uint_eq(atomic_load(&segment_slot(t.seg, jobid_slot(id))->state), SLOT_QUEUED);
	h_end(&t);
	/* the first step is no news (debug), the warning names the rest */
	ck_assert_int_eq(log_count(&t, "its replacement starts in 100 ms"), 1);
	ck_assert_int_eq(log_count(&t, "respawning one worker every 100 ms"), 0);
	ck_assert_int_eq(log_count(&t, "respawning one worker every 200 ms"), 1);
	ck_assert_int_eq(log_count(&t, "respawning one worker every 400 ms"), 1);
	rm_dir(t.dir);
}
END_TEST

/* CTL_DRAIN: everything queued is run, then the dispatcher exits 0. */
START_TEST(drain_then_exit)
{
	const char *w[] = { "sleep" };
	struct harness t;
	struct config c;
	uint64_t ids[12];
	int st;

	cfg_init(&c, HANDLER_SLEEP, 3, w, 0);
	c.sleep_ms = 20;
	h_start(&t, &c, 16, 16);
	for (int k = 0; k < 12; k++)
		ids[k] = h_submit(&t, "x", 1);
	h_ctl(&t, CTL_DRAIN, NULL, 0);
	st = h_wait_exit(&t, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int k = 0; k < 12; k++)
		ck_assert_uint_eq(atomic_load(&segment_slot(t.seg, jobid_slot(ids[k]))->state), SLOT_DONE);
	ck_assert_uint_eq(atomic_load(&t.h->completed), 12);
	h_end(&t);
	rm_dir(t.dir);
}
END_TEST

/* EOF on the doorbell: running jobs finish and are recorded, queued ones
 * stay QUEUED, the dispatcher exits 0.  The jobs wait for a gate opened
 * once the dispatcher has seen the EOF: no job can finish early. */
START_TEST(eof_finishes_running)
{
	char dir[256], script[512], body[600], gate[300];
	const char *w[1];
	struct harness t;
	struct config c;
	uint64_t ids[6];
	int st, done = 0, queued = 0, running;
	int64_t end;

	pre_dir(dir, sizeof(dir));
	snprintf(gate, sizeof(gate), "%s/gate", dir);
	snprintf(body, sizeof(body), "while [ ! -e %s ]; do sleep 0.01; done\n", gate);
	write_script(dir, "job.sh", body, script, sizeof(script));
	w[0] = script;
	cfg_init(&c, HANDLER_EXEC, 2, w, 1);
	h_start(&t, &c, 8, 16);
	wait_idle_workers(&t, 2, 5000);
	for (int k = 0; k < 6; k++)
		ids[k] = h_submit(&t, "x", 1);
	end = clock_mono_ns() + 5000000000LL;
	while (atomic_load(&t.h->running) < 2) {
		ck_assert_msg(clock_mono_ns() < end, "%u jobs running after 5 s, want 2",
		    atomic_load(&t.h->running));
		msleep(2);
	}
	close(t.door_w);
	t.door_w = -1;
	wait_log(&t, "master gone (doorbell closed)", 1, 5000);
	/* assigned before the EOF: the running jobs and the rest of their
	 * batches, all finished */
	running = (int)atomic_load(&t.h->running);
	write_script(dir, "gate", "", gate, sizeof(gate));
	st = h_wait_exit(&t, 10000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int k = 0; k < 6; k++) {
		uint32_t s = atomic_load(&segment_slot(t.seg, jobid_slot(ids[k]))->state);

		done += s == SLOT_DONE;
		queued += s == SLOT_QUEUED;
	}
	ck_assert_int_ge(running, 2);
	ck_assert_int_eq(done, running);
	ck_assert_int_eq(queued, 6 - running);
	ck_assert_uint_eq(atomic_load(&t.h->running), 0);
	h_end(&t);
	snprintf(body, sizeof(body), "finishing %d running jobs", running);
	ck_assert_int_eq(log_count(&t, body), 1);
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* CTL_STOP: workers killed at once, RUNNING jobs left for recovery. */
START_TEST(stop_kills)
{
	const char *w[] = { "sleep" };
	struct harness t;
	struct config c;
	uint64_t id;
	pid_t pid;
	int st;

	cfg_init(&c, HANDLER_SLEEP, 1, w, 0);
	c.sleep_ms = 60000;	/* the bound below is far from it */
	h_start(&t, &c, 4, 16);
	id = h_submit(&t, "x", 1);
	wait_state(segment_slot(t.seg, jobid_slot(id)), SLOT_RUNNING, 5000);
	pid = segment_slot(t.seg, jobid_slot(id))->worker_pid;
	h_ctl(&t, CTL_STOP, NULL, 0);
	st = h_wait_exit(&t, 20000);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* back to QUEUED for the next start, the cut-short attempt not counted */
	ck_assert_uint_eq(atomic_load(&segment_slot(t.seg, jobid_slot(id))->state), SLOT_QUEUED);
	ck_assert_uint_eq(segment_slot(t.seg, jobid_slot(id))->attempts, 0);
	ck_assert_int_eq(kill(pid, 0), -1);
	h_end(&t);
	rm_dir(t.dir);
}
END_TEST

/* CTL_CONFIG: a new generation with the new handler; the old workers finish
 * their job first (its result counts) and exit. */
START_TEST(reload_generation)
{
	const char *w[] = { "sleep" };
	char dir[256], script[512], body[300], path[600], idstr[JOBID_STRLEN + 1];
	const char *ew[1];
	struct harness t;
	struct config c;
	uint64_t before, after;
	struct slot *sl;
	int gen1 = 0;

	cfg_init(&c, HANDLER_SLEEP, 2, w, 0);
	c.sleep_ms = 400;
	h_start(&t, &c, 8, 16);
	wait_idle_workers(&t, 2, 5000);
	before = h_submit(&t, "x", 1);
	wait_state(segment_slot(t.seg, jobid_slot(before)), SLOT_RUNNING, 5000);
	pre_dir(dir, sizeof(dir));
	snprintf(body, sizeof(body), "touch %s/$JOBQD_JOB_ID\n", dir);
	write_script(dir, "job.sh", body, script, sizeof(script));
	ew[0] = script;
	cfg_init(&c, HANDLER_EXEC, 3, ew, 1);
	h_ctl(&t, CTL_CONFIG, &c, sizeof(c));
	/* the old generation serves until a new worker announces itself */
	wait_log(&t, "reload: generation 1 started, retiring generation 0", 1, 10000);
	after = h_submit(&t, "y", 1);
	sl = h_wait_job(&t, after, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	sl = h_wait_job(&t, before, 5000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
	ck_assert_uint_eq(sl->attempts, 1);
	jobid_format(after, idstr);
	snprintf(path, sizeof(path), "%s/%s", dir, idstr);
	ck_assert_int_eq(access(path, F_OK), 0);
	/* the old generation leaves the scoreboard as its workers exit */
	for (int64_t end = clock_mono_ns() + 20000000000LL; clock_mono_ns() < end; msleep(10)) {
		int other = 0;

		gen1 = 0;
		for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
			struct score *sc = segment_score(t.seg, i);

			if (atomic_load(&sc->state) != SCORE_EMPTY) {
				gen1 += sc->generation == 1;
				other += sc->generation != 1;
			}
		}
		if (gen1 == 3 && other == 0)
			break;
	}
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
		struct score *sc = segment_score(t.seg, i);

		if (atomic_load(&sc->state) != SCORE_EMPTY)
			ck_assert_uint_eq(sc->generation, 1);
	}
	ck_assert_int_eq(gen1, 3);
	h_end(&t);
	ck_assert_int_eq(log_count(&t, "warn"), 0);	/* retirements are not deaths */
	rm_dir(dir);
	rm_dir(t.dir);
}
END_TEST

/* ---- batches ------------------------------------------------------------ */

/* Gated exec jobs: the payload names a file the job waits for ("go": none).
 * The harness decides when each job may end, so no case depends on time. */
struct gates {
	char dir[256], script[512], g1[300], g2[300];
};

static void gates_init(struct gates *g, struct config *c, unsigned workers)
{
	const char *w[1];

	pre_dir(g->dir, sizeof(g->dir));
	write_script(g->dir, "job.sh", "read g\n"
	    "[ \"$g\" = go ] || while [ ! -e \"$g\" ]; do sleep 0.01; done\n",
	    g->script, sizeof(g->script));
	snprintf(g->g1, sizeof(g->g1), "%s/g1", g->dir);
	snprintf(g->g2, sizeof(g->g2), "%s/g2", g->dir);
	w[0] = g->script;
	cfg_init(c, HANDLER_EXEC, workers, w, 1);
}

static uint64_t submit_gated(struct harness *t, const char *gate)
{
	return h_submit(t, gate, (uint32_t)strlen(gate));
}

static void open_gate(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	ck_assert_int_ne(fd, -1);
	close(fd);
}

/* Wait (bounded) until the running gauge is n. */
static void wait_running(struct harness *t, uint32_t n, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;

	while (atomic_load(&t->h->running) != n) {
		ck_assert_msg(clock_mono_ns() < end, "%u jobs running after %u ms, want %u",
		    atomic_load(&t->h->running), ms, n);
		msleep(2);
	}
}

/* Wait (bounded) until job sl was started by its worker. */
static void wait_started(struct slot *sl, unsigned ms)
{
	int64_t end = clock_mono_ns() + (int64_t)ms * 1000000;

	while (*(volatile int64_t *)&sl->t_started == 0) {
		ck_assert_msg(clock_mono_ns() < end, "job not started after %u ms", ms);
		msleep(2);
	}
}

/* One worker, busy; eight jobs queue up behind it: its next assignment is
 * all eight, one batch, run one after another. */
START_TEST(batch_one_worker)
{
	enum { N = 8 };
	struct gates g;
	struct harness t;
	struct config c;
	struct score *sc = NULL;
	uint64_t a, id[N];
	int32_t pid;

	gates_init(&g, &c, 1);
	h_start(&t, &c, 16, 300);
	a = submit_gated(&t, g.g1);
	wait_state(segment_slot(t.seg, jobid_slot(a)), SLOT_RUNNING, 5000);
	for (int k = 0; k < N; k++)
		id[k] = submit_gated(&t, g.g2);
	open_gate(g.g1);
	wait_running(&t, N, 5000);
	ck_assert_uint_eq(atomic_load(&t.h->queued), 0);
	wait_started(segment_slot(t.seg, jobid_slot(id[0])), 5000);
	pid = segment_slot(t.seg, jobid_slot(id[0]))->worker_pid;
	for (int k = 0; k < N; k++) {
		struct slot *sl = segment_slot(t.seg, jobid_slot(id[k]));

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_RUNNING);
		ck_assert_int_eq(sl->worker_pid, pid);
		ck_assert_uint_eq(sl->attempts, 1);
		if (k > 0)	/* waiting in the batch behind the first */
			ck_assert_int_eq(sl->t_started, 0);
	}
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++)
		if (atomic_load(&segment_score(t.seg, i)->pid) == pid)
			sc = segment_score(t.seg, i);
	ck_assert_ptr_nonnull(sc);
	ck_assert_uint_eq(atomic_load(&sc->job_id), id[0]);
	ck_assert_uint_eq(atomic_load(&sc->progress), 0);
	open_gate(g.g2);
	for (int k = 0; k < N; k++) {
		struct slot *sl = h_wait_job(&t, id[k], 10000);

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_int_ge(sl->t_started, sl->t_queued);
		ck_assert_int_ge(sl->t_finished, sl->t_started);
	}
	ck_assert_uint_eq(atomic_load(&t.h->completed), N + 1);
	ck_assert_uint_eq(atomic_load(&sc->jobs_done), N + 1);
	h_end(&t);
	rm_dir(g.dir);
	rm_dir(t.dir);
}
END_TEST

/* A batch of four; the worker is SIGKILLed on the third: the first two
 * count as done (their results were in their slots), the third fails its
 * attempt and is retried, the fourth never ran: requeued without an
 * attempt, first in line. */
START_TEST(batch_worker_killed)
{
	struct gates g;
	struct harness t;
	struct config c;
	struct score *sc;
	char line[128], idstr[JOBID_STRLEN + 1];
	uint64_t a, id[4];
	int64_t end;

	gates_init(&g, &c, 1);
	c.log_level = LOG_LEVEL_INFO;
	h_start(&t, &c, 16, 300);
	a = submit_gated(&t, g.g1);
	wait_state(segment_slot(t.seg, jobid_slot(a)), SLOT_RUNNING, 5000);
	id[0] = submit_gated(&t, "go");
	id[1] = submit_gated(&t, "go");
	id[2] = submit_gated(&t, g.g2);
	id[3] = submit_gated(&t, "go");
	open_gate(g.g1);
	sc = segment_score(t.seg, 0);
	end = clock_mono_ns() + 10 * 1000000000LL;
	while (atomic_load(&sc->progress) != 2 || atomic_load(&sc->job_id) != id[2] ||
	    atomic_load(&sc->job_started) == 0 || atomic_load(&t.h->running) != 4) {
		ck_assert_msg(clock_mono_ns() < end, "the batch's third job not running: "
		    "progress %u, running %u", atomic_load(&sc->progress),
		    atomic_load(&t.h->running));
		msleep(2);
	}
	ck_assert_int_eq(kill(atomic_load(&sc->pid), SIGKILL), 0);
	for (int k = 0; k < 2; k++) {
		struct slot *sl = h_wait_job(&t, id[k], 10000);

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
	}
	{
		struct slot *sl = segment_slot(t.seg, jobid_slot(id[2]));

		/* the replacement's batch: the fourth job, then the third's
		 * second attempt */
		end = clock_mono_ns() + 10 * 1000000000LL;
		while (sl->attempts != 2 || atomic_load(&sl->state) != SLOT_RUNNING) {
			ck_assert_msg(clock_mono_ns() < end, "third job: attempts %u state %u, "
			    "want a second attempt running", sl->attempts, atomic_load(&sl->state));
			msleep(2);
		}
		ck_assert_uint_eq(atomic_load(&t.h->retried), 1);
		open_gate(g.g2);
		sl = h_wait_job(&t, id[2], 10000);
		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 2);
		sl = h_wait_job(&t, id[3], 10000);
		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
	}
	ck_assert_uint_eq(atomic_load(&t.h->completed), 5);
	ck_assert_uint_eq(atomic_load(&t.h->failed), 0);
	ck_assert_uint_eq(atomic_load(&t.h->retried), 1);
	h_end(&t);
	jobid_format(id[2], idstr);
	snprintf(line, sizeof(line), "job %s: attempt 1 failed with status 137, requeued", idstr);
	ck_assert_int_eq(log_count(&t, line), 1);
	ck_assert_int_eq(log_count(&t, "failed with status"), 1);
	rm_dir(g.dir);
	rm_dir(t.dir);
}
END_TEST

/* job_timeout counts per job of a batch: the job that hangs is killed
 * (twice: max_attempts 2), the quick jobs around it are done, each once. */
START_TEST(batch_timeout_right_job)
{
	struct gates g;
	struct harness t;
	struct config c;
	struct slot *sl;
	char line[128], idstr[JOBID_STRLEN + 1];
	uint64_t a, id[3];

	gates_init(&g, &c, 1);
	c.job_timeout = 1;
	c.max_attempts = 2;
	h_start(&t, &c, 16, 300);
	a = submit_gated(&t, g.g1);
	wait_state(segment_slot(t.seg, jobid_slot(a)), SLOT_RUNNING, 5000);
	id[0] = submit_gated(&t, "go");
	id[1] = submit_gated(&t, g.g2);	/* never opened */
	id[2] = submit_gated(&t, "go");
	open_gate(g.g1);
	for (int k = 0; k < 3; k += 2) {
		sl = h_wait_job(&t, id[k], 20000);
		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
	}
	sl = h_wait_job(&t, id[1], 20000);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_FAILED);
	ck_assert_uint_eq(sl->attempts, 2);
	ck_assert_int_eq(sl->exit_status, 137);
	ck_assert_uint_eq(sl->reason, SLOT_REASON_TIMEOUT);
	ck_assert_uint_eq(atomic_load(&segment_slot(t.seg, jobid_slot(a))->state), SLOT_DONE);
	h_end(&t);
	jobid_format(id[1], idstr);
	snprintf(line, sizeof(line), "job %s timed out", idstr);
	ck_assert_int_eq(log_count(&t, line), 2);
	ck_assert_int_eq(log_count(&t, "timed out"), 2);
	rm_dir(g.dir);
	rm_dir(t.dir);
}
END_TEST

/* The kill for a job's timeout lands just after that job ended and the
 * next of its batch started (simulated on the scoreboard once the worker
 * is dead): the pool says so ("late"), and the dispatcher then requeues
 * the running job without charging it the attempt. */
START_TEST(timeout_kill_late)
{
	const char *w[] = { "sleep" };
	char name[64], err[256];
	struct segment *seg;
	struct config c;
	struct pool *p;
	struct score *sc;
	struct proto_job job[2];
	struct msg_idle m;
	struct pool_done done;
	struct pool_death x;
	int64_t end = clock_mono_ns() + 10 * 1000000000LL;
	int wi;

	snprintf(name, sizeof(name), "/jobqd-dtest-%ld-late", (long)getpid());
	segment_unlink(name);
	ck_assert_int_eq(segment_open(name, 4, 16, 0, geteuid(), &seg, err, sizeof(err)), SEG_CREATED);
	cfg_init(&c, HANDLER_SLEEP, 1, w, 0);
	c.sleep_ms = 60000;
	ck_assert_ptr_nonnull(p = pool_create(seg, err, sizeof(err)));
	ck_assert_int_ge(wi = pool_spawn(p, &c, 0), 0);
	while (proto_read(pool_idle_fd(p), &m, sizeof(m)) != 1) {
		ck_assert_msg(clock_mono_ns() < end, "no announcement in 10 s");
		msleep(2);
	}
	ck_assert_int_eq(pool_idle(p, &m, &done), 0);
	for (int k = 0; k < 2; k++) {
		long i = segment_reserve(seg);

		ck_assert_int_ge(i, 0);
		job[k] = (struct proto_job){ .slot = (uint32_t)i, .attempt = 1,
		    .job_id = segment_enqueue(seg, (uint32_t)i, 1) };
	}
	ck_assert_int_eq(pool_take_idle(p), wi);
	ck_assert_int_eq(pool_assign(p, (uint32_t)wi, job, 2, 1), 0);	/* 1 ns each */
	sc = segment_score(seg, (uint32_t)wi);
	while (atomic_load(&sc->job_started) == 0) {
		ck_assert_msg(clock_mono_ns() < end, "the first job did not start in 10 s");
		msleep(2);
	}
	pool_expire(p, clock_mono_ns());	/* job[0]'s timeout: killed */
	ck_assert_uint_eq(pool_reap(p, 1), 1);
	/* as if job[0] had ended and job[1] started before the kill landed */
	atomic_store(&sc->progress, 1);
	atomic_store(&sc->job_id, job[1].job_id);
	ck_assert_int_eq(pool_next_death(p, &x), 1);
	ck_assert(x.timed_out && x.late);
	ck_assert_uint_eq(x.n, 2);
	ck_assert_uint_eq(x.finished, 1);
	ck_assert_int_eq(x.running, 1);
	pool_destroy(p);
	segment_close(seg);
	segment_unlink(name);
}
END_TEST

/* A reload to a handler whose workers cannot start (a spool directory
 * that cannot be made: each new worker exits with status 1 before it
 * announces itself): the old generation keeps running jobs throughout, the
 * new one is given up, logged with the reason and counted as a failed
 * reload; a later good reload still takes over. */
START_TEST(reload_cannot_start)
{
	const char *w[] = { "sleep" }, *bad[] = { "/proc/self/no/such/spool" };
	struct harness t;
	struct config c, nc;
	uint64_t id[4];

	cfg_init(&c, HANDLER_SLEEP, 2, w, 0);
	c.sleep_ms = 1;
	h_start(&t, &c, 16, 16);
	wait_idle_workers(&t, 2, 5000);
	cfg_init(&nc, HANDLER_SPOOL, 2, bad, 1);
	h_ctl(&t, CTL_CONFIG, &nc, sizeof(nc));
	for (int k = 0; k < 2; k++)
		id[k] = h_submit(&t, "x", 1);
	wait_log(&t, "reload: the new workers cannot start (exited with status 1): "
	    "keeping generation 0", 1, 20000);
	for (int k = 2; k < 4; k++)
		id[k] = h_submit(&t, "y", 1);
	for (int k = 0; k < 4; k++) {
		struct slot *sl = h_wait_job(&t, id[k], 10000);

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
	}
	ck_assert_uint_eq(atomic_load(&t.h->reloads_failed), 1);
	ck_assert_uint_eq(atomic_load(&t.h->reloads_ok), 0);
	/* a good reload after it: generation 2 takes over */
	cfg_init(&nc, HANDLER_NOOP, 2, NULL, 0);
	h_ctl(&t, CTL_CONFIG, &nc, sizeof(nc));
	wait_log(&t, "reload: generation 2 started, retiring generation 0", 1, 10000);
	id[0] = h_submit(&t, "z", 1);
	ck_assert_uint_eq(atomic_load(&h_wait_job(&t, id[0], 10000)->state), SLOT_DONE);
	ck_assert_uint_eq(atomic_load(&t.h->reloads_ok), 1);
	h_end(&t);
	ck_assert_int_eq(log_count(&t, "generation 1 started"), 0);
	rm_dir(t.dir);
}
END_TEST

/* A reload while a worker is in the middle of a batch: the retired worker
 * finishes its batch, the new generation runs new work meanwhile; every
 * job done once. */
START_TEST(batch_reload)
{
	struct gates g;
	struct harness t;
	struct config c;
	uint64_t a, id[4], more[2];

	gates_init(&g, &c, 1);
	h_start(&t, &c, 16, 300);
	a = submit_gated(&t, g.g1);
	wait_state(segment_slot(t.seg, jobid_slot(a)), SLOT_RUNNING, 5000);
	for (int k = 0; k < 4; k++)
		id[k] = submit_gated(&t, g.g2);
	open_gate(g.g1);
	wait_running(&t, 4, 5000);
	h_ctl(&t, CTL_CONFIG, &c, sizeof(c));
	for (int k = 0; k < 2; k++)
		more[k] = submit_gated(&t, "go");
	for (int k = 0; k < 2; k++)
		ck_assert_uint_eq(atomic_load(&h_wait_job(&t, more[k], 10000)->state), SLOT_DONE);
	for (int k = 0; k < 4; k++)
		ck_assert_uint_eq(atomic_load(&segment_slot(t.seg, jobid_slot(id[k]))->state),
		    SLOT_RUNNING);
	open_gate(g.g2);
	for (int k = 0; k < 4; k++) {
		struct slot *sl = h_wait_job(&t, id[k], 10000);

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
	}
	ck_assert_uint_eq(atomic_load(&t.h->completed), 7);
	ck_assert_uint_eq(atomic_load(&t.h->retried), 0);
	h_end(&t);
	ck_assert_int_eq(log_count(&t, "warn"), 0);	/* no death, no lost job */
	rm_dir(g.dir);
	rm_dir(t.dir);
}
END_TEST

/* Honest latency: four workers all busy, three jobs queued (fewer than the
 * pool).  As the workers free up, each queued job goes to a worker of its
 * own and starts; none waits in another's batch. */
START_TEST(short_queue_not_batched)
{
	struct gates g;
	struct harness t;
	struct config c;
	uint64_t busy[4], id[3];
	int32_t pid[3];

	gates_init(&g, &c, 4);
	h_start(&t, &c, 16, 300);
	wait_idle_workers(&t, 4, 5000);
	for (int k = 0; k < 4; k++)
		busy[k] = submit_gated(&t, g.g1);
	wait_running(&t, 4, 5000);
	for (int k = 0; k < 3; k++)
		id[k] = submit_gated(&t, g.g2);
	open_gate(g.g1);
	for (int k = 0; k < 3; k++) {
		struct slot *sl = segment_slot(t.seg, jobid_slot(id[k]));

		wait_started(sl, 10000);
		pid[k] = sl->worker_pid;
		for (int j = 0; j < k; j++)
			ck_assert_int_ne(pid[k], pid[j]);
	}
	open_gate(g.g2);
	for (int k = 0; k < 4; k++)
		ck_assert_uint_eq(atomic_load(&h_wait_job(&t, busy[k], 10000)->state), SLOT_DONE);
	for (int k = 0; k < 3; k++)
		ck_assert_uint_eq(atomic_load(&h_wait_job(&t, id[k], 10000)->state), SLOT_DONE);
	h_end(&t);
	rm_dir(g.dir);
	rm_dir(t.dir);
}
END_TEST

/* Eight delayed jobs, already due, then eight queued ones, all on the
 * ready ring, published while no dispatcher ran (after a recovery). */
static void publish_delayed(struct harness *t)
{
	for (int k = 0; k < 16; k++) {
		long i = segment_reserve(t->seg);

		ck_assert_int_ge(i, 0);
		(void)segment_assign(t->seg, (uint32_t)i, 0);
		if (k < 8)
			segment_delay(t->seg, (uint32_t)i, 1);
		ck_assert_int_eq(segment_publish(t->seg, (uint32_t)i), 0);
	}
}

/* A starting dispatcher takes the delayed jobs still on the ready ring
 * from the ring, not from its scan of the slot table: each runs once,
 * and the dispatcher lives (one taken twice would be run twice, or found
 * not queued: fatal). */
START_TEST(delayed_on_ring_at_start)
{
	struct harness t;
	struct config c;

	cfg_init(&c, HANDLER_NOOP, 1, NULL, 0);
	h_prefork = publish_delayed;
	h_start(&t, &c, 16, 64);
	h_prefork = NULL;
	for (uint32_t i = 0; i < 16; i++) {
		struct slot *sl = h_wait_job(&t, segment_slot(t.seg, i)->id, 10000);

		ck_assert_uint_eq(atomic_load(&sl->state), SLOT_DONE);
		ck_assert_uint_eq(sl->attempts, 1);
	}
	ck_assert_uint_eq(atomic_load(&t.h->completed), 16);
	ck_assert_int_eq(dead_or_zombie(t.disp), 0);
	h_end(&t);
	rm_dir(t.dir);
}
END_TEST

Suite *dispatcher_suite(void);
Suite *dispatcher_suite(void)
{
	Suite *s = suite_create("dispatcher");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, noop_100k);
	tcase_add_test(tc, sleep_logs);
	tcase_add_test(tc, exec_basics);
	tcase_add_test(tc, exec_big_payload);
	tcase_add_test(tc, exec_sigkill);
	tcase_add_test(tc, timeout_kills);
	tcase_add_test(tc, spool_files);
	tcase_add_test(tc, exec_ends_at_exit);
	tcase_add_test(tc, spool_tmp_safe);
	tcase_add_test(tc, assign_to_dead_worker_free);
	tcase_add_test(tc, stop_charges_own_crash);
	tcase_add_test(tc, stale_idle_dropped);
	tcase_add_test(tc, broken_handler_throttled);
	tcase_add_test(tc, drain_then_exit);
	tcase_add_test(tc, eof_finishes_running);
	tcase_add_test(tc, stop_kills);
	tcase_add_test(tc, reload_generation);
	tcase_add_test(tc, batch_one_worker);
	tcase_add_test(tc, batch_worker_killed);
	tcase_add_test(tc, batch_timeout_right_job);
	tcase_add_test(tc, batch_reload);
	tcase_add_test(tc, reload_cannot_start);
	tcase_add_test(tc, timeout_kill_late);
	tcase_add_test(tc, short_queue_not_batched);
	tcase_add_test(tc, delayed_on_ring_at_start);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dispatcher_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
