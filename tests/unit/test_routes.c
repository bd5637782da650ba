/*
 * test_routes — server/routes.c, server/obuf.c and listener_open, in
 * process: the path table and methods, the time format, POST /payload's
 * delay query and its 202, the JSON of /jobs/{id} and /status, the Prometheus text of /metrics (cumulative
 * histograms, build info, the counters) over a real segment, /healthz and
 * /status health (a silent dispatcher, no worker alive while jobs wait),
 * the bearer token check (401), and the growable response buffer.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/segment.h"
#include "server/listener.h"
#include "server/obuf.h"
#include "server/routes.h"

static struct segment *seg;
static struct obuf body;
static uint64_t responses[ROUTES_MAX_STATUS];

static void setup(void)
{
	char name[64], err[256];

	snprintf(name, sizeof name, "/jobqd-test-%d-routes", (int)getpid());
	segment_unlink(name);
	ck_assert_int_eq(segment_open(name, 4, 64, 8, geteuid(), &seg, err, sizeof err), SEG_CREATED);
	segment_unlink(name);
	memset(responses, 0, sizeof responses);
}

static void teardown(void)
{
	segment_close(seg);
	obuf_free(&body);
}

/* Answer method on endpoint r at path (and query, or NULL) into rep. */
static void request_in(enum http_method m, enum route r, const char *path,
    const char *query, struct reply *rep, int draining)
{
	struct routes_ctx ctx = {
		.seg = seg, .draining = draining, .connections = 7, .responses = responses,
	};
	struct http_request req = {
		.method = m, .path = path, .path_len = strlen(path),
		.query = query, .query_len = query ? strlen(query) : 0,
	};

	rep->body = &body;
	routes_answer(&ctx, r, &req, rep);
	obuf_add(&body, "", 1);	/* NUL-terminate for strstr */
}

static void request(enum http_method m, enum route r, const char *path, const char *query,
    struct reply *rep)
{
	request_in(m, r, path, query, rep, 0);
}

/* Render endpoint r at path into rep (a GET). */
static void answer(enum route r, const char *path, struct reply *rep, int draining)
{
	request_in(HTTP_GET, r, path, NULL, rep, draining);
}

