/*
 * test_logging — what an operator reads, from the real binary.
 *
 * journal     under journald (JOURNAL_STREAM = stderr's device:inode) every
 *             line starts with "<N>" and none carries "jobqd[PID]: "; the
 *             first line names the version and "built-in defaults".
 * first_line  with -c, the first line names the configuration file.
 * escape      an exec program printing ESC and CR: the log holds C
 *             escapes and no raw control byte, so the forged line it
 *             prints is not a line.
 * daemon      -d with a busy port or a pidfile in use prints the error on
 *             the terminal and exits non-zero; -d that starts prints
 *             nothing and exits 0.
 */
#include <check.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

/* The whole file at path, NUL-terminated (static buffer). */
static const char *slurp(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd == -1 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd != -1)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Start the daemon with its stderr on d->log and JOURNAL_STREAM naming it. */
static void start_under_journal(struct daemon *d, const char *const *extra)
{
	int saved = dup(STDERR_FILENO), fd;
	struct stat st;
	char js[64];

	ck_assert_int_eq(daemon_prepare(d), 0);
	fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	dup2(fd, STDERR_FILENO);
	close(fd);
	int r = daemon_run(d, extra);

	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	ck_assert_int_eq(r, 0);
}

START_TEST(test_journal)
{
	static const char *const extra[] = { "-o", "log=stderr", "-o", "workers=1",
	    "-o", "handler=noop", "-o", "log_level=debug", NULL };
	struct daemon d;

	start_under_journal(&d, extra);
	ck_assert(daemon_log_wait(&d, "<6>master: info: serving on", 20));
	ck_assert_int_eq(daemon_stop(&d), 0);

	const char *log = slurp(d.log);
	int lines = 0;

	ck_assert_msg(strncmp(log, "<6>master: info: jobqd 0.1.0 starting with built-in defaults\n",
	    strlen("<6>master: info: jobqd 0.1.0 starting with built-in defaults\n")) == 0,
	    "first line: %.200s", log);
	for (const char *p = log; *p != '\0'; lines++) {
		const char *nl = strchr(p, '\n');

		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(p[0] == '<' && p[1] >= '3' && p[1] <= '7' && p[2] == '>',
		    "line without a priority: %.*s", (int)(nl - p), p);
		p = nl + 1;
	}
	ck_assert_int_gt(lines, 3);
	ck_assert_ptr_null(strstr(log, "jobqd["));
	ck_assert_ptr_nonnull(strstr(log, "<7>"));
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_first_line_names_file)
{
	struct daemon d;
	char conf[256], want[320];
	const char *extra[] = { "-c", conf, NULL };
	FILE *fp;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	ck_assert_ptr_nonnull(fp = fopen(conf, "w"));
	fputs("workers = 1\nhandler = noop\n", fp);
	fclose(fp);
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	ck_assert(daemon_log_wait(&d, "serving on", 20));
	snprintf(want, sizeof(want), "master: info: jobqd 0.1.0 starting with %s\n", conf);
	const char *log = slurp(d.log), *nl = strchr(log, '\n');

	ck_assert_ptr_nonnull(nl);
	ck_assert_msg((size_t)(nl + 1 - log) >= strlen(want) &&
	    strncmp(nl + 1 - strlen(want), want, strlen(want)) == 0,
	    "first line: %.*s", (int)(nl - log), log);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_escape_job_output)
{
	struct daemon d;
	char prog[256], handler[300];
	const char *extra[] = { "-o", "workers=1", "-o", handler, NULL };
	struct hc_resp r;
	FILE *fp;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(prog, sizeof(prog), "%s/noisy", d.dir);
	ck_assert_ptr_nonnull(fp = fopen(prog, "w"));
	fputs("#!/bin/sh\nprintf 'a\\033[2Jb\\rjobqd[1]: master: error: forged\\n' >&2\n", fp);
	fclose(fp);
	ck_assert_int_eq(chmod(prog, 0755), 0);
	snprintf(handler, sizeof(handler), "handler=exec %s", prog);
	ck_assert_int_eq(daemon_run(&d, extra), 0);
	ck_assert_int_eq(hc_once(d.port, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\nContent-Length: 1\r\n\r\nx", &r), 202);
	hc_resp_free(&r);
	ck_assert(daemon_log_wait(&d, ": a\\x1b[2Jb\\rjobqd[1]: master: error: forged", 20));
	ck_assert_int_eq(daemon_stop(&d), 0);

	const char *log = slurp(d.log);

	ck_assert_ptr_null(strchr(log, '\x1b'));
	ck_assert_ptr_null(strchr(log, '\r'));
	ck_assert_ptr_null(strstr(log, "\njobqd[1]"));
	daemon_cleanup(&d);
}
END_TEST

/* Run "jobqd -d ARGS" with stdout and stderr captured; the exit status
 * (waitpid form) and the output in out. */
static int run_d(const char *const *args, char *out, size_t n)
{
	const char *bin = getenv("JOBQD_BIN");
	const char *argv[32] = { bin, "-d" };
	int p[2], status;
	size_t len = 0, i = 2;
	ssize_t r;
	pid_t pid;

	ck_assert_ptr_nonnull(bin);
	for (; *args != NULL && i < 31; args++)
		argv[i++] = *args;
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	/* EOF comes when the daemon has closed its stderr too (served) or
	 * every jobqd process has exited. */
	while (len < n - 1 && (r = read(p[0], out + len, n - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(test_daemon_busy_port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct daemon d;
	char listen_kv[64], shm_kv[96], log_kv[256], out[4096];
	int s = socket(AF_INET, SOCK_STREAM, 0), st;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(s, 1), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	snprintf(listen_kv, sizeof(listen_kv), "listen=127.0.0.1:%d", ntohs(sin.sin_port));
	snprintf(shm_kv, sizeof(shm_kv), "shm_name=%s", d.shm);
	snprintf(log_kv, sizeof(log_kv), "log=%s", d.log);
	const char *args[] = { "-o", listen_kv, "-o", shm_kv, "-o", log_kv, NULL };

	st = run_d(args, out, sizeof(out));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status %#x", st);
	ck_assert_msg(strstr(out, "jobqd: master: error: listen 127.0.0.1:") != NULL &&
	    strstr(out, "Address already in use") != NULL, "terminal got: %s", out);
	ck_assert(daemon_log_contains(&d, "Address already in use"));
	close(s);
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_daemon_pidfile_in_use)
{
	struct daemon d;
	char listen_kv[64], shm_kv[96], log_kv[256], pidfile[256], out[4096];
	FILE *fp;
	int st;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(listen_kv, sizeof(listen_kv), "listen=127.0.0.1:%d", d.port);
	snprintf(pidfile, sizeof(pidfile), "%s/jobqd.pid", d.dir);
	ck_assert_ptr_nonnull(fp = fopen(pidfile, "w"));
	fprintf(fp, "%ld\n", (long)getpid());	/* a running process */
	fclose(fp);
	snprintf(shm_kv, sizeof(shm_kv), "shm_name=%s", d.shm);
	snprintf(log_kv, sizeof(log_kv), "log=%s", d.log);
	const char *args[] = { "-o", listen_kv, "-o", shm_kv, "-o", log_kv,
	    "-p", pidfile, NULL };

	st = run_d(args, out, sizeof(out));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status %#x", st);
	ck_assert_msg(strstr(out, "jobqd: master: error: ") != NULL &&
	    strstr(out, pidfile) != NULL, "terminal got: %s", out);
	daemon_cleanup(&d);
}
END_TEST

START_TEST(test_daemon_starts_quietly)
{
	struct daemon d;
	char listen_kv[64], shm_kv[96], log_kv[256], pidfile[256], out[4096];
	int st, pid = 0;
	FILE *fp;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/jobqd.pid", d.dir);
	snprintf(listen_kv, sizeof(listen_kv), "listen=127.0.0.1:%d", d.port);
	snprintf(shm_kv, sizeof(shm_kv), "shm_name=%s", d.shm);
	snprintf(log_kv, sizeof(log_kv), "log=%s", d.log);
	const char *args[] = { "-o", listen_kv, "-o", shm_kv, "-o", log_kv,
	    "-o", "workers=1", "-o", "handler=noop", "-p", pidfile, NULL };

	st = run_d(args, out, sizeof(out));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, out);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_nonnull(fp = fopen(pidfile, "r"));
	ck_assert_int_eq(fscanf(fp, "%d", &pid), 1);
	fclose(fp);
	ck_assert_int_gt(pid, 1);
	ck_assert(daemon_log_contains(&d, "serving on"));
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	/* The daemon is not our child: wait for it to remove its pidfile. */
	for (int i = 0; i < 600 && access(pidfile, F_OK) == 0; i++)
		usleep(50000);
	ck_assert_int_ne(access(pidfile, F_OK), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *
logging_suite(void)
{
	Suite *s = suite_create("logging");
	TCase *tc = tcase_create("logging");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_journal);
	tcase_add_test(tc, test_first_line_names_file);
	tcase_add_test(tc, test_escape_job_output);
	tcase_add_test(tc, test_daemon_busy_port);
	tcase_add_test(tc, test_daemon_pidfile_in_use);
	tcase_add_test(tc, test_daemon_starts_quietly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(logging_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
