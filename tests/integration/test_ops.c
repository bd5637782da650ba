/*
 * test_ops — daemon operations against the real binary: -t and exit codes,
 * SIGTERM drain, SIGHUP reload (live, under load, invalid, emptied, a
 * FIFO), SIGKILL of the master and of the dispatcher without losing a job,
 * SIGUSR1 log reopen, sd_notify, pidfile, process titles, privilege drop.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

/* One request on a fresh connection: the status code, or -1.  body (may
 * be NULL) gets the response body. */
static int http(int port, const char *method, const char *path,
    const char *payload, char *body, size_t bodylen)
{
	char req[4096];
	struct hc_resp r;
	int status;

	snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, payload ? strlen(payload) : 0, payload ? payload : "");
	status = hc_once(port, req, &r);
	if (body != NULL)
		snprintf(body, bodylen, "%s", r.body != NULL ? r.body : "");
	hc_resp_free(&r);
	return status;
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

/* Wait up to secs for GET /jobs/id to report state; 1 if it did. */
static int job_wait(int port, const char *id, const char *state, int secs)
{
	char path[64], body[2048], want[64];

	snprintf(path, sizeof(path), "/jobs/%s", id);
	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	for (int i = 0; i < secs * 10; i++) {
		if (http(port, "GET", path, NULL, body, sizeof(body)) == 200 &&
		    strstr(body, want) != NULL)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* Wait until the master serves: its signal handling is set up only then
 * (the port accepts connections a little earlier). */
static void wait_serving(const struct daemon *d)
{
	ck_assert_msg(daemon_log_wait(d, "serving on", 20), "the daemon does not serve");
}

/* Files in dir (not . and ..). */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Wait up to secs for dir to hold n files. */
static int wait_files(const char *dir, int n, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (count_files(dir) >= n)
			return count_files(dir);
		usleep(50000);
	}
	return count_files(dir);
}

/* Run jobqd with args (no daemon), capture stderr; the exit status. */
static int run_jobqd(const char *const *args, char *out, size_t outlen)
{
	char cmd[2048] = "", *bin = getenv("JOBQD_BIN");
	FILE *fp;
	size_t got;
	int st;

	ck_assert_ptr_nonnull(bin);
	snprintf(cmd, sizeof(cmd), "%s", bin);
	for (size_t i = 0; args[i] != NULL; i++) {
		strncat(cmd, " '", sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, args[i], sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, "'", sizeof(cmd) - strlen(cmd) - 1);
	}
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	got = fread(out, 1, outlen - 1, fp);
	out[got] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* daemon_child_named, waiting (bounded) for the child to name itself after its
 * fork; the pid, or -1 after 20 s. */
static pid_t wait_child(pid_t parent, const char *name)
{
	pid_t pid = -1;

	for (int i = 0; i < 400 && (pid = daemon_child_named(parent, name)) <= 0; i++)
		usleep(50000);
	return pid;
}

START_TEST(test_config_check_exit_codes)
{
	char out[4096], conf[] = "/tmp/jobqd-conf-XXXXXX";
	int fd = mkstemp(conf);

	ck_assert_int_ne(fd, -1);
	close(fd);
	write_file(conf, "# ok\nworkers = 4\nhandler = noop\n", 0644);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", conf, NULL }, out, sizeof(out)), 0);
	write_file(conf, "", 0644);	/* all defaults: valid (a reload refuses it) */
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", conf, NULL }, out, sizeof(out)), 0);
	write_file(conf, "workers = 4\nqueue = lots\n", 0644);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", conf, NULL }, out, sizeof(out)), 78);
	ck_assert_msg(strstr(out, ":2: queue:") != NULL, "got \"%s\", want FILE:2: queue:", out);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", "nosuchkey=1", NULL }, out, sizeof(out)), 78);
	ck_assert_msg(strstr(out, "nosuchkey") != NULL, "got \"%s\"", out);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", "/nonexistent/jobqd.conf", NULL }, out, sizeof(out)), 78);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-x", NULL }, out, sizeof(out)), 78);
	/* a slot table larger than /dev/shm is a configuration error */
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", "queue=1000000", "-o",
	    "max_payload=16M", NULL }, out, sizeof(out)), 78);
	ck_assert_msg(strstr(out, "of shared memory") != NULL, "got \"%s\"", out);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-h", NULL }, out, sizeof(out)), 0);
	ck_assert_msg(strncmp(out, "usage: jobqd", 12) == 0, "got \"%s\"", out);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-V", NULL }, out, sizeof(out)), 0);
	ck_assert_msg(strncmp(out, "jobqd ", 6) == 0, "got \"%s\"", out);
	unlink(conf);
}
END_TEST