START_TEST(find_and_methods)
{
	static const struct { const char *path; enum route r; } t[] = {
		{ "/payload", ROUTE_PAYLOAD }, { "/healthz", ROUTE_HEALTHZ },
		{ "/metrics", ROUTE_METRICS }, { "/status", ROUTE_STATUS },
		{ "/jobs/0123456789abcdef", ROUTE_JOB }, { "/jobs/x", ROUTE_JOB },
		{ "/jobs/", ROUTE_NOT_FOUND }, { "/jobs", ROUTE_JOBS },
		{ "/jobs/0123456789abcdef/retry", ROUTE_RETRY },
		{ "/jobs/0123456789abcde/retry", ROUTE_JOB },	/* a 404 there */
		{ "/jobs/0123456789abcdef/retr", ROUTE_JOB },
		{ "/jobs/0123456789abcdef/output", ROUTE_OUTPUT },
		{ "/jobs/0123456789abcdef0/output", ROUTE_JOB },
		{ "/", ROUTE_NOT_FOUND }, { "/payload/", ROUTE_NOT_FOUND },
		{ "/healthzz", ROUTE_NOT_FOUND }, { "*", ROUTE_NOT_FOUND },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		ck_assert_msg(routes_find(t[i].path, strlen(t[i].path)) == t[i].r,
		    "%s: got %d, want %d", t[i].path,
		    routes_find(t[i].path, strlen(t[i].path)), t[i].r);
	ck_assert(routes_allowed(ROUTE_PAYLOAD, HTTP_POST));
	ck_assert(!routes_allowed(ROUTE_PAYLOAD, HTTP_GET));
	ck_assert(!routes_allowed(ROUTE_PAYLOAD, HTTP_HEAD));
	ck_assert(routes_allowed(ROUTE_STATUS, HTTP_HEAD));
	ck_assert(routes_allowed(ROUTE_JOB, HTTP_DELETE));
	ck_assert(!routes_allowed(ROUTE_JOB, HTTP_POST));
	ck_assert(!routes_allowed(ROUTE_JOBS, HTTP_DELETE));
	ck_assert(routes_allowed(ROUTE_RETRY, HTTP_POST));
	ck_assert(!routes_allowed(ROUTE_RETRY, HTTP_GET));
	ck_assert(routes_allowed(ROUTE_OUTPUT, HTTP_GET));
	ck_assert(routes_allowed(ROUTE_OUTPUT, HTTP_HEAD));
	ck_assert(!routes_allowed(ROUTE_OUTPUT, HTTP_DELETE));
	ck_assert(!routes_allowed(ROUTE_METRICS, HTTP_OPTIONS));
	ck_assert_str_eq(routes_allow(ROUTE_PAYLOAD), "POST");
	ck_assert_str_eq(routes_allow(ROUTE_JOB), "GET, HEAD, DELETE");
	ck_assert_str_eq(routes_allow(ROUTE_JOBS), "GET, HEAD");
	ck_assert_str_eq(routes_allow(ROUTE_RETRY), "POST");
}
END_TEST

START_TEST(time_format)
{
	char buf[32];

	routes_time(0, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	routes_time(1767225600123456789LL, buf);	/* 2026-01-01 00:00:00.123 */
	ck_assert_str_eq(buf, "2026-01-01T00:00:00.123Z");
}
END_TEST

START_TEST(errors_and_accepted)
{
	struct reply rep = { .body = &body };

	routes_error(&rep, 404, "unknown job");
	ck_assert_int_eq(rep.status, 404);
	ck_assert_str_eq(rep.ctype, "application/json");
	ck_assert_uint_eq(obuf_pending(&body), strlen("{\"error\":\"unknown job\"}\n"));
	routes_accepted(&rep, 0x300002, 0);
	ck_assert_int_eq(rep.status, 202);
	ck_assert_str_eq(rep.extra, "Location: /jobs/0000000000300002\r\n");
	obuf_add(&body, "", 1);
	ck_assert_str_eq(body.p, "{\"id\":\"0000000000300002\",\"state\":\"queued\"}\n");
	routes_accepted(&rep, 0x300002, 1767225600123456789LL);
	obuf_add(&body, "", 1);
	ck_assert_str_eq(body.p, "{\"id\":\"0000000000300002\",\"state\":\"scheduled\","
	    "\"run_at\":\"2026-01-01T00:00:00.123Z\"}\n");
}
END_TEST

/* POST /payload's query: none, or delay= digits up to max_delay; all
 * else a 400 with a reason. */
START_TEST(delay_query)
{
	static const struct {
		const char *q;		/* NULL: no query */
		int ok;
		uint32_t delay;
		const char *error;
	} cases[] = {
		{ NULL, 1, 0, NULL },
		{ "delay=0", 1, 0, NULL },
		{ "delay=60", 1, 60, NULL },
		{ "delay=0060", 1, 60, NULL },
		{ "delay=100", 1, 100, NULL },
		{ "delay=101", 0, 0, "delay over max_delay (100 s)" },
		{ "delay=18446744073709551617", 0, 0, "delay over max_delay (100 s)" },
		{ "", 0, 0, "the only query parameter is delay=SECONDS" },
		{ "delay", 0, 0, "the only query parameter is delay=SECONDS" },
		{ "delay=", 0, 0, "delay must be whole seconds, digits only" },
		{ "delay=-1", 0, 0, "delay must be whole seconds, digits only" },
		{ "delay=+1", 0, 0, "delay must be whole seconds, digits only" },
		{ "delay= 1", 0, 0, "delay must be whole seconds, digits only" },
		{ "delay=1s", 0, 0, "delay must be whole seconds, digits only" },
		{ "delay=1&delay=1", 0, 0, "the only query parameter is delay=SECONDS" },
		{ "delay=1&", 0, 0, "the only query parameter is delay=SECONDS" },
		{ "x=1", 0, 0, "the only query parameter is delay=SECONDS" },
		{ "Delay=1", 0, 0, "the only query parameter is delay=SECONDS" },
	};
	struct reply rep = { .body = &body };
	char want[128];

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct http_request req = { .method = HTTP_POST, .query = cases[k].q,
		    .query_len = cases[k].q ? strlen(cases[k].q) : 0 };
		uint32_t d = 12345;

		rep.status = 0;
		ck_assert_int_eq(routes_delay(&req, 100, &d, &rep), cases[k].ok);
		if (cases[k].ok) {
			ck_assert_uint_eq(d, cases[k].delay);
			ck_assert_int_eq(rep.status, 0);
			continue;
		}
		ck_assert_int_eq(rep.status, 400);
		snprintf(want, sizeof want, "{\"error\":\"%s\"}\n", cases[k].error);
		obuf_add(&body, "", 1);
		ck_assert_msg(strcmp(body.p, want) == 0, "%s: %s", cases[k].q, body.p);
	}
}
END_TEST

/* The token check: every route but /healthz needs it once one is set;
 * a refusal is a 401 that carries WWW-Authenticate and closes. */
START_TEST(authorized)
{
	char path[] = "/tmp/jobqd-test-routes-token-XXXXXX", why[256];
	struct acl acl = { .token_len = 0 };
	struct routes_ctx ctx = { .seg = seg, .responses = responses, .acl = &acl };
	struct http_request req = { .method = HTTP_GET };
	struct reply rep = { .body = &body };
	int fd = mkstemp(path);	/* mode 0600 */

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "t0k\n", 4), 4);
	close(fd);
	ck_assert(routes_authorized(&ctx, ROUTE_STATUS, &req, &rep));
	ck_assert_msg(acl_load_token(&acl, path, why, sizeof why) == 0, "%s", why);
	unlink(path);
	for (enum route r = ROUTE_NOT_FOUND; r <= ROUTE_STATUS; r++) {
		req.authorization = NULL;
		req.authorization_len = 0;
		ck_assert_int_eq(routes_authorized(&ctx, r, &req, &rep), r == ROUTE_HEALTHZ);
		if (r == ROUTE_HEALTHZ)
			continue;
		ck_assert_int_eq(rep.status, 401);
		ck_assert_str_eq(rep.extra, "WWW-Authenticate: Bearer\r\n");
		ck_assert_int_eq(rep.close, 1);
		obuf_add(&body, "", 1);
		ck_assert_str_eq(body.p, "{\"error\":\"unauthorized\"}\n");
		req.authorization = "Bearer t0k";
		req.authorization_len = 10;
		ck_assert(routes_authorized(&ctx, r, &req, &rep));
	}
}
END_TEST

