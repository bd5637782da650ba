/*
 * test_output_idem — an exec program's captured stdout (max_output,
 * GET /jobs/{id}/output, "output_bytes") and idempotent submission
 * (Idempotency-Key) against the real binary.
 *
 * No assertion depends on timing: every wait is a bounded poll for a
 * condition.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/http_client.h"

#define WAIT_S	60	/* bound on every wait for a condition */

/* One request on a fresh connection with extra header lines (CRLF-ended,
 * or ""): the status code, or -1; r (freed by the caller) the response. */
static int http(int port, const char *method, const char *target, const char *headers,
    const char *payload, struct hc_resp *r)
{
	char req[4096];

	snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
	    method, target, headers, payload ? strlen(payload) : 0, payload ? payload : "");
	return hc_once(port, req, r);
}

/* POST payload; the job id (16 hex digits) in id, the status returned. */
static int post(int port, const char *payload, char id[17])
{
	struct hc_resp r;
	int st = http(port, "POST", "/payload", "", payload, &r);
	const char *p = r.body != NULL ? strstr(r.body, "\"id\":\"") : NULL;

	id[0] = '\0';
	if (st == 202 && p != NULL)
		snprintf(id, 17, "%.16s", p + 6);
	hc_resp_free(&r);
	return st;
}

/* Wait up to WAIT_S for GET /jobs/id to report state; its JSON in json. */
static int job_wait(int port, const char *id, const char *state, char *json, size_t n)
{
	char target[64], want[64];

	snprintf(target, sizeof(target), "/jobs/%s", id);
	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	for (int i = 0; i < WAIT_S * 20; i++) {
		struct hc_resp r;
		int st = http(port, "GET", target, "", NULL, &r), ok;

		ok = st == 200 && r.body != NULL && strstr(r.body, want) != NULL;
		if (ok)
			snprintf(json, n, "%s", r.body);
		hc_resp_free(&r);
		if (ok)
			return 1;
		nap_ms(50);
	}
	return 0;
}

/* The program prints 100 bytes (0123456789 ten times) to stdout and a line
 * to stderr; payload "fail": "attempt N" on stdout and exit 3. */
static void start(struct daemon *d, const char *max_output, int journal)
{
	char path[256], handler[300], mo[64], jn[300];
	const char *extra[] = { "-o", "workers=1", "-o", "max_attempts=2", "-o", handler,
	    "-o", mo, journal ? "-o" : NULL, jn, NULL };

	ck_assert_int_eq(daemon_prepare(d), 0);
	snprintf(path, sizeof(path), "%s/job.sh", d->dir);
	write_file(path, "#!/bin/sh\np=$(cat)\n"
	    "if [ \"$p\" = fail ]; then printf 'attempt %s' \"$JOBQD_ATTEMPT\"; exit 3; fi\n"
	    "for i in 1 2 3 4 5 6 7 8 9 10; do printf 0123456789; done\n"
	    "echo \"to-stderr $p\" >&2\n", 0755);
	snprintf(handler, sizeof(handler), "handler=exec %s", path);
	snprintf(mo, sizeof(mo), "max_output=%s", max_output);
	snprintf(jn, sizeof(jn), "journal=%s/journal", d->dir);
	ck_assert_int_eq(daemon_run(d, extra), 0);
}

/* GET /jobs/id/output: 200, octet-stream, exactly want. */
static void expect_output(int port, const char *id, const char *want)
{
	char target[64];
	struct hc_resp r;

	snprintf(target, sizeof(target), "/jobs/%s/output", id);
	ck_assert_int_eq(http(port, "GET", target, "", NULL, &r), 200);
	ck_assert_str_eq(hc_header(&r, "Content-Type"), "application/octet-stream");
	ck_assert_uint_eq(r.body_len, strlen(want));
	ck_assert_mem_eq(r.body, want, strlen(want));
	hc_resp_free(&r);
}

/* max_output = 64: the first 64 bytes of stdout are kept, the rest
 * dropped; stderr reaches the log, stdout does not; a failed job keeps
 * the output of its last attempt. */
