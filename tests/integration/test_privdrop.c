/*
 * test_privdrop — user = nobody, as root, against the real binary: the
 * pidfile's and the log's missing directories are created for nobody, so
 * the pidfile goes at stop and SIGUSR1 reopens a rotated log; -t refuses
 * (78) a log or pidfile in a directory nobody cannot write; a reload to a
 * spool directory nobody cannot create fails and the old handler keeps
 * running jobs.  Skipped (with a line saying so) unless root with a
 * "nobody" user.
 */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define POLL_SECS	60

/* nobody's entry, or NULL (and a line) when the test cannot run. */
static struct passwd *nobody(const char *test)
{
	struct passwd *pw = getpwnam("nobody");

	if (geteuid() != 0 || pw == NULL) {
		fprintf(stderr, "%s: SKIP: needs root and a user \"nobody\"\n", test);
		return NULL;
	}
	return pw;
}

/* Owner uid of path, or -1. */
static long owner(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_uid : -1;
}

/* Run jobqd with args, output (stdout and stderr) into out: exit status. */
static int run_jobqd(const char *const *args, char *out, size_t n)
{
	char cmd[2048];
	size_t got;
	FILE *fp;
	int st;

	snprintf(cmd, sizeof(cmd), "%s", getenv("JOBQD_BIN"));
	for (size_t i = 0; args[i] != NULL; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " '%s'", args[i]);
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " 2>&1");
	ck_assert_ptr_nonnull(fp = popen(cmd, "r"));
	got = fread(out, 1, n - 1, fp);
	out[got] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* POST a payload and poll its job until "done": 1 if it got there. */
static int job_done(int port)
{
	char req[256], path[64], *p;
	struct hc_resp r;

	snprintf(req, sizeof(req), "POST /payload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "Content-Length: 1\r\n\r\nx");
	if (hc_once(port, req, &r) != 202 || (p = strstr(r.body, "\"id\":\"")) == NULL) {
		hc_resp_free(&r);
		return 0;
	}
	snprintf(path, sizeof(path), "/jobs/%.16s", p + 6);
	hc_resp_free(&r);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	for (int i = 0; i < POLL_SECS * 10; i++) {
		int done = hc_once(port, req, &r) == 200 && strstr(r.body, "\"state\":\"done\"") != NULL;

		hc_resp_free(&r);
		if (done)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* The pidfile's and the log's directories do not exist: made for nobody;
 * the log reopens after a rename and SIGUSR1; the pidfile goes at stop. */
START_TEST(test_dirs_made_for_user)
{
	struct passwd *pw = nobody("test_dirs_made_for_user");
	struct daemon d;
	char pidfile[300], pidarg[320], dir[300], rotated[300];

	if (pw == NULL)
		return;
	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/run/jobqd/jobqd.pid", d.dir);
	snprintf(pidarg, sizeof(pidarg), "pidfile=%s", pidfile);
	snprintf(d.log, sizeof(d.log), "%s/logs/jobqd.log", d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "handler=noop", "-o", "workers=1",
	    "-o", "user=nobody", "-o", pidarg, NULL }), 0);
	ck_assert(daemon_log_wait(&d, "running as uid", POLL_SECS));
	snprintf(dir, sizeof(dir), "%s/run", d.dir);
	ck_assert_int_eq(owner(dir), (long)pw->pw_uid);
	snprintf(dir, sizeof(dir), "%s/run/jobqd", d.dir);
	ck_assert_int_eq(owner(dir), (long)pw->pw_uid);
	snprintf(dir, sizeof(dir), "%s/logs", d.dir);
	ck_assert_int_eq(owner(dir), (long)pw->pw_uid);
	ck_assert_int_eq(access(pidfile, F_OK), 0);

	/* logrotate: rename, SIGUSR1; the master, now nobody, makes a new file */
	snprintf(rotated, sizeof(rotated), "%s.1", d.log);
	ck_assert_int_eq(rename(d.log, rotated), 0);
	ck_assert_int_eq(daemon_signal(&d, SIGUSR1), 0);
	ck_assert_msg(daemon_log_wait(&d, "log reopened", POLL_SECS), "no new log at %s", d.log);
	ck_assert_int_eq(owner(d.log), (long)pw->pw_uid);
	ck_assert(job_done(d.port));

	ck_assert_int_eq(daemon_stop(&d), 0);
	ck_assert_msg(access(pidfile, F_OK) == -1 && errno == ENOENT, "pidfile %s left", pidfile);
	daemon_cleanup(&d);
}
END_TEST

/* -t as root for user nobody: a log or pidfile in a root-only (0700)
 * directory is a configuration error (78) that says why; in a missing
 * directory under a reachable one it is fine. */
START_TEST(test_check_refuses_unwritable_dir)
{
	char dir[] = "/tmp/jobqd-test-privdrop-XXXXXX", kv[300], out[4096];

	if (nobody("test_check_refuses_unwritable_dir") == NULL)
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));	/* 0700, root's */
	snprintf(kv, sizeof(kv), "log=%s/jobqd.log", dir);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", "user=nobody", "-o", kv, NULL },
	    out, sizeof(out)), 78);
	ck_assert_msg(strstr(out, "is not writable by user nobody") != NULL, "%s", out);
	snprintf(kv, sizeof(kv), "pidfile=%s/sub/jobqd.pid", dir);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", "user=nobody", "-o", kv, NULL },
	    out, sizeof(out)), 78);
	ck_assert_msg(strstr(out, "sub is not writable by user nobody: Permission denied") != NULL,
	    "%s", out);
	/* the same as root (no user): fine */
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", kv, NULL }, out, sizeof(out)), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);	/* reachable: the missing dir is made */
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", "user=nobody", "-o", kv, NULL },
	    out, sizeof(out)), 0);
	ck_assert_int_eq(rmdir(dir), 0);	/* -t created nothing */
}
END_TEST