START_TEST(job_states)
{
	struct reply rep;
	long i = segment_reserve(seg);
	uint64_t id;
	struct slot *sl;
	char path[64];

	ck_assert_int_ge(i, 0);
	memcpy(segment_payload(seg, (uint32_t)i), "abc", 3);
	id = segment_enqueue(seg, (uint32_t)i, 3);
	sl = segment_slot(seg, (uint32_t)i);
	snprintf(path, sizeof path, "/jobs/%016llx", (unsigned long long)id);
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"queued\",\"attempts\":0,"));
	ck_assert_ptr_nonnull(strstr(body.p, "\"started_at\":null,\"finished_at\":null,"
	    "\"exit_status\":null,\"reason\":null,\"worker_pid\":null,\"payload_bytes\":3,\"output_bytes\":0}"));
	/* running */
	sl->attempts = 1;
	sl->t_started = 1767225600000000000LL;
	sl->worker_pid = 99;
	atomic_store(&sl->state, SLOT_RUNNING);
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"running\",\"attempts\":1,"));
	ck_assert_ptr_nonnull(strstr(body.p, "\"started_at\":\"2026-01-01T00:00:00.000Z\",\"finished_at\":null"));
	ck_assert_ptr_nonnull(strstr(body.p, "\"exit_status\":null,\"reason\":null,\"worker_pid\":99"));
	/* failed */
	sl->t_finished = 1767225601500000000LL;
	sl->exit_status = 137;
	sl->reason = SLOT_REASON_TIMEOUT;
	atomic_store(&sl->state, SLOT_FAILED);
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"failed\""));
	ck_assert_ptr_nonnull(strstr(body.p, "\"finished_at\":\"2026-01-01T00:00:01.500Z\",\"exit_status\":137,"
	    "\"reason\":\"timeout\""));
	/* reused: FILLING hides it (expired), a new id replaces it */
	atomic_store(&sl->state, SLOT_FILLING);
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 410);
	ck_assert_str_eq(body.p, "{\"error\":\"expired\"}\n");
	/* malformed ids */
	answer(ROUTE_JOB, "/jobs/0123", &rep, 0);
	ck_assert_int_eq(rep.status, 404);
	answer(ROUTE_JOB, "/jobs/0123456789ABCDEFG", &rep, 0);
	ck_assert_int_eq(rep.status, 404);
}
END_TEST

/* Submit a job of payload "x": its id. */
static uint64_t submit(void)
{
	long i = segment_reserve(seg);

	ck_assert_int_ge(i, 0);
	segment_payload(seg, (uint32_t)i)[0] = 'x';
	return segment_enqueue(seg, (uint32_t)i, 1);
}

/* Format "/jobs/ID" followed by suffix into path. */
static void job_path(char *path, size_t n, uint64_t id, const char *suffix)
{
	snprintf(path, n, "/jobs/%016llx%s", (unsigned long long)id, suffix);
}

/* DELETE: a queued job is canceled (200, its JSON) and never reaches the
 * dispatcher; others answer 409 with their state; the gauge and the
 * counter follow; a job the dispatcher took is no longer canceled. */
