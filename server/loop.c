/*
 * loop — the master's event loop (see loop.h).
 *
 * Watches live in a table indexed by fd (grown on demand: fds are bounded
 * by RLIMIT_NOFILE).  Each registration gets a generation number, and an
 * epoll event carries fd and generation: an event for an fd unwatched,
 * or closed and reused, earlier in the same round no longer matches and
 * is dropped, so a callback never sees events meant for another
 * registration (nor for a description some forked child still holds).
 *
 * Timers are few (the HTTP tick): a list sorted by deadline, stable, so
 * that timers due together fire in the order they were armed.  Each timer
 * carries the number of the timer pass that armed it; a pass fires only
 * timers armed before it, so a 0 ms timer cannot keep a pass going.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/loop.h"

#define LOOP_EVENTS	64	/* per epoll_wait */
#define NS_PER_MS	1000000LL

_Static_assert(LOOP_IN == EPOLLIN && LOOP_OUT == EPOLLOUT &&
    LOOP_ERR == EPOLLERR && LOOP_HUP == EPOLLHUP, "LOOP_* are the epoll bits");

struct watch {
	loop_fd_fn *fn;		/* NULL: not watched */
	void *arg;
	uint32_t events;
	uint32_t gen;
};

struct timer {
	long long id;
	int64_t when;		/* CLOCK_MONOTONIC ns */
	unsigned pass;		/* the timer pass that armed it */
	loop_timer_fn *fn;
	void *arg;
	struct timer *next;
};

struct loop {
	int epfd;
	struct watch *w;	/* by fd */
	int nw;
	uint32_t gen;
	struct timer *timers;	/* by deadline */
	long long last_id;
	unsigned pass;
	struct timer *firing;	/* the timer whose callback runs */
	int firing_cancelled;
	loop_hook_fn *hook;
	void *hook_arg;
	int64_t now;
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);

	if (l == NULL)
		return NULL;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		int saved = errno;

		free(l);
		errno = saved;
		return NULL;
	}
	l->now = clock_mono_ns();
	return l;
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	while (l->timers != NULL) {
		struct timer *t = l->timers;

		l->timers = t->next;
		free(t);
	}
	free(l->w);
	close(l->epfd);
	free(l);
}

/* Make the table hold fd. */
static int grow(struct loop *l, int fd)
{
	int n = l->nw ? l->nw : 64;
	struct watch *w;

	while (n <= fd)
		n = n > INT32_MAX / 2 ? fd + 1 : n * 2;
	if ((w = realloc(l->w, (size_t)n * sizeof *w)) == NULL)
		return -1;
	for (int i = l->nw; i < n; i++)
		w[i] = (struct watch){ 0 };
	l->w = w;
	l->nw = n;
	return 0;
}

int loop_watch(struct loop *l, int fd, unsigned events, loop_fd_fn *fn, void *arg)
{
	struct epoll_event e;
	struct watch *w;
	uint32_t gen;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fd >= l->nw && grow(l, fd) == -1)
		return -1;
	w = &l->w[fd];
	if (w->fn == NULL || w->events != events) {
		gen = w->fn != NULL ? w->gen : ++l->gen;
		e.events = events;
		e.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
		if (epoll_ctl(l->epfd, w->fn != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e) == -1)
			return -1;
		w->events = events;
		w->gen = gen;
	}
	w->fn = fn;
	w->arg = arg;
	return 0;
}

void loop_unwatch(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->nw || l->w[fd].fn == NULL)
		return;
	l->w[fd].fn = NULL;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) == -1)
		log_warn("loop: epoll_ctl del");
}

int loop_close(struct loop *l, int fd)
{
	/* Out of the epoll set first: close(2) removes it only with the last
	 * descriptor of the file, and a child just forked may hold another. */
	loop_unwatch(l, fd);
	return close(fd);
}

/* Into the sorted list, after the timers due at the same time. */
static void timer_insert(struct loop *l, struct timer *t)
{
	struct timer **p = &l->timers;

	while (*p != NULL && (*p)->when <= t->when)
		p = &(*p)->next;
	t->pass = l->pass;
	t->next = *p;
	*p = t;
}

long long loop_timer(struct loop *l, int ms, loop_timer_fn *fn, void *arg)
{
	struct timer *t = malloc(sizeof *t);

	if (t == NULL)
		return -1;
	t->id = ++l->last_id;
	t->when = clock_mono_ns() + (int64_t)(ms > 0 ? ms : 0) * NS_PER_MS;
	t->fn = fn;
	t->arg = arg;
	timer_insert(l, t);
	return t->id;
}

int loop_timer_cancel(struct loop *l, long long id)
{
	for (struct timer **p = &l->timers; *p != NULL; p = &(*p)->next)
		if ((*p)->id == id) {
			struct timer *t = *p;

			*p = t->next;
			free(t);
			return 0;
		}
	if (l->firing != NULL && l->firing->id == id && !l->firing_cancelled) {
		l->firing_cancelled = 1;
		return 0;
	}
	return -1;
}

void loop_set_hook(struct loop *l, loop_hook_fn *fn, void *arg)
{
	l->hook = fn;
	l->hook_arg = arg;
}

int64_t loop_now(const struct loop *l)
{
	return l->now;
}

/* Call the callbacks of n events. */
static void serve(struct loop *l, const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct watch *w;

		if (fd >= l->nw)
			continue;
		w = &l->w[fd];
		if (w->fn != NULL && w->gen == gen)
			w->fn(w->arg, fd, evs[i].events);
	}
}

/* Fire the timers due now, earliest first. */
static void fire(struct loop *l)
{
	struct timer *t;

	l->now = clock_mono_ns();
	l->pass++;
	while ((t = l->timers) != NULL && t->when <= l->now && t->pass != l->pass) {
		int ms;

		l->timers = t->next;
		l->firing = t;
		l->firing_cancelled = 0;
		ms = t->fn(t->arg);
		l->firing = NULL;
		if (ms < 0 || l->firing_cancelled) {
			free(t);
			continue;
		}
		t->when = l->now + (int64_t)ms * NS_PER_MS;
		timer_insert(l, t);
	}
}

int loop_poll(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_EVENTS];
	int n, wait = timeout_ms;

	if (l->timers != NULL) {
		int64_t left = (l->timers->when - clock_mono_ns() + NS_PER_MS - 1) / NS_PER_MS;

		if (left < 0)
			left = 0;
		if (wait < 0 || wait > left)
			wait = (int)left;
	}
	n = epoll_wait(l->epfd, evs, LOOP_EVENTS, wait);
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	l->now = clock_mono_ns();
	serve(l, evs, n);
	for (int pass = 0; l->hook != NULL; pass++) {
		int last = n <= 0 || pass == LOOP_PASSES;

		if (!l->hook(l->hook_arg, last) || last)
			break;
		n = epoll_wait(l->epfd, evs, LOOP_EVENTS, 0);
		serve(l, evs, n);
	}
	fire(l);
	return 0;
}
