/*
 * daemon — run the real jobqd binary for integration tests (see daemon.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"

static int counter;

int test_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd == -1)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

int test_connect(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sleep ms milliseconds. */
static void nap(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int daemon_run(struct daemon *d, const char *const *extra)
{
	const char *bin = getenv("JOBQD_BIN");
	const char *argv[64];
	char listen[64], shm[96], log[256];
	size_t n = 0;

	if (bin == NULL) {
		fprintf(stderr, "daemon_start: JOBQD_BIN is not set\n");
		return -1;
	}
	snprintf(listen, sizeof(listen), "listen=127.0.0.1:%d", d->port);
	snprintf(shm, sizeof(shm), "shm_name=%s", d->shm);
	snprintf(log, sizeof(log), "log=%s", d->log);
	argv[n++] = bin;
	if (!d->listen_in_file) {
		argv[n++] = "-o";
		argv[n++] = listen;
	}
	argv[n++] = "-o";
	argv[n++] = shm;
	argv[n++] = "-o";
	argv[n++] = log;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 63; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	d->pid = fork();
	if (d->pid == -1)
		return -1;
	if (d->pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		setpgid(0, 0);
		/* A test that dies (failed check, timeout) takes its daemon along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {	/* 10 s */
		int fd = test_connect(d->port), status;

		if (fd != -1) {
			close(fd);
			return 0;
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			fprintf(stderr, "daemon_start: jobqd exited early (status %d)\n", status);
			d->pid = 0;
			return -1;
		}
		nap(50);
	}
	fprintf(stderr, "daemon_start: port %d never opened\n", d->port);
	return -1;
}

int daemon_prepare(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/jobqd-test-XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	chmod(d->dir, 0755);
	snprintf(d->shm, sizeof(d->shm), "/jobqd-test-%ld-%d", (long)getpid(), counter++);
	snprintf(d->log, sizeof(d->log), "%s/jobqd.log", d->dir);
	shm_unlink(d->shm);
	if ((d->port = test_free_port()) == -1)
		return -1;
	return 0;
}

int daemon_start(struct daemon *d, const char *const *extra)
{
	if (daemon_prepare(d) == -1)
		return -1;
	return daemon_run(d, extra);
}

int daemon_signal(struct daemon *d, int sig)
{
	return d->pid > 0 ? kill(d->pid, sig) : -1;
}

int daemon_wait(struct daemon *d, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		int status;
		pid_t r = waitpid(d->pid, &status, WNOHANG);

		if (r == d->pid) {
			d->pid = 0;
			return status;
		}
		if (r == -1)
			return -1;
		nap(50);
	}
	return -1;
}

int daemon_stop(struct daemon *d)
{
	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	return daemon_wait(d, 60);
}

void daemon_cleanup(struct daemon *d)
{
	char cmd[256];

	if (d->pid > 0) {
		kill(-d->pid, SIGKILL);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
	if (d->shm[0] != '\0')
		shm_unlink(d->shm);
	if (d->dir[0] != '\0' && strncmp(d->dir, "/tmp/jobqd-test-", 16) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "daemon_cleanup: could not remove %s\n", d->dir);
	}
}

int daemon_log_contains(const struct daemon *d, const char *s)
{
	FILE *fp = fopen(d->log, "r");
	char line[2048];
	int found = 0;

	if (fp == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, s) != NULL;
	fclose(fp);
	return found;
}

int daemon_log_wait(const struct daemon *d, const char *s, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (daemon_log_contains(d, s))
			return 1;
		nap(50);
	}
	return 0;
}

pid_t daemon_child_named(pid_t parent, const char *name)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	while (dir != NULL && (e = readdir(dir)) != NULL && found == -1) {
		char path[300], buf[512], comm[64];
		long ppid;
		FILE *fp;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), fp) != NULL) {
			char *l = strchr(buf, '('), *r = strrchr(buf, ')');

			if (l && r && sscanf(r + 2, "%*c %ld", &ppid) == 1) {
				snprintf(comm, sizeof(comm), "%.*s", (int)(r - l - 1), l + 1);
				if (ppid == parent && strcmp(comm, name) == 0)
					found = (pid_t)atol(e->d_name);
			}
		}
		fclose(fp);
	}
	if (dir != NULL)
		closedir(dir);
	return found;
}

void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void write_file(const char *path, const char *text, mode_t mode)
{
	char tmp[512];
	FILE *fp;

	snprintf(tmp, sizeof tmp, "%s.new", path);
	fp = fopen(tmp, "w");
	ck_assert_msg(fp != NULL, "open %s: %s", tmp, strerror(errno));
	fputs(text, fp);
	ck_assert_msg(fclose(fp) == 0, "write %s: %s", tmp, strerror(errno));
	ck_assert_msg(chmod(tmp, mode) == 0, "chmod %s: %s", tmp, strerror(errno));
	ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", tmp, strerror(errno));
}
