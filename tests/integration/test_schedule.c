/*
 * test_schedule — failure reasons and retry backoff against the real
 * binary (HTTP INTERFACE in jobqd(8), retry_delay in jobqd.conf(5)).
 *
 * The handler is a script whose payload says what the attempt does:
 * "exit" exits 3; "wait" writes its pid to DIR/pid-ID and execs a long
 * sleep (the test kills it, or its worker, or job_timeout does).  Every
 * attempt appends its start time (ns) to DIR/times-ID.  No assertion
 * depends on timing beyond "at least the base delay": every wait is a
 * bounded poll.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define WAIT_S	60	/* bound on every wait for a condition */

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

/* GET /jobs/id into body; the status. */
static int get_job(int port, const char *id, char *body, size_t n)
{
	char target[64];

	snprintf(target, sizeof(target), "/jobs/%s", id);
	return http(port, "GET", target, NULL, body, n);
}

/* POST payload to target; the job id (16 hex digits) in id, the status
 * returned; body gets the answer. */
static int post(int port, const char *target, const char *payload, char id[17],
    char *body, size_t n)
{
	int st = http(port, "POST", target, payload, body, n);
	char *p = strstr(body, "\"id\":\"");

	id[0] = '\0';
	if (st == 202 && p != NULL)
		snprintf(id, 17, "%.16s", p + 6);
	return st;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Wait up to WAIT_S for GET /jobs/id to report state; 1 if it did, with
 * the job's JSON in body. */
static int job_wait(int port, const char *id, const char *state, char *body, size_t n)
{
	char want[64];

	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	for (int i = 0; i < WAIT_S * 20; i++) {
		if (get_job(port, id, body, n) == 200 && strstr(body, want) != NULL)
			return 1;
		nap_ms(50);
	}
	return 0;
}

/* Write an executable script to path. */
static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "open %s: %s", path, strerror(errno));
	fputs(text, fp);
	fclose(fp);
	chmod(path, 0755);
}

/* Wait for DIR/name to hold a pid; the pid. */
static pid_t read_pid(const struct daemon *d, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	for (int i = 0; i < WAIT_S * 20; i++) {
		FILE *fp = fopen(path, "r");
		long pid = 0;

		if (fp != NULL) {
			if (fscanf(fp, "%ld", &pid) != 1)
				pid = 0;
			fclose(fp);
		}
		if (pid > 0)
			return (pid_t)pid;
		nap_ms(50);
	}
	ck_abort_msg("no pid in %s", path);
	return -1;
}

/* start's arguments, for restart (each test runs in a process of its own) */
static char handler[300], jkey[300];
static const char *extra[24];

/* Prepare d, write DIR/job.sh (see the top) and start d with one worker,
 * a journal in DIR and the extra words opts (NULL-terminated, at most 8). */
static void start(struct daemon *d, const char *const *opts)
{
	char path[256], script[1024];
	int n = 0;

	ck_assert_int_eq(daemon_prepare(d), 0);
	snprintf(path, sizeof(path), "%s/job.sh", d->dir);
	snprintf(script, sizeof(script), "#!/bin/sh\np=$(cat)\n"
	    "date +%%s%%N >> %s/times-$JOBQD_JOB_ID\n"
	    "if [ \"$p\" = exit ]; then exit 3; fi\n"
	    "if [ \"$p\" = wait ]; then echo $$ > %s/pid-$JOBQD_JOB_ID; exec sleep 120; fi\n",
	    d->dir, d->dir);
	write_file(path, script);
	snprintf(handler, sizeof(handler), "handler=exec %s", path);
	snprintf(jkey, sizeof(jkey), "journal=%s/journal", d->dir);
	extra[n++] = "-o";
	extra[n++] = "workers=1";
	extra[n++] = "-o";
	extra[n++] = handler;
	extra[n++] = "-o";
	extra[n++] = jkey;
	for (; *opts != NULL; opts++)
		extra[n++] = *opts;
	extra[n] = NULL;
	ck_assert_int_eq(daemon_run(d, extra), 0);
}

/* Post payload and wait for it to fail; check its reason (and exit_status). */
static void expect_failed(const struct daemon *d, const char *id, const char *reason,
    const char *status)
{
	char body[2048], want[64];

	ck_assert_msg(job_wait(d->port, id, "failed", body, sizeof(body)), "job %s: %s", id, body);
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	ck_assert_msg(strstr(body, want) != NULL, "want %s: %s", want, body);
	snprintf(want, sizeof(want), "\"exit_status\":%s", status);
	ck_assert_msg(strstr(body, want) != NULL, "want %s: %s", want, body);
}

/* Each reason: exit (non-zero exit), signal (the program SIGKILLed from
 * outside), lost (its worker SIGKILLed), timeout (job_timeout); reason is
 * null while a job is not failed. */
