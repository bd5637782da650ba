/*
 * test_httpd — the master's HTTP server over real sockets, served by an
 * in-process harness (tests/lib/harness.c) on 127.0.0.1.  The test plays
 * the dispatcher on the shared segment where a scenario needs it.
 *
 * One small scenario per case: keep-alive, pipelining, 100-continue,
 * chunked uploads, every limit, the timeouts, the connection cap, queue
 * full and recovery, partial bodies, the endpoints' JSON and metrics,
 * draining, and curl as a client.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/segment.h"
#include "tests/lib/harness.h"
#include "tests/lib/http_client.h"

#define T	HARNESS_WAIT_MS	/* the bound of every wait for an answer */

static struct harness hs;
static struct config cfg;

/* Start the server with the test defaults changed by the statement mod. */
#define START(mod) do { \
	harness_config(&cfg); \
	mod; \
	ck_assert_int_eq(harness_start(&hs, &cfg), 0); \
} while (0)

static void teardown(void)
{
	ck_assert_msg(harness_stop(&hs) == 0, "the server did not exit cleanly");
}

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Slots in state st. */
static unsigned count_state(uint32_t st)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < segment_capacity(hs.seg); i++)
		n += atomic_load(&segment_slot(hs.seg, i)->state) == st;
	return n;
}

/* Wait (bounded) until a FILLING slot's payload starts with p[0..n):
 * the server has read that much of a body. */
static int wait_filling(const char *p, size_t n)
{
	long long deadline = now_ms() + T;

	do {
		for (uint32_t i = 0; i < segment_capacity(hs.seg); i++) {
			struct slot *sl = segment_slot(hs.seg, i);

			if (atomic_load(&sl->state) == SLOT_FILLING &&
			    memcmp(segment_payload(hs.seg, i), p, n) == 0)
				return 1;
		}
		usleep(1000);
	} while (now_ms() < deadline);
	return 0;
}

/* Wait (bounded) until n slots are in state st. */
static int wait_state(uint32_t st, unsigned n)
{
	long long deadline = now_ms() + T;

	while (count_state(st) != n) {
		if (now_ms() >= deadline)
			return 0;
		usleep(1000);
	}
	return 1;
}

/* Wait (bounded) until at least n slots are FILLING. */
static int wait_filling_at_least(unsigned n)
{
	long long deadline = now_ms() + T;

	while (count_state(SLOT_FILLING) < n) {
		if (now_ms() >= deadline)
			return 0;
		usleep(1000);
	}
	return 1;
}

/* Wait (bounded) until the server has n client connections besides the
 * one asking /status. */
static int wait_connections(unsigned n)
{
	long long deadline = now_ms() + T;
	char want[64];

	snprintf(want, sizeof want, "\"connections\":%u,", n + 1);
	do {
		struct hc_resp r;
		int found = hc_once(hs.port, "GET /status HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 200 &&
		    strstr(r.body, want) != NULL;

		hc_resp_free(&r);
		if (found)
			return 1;
		usleep(1000);
	} while (now_ms() < deadline);
	return 0;
}

/* Read one response and check its status. */
static void expect_status(struct hc *c, struct hc_resp *r, int head, int status)
{
	ck_assert_msg(hc_read(c, r, head, T) == 0, "no response, want %d", status);
	ck_assert_msg(r->status == status, "got %d, want %d:\n%s%s", r->status,
	    status, r->head, r->body);
}

/* Send raw on a new connection: check the status and that the server
 * closes after it (every error that could desync). */
static void expect_close(const char *raw, int status)
{
	struct hc *c = hc_open(hs.port);
	struct hc_resp r;
	const char *conn;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(hc_sends(c, raw), 0);
	expect_status(c, &r, 0, status);
	conn = hc_header(&r, "Connection");
	ck_assert_msg(conn && strcmp(conn, "close") == 0, "status %d without Connection: close", status);
	ck_assert_msg(hc_eof(c, T), "status %d: connection not closed", status);
	hc_resp_free(&r);
	hc_close(c);
}

/* POST body on c; the status (202 fills id). */
static int post(struct hc *c, const char *body, char id[17])
{
	char req[4096];
	struct hc_resp r;
	int st;

	snprintf(req, sizeof req, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	if (hc_sends(c, req) == -1 || hc_read(c, &r, 0, T) == -1)
		return -1;
	st = r.status;
	if (st == 202 && id) {
		const char *p = strstr(r.body, "\"id\":\"");

		ck_assert_ptr_nonnull(p);
		memcpy(id, p + 6, 16);
		id[16] = '\0';
	}
	hc_resp_free(&r);
	return st;
}

static const char GET_HEALTHZ[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

START_TEST(healthz_headers)
{
	struct hc_resp r;

	START((void)0);
	ck_assert_int_eq(hc_once(hs.port, GET_HEALTHZ, &r), 200);
	ck_assert_str_eq(r.body, "ok\n");
	ck_assert_ptr_nonnull(hc_header(&r, "Date"));
	ck_assert_str_eq(hc_header(&r, "Server"), "jobqd");
	ck_assert_str_eq(hc_header(&r, "Content-Length"), "3");
	ck_assert_ptr_nonnull(strstr(hc_header(&r, "Content-Type"), "text/plain"));
	ck_assert_ptr_null(hc_header(&r, "Connection"));
	hc_resp_free(&r);
}
END_TEST

START_TEST(keepalive_and_head)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);
	c = hc_open(hs.port);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
		expect_status(c, &r, 0, 200);
		hc_resp_free(&r);
	}
	/* HEAD: same headers, no body; the next answer on the line proves it */
	ck_assert_int_eq(hc_sends(c, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 1, 200);
	ck_assert_str_eq(hc_header(&r, "Content-Length"), "3");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_str_eq(r.body, "ok\n");
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(http10)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);
	/* HTTP/1.0 closes by default */
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "GET /healthz HTTP/1.0\r\n\r\n"), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_str_eq(hc_header(&r, "Connection"), "close");
	ck_assert(hc_eof(c, T));
	hc_resp_free(&r);
	hc_close(c);
	/* ... unless it asks for keep-alive */
	c = hc_open(hs.port);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(hc_sends(c, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
		expect_status(c, &r, 0, 200);
		ck_assert_str_eq(hc_header(&r, "Connection"), "keep-alive");
		hc_resp_free(&r);
	}
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.0\r\nConnection: keep-alive\r\n"
	    "Content-Length: 2\r\nExpect: 100-continue\r\n\r\nhi"), 0);
	expect_status(c, &r, 0, 202);	/* no 100 for HTTP/1.0 */
	ck_assert_str_eq(hc_header(&r, "Connection"), "keep-alive");
	hc_resp_free(&r);
	hc_close(c);
	/* Connection: close on 1.1 */
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_str_eq(hc_header(&r, "Connection"), "close");
	ck_assert(hc_eof(c, T));
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(pipelining)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c,
	    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
	    "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
	    "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	expect_status(c, &r, 0, 202);
	hc_resp_free(&r);
	expect_status(c, &r, 0, 404);
	hc_resp_free(&r);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 1);
	hc_close(c);
}
END_TEST

