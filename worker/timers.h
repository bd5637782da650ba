/*
 * timers — the dispatcher's scheduled slots: a binary min-heap of slot
 * indices by due time, soonest first, for slots 0 .. cap - 1 (the queue),
 * each in it at most once: a position array by slot makes removal by
 * slot O(log n) like push and pop.  Plus the retry backoff.
 *
 *   timers_create(cap)        an empty heap for slots below cap; NULL on
 *                             ENOMEM
 *   timers_free(t)
 *   timers_push(t, slot, at)  slot is due at at (a slot already in the
 *                             heap moves to its new time); -1 when slot
 *                             >= cap
 *   timers_remove(t, slot)    take slot out; -1 when it is not in
 *   timers_next(t)            the soonest due time; INT64_MAX when empty
 *   timers_pop(t, now)        the soonest slot if due (at <= now), taken
 *                             out; else -1
 *   timers_count(t)
 *   timers_backoff(base, max, n, r)
 *                             the wait after failed attempt n >= 1:
 *                             base * 2^(n-1), at most max, plus a jitter
 *                             of r / 2^32 of a quarter of that (r random),
 *                             in ns; max at most 2^47 ns
 */
#ifndef JOBQD_TIMERS_H
#define JOBQD_TIMERS_H

#include <stdint.h>

struct timers;

struct timers *timers_create(uint32_t cap);
void timers_free(struct timers *t);
int timers_push(struct timers *t, uint32_t slot, int64_t at);
int timers_remove(struct timers *t, uint32_t slot);
int64_t timers_next(const struct timers *t);
int64_t timers_pop(struct timers *t, int64_t now);
uint32_t timers_count(const struct timers *t);
int64_t timers_backoff(int64_t base, int64_t max, uint32_t n, uint32_t r);

#endif
