/*
 * test_acl — access control against the real binary: allow and deny (403
 * at accept, then the connection closes; IPv4-mapped peers of a dual-stack
 * listener match IPv4 rules; a reload changes the lists), the bearer token
 * (401 with WWW-Authenticate; /healthz open; a reload switches tokens and a
 * bad token file keeps the old one), the denial log, and jobqd -t refusing
 * a token file that group or others can read.
 *
 * Every wait is a bounded poll: nothing here depends on timing.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define WAIT_MS		30000	/* bound of every read */
#define WAIT_S		30	/* bound of every log wait */

/* One request on a fresh connection with an optional extra header line
 * ("Authorization: ..."); the status, or -1.  r is freed by the caller. */
static int request(int port, const char *method, const char *path,
    const char *header, const char *payload, struct hc_resp *r)
{
	char raw[2048];
	struct hc *c = hc_open(port);
	int rc = -1;

	memset(r, 0, sizeof *r);
	ck_assert_ptr_nonnull(c);
	snprintf(raw, sizeof raw, "%s %s HTTP/1.1\r\nHost: t\r\n%s%s"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", method, path,
	    header ? header : "", header ? "\r\n" : "",
	    payload ? strlen(payload) : 0, payload ? payload : "");
	if (hc_sends(c, raw) == 0 && hc_read(c, r, 0, WAIT_MS) == 0)
		rc = r->status;
	hc_close(c);
	return rc;
}

/* The status of a request, the response dropped. */
static int status_of(int port, const char *method, const char *path,
    const char *header, const char *payload)
{
	struct hc_resp r;
	int st = request(port, method, path, header, payload, &r);

	hc_resp_free(&r);
	return st;
}

/* Connect from the loopback address src, send req, read to EOF: the
 * status of the answer, or -1. */
static int status_from(const char *src, int port, const char *req)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pollfd p;
	char buf[4096];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), st = -1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, src, &sin.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr), 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	for (;;) {
		ssize_t n;

		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, WAIT_MS) != 1)
			break;
		n = read(fd, buf + got, sizeof buf - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	if (sscanf(buf, "HTTP/1.1 %d ", &st) != 1)
		st = -1;
	return st;
}