#define KBUF	(64 * 1024)	/* the kernel buffers of tests that need them known */

/* Start the server with the kernel's buffering of its answers fixed at
 * KBUF (no autotuning), so that answers of a few MiB reach the server's
 * output cap whatever the pace of the reader. */
static void small_buffers_start(const struct config *c)
{
	struct harness_opts o = { .sndbuf = KBUF };

	ck_assert_int_eq(harness_start_opts(&hs, c, &o), 0);
}

/* A client whose socket receive buffer is fixed at KBUF. */
static struct hc *small_rcvbuf(struct hc *c)
{
	int small = KBUF;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(setsockopt(hc_fd(c), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	return c;
}

START_TEST(pipelining_bounded_output)
{
	/* 300 pipelined /metrics (several KiB each, ~1 MiB in all, through
	 * kernel buffers of KBUF): the server stops at its output cap and
	 * resumes, answering all in order. */
	static char req[300 * 40];
	struct hc *c;
	struct hc_resp r;
	size_t n = 0;

	harness_config(&cfg);
	small_buffers_start(&cfg);
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(req + n, "GET /metrics?%03d HTTP/1.1\r\nHost: t\r\n\r\n", i);
	c = small_rcvbuf(hc_open(hs.port));
	ck_assert_int_eq(hc_send(c, req, n), 0);
	for (int i = 0; i < 300; i++) {
		expect_status(c, &r, 0, 200);
		ck_assert_ptr_nonnull(strstr(r.body, "jobqd_queue_depth"));
		hc_resp_free(&r);
	}
	hc_close(c);
}
END_TEST

/* Resident memory of pid in KiB, or -1. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *fp;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

/* A client that pipelines without ever reading: the server stops reading
 * once its output cap is reached, so the client's sends stall after what
 * the kernel buffers hold and the server's memory stays flat, rather than
 * the server buffering answers without bound (20 MB of requests would be
 * ~80 MB of answers). */
START_TEST(pipelining_never_read_is_bounded)
{
	static char chunk[64 * 1024];
	size_t one, n = 0, sent = 0, limit = 20u << 20;
	int fd, stalled = 0, small = 64 * 1024;
	struct hc *c;
	long rss0, grown;

	START((void)0);
	one = strlen(GET_HEALTHZ);
	while (n + one <= sizeof(chunk)) {
		memcpy(chunk + n, GET_HEALTHZ, one);
		n += one;
	}
	rss0 = rss_kib(hs.pid);
	ck_assert_int_gt(rss0, 0);
	c = hc_open(hs.port);
	ck_assert_ptr_nonnull(c);
	fd = hc_fd(c);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	while (sent < limit && !stalled) {
		ssize_t w = send(fd, chunk, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		ck_assert_msg(w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
		    "send: %s", strerror(errno));
		{	/* no room: wait up to 1 s for the server to take more */
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			stalled = poll(&p, 1, 1000) == 0;
		}
	}
	ck_assert_msg(stalled, "the server read all %zu bytes of a client that never reads", sent);
	ck_assert_msg(sent < (12u << 20), "%zu bytes taken before the stall", sent);
	grown = rss_kib(hs.pid) - rss0;
	ck_assert_msg(grown < 4096, "the server grew by %ld KiB for one connection", grown);
	hc_close(c);
	/* the server is still fine for others */
	{
		struct hc_resp r;

		ck_assert_int_eq(hc_once(hs.port, GET_HEALTHZ, &r), 200);
		hc_resp_free(&r);
	}
}
END_TEST

START_TEST(post_payload)
{
	struct hc *c;
	struct hc_resp r;
	struct slot *sl;
	uint64_t id;
	char want[64];

	START((void)0);
	atomic_store(&segment_header(hs.seg)->dispatcher_sleeping, 1);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/octet-stream\r\nContent-Length: 11\r\n\r\nhello"), 0);
	ck_assert(wait_filling("hello", 5));
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 0);	/* not yet complete */
	ck_assert_int_eq(hc_sends(c, " world"), 0);
	expect_status(c, &r, 0, 202);
	ck_assert_ptr_nonnull(strstr(r.body, "\"state\":\"queued\""));
	ck_assert_int_eq(jobid_parse(strstr(r.body, "\"id\":\"") + 6, 16, &id), 0);
	snprintf(want, sizeof want, "/jobs/%016llx", (unsigned long long)id);
	ck_assert_str_eq(hc_header(&r, "Location"), want);
	ck_assert_ptr_nonnull(strstr(hc_header(&r, "Content-Type"), "application/json"));
	sl = segment_lookup(hs.seg, id);
	ck_assert_ptr_nonnull(sl);
	ck_assert_uint_eq(atomic_load(&sl->state), SLOT_QUEUED);
	ck_assert_uint_eq(sl->payload_len, 11);
	ck_assert_int_eq(memcmp(segment_payload(hs.seg, jobid_slot(id)), "hello world", 11), 0);
	hc_resp_free(&r);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->accepted), 1);
	ck_assert_uint_eq(ring_count(segment_ready(hs.seg)), 1);
	/* the dispatcher said it sleeps: one doorbell byte, the flag cleared
	 * (rung at the end of the server's round, after the 202 went out) */
	ck_assert_uint_eq(harness_doorbell_wait(&hs, 1), 1);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->dispatcher_sleeping), 0);
	/* awake dispatcher: no doorbell; the answer to a later request means
	 * the round that enqueued is over */
	ck_assert_int_eq(post(c, "again", NULL), 202);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert_uint_eq(harness_doorbell(&hs), 1);
	/* an empty body is a job too */
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"), 0);
	expect_status(c, &r, 0, 202);
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(large_bodies)
{
	enum { N = 200 * 1024 };
	static char body[N], chunked[N + 4096];
	char head[256];
	struct hc *c;
	struct hc_resp r;
	uint64_t id;
	struct slot *sl;
	size_t n = 0;

	START(cfg.max_payload = N);
	for (size_t i = 0; i < N; i++)
		body[i] = (char)('a' + i % 26);
	c = hc_open(hs.port);
	/* Content-Length, in uneven writes; then a pipelined GET behind it */
	snprintf(head, sizeof head, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", N);
	ck_assert_int_eq(hc_sends(c, head), 0);
	ck_assert_int_eq(hc_send(c, body, 1000), 0);
	ck_assert(wait_filling(body, 1000));
	ck_assert_int_eq(hc_send(c, body + 1000, 70000), 0);
	ck_assert(wait_filling(body, 71000));
	ck_assert_int_eq(hc_send(c, body + 71000, N - 71000), 0);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 202);
	ck_assert_int_eq(jobid_parse(strstr(r.body, "\"id\":\"") + 6, 16, &id), 0);
	hc_resp_free(&r);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	sl = segment_lookup(hs.seg, id);
	ck_assert_uint_eq(sl->payload_len, N);
	ck_assert_int_eq(memcmp(segment_payload(hs.seg, jobid_slot(id)), body, N), 0);
	/* chunked, 7 KiB chunks, all in one write with the next request */
	n = (size_t)sprintf(chunked, "POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0; off < N; off += 7168) {
		size_t len = N - off < 7168 ? N - off : 7168;

		n += (size_t)sprintf(chunked + n, "%zx\r\n", len);
		memcpy(chunked + n, body + off, len);
		n += len;
		n += (size_t)sprintf(chunked + n, "\r\n");
	}
	n += (size_t)sprintf(chunked + n, "0\r\n\r\n%s", GET_HEALTHZ);
	ck_assert_int_eq(hc_send(c, chunked, n), 0);
	expect_status(c, &r, 0, 202);
	ck_assert_int_eq(jobid_parse(strstr(r.body, "\"id\":\"") + 6, 16, &id), 0);
	hc_resp_free(&r);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	sl = segment_lookup(hs.seg, id);
	ck_assert_uint_eq(sl->payload_len, N);
	ck_assert_int_eq(memcmp(segment_payload(hs.seg, jobid_slot(id)), body, N), 0);
	hc_close(c);
}
END_TEST

