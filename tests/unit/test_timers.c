/*
 * test_timers — Check suite for worker/timers.c: the heap pops soonest
 * first (ties, a full heap, due only), against a sorted copy for random
 * input; the backoff doubles, caps, and its jitter stays within
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
	ck_assert_int_eq(timers_push(t, 7, 30), 0);
	ck_assert_int_eq(timers_push(t, 8, 10), 0);
	ck_assert_int_eq(timers_push(t, 9, 20), 0);
	ck_assert_int_eq(timers_push(t, 10, 10), 0);
	ck_assert_int_eq(timers_push(t, 11, 5), -1);	/* full */
	ck_assert_uint_eq(timers_count(t), 4);
	ck_assert_int_eq(timers_next(t), 10);
	ck_assert_int_eq(timers_pop(t, 9), -1);		/* not due */
	int64_t a = timers_pop(t, 10), b = timers_pop(t, 10);
	ck_assert((a == 8 && b == 10) || (a == 10 && b == 8));
	ck_assert_int_eq(timers_pop(t, 19), -1);
	ck_assert_int_eq(timers_pop(t, 100), 9);
	ck_assert_int_eq(timers_pop(t, 100), 7);
	ck_assert_int_eq(timers_pop(t, 100), -1);
	ck_assert_uint_eq(timers_count(t), 0);
	timers_free(t);
}
END_TEST

/* Random due times, pushes and pops interleaved: each pop is a live
 * entry with the least due time (at[slot] = -1 once popped). */
START_TEST(heap_random)
{
	enum { N = 1000 };
	static int64_t at[4 * N];
	struct timers *t = timers_create(N);
	uint32_t pushed = 0, live = 0;

	srand(12345);
	for (int round = 0; round < 3 * N; round++) {
		if (live < N && (live == 0 || rand() % 3 != 0)) {
			at[pushed] = rand() % 5000;
			ck_assert_int_eq(timers_push(t, pushed, at[pushed]), 0);
			pushed++;
			live++;
		} else {
			int64_t min = INT64_MAX, i;

			for (uint32_t k = 0; k < pushed; k++)
				if (at[k] >= 0 && at[k] < min)
					min = at[k];
			ck_assert_int_eq(timers_next(t), min);
			ck_assert_int_eq(timers_pop(t, min - 1), -1);
			i = timers_pop(t, min);
			ck_assert_int_ge(i, 0);
			ck_assert_int_eq(at[i], min);
			at[i] = -1;
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