START_TEST(cancel)
{
	struct reply rep;
	uint64_t a = submit(), b = submit(), c;
	char pa[64], pb[64];

	job_path(pa, sizeof pa, a, "");
	job_path(pb, sizeof pb, b, "");
	request(HTTP_DELETE, ROUTE_JOB, pa, NULL, &rep);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"canceled\",\"attempts\":0,"));
	ck_assert_ptr_null(strstr(body.p, "\"finished_at\":null"));
	ck_assert_uint_eq(atomic_load(&segment_header(seg)->queued), 1);
	ck_assert_uint_eq(atomic_load(&segment_header(seg)->canceled), 1);
	answer(ROUTE_JOB, pa, &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"canceled\""));
	request(HTTP_DELETE, ROUTE_JOB, pa, NULL, &rep);
	ck_assert_int_eq(rep.status, 409);
	ck_assert_str_eq(body.p, "{\"error\":\"not queued\",\"state\":\"canceled\"}\n");
	/* the dispatcher skips it (onto the free ring) and takes b: b can no
	 * longer be canceled, though still QUEUED until it runs */
	ck_assert_int_eq(segment_next_ready(seg), jobid_slot(b));
	request(HTTP_DELETE, ROUTE_JOB, pb, NULL, &rep);
	ck_assert_int_eq(rep.status, 409);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"queued\""));
	ck_assert_int_eq(segment_run(seg, jobid_slot(b), 42), 0);
	request(HTTP_DELETE, ROUTE_JOB, pb, NULL, &rep);
	ck_assert_int_eq(rep.status, 409);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"running\""));
	ck_assert_int_eq(segment_finish(seg, jobid_slot(b), SLOT_DONE), 0);
	request(HTTP_DELETE, ROUTE_JOB, pb, NULL, &rep);
	ck_assert_int_eq(rep.status, 409);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"done\""));
	answer(ROUTE_METRICS, "/metrics", &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_jobs_canceled_total 1\n"));
	answer(ROUTE_STATUS, "/status", &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, ",\"canceled\":1},"));
	/* the canceled slot is reusable: a's id expires with it */
	while ((c = submit()) != 0 && jobid_slot(c) != jobid_slot(a))
		;
	ck_assert_uint_eq(jobid_slot(c), jobid_slot(a));
	request(HTTP_DELETE, ROUTE_JOB, pa, NULL, &rep);
	ck_assert_int_eq(rep.status, 410);
	ck_assert_ptr_null(segment_bad_once(seg));
}
END_TEST

/* 410 for an id whose slot was reused, 404 for ids never issued, 421 for
 * another node's. */
START_TEST(expired_unknown)
{
	struct reply rep;
	uint64_t a = submit(), later;
	char path[64];

	ck_assert_int_eq(segment_next_ready(seg), jobid_slot(a));
	ck_assert_int_eq(segment_run(seg, jobid_slot(a), 1), 0);
	ck_assert_int_eq(segment_finish(seg, jobid_slot(a), SLOT_DONE), 0);
	while (segment_slot(seg, jobid_slot(a))->id == a)
		ck_assert_uint_ne(submit(), 0);
	job_path(path, sizeof path, a, "");
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 410);
	job_path(path, sizeof path, a, "/retry");
	request(HTTP_POST, ROUTE_RETRY, path, NULL, &rep);
	ck_assert_int_eq(rep.status, 410);
	/* a sequence not yet issued, in the same slot */
	later = jobid_make(0, atomic_load(&segment_header(seg)->next_seq) + 5, jobid_slot(a));
	job_path(path, sizeof path, later, "");
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 404);
	ck_assert_str_eq(body.p, "{\"error\":\"unknown job\"}\n");
	request(HTTP_DELETE, ROUTE_JOB, path, NULL, &rep);
	ck_assert_int_eq(rep.status, 404);
	/* an issued sequence, older than its slot's job: expired */
	later = jobid_make(0, atomic_load(&segment_header(seg)->next_seq) - 2, jobid_slot(a));
	job_path(path, sizeof path, later, "");
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, segment_slot(seg, jobid_slot(a))->id == later ? 200 : 410);
	/* a slot beyond the queue; another node */
	job_path(path, sizeof path, jobid_make(0, 1, 3000), "");
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 404);
	job_path(path, sizeof path, jobid_make(7, 1, 0), "");
	request(HTTP_DELETE, ROUTE_JOB, path, NULL, &rep);
	ck_assert_int_eq(rep.status, 421);
}
END_TEST

/* GET /jobs/{id}/output: the kept bytes (octet-stream), output_bytes in
 * the JSON; an output_len rewritten past max_output (8 here) is clamped;
 * 410/404 like the job. */