START_TEST(expect_continue)
{
	struct hc *c;
	struct hc_resp r;
	char body[2000];

	START((void)0);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 4\r\nExpect: 100-continue\r\n\r\n"), 0);
	expect_status(c, &r, 0, 100);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, "abcd"), 0);
	expect_status(c, &r, 0, 202);
	hc_resp_free(&r);
	hc_close(c);

	/* too large: 413 at once, no 100, then close */
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n"
	    "Expect: 100-continue\r\n\r\n", 413);
	/* ... and without Expect too, before the body */
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413);

	/* queue full: 503 without 100 */
	c = hc_open(hs.port);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(post(c, "x", NULL), 202);
	hc_close(c);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
	    "Expect: 100-continue\r\n\r\n", 503);

	/* the limit itself is accepted */
	harness_drain(&hs, 10);
	memset(body, 'z', 1024);
	body[1024] = '\0';
	c = hc_open(hs.port);
	ck_assert_int_eq(post(c, body, NULL), 202);
	hc_close(c);
}
END_TEST

START_TEST(chunked_upload)
{
	/* each part, and the data the server holds once it has read it
	 * (NULL: a part that adds no data; it may reach the server with the
	 * next one) */
	static const char *const parts[][2] = {
		{ "POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", NULL },
		{ "5;name=val", NULL }, { "ue;x\r\nhel", "hel" }, { "lo\r\n", "hello" },
		{ "1", NULL }, { "\r\n \r\n", "hello " },
		{ "6\r\nworld!\r\n0;last\r\nX-Trailer: yes\r\n", "hello world!" },
		{ "X-Other: 1\r\n", NULL }, { "\r\n", NULL },
	};
	struct hc *c;
	struct hc_resp r;
	uint64_t id;
	struct slot *sl;

	START((void)0);
	c = hc_open(hs.port);
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		ck_assert_int_eq(hc_sends(c, parts[i][0]), 0);
		if (parts[i][1])
			ck_assert(wait_filling(parts[i][1], strlen(parts[i][1])));
	}
	expect_status(c, &r, 0, 202);
	ck_assert_int_eq(jobid_parse(strstr(r.body, "\"id\":\"") + 6, 16, &id), 0);
	hc_resp_free(&r);
	sl = segment_lookup(hs.seg, id);
	ck_assert_ptr_nonnull(sl);
	ck_assert_uint_eq(sl->payload_len, 12);
	ck_assert_int_eq(memcmp(segment_payload(hs.seg, jobid_slot(id)), "hello world!", 12), 0);
	/* keep-alive after a chunked body, byte by byte this time */
	{
		const char *req = "POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		    "Expect: 100-continue\r\n\r\n";
		const char *body = "3\r\nabc\r\n0\r\n\r\n";

		ck_assert_int_eq(hc_sends(c, req), 0);
		expect_status(c, &r, 0, 100);
		hc_resp_free(&r);
		for (const char *p = body; *p; p++)
			ck_assert_int_eq(hc_send(c, p, 1), 0);
		expect_status(c, &r, 0, 202);
		hc_resp_free(&r);
	}
	hc_close(c);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 2);
}
END_TEST

START_TEST(chunked_errors)
{
	char req[4096];

	START((void)0);
	/* over max_payload in total: 413, close */
	snprintf(req, sizeof req, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n200\r\n%0512d\r\n201\r\n", 0);
	expect_close(req, 413);
	/* a bad chunk-size line: 400, close */
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2 erfrferferf\r\nab\r\n0\r\n\r\n", 400);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "zz\r\n", 400);
	/* no slot was enqueued, and all 4 are still usable */
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 0);
	{
		struct hc *c = hc_open(hs.port);

		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(post(c, "x", NULL), 202);
		ck_assert_int_eq(post(c, "x", NULL), 503);
		hc_close(c);
	}
}
END_TEST

