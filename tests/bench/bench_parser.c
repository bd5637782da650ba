/*
 * bench_parser — what a request head costs the parser when it arrives
 * whole, and when it is dribbled byte by byte (a slow or hostile client,
 * one read per byte): resuming one scan (http_parse_head_more, what httpd
 * does) against parsing every prefix from scratch (what it did before).
 *
 * Three heads: the one wrk sends in the ingest benchmark (~110 bytes, 3
 * fields), a typical one (~600 bytes, 12 fields) and a large one (~15 KiB,
 * 99 fields, just under the limits).  Reported as ns per head byte; the
 * dribbled resume should stay within a small factor of the whole parse,
 * while the from-scratch cost grows with the head's length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "server/http_parser.h"

#define BUDGET_NS	300000000LL	/* run each measure for about this long */

static char head[HTTP_MAX_HEAD + 1024];

/* A head of a request line and n fields of about vlen bytes of value. */
static size_t make_head(int n, size_t vlen)
{
	size_t len = (size_t)sprintf(head, "POST /payload?from=bench HTTP/1.1\r\n"
	    "Host: bench.example:8080\r\nContent-Length: 42\r\n");

	for (int i = 2; i < n; i++) {
		len += (size_t)sprintf(head + len, "X-Field-%03d: ", i);
		memset(head + len, 'v', vlen);
		len += vlen;
		len += (size_t)sprintf(head + len, "\r\n");
	}
	len += (size_t)sprintf(head + len, "\r\n");
	return len;
}

/* One parse of the head: whole (mode 0), dribbled into one scan (1), or
 * dribbled with every prefix parsed from scratch (2).  Its verdict. */
static int parse_once(size_t len, int mode)
{
	struct http_head_scan s;
	struct http_request req;
	int rc = 0;

	if (mode == 0)
		return http_parse_head(head, len, &req);
	http_head_init(&s);
	for (size_t k = 1; k <= len && rc == 0; k++)
		rc = mode == 1 ? http_parse_head_more(&s, head, k, &req) :
		    http_parse_head(head, k, &req);
	return rc;
}

static int measure(const char *label, size_t len, int mode)
{
	static const char *const modes[] = { "whole", "dribbled, resumed",
	    "dribbled, from scratch" };
	int64_t t0 = clock_mono_ns(), t;
	long iters = 0;

	do {
		if (parse_once(len, mode) != (int)len) {
			fprintf(stderr, "bench_parser: %s %s: parse failed\n", label,
			    modes[mode]);
			return -1;
		}
		iters++;
		t = clock_mono_ns() - t0;
	} while (t < BUDGET_NS);
	printf("%s head (%zu bytes), %s: %.2f ns/byte (%ld parses)\n", label,
	    len, modes[mode], (double)t / (double)iters / (double)len, iters);
	return 0;
}

int main(void)
{
	static const char wrk[] = "POST /payload HTTP/1.1\r\n"
	    "Host: 127.0.0.1:8080\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Length: 100\r\n\r\n";
	static const struct {
		const char *label;
		int fields;	/* 0: the wrk head */
		size_t vlen;
	} heads[] = {
		{ "wrk", 0, 0 },
		{ "typical", 12, 40 },
		{ "large", 99, 140 },
	};

	for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
		size_t len = sizeof wrk - 1;

		if (heads[h].fields == 0)
			memcpy(head, wrk, len);
		else
			len = make_head(heads[h].fields, heads[h].vlen);

		for (int mode = 0; mode < 3; mode++)
			if (measure(heads[h].label, len, mode) == -1)
				return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
