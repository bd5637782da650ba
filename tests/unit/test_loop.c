/*
 * test_loop — server/loop.c: readiness callbacks (what was asked, errors
 * and hang-ups always), changing and removing watches, removal (and fd
 * reuse) during a callback, timers firing earliest first, re-armed or
 * cancelled from their own callback, the round hook after the events and
 * before the timers, its extra passes without waiting.
 *
 * Nothing waits for time to pass: a poll with timeout 0 sees what is
 * ready now; a timer is waited for with loop_poll(l, -1), which returns
 * once it is due (Check's timeout bounds a hang).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/loop.h"

/* What the callbacks saw, in order: one letter each. */
static char seen[256];
static size_t nseen;

static void note(char ch)
{
	if (nseen + 1 < sizeof seen)
		seen[nseen++] = ch;
	seen[nseen] = '\0';
}

static void reset(void)
{
	nseen = 0;
	seen[0] = '\0';
}

struct probe {
	char name;
	int fd;			/* as the callback saw it */
	unsigned ready;
	int calls;
	int drain;		/* read a byte on LOOP_IN */
	struct loop *l;
	int unwatch_fd;		/* -1, or unwatch this fd when called */
	int close_fd;		/* -1, or loop_close this fd when called */
	int reuse[2];		/* ... and open a pipe in its place here */
	struct probe *reuse_probe;	/* watched on reuse[0] */
};

static void on_fd(void *arg, int fd, unsigned ready)
{
	struct probe *p = arg;

	p->calls++;
	p->fd = fd;
	p->ready = ready;
	note(p->name);
	if (p->drain && (ready & LOOP_IN)) {
		char b;

		ck_assert_int_eq(read(fd, &b, 1), 1);
	}
	if (p->unwatch_fd != -1)
		loop_unwatch(p->l, p->unwatch_fd);
	if (p->close_fd != -1) {
		ck_assert_int_eq(loop_close(p->l, p->close_fd), 0);
		ck_assert_int_eq(pipe2(p->reuse, O_NONBLOCK), 0);
		ck_assert_int_eq(loop_watch(p->l, p->reuse[0], LOOP_IN, on_fd, p->reuse_probe), 0);
	}
}

static struct probe probe(char name, struct loop *l)
{
	return (struct probe){ .name = name, .fd = -1, .l = l, .unwatch_fd = -1,
	    .close_fd = -1, .reuse = { -1, -1 } };
}

static void mkpipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

START_TEST(readable_calls_back)
{
	struct loop *l = loop_new();
	struct probe a = probe('a', l);
	int p[2];

	ck_assert_ptr_nonnull(l);
	mkpipe(p);
	/* far above the table's first size: it grows */
	ck_assert_int_eq(dup2(p[0], 300), 300);
	close(p[0]);
	p[0] = 300;
	a.drain = 1;
	ck_assert_int_eq(loop_watch(l, p[0], LOOP_IN, on_fd, &a), 0);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.fd, 300);
	ck_assert_uint_eq(a.ready, LOOP_IN);
	/* drained: nothing more */
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls, 1);
	/* the write end closed: a hang-up */
	a.drain = 0;
	close(p[1]);
	ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_int_eq(a.calls, 2);
	ck_assert(a.ready & LOOP_HUP);
	ck_assert_int_eq(loop_close(l, p[0]), 0);
	ck_assert_int_eq(loop_watch(l, -1, LOOP_IN, on_fd, &a), -1);
	loop_free(l);
}
END_TEST

START_TEST(change_and_unwatch)
{
	struct loop *l = loop_new();
	struct probe a = probe('a', l), b = probe('b', l);
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	/* nothing asked: readable and writable are not reported */
	ck_assert_int_eq(loop_watch(l, sv[0], 0, on_fd, &a), 0);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls, 0);
	/* writable asked, and a new callback and argument */
	ck_assert_int_eq(loop_watch(l, sv[0], LOOP_OUT, on_fd, &b), 0);
	ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_uint_eq(b.ready, LOOP_OUT);
	ck_assert_int_eq(loop_watch(l, sv[0], LOOP_IN | LOOP_OUT, on_fd, &b), 0);
	ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_uint_eq(b.ready, LOOP_IN | LOOP_OUT);
	/* unwatched: silent, and the fd stays open (watched again) */
	loop_unwatch(l, sv[0]);
	loop_unwatch(l, sv[0]);	/* twice is harmless */
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(b.calls, 2);
	ck_assert_int_eq(loop_watch(l, sv[0], LOOP_IN, on_fd, &a), 0);
	ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_int_eq(a.calls, 1);
	close(sv[0]);
	close(sv[1]);
	loop_free(l);
}
END_TEST

/* Two fds ready in one round; whichever comes first removes the other:
 * the other is not called.  The same when it removes itself. */
