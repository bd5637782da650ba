/*
 * test_timers — Check suite for worker/timers.c: the heap pops soonest
 * first (ties, slots out of range, due only), a push of a slot already in
 * moves it, removal by slot, against a brute-force model for random
 * pushes, moves, removals and pops; the backoff doubles, caps, and its jitter stays within
 * [delay, delay + delay / 4].
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "worker/timers.h"

START_TEST(heap_order)
{
	struct timers *t = timers_create(4);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(timers_next(t), INT64_MAX);
	ck_assert_int_eq(timers_pop(t, INT64_MAX), -1);
	ck_assert_int_eq(timers_push(t, 0, 30), 0);
	ck_assert_int_eq(timers_push(t, 1, 10), 0);
	ck_assert_int_eq(timers_push(t, 2, 20), 0);
	ck_assert_int_eq(timers_push(t, 3, 10), 0);
	ck_assert_int_eq(timers_push(t, 4, 5), -1);	/* not a slot */
	ck_assert_uint_eq(timers_count(t), 4);
	ck_assert_int_eq(timers_next(t), 10);
	ck_assert_int_eq(timers_pop(t, 9), -1);		/* not due */
	int64_t a = timers_pop(t, 10), b = timers_pop(t, 10);
	ck_assert((a == 1 && b == 3) || (a == 3 && b == 1));
	ck_assert_int_eq(timers_pop(t, 19), -1);
	ck_assert_int_eq(timers_pop(t, 100), 2);
	ck_assert_int_eq(timers_pop(t, 100), 0);
	ck_assert_int_eq(timers_pop(t, 100), -1);
	ck_assert_uint_eq(timers_count(t), 0);
	timers_free(t);
}
END_TEST

/* A push of a slot already in moves it (no second entry); removal by
 * slot, of the root, a leaf and an absent slot. */
START_TEST(heap_move_remove)
{
	struct timers *t = timers_create(8);

	ck_assert_ptr_nonnull(t);
	for (uint32_t i = 0; i < 8; i++)
		ck_assert_int_eq(timers_push(t, i, 100 + 10 * i), 0);
	ck_assert_int_eq(timers_push(t, 5, 1), 0);	/* up to the root */
	ck_assert_uint_eq(timers_count(t), 8);
	ck_assert_int_eq(timers_next(t), 1);
	ck_assert_int_eq(timers_push(t, 5, 1000), 0);	/* down to a leaf */
	ck_assert_uint_eq(timers_count(t), 8);
	ck_assert_int_eq(timers_next(t), 100);
	ck_assert_int_eq(timers_remove(t, 0), 0);	/* the root */
	ck_assert_int_eq(timers_remove(t, 0), -1);	/* gone */
	ck_assert_int_eq(timers_remove(t, 8), -1);	/* not a slot */
	ck_assert_int_eq(timers_remove(t, 5), 0);	/* the latest */
	ck_assert_uint_eq(timers_count(t), 6);
	for (uint32_t i = 1; i < 8; i++)
		if (i != 5)
			ck_assert_int_eq(timers_pop(t, INT64_MAX), i);
	ck_assert_int_eq(timers_pop(t, INT64_MAX), -1);
	ck_assert_int_eq(timers_remove(t, 3), -1);	/* popped */
	ck_assert_int_eq(timers_push(t, 3, 7), 0);	/* and back */
	ck_assert_int_eq(timers_pop(t, 7), 3);
	timers_free(t);
}
END_TEST

/* Random pushes (new slots and moves), removals and pops against a
 * model: at[slot] its due time, -1 when not in the heap; each pop is a
 * slot with the least due time. */
START_TEST(heap_random)
{
	enum { N = 1000 };
	static int64_t at[N];
	struct timers *t = timers_create(N);
	uint32_t live = 0;

	for (uint32_t i = 0; i < N; i++)
		at[i] = -1;
	srand(12345);
	for (int round = 0; round < 20 * N; round++) {
		uint32_t i = (uint32_t)rand() % N;
		int op = rand() % 4;

		if (op == 0 || op == 1) {		/* push or move */
			live += at[i] < 0;
			at[i] = rand() % 5000;
			ck_assert_int_eq(timers_push(t, i, at[i]), 0);
		} else if (op == 2) {		/* remove */
			ck_assert_int_eq(timers_remove(t, i), at[i] < 0 ? -1 : 0);
			live -= at[i] >= 0;
			at[i] = -1;
		} else {			/* pop */
			int64_t min = INT64_MAX, p;

			for (uint32_t k = 0; k < N; k++)
				if (at[k] >= 0 && at[k] < min)
					min = at[k];
			ck_assert_int_eq(timers_next(t), min);
			if (min == INT64_MAX) {
				ck_assert_int_eq(timers_pop(t, INT64_MAX), -1);
				continue;
			}
			ck_assert_int_eq(timers_pop(t, min - 1), -1);
			p = timers_pop(t, min);
			ck_assert_int_ge(p, 0);
			ck_assert_int_eq(at[p], min);
			at[p] = -1;
			live--;
		}
		ck_assert_uint_eq(timers_count(t), live);
	}
	timers_free(t);
}
END_TEST

START_TEST(backoff)
{
	const int64_t s = 1000000000;

	/* no jitter: base, doubling, capped */
	ck_assert_int_eq(timers_backoff(s, 300 * s, 1, 0), s);
	ck_assert_int_eq(timers_backoff(s, 300 * s, 2, 0), 2 * s);
	ck_assert_int_eq(timers_backoff(s, 300 * s, 5, 0), 16 * s);
	ck_assert_int_eq(timers_backoff(s, 300 * s, 9, 0), 256 * s);
	ck_assert_int_eq(timers_backoff(s, 300 * s, 10, 0), 300 * s);
	ck_assert_int_eq(timers_backoff(s, 300 * s, 1000, 0), 300 * s);
	ck_assert_int_eq(timers_backoff(86400 * s, 86400 * s, 1000, 0), 86400 * s);
	/* a cap below the base wins */
	ck_assert_int_eq(timers_backoff(10 * s, 3 * s, 1, 0), 3 * s);
	/* jitter: never below the delay, at most a quarter above it */
	for (uint32_t n = 1; n <= 12; n++) {
		int64_t d = timers_backoff(s, 300 * s, n, 0);

		ck_assert_int_eq(timers_backoff(s, 300 * s, n, UINT32_MAX) <= d + d / 4, 1);
		ck_assert_int_eq(timers_backoff(s, 300 * s, n, UINT32_MAX) > d + d / 4 - d / 1000, 1);
		for (uint32_t r = 1; r < 1000; r++) {
			int64_t j = timers_backoff(s, 300 * s, n, r * 4294967u);

			ck_assert_int_ge(j, d);
			ck_assert_int_le(j, d + d / 4);
		}
	}
}
END_TEST

static Suite *timers_suite(void)
{
	Suite *s = suite_create("timers");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, heap_order);
	tcase_add_test(tc, heap_move_remove);
	tcase_add_test(tc, heap_random);
	tcase_add_test(tc, backoff);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
