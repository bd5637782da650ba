/*
 * timers — the dispatcher's scheduled slots: a binary min-heap of slot
 * indices by due time, soonest first, of a fixed capacity (the queue
 * size); push and pop are O(log n).  Plus the retry backoff.
 *
 *   timers_create(cap)        an empty heap for cap entries; NULL on ENOMEM
 *   timers_free(t)
 *   timers_push(t, slot, at)  add slot due at at; -1 when full
 *   timers_next(t)            the soonest due time; INT64_MAX when empty
 *   timers_pop(t, now)        the soonest slot if due (at <= now), else -1
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
int64_t timers_next(const struct timers *t);
int64_t timers_pop(struct timers *t, int64_t now);
uint32_t timers_count(const struct timers *t);
int64_t timers_backoff(int64_t base, int64_t max, uint32_t n, uint32_t r);

#endif
