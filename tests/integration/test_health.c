/*
 * test_health — /healthz, /status and /metrics tell the truth, against the
 * real binary: a stopped dispatcher makes /healthz 503 with the reason
 * (and 200 again once it runs), workers that cannot start make it 503 "no
 * worker" while a job waits, and the counters (timeouts, worker deaths,
 * reloads, dispatcher restarts) count and survive a dispatcher crash;
 * promtool accepts the text.  Every wait is a bounded poll.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define POLL_SECS	60	/* the 5 s thresholds, a 1 s beat, a loaded machine */

/* GET path on a fresh connection: the status, the body in body. */
static int get(int port, const char *path, char *body, size_t n)
{
	char req[256];
	struct hc_resp r;
	int st;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	st = hc_once(port, req, &r);
	snprintf(body, n, "%s", r.body != NULL ? r.body : "");
	hc_resp_free(&r);
	return st;
}

/* POST a payload: the status. */
static int post(int port, const char *payload)
{
	char req[512];
	struct hc_resp r;
	int st;

	snprintf(req, sizeof(req), "POST /payload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(payload), payload);
	st = hc_once(port, req, &r);
	hc_resp_free(&r);
	return st;
}

/* Poll GET path up to secs until it answers status with want in the body
 * (want may be NULL); 1 if it did.  The last body stays in body. */
static int wait_for(int port, const char *path, int status, const char *want,
    char *body, size_t n, int secs)
{
	for (int i = 0; i < secs * 10; i++) {
		if (get(port, path, body, n) == status && (want == NULL || strstr(body, want) != NULL))
			return 1;
		usleep(100000);
	}
	return 0;
}

/* The dispatcher: the master's child whose comm is "dispatcher". */
static pid_t dispatcher_of(pid_t master)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	while (d != NULL && found == -1 && (e = readdir(d)) != NULL) {
		char path[300], buf[512], *l, *r;
		long ppid;
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || (fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), fp) != NULL && (l = strchr(buf, '(')) != NULL &&
		    (r = strrchr(buf, ')')) != NULL && sscanf(r + 2, "%*c %ld", &ppid) == 1 &&
		    ppid == master && strncmp(l + 1, "dispatcher)", 11) == 0)
			found = (pid_t)atol(e->d_name);
		fclose(fp);
	}
	if (d != NULL)
		closedir(d);
	return found;
}

/* SIGSTOP the dispatcher: 503 with the reason on /healthz and /status;
 * SIGCONT: 200 "ok" again. */
START_TEST(test_stopped_dispatcher)
{
	struct daemon d;
	char body[65536];
	pid_t disp;
	int stale, status_says, back;

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", "workers=2", NULL }), 0);
	ck_assert(wait_for(d.port, "/healthz", 200, "ok\n", body, sizeof(body), POLL_SECS));
	disp = dispatcher_of(d.pid);
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGSTOP), 0);
	stale = wait_for(d.port, "/healthz", 503,
	    "{\"error\":\"unhealthy\",\"reason\":\"dispatcher: no progress for ", body, sizeof(body),
	    POLL_SECS);
	status_says = get(d.port, "/status", body, sizeof(body)) == 200 &&
	    strstr(body, "\"healthy\":false,\"reason\":\"dispatcher: no progress for ") != NULL;
	kill(disp, SIGCONT);	/* before any assertion: never leave it stopped */
	back = wait_for(d.port, "/healthz", 200, "ok\n", body, sizeof(body), POLL_SECS);
	ck_assert_msg(stale, "no 503 with a stopped dispatcher: %s", body);
	ck_assert(status_says);
	ck_assert_msg(back, "not 200 after SIGCONT: %s", body);
	ck_assert_int_eq(get(d.port, "/status", body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"healthy\":true,\"reason\":null"));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* Workers that cannot start (their spool directory cannot be made: /proc
 * takes no mkdir, and the configuration check only sees it missing) with
 * a job waiting: 503 "no worker". */