START_TEST(output)
{
	struct reply rep;
	uint64_t a = submit();
	uint32_t i = jobid_slot(a);
	struct slot *sl = segment_slot(seg, i);
	unsigned char *out = segment_output(seg, i, NULL);
	uint32_t len;
	char path[64];

	job_path(path, sizeof path, a, "/output");
	answer(ROUTE_OUTPUT, path, &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(rep.ctype, "application/octet-stream");
	ck_assert_uint_eq(body.len, 1);	/* empty, plus the test's NUL */
	ck_assert_ptr_ne(out, segment_payload(seg, i));	/* an area of its own */
	memcpy(out, "out\0put!", 8);
	sl->output_len = 8;
	answer(ROUTE_OUTPUT, path, &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_uint_eq(body.len, 9);
	ck_assert_mem_eq(body.p, "out\0put!", 8);
	job_path(path, sizeof path, a, "");
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "\"payload_bytes\":1,\"output_bytes\":8}"));
	/* untrusted length */
	sl->output_len = 0xffffffffu;
	segment_output(seg, i, &len);
	ck_assert_uint_eq(len, 8);
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "\"output_bytes\":8}"));
	job_path(path, sizeof path, a, "/output");
	answer(ROUTE_OUTPUT, path, &rep, 0);
	ck_assert_uint_eq(body.len, 9);
	/* a new job in the slot starts with none; the old id is expired */
	ck_assert_int_eq(segment_next_ready(seg), i);
	ck_assert_int_eq(segment_run(seg, i, 1), 0);
	ck_assert_int_eq(segment_finish(seg, i, SLOT_DONE), 0);
	while (segment_slot(seg, i)->id == a)
		ck_assert_uint_ne(submit(), 0);
	answer(ROUTE_OUTPUT, path, &rep, 0);
	ck_assert_int_eq(rep.status, 410);
	job_path(path, sizeof path, sl->id, "/output");
	answer(ROUTE_OUTPUT, path, &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_uint_eq(body.len, 1);
	job_path(path, sizeof path, jobid_make(0, 1, 3000), "/output");
	answer(ROUTE_OUTPUT, path, &rep, 0);
	ck_assert_int_eq(rep.status, 404);
}
END_TEST

/* retry: a failed or canceled job is queued again (202) with attempts 0,
 * once on each ring; others answer 409. */
START_TEST(retry)
{
	struct reply rep;
	uint64_t a = submit(), b = submit();
	uint32_t ia = jobid_slot(a), ib = jobid_slot(b);
	char pa[64], pb[64], rb[64];

	job_path(pa, sizeof pa, a, "/retry");
	job_path(pb, sizeof pb, b, "");
	job_path(rb, sizeof rb, b, "/retry");
	request(HTTP_POST, ROUTE_RETRY, pa, NULL, &rep);
	ck_assert_int_eq(rep.status, 409);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"queued\""));
	/* a fails after 3 attempts */
	ck_assert_int_eq(segment_next_ready(seg), ia);
	ck_assert_int_eq(segment_run(seg, ia, 1), 0);
	segment_slot(seg, ia)->attempts = 3;
	ck_assert_int_eq(segment_finish(seg, ia, SLOT_FAILED), 0);
	request(HTTP_POST, ROUTE_RETRY, pa, NULL, &rep);
	ck_assert_int_eq(rep.status, 202);
	ck_assert_ptr_nonnull(strstr(body.p, "\"state\":\"queued\",\"attempts\":0,"));
	ck_assert_uint_eq(atomic_load(&segment_header(seg)->queued), 2);
	request(HTTP_POST, ROUTE_RETRY, pa, NULL, &rep);
	ck_assert_int_eq(rep.status, 409);
	/* b canceled, retried before the dispatcher saw it: its entry serves */
	request(HTTP_DELETE, ROUTE_JOB, pb, NULL, &rep);
	ck_assert_int_eq(rep.status, 200);
	request(HTTP_POST, ROUTE_RETRY, rb, NULL, &rep);
	ck_assert_int_eq(rep.status, 202);
	/* the ready ring: b (its old entry), then a; the free ring gives
	 * neither while they are queued */
	ck_assert_int_eq(segment_next_ready(seg), ib);
	ck_assert_int_eq(segment_next_ready(seg), ia);
	ck_assert_int_eq(segment_next_ready(seg), -1);
	for (long i; (i = segment_reserve(seg)) >= 0;)
		ck_assert(i != ia && i != ib);
	ck_assert_ptr_null(segment_bad_once(seg));
	/* a runs, done: back on the free ring, once */
	ck_assert_int_eq(segment_run(seg, ia, 1), 0);
	ck_assert_int_eq(segment_finish(seg, ia, SLOT_DONE), 0);
	ck_assert_int_eq(segment_reserve(seg), ia);
	ck_assert_int_eq(segment_reserve(seg), -1);
}
END_TEST

