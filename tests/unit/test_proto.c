/*
 * test_proto — Check suite for common/proto.c and common/fd.c.
 *
 * proto: whole messages through a pipe, EOF, a message cut short, EAGAIN
 * on an empty or full non-blocking pipe, a message arriving in two parts,
 * and four writer processes on one pipe whose messages must never
 * interleave.  fd: fd_keep_only in a forked child, checked fd by fd with
 * fcntl(F_GETFD); fd_pipe and fd_nonblock flags.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/child.h"
#include "common/clock.h"
#include "common/fd.h"
#include "common/proto.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))


static void
wait_ok(pid_t pid, const char *what)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "%s: status got %#x, want exit 0", what, st);
}

/* --- proto ---------------------------------------------------------------- */

static const struct msg_idle idle_msg = {
	.index = 7, .pid = 4242, .gen = 99, .slot = 12345,
	.job_id = 0x0123456789abcdefULL, .status = 137, .pad = 0,
};
static const struct msg_assign assign_msg = {
	.n = 3, .job = { { 3, 2, 0x300003 }, { 9, 1, 0x400009 }, { 1, 1, 0x500001 } },
};
static const struct msg_ctl ctl_msg = { .type = CTL_DRAIN, .len = 0 };

static const struct {
	const char *name;
	const void *msg;
	size_t len;
} msgs[] = {
	{ "msg_idle", &idle_msg, sizeof(idle_msg) },
	{ "msg_assign", &assign_msg, sizeof(assign_msg) },
	{ "msg_ctl", &ctl_msg, sizeof(ctl_msg) },
};

/* Three copies of a message go through; then EOF reads as 0. */
START_TEST(test_roundtrip)
{
	unsigned char buf[sizeof(struct msg_assign) + 1];
	int p[2];

	ck_assert_int_eq(fd_pipe(p, 0), 0);
	for (int k = 0; k < 3; k++)
		ck_assert_msg(proto_write(p[1], msgs[_i].msg, msgs[_i].len) == 0,
		    "%s: write got -1 (%s), want 0", msgs[_i].name, strerror(errno));
	close(p[1]);
	for (int k = 0; k < 3; k++) {
		memset(buf, 0xee, sizeof(buf));
		ck_assert_msg(proto_read(p[0], buf, msgs[_i].len) == 1,
		    "%s: read %d got not 1, want 1", msgs[_i].name, k);
		ck_assert_msg(memcmp(buf, msgs[_i].msg, msgs[_i].len) == 0,
		    "%s: read %d: bytes differ", msgs[_i].name, k);
		ck_assert_msg(buf[msgs[_i].len] == 0xee, "%s: read past the message",
		    msgs[_i].name);
	}
	ck_assert_msg(proto_read(p[0], buf, msgs[_i].len) == 0,
	    "%s: read at EOF: want 0", msgs[_i].name);
	close(p[0]);
}
END_TEST

/* EOF before any byte is 0, on a blocking and a non-blocking pipe. */
START_TEST(test_eof)
{
	struct msg_idle m;
	int p[2], r;

	ck_assert_int_eq(fd_pipe(p, _i ? O_NONBLOCK : 0), 0);
	close(p[1]);
	r = proto_read(p[0], &m, sizeof(m));
	ck_assert_msg(r == 0, "%s: got %d, want 0", _i ? "non-blocking" : "blocking", r);
	close(p[0]);
}
END_TEST

/* A message cut short by EOF is -1 with EPROTO, at every cut length. */
START_TEST(test_short_then_eof)
{
	struct msg_idle m;
	int p[2], r;

	for (size_t cut = 1; cut < sizeof(m); cut++) {
		ck_assert_int_eq(fd_pipe(p, _i ? O_NONBLOCK : 0), 0);
		ck_assert_int_eq(write(p[1], &idle_msg, cut), (ssize_t)cut);
		close(p[1]);
		errno = 0;
		r = proto_read(p[0], &m, sizeof(m));
		ck_assert_msg(r == -1 && errno == EPROTO,
		    "cut at %zu: got %d (%s), want -1 (EPROTO)", cut, r, strerror(errno));
		close(p[0]);
	}
}
END_TEST

