/*
 * test_schedule — failure reasons, retry backoff, delayed jobs and the
 * cancel of scheduled jobs against the real binary (HTTP INTERFACE in
 * jobqd(8), retry_delay and max_delay in jobqd.conf(5)).
 *
 * The handler is a script whose payload says what the attempt does:
 * "exit" exits 3; "exit130" exits 130; "term" kills itself with SIGTERM;
 * "wait" writes its pid to DIR/pid-ID and execs a long sleep (the test
 * kills it, or its worker, or job_timeout does); anything else exits 0.
 * Every attempt appends its start time (ns) to DIR/times-ID.  No
 * assertion depends on timing beyond "at least the base delay" or "not
 * before run_at": every wait is a bounded poll.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define WAIT_S	60	/* bound on every wait for a condition */

/* One request with the header lines fields (each ending CRLF) on a fresh
 * connection: the status code, or -1.  body (may be NULL) gets the
 * response body; head (may be NULL) the response head. */
static int http_fields(int port, const char *method, const char *target, const char *fields,
    const char *payload, char *body, size_t bodylen, char *head, size_t headlen)
{
	char req[4096];
	struct hc_resp r;
	int status;

	snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
	    method, target, fields, payload ? strlen(payload) : 0, payload ? payload : "");
	status = hc_once(port, req, &r);
	if (body != NULL)
		snprintf(body, bodylen, "%s", r.body != NULL ? r.body : "");
	if (head != NULL)
		snprintf(head, headlen, "%s", r.head != NULL ? r.head : "");
	hc_resp_free(&r);
	return status;
}

static int http(int port, const char *method, const char *target,
    const char *payload, char *body, size_t bodylen)
{
	return http_fields(port, method, target, "", payload, body, bodylen, NULL, 0);
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
	    "if [ \"$p\" = exit130 ]; then exit 130; fi\n"
	    "if [ \"$p\" = term ]; then kill -TERM $$; sleep 120; fi\n"
	    "if [ \"$p\" = wait ]; then echo $$ > %s/pid-$JOBQD_JOB_ID; exec sleep 120; fi\n",
	    d->dir, d->dir);
	write_file(path, script, 0755);
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

/* Each reason: exit (non-zero exit, also 130), signal (the program
 * killed itself with SIGTERM, or was SIGKILLed from outside), lost (its worker SIGKILLed), timeout (job_timeout); reason is
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

	/* an exit code above 128 is an exit; a signal is a signal */
	ck_assert_int_eq(post(d.port, "/payload", "exit130", id, body, sizeof(body)), 202);
	expect_failed(&d, id, "exit", "130");
	ck_assert_int_eq(post(d.port, "/payload", "term", id, body, sizeof(body)), 202);
	expect_failed(&d, id, "signal", "143");

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