START_TEST(limits)
{
	static char big[40000];
	int n;

	START((void)0);
	/* 414: request line over 8 KiB */
	n = sprintf(big, "GET /");
	memset(big + n, 'a', 9000);
	strcpy(big + n + 9000, " HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_close(big, 414);
	/* 431: header section over 16 KiB */
	n = sprintf(big, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(big + n, 'b', 17000);
	strcpy(big + n + 17000, "\r\n\r\n");
	expect_close(big, 431);
	/* 431: over 100 fields */
	n = sprintf(big, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 101; i++)
		n += sprintf(big + n, "X-F%d: v\r\n", i);
	strcpy(big + n, "\r\n");
	expect_close(big, 431);
	/* 501, 505, 417, 400 */
	expect_close("BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 501);
	expect_close("GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
	    "Expect: teapot\r\n\r\nx", 417);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
	expect_close("GET /healthz HTTP/1.1\r\n\r\n", 400);	/* no Host */
	expect_close("GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\nY: b\r\n\r\n", 400);
	expect_close("GET /healthz HTTP/1.1\r\nHost: t\r\nX : a\r\n\r\n", 400);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 0);
}
END_TEST

START_TEST(length_and_method)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);
	c = hc_open(hs.port);
	/* 411 keeps the connection: without a length there is no body */
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 411);
	hc_resp_free(&r);
	/* 405 with Allow */
	ck_assert_int_eq(hc_sends(c, "GET /payload HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 405);
	ck_assert_str_eq(hc_header(&r, "Allow"), "POST");
	hc_resp_free(&r);
	/* a body on a refused request is skipped, the line stays usable */
	ck_assert_int_eq(hc_sends(c, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd"), 0);
	expect_status(c, &r, 0, 405);
	ck_assert_str_eq(hc_header(&r, "Allow"), "GET, HEAD");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, "PUT /jobs/0000000000100000 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 405);
	ck_assert_str_eq(hc_header(&r, "Allow"), "GET, HEAD, DELETE");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, "OPTIONS /status HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 405);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 404);
	hc_resp_free(&r);
	/* absolute-form */
	ck_assert_int_eq(hc_sends(c, "GET http://example.com:8099/healthz?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(header_timeout)
{
	struct hc *c;
	struct hc_resp r;
	long long t0;

	START((void)0);	/* header_timeout 1 s */
	c = hc_open(hs.port);
	t0 = now_ms();
	ck_assert_int_eq(hc_sends(c, "GET /healthz HTTP/1.1\r\nX-Slow: "), 0);
	/* a byte every 100 ms until the answer comes: the deadline is not
	 * reset per read, so it comes while we are still sending */
	for (;;) {
		struct pollfd p = { .fd = hc_fd(c), .events = POLLIN };

		ck_assert_msg(now_ms() - t0 < T, "no 408 while a head dribbled for %d ms", T);
		if (poll(&p, 1, 100) == 1 || hc_sends(c, "a") == -1)
			break;
	}
	ck_assert_int_eq(hc_read(c, &r, 0, T), 0);
	ck_assert_int_eq(r.status, 408);
	ck_assert_msg(now_ms() - t0 >= 900, "408 after %lld ms", now_ms() - t0);
	ck_assert_str_eq(hc_header(&r, "Connection"), "close");
	ck_assert(hc_eof(c, T));
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(body_timeout_partial_never_enqueued)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);	/* body_timeout 1 s */
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"), 0);
	expect_status(c, &r, 0, 408);
	ck_assert(hc_eof(c, T));
	hc_resp_free(&r);
	hc_close(c);
	/* closed mid-body: never enqueued either */
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789"), 0);
	ck_assert(wait_filling("0123456789", 10));
	hc_close(c);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), 0);
	ck_assert(wait_filling("ab", 2));
	hc_close(c);
	ck_assert(wait_connections(0));	/* both seen closed */
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 0);
	ck_assert_uint_eq(ring_count(segment_ready(hs.seg)), 0);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->accepted), 0);
	/* the stashed slots are reused: the whole queue is available */
	c = hc_open(hs.port);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(post(c, "ok", NULL), 202);
	ck_assert_int_eq(post(c, "no", NULL), 503);
	hc_close(c);
}
END_TEST

START_TEST(keepalive_timeout)
{
	struct hc *c;
	struct hc_resp r;
	long long t0;

	START(cfg.keepalive_timeout = 1);
	c = hc_open(hs.port);
	t0 = now_ms();	/* before the server arms its timer, however late we read */
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert(hc_eof(c, T));	/* closed silently */
	ck_assert_msg(now_ms() - t0 >= 700, "closed after %lld ms", now_ms() - t0);
	hc_close(c);
	/* a connection that never sends a byte goes the same way */
	c = hc_open(hs.port);
	ck_assert(hc_eof(c, T));
	hc_close(c);
}
END_TEST

/* Two connections are served and stay busy with what hold sends (answer
 * hold_status, 0 for none); a third waits in the backlog, unanswered,
 * until one of the two closes, then it is served and the other still
 * works.  The shape of every "no more connections for now" limit. */
static void third_waits_for_a_close(const char *hold, int hold_status)
{
	struct hc *a, *b, *x;
	struct hc_resp r;

	a = hc_open(hs.port);
	b = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(a, hold), 0);
	ck_assert_int_eq(hc_sends(b, hold), 0);
	if (hold_status) {
		expect_status(a, &r, 0, hold_status);
		hc_resp_free(&r);
		expect_status(b, &r, 0, hold_status);
		hc_resp_free(&r);
	} else {
		ck_assert(wait_state(SLOT_FILLING, 2));
	}
	x = hc_open(hs.port);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(hc_sends(x, GET_HEALTHZ), 0);
	ck_assert_int_eq(hc_read(x, &r, 0, 400), -1);
	hc_close(a);
	expect_status(x, &r, 0, 200);
	hc_resp_free(&r);
	if (hold_status) {
		ck_assert_int_eq(hc_sends(b, GET_HEALTHZ), 0);
		expect_status(b, &r, 0, 200);
		hc_resp_free(&r);
	}
	hc_close(b);
	hc_close(x);
}

/* At the cap a newcomer takes the place of the connection idle longest;
 * with none idle, of the one whose head has been arriving longest; a
 * connection uploading into a slot is never taken when bodies are never
 * slow (min_body_rate=0): then the newcomer waits for a close; one that
 * never reads its answers is taken. */
START_TEST(connection_cap)
{
	static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
	    "GET /healthz HTTP/1.1\r\nHost: t\r\n";
	static char req[300 * 40];
	struct hc *a, *b, *x;
	struct hc_resp r;
	size_t n = 0;

	harness_config(&cfg);
	cfg.max_connections = 2;
	cfg.keepalive_timeout = cfg.header_timeout = cfg.body_timeout = 60;
	cfg.min_body_rate = 0;
	small_buffers_start(&cfg);
	/* a then b served and idle: x is served, a (idle longest) closed */
	a = hc_open(hs.port);
	b = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(a, GET_HEALTHZ), 0);
	expect_status(a, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(b, GET_HEALTHZ), 0);
	expect_status(b, &r, 0, 200);
	hc_resp_free(&r);
	x = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(x, GET_HEALTHZ), 0);
	expect_status(x, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert(hc_eof(a, T));
	hc_close(a);
	ck_assert_int_eq(hc_sends(b, GET_HEALTHZ), 0);	/* b and x now */
	expect_status(b, &r, 0, 200);
	hc_resp_free(&r);
	hc_close(b);
	hc_close(x);
	ck_assert(wait_connections(0));
	/* two partial heads, a's the older: a newcomer replaces a.  Each
	 * follows a request in the same write, so its answer means the server
	 * has taken the partial head too. */
	a = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(a, partial), 0);
	expect_status(a, &r, 0, 200);
	hc_resp_free(&r);
	b = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(b, partial), 0);
	expect_status(b, &r, 0, 200);
	hc_resp_free(&r);
	x = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(x, GET_HEALTHZ), 0);
	expect_status(x, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert(hc_eof(a, T));
	hc_close(a);
	ck_assert_int_eq(hc_sends(b, "\r\n"), 0);
	expect_status(b, &r, 0, 200);
	hc_resp_free(&r);
	hc_close(b);
	hc_close(x);
	ck_assert(wait_connections(0));
	/* two uploads into slots: nothing to take, the newcomer waits */
	third_waits_for_a_close("POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 10\r\n\r\nab", 0);
	ck_assert(wait_connections(0));
	/* an upload into a slot, and a client that pipelines ~1 MiB of
	 * answers and reads none: the newcomer takes the non-reader's place */
	b = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(b, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 10\r\n\r\ncd"), 0);
	ck_assert(wait_filling("cd", 2));
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(req + n, "GET /metrics?%03d HTTP/1.1\r\nHost: t\r\n\r\n", i);
	a = small_rcvbuf(hc_open(hs.port));
	ck_assert_int_eq(hc_send(a, req, n), 0);
	{	/* the server is answering it */
		struct pollfd p = { .fd = hc_fd(a), .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, T), 1);
	}
	x = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(x, GET_HEALTHZ), 0);
	expect_status(x, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert(hc_eof(a, T));
	hc_close(a);
	hc_close(b);
	hc_close(x);
}
END_TEST