/* GET /jobs?state=&limit=: newest first, limited, each object as GET
 * /jobs/{id} gives it; bad queries 400. */
START_TEST(list)
{
	static const char *const bad[] = {
		NULL, "", "state=", "state=nope", "limit=5", "state=queued&limit=0",
		"state=queued&limit=1001", "state=queued&limit=x", "state=queued&",
		"state=queued&limit=99999999999", "state=queued&foo=1", "State=queued",
		"state=filling",
	};
	struct reply rep;
	uint64_t id[4];
	char want[256];

	for (int k = 0; k < 4; k++)
		id[k] = submit();
	for (int k = 0; k < 4; k++) {
		char path[64], *one, *all;

		job_path(path, sizeof path, id[k], "");
		request(HTTP_GET, ROUTE_JOBS, "/jobs", "state=queued", &rep);
		ck_assert_int_eq(rep.status, 200);
		all = strdup(body.p);
		answer(ROUTE_JOB, path, &rep, 0);
		one = strndup(body.p, strlen(body.p) - 1);	/* without the newline */
		ck_assert_ptr_nonnull(strstr(all, one));
		free(one);
		free(all);
	}
	request(HTTP_GET, ROUTE_JOBS, "/jobs", "limit=2&state=queued", &rep);
	snprintf(want, sizeof want, "{\"jobs\":[{\"id\":\"%016llx\"",
	    (unsigned long long)id[3]);
	ck_assert_msg(strncmp(body.p, want, strlen(want)) == 0, "%s", body.p);
	snprintf(want, sizeof want, "\"payload_bytes\":1,\"output_bytes\":0},{\"id\":\"%016llx\"",
	    (unsigned long long)id[2]);
	ck_assert_ptr_nonnull(strstr(body.p, want));
	ck_assert_ptr_nonnull(strstr(body.p, "\"payload_bytes\":1,\"output_bytes\":0}]}\n"));
	request(HTTP_GET, ROUTE_JOBS, "/jobs", "state=done&limit=1000", &rep);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(body.p, "{\"jobs\":[]}\n");
	request(HTTP_GET, ROUTE_JOBS, "/jobs", "state=scheduled", &rep);
	ck_assert_str_eq(body.p, "{\"jobs\":[]}\n");
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		request(HTTP_GET, ROUTE_JOBS, "/jobs", bad[k], &rep);
		ck_assert_msg(rep.status == 400, "%s: %d", bad[k] ? bad[k] : "(none)", rep.status);
	}
}
END_TEST

START_TEST(healthz_and_status)
{
	struct reply rep;
	struct score *sc = segment_score(seg, SEG_SCORE_COUNT - 1);

	answer(ROUTE_HEALTHZ, "/healthz", &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(body.p, "ok\n");
	answer(ROUTE_HEALTHZ, "/healthz", &rep, 1);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_str_eq(body.p, "draining\n");

	atomic_store(&sc->pid, 5);
	atomic_store(&sc->state, SCORE_EXITING);
	atomic_store(&segment_score(seg, 0)->state, SCORE_STARTING);
	answer(ROUTE_STATUS, "/status", &rep, 1);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(body.p, "{\"node\":0,\"workers\":{\"total\":1,\"idle\":0,\"busy\":0,\"starting\":1,\"exiting\":1}"));
	ck_assert_ptr_nonnull(strstr(body.p, "\"queue\":{\"capacity\":4,\"depth\":0,"));
	ck_assert_ptr_nonnull(strstr(body.p, "\"connections\":7,\"draining\":true,"
	    "\"healthy\":true,\"reason\":null,\"scoreboard\":[{\"index\":0,"));
	ck_assert_ptr_nonnull(strstr(body.p, "{\"index\":2047,\"pid\":5,\"state\":\"exiting\""));
	ck_assert_ptr_nonnull(strstr(body.p, "}]}\n"));
}
END_TEST

/* Health: not judged before any dispatcher ran; 503 with a reason for a
 * dispatcher silent for ROUTES_STALE_NS, and for no worker alive that long
 * while jobs wait (not when none wait); /status says the same. */