START_TEST(test_no_worker)
{
	struct daemon d;
	char body[65536];

	ck_assert_int_eq(daemon_start(&d, (const char *[]){
	    "-o", "handler=spool /proc/jobqd-test-none/spool", "-o", "workers=2",
	    "-o", "drain_timeout=1", NULL }), 0);	/* the job never runs */
	ck_assert_int_eq(post(d.port, "x"), 202);
	ck_assert_msg(wait_for(d.port, "/healthz", 503, "\"reason\":\"no worker alive for ",
	    body, sizeof(body), POLL_SECS), "no 503: %s", body);
	ck_assert_ptr_nonnull(strstr(body, " s with 1 jobs waiting\"}\n"));
	ck_assert_int_eq(get(d.port, "/status", body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"healthy\":false,\"reason\":\"no worker alive for "));
	/* the workers die: the count moves (a slow machine may judge the
	 * 5 s before the first death is reaped) */
	for (int i = 0; i < POLL_SECS * 10; i++) {
		ck_assert_int_eq(get(d.port, "/metrics", body, sizeof(body)), 200);
		if (strstr(body, "\njobqd_worker_deaths_total 0\n") == NULL)
			break;
		usleep(100000);
	}
	ck_assert_msg(strstr(body, "\njobqd_worker_deaths_total 0\n") == NULL, "no worker death counted");
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* Poll /metrics until it holds line (e.g. "\njobqd_x 1\n"); 1 if it did. */
static int metric_is(int port, const char *line, char *body, size_t n)
{
	return wait_for(port, "/metrics", 200, line, body, n, POLL_SECS);
}

/* promtool's verdict on the text: 0 clean, 1 not, -1 no promtool. */
static int promtool(const struct daemon *d, const char *text)
{
	char path[256], cmd[512];
	FILE *fp;
	int st;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/metrics.txt", d->dir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s >&2", path);
	st = system(cmd);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* A job killed at job_timeout: one timeout, one worker death; a reload;
 * a killed dispatcher: one restart, and the counters kept; build info
 * and draining; promtool finds nothing to say. */
START_TEST(test_counters)
{
	struct daemon d;
	char body[65536];
	pid_t disp;
	int r;

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=sleep 600000",
	    "-o", "workers=1", "-o", "job_timeout=1", "-o", "max_attempts=1", NULL }), 0);
	ck_assert_int_eq(post(d.port, "x"), 202);
	ck_assert(metric_is(d.port, "\njobqd_jobs_failed_total 1\n", body, sizeof(body)));
	ck_assert(metric_is(d.port, "\njobqd_job_timeouts_total 1\n", body, sizeof(body)));
	ck_assert(metric_is(d.port, "\njobqd_worker_deaths_total 1\n", body, sizeof(body)));
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_dispatcher_restarts_total 0\n"));
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_draining 0\n"));
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_build_info{version=\""));

	ck_assert_int_eq(daemon_signal(&d, SIGHUP), 0);
	ck_assert(metric_is(d.port, "\njobqd_reloads_total{result=\"ok\"} 1\n"
	    "jobqd_reloads_total{result=\"failed\"} 0\n", body, sizeof(body)));

	ck_assert_int_gt(disp = dispatcher_of(d.pid), 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	ck_assert(metric_is(d.port, "\njobqd_dispatcher_restarts_total 1\n", body, sizeof(body)));
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_job_timeouts_total 1\n"));
	ck_assert_ptr_nonnull(strstr(body, "\njobqd_reloads_total{result=\"ok\"} 1\n"));
	ck_assert(wait_for(d.port, "/healthz", 200, "ok\n", body, sizeof(body), POLL_SECS));

	ck_assert_int_eq(get(d.port, "/metrics", body, sizeof(body)), 200);
	if ((r = promtool(&d, body)) == -1)
		fprintf(stderr, "test_counters: SKIP promtool check: promtool not installed "
		    "(Debian: apt-get install prometheus)\n");
	else
		ck_assert_msg(r == 0, "promtool check metrics failed (its output above)");
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("health");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_stopped_dispatcher);
	tcase_add_test(tc, test_no_worker);
	tcase_add_test(tc, test_counters);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(health_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