/* SIGTERM with a full queue: every queued job runs, exit 0, segment gone. */
START_TEST(test_sigterm_drains_full_queue)
{
	struct daemon d;
	char handler[600], id[17], shm[128];
	struct stat st;
	int status;

	char gate[160];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	/* Jobs wait for the gate file: the queue is surely full at the 17th. */
	snprintf(gate, sizeof(gate), "%s/gate", d.dir);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"while [ ! -e %s ]; do sleep 0.02; done; "
	    "cat > %s/$JOBQD_JOB_ID\"", gate, d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=2",
	    "-o", "queue=16", "-o", handler, NULL }), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(post(d.port, "payload", id), 202);
	ck_assert_int_eq(post(d.port, "one too many", id), 503);
	daemon_signal(&d, SIGTERM);
	ck_assert(daemon_log_wait(&d, "shutting down", 20));
	write_file(gate, "", 0644);
	status = daemon_wait(&d, 30);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
	/* 16 job files + the log + the gate */
	ck_assert_int_eq(count_files(d.dir), 18);
	snprintf(shm, sizeof(shm), "/dev/shm%s", d.shm);
	ck_assert_msg(stat(shm, &st) == -1, "%s should be removed after a full drain", shm);
	daemon_cleanup(&d);
}
END_TEST

/* drain_timeout reached: jobs stay in the segment and run at the next
 * start.  The jobs wait for a gate opened only for the second start, so
 * none can finish within the drain whatever the machine's speed. */
START_TEST(test_drain_timeout_keeps_jobs)
{
	struct daemon d;
	char handler[600], id[17], gate[160];
	int status;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(gate, sizeof(gate), "%s/gate", d.dir);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"while [ ! -e %s ]; do sleep 0.02; done; "
	    "cat > %s/$JOBQD_JOB_ID\"", gate, d.dir);
	/* max_attempts=1: the attempt the drain timeout cut short is not
	 * charged, so these jobs still run at the next start. */
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=1",
	    "-o", "drain_timeout=1", "-o", "max_attempts=1", "-o", handler, NULL }), 0);
	for (int i = 0; i < 12; i++)
		ck_assert_int_eq(post(d.port, "x", id), 202);
	daemon_signal(&d, SIGTERM);
	status = daemon_wait(&d, 20);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
	ck_assert(daemon_log_contains(&d, "12 unfinished jobs kept"));
	ck_assert_int_eq(count_files(d.dir), 1);	/* the log */
	write_file(gate, "", 0644);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=4",
	    "-o", "max_attempts=1", "-o", handler, NULL }), 0);
	ck_assert_int_eq(wait_files(d.dir, 14, 20), 14);
	ck_assert(daemon_log_contains(&d, "recovered shared memory"));
	daemon_stop(&d);
	daemon_cleanup(&d);
}
END_TEST

/* SIGKILL of the master, then a restart: every accepted job completes. */
START_TEST(test_sigkill_master_then_restart)
{
	struct daemon d;
	char handler[300], id[17];
	int accepted = 0;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"sleep 0.05; cat > %s/$JOBQD_JOB_ID\"", d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=2",
	    "-o", "queue=64", "-o", handler, NULL }), 0);
	for (int i = 0; i < 40; i++)
		accepted += post(d.port, "x", id) == 202;
	ck_assert_int_eq(accepted, 40);
	daemon_signal(&d, SIGKILL);
	daemon_wait(&d, 10);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=4",
	    "-o", "queue=64", "-o", handler, NULL }), 0);
	ck_assert(daemon_log_wait(&d, "recovered shared memory", 20));
	ck_assert_int_eq(wait_files(d.dir, 41, 30), 41);
	daemon_stop(&d);
	daemon_cleanup(&d);
}
END_TEST

