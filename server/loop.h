/*
 * loop — the master's event loop (after Redis's ae.h): one epoll set, the
 * fds watched in it, timers, and a hook at the end of every round.  One
 * thread; nothing here knows about HTTP.
 *
 * A round (loop_poll): wait for readiness, at most timeout_ms and no later
 * than the next timer; call each ready fd's callback; call the round hook,
 * which may ask for more passes without waiting first (the journal's group
 * commit gathers what else has come into one sync); then fire the due
 * timers, earliest first.
 *
 *   loop_new / loop_free     loop_free forgets what is left, closes nothing
 *   loop_watch(l, fd, events, fn, arg)
 *                            watch fd for events (LOOP_IN, LOOP_OUT, or
 *                            none: errors and hang-ups only), or change
 *                            what is watched; fn(arg, fd, ready) is called
 *                            with the events that came (LOOP_ERR and
 *                            LOOP_HUP whether asked for or not)
 *   loop_unwatch(l, fd)      stop watching fd (it stays open)
 *   loop_close(l, fd)        stop watching fd (out of the epoll set: a
 *                            forked child may still hold the file) and
 *                            close it
 *   loop_timer(l, ms, fn, arg)  fn(arg) in ms; its return value is the next
 *                            interval in ms, or LOOP_STOP; an id, or -1
 *   loop_timer_cancel(l, id)
 *   loop_set_hook(l, fn, arg)   fn(arg, last) after the round's events; see
 *                            loop_hook_fn
 *   loop_poll(l, timeout_ms) one round
 *   loop_now(l)              CLOCK_MONOTONIC ns when this round woke up (the
 *                            timers see the time they fire at)
 *
 * Callbacks may watch, unwatch and close any fd and add or cancel any
 * timer, their own included: an fd unwatched (or closed and reused) during
 * a round gets none of that round's events that were meant for it; a timer
 * added or re-armed while timers fire fires in a later round.
 */
#ifndef JOBQD_LOOP_H
#define JOBQD_LOOP_H

#include <stdint.h>

/* The values of EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP (checked in loop.c). */
#define LOOP_IN		0x001u
#define LOOP_OUT	0x004u
#define LOOP_ERR	0x008u
#define LOOP_HUP	0x010u

#define LOOP_STOP	(-1)

struct loop;

typedef void loop_fd_fn(void *arg, int fd, unsigned ready);
/* The next interval in ms (>= 0), or LOOP_STOP. */
typedef int loop_timer_fn(void *arg);
/* Called after a round's events.  With last == 0 it may return 1: "serve
 * what else has come first, without waiting, then call me again"; the
 * loop does so while passes bring events, LOOP_PASSES times at most, and
 * then calls it with last == 1 (return value ignored).  Returning 0, or
 * called with last == 1, it finishes the round. */
typedef int loop_hook_fn(void *arg, int last);
#define LOOP_PASSES	4

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* 0, or -1 with errno. */
int loop_watch(struct loop *l, int fd, unsigned events, loop_fd_fn *fn, void *arg);
void loop_unwatch(struct loop *l, int fd);
/* close(2)'s result. */
int loop_close(struct loop *l, int fd);
long long loop_timer(struct loop *l, int ms, loop_timer_fn *fn, void *arg);
/* 0, or -1 if no such timer is armed. */
int loop_timer_cancel(struct loop *l, long long id);
void loop_set_hook(struct loop *l, loop_hook_fn *fn, void *arg);
/* 0, or -1 with errno (an interrupted wait is 0). */
int loop_poll(struct loop *l, int timeout_ms);
int64_t loop_now(const struct loop *l);

#endif
