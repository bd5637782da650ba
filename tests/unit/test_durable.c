/*
 * test_durable — Check suite for server/durable.c, the journal's start-up:
 *
 *   restore    a new segment (a reboot) gets every live job of the journal
 *              back in its own slot with its id and payload, queued oldest
 *              id first; finished jobs stay finished; new ids come after
 *   reconcile  a surviving segment is the truth: a journaled job it
 *              finished gets its END, a queued job the journal lacks is
 *              written to it, a committed job the segment lost (its master
 *              died before publishing) comes back; the result is on disk
 *   off        journal = "" opens nothing
 *   geometry   a journaled job beyond the queue: exit 78 with a message
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/journal.h"
#include "common/segment.h"
#include "server/durable.h"

#define CAP	8
#define PAYLOAD	64

static char dir[64];
static char shm[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/jobqd-test-durable-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(shm, sizeof(shm), "/jobqd-test-durable-%ld", (long)getpid());
	segment_unlink(shm);
}

static void teardown(void)
{
	char cmd[128];

	segment_unlink(shm);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void conf(struct config *c)
{
	config_defaults(c);
	c->queue = CAP;
	c->max_payload = PAYLOAD;
	snprintf(c->journal, sizeof(c->journal), "%s/j", dir);
	snprintf(c->shm_name, sizeof(c->shm_name), "%s", shm);
	c->journal_sync = 1;
}

static struct journal *jopen(const struct config *c)
{
	struct journal_config jc = { .path = c->journal, .capacity = c->queue,
	    .max_payload = c->max_payload, .sync = 1 };
	struct journal *j;
	char err[256];

	ck_assert_msg(journal_open(&jc, &j, err, sizeof(err)) == 0, "%s", err);
	return j;
}

static struct segment *sopen(int want)
{
	struct segment *s;
	char err[256];

	ck_assert_int_eq(segment_open(shm, CAP, PAYLOAD, 0, geteuid(), &s, err, sizeof(err)), want);
	return s;
}

/* Enqueue payload p in a new slot: its id. */
static uint64_t enqueue(struct segment *s, const char *p)
{
	long i = segment_reserve(s);

	ck_assert_int_ge(i, 0);
	memcpy(segment_payload(s, (uint32_t)i), p, strlen(p));
	return segment_enqueue(s, (uint32_t)i, (uint32_t)strlen(p));
}

START_TEST(test_restore)
{
	struct config c;
	struct journal *j;
	struct segment *s;
	uint64_t a = jobid_make(3, 900, 5), b = jobid_make(3, 901, 1),
	    done = jobid_make(3, 902, 2), id;
	long i;

	conf(&c);
	j = jopen(&c);
	ck_assert_int_eq(journal_append_job(j, a, 0, "first", 5), 0);
	ck_assert_int_eq(journal_append_job(j, b, 0, "second", 6), 0);
	ck_assert_int_eq(journal_append_job(j, done, 0, "done", 4), 0);
	ck_assert_int_eq(journal_append_end(j, done, JOURNAL_DONE), 0);
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);

	s = sopen(SEG_CREATED);
	segment_set_node(s, 3);
	j = durable_open(&c, s);
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_eq(segment_lookup(s, a), segment_slot(s, 5));
	ck_assert_ptr_eq(segment_lookup(s, b), segment_slot(s, 1));
	ck_assert_ptr_null(segment_lookup(s, done));
	ck_assert_uint_eq(segment_slot(s, 1)->payload_len, 6);
	ck_assert_int_eq(memcmp(segment_payload(s, 1), "second", 6), 0);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 2);
	ck_assert_int_eq(segment_next_ready(s), 5);	/* oldest id first */
	ck_assert_int_eq(segment_next_ready(s), 1);
	ck_assert_int_eq(segment_next_ready(s), -1);
	/* the other slots are free; new ids come after the journal's */
	i = segment_reserve(s);
	ck_assert(i >= 0 && i != 5 && i != 1);
	id = segment_enqueue(s, (uint32_t)i, 0);
	ck_assert_uint_gt(id >> JOBID_SLOT_BITS, done >> JOBID_SLOT_BITS);
	journal_close(j);
	segment_close(s);
}
END_TEST