/* SIGKILL of the dispatcher: a new one starts and nothing is lost. */
START_TEST(test_sigkill_dispatcher)
{
	struct daemon d;
	char handler[300], id[17];
	pid_t disp, disp2 = -1;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"sleep 0.1; cat > %s/$JOBQD_JOB_ID\"", d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=2",
	    "-o", "queue=64", "-o", handler, NULL }), 0);
	for (int i = 0; i < 30; i++)
		ck_assert_int_eq(post(d.port, "x", id), 202);
	disp = wait_child(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(post(d.port, "y", id), 202);
	ck_assert_int_eq(wait_files(d.dir, 51, 30), 51);
	ck_assert(daemon_log_contains(&d, "killed by signal 9"));
	ck_assert(daemon_log_contains(&d, "queue recovered"));
	for (int i = 0; i < 200 && (disp2 <= 0 || disp2 == disp); i++, usleep(100000))
		disp2 = daemon_child_named(d.pid, "dispatcher");
	ck_assert_int_gt(disp2, 0);
	ck_assert_int_ne(disp2, disp);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A job that leaves a process behind out of its process group (setsid: the
 * master is the subreaper that inherits it) blocks neither the recovery
 * after a dispatcher death nor the shutdown. */
START_TEST(test_stray_process_does_not_block)
{
	struct daemon d;
	char handler[300], id[17];
	pid_t disp;
	int status;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"setsid sleep 5 >/dev/null 2>&1 & cat > %s/$JOBQD_JOB_ID\"", d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "workers=2", "-o", handler, NULL }), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(post(d.port, "x", id), 202);
	ck_assert_int_eq(wait_files(d.dir, 5, 10), 5);
	disp = wait_child(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);
	ck_assert_int_eq(kill(disp, SIGKILL), 0);
	ck_assert(daemon_log_wait(&d, "queue recovered", 20));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(post(d.port, "y", id), 202);
	ck_assert_int_eq(wait_files(d.dir, 9, 10), 9);
	daemon_signal(&d, SIGTERM);
	status = daemon_wait(&d, 10);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
	daemon_cleanup(&d);
}
END_TEST

/* -d: the first process exits 0 once the daemon serves; -p names the
 * daemon; a reload keeps logging; SIGTERM stops it and removes the pidfile. */
START_TEST(test_daemonize)
{
	struct daemon d;
	char pidfile[256], pidarg[300], listen[64], shm[96], log[256], out[4096];
	char id[17];
	long pid = 0;
	FILE *fp;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/jobqd.pid", d.dir);
	snprintf(pidarg, sizeof(pidarg), "%s", pidfile);
	snprintf(listen, sizeof(listen), "listen=127.0.0.1:%d", d.port);
	snprintf(shm, sizeof(shm), "shm_name=%s", d.shm);
	snprintf(log, sizeof(log), "log=%s", d.log);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-d", "-p", pidarg, "-o", listen,
	    "-o", shm, "-o", log, "-o", "handler=noop", "-o", "workers=2", NULL }, out, sizeof(out)), 0);
	fp = fopen(pidfile, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fscanf(fp, "%ld", &pid), 1);
	fclose(fp);
	d.pid = (pid_t)pid;	/* so daemon_cleanup kills it if a check fails */
	ck_assert_int_eq(kill((pid_t)pid, 0), 0);
	ck_assert_int_eq(post(d.port, "x", id), 202);
	ck_assert(job_wait(d.port, id, "done", 20));
	kill((pid_t)pid, SIGHUP);
	ck_assert(daemon_log_wait(&d, "configuration reloaded", 20));
	kill((pid_t)pid, SIGTERM);
	for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++)
		usleep(100000);
	ck_assert_int_eq(kill((pid_t)pid, 0), -1);
	d.pid = 0;
	ck_assert_int_eq(access(pidfile, F_OK), -1);
	ck_assert(daemon_log_contains(&d, "stopped: queue empty"));
	daemon_cleanup(&d);
}
END_TEST