/* Run jobqd with args, stderr captured in out: the exit status. */
static int run_jobqd(const char *const *args, char *out, size_t outlen)
{
	char cmd[2048], *bin = getenv("JOBQD_BIN");
	FILE *fp;
	size_t got;
	int st;

	ck_assert_ptr_nonnull(bin);
	snprintf(cmd, sizeof cmd, "%s", bin);
	for (size_t i = 0; args[i] != NULL; i++) {
		strncat(cmd, " '", sizeof cmd - strlen(cmd) - 1);
		strncat(cmd, args[i], sizeof cmd - strlen(cmd) - 1);
		strncat(cmd, "'", sizeof cmd - strlen(cmd) - 1);
	}
	strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	got = fread(out, 1, outlen - 1, fp);
	out[got] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char post_req[] = "POST /payload HTTP/1.1\r\nHost: t\r\n"
    "Content-Length: 2\r\nConnection: close\r\n\r\nhi";

/* allow without 127.0.0.1: 403 as soon as the connection is accepted, on
 * every path, then the connection is closed; the refusal is logged. */
START_TEST(allow_excludes_loopback)
{
	struct daemon d;
	struct hc_resp r;
	struct hc *c;

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", "allow=10.0.0.0/8 ::1", NULL }), 0);
	/* before any request */
	c = hc_open(d.port);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(hc_read(c, &r, 0, WAIT_MS), 0);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(r.body, "{\"error\":\"forbidden\"}\n");
	ck_assert_str_eq(hc_header(&r, "Connection"), "close");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_eof(c, WAIT_MS), 1);
	hc_close(c);
	/* with a request, and on the open endpoint too */
	ck_assert_int_eq(status_from("127.0.0.1", d.port, post_req), 403);
	ck_assert_int_eq(status_of(d.port, "GET", "/healthz", NULL, NULL), 403);
	ck_assert(daemon_log_wait(&d, "denied 127.0.0.1 port ", WAIT_S));
	ck_assert(daemon_log_contains(&d, ": 403 not in allow or in deny"));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* allow 127.0.0.0/8: served; deny, checked first, refuses one address of
 * it (the client binds 127.0.0.2). */
START_TEST(allow_loopback_deny_one)
{
	struct daemon d;
	struct hc_resp r;

	ck_assert_int_eq(daemon_start(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", "allow=127.0.0.0/8", "-o", "deny=127.0.0.2", NULL }), 0);
	ck_assert_int_eq(request(d.port, "POST", "/payload", NULL, "hi", &r), 202);
	ck_assert_msg(strstr(r.body, "\"state\":\"queued\"") != NULL, "%s", r.body);
	hc_resp_free(&r);
	ck_assert_int_eq(status_from("127.0.0.3", d.port, post_req), 202);
	ck_assert_int_eq(status_from("127.0.0.2", d.port, post_req), 403);
	ck_assert(daemon_log_wait(&d, "denied 127.0.0.2 port ", WAIT_S));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* A listener on [::] sees IPv4 clients as ::ffff:a.b.c.d: IPv4 rules match
 * them, IPv6 rules do not.  A reload applies the new list. */
START_TEST(mapped_peers_and_reload)
{
	struct daemon d;
	char conf[256], text[512], arg[300];
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd == -1) {
		fprintf(stderr, "test_acl: no IPv6 here (%s): skipping mapped_peers_and_reload\n",
		    strerror(errno));
		return;
	}
	close(fd);
	ck_assert_int_eq(daemon_prepare(&d), 0);
	d.listen_in_file = 1;
	snprintf(conf, sizeof conf, "%s/jobqd.conf", d.dir);
	snprintf(text, sizeof text, "listen = [::]:%d\nhandler = noop\n"
	    "allow = 127.0.0.0/8\n", d.port);
	write_file(conf, text, 0644);
	snprintf(arg, sizeof arg, "%s", conf);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-c", arg, NULL }), 0);
	ck_assert_int_eq(status_from("127.0.0.1", d.port, post_req), 202);
	snprintf(text, sizeof text, "listen = [::]:%d\nhandler = noop\n"
	    "allow = ::1 ::/0\n", d.port);
	write_file(conf, text, 0644);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "configuration reloaded", WAIT_S));
	ck_assert_int_eq(status_from("127.0.0.1", d.port, post_req), 403);
	ck_assert(daemon_log_wait(&d, "denied 127.0.0.1 port ", WAIT_S));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* The token: 401 with WWW-Authenticate and a closed connection without it
 * or with another; served with it; /healthz open. */
START_TEST(token_required)
{
	struct daemon d;
	struct hc_resp r;
	struct hc *c;
	char tok[256], arg[300], path[64], *p;

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(tok, sizeof tok, "%s/token", d.dir);
	write_file(tok, "tokenA-1\n", 0600);
	snprintf(arg, sizeof arg, "auth_token_file=%s", tok);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", arg, NULL }), 0);

	/* none: 401, and the connection closes even when kept alive */
	c = hc_open(d.port);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(hc_sends(c, "GET /status HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	ck_assert_int_eq(hc_read(c, &r, 0, WAIT_MS), 0);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(hc_header(&r, "WWW-Authenticate"), "Bearer");
	ck_assert_str_eq(hc_header(&r, "Connection"), "close");
	ck_assert_str_eq(r.body, "{\"error\":\"unauthorized\"}\n");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_eof(c, WAIT_MS), 1);
	hc_close(c);

	/* wrong ones */
	ck_assert_int_eq(request(d.port, "POST", "/payload", "Authorization: Bearer tokenA-2",
	    "hi", &r), 401);
	ck_assert_str_eq(hc_header(&r, "WWW-Authenticate"), "Bearer");
	hc_resp_free(&r);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenA-", NULL), 401);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenA-1x", NULL), 401);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Basic tokenA-1", NULL), 401);
	ck_assert_int_eq(status_of(d.port, "GET", "/metrics", NULL, NULL), 401);
	ck_assert_int_eq(status_of(d.port, "GET", "/nowhere", NULL, NULL), 401);
	ck_assert_int_eq(status_of(d.port, "GET", "/jobs/0000000000000000", NULL, NULL), 401);
	/* two Authorization fields are ambiguous */
	ck_assert_int_eq(status_of(d.port, "GET", "/status",
	    "Authorization: Bearer tokenA-1\r\nAuthorization: Bearer tokenA-1", NULL), 400);

	/* the right one */
	ck_assert_int_eq(request(d.port, "POST", "/payload", "Authorization: Bearer tokenA-1",
	    "hi", &r), 202);
	p = strstr(r.body, "\"id\":\"");
	ck_assert_ptr_nonnull(p);
	snprintf(path, sizeof path, "/jobs/%.16s", p + 6);
	hc_resp_free(&r);
	ck_assert_int_eq(status_of(d.port, "GET", path, "Authorization: bearer tokenA-1", NULL), 200);
	ck_assert_int_eq(status_of(d.port, "GET", path, NULL, NULL), 401);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenA-1", NULL), 200);
	ck_assert_int_eq(status_of(d.port, "GET", "/nowhere", "Authorization: Bearer tokenA-1", NULL), 404);
	/* /healthz needs none */
	ck_assert_int_eq(status_of(d.port, "GET", "/healthz", NULL, NULL), 200);
	ck_assert_int_eq(status_of(d.port, "GET", "/healthz", "Authorization: Bearer wrong", NULL), 200);

	ck_assert(daemon_log_wait(&d, ": 401 missing or wrong bearer token", WAIT_S));
	ck_assert(!daemon_log_contains(&d, "tokenA"));
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* SIGHUP re-reads the token file: a new token replaces the old one; a
 * file open to others, or empty, is refused and the token in use stays. */
START_TEST(token_reload)
{
	struct daemon d;
	char tok[256], arg[300];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(tok, sizeof tok, "%s/token", d.dir);
	write_file(tok, "tokenA\n", 0600);
	snprintf(arg, sizeof arg, "auth_token_file=%s", tok);
	ck_assert_int_eq(daemon_run(&d, (const char *[]){ "-o", "handler=noop",
	    "-o", arg, NULL }), 0);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenA", NULL), 200);

	write_file(tok, "tokenB\n", 0600);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "configuration reloaded", WAIT_S));
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenB", NULL), 200);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenA", NULL), 401);

	write_file(tok, "tokenC\n", 0644);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "mode 0644 lets group or others at the token", WAIT_S));
	ck_assert(daemon_log_contains(&d, "reload failed: -o auth_token_file: "));
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenB", NULL), 200);
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenC", NULL), 401);

	write_file(tok, "", 0600);
	daemon_signal(&d, SIGHUP);
	ck_assert(daemon_log_wait(&d, "empty; it must hold the token", WAIT_S));
	ck_assert_int_eq(status_of(d.port, "GET", "/status", "Authorization: Bearer tokenB", NULL), 200);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* jobqd -t: a token file open to group or others is a configuration
 * error (exit 78), from a file or from -o; 0600 is fine. */