/* Out of fds: accept fails with EMFILE, the server pauses, and the
 * newcomer waits in the backlog rather than being dropped. */
START_TEST(accept_emfile_pause)
{
	struct harness_opts o = { .nfds = 2 };

	harness_config(&cfg);
	ck_assert_int_eq(harness_start_opts(&hs, &cfg, &o), 0);
	third_waits_for_a_close(GET_HEALTHZ, 200);
}
END_TEST

START_TEST(queue_full_and_recovery)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);	/* queue 4 */
	c = hc_open(hs.port);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(post(c, "job", NULL), 202);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\njob"), 0);
	expect_status(c, &r, 0, 503);
	ck_assert_str_eq(hc_header(&r, "Retry-After"), "1");
	ck_assert_str_eq(r.body, "{\"error\":\"queue full\"}\n");
	ck_assert_ptr_null(hc_header(&r, "Connection"));	/* the body is skipped */
	hc_resp_free(&r);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->rejected), 1);
	/* the dispatcher drains two: two more fit, on the same connection */
	ck_assert_uint_eq(harness_drain(&hs, 2), 2);
	ck_assert_int_eq(post(c, "a", NULL), 202);
	ck_assert_int_eq(post(c, "b", NULL), 202);
	/* with no body the connection stays open after a 503 */
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"), 0);
	expect_status(c, &r, 0, 503);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	hc_close(c);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->rejected), 2);
}
END_TEST

/* A 503 for a full queue keeps the connection when the body is short
 * enough to read and drop (at most 16 KiB still to come): the next
 * request on it, pipelined or not, is answered, and the dropped bytes
 * never become a job.  A longer body, a chunked one, one behind an
 * Expect, or a client that did not ask for keep-alive gets the 503 and
 * the close. */
START_TEST(queue_full_refusals_keep_alive)
{
	struct hc *c;
	struct hc_resp r;
	char *big = malloc(16384 + 1);

	START(cfg.max_payload = 32768);	/* queue 4 */
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', 16384);
	big[16384] = '\0';
	c = hc_open(hs.port);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(post(c, "job", NULL), 202);
	/* the body (which looks like a request) in the buffer, the next
	 * request pipelined behind it */
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\n"
	    "GET /nope\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 503);
	ck_assert_ptr_null(hc_header(&r, "Connection"));
	hc_resp_free(&r);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	/* the body not sent yet: 503 at once, then the 16 KiB are skipped */
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 16384\r\n\r\n"), 0);
	expect_status(c, &r, 0, 503);
	ck_assert_ptr_null(hc_header(&r, "Connection"));
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, big), 0);
	ck_assert_int_eq(hc_sends(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	/* a slot is freed: the same connection queues a job */
	ck_assert_uint_eq(harness_drain(&hs, 1), 1);
	ck_assert_int_eq(post(c, "next", NULL), 202);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 4);
	ck_assert_int_eq(post(c, "full", NULL), 503);
	hc_close(c);

	/* one byte more than can be skipped, a chunked body, an Expect:
	 * closed */
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 16385\r\n\r\n", 503);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\n\r\n", 503);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
	    "Expect: 100-continue\r\n\r\n", 503);
	/* HTTP/1.0: closed, unless it asked for keep-alive */
	expect_close("POST /payload HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", 503);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "POST /payload HTTP/1.0\r\nConnection: keep-alive\r\n"
	    "Content-Length: 3\r\n\r\nabc"), 0);
	expect_status(c, &r, 0, 503);
	ck_assert_str_eq(hc_header(&r, "Connection"), "keep-alive");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	hc_close(c);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 4);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->rejected), 8);
	free(big);
}
END_TEST

/* The body of a request answered without it (another route) is skipped
 * when short: the connection goes on; a longer one closes.  A skipped body
 * that stops coming is not answered twice: at the body timeout the
 * connection closes without a 408. */
START_TEST(unwanted_bodies)
{
	struct hc *c;
	struct hc_resp r;

	START((void)0);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab"), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_ptr_null(hc_header(&r, "Connection"));
	hc_resp_free(&r);
	ck_assert_int_eq(hc_read(c, &r, 0, T), -1);	/* no second answer */
	ck_assert(hc_eof(c, T));
	hc_close(c);
	expect_close("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 16385\r\n\r\n", 405);
}
END_TEST

/* Heads of POST /payload whose bodies never come hold no queue slot: with
 * queue=4 and 8 such heads, a normal POST is still accepted; the slot is
 * taken at the first body byte (503 then if none is left). */
START_TEST(idle_post_heads_hold_no_slot)
{
	struct hc *idle[8], *c;
	struct hc_resp r;
	int accepted = 0, refused = 0;

	START(cfg.body_timeout = 60);	/* queue 4 */
	for (int i = 0; i < 8; i++) {
		/* behind a request in the same write: its answer means the
		 * server has taken the POST head too */
		idle[i] = hc_open(hs.port);
		ck_assert_ptr_nonnull(idle[i]);
		ck_assert_int_eq(hc_sends(idle[i], "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
		    "POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"), 0);
		expect_status(idle[i], &r, 0, 200);
		hc_resp_free(&r);
	}
	ck_assert_uint_eq(count_state(SLOT_FILLING), 0);
	c = hc_open(hs.port);
	ck_assert_int_eq(post(c, "normal", NULL), 202);
	hc_close(c);
	/* the bodies come: 3 slots are left, the others are told 503 */
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(hc_sends(idle[i], "0123456789"), 0);
		ck_assert_int_eq(hc_read(idle[i], &r, 0, T), 0);
		accepted += r.status == 202;
		refused += r.status == 503;
		hc_resp_free(&r);
		/* a refused short body is skipped: the connection goes on */
		ck_assert_int_eq(hc_sends(idle[i], GET_HEALTHZ), 0);
		expect_status(idle[i], &r, 0, 200);
		hc_resp_free(&r);
		hc_close(idle[i]);
	}
	ck_assert_int_eq(accepted, 3);
	ck_assert_int_eq(refused, 5);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 4);
	ck_assert_uint_eq(atomic_load(&segment_header(hs.seg)->rejected), 5);
}
END_TEST