/* SIGHUP under load: the worker count changes, no request fails. */
START_TEST(test_sighup_under_load)
{
	struct daemon d;
	char conf[256], body[65536], id[17], arg[300];
	int failed = 0;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	write_file(conf, "workers = 2\nqueue = 512\nhandler = sleep 5\n", 0644);
	snprintf(arg, sizeof(arg), "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	for (int i = 0; i < 300; i++) {
		if (i == 50) {
			write_file(conf, "workers = 5\nqueue = 512\nhandler = sleep 2\n", 0644);
			daemon_signal(&d, SIGHUP);
		}
		if (i == 150)
			daemon_signal(&d, SIGHUP);
		failed += post(d.port, "load", id) != 202;
	}
	ck_assert_int_eq(failed, 0);
	ck_assert(daemon_log_wait(&d, "configuration reloaded: 5 workers", 20));
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(http(d.port, "GET", "/status", NULL, body, sizeof(body)), 200);
		if (strstr(body, "\"total\":5") != NULL)
			break;
		usleep(100000);
	}
	ck_assert_msg(strstr(body, "\"total\":5") != NULL, "status %s", body);
	daemon_signal(&d, SIGKILL);
	daemon_wait(&d, 10);
	daemon_cleanup(&d);
}
END_TEST

/* Connect to addr:port; the fd or -1. */
static int connect_to(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 5, 0 };

	inet_pton(AF_INET, addr, &sin.sin_addr);
	if (fd != -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd != -1 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* SIGHUP with a new listen address: the new one serves, the old one is
 * closed, a connection open on the old one is still answered; the same
 * port on another address works too. */
START_TEST(test_sighup_rebinds)
{
	struct daemon d;
	struct hc *keep;
	struct hc_resp r;
	char conf[256], arg[300], text[256], want[64], buf[512];
	const char *get = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
	int p2 = test_free_port(), fd;
	ssize_t n;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	d.listen_in_file = 1;
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	snprintf(text, sizeof(text), "listen = 127.0.0.1:%d\nhandler = noop\nworkers = 1\n", d.port);
	write_file(conf, text, 0644);
	snprintf(arg, sizeof(arg), "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	/* named, the dispatcher holds no copy of the listening socket */
	ck_assert_int_gt(wait_child(d.pid, "dispatcher"), 0);
	ck_assert_ptr_nonnull(keep = hc_open(d.port));
	ck_assert_int_eq(hc_sends(keep, get), 0);
	ck_assert_int_eq(hc_read(keep, &r, 0, 3000), 0);
	ck_assert_int_eq(r.status, 200);
	hc_resp_free(&r);

	snprintf(text, sizeof(text), "listen = 127.0.0.1:%d\nhandler = noop\nworkers = 1\n", p2);
	write_file(conf, text, 0644);
	daemon_signal(&d, SIGHUP);
	snprintf(want, sizeof(want), "now listening on 127.0.0.1:%d", p2);
	ck_assert(daemon_log_wait(&d, want, 20));
	ck_assert_int_eq(http(p2, "GET", "/healthz", NULL, NULL, 0), 200);
	ck_assert_int_eq(test_connect(d.port), -1);
	ck_assert_int_eq(hc_sends(keep, get), 0);	/* the old connection lives on */
	ck_assert_int_eq(hc_read(keep, &r, 0, 3000), 0);
	ck_assert_int_eq(r.status, 200);
	hc_resp_free(&r);
	hc_close(keep);

	snprintf(text, sizeof(text), "listen = 127.0.0.2:%d\nhandler = noop\nworkers = 1\n", p2);
	write_file(conf, text, 0644);
	daemon_signal(&d, SIGHUP);
	snprintf(want, sizeof(want), "now listening on 127.0.0.2:%d", p2);
	ck_assert(daemon_log_wait(&d, want, 20));
	ck_assert_int_eq(test_connect(p2), -1);
	ck_assert_int_ne(fd = connect_to("127.0.0.2", p2), -1);
	ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 12);
	buf[n] = '\0';
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "got %s", buf);
	close(fd);
	d.port = p2;
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* An invalid file on SIGHUP: logged, the running configuration stays. */
START_TEST(test_sighup_bad_config_kept)
{
	struct daemon d;
	char conf[256], body[65536], arg[300], id[17];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	write_file(conf, "workers = 3\nhandler = noop\n", 0644);
	snprintf(arg, sizeof(arg), "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	wait_serving(&d);
	write_file(conf, "workers = 7\nhandler = teleport\n", 0644);	/* nothing of it may apply */
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "reload failed", 20));
	ck_assert(daemon_log_contains(&d, ":2: handler:"));
	ck_assert_int_eq(post(d.port, "still here", id), 202);
	ck_assert(job_wait(d.port, id, "done", 20));
	ck_assert_int_eq(http(d.port, "GET", "/status", NULL, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"total\":3") != NULL, "status %s", body);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* GET /status with an optional Authorization value: the status, or -1. */
static int status_auth(int port, const char *token)
{
	char req[512];
	struct hc_resp r;
	int st;

	snprintf(req, sizeof(req), "GET /status HTTP/1.1\r\nHost: t\r\n%s%s%s"
	    "Connection: close\r\n\r\n", token ? "Authorization: Bearer " : "",
	    token ? token : "", token ? "\r\n" : "");
	st = hc_once(port, req, &r);
	hc_resp_free(&r);
	return st;
}

/* SIGHUP after the file was emptied (a truncated write): refused, and the
 * running listen address, allow list and token stay.  A real file that
 * drops allow and auth_token_file applies, with a warning for each. */
START_TEST(test_sighup_empty_config_kept)
{
	struct daemon d;
	char conf[256], tok[256], arg[300], text[768], want[512];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	d.listen_in_file = 1;
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	snprintf(tok, sizeof(tok), "%s/token", d.dir);
	write_file(tok, "tokenA\n", 0600);
	snprintf(text, sizeof(text), "listen = 127.0.0.1:%d\nhandler = noop\nworkers = 1\n"
	    "allow = 127.0.0.1\nauth_token_file = %s\n", d.port, tok);
	write_file(conf, text, 0644);
	snprintf(arg, sizeof(arg), "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	wait_serving(&d);
	ck_assert_int_eq(status_auth(d.port, NULL), 401);
	ck_assert_int_eq(status_auth(d.port, "tokenA"), 200);

	write_file(conf, "", 0644);
	daemon_signal(&d, SIGHUP);
	snprintf(want, sizeof(want), "reload failed: %s sets no key", conf);
	ck_assert(daemon_log_wait(&d, want, 20));
	ck_assert(daemon_log_contains(&d, "keeping the running configuration"));
	ck_assert(!daemon_log_contains(&d, "now listening on"));
	ck_assert_int_eq(status_auth(d.port, NULL), 401);
	ck_assert_int_eq(status_auth(d.port, "tokenA"), 200);

	snprintf(text, sizeof(text), "listen = 127.0.0.1:%d\nhandler = noop\nworkers = 1\n",
	    d.port);
	write_file(conf, text, 0644);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "configuration reloaded", 20));
	ck_assert(daemon_log_contains(&d, "reload: allow turned off (was 127.0.0.1/32)"));
	snprintf(want, sizeof(want), "reload: auth_token_file turned off (was %s)", tok);
	ck_assert(daemon_log_contains(&d, want));
	ck_assert(!daemon_log_contains(&d, "reload: deny turned off"));
	ck_assert_int_eq(status_auth(d.port, NULL), 200);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A FIFO in place of the file: -t and a reload refuse it at once (no
 * writer ever comes), and the master keeps serving. */
START_TEST(test_sighup_fifo_config)
{
	struct daemon d;
	char conf[256], arg[300], out[4096], id[17];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	write_file(conf, "handler = noop\nworkers = 1\n", 0644);
	snprintf(arg, sizeof(arg), "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	wait_serving(&d);
	ck_assert_int_eq(unlink(conf), 0);
	ck_assert_int_eq(mkfifo(conf, 0644), 0);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "not a regular file; keeping the running configuration", 20));
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", conf, NULL }, out, sizeof(out)), 78);
	ck_assert_msg(strstr(out, "not a regular file") != NULL, "got \"%s\"", out);
	ck_assert_int_eq(http(d.port, "GET", "/healthz", NULL, NULL, 0), 200);
	ck_assert_int_eq(post(d.port, "after the fifo", id), 202);
	ck_assert(job_wait(d.port, id, "done", 20));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* SIGHUP with restart-only keys changed (the key table says which): each
 * is named once, the running value stays; the live keys apply. */
START_TEST(test_sighup_restart_keys)
{
	struct daemon d;
	char conf[256], arg[300], id[17], big[300];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", d.dir);
	write_file(conf, "workers = 1\nqueue = 8\nhandler = noop\n", 0644);
	snprintf(arg, sizeof(arg), "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	wait_serving(&d);
	write_file(conf, "workers = 2\nqueue = 16\nmax_payload = 100\nhandler = noop\n", 0644);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "configuration reloaded: 2 workers", 10));
	ck_assert(daemon_log_contains(&d, "reload: queue changed; it takes effect at the next restart"));
	ck_assert(daemon_log_contains(&d, "reload: max_payload changed; it takes effect at the next restart"));
	ck_assert(!daemon_log_contains(&d, "reload: workers changed"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(post(d.port, big, id), 202);	/* max_payload still 65536 */
	ck_assert(job_wait(d.port, id, "done", 10));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* SIGUSR1 after the log was renamed: the master, the dispatcher and the
 * workers all write to the new file. */
START_TEST(test_sigusr1_reopens_log)
{
	struct daemon d;
	char old[256], id[17], line[64];

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=sleep 10",
	    "-o", "workers=2", NULL }), 0);
	wait_serving(&d);
	snprintf(old, sizeof(old), "%s.1", d.log);
	ck_assert_int_eq(rename(d.log, old), 0);
	daemon_signal(&d, SIGUSR1);
	ck_assert(daemon_log_wait(&d, "log reopened", 20));
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(post(d.port, "x", id), 202);
		ck_assert(job_wait(d.port, id, "done", 20));
		snprintf(line, sizeof(line), "job %s done", id);
		ck_assert_msg(daemon_log_wait(&d, line, 20), "\"%s\" not in the new log", line);
	}
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A test NOTIFY_SOCKET receives READY=1, RELOADING=1, STOPPING=1. */
START_TEST(test_sd_notify)
{
	struct daemon d;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[100], msgs[8192] = "", buf[1024], handler[300], id[17];
	char envfile[300], envtext[8192];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 0, 200000 };
	FILE *fp;

	snprintf(path, sizeof(path), "/tmp/jobqd-notify-%ld", (long)getpid());
	unlink(path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"env > %s/$JOBQD_JOB_ID\"", d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", handler, "-o", "workers=2", NULL }), 0);
	unsetenv("NOTIFY_SOCKET");
	/* a job's program sees JOBQD_JOB_ID but never NOTIFY_SOCKET */
	ck_assert_int_eq(post(d.port, "x", id), 202);
	ck_assert(job_wait(d.port, id, "done", 20));
	snprintf(envfile, sizeof(envfile), "%s/%s", d.dir, id);
	ck_assert_ptr_nonnull(fp = fopen(envfile, "r"));
	envtext[fread(envtext, 1, sizeof(envtext) - 1, fp)] = '\0';
	fclose(fp);
	ck_assert_msg(strstr(envtext, "JOBQD_JOB_ID=") != NULL, "env: %s", envtext);
	ck_assert_msg(strstr(envtext, "NOTIFY_SOCKET") == NULL, "env: %s", envtext);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "configuration reloaded", 20));
	ck_assert_int_eq(daemon_stop(&d), 0);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n <= 0)
			break;
		buf[n] = '\0';
		strncat(msgs, buf, sizeof(msgs) - strlen(msgs) - 2);
		strcat(msgs, "|");
	}
	ck_assert_msg(strstr(msgs, "READY=1") != NULL, "got %s", msgs);
	ck_assert_msg(strstr(msgs, "RELOADING=1\nMONOTONIC_USEC=") != NULL, "got %s", msgs);
	ck_assert_msg(strstr(msgs, "STOPPING=1") != NULL, "got %s", msgs);
	ck_assert_msg(strstr(msgs, "STATUS=") != NULL, "got %s", msgs);
	ck_assert_msg(strstr(strstr(msgs, "RELOADING=1"), "READY=1") != NULL,
	    "READY=1 after RELOADING=1: got %s", msgs);
	close(fd);
	unlink(path);
	daemon_cleanup(&d);
}
END_TEST

