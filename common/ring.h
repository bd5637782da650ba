/*
 * ring — a single-producer/single-consumer ring of slot indices, placed in
 * shared memory by its owner (the segment).
 *
 * One process pushes, one process pops; the indices live in a power-of-two
 * array after the header.  The producer's tail and the consumer's head sit
 * on separate cache lines; push publishes with a release store, pop
 * observes with an acquire load, so the slot a pushed index names is fully
 * written before the consumer can see the index.
 *
 * Shared memory is not trusted: each process works through a private
 * handle (struct ring) that holds the ring's capacity and index mask, set
 * from the caller's own geometry; nothing read back from shared memory
 * decides where an entry is read or written.  A rewritten ring can still
 * hand out wrong values: the caller checks every value it pops.
 *
 *   ring_size(cap)           bytes needed for a ring of at least cap entries
 *   ring_attach(r, mem, cap) make r the handle of the ring at mem (no access)
 *   ring_reset(r)            format it empty (only with no producer or
 *                            consumer alive)
 *   ring_push(r, v)          0, or -1 when full
 *   ring_pop(r, &v)          0, or -1 when empty
 *   ring_peek(r, &v)         ring_pop without taking the entry (the
 *                            consumer's: v is a hint, say to prefetch)
 *   ring_count(r)            entries in the ring (a snapshot; not checked)
 *   ring_capacity(r)         usable entries
 */
#ifndef JOBQD_RING_H
#define JOBQD_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RING_CACHE_LINE 64

/* The ring as it lies in shared memory (public so that tests and tools can
 * inspect it; only ring.c writes it). */
struct ring_shm {
	/* written at reset for inspection; never read back */
	uint32_t cap;			/* usable entries */
	uint32_t mask;			/* array size - 1 (power of two) */
	char pad0[RING_CACHE_LINE - 2 * sizeof(uint32_t)];
	/* consumer's line */
	_Atomic uint32_t head;
	uint32_t tail_cache;		/* consumer's last view of tail */
	char pad1[RING_CACHE_LINE - 2 * sizeof(uint32_t)];
	/* producer's line */
	_Atomic uint32_t tail;
	uint32_t head_cache;		/* producer's last view of head */
	char pad2[RING_CACHE_LINE - 2 * sizeof(uint32_t)];
	uint32_t v[];
};

/* A process's handle on a ring; its fields are ring.c's. */
struct ring {
	struct ring_shm *m;
	uint32_t cap, mask;
};

size_t ring_size(uint32_t cap);
void ring_attach(struct ring *r, void *mem, uint32_t cap);
void ring_reset(struct ring *r);
int ring_push(struct ring *r, uint32_t v);
int ring_pop(struct ring *r, uint32_t *v);
int ring_peek(struct ring *r, uint32_t *v);
uint32_t ring_count(const struct ring *r);
uint32_t ring_capacity(const struct ring *r);

#endif
