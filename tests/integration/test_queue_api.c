/*
 * test_queue_api — cancel, retry, the listing and expired ids against the
 * real binary (HTTP INTERFACE in jobqd(8)).
 *
 * The handler is a script that waits for a gate file before it runs a
 * job, so jobs stay queued behind a first one (the blocker, running on
 * the only worker) for as long as the test wants, whatever the machine's
 * speed; a job that ran leaves DIR/ran-ID.  "Never ran" is checked after
 * jobs queued behind it have run.  No assertion depends on timing: every
 * wait is a bounded poll for a condition.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define WAIT_S	30	/* bound on every wait for a condition */

/* One request on a fresh connection: the status code, or -1.  body (may
 * be NULL) gets the response body. */
static int http(int port, const char *method, const char *target,
    const char *payload, char *body, size_t bodylen)
{
	char req[4096];
	struct hc_resp r;
	int status;

	snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    method, target, payload ? strlen(payload) : 0, payload ? payload : "");
	status = hc_once(port, req, &r);
	if (body != NULL)
		snprintf(body, bodylen, "%s", r.body != NULL ? r.body : "");
	hc_resp_free(&r);
	return status;
}

/* method on /jobs/ID followed by suffix; the status, body as http's. */
static int job_req(int port, const char *method, const char *id, const char *suffix,
    char *body, size_t bodylen)
{
	char target[96];

	snprintf(target, sizeof(target), "/jobs/%s%s", id, suffix);
	return http(port, method, target, NULL, body, bodylen);
}

/* POST a payload; the job id (16 hex digits) in id, the status returned. */
static int post(int port, const char *payload, char id[17])
{
	char body[512];
	int st = http(port, "POST", "/payload", payload, body, sizeof(body));
	char *p = strstr(body, "\"id\":\"");

	id[0] = '\0';
	if (st == 202 && p != NULL)
		snprintf(id, 17, "%.16s", p + 6);
	return st;
}

/* Wait up to WAIT_S for GET /jobs/id to report state; 1 if it did. */
static int job_wait(int port, const char *id, const char *state)
{
	char body[2048], want[64];

	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	for (int i = 0; i < WAIT_S * 20; i++) {
		if (job_req(port, "GET", id, "", body, sizeof(body)) == 200 &&
		    strstr(body, want) != NULL)
			return 1;
		nap_ms(50);
	}
	return 0;
}

/* Does DIR/name exist? */
static int has_file(const struct daemon *d, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	return access(path, F_OK) == 0;
}

/* Did job id run (to the end)? */
static int ran(const struct daemon *d, const char *id)
{
	char name[64];

	snprintf(name, sizeof(name), "ran-%s", id);
	return has_file(d, name);
}

/* Create DIR/name. */
static void touch(const struct daemon *d, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	write_file(path, "", 0755);
}

/* Prepare d and write DIR/job.sh: wait for DIR/gate (about 60 s at most,
 * so no handler outlives a failed test for long); payload "fail" exits 3
 * until DIR/fixed exists; else DIR/ran-ID. */
static void prepare(struct daemon *d, char *handler, size_t n)
{
	char path[256], script[1024];

	ck_assert_int_eq(daemon_prepare(d), 0);
	snprintf(path, sizeof(path), "%s/job.sh", d->dir);
	snprintf(script, sizeof(script), "#!/bin/sh\np=$(cat)\nn=0\n"
	    "while [ ! -e %s/gate ] && [ $n -lt 3000 ]; do sleep 0.02; n=$((n+1)); done\n"
	    "if [ \"$p\" = fail ] && [ ! -e %s/fixed ]; then exit 3; fi\n"
	    ": > %s/ran-$JOBQD_JOB_ID\n", d->dir, d->dir, d->dir);
	write_file(path, script, 0755);
	snprintf(handler, n, "handler=exec %s", path);
}

/* Start d: one worker (jobs queue behind the blocker). */
static void start(struct daemon *d, const char *handler, const char *queue,
    const char *journal)
{
	const char *extra[] = { "-o", "workers=1", "-o", "max_attempts=3", "-o", handler,
	    "-o", queue, journal ? "-o" : NULL, journal, NULL };

	ck_assert_int_eq(daemon_run(d, extra), 0);
}

