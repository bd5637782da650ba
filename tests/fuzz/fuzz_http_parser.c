/*
 * fuzz_http_parser — libFuzzer target for server/http_parser.c.
 *
 * For each input:
 *   - http_parse_head on the whole input and on a few prefixes (len/2,
 *     len-1 and a point taken from the data): a prefix must give 0 or the
 *     same verdict (exactly 0 before the end of a valid head), verdicts
 *     are from the documented set, and every slice lies inside the head;
 *   - http_chunked_decode on the input (and on the bytes after a valid
 *     chunked head), whole and split in two and in three, with a large
 *     and a small cap: the result, the bytes used and the data must not
 *     depend on the split.
 * Every piece is copied to a buffer of its exact size so that ASan sees
 * any over-read.  Built with clang -fsanitize=fuzzer by `make fuzz`, and
 * with replay_main.c by `make check` to replay the corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "fuzz_http_parser: %s:%d: check failed: %s\n", \
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

/* A copy of p[0..n) in a buffer of exactly n bytes (1 if n is 0). */
static char *
dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	CHECK(q != NULL);
	if (n)
		memcpy(q, p, n);
	else
		q[0] = '\0';
	return q;
}

/* Is the slice p[0..n) inside buf[0..len)? (NULL slices are.) */
static int
inside(const char *p, size_t n, const char *buf, size_t len)
{
	if (p == NULL)
		return n == 0;
	return p >= buf && p <= buf + len && n <= (size_t)(buf + len - p);
}

/* Parse buf[0..len) and check the verdict's shape; return the verdict. */
static int
parse_checked(const char *buf, size_t len, struct http_request *r)
{
	int rc = http_parse_head(buf, len, r);

	if (rc > 0) {
		CHECK((size_t)rc <= len);
		CHECK(r->error == NULL);
		CHECK(inside(r->target, r->target_len, buf, (size_t)rc));
		CHECK(inside(r->path, r->path_len, buf, (size_t)rc));
		CHECK(inside(r->query, r->query_len, buf, (size_t)rc));
		CHECK(inside(r->host, r->host_len, buf, (size_t)rc));
		CHECK(r->target != NULL && r->path != NULL && r->path_len > 0);
		CHECK(r->method >= HTTP_GET && r->method <= HTTP_TRACE);
		CHECK(r->version_minor == 0 || r->version_minor == 1);
		CHECK(r->fields <= HTTP_MAX_FIELDS);
		CHECK(!(r->chunked && r->has_content_length));
		CHECK(r->version_minor == 1 || !r->chunked);
		CHECK(r->version_minor == 0 || r->host != NULL);
	} else if (rc < 0) {
		CHECK(rc == -400 || rc == -414 || rc == -417 || rc == -431 ||
		    rc == -501 || rc == -505);
		CHECK(r->error != NULL);
	}
	return rc;
}

/* The head verdict must not depend on where the input was cut. */
static int
fuzz_head(const char *in, size_t len, size_t seed, struct http_request *r)
{
	size_t cuts[3], i;
	struct http_request rp;
	char *buf = dup_exact(in, len);
	int rc = parse_checked(buf, len, r);

	free(buf);
	if (len == 0)
		return rc;
	cuts[0] = len / 2;
	cuts[1] = len - 1;
	cuts[2] = seed % len;
	for (i = 0; i < 3; i++) {
		size_t k = cuts[i];
		int rk;

		buf = dup_exact(in, k);
		rk = parse_checked(buf, k, &rp);
		free(buf);
		if (rc > 0)
			CHECK(rk == (k < (size_t)rc ? 0 : rc));
		else
			CHECK(rk == 0 || rk == rc);
	}
	/* the slices of the whole-input parse pointed into freed memory;
	 * only the scalars are used from here on */
	return rc;
}

struct chunk_result {
	int rc;
	size_t used;
	size_t made;
	uint64_t total;
};

/* Decode in[0..len) in pieces cut at a and b (a <= b); out has cap bytes. */
static struct chunk_result
chunk_run(const char *in, size_t len, size_t a, size_t b, char *out,
    size_t cap)
{
	struct chunk_result res = { 0, 0, 0, 0 };
	struct http_chunked ch;
	size_t cut[3], pos = 0, i;

	cut[0] = a;
	cut[1] = b;
	cut[2] = len;
	http_chunked_init(&ch);
	for (i = 0; i < 3; i++) {
		size_t n = cut[i] - pos, used = 7, made = 7;
		char *p = dup_exact(in + pos, n);

		res.rc = http_chunked_decode(&ch, p, n, &used, out, cap, &made);
		free(p);
		CHECK(used <= n);
		CHECK(res.rc == 0 || res.rc == 1 || res.rc == -400 ||
		    res.rc == -413);
		res.used += used;
		res.made += made;
		if (res.rc != 0)
			break;
		CHECK(used == n);
		pos = cut[i];
	}
	res.total = ch.total;
	CHECK(res.total == res.made && res.made <= cap);
	return res;
}

/* Chunked decoding must not depend on the split. */
static void
fuzz_chunked(const char *in, size_t len, size_t cap, size_t seed)
{
	char *out = malloc(cap ? cap : 1), *out2 = malloc(cap ? cap : 1);
	struct chunk_result w, s;
	size_t a, b;

	CHECK(out != NULL && out2 != NULL);
	w = chunk_run(in, len, len, len, out, cap);
	a = len ? seed % (len + 1) : 0;
	b = len ? (seed / 7 + a) % (len + 1) : 0;
	if (b < a)
		b = a;
	s = chunk_run(in, len, a, b, out2, cap);
	CHECK(s.rc == w.rc && s.used == w.used && s.made == w.made);
	CHECK(w.made == 0 || memcmp(out, out2, w.made) == 0);
	s = chunk_run(in, len, len / 2, len / 2, out2, cap);
	CHECK(s.rc == w.rc && s.used == w.used && s.made == w.made);
	CHECK(w.made == 0 || memcmp(out, out2, w.made) == 0);
	free(out);
	free(out2);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct http_request req;
	size_t seed = 0, i;
	int rc;

	for (i = 0; i < size && i < 16; i++)
		seed = seed * 131 + data[size - 1 - i];

	rc = fuzz_head(in, size, seed, &req);
	fuzz_chunked(in, size, size, seed);
	fuzz_chunked(in, size, size ? data[0] % 32 : 0, seed);
	if (rc > 0 && req.chunked)
		fuzz_chunked(in + rc, size - (size_t)rc, size, seed);
	return 0;
}
