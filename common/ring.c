/*
 * ring — SPSC ring of uint32 slot indices in shared memory (see ring.h).
 *
 * head and tail are free-running 32-bit counters; the entry for counter n
 * is at n & mask.  Full is tail - head == capacity.  Each side caches the
 * other's counter so the common case touches only its own cache line.
 */
#include <stdatomic.h>
#include <stddef.h>

#include "common/ring.h"

#define CACHE_LINE 64

struct ring {
	/* written once at init */
	uint32_t cap;			/* usable entries */
	uint32_t mask;			/* array size - 1 (power of two) */
	char pad0[CACHE_LINE - 2 * sizeof(uint32_t)];
	/* consumer's line */
	_Atomic uint32_t head;
	uint32_t tail_cache;		/* consumer's last view of tail */
	char pad1[CACHE_LINE - 2 * sizeof(uint32_t)];
	/* producer's line */
	_Atomic uint32_t tail;
	uint32_t head_cache;		/* producer's last view of head */
	char pad2[CACHE_LINE - 2 * sizeof(uint32_t)];
	uint32_t v[];
};

_Static_assert(sizeof(struct ring) == 3 * CACHE_LINE, "ring header layout");

/* The smallest power of two >= cap (cap >= 1). */
static uint32_t pow2(uint32_t cap)
{
	uint32_t n = 1;

	while (n < cap)
		n <<= 1;
	return n;
}

size_t ring_size(uint32_t cap)
{
	size_t bytes = sizeof(struct ring) + (size_t)pow2(cap) * sizeof(uint32_t);

	return (bytes + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
}

void ring_init(struct ring *r, uint32_t cap)
{
	r->cap = cap;
	r->mask = pow2(cap) - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->tail_cache = 0;
	r->head_cache = 0;
}

int ring_push(struct ring *r, uint32_t v)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (tail - r->head_cache >= r->cap) {
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail - r->head_cache >= r->cap)
			return -1;
	}
	r->v[tail & r->mask] = v;
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 0;
}

int ring_pop(struct ring *r, uint32_t *v)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (head == r->tail_cache) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head == r->tail_cache)
			return -1;
	}
	*v = r->v[head & r->mask];
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return 0;
}

uint32_t ring_count(const struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	return tail - head;
}

uint32_t ring_capacity(const struct ring *r)
{
	return r->cap;
}

void ring_reset(struct ring *r)
{
	ring_init(r, r->cap);
}
