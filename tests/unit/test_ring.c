/*
 * test_ring — Check suite for common/ring.c.
 *
 * Single-process cases run on a ring in private memory: full, empty,
 * wrap-around of the array index and of the free-running 32-bit counters,
 * capacities that are not powers of two.  The stress case forks a producer
 * and a consumer around the ready ring of a real shared-memory segment and
 * moves 2,000,000 values through it; the consumer checks the exact
 * sequence, so a lost, duplicated or reordered value is reported as
 * "got X, want Y".
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/child.h"
#include "common/ring.h"
#include "common/segment.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A ring of cap entries in 64-byte aligned private memory, its handle
 * right before it: free(r) frees both. */
static struct ring *
ring_new(uint32_t cap)
{
	size_t size = ring_size(cap);
	char *mem = aligned_alloc(64, 64 + size);
	struct ring *r = (struct ring *)mem;

	ck_assert_ptr_nonnull(mem);
	memset(mem, 0xa5, 64 + size);	/* ring_reset must not rely on zeroed memory */
	ring_attach(r, mem + 64, cap);
	ring_reset(r);
	return r;
}

/* Move both counters (and the caches) of an empty ring to n. */
static void
ring_set_counters(struct ring *r, uint32_t n)
{
	struct ring_shm *m = r->m;

	ck_assert_uint_eq(ring_count(r), 0);
	atomic_store(&m->head, n);
	atomic_store(&m->tail, n);
	m->tail_cache = n;
	m->head_cache = n;
}

static const struct {
	const char *name;
	uint32_t cap;
	uint32_t start;		/* initial head == tail */
} fills[] = {
	{ "cap 1", 1, 0 },
	{ "cap 2", 2, 0 },
	{ "cap 3 (array 4)", 3, 0 },
	{ "cap 5 (array 8)", 5, 0 },
	{ "cap 64", 64, 0 },
	{ "cap 1000 (array 1024)", 1000, 0 },
	{ "cap 4, counters wrap", 4, UINT32_MAX - 1 },
	{ "cap 5, counters wrap", 5, UINT32_MAX - 2 },
	{ "cap 1, counters at max", 1, UINT32_MAX },
};

/* Fill to capacity, one more push fails, drain in order, one more pop fails. */
START_TEST(test_fill_drain)
{
	struct ring *r = ring_new(fills[_i].cap);
	uint32_t cap = fills[_i].cap, v;

	if (fills[_i].start != 0)
		ring_set_counters(r, fills[_i].start);
	ck_assert_msg(ring_capacity(r) == cap, "%s: capacity got %u, want %u",
	    fills[_i].name, ring_capacity(r), cap);
	for (int round = 0; round < 3; round++) {
		ck_assert_msg(ring_pop(r, &v) == -1, "%s: pop on empty got 0, want -1",
		    fills[_i].name);
		for (uint32_t k = 0; k < cap; k++)
			ck_assert_msg(ring_push(r, 1000 + k) == 0,
			    "%s: push %u of %u got -1, want 0", fills[_i].name, k + 1, cap);
		ck_assert_msg(ring_count(r) == cap, "%s: count got %u, want %u",
		    fills[_i].name, ring_count(r), cap);
		ck_assert_msg(ring_push(r, 7) == -1, "%s: push on full got 0, want -1",
		    fills[_i].name);
		ck_assert_msg(ring_count(r) == cap, "%s: count after failed push got %u, want %u",
		    fills[_i].name, ring_count(r), cap);
		for (uint32_t k = 0; k < cap; k++) {
			ck_assert_msg(ring_pop(r, &v) == 0, "%s: pop %u got -1, want 0",
			    fills[_i].name, k + 1);
			ck_assert_msg(v == 1000 + k, "%s: pop %u got %u, want %u",
			    fills[_i].name, k + 1, v, 1000 + k);
		}
		ck_assert_msg(ring_count(r) == 0, "%s: count after drain got %u, want 0",
		    fills[_i].name, ring_count(r));
	}
	free(r);
}
END_TEST

/* Push/pop in bursts of every size 1..cap so the index wraps many times at
 * every offset; also across the 2^32 counter wrap. */
START_TEST(test_wrap_bursts)
{
	static const uint32_t starts[] = { 0, UINT32_MAX - 100 };
	uint32_t cap = 7, next_push = 0, next_pop = 0, v;

	for (size_t s = 0; s < NELEM(starts); s++) {
		struct ring *r = ring_new(cap);

		ring_set_counters(r, starts[s]);
		for (uint32_t burst = 1; burst <= cap; burst++) {
			for (int rep = 0; rep < 50; rep++) {
				for (uint32_t k = 0; k < burst; k++)
					ck_assert_int_eq(ring_push(r, next_push++), 0);
				ck_assert_msg(ring_count(r) == burst, "count got %u, want %u",
				    ring_count(r), burst);
				for (uint32_t k = 0; k < burst; k++) {
					ck_assert_int_eq(ring_pop(r, &v), 0);
					ck_assert_msg(v == next_pop, "start %u burst %u: got %u, want %u",
					    starts[s], burst, v, next_pop);
					next_pop++;
				}
				ck_assert_int_eq(ring_pop(r, &v), -1);
			}
		}
		free(r);
	}
}
END_TEST