/* An empty non-blocking pipe is -1 with EAGAIN (writer still open). */
START_TEST(test_eagain_empty)
{
	struct msg_assign m;
	int p[2], r;

	ck_assert_int_eq(fd_pipe(p, O_NONBLOCK), 0);
	errno = 0;
	r = proto_read(p[0], &m, sizeof(m));
	ck_assert_msg(r == -1 && errno == EAGAIN, "got %d (%s), want -1 (EAGAIN)",
	    r, strerror(errno));
	/* and the pipe still works afterwards */
	ck_assert_int_eq(proto_write(p[1], &assign_msg, sizeof(assign_msg)), 0);
	ck_assert_int_eq(proto_read(p[0], &m, sizeof(m)), 1);
	ck_assert_int_eq(memcmp(&m, &assign_msg, sizeof(m)), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* A full non-blocking pipe: write is -1 with EAGAIN and writes nothing;
 * every message written before is read back whole. */
START_TEST(test_eagain_full)
{
	struct msg_idle m;
	int p[2], r;
	uint32_t n = 0;

	ck_assert_int_eq(fd_pipe(p, O_NONBLOCK), 0);
	for (;;) {
		m = idle_msg;
		m.slot = n;
		if ((r = proto_write(p[1], &m, sizeof(m))) == -1)
			break;
		n++;
		ck_assert_msg(n < 1000000, "pipe never filled");
	}
	ck_assert_msg(errno == EAGAIN, "write on full: got %s, want EAGAIN", strerror(errno));
	ck_assert_msg(n > 0, "no message fitted");
	close(p[1]);
	for (uint32_t k = 0; k < n; k++) {
		ck_assert_int_eq(proto_read(p[0], &m, sizeof(m)), 1);
		ck_assert_msg(m.slot == k, "message %u: slot got %u, want %u", k, m.slot, k);
	}
	ck_assert_msg(proto_read(p[0], &m, sizeof(m)) == 0,
	    "after %u messages: want EOF (nothing of the failed write)", n);
	close(p[0]);
}
END_TEST

/* A message written in two parts 50 ms apart is read whole, also on a
 * non-blocking pipe (proto_read waits for the rest). */
START_TEST(test_split_message)
{
	struct msg_idle m;
	struct pollfd pfd;
	pid_t pid;
	int p[2];

	ck_assert_int_eq(fd_pipe(p, _i ? O_NONBLOCK : 0), 0);
	if ((pid = test_fork()) == 0) {
		if (write(p[1], &idle_msg, 10) != 10)
			_exit(1);
		usleep(50 * 1000);
		if (write(p[1], (const char *)&idle_msg + 10, sizeof(idle_msg) - 10) !=
		    (ssize_t)(sizeof(idle_msg) - 10))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_msg(proto_read(p[0], &m, sizeof(m)) == 1, "got not 1 (%s), want 1",
	    strerror(errno));
	ck_assert_msg(memcmp(&m, &idle_msg, sizeof(m)) == 0, "bytes differ");
	wait_ok(pid, "writer");
	ck_assert_int_eq(proto_read(p[0], &m, sizeof(m)), 0);
	close(p[0]);
}
END_TEST

/* Non-blocking: half a message and then silence from a writer that stays
 * alive is -1 with EPROTO ("no more bytes in the middle of a message"),
 * not a hang. */
START_TEST(test_split_stalled)
{
	struct msg_idle m;
	pid_t pid;
	int p[2], go[2], r;
	int64_t t0, ms;
	char c;

	ck_assert_int_eq(fd_pipe(p, O_NONBLOCK), 0);
	ck_assert_int_eq(fd_pipe(go, 0), 0);
	if ((pid = test_fork()) == 0) {
		close(go[1]);
		if (write(p[1], &idle_msg, 10) != 10)
			_exit(1);
		(void)read(go[0], &c, 1);	/* until the parent is done */
		_exit(0);
	}
	close(go[0]);
	close(p[1]);
	usleep(20 * 1000);
	t0 = clock_mono_ns();
	errno = 0;
	r = proto_read(p[0], &m, sizeof(m));
	ms = (clock_mono_ns() - t0) / 1000000;
	close(go[1]);
	wait_ok(pid, "writer");
	ck_assert_msg(r == -1 && errno == EPROTO, "got %d (%s), want -1 (EPROTO)",
	    r, strerror(errno));
	ck_assert_msg(ms < 5000, "gave up after %lld ms, want a bounded wait", (long long)ms);
	close(p[0]);
}
END_TEST

#define WRITERS		4
#define PER_WRITER	10000u

/* The fields of writer w's message k, derived so any mix-up shows. */
static void
make_idle(struct msg_idle *m, uint32_t w, uint32_t k, int32_t pid)
{
	m->index = w;
	m->pid = pid;
	m->gen = 0x9e3779b9u * (k + 1) ^ w;
	m->slot = k;
	m->job_id = ((uint64_t)w << 48) | ((uint64_t)k << 16) | 0xbeef;
	m->status = (int32_t)(k * 31 + w);
	m->pad = ~(m->gen ^ m->slot ^ (uint32_t)m->status);
}

/* Four processes write 10,000 messages each to one blocking pipe; every
 * message read is intact and each writer's come in order. */
START_TEST(test_no_interleave)
{
	pid_t pids[WRITERS];
	uint32_t next[WRITERS] = { 0 };
	struct msg_idle m, want;
	int p[2], r;
	uint32_t total = 0;

	ck_assert_int_eq(fd_pipe(p, 0), 0);
	for (uint32_t w = 0; w < WRITERS; w++) {
		if ((pids[w] = test_fork()) == 0) {
			struct msg_idle out;

			close(p[0]);
			for (uint32_t k = 0; k < PER_WRITER; k++) {
				make_idle(&out, w, k, (int32_t)getpid());
				if (proto_write(p[1], &out, sizeof(out)) == -1)
					_exit(1);
			}
			_exit(0);
		}
	}
	close(p[1]);
	while ((r = proto_read(p[0], &m, sizeof(m))) == 1) {
		uint32_t w = m.index;

		ck_assert_msg(w < WRITERS, "message %u: index got %u, want < %d", total, w, WRITERS);
		make_idle(&want, w, next[w], pids[w]);
		ck_assert_msg(memcmp(&m, &want, sizeof(m)) == 0,
		    "message %u from writer %u: got slot %u pid %d, want slot %u pid %d (intact)",
		    total, w, m.slot, m.pid, want.slot, want.pid);
		next[w]++;
		total++;
	}
	ck_assert_msg(r == 0, "read ended with %d (%s), want EOF", r, strerror(errno));
	for (uint32_t w = 0; w < WRITERS; w++) {
		wait_ok(pids[w], "writer");
		ck_assert_msg(next[w] == PER_WRITER, "writer %u: got %u messages, want %u",
		    w, next[w], PER_WRITER);
	}
	close(p[0]);
}
END_TEST

/* Writers report batches of PROTO_BATCH results in one write each, as a
 * worker does: the reader finds every batch whole, never mixed with
 * another writer's messages. */
START_TEST(test_batch_no_interleave)
{
	enum { BATCHES = 500 };
	pid_t pids[WRITERS];
	uint32_t next[WRITERS] = { 0 };
	struct msg_idle m, want;
	int p[2], r;
	uint32_t total = 0, cur = WRITERS;

	ck_assert_int_eq(fd_pipe(p, 0), 0);
	for (uint32_t w = 0; w < WRITERS; w++) {
		if ((pids[w] = test_fork()) == 0) {
			struct msg_idle out[PROTO_BATCH];

			close(p[0]);
			for (uint32_t b = 0; b < BATCHES; b++) {
				for (uint32_t k = 0; k < PROTO_BATCH; k++)
					make_idle(&out[k], w, b * PROTO_BATCH + k, (int32_t)getpid());
				if (proto_write(p[1], out, sizeof(out)) == -1)
					_exit(1);
			}
			_exit(0);
		}
	}
	close(p[1]);
	while ((r = proto_read(p[0], &m, sizeof(m))) == 1) {
		uint32_t w = m.index;

		ck_assert_msg(w < WRITERS, "message %u: index got %u, want < %d", total, w, WRITERS);
		/* inside a batch, only the writer that started it */
		if (total % PROTO_BATCH != 0)
			ck_assert_msg(w == cur, "message %u (of a batch of %d) from writer %u, "
			    "want writer %u", total, PROTO_BATCH, w, cur);
		cur = w;
		make_idle(&want, w, next[w], pids[w]);
		ck_assert_msg(memcmp(&m, &want, sizeof(m)) == 0,
		    "message %u from writer %u: got slot %u, want slot %u (intact, in order)",
		    total, w, m.slot, want.slot);
		next[w]++;
		total++;
	}
	ck_assert_msg(r == 0, "read ended with %d (%s), want EOF", r, strerror(errno));
	for (uint32_t w = 0; w < WRITERS; w++) {
		wait_ok(pids[w], "writer");
		ck_assert_msg(next[w] == BATCHES * PROTO_BATCH, "writer %u: got %u messages, want %u",
		    w, next[w], BATCHES * PROTO_BATCH);
	}
	close(p[0]);
}
END_TEST

/* --- fd ------------------------------------------------------------------- */

#define FD_SCAN 200	/* check fds 3..FD_SCAN-1 */

static const struct {
	const char *name;
	int keep[8];		/* indexes into the opened fds; -1 ends; 100+n is fd n */
	int errno_want;		/* 0: success */
	size_t n_override;	/* pass this n instead (EINVAL case) */
} keeps[] = {
	{ "keep none", { -1 }, 0, 0 },
	{ "keep one", { 2, -1 }, 0, 0 },
	{ "keep first and last", { 0, 5, -1 }, 0, 0 },
	{ "unsorted with duplicates", { 4, 1, 4, 3, 1, -1 }, 0, 0 },
	{ "stdio and a high fd", { 100, 101, 102, 6, -1 }, 0, 0 },
	{ "adjacent", { 1, 2, 3, -1 }, 0, 0 },
	{ "too many", { -1 }, EINVAL, 65 },
};

/* In a child: open 7 fds (the last dup2'ed to 150), keep some, check every
 * fd 0..FD_SCAN-1; exit 0, or 1 + the first wrong fd (so < 255). */
static int
keep_child(int row)
{
	int fds[7], keep[70], want[FD_SCAN] = { 0 }, p[2];
	size_t n = 0;

	for (int i = 0; i < 6; i += 2) {
		if (pipe(p) == -1)
			return 250;
		fds[i] = p[0];
		fds[i + 1] = p[1];
	}
	if ((fds[6] = dup2(fds[0], 150)) != 150)
		return 251;
	for (int i = 0; i < 8 && keeps[row].keep[i] != -1; i++) {
		int k = keeps[row].keep[i];

		keep[n++] = k >= 100 ? k - 100 : fds[k];
	}
	if (keeps[row].n_override) {
		for (n = 0; n < keeps[row].n_override; n++)
			keep[n] = 3;
		errno = 0;
		if (fd_keep_only(keep, n) != -1 || errno != EINVAL)
			return 252;
		return 0;
	}
	if (fd_keep_only(keep, n) == -1)
		return 253;
	want[0] = want[1] = want[2] = 1;	/* never touched */
	for (size_t i = 0; i < n; i++)
		want[keep[i]] = 1;
	for (int fd = 0; fd < FD_SCAN; fd++) {
		int open_now = fcntl(fd, F_GETFD) != -1;

		if (!open_now && errno != EBADF)
			return 254;
		if (open_now != want[fd])
			return 1 + fd;
	}
	return 0;
}

START_TEST(test_keep_only)
{
	pid_t pid;
	int st;

	if ((pid = test_fork()) == 0)
		_exit(keep_child(_i));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "%s: child died, status %#x", keeps[_i].name, st);
	st = WEXITSTATUS(st);
	ck_assert_msg(st < 250, "%s: setup or call failed (%d)", keeps[_i].name, st);
	ck_assert_msg(st == 0, "%s: fd %d has the wrong state after fd_keep_only",
	    keeps[_i].name, st - 1);
}
END_TEST

/* fd_pipe sets close-on-exec (and O_NONBLOCK when asked); fd_nonblock
 * toggles O_NONBLOCK. */
START_TEST(test_pipe_flags)
{
	int p[2];

	for (int nb = 0; nb <= 1; nb++) {
		ck_assert_int_eq(fd_pipe(p, nb ? O_NONBLOCK : 0), 0);
		for (int e = 0; e < 2; e++) {
			int fdfl = fcntl(p[e], F_GETFD), fl = fcntl(p[e], F_GETFL);

			ck_assert_msg(fdfl & FD_CLOEXEC, "fd_pipe(%d) end %d: FD_CLOEXEC missing", nb, e);
			ck_assert_msg(!!(fl & O_NONBLOCK) == nb, "fd_pipe(%d) end %d: O_NONBLOCK got %d, want %d",
			    nb, e, !!(fl & O_NONBLOCK), nb);
		}
		ck_assert_int_eq(fd_nonblock(p[0], !nb), 0);
		ck_assert_msg(!!(fcntl(p[0], F_GETFL) & O_NONBLOCK) == !nb,
		    "fd_nonblock(%d): O_NONBLOCK got %d", !nb, !nb ? 0 : 1);
		close(p[0]);
		close(p[1]);
	}
	ck_assert_int_eq(fd_nonblock(-1, 1), -1);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("proto");
	tcase_set_timeout(tc, 15);
	tcase_add_loop_test(tc, test_roundtrip, 0, (int)NELEM(msgs));
	tcase_add_loop_test(tc, test_eof, 0, 2);
	tcase_add_loop_test(tc, test_short_then_eof, 0, 2);
	tcase_add_test(tc, test_eagain_empty);
	tcase_add_test(tc, test_eagain_full);
	tcase_add_loop_test(tc, test_split_message, 0, 2);
	tcase_add_test(tc, test_split_stalled);
	tcase_add_test(tc, test_no_interleave);
	tcase_add_test(tc, test_batch_no_interleave);
	suite_add_tcase(s, tc);

	tc = tcase_create("fd");
	tcase_add_loop_test(tc, test_keep_only, 0, (int)NELEM(keeps));
	tcase_add_test(tc, test_pipe_flags);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