/* Bodies that send a byte and stall cannot pin the queue either: with
 * queue=4 held by 4 such bodies, a normal POST is accepted once they are
 * past their grace second, slow by min_body_rate (retried on 503 until
 * then, bounded); the slowest is answered 408 and closed. */
START_TEST(stalled_bodies_give_slots_up)
{
	struct hc *stalled[4], *c;
	struct hc_resp r;
	long long deadline;
	int st, timed_out = 0;

	START(cfg.body_timeout = 60);	/* queue 4 */
	for (int i = 0; i < 4; i++) {
		stalled[i] = hc_open(hs.port);
		ck_assert_ptr_nonnull(stalled[i]);
		ck_assert_int_eq(hc_sends(stalled[i], "POST /payload HTTP/1.1\r\nHost: t\r\n"
		    "Content-Length: 10\r\n\r\nx"), 0);
	}
	ck_assert(wait_state(SLOT_FILLING, 4));
	deadline = now_ms() + T;
	do {
		c = hc_open(hs.port);
		ck_assert_ptr_nonnull(c);
		st = post(c, "normal", NULL);
		hc_close(c);
		if (st != 202) {
			ck_assert_int_eq(st, 503);
			usleep(20000);	/* the pace of the retries */
		}
	} while (st != 202 && now_ms() < deadline);
	ck_assert_int_eq(st, 202);
	deadline = now_ms() + T;
	while (timed_out == 0 && now_ms() < deadline)
		for (int i = 0; i < 4; i++)
			if (stalled[i] != NULL && hc_read(stalled[i], &r, 0, 1) == 0) {
				ck_assert_int_eq(r.status, 408);
				ck_assert(hc_eof(stalled[i], T));
				hc_resp_free(&r);
				hc_close(stalled[i]);
				stalled[i] = NULL;
				timed_out++;
			}
	ck_assert_int_eq(timed_out, 1);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 1);
	for (int i = 0; i < 4; i++)
		hc_close(stalled[i]);
}
END_TEST

/* Open n connections that each send a POST /payload head of length
 * bytes and the body's first byte. */
static void trickle_open(struct hc **t, int n, unsigned length)
{
	char head[128];

	snprintf(head, sizeof head, "POST /payload HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: %u\r\n\r\nx", length);
	for (int i = 0; i < n; i++) {
		t[i] = hc_open(hs.port);
		ck_assert_ptr_nonnull(t[i]);
		ck_assert_int_eq(hc_sends(t[i], head), 0);
	}
}

/* One more body byte on each of n trickling connections (a connection
 * the server closed just fails the send). */
static void trickle(struct hc **t, int n)
{
	for (int i = 0; i < n; i++)
		(void)hc_sends(t[i], "x");
}

static void trickle_close(struct hc **t, int n)
{
	for (int i = 0; i < n; i++)
		hc_close(t[i]);
}

/* Bodies that trickle a byte every 50 ms (far below min_body_rate, but
 * never a second without one) over queue=4: a normal POST is accepted
 * once they are past their grace second (retried on 503 until then,
 * bounded); the slowest gives its slot up. */
START_TEST(trickling_bodies_give_slots_up)
{
	enum { N = 8 };
	struct hc *t[N], *c;
	long long deadline;
	int st;

	START(cfg.body_timeout = 60);	/* queue 4, min_body_rate 1024 */
	trickle_open(t, N, 1000);
	ck_assert(wait_state(SLOT_FILLING, 4));
	deadline = now_ms() + T;
	do {
		trickle(t, N);
		c = hc_open(hs.port);
		ck_assert_ptr_nonnull(c);
		st = post(c, "normal", NULL);
		hc_close(c);
		if (st != 202) {
			ck_assert_int_eq(st, 503);
			usleep(50000);	/* the pace of the trickle */
		}
	} while (st != 202 && now_ms() < deadline);
	ck_assert_int_eq(st, 202);
	ck_assert_uint_eq(count_state(SLOT_QUEUED), 1);
	trickle_close(t, N);
}
END_TEST

/* Without pressure a slow body keeps its slot: one byte every 100 ms,
 * 15 of them (well past the grace second, far below min_body_rate),
 * while other POSTs find room: it is accepted. */
START_TEST(slow_body_kept_without_pressure)
{
	struct hc *t[1], *c;
	struct hc_resp r;

	START(cfg.body_timeout = 60);	/* queue 4 */
	trickle_open(t, 1, 16);
	ck_assert(wait_state(SLOT_FILLING, 1));
	c = hc_open(hs.port);
	for (int i = 0; i < 15; i++) {
		usleep(100000);	/* the pace of the trickle */
		trickle(t, 1);
		if (i % 5 == 4)
			ck_assert_int_eq(post(c, "other", NULL), 202);
	}
	expect_status(t[0], &r, 0, 202);
	hc_resp_free(&r);
	hc_close(c);
	trickle_close(t, 1);
}
END_TEST

/* Bodies trickling into slots fill max_connections=8 (below queue=32):
 * a normal GET /healthz and a POST on new connections are answered (in
 * a bounded wait): slow bodies' connections are taken once nothing else
 * can be. */
START_TEST(trickling_bodies_over_max_connections)
{
	enum { N = 20 };
	struct hc *t[N], *c;
	struct hc_resp r;

	START(cfg.max_connections = 8; cfg.queue = 32; cfg.body_timeout = 60;
	    cfg.header_timeout = 60; cfg.keepalive_timeout = 60);
	trickle_open(t, N, 1000);
	ck_assert(wait_filling_at_least(8));
	trickle(t, N);
	c = hc_open(hs.port);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	hc_close(c);
	trickle(t, N);
	c = hc_open(hs.port);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(post(c, "normal", NULL), 202);
	hc_close(c);
	trickle_close(t, N);
}
END_TEST

/* Slowloris: 40 connections sending a partial head against
 * max_connections=16 (and timeouts that would hold them a minute): every
 * normal client is served at once, taking the place of the oldest. */