START_TEST(token_mode_refused_by_check)
{
	struct daemon d;
	char tok[256], conf[256], text[400], arg[300], out[2048], want[1024];

	ck_assert_int_eq(daemon_prepare(&d), 0);
	snprintf(tok, sizeof tok, "%s/token", d.dir);
	snprintf(conf, sizeof conf, "%s/jobqd.conf", d.dir);
	write_file(tok, "tokenA\n", 0644);
	snprintf(text, sizeof text, "# access\nauth_token_file = %s\n", tok);
	write_file(conf, text, 0644);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", conf, NULL }, out, sizeof out), 78);
	snprintf(want, sizeof want, "%s:2: auth_token_file: %s: mode 0644 lets group "
	    "or others at the token; want 0600 or 0400 (chmod 600 %s)", conf, tok, tok);
	ck_assert_msg(strstr(out, want) != NULL, "got \"%s\", want \"%s\"", out, want);
	snprintf(arg, sizeof arg, "auth_token_file=%s", tok);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", arg, NULL }, out, sizeof out), 78);
	ck_assert_int_eq(chmod(tok, 0600), 0);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-c", conf, NULL }, out, sizeof out), 0);
	ck_assert_int_eq(run_jobqd((const char *[]){ "-t", "-o", "allow=10.0.0.1/8", NULL },
	    out, sizeof out), 78);
	ck_assert_msg(strstr(out, "allow: \"10.0.0.1/8\": address bits set after the prefix "
	    "(did you mean 10.0.0.0/8?)") != NULL, "%s", out);
	daemon_cleanup(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("acl");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, allow_excludes_loopback);
	tcase_add_test(tc, allow_loopback_deny_one);
	tcase_add_test(tc, mapped_peers_and_reload);
	tcase_add_test(tc, token_required);
	tcase_add_test(tc, token_reload);
	tcase_add_test(tc, token_mode_refused_by_check);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