/* A reload to a spool directory nobody cannot create (its parent is
 * root's 0755: the configuration check sees it missing, mkdir as nobody
 * fails) is refused: logged, counted, the old handler keeps running jobs. */
START_TEST(test_reload_checks_handler_as_user)
{
	struct passwd *pw = nobody("test_reload_checks_handler_as_user");
	struct daemon d;
	char conf[300], text[600], req[128], spool[300];
	struct hc_resp r;
	int ok;

	if (pw == NULL)
		return;
	ck_assert_int_eq(daemon_prepare(&d), 0);
	ck_assert_int_eq(chown(d.dir, pw->pw_uid, pw->pw_gid), 0);	/* the log's */
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	write_file(conf, "handler = noop\nworkers = 2\nuser = nobody\n", 0644);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", conf, NULL }), 0);
	ck_assert(job_done(d.port));

	snprintf(spool, sizeof(spool), "%s/rootonly", d.dir);
	ck_assert_int_eq(mkdir(spool, 0755), 0);	/* root's */
	snprintf(text, sizeof(text), "handler = spool %s/spool\nworkers = 2\nuser = nobody\n", spool);
	write_file(conf, text, 0644);
	ck_assert_int_eq(daemon_signal(&d, SIGHUP), 0);
	ck_assert(daemon_log_wait(&d, "reload failed: handler", POLL_SECS));
	ck_assert(daemon_log_contains(&d, "Permission denied"));
	ck_assert(job_done(d.port));
	snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(hc_once(d.port, req, &r), 200);
	ok = strstr(r.body, "\njobqd_reloads_total{result=\"ok\"} 0\n"
	    "jobqd_reloads_total{result=\"failed\"} 1\n") != NULL;
	hc_resp_free(&r);
	ck_assert(ok);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *privdrop_suite(void)
{
	Suite *s = suite_create("privdrop");
	TCase *tc = tcase_create("privdrop");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dirs_made_for_user);
	tcase_add_test(tc, test_check_refuses_unwritable_dir);
	tcase_add_test(tc, test_reload_checks_handler_as_user);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(privdrop_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