START_TEST(slowloris_over_max_connections)
{
	enum { SLOW = 40, NORMAL = 10 };
	struct hc *slow[SLOW];
	struct hc_resp r;
	int closed = 0;
	long long deadline;

	START(cfg.max_connections = 16; cfg.header_timeout = 60;
	    cfg.keepalive_timeout = 60);
	for (int i = 0; i < SLOW; i++) {
		slow[i] = hc_open(hs.port);
		ck_assert_ptr_nonnull(slow[i]);
		ck_assert_int_eq(hc_sends(slow[i], "GET /healthz HTTP/1.1\r\nHost: t\r\nX-a: b"), 0);
	}
	for (int i = 0; i < NORMAL; i++) {
		struct hc *c = hc_open(hs.port);

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
		expect_status(c, &r, 0, 200);
		hc_resp_free(&r);
		hc_close(c);
	}
	/* at most 16 were ever open: the others were closed to make room */
	deadline = now_ms() + T;
	while (closed < SLOW - 16 && now_ms() < deadline)
		for (int i = 0; i < SLOW; i++)
			if (slow[i] != NULL && hc_eof(slow[i], 1)) {
				hc_close(slow[i]);
				slow[i] = NULL;
				closed++;
			}
	ck_assert_int_ge(closed, SLOW - 16);
	for (int i = 0; i < SLOW; i++)
		hc_close(slow[i]);
}
END_TEST

/* A client that pipelines requests and reads their answers slowly but
 * steadily, for longer than header_timeout, is not cut: while answers wait
 * to be read, the idle timer runs and each send that makes progress
 * re-arms it. */
START_TEST(slow_pipelined_reader_not_cut)
{
	enum { N = 300 };
	static char req[N * 40];
	struct hc *c;
	struct hc_resp r;
	size_t n = 0;
	long long t0;

	harness_config(&cfg);
	cfg.header_timeout = 1;
	cfg.keepalive_timeout = 60;
	small_buffers_start(&cfg);
	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(req + n, "GET /metrics?%03d HTTP/1.1\r\nHost: t\r\n\r\n", i);
	c = small_rcvbuf(hc_open(hs.port));
	ck_assert_int_eq(hc_send(c, req, n), 0);
	/* 256 bytes every 250 ms for 4 s: far below what the answers (~1 MiB)
	 * and the buffers hold, so the server waits at its output cap */
	t0 = now_ms();
	while (now_ms() - t0 < 4000) {
		ck_assert_int_eq(hc_fill(c, 256, T), 1);
		usleep(250000);	/* the pace of the reader, not a wait for the server */
	}
	for (int i = 0; i < N; i++) {
		expect_status(c, &r, 0, 200);
		hc_resp_free(&r);
	}
	hc_close(c);
}
END_TEST