/* Interleaved pushes and pops keep FIFO order with a partly full ring. */
START_TEST(test_interleaved)
{
	struct ring *r = ring_new(4);
	uint32_t pushed = 0, popped = 0, v;

	ring_set_counters(r, UINT32_MAX - 9);
	for (int i = 0; i < 200; i++) {
		/* keep 1..3 entries in flight */
		while (pushed - popped < 3)
			ck_assert_int_eq(ring_push(r, pushed++), 0);
		/* peek shows the entry pop takes, and takes nothing */
		ck_assert_int_eq(ring_peek(r, &v), 0);
		ck_assert_msg(v == popped, "peek got %u, want %u", v, popped);
		ck_assert_uint_eq(ring_count(r), 3);
		ck_assert_int_eq(ring_pop(r, &v), 0);
		ck_assert_msg(v == popped, "got %u, want %u", v, popped);
		popped++;
	}
	free(r);
}
END_TEST

/* ring_reset empties a full ring; it can be filled again. */
START_TEST(test_reset)
{
	struct ring *r = ring_new(3);
	uint32_t v;

	for (uint32_t k = 0; k < 3; k++)
		ck_assert_int_eq(ring_push(r, k), 0);
	ck_assert_int_eq(ring_pop(r, &v), 0);
	ring_reset(r);
	ck_assert_msg(ring_count(r) == 0, "count after reset got %u, want 0", ring_count(r));
	ck_assert_msg(ring_pop(r, &v) == -1, "pop after reset got 0, want -1");
	ck_assert_msg(ring_peek(r, &v) == -1, "peek after reset got 0, want -1");
	ck_assert_msg(ring_capacity(r) == 3, "capacity after reset got %u, want 3",
	    ring_capacity(r));
	for (uint32_t k = 0; k < 3; k++)
		ck_assert_int_eq(ring_push(r, 10 + k), 0);
	ck_assert_int_eq(ring_push(r, 99), -1);
	ck_assert_int_eq(ring_pop(r, &v), 0);
	ck_assert_msg(v == 10, "first pop after refill got %u, want 10", v);
	free(r);
}
END_TEST

/* ring_size is cache-line aligned and grows with the power-of-two array. */
START_TEST(test_size)
{
	static const struct {
		uint32_t cap;
		size_t want;
	} sizes[] = {
		{ 1, 192 + 64 },		/* 4 bytes, rounded to a line */
		{ 16, 192 + 64 },
		{ 17, 192 + 128 },		/* array 32 */
		{ 1000, 192 + 4096 },		/* array 1024 */
		{ 1u << 20, 192 + (4u << 20) },
	};

	for (size_t i = 0; i < NELEM(sizes); i++)
		ck_assert_msg(ring_size(sizes[i].cap) == sizes[i].want,
		    "ring_size(%u) got %zu, want %zu", sizes[i].cap,
		    ring_size(sizes[i].cap), sizes[i].want);
}
END_TEST

/* --- cross-process stress ------------------------------------------------ */

#define STRESS_ITEMS	2000000u
#define STRESS_CAP	1024u

struct stress_result {
	uint32_t got, want;	/* first mismatch */
	uint32_t received;
	uint32_t ok;
};


START_TEST(test_cross_process)
{
	char name[64], err[256];
	struct segment *s;
	struct ring *r;
	struct stress_result res;
	pid_t prod, cons;
	int p[2], st;
	uint32_t v;

	snprintf(name, sizeof(name), "/jobqd-test-%ld-ring", (long)getpid());
	segment_unlink(name);
	ck_assert_msg(segment_open(name, STRESS_CAP, 16, 0, geteuid(), &s, err, sizeof(err)) == SEG_CREATED,
	    "segment_open: %s", err);
	segment_unlink(name);	/* the mapping outlives the name */
	r = segment_ready(s);
	ck_assert_msg(ring_count(r) == 0, "ready ring count got %u, want 0", ring_count(r));
	ck_assert_int_eq(pipe(p), 0);

	if ((cons = test_fork()) == 0) {
		uint32_t want = 0, spins = 0;

		memset(&res, 0, sizeof(res));
		res.ok = 1;
		while (want < STRESS_ITEMS) {
			if (ring_pop(r, &v) == -1) {
				if (++spins % 64 == 0)
					sched_yield();
				continue;
			}
			if (v != want) {
				res.ok = 0;
				res.got = v;
				res.want = want;
				break;
			}
			want++;
		}
		res.received = want;
		if (write(p[1], &res, sizeof(res)) != sizeof(res))
			_exit(2);
		_exit(0);
	}
	if ((prod = test_fork()) == 0) {
		uint32_t spins = 0;

		for (v = 0; v < STRESS_ITEMS; ) {
			if (ring_push(r, v) == -1) {
				if (++spins % 64 == 0)
					sched_yield();
				continue;
			}
			v++;
		}
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &res, sizeof(res)), (ssize_t)sizeof(res));
	if (!res.ok)
		kill(prod, SIGKILL);
	ck_assert_int_eq(waitpid(cons, &st, 0), cons);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer status %#x", st);
	ck_assert_int_eq(waitpid(prod, &st, 0), prod);
	ck_assert_msg(res.ok, "value %u: got %u, want %u", res.received, res.got, res.want);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer status %#x", st);
	ck_assert_msg(res.received == STRESS_ITEMS, "received got %u, want %u",
	    res.received, STRESS_ITEMS);
	ck_assert_msg(ring_count(r) == 0, "count at end got %u, want 0", ring_count(r));
	ck_assert_msg(ring_pop(r, &v) == -1, "extra value %u after the sequence", v);
	close(p[0]);
	segment_close(s);
}
END_TEST

static Suite *
ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc;

	tc = tcase_create("single");
	tcase_add_loop_test(tc, test_fill_drain, 0, (int)NELEM(fills));
	tcase_add_test(tc, test_wrap_bursts);
	tcase_add_test(tc, test_interleaved);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("cross-process");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_cross_process);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