START_TEST(test_reconcile)
{
	struct config c;
	struct journal *j;
	struct segment *s;
	struct seg_recovery r;
	uint64_t finished, queued, unjournaled, lost;
	long i;

	conf(&c);
	s = sopen(SEG_CREATED);
	finished = enqueue(s, "finished");
	queued = enqueue(s, "queued");
	unjournaled = enqueue(s, "new");
	/* a job committed to the journal whose master died before publishing */
	i = segment_reserve(s);
	lost = segment_assign(s, (uint32_t)i, 4);
	memcpy(segment_payload(s, (uint32_t)i), "lost", 4);
	atomic_store(&segment_slot(s, jobid_slot(finished))->state, SLOT_DONE);
	j = jopen(&c);
	ck_assert_int_eq(journal_append_job(j, finished, 0, "finished", 8), 0);
	ck_assert_int_eq(journal_append_job(j, queued, 0, "queued", 6), 0);
	ck_assert_int_eq(journal_append_job(j, lost, 0, "lost", 4), 0);
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);
	segment_close(s);

	/* the processes died, the machine did not: start-up as main does it */
	s = sopen(SEG_ATTACHED);
	ck_assert_int_eq(segment_recover(s, 0, &r), 0);
	ck_assert_ptr_null(segment_lookup(s, lost));	/* a partial upload for the segment */
	j = durable_open(&c, s);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(journal_live_id(j, jobid_slot(finished)), 0);
	ck_assert_uint_eq(journal_live_id(j, jobid_slot(queued)), queued);
	ck_assert_uint_eq(journal_live_id(j, jobid_slot(unjournaled)), unjournaled);
	ck_assert_uint_eq(journal_live_id(j, jobid_slot(lost)), lost);
	ck_assert_ptr_nonnull(segment_lookup(s, lost));
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 3);
	journal_close(j);
	segment_close(s);

	/* all of it is in the files: a reboot now brings back the three */
	segment_unlink(shm);
	s = sopen(SEG_CREATED);
	j = durable_open(&c, s);
	ck_assert_uint_eq(atomic_load(&segment_header(s)->queued), 3);
	ck_assert_ptr_null(segment_lookup(s, finished));
	ck_assert_ptr_nonnull(segment_lookup(s, unjournaled));
	ck_assert_int_eq(memcmp(segment_payload(s, jobid_slot(unjournaled)), "new", 3), 0);
	journal_close(j);
	segment_close(s);
}
END_TEST

START_TEST(test_off)
{
	struct config c;
	struct segment *s;

	conf(&c);
	c.journal[0] = '\0';
	s = sopen(SEG_CREATED);
	ck_assert_ptr_null(durable_open(&c, s));
	segment_close(s);
}
END_TEST

/* A journaled job in slot 7 and a queue of 4: exit 78, before anything. */
START_TEST(test_geometry)
{
	struct config c;
	struct journal *j;
	struct segment *s;
	char err[256];
	pid_t pid;
	int st;

	conf(&c);
	j = jopen(&c);
	ck_assert_int_eq(journal_append_job(j, jobid_make(0, 5, 7), 0, "x", 1), 0);
	ck_assert_int_eq(journal_commit(j), 0);
	journal_close(j);
	c.queue = 4;
	ck_assert_int_eq(segment_open(shm, 4, PAYLOAD, 0, geteuid(), &s, err, sizeof(err)),
	    SEG_CREATED);
	if ((pid = fork()) == 0) {
		durable_open(&c, s);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 78, "status %d", st);
	segment_close(s);
}
END_TEST

static Suite *durable_suite(void)
{
	Suite *s = suite_create("durable");
	TCase *tc = tcase_create("durable");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_restore);
	tcase_add_test(tc, test_reconcile);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_geometry);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(durable_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
