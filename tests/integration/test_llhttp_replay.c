/*
 * test_llhttp_replay — replay llhttp's strict request corpus
 * (tests/llhttp/, MIT, see its README.md) against jobqd over a socket with
 * tests/llhttp/replay.py, and require "0 failed".
 *
 * The server is the real binary ($JOBQD_BIN, started with a loopback port,
 * its own shm name, handler=noop, 2 workers) when it passes "-t"; until
 * the master's main exists it is the in-process harness, which serves the
 * same httpd.  Skipped (with a note) when python3 is missing.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/harness.h"

/* A free loopback port (bound then released: a small race we accept). */
static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd != -1)
		close(fd);
	return port;
}

/* Can we connect to 127.0.0.1:port? */
static int can_connect(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd != -1 && connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	if (fd != -1)
		close(fd);
	return ok;
}

/* Start $JOBQD_BIN on port; its pid, or -1 when there is no usable binary. */
static pid_t start_binary(int port, char *shm, size_t shmlen)
{
	const char *bin = getenv("JOBQD_BIN");
	char listen[64], shmopt[160], cmd[1024];
	pid_t pid;

	if (bin == NULL || access(bin, X_OK) != 0)
		return -1;
	snprintf(listen, sizeof listen, "listen=127.0.0.1:%d", port);
	snprintf(shm, shmlen, "/jobqd-test-%d-replay", (int)getpid());
	snprintf(shmopt, sizeof shmopt, "shm_name=%s", shm);
	snprintf(cmd, sizeof cmd, "'%s' -t -o %s -o %s -o handler=noop -o workers=2 >/dev/null 2>&1",
	    bin, listen, shmopt);
	if (system(cmd) != 0)	/* the placeholder main, or a broken one */
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		execl(bin, bin, "-o", listen, "-o", shmopt, "-o", "handler=noop",
		    "-o", "workers=2", "-o", "log_level=warn", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !can_connect(port); i++)
		usleep(50000);
	return pid;
}

/* Run replay.py against port; its output's last line in last. */
static int replay(int port, char *last, size_t lastlen)
{
	const char *src = getenv("JOBQD_SRC");
	char cmd[1024], line[1024];
	FILE *p;
	int status;

	snprintf(cmd, sizeof cmd, "python3 '%s/tests/llhttp/replay.py' 127.0.0.1 %d --timeout 1.5 2>&1",
	    src ? src : ".", port);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	last[0] = '\0';
	while (fgets(line, sizeof line, p) != NULL) {
		fputs(line, stderr);
		snprintf(last, lastlen, "%s", line);
	}
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(llhttp_corpus)
{
	struct harness hs;
	struct config c;
	char shm[96], last[1024];
	int port, rc, status;
	pid_t pid;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		fprintf(stderr, "llhttp_corpus: no python3, skipped\n");
		return;
	}
	port = free_port();
	ck_assert_int_gt(port, 0);
	pid = start_binary(port, shm, sizeof shm);
	if (pid > 0) {
		fprintf(stderr, "llhttp replay against %s on port %d\n", getenv("JOBQD_BIN"), port);
		ck_assert_msg(can_connect(port), "jobqd did not listen on %d", port);
		rc = replay(port, last, sizeof last);
		kill(pid, SIGTERM);
		for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
			usleep(50000);
		if (waitpid(pid, &status, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		segment_unlink(shm);
	} else {
		fprintf(stderr, "llhttp replay against the in-process harness (no usable $JOBQD_BIN)\n");
		harness_config(&c);
		c.queue = 64;
		c.header_timeout = 5;	/* let replay.py's own timeout decide */
		c.body_timeout = 5;
		ck_assert_int_eq(harness_start(&hs, &c), 0);
		rc = replay(hs.port, last, sizeof last);
		ck_assert_int_eq(harness_stop(&hs), 0);
	}
	ck_assert_msg(strstr(last, " 0 failed") != NULL, "replay.py ended with: %s", last);
	ck_assert_int_eq(rc, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("llhttp_replay");
	TCase *tc = tcase_create("corpus");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, llhttp_corpus);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