START_TEST(test_output_truncated)
{
	struct daemon d;
	char id[17], json[4096], line[64];
	const char *want = "0123456789012345678901234567890123456789012345678901234567890123";

	start(&d, "64", 0);
	ck_assert_int_eq(post(d.port, "one", id), 202);
	ck_assert(job_wait(d.port, id, "done", json, sizeof(json)));
	ck_assert_msg(strstr(json, "\"output_bytes\":64") != NULL, "%s", json);
	expect_output(d.port, id, want);
	snprintf(line, sizeof(line), "job %s: to-stderr one", id);
	ck_assert(daemon_log_wait(&d, line, WAIT_S));
	snprintf(line, sizeof(line), "job %s: 0123", id);
	ck_assert(!daemon_log_contains(&d, line));

	ck_assert_int_eq(post(d.port, "fail", id), 202);
	ck_assert(job_wait(d.port, id, "failed", json, sizeof(json)));
	ck_assert_msg(strstr(json, "\"output_bytes\":9") != NULL, "%s", json);
	expect_output(d.port, id, "attempt 2");
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* max_output = 0: nothing kept, stdout logged as before. */
START_TEST(test_output_off)
{
	struct daemon d;
	char id[17], json[4096], line[64];

	start(&d, "0", 0);
	ck_assert_int_eq(post(d.port, "two", id), 202);
	ck_assert(job_wait(d.port, id, "done", json, sizeof(json)));
	ck_assert_msg(strstr(json, "\"output_bytes\":0") != NULL, "%s", json);
	expect_output(d.port, id, "");
	snprintf(line, sizeof(line), "job %s: 0123456789", id);
	ck_assert(daemon_log_wait(&d, line, WAIT_S));
	ck_assert(daemon_log_wait(&d, "to-stderr two", WAIT_S));	/* same line */
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

/* POST payload with Idempotency-Key: key; the status, id and whether
 * the answer says Idempotent-Replayed: true. */
static int post_key(int port, const char *key, const char *payload, char id[17],
    int *replayed)
{
	char hdr[600];
	struct hc_resp r;
	const char *p, *rp;
	int st;

	snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s\r\n", key);
	st = http(port, "POST", "/payload", hdr, payload, &r);
	p = r.body != NULL ? strstr(r.body, "\"id\":\"") : NULL;
	id[0] = '\0';
	if (st == 202 && p != NULL)
		snprintf(id, 17, "%.16s", p + 6);
	rp = hc_header(&r, "Idempotent-Replayed");
	*replayed = rp != NULL && strcmp(rp, "true") == 0;
	hc_resp_free(&r);
	return st;
}

/* A counter's value from /metrics. */
static unsigned long long metric(int port, const char *name)
{
	char want[128];
	struct hc_resp r;
	const char *p;
	unsigned long long v;

	ck_assert_int_eq(http(port, "GET", "/metrics", "", NULL, &r), 200);
	snprintf(want, sizeof(want), "\n%s ", name);
	p = strstr(r.body, want);
	ck_assert_msg(p != NULL, "no %s", name);
	v = strtoull(p + strlen(want), NULL, 10);
	hc_resp_free(&r);
	return v;
}

/* A repeated key returns the first job (202, same id, replayed header)
 * and creates nothing; the same key with another payload is 422; bad
 * keys are 400; a finished job's key is still remembered. */
START_TEST(test_idempotency)
{
	struct daemon d;
	char id[17], again[17], other[17], json[4096], longkey[300];
	int rp;

	start(&d, "64", _i);	/* without and with a journal */
	ck_assert_int_eq(post_key(d.port, "order-1", "one", id, &rp), 202);
	ck_assert(!rp);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 1);
	ck_assert_int_eq(post_key(d.port, "order-1", "one", again, &rp), 202);
	ck_assert(rp);
	ck_assert_str_eq(again, id);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 1);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_replayed_total"), 1);
	ck_assert_int_eq(post_key(d.port, "order-1", "two", again, &rp), 422);
	ck_assert_int_eq(post_key(d.port, "order-2", "one", other, &rp), 202);
	ck_assert(!rp);
	ck_assert_str_ne(other, id);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 2);
	/* finished: still the same job */
	ck_assert(job_wait(d.port, id, "done", json, sizeof(json)));
	ck_assert_int_eq(post_key(d.port, "order-1", "one", again, &rp), 202);
	ck_assert(rp);
	ck_assert_str_eq(again, id);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_replayed_total"), 2);
	/* bad keys */
	memset(longkey, 'k', 256);
	longkey[256] = '\0';
	ck_assert_int_eq(post_key(d.port, longkey, "one", again, &rp), 400);
	longkey[255] = '\0';
	ck_assert_int_eq(post_key(d.port, longkey, "one", again, &rp), 202);
	ck_assert_int_eq(post_key(d.port, "", "one", again, &rp), 400);
	ck_assert_int_eq(post_key(d.port, "a b", "one", again, &rp), 400);
	ck_assert_int_eq(post_key(d.port, "caf\xc3\xa9", "one", again, &rp), 400);
	ck_assert_uint_eq(metric(d.port, "jobqd_jobs_accepted_total"), 3);
	ck_assert_int_eq(daemon_stop(&d), 0);
	daemon_cleanup(&d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("output_idem");
	TCase *tc = tcase_create("output_idem");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_output_truncated);
	tcase_add_test(tc, test_output_off);
	tcase_add_loop_test(tc, test_idempotency, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