START_TEST(unwatch_during_callback)
{
	struct loop *l = loop_new();
	struct probe a = probe('a', l), b = probe('b', l);
	int p[2], q[2];

	mkpipe(p);
	mkpipe(q);
	a.unwatch_fd = q[0];
	b.unwatch_fd = p[0];
	ck_assert_int_eq(loop_watch(l, p[0], LOOP_IN, on_fd, &a), 0);
	ck_assert_int_eq(loop_watch(l, q[0], LOOP_IN, on_fd, &b), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(write(q[1], "x", 1), 1);
	/* both ready before the wait: one round sees both */
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls + b.calls, 1);
	/* the survivor removes itself: never called again, though readable */
	(a.calls ? &a : &b)->unwatch_fd = a.calls ? p[0] : q[0];
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls + b.calls, 2);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls + b.calls, 2);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	loop_free(l);
}
END_TEST

/* A callback closes another ready fd and a new pipe takes its number: the
 * event of the old fd, already in the round, must not reach the new one. */
START_TEST(closed_and_reused_during_callback)
{
	struct loop *l = loop_new();
	struct probe a = probe('a', l), b = probe('b', l), c = probe('c', l);
	int p[2], q[2];

	mkpipe(p);
	mkpipe(q);
	a.drain = b.drain = c.drain = 1;
	a.close_fd = q[0];
	a.reuse_probe = &c;
	b.close_fd = p[0];
	b.reuse_probe = &c;
	ck_assert_int_eq(loop_watch(l, p[0], LOOP_IN, on_fd, &a), 0);
	ck_assert_int_eq(loop_watch(l, q[0], LOOP_IN, on_fd, &b), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(write(q[1], "x", 1), 1);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(a.calls + b.calls, 1);
	{
		struct probe *first = a.calls ? &a : &b;
		int gone = a.calls ? q[0] : p[0];

		/* the lowest free fd: the one just closed */
		ck_assert_int_eq(first->reuse[0], gone);
		ck_assert_int_eq(c.calls, 0);
		/* the new registration works */
		ck_assert_int_eq(write(first->reuse[1], "y", 1), 1);
		ck_assert_int_eq(loop_poll(l, -1), 0);
		ck_assert_int_eq(c.calls, 1);
		ck_assert_int_eq(c.fd, gone);
		close(first->reuse[0]);
		close(first->reuse[1]);
		close(a.calls ? p[0] : q[0]);
	}
	close(p[1]);
	close(q[1]);
	loop_free(l);
}
END_TEST

/* --- timers ---------------------------------------------------------------- */

struct tm_probe {
	char name;
	int next;		/* what the callback returns */
	int calls;
	struct loop *l;
	long long cancel;	/* 0, or cancel this timer when called */
	int cancel_rc;
};

static int on_timer(void *arg)
{
	struct tm_probe *t = arg;

	t->calls++;
	note(t->name);
	if (t->cancel != 0)
		t->cancel_rc = loop_timer_cancel(t->l, t->cancel);
	return t->next;
}

START_TEST(timers_fire_in_order)
{
	struct loop *l = loop_new();
	struct tm_probe a = { .name = 'a', .next = LOOP_STOP },
	    b = { .name = 'b', .next = LOOP_STOP },
	    c = { .name = 'c', .next = LOOP_STOP },
	    d = { .name = 'd', .next = LOOP_STOP };

	reset();
	ck_assert_int_gt(loop_timer(l, 30, on_timer, &c), 0);
	ck_assert_int_gt(loop_timer(l, 10, on_timer, &a), 0);
	ck_assert_int_gt(loop_timer(l, 20, on_timer, &b), 0);
	/* due with a: after it, in the order armed */
	ck_assert_int_gt(loop_timer(l, 10, on_timer, &d), 0);
	/* a poll with no timeout returns when the first is due */
	while (nseen < 4)
		ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_str_eq(seen, "adbc");
	/* LOOP_STOP: once each */
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_str_eq(seen, "adbc");
	loop_free(l);
}
END_TEST

START_TEST(timer_rearm_and_cancel)
{
	struct loop *l = loop_new();
	struct tm_probe zero = { .name = 'z', .next = 0 },
	    self = { .name = 's', .next = 10 }, other = { .name = 'o', .next = 10 },
	    victim = { .name = 'v', .next = LOOP_STOP },
	    never = { .name = 'n', .next = LOOP_STOP };
	long long id_self, id_never;

	reset();
	/* a 0 ms timer that re-arms at 0 ms fires once per round */
	ck_assert_int_gt(loop_timer(l, 0, on_timer, &zero), 0);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(zero.calls, 1);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(zero.calls, 2);
	zero.next = LOOP_STOP;
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(zero.calls, 3);
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_int_eq(zero.calls, 3);

	/* cancelled before it is due: never fires, and is gone */
	id_never = loop_timer(l, 0, on_timer, &never);
	ck_assert_int_eq(loop_timer_cancel(l, id_never), 0);
	ck_assert_int_eq(loop_timer_cancel(l, id_never), -1);

	/* one cancels itself (and asks to be re-armed: it is not), another
	 * due in the same round cancels a later one due then too */
	self.l = other.l = l;
	id_self = loop_timer(l, 0, on_timer, &self);
	self.cancel = id_self;
	ck_assert_int_gt(loop_timer(l, 0, on_timer, &other), 0);
	other.cancel = loop_timer(l, 0, on_timer, &victim);
	reset();
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_str_eq(seen, "so");
	ck_assert_int_eq(self.cancel_rc, 0);
	ck_assert_int_eq(other.cancel_rc, 0);
	ck_assert_int_eq(loop_timer_cancel(l, id_self), -1);
	ck_assert_int_eq(never.calls, 0);
	ck_assert_int_eq(victim.calls, 0);
	/* other re-armed in 10 ms: it comes again, alone */
	other.cancel = 0;
	while (other.calls < 2)
		ck_assert_int_eq(loop_poll(l, -1), 0);
	ck_assert_str_eq(seen, "soo");
	loop_free(l);
}
END_TEST

/* --- the round hook -------------------------------------------------------- */

struct hook_probe {
	int calls, lasts;
	int gather;		/* ask for this many more passes */
	int feed;		/* ... writing a byte to this fd before each */
	int last_seen;		/* the last call's "last" */
};

static int on_hook(void *arg, int last)
{
	struct hook_probe *h = arg;

	h->calls++;
	h->lasts += last;
	h->last_seen = last;
	note('H');
	if (last || h->gather == 0)
		return 0;
	h->gather--;
	if (h->feed != -1)
		ck_assert_int_eq(write(h->feed, "x", 1), 1);
	return 1;
}

START_TEST(hook_after_events_before_timers)
{
	struct loop *l = loop_new();
	struct probe a = probe('a', l);
	struct tm_probe t = { .name = 't', .next = LOOP_STOP };
	struct hook_probe h = { .feed = -1 };
	int p[2];

	mkpipe(p);
	a.drain = 1;
	loop_set_hook(l, on_hook, &h);
	ck_assert_int_eq(loop_watch(l, p[0], LOOP_IN, on_fd, &a), 0);
	/* a round without events: the hook once, told it is the last call */
	reset();
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_str_eq(seen, "H");
	ck_assert_int_eq(h.last_seen, 1);
	/* the event, then the hook, then the due timer */
	ck_assert_int_gt(loop_timer(l, 0, on_timer, &t), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	reset();
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_str_eq(seen, "aHt");
	/* asking for more with nothing more come: the last call at once */
	h.gather = 1;
	h.calls = h.lasts = 0;
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	reset();
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_str_eq(seen, "aHH");
	ck_assert_int_eq(h.lasts, 1);
	/* removed: not called */
	loop_set_hook(l, NULL, NULL);
	reset();
	ck_assert_int_eq(loop_poll(l, 0), 0);
	ck_assert_str_eq(seen, "");
	close(p[0]);
	close(p[1]);
	loop_free(l);
}
END_TEST

/* Each pass brings an event (the hook feeds the pipe): the loop grants
 * LOOP_PASSES more passes, then the last call. */
START_TEST(hook_gathers_bounded_passes)
{
	struct loop *l = loop_new();
	struct probe a = probe('a', l);
	struct hook_probe h = { .gather = 100 };
	int p[2];
	char want[64];
	size_t n = 0;

	mkpipe(p);
	a.drain = 1;
	h.feed = p[1];
	loop_set_hook(l, on_hook, &h);
	ck_assert_int_eq(loop_watch(l, p[0], LOOP_IN, on_fd, &a), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	reset();
	ck_assert_int_eq(loop_poll(l, 0), 0);
	for (int k = 0; k <= LOOP_PASSES; k++) {
		want[n++] = 'a';
		want[n++] = 'H';
	}
	want[n] = '\0';
	ck_assert_str_eq(seen, want);
	ck_assert_int_eq(a.calls, 1 + LOOP_PASSES);
	ck_assert_int_eq(h.calls, 1 + LOOP_PASSES);
	ck_assert_int_eq(h.lasts, 1);
	ck_assert_int_eq(h.last_seen, 1);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, readable_calls_back);
	tcase_add_test(tc, change_and_unwatch);
	tcase_add_test(tc, unwatch_during_callback);
	tcase_add_test(tc, closed_and_reused_during_callback);
	tcase_add_test(tc, timers_fire_in_order);
	tcase_add_test(tc, timer_rearm_and_cancel);
	tcase_add_test(tc, hook_after_events_before_timers);
	tcase_add_test(tc, hook_gathers_bounded_passes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