/* POST the blocker and wait until it runs (on the only worker): jobs
 * posted after it stay queued until the gate opens. */
static void blocker(const struct daemon *d, char id[17])
{
	ck_assert_int_eq(post(d->port, "block", id), 202);
	ck_assert_msg(job_wait(d->port, id, "running"), "the blocker does not run");
}

/* Where id's object starts in a listing, or NULL. */
static const char *in_list(const char *body, const char *id)
{
	char want[96];

	snprintf(want, sizeof(want), "{\"id\":\"%s\"", id);
	return strstr(body, want);
}

/* DELETE of a queued job: 200 canceled, and it never runs while jobs
 * behind it do; 409 for running, done and canceled jobs; the listing by
 * state, newest first, with limit; 400 for bad queries; 404, 410, 421. */
START_TEST(test_cancel_list_expire)
{
	struct daemon d;
	char handler[512], b[17], j[4][17], other[17], body[65536], id[17];
	const char *p[4];
	int gone = 0;

	prepare(&d, handler, sizeof(handler));
	start(&d, handler, "queue=8", NULL);
	blocker(&d, b);
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(post(d.port, "x", j[k]), 202);

	/* listing: newest first; limit; running; bad queries */
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=queued", NULL, body, sizeof(body)), 200);
	for (int k = 0; k < 4; k++)
		ck_assert_ptr_nonnull(p[k] = in_list(body, j[k]));
	ck_assert(p[3] < p[2] && p[2] < p[1] && p[1] < p[0]);
	ck_assert_ptr_null(in_list(body, b));
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=queued&limit=2", NULL, body,
	    sizeof(body)), 200);
	ck_assert_ptr_eq(in_list(body, j[3]), body + strlen("{\"jobs\":["));
	ck_assert_ptr_nonnull(in_list(body, j[2]));
	ck_assert_ptr_null(in_list(body, j[1]));
	ck_assert_int_eq(http(d.port, "GET", "/jobs?limit=1000&state=running", NULL, body,
	    sizeof(body)), 200);
	ck_assert_ptr_nonnull(in_list(body, b));
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=bogus", NULL, body, sizeof(body)), 400);
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=queued&limit=1001", NULL, NULL, 0), 400);
	ck_assert_int_eq(http(d.port, "GET", "/jobs", NULL, NULL, 0), 400);
	ck_assert_int_eq(http(d.port, "DELETE", "/jobs?state=queued", NULL, NULL, 0), 405);

	/* cancel j[1]: 200 canceled, then 409; the blocker: 409 running */
	ck_assert_int_eq(job_req(d.port, "DELETE", j[1], "", body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_int_eq(job_req(d.port, "DELETE", j[1], "", body, sizeof(body)), 409);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_int_eq(job_req(d.port, "DELETE", b, "", body, sizeof(body)), 409);
	ck_assert_msg(strstr(body, "\"state\":\"running\"") != NULL, "%s", body);
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=canceled", NULL, body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(in_list(body, j[1]));
	ck_assert_ptr_null(in_list(body, j[0]));
	ck_assert_int_eq(http(d.port, "GET", "/metrics", NULL, body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_jobs_canceled_total 1\n"));
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_queue_depth 3\n"));

	/* the gate opens: the others run, j[1] never does */
	touch(&d, "gate");
	for (int k = 0; k < 4; k++)
		if (k != 1)
			ck_assert_msg(job_wait(d.port, j[k], "done"), "job %d not done", k);
	ck_assert(ran(&d, j[3]));
	ck_assert(!ran(&d, j[1]));
	ck_assert(job_wait(d.port, j[1], "canceled"));
	ck_assert_int_eq(job_req(d.port, "DELETE", j[0], "", body, sizeof(body)), 409);
	ck_assert_msg(strstr(body, "\"state\":\"done\"") != NULL, "%s", body);

	/* never issued: the sequence before the first job's (404) */
	snprintf(other, sizeof(other), "%016llx",
	    (unsigned long long)(strtoull(b, NULL, 16) - (1ULL << 20)));
	ck_assert_int_eq(job_req(d.port, "GET", other, "", body, sizeof(body)), 404);

	/* never issued: a later sequence (404); another node (421) */
	snprintf(other, sizeof(other), "%s", j[3]);
	other[2] = other[2] == 'f' ? '0' : 'f';	/* far from the next sequence */
	ck_assert_int_eq(job_req(d.port, "GET", other, "", body, sizeof(body)), 404);
	ck_assert_str_eq(body, "{\"error\":\"unknown job\"}\n");
	ck_assert_int_eq(job_req(d.port, "DELETE", other, "", NULL, 0), 404);
	other[0] = '0';
	other[1] = '5';
	ck_assert_int_eq(job_req(d.port, "DELETE", other, "", NULL, 0), 421);
	ck_assert_int_eq(job_req(d.port, "POST", other, "/retry", NULL, 0), 421);
	ck_assert_int_eq(job_req(d.port, "DELETE", "nothex", "", NULL, 0), 404);

	/* expired: jobs reuse the slots (8) until j[1]'s is taken */
	for (int n = 0; n < 64 && !gone; n++) {
		int st = post(d.port, "x", id);

		ck_assert_msg(st == 202 || st == 503, "POST: %d", st);
		if (st == 202)
			ck_assert(job_wait(d.port, id, "done"));
		gone = job_req(d.port, "GET", j[1], "", body, sizeof(body)) == 410;
	}
	ck_assert_msg(gone, "j[1]'s slot never reused");
	ck_assert_str_eq(body, "{\"error\":\"expired\"}\n");
	ck_assert_int_eq(job_req(d.port, "DELETE", j[1], "", NULL, 0), 410);
	ck_assert_int_eq(job_req(d.port, "POST", j[1], "/retry", NULL, 0), 410);
	ck_assert(!ran(&d, j[1]));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* retry: a failed job (its program fails the first time) is queued again
 * (202, attempts 0) and runs to done; a canceled job too; other states
 * 409. */
START_TEST(test_retry)
{
	struct daemon d;
	char handler[512], f[17], b[17], c[17], body[4096];

	prepare(&d, handler, sizeof(handler));
	start(&d, handler, "queue=8", NULL);
	touch(&d, "gate");
	ck_assert_int_eq(post(d.port, "fail", f), 202);
	ck_assert(job_wait(d.port, f, "failed"));
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=failed", NULL, body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(in_list(body, f));
	touch(&d, "fixed");
	ck_assert_int_eq(job_req(d.port, "POST", f, "/retry", body, sizeof(body)), 202);
	ck_assert_msg(strstr(body, "\"state\":\"queued\",\"attempts\":0,") != NULL, "%s", body);
	ck_assert(job_wait(d.port, f, "done"));
	ck_assert(ran(&d, f));
	ck_assert_int_eq(job_req(d.port, "GET", f, "", body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"attempts\":1,") != NULL, "%s", body);
	ck_assert_int_eq(job_req(d.port, "POST", f, "/retry", body, sizeof(body)), 409);
	ck_assert_msg(strstr(body, "\"state\":\"done\"") != NULL, "%s", body);
	ck_assert_int_eq(job_req(d.port, "GET", f, "/retry", NULL, 0), 405);

	/* a canceled job, retried while the blocker runs */
	unlink(strcat(strcpy(body, d.dir), "/gate"));
	blocker(&d, b);
	ck_assert_int_eq(post(d.port, "x", c), 202);
	ck_assert_int_eq(job_req(d.port, "POST", c, "/retry", NULL, 0), 409);	/* queued */
	ck_assert_int_eq(job_req(d.port, "DELETE", c, "", NULL, 0), 200);
	ck_assert_int_eq(job_req(d.port, "POST", c, "/retry", body, sizeof(body)), 202);
	ck_assert_int_eq(job_req(d.port, "POST", b, "/retry", NULL, 0), 409);	/* running */
	touch(&d, "gate");
	ck_assert(job_wait(d.port, c, "done"));
	ck_assert(ran(&d, c));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A canceled job stays canceled through a dispatcher SIGKILL and a
 * master SIGKILL and restart (with the journal), and never runs. */
START_TEST(test_cancel_survives)
{
	struct daemon d;
	char handler[512], jkey[256], b[17], k1[17], k2[17], body[4096];
	pid_t disp = -1;

	prepare(&d, handler, sizeof(handler));
	snprintf(jkey, sizeof(jkey), "journal=%s/journal", d.dir);
	start(&d, handler, "queue=8", jkey);
	blocker(&d, b);
	ck_assert_int_eq(post(d.port, "x", k1), 202);
	ck_assert_int_eq(post(d.port, "x", k2), 202);
	ck_assert_int_eq(job_req(d.port, "DELETE", k1, "", NULL, 0), 200);

	for (int i = 0; i < WAIT_S * 20 && (disp = daemon_child_named(d.pid, "dispatcher")) <= 0; i++)
		nap_ms(50);
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	ck_assert(daemon_log_wait(&d, "queue recovered", WAIT_S));
	ck_assert_int_eq(job_req(d.port, "GET", k1, "", body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);

	daemon_signal(&d, SIGKILL);
	daemon_wait(&d, WAIT_S);
	start(&d, handler, "queue=8", jkey);
	ck_assert(daemon_log_wait(&d, "recovered shared memory", WAIT_S));
	ck_assert_int_eq(job_req(d.port, "GET", k1, "", body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_int_eq(job_req(d.port, "DELETE", k1, "", NULL, 0), 409);

	touch(&d, "gate");
	ck_assert(job_wait(d.port, k2, "done"));
	ck_assert(ran(&d, k2));
	ck_assert(!ran(&d, k1));
	ck_assert(job_wait(d.port, k1, "canceled"));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* POST until it is accepted (bounded); the id in id. */
static void post_until_accepted(const struct daemon *d, char id[17])
{
	int st = 0;

	for (int i = 0; i < WAIT_S * 20 && (st = post(d->port, "x", id)) == 503; i++)
		nap_ms(50);
	ck_assert_int_eq(st, 202);
}

/* A full queue, its only worker busy: a canceled job waits behind queued
 * ones without the master taking its slot for a lost one (which restarted
 * the dispatcher and ran the busy job again); a canceled job at the head
 * of the queue frees its slot with the worker still busy, and the queued
 * job behind it can still be canceled.  The blocker runs once. */
START_TEST(test_cancel_full_busy)
{
	struct daemon d;
	char handler[512], b[17], x[3][17], n[2][17], body[65536];

	prepare(&d, handler, sizeof(handler));
	start(&d, handler, "queue=4", NULL);
	blocker(&d, b);
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(post(d.port, "x", x[k]), 202);
	ck_assert_int_eq(post(d.port, "x", n[0]), 503);
	ck_assert_int_eq(job_req(d.port, "DELETE", x[2], "", NULL, 0), 200);
	/* the master's check for lost slots: three looks a second apart
	 * (were the machine too slow for them, this passes vacuously) */
	nap_ms(4500);
	ck_assert_int_eq(http(d.port, "GET", "/metrics", NULL, body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_dispatcher_restarts_total 0\n"));

	/* the head canceled: its slot serves a new job, x[1] stays cancelable */
	ck_assert_int_eq(job_req(d.port, "DELETE", x[0], "", NULL, 0), 200);
	post_until_accepted(&d, n[0]);
	ck_assert_int_eq(job_req(d.port, "DELETE", x[1], "", body, sizeof(body)), 200);
	post_until_accepted(&d, n[1]);
	ck_assert_int_eq(job_req(d.port, "GET", b, "", body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"running\"") != NULL, "%s", body);

	touch(&d, "gate");
	for (int k = 0; k < 2; k++)
		ck_assert(job_wait(d.port, n[k], "done"));
	ck_assert(job_wait(d.port, b, "done"));
	ck_assert_int_eq(job_req(d.port, "GET", b, "", body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"attempts\":1,") != NULL, "%s", body);
	for (int k = 0; k < 3; k++)
		ck_assert(!ran(&d, x[k]));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *queue_api_suite(void)
{
	Suite *s = suite_create("queue_api");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_cancel_list_expire);
	tcase_add_test(tc, test_retry);
	tcase_add_test(tc, test_cancel_survives);
	tcase_add_test(tc, test_cancel_full_busy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(queue_api_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