/* NOTIFY_SOCKET starting with '@' is an abstract socket. */
START_TEST(test_sd_notify_abstract)
{
	struct daemon d;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char name[64], buf[512];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ready = 0;
	struct timeval tv = { 5, 0 };
	socklen_t len;

	snprintf(name, sizeof(name), "@jobqd-notify-%ld", (long)getpid());
	memcpy(sun.sun_path, name, strlen(name));
	sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, len), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop", "-o", "workers=1", NULL }), 0);
	unsetenv("NOTIFY_SOCKET");
	for (int i = 0; i < 5 && !ready; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n <= 0)
			break;
		buf[n] = '\0';
		ready = strstr(buf, "READY=1") != NULL;
	}
	ck_assert(ready);
	ck_assert_int_eq(daemon_stop(&d), 0);
	close(fd);
	daemon_cleanup(&d);
}
END_TEST

/* Pidfile: written, refused while live, stale replaced, removed at exit. */
START_TEST(test_pidfile)
{
	struct daemon d;
	char pidfile[256], arg[300], buf[64], out[4096], listen[64];
	FILE *fp;
	long pid = 0;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/jobqd.pid", d.dir);
	{	/* stale: pid_max itself is never a process id */
		FILE *pm = fopen("/proc/sys/kernel/pid_max", "r");
		char stale[32] = "999999\n";

		if (pm != NULL) {
			if (fgets(stale, sizeof(stale), pm) == NULL)
				snprintf(stale, sizeof(stale), "999999\n");
			fclose(pm);
		}
		write_file(pidfile, stale, 0644);
	}
	snprintf(arg, sizeof(arg), "%s", pidfile);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-p", arg, "-o", "handler=noop", NULL }), 0);
	wait_serving(&d);	/* the port accepts before the pidfile is written */
	fp = fopen(pidfile, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	pid = atol(buf);
	ck_assert_int_eq(pid, d.pid);
	/* a second daemon with the same pidfile refuses */
	snprintf(listen, sizeof(listen), "listen=127.0.0.1:%d", test_free_port());
	ck_assert_int_eq(run_jobqd((const char *[]){ "-p", arg, "-o", listen, "-o", "shm_name=/jobqd-test-pidfile", NULL },
	    out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "already running") != NULL, "got \"%s\"", out);
	ck_assert_int_eq(daemon_stop(&d), 0);
	ck_assert_int_eq(access(pidfile, F_OK), -1);
	daemon_cleanup(&d);
}
END_TEST

/* ps shows each role. */
START_TEST(test_process_titles)
{
	struct daemon d;
	char path[64], buf[256];
	FILE *fp;
	size_t n;
	pid_t disp;

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop", "-o", "workers=2", NULL }), 0);
	/* the children name themselves after fork: wait for both */
	disp = wait_child(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);
	ck_assert_int_gt(wait_child(disp, "worker 0"), 0);
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)d.pid);
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	ck_assert_msg(strncmp(buf, "jobqd: master", 13) == 0, "got \"%s\"", buf);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* The scheduling policy in /proc/PID/stat (field 41); -1 if unreadable. */
static int policy_of(const char *statpath)
{
	char buf[1024], *p;
	FILE *fp = fopen(statpath, "r");
	size_t n;
	int field = 3;		/* the first after ") " */

	if (fp == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (p += 2; field < 41 && (p = strchr(p, ' ')) != NULL; field++)
		p++;
	return p != NULL ? atoi(p) : -1;
}

/* The dispatcher and the workers run under SCHED_BATCH; a job's program
 * under the daemon's own policy, SCHED_OTHER.  A policy chosen by whoever
 * started the daemon (this test's own, inherited) is left alone. */
START_TEST(test_sched_policy)
{
	struct daemon d;
	char handler[300], path[300], id[17], text[16] = "";
	int own = sched_getscheduler(0), pipeline = own == SCHED_OTHER ? SCHED_BATCH : own;
	pid_t disp, w;
	FILE *fp;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(handler, sizeof(handler), "handler=exec /bin/sh -c \"cut -d' ' -f41 /proc/self/stat > %s/$JOBQD_JOB_ID\"", d.dir);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", handler, "-o", "workers=1", NULL }), 0);
	disp = wait_child(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);
	ck_assert_int_gt(w = wait_child(disp, "worker 0"), 0);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)d.pid);
	ck_assert_int_eq(policy_of(path), own);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)disp);
	ck_assert_int_eq(policy_of(path), pipeline);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)w);
	ck_assert_int_eq(policy_of(path), pipeline);
	ck_assert_int_eq(post(d.port, "x", id), 202);
	ck_assert(job_wait(d.port, id, "done", 20));
	snprintf(path, sizeof(path), "%s/%s", d.dir, id);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(text, sizeof(text), fp));
	fclose(fp);
	ck_assert_int_eq(atoi(text), own);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* As root with user=nobody: every process runs as nobody. */
