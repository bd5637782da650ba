/*
 * timers — a binary min-heap of slot indices by due time (see timers.h).
 */
#include <stdlib.h>

#include "worker/timers.h"

struct timer {
	int64_t at;
	uint32_t slot;
};

struct timers {
	uint32_t n, cap;
	struct timer e[];
};

struct timers *timers_create(uint32_t cap)
{
	struct timers *t = malloc(sizeof(*t) + (size_t)cap * sizeof(t->e[0]));

	if (t != NULL) {
		t->n = 0;
		t->cap = cap;
	}
	return t;
}

void timers_free(struct timers *t)
{
	free(t);
}

int timers_push(struct timers *t, uint32_t slot, int64_t at)
{
	uint32_t k;

	if (t->n == t->cap)
		return -1;
	for (k = t->n++; k > 0 && t->e[(k - 1) / 2].at > at; k = (k - 1) / 2)
		t->e[k] = t->e[(k - 1) / 2];
	t->e[k] = (struct timer){ .at = at, .slot = slot };
	return 0;
}

int64_t timers_next(const struct timers *t)
{
	return t->n > 0 ? t->e[0].at : INT64_MAX;
}

int64_t timers_pop(struct timers *t, int64_t now)
{
	uint32_t slot, k = 0;
	struct timer last;

	if (t->n == 0 || t->e[0].at > now)
		return -1;
	slot = t->e[0].slot;
	last = t->e[--t->n];
	for (;;) {
		uint32_t c = 2 * k + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && t->e[c + 1].at < t->e[c].at)
			c++;
		if (t->e[c].at >= last.at)
			break;
		t->e[k] = t->e[c];
		k = c;
	}
	t->e[k] = last;
	return slot;
}

uint32_t timers_count(const struct timers *t)
{
	return t->n;
}

int64_t timers_backoff(int64_t base, int64_t max, uint32_t n, uint32_t r)
{
	int64_t d = base;

	for (uint32_t k = 1; k < n && d < max; k++)
		d = d > max / 2 ? max : 2 * d;
	if (d > max)
		d = max;
	/* 16 bits of r: no overflow for d up to 2^47 ns (39 hours) * 4 */
	return d + (int64_t)(((uint64_t)(d / 4) * (r >> 16)) >> 16);
}
