/*
 * test_backoff — the respawn delay: none, min, doubling, capped at max,
 * reset to none; bad bounds are made sane; no overflow near INT64_MAX.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/backoff.h"

START_TEST(doubles_to_max)
{
	struct backoff b;
	const int64_t want[] = { 100, 200, 400, 800, 1000, 1000 };

	backoff_init(&b, 100, 1000);
	ck_assert_int_eq(backoff_delay(&b), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_int_eq(backoff_step(&b), want[i]);
		ck_assert_int_eq(backoff_delay(&b), want[i]);
	}
}
END_TEST

START_TEST(reset_starts_over)
{
	struct backoff b;

	backoff_init(&b, 5, 40);
	backoff_step(&b);
	backoff_step(&b);
	ck_assert_int_eq(backoff_delay(&b), 10);
	backoff_reset(&b);
	ck_assert_int_eq(backoff_delay(&b), 0);
	ck_assert_int_eq(backoff_step(&b), 5);
}
END_TEST

START_TEST(sane_bounds)
{
	struct backoff b;

	backoff_init(&b, 0, -5);	/* min forced to 1, max to min */
	ck_assert_int_eq(backoff_step(&b), 1);
	ck_assert_int_eq(backoff_step(&b), 1);
	backoff_init(&b, 7, 7);
	ck_assert_int_eq(backoff_step(&b), 7);
	ck_assert_int_eq(backoff_step(&b), 7);
}
END_TEST

START_TEST(no_overflow)
{
	struct backoff b;

	backoff_init(&b, INT64_MAX / 3, INT64_MAX);
	ck_assert_int_eq(backoff_step(&b), INT64_MAX / 3);
	ck_assert_int_eq(backoff_step(&b), INT64_MAX / 3 * 2);
	ck_assert_int_eq(backoff_step(&b), INT64_MAX);
	ck_assert_int_eq(backoff_step(&b), INT64_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, doubles_to_max);
	tcase_add_test(tc, reset_starts_over);
	tcase_add_test(tc, sane_bounds);
	tcase_add_test(tc, no_overflow);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