START_TEST(health)
{
	struct seg_header *h = segment_header(seg);
	int64_t now = clock_mono_ns(), old = now - ROUTES_STALE_NS - 2000000000LL;
	struct reply rep;

	atomic_store(&h->dispatcher_beat, 0);
	atomic_store(&h->queued, 2);
	answer(ROUTE_HEALTHZ, "/healthz", &rep, 0);
	ck_assert_int_eq(rep.status, 200);

	atomic_store(&h->dispatcher_beat, old);
	atomic_store(&h->worker_seen, now);
	answer(ROUTE_HEALTHZ, "/healthz", &rep, 0);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_str_eq(rep.ctype, "application/json");
	ck_assert_msg(strstr(body.p, "{\"error\":\"unhealthy\",\"reason\":\"dispatcher: no progress "
	    "for ") == body.p, "%s", body.p);
	answer(ROUTE_STATUS, "/status", &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_ptr_nonnull(strstr(body.p, "\"healthy\":false,\"reason\":\"dispatcher: no progress for "));
	answer(ROUTE_HEALTHZ, "/healthz", &rep, 1);	/* draining says so first */
	ck_assert_str_eq(body.p, "draining\n");

	atomic_store(&h->dispatcher_beat, clock_mono_ns());
	atomic_store(&h->worker_seen, old);
	answer(ROUTE_HEALTHZ, "/healthz", &rep, 0);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_msg(strstr(body.p, "\"reason\":\"no worker alive for ") != NULL &&
	    strstr(body.p, " s with 2 jobs waiting\"}\n") != NULL, "%s", body.p);
	answer(ROUTE_STATUS, "/status", &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "\"healthy\":false,\"reason\":\"no worker alive for "));

	atomic_store(&h->queued, 0);		/* nothing waits: nothing to run */
	answer(ROUTE_HEALTHZ, "/healthz", &rep, 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_str_eq(body.p, "ok\n");
}
END_TEST

START_TEST(metrics_text)
{
	struct seg_header *h = segment_header(seg);
	struct reply rep;
	char want[128];
	uint64_t cum = 0;

	for (int i = 0; i < SEG_HIST_BUCKETS; i++)
		atomic_store(&h->run_hist[i], (uint64_t)i);
	atomic_store(&h->run_sum_us, 1500000);
	atomic_store(&h->worker_deaths, 4);
	atomic_store(&h->job_timeouts, 5);
	atomic_store(&h->dispatcher_restarts, 6);
	atomic_store(&h->reloads_ok, 7);
	atomic_store(&h->reloads_failed, 8);
	atomic_store(&h->replayed, 9);
	responses[202] = 3;
	responses[503] = 1;
	answer(ROUTE_METRICS, "/metrics", &rep, 0);
	ck_assert_str_eq(rep.ctype, "text/plain; version=0.0.4; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_jobs_replayed_total 9\n"));
	for (int i = 0; i < SEG_HIST_BUCKETS; i++) {
		cum += (uint64_t)i;
		if (i == SEG_HIST_BUCKETS - 1)
			snprintf(want, sizeof want, "jobqd_job_run_seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
		else
			snprintf(want, sizeof want, "jobqd_job_run_seconds_bucket{le=\"%g\"} %llu\n",
			    (double)seg_hist_bounds_us[i] / 1e6, (unsigned long long)cum);
		ck_assert_msg(strstr(body.p, want) != NULL, "missing %s", want);
	}
	snprintf(want, sizeof want, "jobqd_job_run_seconds_count %llu\n", (unsigned long long)cum);
	ck_assert_ptr_nonnull(strstr(body.p, want));
	ck_assert_ptr_nonnull(strstr(body.p, "jobqd_job_run_seconds_sum 1.500000\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "jobqd_job_run_seconds_bucket{le=\"2.5\"}"));
	ck_assert_ptr_nonnull(strstr(body.p, "jobqd_http_responses_total{code=\"202\"} 3\n"
	    "jobqd_http_responses_total{code=\"503\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "# HELP jobqd_connections "));
	/* the last finite bucket reaches job_timeout's maximum, a day */
	ck_assert_ptr_nonnull(strstr(body.p, "jobqd_job_run_seconds_bucket{le=\"86400\"}"));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_build_info{version=\"" JOBQD_VERSION "\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_worker_deaths_total 4\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_job_timeouts_total 5\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_dispatcher_restarts_total 6\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_reloads_total{result=\"ok\"} 7\n"
	    "jobqd_reloads_total{result=\"failed\"} 8\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_draining 0\n"));
	ck_assert_ptr_nonnull(strstr(body.p, "# HELP jobqd_jobs_retried_total Failed job attempts "));
	ck_assert_ptr_nonnull(strstr(body.p, "\njobqd_connections 7\n"));
	/* every sample line names a metric with a TYPE line (a histogram's
	 * samples are NAME_bucket, NAME_sum, NAME_count) */
	for (const char *p = body.p; *p; p = strchr(p, '\n') + 1) {
		static const char *const sfx[] = { "_bucket", "_sum", "_count" };
		char name[128], type[160];
		size_t n = strcspn(p, "{ ");

		if (*p == '#')
			continue;
		snprintf(name, sizeof name, "%.*s", (int)n, p);
		snprintf(type, sizeof type, "# TYPE %s ", name);
		for (size_t k = 0; k < 3 && strstr(body.p, type) == NULL; k++) {
			size_t l = strlen(sfx[k]);

			if (n > l && strcmp(name + n - l, sfx[k]) == 0)
				snprintf(type, sizeof type, "# TYPE %.*s histogram", (int)(n - l), name);
		}
		ck_assert_msg(strstr(body.p, type) != NULL, "no TYPE for %s", name);
	}
}
END_TEST

/* Ids carry their node: this node's answer 200, another node's 421 with
 * this node's number (never 404); /status and /metrics show the node. */
START_TEST(node_in_ids)
{
	struct reply rep;
	long i = segment_reserve(seg);
	uint64_t id;
	char path[64];

	ck_assert_int_ge(i, 0);
	segment_set_node(seg, 42);
	id = segment_enqueue(seg, (uint32_t)i, 0);
	snprintf(path, sizeof path, "/jobs/%016llx", (unsigned long long)id);
	ck_assert_msg(strncmp(path, "/jobs/2a", 8) == 0, "%s: want node 2a first", path);
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 200);

	path[7] = 'b';		/* node 0x2b, same sequence and slot */
	answer(ROUTE_JOB, path, &rep, 0);
	ck_assert_int_eq(rep.status, 421);
	ck_assert_str_eq(rep.ctype, "application/json");
	ck_assert_str_eq(body.p, "{\"error\":\"wrong node\",\"node\":42}\n");
	answer(ROUTE_JOB, "/jobs/0000000000100000", &rep, 0);
	ck_assert_int_eq(rep.status, 421);
	answer(ROUTE_JOB, "/jobs/2a00000000100003", &rep, 0);	/* ours, unknown */
	ck_assert_int_eq(rep.status, 404);

	answer(ROUTE_STATUS, "/status", &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "{\"node\":42,\"workers\":"));
	answer(ROUTE_METRICS, "/metrics", &rep, 0);
	ck_assert_ptr_nonnull(strstr(body.p, "# TYPE jobqd_node gauge\njobqd_node 42\n"));
}
END_TEST

START_TEST(obuf_grows_and_consumes)
{
	struct obuf b = { 0 };
	char big[5000];

	memset(big, 'x', sizeof big);
	obuf_str(&b, "abc");
	obuf_printf(&b, "%d-%s", 42, "z");
	ck_assert_uint_eq(obuf_pending(&b), 7);
	ck_assert_int_eq(memcmp(b.p, "abc42-z", 7), 0);
	obuf_consume(&b, 3);
	ck_assert_uint_eq(obuf_pending(&b), 4);
	obuf_add(&b, big, sizeof big);
	obuf_printf(&b, "%.*s", 3000, big);	/* longer than the first try */
	ck_assert_uint_eq(obuf_pending(&b), 4 + sizeof big + 3000);
	ck_assert_int_eq(memcmp(b.p + b.off, "42-z", 4), 0);
	ck_assert(!b.failed);
	obuf_consume(&b, obuf_pending(&b));
	ck_assert_uint_eq(b.len, 0);
	obuf_free(&b);
}
END_TEST

START_TEST(listener)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	struct config c;
	char err[256];
	int fd, port;

	/* find a free port, then ask listener_open for it */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	config_defaults(&c);
	snprintf(c.listen, sizeof c.listen, "127.0.0.1:%d", port);
	fd = listener_open(&c, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	/* taken now: the second one fails with the address in the message */
	ck_assert_int_eq(listener_open(&c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, c.listen) != NULL && strstr(err, "in use") != NULL, "%s", err);
	close(fd);
	snprintf(c.listen, sizeof c.listen, "localhost:80");
	ck_assert_int_eq(listener_open(&c, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, "listen localhost:80: ", 21) == 0, "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("routes");
	TCase *tc = tcase_create("routes");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, find_and_methods);
	tcase_add_test(tc, time_format);
	tcase_add_test(tc, errors_and_accepted);
	tcase_add_test(tc, delay_query);
	tcase_add_test(tc, authorized);
	tcase_add_test(tc, job_states);
	tcase_add_test(tc, cancel);
	tcase_add_test(tc, expired_unknown);
	tcase_add_test(tc, retry);
	tcase_add_test(tc, output);
	tcase_add_test(tc, list);
	tcase_add_test(tc, healthz_and_status);
	tcase_add_test(tc, health);
	tcase_add_test(tc, metrics_text);
	tcase_add_test(tc, node_in_ids);
	tcase_add_test(tc, obuf_grows_and_consumes);
	tcase_add_test(tc, listener);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