START_TEST(test_privilege_drop)
{
	struct daemon d;
	struct passwd *pw = getpwnam("nobody");
	char path[64], line[256], id[17];
	FILE *fp;
	pid_t disp, pids[3];

	if (geteuid() != 0 || pw == NULL)
		return;	/* only meaningful as root */
	ck_assert_int_eq(daemon_prepare(&d), 0);
	/* the log's directory: nobody must be able to reopen it */
	ck_assert_int_eq(chown(d.dir, pw->pw_uid, pw->pw_gid), 0);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", "workers=2", "-o", "user=nobody", NULL }), 0);
	ck_assert_int_eq(post(d.port, "x", id), 202);
	ck_assert(job_wait(d.port, id, "done", 20));
	disp = wait_child(d.pid, "dispatcher");
	ck_assert_int_gt(disp, 0);
	pids[0] = d.pid;
	pids[1] = disp;
	pids[2] = wait_child(disp, "worker 0");
	ck_assert_int_gt(pids[2], 0);
	for (int k = 0; k < 3; k++) {
		long u[4] = { -1, -1, -1, -1 }, g[4] = { -1, -1, -1, -1 };
		char groups[256] = "";

		snprintf(path, sizeof(path), "/proc/%ld/status", (long)pids[k]);
		fp = fopen(path, "r");
		ck_assert_ptr_nonnull(fp);
		while (fgets(line, sizeof(line), fp) != NULL) {
			sscanf(line, "Uid: %ld %ld %ld %ld", &u[0], &u[1], &u[2], &u[3]);
			sscanf(line, "Gid: %ld %ld %ld %ld", &g[0], &g[1], &g[2], &g[3]);
			if (strncmp(line, "Groups:", 7) == 0)
				snprintf(groups, sizeof(groups), "%s", line + 7);
		}
		fclose(fp);
		for (int f = 0; f < 4; f++) {
			ck_assert_int_eq(u[f], (long)pw->pw_uid);
			ck_assert_int_eq(g[f], (long)pw->pw_gid);
		}
		/* supplementary groups: just the user's group */
		ck_assert_int_eq(atol(groups), (long)pw->pw_gid);
	}
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("ops");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_config_check_exit_codes);
	tcase_add_test(tc, test_sigterm_drains_full_queue);
	tcase_add_test(tc, test_drain_timeout_keeps_jobs);
	tcase_add_test(tc, test_sigkill_master_then_restart);
	tcase_add_test(tc, test_sigkill_dispatcher);
	tcase_add_test(tc, test_stray_process_does_not_block);
	tcase_add_test(tc, test_daemonize);
	tcase_add_test(tc, test_sighup_under_load);
	tcase_add_test(tc, test_sighup_bad_config_kept);
	tcase_add_test(tc, test_sighup_empty_config_kept);
	tcase_add_test(tc, test_sighup_fifo_config);
	tcase_add_test(tc, test_sighup_restart_keys);
	tcase_add_test(tc, test_sighup_rebinds);
	tcase_add_test(tc, test_sigusr1_reopens_log);
	tcase_add_test(tc, test_sd_notify);
	tcase_add_test(tc, test_sd_notify_abstract);
	tcase_add_test(tc, test_pidfile);
	tcase_add_test(tc, test_process_titles);
	tcase_add_test(tc, test_sched_policy);
	tcase_add_test(tc, test_privilege_drop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ops_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