/* An RFC 3339 time with milliseconds, as jobqd writes it, in ns. */
static int64_t parse_time(const char *t)
{
	struct tm tm;
	int ms = -1;

	memset(&tm, 0, sizeof(tm));
	ck_assert_msg(sscanf(t, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7, "time %s", t);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000000 + (int64_t)ms * 1000000;
}

/* A counter's value from /metrics. */
static unsigned long long metric(int port, const char *name)
{
	static char body[65536];
	char want[128];
	const char *p;

	ck_assert_int_eq(http(port, "GET", "/metrics", NULL, body, sizeof(body)), 200);
	snprintf(want, sizeof(want), "\n%s ", name);
	ck_assert_msg((p = strstr(body, want)) != NULL, "no %s", name);
	return strtoull(p + strlen(want), NULL, 10);
}

/* The start times (ns) DIR/times-ID holds; their count, 0 without it. */
static int run_times(const struct daemon *d, const char *id, long long *t, int max)
{
	char path[256];
	int n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/times-%s", d->dir, id);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (n < max && fscanf(fp, "%lld", &t[n]) == 1)
		n++;
	fclose(fp);
	return n;
}

/* delay=N answers 202 scheduled with run_at, GET agrees, and the program
 * starts at or after run_at; delay=0 is no delay; the scheduled counter
 * counts the delayed submissions only. */
START_TEST(test_delay_runs)
{
	const char *opts[] = { NULL };
	struct daemon d;
	char id[17], id0[17], body[2048], run_at[64], again[64];
	long long t[2];

	start(&d, opts);
	ck_assert_int_eq(post(d.port, "/payload?delay=2", "ok", id, body, sizeof(body)), 202);
	ck_assert_msg(strstr(body, "\"state\":\"scheduled\",\"run_at\":\"") != NULL, "%s", body);
	json_str(body, "run_at", run_at, sizeof(run_at));
	ck_assert_int_eq(post(d.port, "/payload?delay=0", "ok", id0, body, sizeof(body)), 202);
	ck_assert_msg(strstr(body, "\"state\":\"queued\"}") != NULL, "%s", body);
	ck_assert_int_eq(get_job(d.port, id, body, sizeof(body)), 200);
	if (strstr(body, "\"state\":\"scheduled\"") != NULL) {
		json_str(body, "run_at", again, sizeof(again));
		ck_assert_str_eq(again, run_at);
	}
	ck_assert_msg(job_wait(d.port, id, "done", body, sizeof(body)), "%s", body);
	ck_assert_int_eq(run_times(&d, id, t, 2), 1);
	ck_assert_msg(t[0] >= parse_time(run_at), "started %lld, run_at %s", t[0], run_at);
	ck_assert(job_wait(d.port, id0, "done", body, sizeof(body)));
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_scheduled_total"), 1);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 2);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* Every malformed or unknown query is 400 with a JSON error, and
 * nothing is accepted; max_delay itself is fine, one more is not. */
START_TEST(test_delay_bad)
{
	static const char *const bad[] = {
		"/payload?", "/payload?delay", "/payload?delay=", "/payload?delay=-1",
		"/payload?delay=+1", "/payload?delay=1x", "/payload?delay=%31",
		"/payload?delay=1.5", "/payload?delay=101", "/payload?delay=00000101",
		"/payload?delay=99999999999999999999999", "/payload?delay=1&delay=1",
		"/payload?delay=1&", "/payload?x=1", "/payload?DELAY=1", "/payload?delay=1&x=2",
		"/payload?x=1&delay=1",
	};
	const char *opts[] = { "-o", "max_delay=100", NULL };
	struct daemon d;
	char id[17], body[2048];

	start(&d, opts);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ck_assert_msg(post(d.port, bad[k], "ok", id, body, sizeof(body)) == 400,
		    "%s: %s", bad[k], body);
		ck_assert_msg(strncmp(body, "{\"error\":\"", 10) == 0, "%s: %s", bad[k], body);
	}
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 0);
	ck_assert_int_eq(post(d.port, "/payload?delay=100", "ok", id, body, sizeof(body)), 202);
	ck_assert_int_eq(post(d.port, "/payload?delay=007", "ok", id, body, sizeof(body)), 202);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_scheduled_total"), 2);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* POST until 202 (a canceled slot comes back once the dispatcher has
 * taken the cancel: a bounded poll); the status of the last. */
static int post_until_accepted(int port, const char *target, char id[17], char *body,
    size_t n)
{
	int st = -1;

	for (int i = 0; i < WAIT_S * 20; i++) {
		if ((st = post(port, target, "ok", id, body, n)) != 503)
			break;
		nap_ms(50);
	}
	return st;
}

/* A full queue of delayed jobs: the next POST is 503; DELETE one (200,
 * canceled; again 409) and its slot takes a new job at once, not at its
 * run_at.  A canceled delayed job never runs: a job delayed as long and
 * posted after it is done, and it has no start time. */