START_TEST(job_json)
{
	struct hc *c;
	struct hc_resp r;
	char id[17], req[128];

	START((void)0);
	c = hc_open(hs.port);
	ck_assert_int_eq(post(c, "payload!", id), 202);
	snprintf(req, sizeof req, "GET /jobs/%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
	ck_assert_int_eq(hc_sends(c, req), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"state\":\"queued\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"attempts\":0"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"started_at\":null"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"finished_at\":null"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"exit_status\":null"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"worker_pid\":null"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"payload_bytes\":8,"));
	{	/* "queued_at":"YYYY-MM-DDTHH:MM:SS.mmmZ" */
		const char *q = strstr(r.body, "\"queued_at\":\"");

		ck_assert_ptr_nonnull(q);
		ck_assert_int_eq(q[13 + 4], '-');
		ck_assert_int_eq(q[13 + 10], 'T');
		ck_assert_int_eq(q[13 + 19], '.');
		ck_assert_int_eq(q[13 + 23], 'Z');
	}
	hc_resp_free(&r);
	harness_drain(&hs, 1);
	ck_assert_int_eq(hc_sends(c, req), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"state\":\"done\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"attempts\":1"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"exit_status\":0"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"worker_pid\":4242"));
	hc_resp_free(&r);
	snprintf(req, sizeof req, "HEAD /jobs/%s HTTP/1.1\r\nHost: t\r\n\r\n", id);
	ck_assert_int_eq(hc_sends(c, req), 0);
	expect_status(c, &r, 1, 200);
	ck_assert_uint_eq(r.body_len, 0);
	hc_resp_free(&r);
	/* bad and unknown ids */
	ck_assert_int_eq(hc_sends(c, "GET /jobs/xyz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 404);
	ck_assert_str_eq(r.body, "{\"error\":\"unknown job\"}\n");
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, "GET /jobs/0000000000000000 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 404);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(c, "GET /jobs/00000000fff00003 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 404);
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(status_json)
{
	struct hc_resp r;
	struct score *sc;

	START((void)0);
	sc = segment_score(hs.seg, 3);
	atomic_store(&sc->pid, 777);
	atomic_store(&sc->state, SCORE_BUSY);
	atomic_store(&sc->job_id, 0x100001);
	atomic_store(&sc->jobs_done, 9);
	sc->generation = 2;
	atomic_store(&segment_score(hs.seg, 5)->pid, 778);
	atomic_store(&segment_score(hs.seg, 5)->state, SCORE_IDLE);
	ck_assert_int_eq(hc_once(hs.port, "GET /status HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"workers\":{\"total\":2,\"idle\":1,\"busy\":1"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"queue\":{\"capacity\":4,\"depth\":0"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"jobs\":{\"accepted\":0,\"completed\":0,\"failed\":0,\"rejected\":0"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"draining\":false"));
	ck_assert_ptr_nonnull(strstr(r.body, "{\"index\":3,\"pid\":777,\"state\":\"busy\",\"generation\":2,"
	    "\"job\":\"0000000000100001\",\"jobs_done\":9}"));
	ck_assert_ptr_nonnull(strstr(r.body, "{\"index\":5,\"pid\":778,\"state\":\"idle\",\"generation\":0,\"job\":null,\"jobs_done\":0}"));
	ck_assert_ptr_null(strstr(r.body, "\"index\":4"));
	hc_resp_free(&r);
}
END_TEST

START_TEST(metrics_names)
{
	static const char *const names[] = {
		"# TYPE jobqd_workers gauge", "jobqd_workers{state=\"idle\"} 0",
		"jobqd_workers{state=\"busy\"} 0", "jobqd_workers{state=\"starting\"} 0",
		"jobqd_workers{state=\"exiting\"} 0",
		"# TYPE jobqd_queue_depth gauge", "\njobqd_queue_depth 1\n",
		"\njobqd_queue_capacity 4\n",
		"# TYPE jobqd_jobs_accepted_total counter", "\njobqd_jobs_accepted_total 2\n",
		"\njobqd_jobs_completed_total 1\n", "\njobqd_jobs_failed_total 0\n",
		"\njobqd_jobs_rejected_total 0\n", "\njobqd_jobs_retried_total 0\n",
		"jobqd_http_responses_total{code=\"202\"} 2\n", "\njobqd_connections 1\n",
		"# TYPE jobqd_job_wait_seconds histogram",
		"jobqd_job_wait_seconds_bucket{le=\"0.001\"} 1\n",
		"jobqd_job_wait_seconds_bucket{le=\"0.25\"} 2\n",
		"jobqd_job_wait_seconds_bucket{le=\"+Inf\"} 3\n",
		"jobqd_job_wait_seconds_sum 0.500500\n", "jobqd_job_wait_seconds_count 3\n",
		"# TYPE jobqd_job_run_seconds histogram",
		"jobqd_job_run_seconds_bucket{le=\"60\"} 0\n",
		"jobqd_job_run_seconds_count 0\n",
	};
	struct seg_header *h;
	struct hc *c;
	struct hc_resp r;

	START((void)0);
	h = segment_header(hs.seg);
	atomic_store(&h->wait_hist[0], 1);		/* <= 1 ms */
	atomic_store(&h->wait_hist[5], 1);		/* <= 250 ms */
	atomic_store(&h->wait_hist[SEG_HIST_BUCKETS - 1], 1);
	atomic_store(&h->wait_sum_us, 500500);
	c = hc_open(hs.port);
	ck_assert_int_eq(post(c, "a", NULL), 202);
	ck_assert_int_eq(post(c, "b", NULL), 202);
	harness_drain(&hs, 1);
	ck_assert_int_eq(hc_sends(c, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	expect_status(c, &r, 0, 200);
	ck_assert_str_eq(hc_header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		ck_assert_msg(strstr(r.body, names[i]) != NULL, "missing \"%s\" in:\n%s", names[i], r.body);
	hc_resp_free(&r);
	hc_close(c);
}
END_TEST

START_TEST(draining)
{
	struct hc *c, *idle;
	struct hc_resp r;

	START((void)0);
	idle = hc_open(hs.port);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert_int_eq(hc_sends(idle, GET_HEALTHZ), 0);
	expect_status(idle, &r, 0, 200);
	hc_resp_free(&r);
	ck_assert_int_eq(harness_draining(&hs, 1), 0);
	ck_assert(hc_eof(idle, T));	/* idle connections are closed */
	hc_close(idle);
	hc_close(c);
	c = hc_open(hs.port);
	ck_assert_int_eq(hc_sends(c, GET_HEALTHZ), 0);
	expect_status(c, &r, 0, 503);
	ck_assert_str_eq(r.body, "draining\n");
	ck_assert_str_eq(hc_header(&r, "Connection"), "close");
	ck_assert(hc_eof(c, T));
	hc_resp_free(&r);
	hc_close(c);
	expect_close("POST /payload HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx", 503);
	ck_assert_int_eq(hc_once(hs.port, "GET /status HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"draining\":true"));
	hc_resp_free(&r);
	ck_assert_int_eq(harness_draining(&hs, 0), 0);
	ck_assert_int_eq(hc_once(hs.port, GET_HEALTHZ, &r), 200);
	hc_resp_free(&r);
}
END_TEST

/* Run a shell command, return its stdout (static) or NULL. */
static const char *run(const char *cmd)
{
	static char out[8192];
	FILE *p = popen(cmd, "r");
	size_t n;

	if (p == NULL)
		return NULL;
	n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	if (pclose(p) != 0)
		return NULL;
	return out;
}

START_TEST(curl_client)
{
	char cmd[512], file[64];
	const char *out;
	FILE *f;

	if (system("command -v curl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "curl_client: no curl, skipped\n");
		return;
	}
	START((void)0);
	snprintf(file, sizeof file, "/tmp/jobqd-test-curl-%d", (int)getpid());
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"task\":\"from curl\"}", f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "curl -s -d @%s http://127.0.0.1:%d/payload", file, hs.port);
	out = run(cmd);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, "\"state\":\"queued\"") != NULL, "curl got: %s", out);
	ck_assert_uint_eq(segment_slot(hs.seg, 0)->payload_len, 20);
	/* chunked + 100-continue, the way curl sends it */
	snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' -H 'Transfer-Encoding: chunked' "
	    "-H 'Expect: 100-continue' --data-binary @%s http://127.0.0.1:%d/payload", file, hs.port);
	out = run(cmd);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "202");
	/* HEAD and a keep-alive reuse across two URLs */
	snprintf(cmd, sizeof cmd, "curl -s -I http://127.0.0.1:%d/healthz", hs.port);
	out = run(cmd);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 200 OK"));
	snprintf(cmd, sizeof cmd, "curl -s http://127.0.0.1:%d/healthz http://127.0.0.1:%d/status", hs.port, hs.port);
	out = run(cmd);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(strstr(out, "ok\n{\"node\":0,\"workers\""));
	/* too large: 413 */
	snprintf(cmd, sizeof cmd, "head -c 5000 /dev/zero > %s && curl -s -o /dev/null -w '%%{http_code}' "
	    "--data-binary @%s http://127.0.0.1:%d/payload", file, file, hs.port);
	out = run(cmd);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "413");
	unlink(file);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tcase_create("socket");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, healthz_headers);
	tcase_add_test(tc, keepalive_and_head);
	tcase_add_test(tc, http10);
	tcase_add_test(tc, pipelining);
	tcase_add_test(tc, pipelining_bounded_output);
	tcase_add_test(tc, pipelining_never_read_is_bounded);
	tcase_add_test(tc, post_payload);
	tcase_add_test(tc, large_bodies);
	tcase_add_test(tc, expect_continue);
	tcase_add_test(tc, chunked_upload);
	tcase_add_test(tc, chunked_errors);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, length_and_method);
	tcase_add_test(tc, header_timeout);
	tcase_add_test(tc, body_timeout_partial_never_enqueued);
	tcase_add_test(tc, keepalive_timeout);
	tcase_add_test(tc, connection_cap);
	tcase_add_test(tc, accept_emfile_pause);
	tcase_add_test(tc, queue_full_and_recovery);
	tcase_add_test(tc, queue_full_refusals_keep_alive);
	tcase_add_test(tc, unwanted_bodies);
	tcase_add_test(tc, idle_post_heads_hold_no_slot);
	tcase_add_test(tc, stalled_bodies_give_slots_up);
	tcase_add_test(tc, trickling_bodies_give_slots_up);
	tcase_add_test(tc, slow_body_kept_without_pressure);
	tcase_add_test(tc, trickling_bodies_over_max_connections);
	tcase_add_test(tc, slowloris_over_max_connections);
	tcase_add_test(tc, slow_pipelined_reader_not_cut);
	tcase_add_test(tc, job_json);
	tcase_add_test(tc, status_json);
	tcase_add_test(tc, metrics_names);
	tcase_add_test(tc, draining);
	tcase_add_test(tc, curl_client);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
