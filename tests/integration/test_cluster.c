/*
 * test_cluster — two jobqd nodes behind HAProxy running the shipped
 * server/haproxy.cfg (addresses and ports substituted) on 127.0.0.1:
 * submissions spread over both nodes, every id is routed to its node,
 * a stopped node's ids answer 503 (never 404) while submissions go on to
 * the live node, and the stopped node's queued jobs run when it is back.
 *
 * Node 1's jobs wait behind a gate file, so they are still queued when
 * the node is killed: nothing depends on how fast jobs run.  (The old
 * dispatcher finishes its two running jobs after the kill: the gate, opened
 * after the restart, lets it go, and the new master takes the segment.)
 *
 * Skips with one line when haproxy is not installed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/child.h"
#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define NJOBS	200
#define NAFTER	20	/* submissions while node 1 is down */
#define WAIT_S	60	/* bound of every poll */

static char haproxy[256];

/* haproxy in $PATH or an sbin directory; 1 if found (path in haproxy). */
static int find_haproxy(void)
{
	char dirs[2048];
	const char *path = getenv("PATH");

	snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/local/sbin:/sbin", path ? path : "");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(haproxy, sizeof haproxy, "%s/haproxy", d);
		if (access(haproxy, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* One request on a fresh connection: the status (-1 on failure); the
 * body into out. */
static int http(int port, const char *method, const char *path,
    char *out, size_t outlen)
{
	char req[512];
	struct hc_resp r;
	int st;

	snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "Content-Length: %d\r\n\r\n%s", method, path,
	    strcmp(method, "POST") == 0 ? 3 : 0, strcmp(method, "POST") == 0 ? "job" : "");
	st = hc_once(port, req, &r);
	snprintf(out, outlen, "%s", r.body ? r.body : "");
	hc_resp_free(&r);
	return st;
}

/* POST /payload; the id into id (16 hex digits), the status returned. */
static int submit(int port, char id[17])
{
	char body[256];
	int st = http(port, "POST", "/payload", body, sizeof body);
	const char *p = strstr(body, "\"id\":\"");

	snprintf(id, 17, "%.16s", st == 202 && p ? p + 6 : "");
	return st;
}

/* GET /jobs/id: the status; the body into out. */
static int lookup(int port, const char *id, char *out, size_t outlen)
{
	char path[64];

	snprintf(path, sizeof path, "/jobs/%.16s", id);
	return http(port, "GET", path, out, outlen);
}

/* Replace every "from" in buf (cap bytes) with "to"; how many. */
static int subst(char *buf, size_t cap, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	int n = 0;

	for (char *p = strstr(buf, from); p; p = strstr(p + tl, from), n++) {
		ck_assert_msg(strlen(buf) - fl + tl < cap, "haproxy.cfg too big");
		memmove(p + tl, p + fl, strlen(p + fl) + 1);
		memcpy(p, to, tl);
	}
	return n;
}

/* The shipped config with our addresses, written to dir/haproxy.cfg. */
static void write_cfg(const char *dir, int front, int port0, int port1, char *cfg, size_t cfglen)
{
	static char text[16384];
	char src[512], to[64];
	const char *root = getenv("JOBQD_SRC");
	FILE *fp;
	size_t n;

	snprintf(src, sizeof src, "%s/server/haproxy.cfg", root ? root : ".");
	ck_assert_msg((fp = fopen(src, "r")) != NULL, "%s: %s", src, strerror(errno));
	n = fread(text, 1, sizeof text - 1, fp);
	fclose(fp);
	text[n] = '\0';
	snprintf(to, sizeof to, "bind 127.0.0.1:%d", front);
	ck_assert_int_eq(subst(text, sizeof text, "bind :8080", to), 1);
	snprintf(to, sizeof to, "127.0.0.1:%d", port0);
	ck_assert_int_ge(subst(text, sizeof text, "10.0.0.10:8099", to), 2);
	snprintf(to, sizeof to, "127.0.0.1:%d", port1);
	ck_assert_int_ge(subst(text, sizeof text, "10.0.0.11:8099", to), 2);
	snprintf(cfg, cfglen, "%s/haproxy.cfg", dir);
	ck_assert((fp = fopen(cfg, "w")) != NULL);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
	ck_assert_int_eq(fclose(fp), 0);
}

/* Run haproxy in the foreground on cfg, its output in dir; wait until it
 * accepts on port.  Its pid. */
static pid_t start_haproxy(const char *dir, const char *cfg, int port)
{
	char log[256];
	pid_t pid;

	snprintf(log, sizeof log, "%s/haproxy.log", dir);
	if ((pid = test_fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(haproxy, "haproxy", "-db", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	for (time_t end = time(NULL) + WAIT_S; time(NULL) < end; ) {
		int fd = test_connect(port), st;

		if (fd != -1) {
			close(fd);
			return pid;
		}
		ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "haproxy exited: see %s", log);
		usleep(20000);
	}
	ck_abort_msg("haproxy never listened on %d", port);
	return -1;
}

/* Wait until every id in ids (n of them) reads "done" through port. */
static int all_done(int port, char (*ids)[17], int n)
{
	char body[1024];

	for (time_t end = time(NULL) + WAIT_S; time(NULL) < end; usleep(50000)) {
		int k = 0;

		while (k < n && lookup(port, ids[k], body, sizeof body) == 200 &&
		    strstr(body, "\"state\":\"done\"") != NULL)
			k++;
		if (k == n)
			return 1;
	}
	return 0;
}

START_TEST(two_nodes_behind_haproxy)
{
	static char ids[NJOBS][17], ids1[NJOBS][17];
	struct daemon n0, n1;
	char gate[256], handler1[512], cfg[256], body[1024], want[64], id[17];
	int front, count[2] = { 0, 0 }, n1jobs = 0;
	pid_t hap;
	const char *const args0[] = { "-o", "node=0", "-o", "handler=noop",
	    "-o", "queue=512", NULL };
	const char *const args1[] = { "-o", "node=1", "-o", handler1,
	    "-o", "queue=512", "-o", "workers=2", NULL };

	ck_assert_int_eq(daemon_prepare(&n0), 0);
	ck_assert_int_eq(daemon_prepare(&n1), 0);
	snprintf(gate, sizeof gate, "%s/go", n1.dir);
	/* wait for the gate, or for this test to die (no orphan spins on) */
	snprintf(handler1, sizeof handler1, "handler=exec /bin/sh -c \"while [ ! -e %s ] && "
	    "kill -0 %ld 2>/dev/null; do sleep 0.02; done\"", gate, (long)getpid());
	ck_assert_int_eq(daemon_run(&n0, args0), 0);
	ck_assert_int_eq(daemon_run(&n1, args1), 0);
	ck_assert((front = test_free_port()) > 0);
	write_cfg(n0.dir, front, n0.port, n1.port, cfg, sizeof cfg);
	hap = start_haproxy(n0.dir, cfg, front);

	/* 200 submissions: all 202, on both nodes */
	for (int i = 0; i < NJOBS; i++) {
		ck_assert_int_eq(submit(front, ids[i]), 202);
		ck_assert_msg(ids[i][0] == '0' && (ids[i][1] == '0' || ids[i][1] == '1'),
		    "id %s: want node 00 or 01", ids[i]);
		count[ids[i][1] - '0']++;
		if (ids[i][1] == '1')
			memcpy(ids1[n1jobs++], ids[i], 17);
	}
	ck_assert_msg(count[0] > 0 && count[1] > 0, "node 0 got %d, node 1 got %d",
	    count[0], count[1]);

	/* every id through the balancer: 200 with that id */
	for (int i = 0; i < NJOBS; i++) {
		snprintf(want, sizeof want, "{\"id\":\"%.16s\"", ids[i]);
		ck_assert_int_eq(lookup(front, ids[i], body, sizeof body), 200);
		ck_assert_msg(strncmp(body, want, strlen(want)) == 0, "%s: got %s", ids[i], body);
	}
	/* asked directly, the other node says so */
	ck_assert_int_eq(lookup(n0.port, ids1[0], body, sizeof body), 421);
	ck_assert_str_eq(body, "{\"error\":\"wrong node\",\"node\":0}\n");

	/* node 1 dies with its jobs queued behind the gate */
	ck_assert_int_eq(http(n1.port, "GET", "/status", body, sizeof body), 200);
	ck_assert_msg(strstr(body, "\"node\":1,") && !strstr(body, "\"depth\":0,"),
	    "node 1 status: %s", body);
	daemon_signal(&n1, SIGKILL);
	ck_assert_int_ne(daemon_wait(&n1, WAIT_S), -1);
	for (int i = 0; i < NAFTER; i++) {
		ck_assert_int_eq(submit(front, id), 202);
		ck_assert_msg(strncmp(id, "00", 2) == 0, "id %s while node 1 is down", id);
	}
	/* its ids: 503 once HAProxy's check has marked it down (until then a
	 * lookup may outlast our client's 3 s in HAProxy's connect retries) */
	for (time_t end = time(NULL) + WAIT_S; ; ) {
		int st = lookup(front, ids1[0], body, sizeof body);

		ck_assert_int_ne(st, 404);
		if (st == 503)
			break;
		ck_assert_msg(time(NULL) < end, "lookups of node 1's ids: got %d, want 503", st);
		usleep(20000);
	}
	for (int i = 0; i < n1jobs; i++)
		ck_assert_int_eq(lookup(front, ids1[i], body, sizeof body), 503);

	/* back: its queued jobs run and answer again */
	ck_assert_int_eq(daemon_run(&n1, args1), 0);
	ck_assert_int_eq(close(open(gate, O_WRONLY | O_CREAT, 0644)), 0);
	ck_assert_msg(all_done(front, ids1, n1jobs), "node 1's jobs did not all finish");
	ck_assert(daemon_log_contains(&n1, "recovered shared memory"));
	ck_assert(daemon_log_contains(&n1, "node 1,"));

	kill(hap, SIGTERM);
	waitpid(hap, NULL, 0);
	daemon_cleanup(&n1);
	daemon_cleanup(&n0);
}
END_TEST

static Suite *cluster_suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("haproxy");

	tcase_set_timeout(tc, 3 * WAIT_S);
	tcase_add_test(tc, two_nodes_behind_haproxy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!find_haproxy()) {
		printf("test_cluster: SKIPPED: haproxy not found (Debian: apt-get install haproxy)\n");
		return 0;
	}
	sr = srunner_create(cluster_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