START_TEST(test_delay_cancel)
{
	const char *opts[] = { "-o", "queue=3", NULL };
	struct daemon d;
	char id[3][17], late[17], x[17], body[2048], target[64];
	long long t[1];

	start(&d, opts);
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(post(d.port, "/payload?delay=86400", "ok", id[k], body,
		    sizeof(body)), 202);
	ck_assert_int_eq(post(d.port, "/payload?delay=86400", "ok", x, body, sizeof(body)), 503);
	snprintf(target, sizeof(target), "/jobs/%s", id[1]);
	ck_assert_int_eq(http(d.port, "DELETE", target, NULL, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "\"finished_at\":\"") != NULL, "%s", body);
	ck_assert_int_eq(http(d.port, "DELETE", target, NULL, body, sizeof(body)), 409);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_int_eq(post_until_accepted(d.port, "/payload?delay=86400", x, body,
	    sizeof(body)), 202);
	ck_assert_int_eq(post(d.port, "/payload?delay=86400", "ok", x, body, sizeof(body)), 503);

	/* never runs */
	for (int k = 0; k < 3; k += 2) {
		snprintf(target, sizeof(target), "/jobs/%s", id[k]);
		ck_assert_int_eq(http(d.port, "DELETE", target, NULL, body, sizeof(body)), 200);
	}
	ck_assert_int_eq(post_until_accepted(d.port, "/payload?delay=1", x, body,
	    sizeof(body)), 202);
	snprintf(target, sizeof(target), "/jobs/%s", x);
	ck_assert_int_eq(http(d.port, "DELETE", target, NULL, body, sizeof(body)), 200);
	ck_assert_int_eq(post_until_accepted(d.port, "/payload?delay=1", late, body,
	    sizeof(body)), 202);
	ck_assert_msg(job_wait(d.port, late, "done", body, sizeof(body)), "%s", body);
	ck_assert_int_eq(run_times(&d, x, t, 1), 0);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_canceled_total"), 4);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A job waiting for its retry backoff is canceled by DELETE (200), never
 * runs again, and its slot takes a new job before its run_at. */
START_TEST(test_cancel_backoff)
{
	const char *opts[] = { "-o", "queue=2", "-o", "max_attempts=2",
	    "-o", "retry_delay=3600", NULL };
	struct daemon d;
	char id[17], a[17], b[17], body[2048], target[64];
	long long t[2];

	start(&d, opts);
	ck_assert_int_eq(post(d.port, "/payload", "exit", id, body, sizeof(body)), 202);
	ck_assert_msg(job_wait(d.port, id, "scheduled", body, sizeof(body)), "%s", body);
	snprintf(target, sizeof(target), "/jobs/%s", id);
	ck_assert_int_eq(http(d.port, "DELETE", target, NULL, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_msg(strstr(body, "\"attempts\":1,") != NULL, "%s", body);
	ck_assert_int_eq(post(d.port, "/payload?delay=86400", "ok", a, body, sizeof(body)), 202);
	ck_assert_int_eq(post_until_accepted(d.port, "/payload?delay=86400", b, body,
	    sizeof(body)), 202);
	ck_assert_int_eq(run_times(&d, id, t, 2), 1);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* GET /jobs/id is scheduled with run_at want. */
static void expect_scheduled(const struct daemon *d, const char *id, const char *want)
{
	char body[2048], run_at[64];

	ck_assert_int_eq(get_job(d->port, id, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"scheduled\"") != NULL, "%s", body);
	json_str(body, "run_at", run_at, sizeof(run_at));
	ck_assert_str_eq(run_at, want);
}

/* A delayed job keeps its run_at across a dispatcher kill -9, a stop
 * and start, a start from the journal alone (the segment removed, as by
 * a reboot) and a master kill -9; it can still be canceled after. */
START_TEST(test_delay_survives)
{
	const char *opts[] = { NULL };
	struct daemon d;
	char id[17], body[2048], run_at[64], target[64];
	pid_t disp = -1;

	start(&d, opts);
	ck_assert_int_eq(post(d.port, "/payload?delay=86400", "ok", id, body, sizeof(body)), 202);
	json_str(body, "run_at", run_at, sizeof(run_at));
	expect_scheduled(&d, id, run_at);

	for (int i = 0; i < WAIT_S * 20 && (disp = daemon_child_named(d.pid, "dispatcher")) <= 0; i++)
		nap_ms(50);
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	ck_assert(daemon_log_wait(&d, "queue recovered", WAIT_S));
	expect_scheduled(&d, id, run_at);

	ck_assert_int_eq(daemon_stop(&d), 0);
	ck_assert(daemon_log_contains(&d, "1 unfinished job kept in shared memory"));
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	expect_scheduled(&d, id, run_at);

	ck_assert_int_eq(daemon_stop(&d), 0);
	ck_assert_int_eq(shm_unlink(d.shm), 0);		/* a reboot */
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	ck_assert(daemon_log_wait(&d, "1 jobs recovered from the journal", WAIT_S));
	expect_scheduled(&d, id, run_at);

	daemon_signal(&d, SIGKILL);
	daemon_wait(&d, WAIT_S);
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	expect_scheduled(&d, id, run_at);
	snprintf(target, sizeof(target), "/jobs/%s", id);
	ck_assert_int_eq(http(d.port, "DELETE", target, NULL, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"state\":\"canceled\"") != NULL, "%s", body);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A delayed POST repeated with its Idempotency-Key is answered as the
 * first time (202, scheduled, the same id and run_at) and creates
 * nothing; the scheduled counter counts it once. */
START_TEST(test_delay_idempotent)
{
	const char *opts[] = { NULL };
	struct daemon d;
	char first[2048], body[2048], head[2048];

	start(&d, opts);
	ck_assert_int_eq(http_fields(d.port, "POST", "/payload?delay=3600",
	    "Idempotency-Key: k-1\r\n", "ok", first, sizeof(first), NULL, 0), 202);
	ck_assert_msg(strstr(first, "\"state\":\"scheduled\"") != NULL, "%s", first);
	ck_assert_int_eq(http_fields(d.port, "POST", "/payload?delay=3600",
	    "Idempotency-Key: k-1\r\n", "ok", body, sizeof(body), head, sizeof(head)), 202);
	ck_assert_str_eq(body, first);
	ck_assert_msg(strstr(head, "Idempotent-Replayed: true") != NULL, "%s", head);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_scheduled_total"), 1);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 1);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_replayed_total"), 1);
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
	tcase_add_test(tc, test_delay_runs);
	tcase_add_test(tc, test_delay_bad);
	tcase_add_test(tc, test_delay_cancel);
	tcase_add_test(tc, test_cancel_backoff);
	tcase_add_test(tc, test_delay_survives);
	tcase_add_test(tc, test_delay_idempotent);
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