START_TEST(test_reasons)
{
	const char *opts[] = { "-o", "max_attempts=1", "-o", "job_timeout=2", NULL };
	struct daemon d;
	char id[17], body[2048], name[32];
	pid_t pid;

	start(&d, opts);

	ck_assert_int_eq(post(d.port, "/payload", "exit", id, body, sizeof(body)), 202);
	expect_failed(&d, id, "exit", "3");

	ck_assert_int_eq(post(d.port, "/payload", "wait", id, body, sizeof(body)), 202);
	snprintf(name, sizeof(name), "pid-%s", id);
	pid = read_pid(&d, name);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	expect_failed(&d, id, "signal", "137");

	/* its worker dies under it: lost */
	ck_assert_int_eq(post(d.port, "/payload", "wait", id, body, sizeof(body)), 202);
	snprintf(name, sizeof(name), "pid-%s", id);
	(void)read_pid(&d, name);
	ck_assert(job_wait(d.port, id, "running", body, sizeof(body)));
	ck_assert_msg(strstr(body, "\"reason\":null") != NULL, "%s", body);
	pid = (pid_t)atol(strstr(body, "\"worker_pid\":") + strlen("\"worker_pid\":"));
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	expect_failed(&d, id, "lost", "137");

	/* job_timeout=2 kills it */
	ck_assert_int_eq(post(d.port, "/payload", "wait", id, body, sizeof(body)), 202);
	expect_failed(&d, id, "timeout", "137");

	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* The value of "key": in a job's JSON (a string up to the next quote). */
static void json_str(const char *body, const char *key, char *out, size_t n)
{
	char want[64];
	const char *p;

	snprintf(want, sizeof(want), "\"%s\":\"", key);
	p = strstr(body, want);
	ck_assert_msg(p != NULL, "no %s in %s", key, body);
	p += strlen(want);
	snprintf(out, n, "%.*s", (int)strcspn(p, "\""), p);
}

/* Backoff: an attempt that exits non-zero runs again after at least
 * retry_delay, then at least twice that (its own timestamps), and fails
 * with reason "exit" after max_attempts. */
START_TEST(test_backoff_gaps)
{
	const char *opts[] = { "-o", "max_attempts=3", "-o", "retry_delay=1", NULL };
	const int64_t s = 1000000000;
	struct daemon d;
	char id[17], body[2048], path[256];
	long long t[4];
	int n = 0;
	FILE *fp;

	start(&d, opts);
	ck_assert_int_eq(post(d.port, "/payload", "exit", id, body, sizeof(body)), 202);
	expect_failed(&d, id, "exit", "3");
	ck_assert_int_eq(get_job(d.port, id, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"attempts\":3") != NULL, "%s", body);
	snprintf(path, sizeof(path), "%s/times-%s", d.dir, id);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	while (n < 4 && fscanf(fp, "%lld", &t[n]) == 1)
		n++;
	fclose(fp);
	ck_assert_int_eq(n, 3);
	ck_assert_msg(t[1] - t[0] >= 1 * s, "gap 1: %lld ns", t[1] - t[0]);
	ck_assert_msg(t[2] - t[1] >= 2 * s, "gap 2: %lld ns", t[2] - t[1]);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* While it waits the job is "scheduled" with its run_at, listed by
 * state=scheduled; it keeps both across a dispatcher kill -9 and a
 * master kill -9 and restart (journal on). */
START_TEST(test_scheduled_survives)
{
	const char *opts[] = { "-o", "max_attempts=2", "-o", "retry_delay=3600",
	    "-o", "queue=8", NULL };
	struct daemon d;
	char id[17], body[4096], run_at[64], again[64], want[64];
	pid_t disp = -1;

	start(&d, opts);
	ck_assert_int_eq(post(d.port, "/payload", "exit", id, body, sizeof(body)), 202);
	ck_assert_msg(job_wait(d.port, id, "scheduled", body, sizeof(body)), "%s", body);
	json_str(body, "run_at", run_at, sizeof(run_at));
	ck_assert_msg(strstr(body, "\"attempts\":1,") != NULL, "%s", body);
	ck_assert_int_eq(http(d.port, "GET", "/jobs?state=scheduled", NULL, body, sizeof(body)), 200);
	snprintf(want, sizeof(want), "{\"id\":\"%s\"", id);
	ck_assert_msg(strstr(body, want) != NULL, "%s", body);

	for (int i = 0; i < WAIT_S * 20 && (disp = daemon_child_named(d.pid, "dispatcher")) <= 0; i++)
		nap_ms(50);
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	ck_assert(daemon_log_wait(&d, "queue recovered", WAIT_S));
	ck_assert_int_eq(get_job(d.port, id, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"scheduled\"") != NULL, "%s", body);
	json_str(body, "run_at", again, sizeof(again));
	ck_assert_str_eq(again, run_at);

	daemon_signal(&d, SIGKILL);
	daemon_wait(&d, WAIT_S);
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	ck_assert(daemon_log_wait(&d, "recovered shared memory", WAIT_S));
	ck_assert_int_eq(get_job(d.port, id, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"scheduled\"") != NULL, "%s", body);
	json_str(body, "run_at", again, sizeof(again));
	ck_assert_str_eq(again, run_at);
	daemon_signal(&d, SIGKILL);
	daemon_wait(&d, WAIT_S);
	daemon_cleanup(&d);
}
END_TEST

/* A new dispatcher rebuilds its timers from the slot table: a job
 * scheduled when the old one was killed still runs its next attempt. */
START_TEST(test_scheduled_runs_after_crash)
{
	const char *opts[] = { "-o", "max_attempts=2", "-o", "retry_delay=2", NULL };
	struct daemon d;
	char id[17], body[2048];
	pid_t disp = -1;

	start(&d, opts);
	ck_assert_int_eq(post(d.port, "/payload", "exit", id, body, sizeof(body)), 202);
	ck_assert_msg(job_wait(d.port, id, "scheduled", body, sizeof(body)) ||
	    strstr(body, "\"state\":\"failed\"") != NULL, "%s", body);
	for (int i = 0; i < WAIT_S * 20 && (disp = daemon_child_named(d.pid, "dispatcher")) <= 0; i++)
		nap_ms(50);
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	expect_failed(&d, id, "exit", "3");
	ck_assert_int_eq(get_job(d.port, id, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"attempts\":2") != NULL, "%s", body);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *schedule_suite(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_reasons);
	tcase_add_test(tc, test_backoff_gaps);
	tcase_add_test(tc, test_scheduled_survives);
	tcase_add_test(tc, test_scheduled_runs_after_crash);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(schedule_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
