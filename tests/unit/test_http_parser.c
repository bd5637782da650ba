/*
 * test_http_parser — table-driven tests of server/http_parser.c.
 *
 * Every head case is parsed whole and then as every prefix (the parser is
 * called again with the whole buffer as bytes arrive): a prefix of a valid
 * head must give 0, a prefix of an invalid one 0 or the same verdict.
 * Then it is dribbled byte by byte into one scan, which must give the
 * same answer at every byte while examining each byte once, never
 * reading the lines it has finished (their pages are made PROT_NONE),
 * and fed to one scan in two calls split at every point.  The same runs
 * on the limits swept over every byte of a line, and on mutated heads.
 * Every chunked case is decoded whole, split in two at every point, and
 * one byte at a time, with the same result.  Inputs end exactly at a
 * PROT_NONE page and decoded output is written against one, so any
 * over-read or over-write crashes the (forked) test.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/http_parser.h"

#define IN(s)		.in = (s), .len = sizeof(s) - 1
#define OK		1	/* a complete head: verdict len - tail */
#define INCOMPLETE	0
#define GEN_MAX		40000	/* largest generated input */
#define SPLIT_MAX	2048	/* inputs split at every point up to this size */

/* --- guard pages ---------------------------------------------------------- */

struct guard {
	char *base;
	size_t size;	/* usable bytes before the guard page */
};

/* Map room for n bytes followed by a PROT_NONE page. */
static void
guard_init(struct guard *g, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t usable = (n + page - 1) / page * page;

	if (usable == 0)
		usable = page;
	g->base = mmap(NULL, usable + page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(g->base != MAP_FAILED, "mmap failed");
	ck_assert_msg(mprotect(g->base + usable, page, PROT_NONE) == 0,
	    "mprotect failed");
	g->size = usable;
}

/* Copy p[0..n) so that it ends right at the guard page; return it. */
static char *
guard_place(struct guard *g, const char *p, size_t n)
{
	char *at = g->base + g->size - n;

	if (n > 0)
		memcpy(at, p, n);
	return at;
}

/* Unmap a guard region. */
static void
guard_free(struct guard *g)
{
	munmap(g->base, g->size + (size_t)sysconf(_SC_PAGESIZE));
}

/* --- generated inputs ----------------------------------------------------- */

static char genbuf[GEN_MAX];
static int prefix_rc[GEN_MAX + 1];	/* http_parse_head of each prefix */

/* Append n copies of c at p; return the end. */
static char *
fill(char *p, int c, size_t n)
{
	memset(p, c, n);
	return p + n;
}

/* Append the string s at p; return the end. */
static char *
put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* A request line of GET, a target of tlen bytes, HTTP/1.1, then Host. */
static size_t
gen_target(size_t tlen, int complete)
{
	char *p = put(genbuf, "GET /");

	p = fill(p, 'a', tlen - 1);
	if (complete)
		p = put(p, " HTTP/1.1\r\nHost: a\r\n\r\n");
	return (size_t)(p - genbuf);
}

/* A request line of exactly HTTP_MAX_REQUEST_LINE bytes. */
static size_t
gen_line_at_limit(void)
{
	return gen_target(HTTP_MAX_REQUEST_LINE - 13, 1);
}

/* A request line one byte over the limit. */
static size_t
gen_line_over_limit(void)
{
	return gen_target(HTTP_MAX_REQUEST_LINE - 12, 1);
}

/* A target that goes on past the limit, no CRLF yet. */
static size_t
gen_line_endless(void)
{
	return gen_target(HTTP_MAX_REQUEST_LINE + 500, 0);
}

/* A method token that goes on past the limit. */
static size_t
gen_method_endless(void)
{
	return (size_t)(fill(genbuf, 'A', HTTP_MAX_REQUEST_LINE + 100) - genbuf);
}

/* A field section of hlen bytes (Host, one long field, final CRLF). */
static size_t
gen_head(size_t hlen, int complete)
{
	char *p = put(genbuf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");

	p = fill(p, 'v', hlen - 16);
	if (complete)
		p = put(p, "\r\n\r\n");
	return (size_t)(p - genbuf);
}

/* A field section of exactly HTTP_MAX_HEAD bytes. */
static size_t
gen_head_at_limit(void)
{
	return gen_head(HTTP_MAX_HEAD, 1);
}

/* A field section one byte over the limit. */
static size_t
gen_head_over_limit(void)
{
	return gen_head(HTTP_MAX_HEAD + 1, 1);
}

/* A field value that never ends. */
static size_t
gen_head_endless(void)
{
	return gen_head(HTTP_MAX_HEAD + 200, 0);
}

/* A request with n fields (Host first). */
static size_t
gen_fields(int n)
{
	char *p = put(genbuf, "GET / HTTP/1.1\r\nHost: a\r\n");
	int i;

	for (i = 1; i < n; i++)
		p += sprintf(p, "X-%d: %d\r\n", i, i);
	p = put(p, "\r\n");
	return (size_t)(p - genbuf);
}

/* HTTP_MAX_FIELDS fields. */
static size_t
gen_fields_at_limit(void)
{
	return gen_fields(HTTP_MAX_FIELDS);
}

/* One field too many. */
static size_t
gen_fields_over_limit(void)
{
	return gen_fields(HTTP_MAX_FIELDS + 1);
}

/* n empty lines, then a request. */
static size_t
gen_empty_lines(int n)
{
	char *p = genbuf;
	int i;

	for (i = 0; i < n; i++)
		p = put(p, "\r\n");
	p = put(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	return (size_t)(p - genbuf);
}

/* HTTP_MAX_EMPTY_LINES empty lines first. */
static size_t
gen_empty_at_limit(void)
{
	return gen_empty_lines(HTTP_MAX_EMPTY_LINES);
}

/* One empty line too many. */
static size_t
gen_empty_over_limit(void)
{
	return gen_empty_lines(HTTP_MAX_EMPTY_LINES + 1);
}

/* --- head cases ----------------------------------------------------------- */

struct head_case {
	const char *name;
	const char *in;
	size_t len;
	int want;		/* OK, INCOMPLETE or -STATUS */
	size_t tail;		/* OK: bytes after the head */
	size_t (*gen)(void);	/* builds the input in genbuf instead */
	/* checked when OK: */
	enum http_method method;
	const char *target;	/* NULL: not checked */
	const char *path;
	const char *query;	/* NULL: there must be none */
	const char *host;	/* NULL: there must be none */
	int v10;		/* HTTP/1.0 */
	int close;		/* keep_alive must be 0 */
	int has_cl;
	uint64_t cl;
	int chunked;
	int expect;
	size_t fields;
};

static const struct head_case head_cases[] = {
	/* valid requests */
	{ "simple GET", IN("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), OK,
	  .method = HTTP_GET, .target = "/", .path = "/", .host = "example.com",
	  .fields = 1 },
	{ "GET with query", IN("GET /jobs/42?verbose=1&x=%20 HTTP/1.1\r\n"
	  "Host: a\r\n\r\n"), OK, .method = HTTP_GET,
	  .target = "/jobs/42?verbose=1&x=%20", .path = "/jobs/42",
	  .query = "verbose=1&x=%20", .host = "a", .fields = 1 },
	{ "empty query", IN("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/a", .query = "", .host = "a",
	  .fields = 1 },
	{ "question mark in query", IN("GET /a?b?c/d HTTP/1.1\r\nHost: a\r\n\r\n"),
	  OK, .method = HTTP_GET, .path = "/a", .query = "b?c/d", .host = "a",
	  .fields = 1 },
	{ "POST with Content-Length", IN("POST /payload HTTP/1.1\r\nHost: q\r\n"
	  "Content-Type: application/json\r\nContent-Length: 5\r\n\r\n"), OK,
	  .method = HTTP_POST, .path = "/payload", .host = "q", .has_cl = 1,
	  .cl = 5, .fields = 3 },
	{ "Content-Length zero", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 0\r\n\r\n"), OK, .method = HTTP_POST, .path = "/",
	  .host = "a", .has_cl = 1, .cl = 0, .fields = 2 },
	{ "Content-Length with OWS", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: \t 12 \t\r\n\r\n"), OK, .method = HTTP_POST,
	  .path = "/", .host = "a", .has_cl = 1, .cl = 12, .fields = 2 },
	{ "Content-Length leading zeros", IN("PUT /x HTTP/1.1\r\nHost: a\r\n"
	  "content-length: 007\r\n\r\n"), OK, .method = HTTP_PUT, .path = "/x",
	  .host = "a", .has_cl = 1, .cl = 7, .fields = 2 },
	{ "Content-Length UINT64_MAX", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 18446744073709551615\r\n\r\n"), OK,
	  .method = HTTP_POST, .path = "/", .host = "a", .has_cl = 1,
	  .cl = UINT64_MAX, .fields = 2 },
	{ "chunked POST", IN("POST /payload HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n"), OK, .method = HTTP_POST,
	  .path = "/payload", .host = "a", .chunked = 1, .fields = 2 },
	{ "chunked in capitals", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "TRANSFER-ENCODING: CHUNKED\r\n\r\n"), OK, .method = HTTP_POST,
	  .path = "/", .host = "a", .chunked = 1, .fields = 2 },
	{ "TE list with empty elements", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: , chunked ,\r\n\r\n"), OK, .method = HTTP_POST,
	  .path = "/", .host = "a", .chunked = 1, .fields = 2 },
	{ "HEAD", IN("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_HEAD, .path = "/healthz", .host = "a", .fields = 1 },
	{ "PUT", IN("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"),
	  OK, .method = HTTP_PUT, .path = "/x", .host = "a", .has_cl = 1,
	  .cl = 1, .fields = 2 },
	{ "DELETE", IN("DELETE /jobs/1 HTTP/1.1\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_DELETE, .path = "/jobs/1", .host = "a", .fields = 1 },
	{ "PATCH", IN("PATCH /jobs/1 HTTP/1.1\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_PATCH, .path = "/jobs/1", .host = "a", .fields = 1 },
	{ "TRACE", IN("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_TRACE, .path = "/", .host = "a", .fields = 1 },
	{ "OPTIONS asterisk-form", IN("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
	  OK, .method = HTTP_OPTIONS, .target = "*", .path = "*", .host = "a",
	  .fields = 1 },
	{ "OPTIONS origin-form", IN("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  OK, .method = HTTP_OPTIONS, .path = "/x", .host = "a", .fields = 1 },
	{ "absolute-form", IN("GET http://example.com:8080/jobs?x=1 HTTP/1.1\r\n"
	  "Host: other\r\n\r\n"), OK, .method = HTTP_GET,
	  .target = "http://example.com:8080/jobs?x=1", .path = "/jobs",
	  .query = "x=1", .host = "example.com:8080", .fields = 1 },
	{ "absolute-form without path", IN("GET http://example.com HTTP/1.1\r\n"
	  "Host: example.com\r\n\r\n"), OK, .method = HTTP_GET, .path = "/",
	  .host = "example.com", .fields = 1 },
	{ "absolute-form query without path", IN("GET http://h?x HTTP/1.1\r\n"
	  "Host: h\r\n\r\n"), OK, .method = HTTP_GET, .path = "/", .query = "x",
	  .host = "h", .fields = 1 },
	{ "absolute-form scheme in capitals", IN("GET HTTP://h/p HTTP/1.1\r\n"
	  "Host: h\r\n\r\n"), OK, .method = HTTP_GET, .path = "/p", .host = "h",
	  .fields = 1 },
	{ "absolute-form IPv6", IN("GET http://[::1]:80/ HTTP/1.1\r\n"
	  "Host: x\r\n\r\n"), OK, .method = HTTP_GET, .path = "/",
	  .host = "[::1]:80", .fields = 1 },
	{ "HTTP/1.0 without Host", IN("GET / HTTP/1.0\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/", .v10 = 1, .close = 1 },
	{ "HTTP/1.0 keep-alive", IN("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
	  "\r\n"), OK, .method = HTTP_GET, .path = "/", .v10 = 1, .fields = 1 },
	{ "HTTP/1.0 Keep-Alive in a list", IN("GET / HTTP/1.0\r\nHost: a\r\n"
	  "Connection: foo, Keep-Alive\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/", .host = "a", .v10 = 1, .fields = 2 },
	{ "HTTP/1.0 keep-alive and close", IN("GET / HTTP/1.0\r\n"
	  "Connection: keep-alive\r\nConnection: close\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/", .v10 = 1, .close = 1, .fields = 2 },
	{ "HTTP/1.1 Connection: close", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "Connection: close\r\n\r\n"), OK, .method = HTTP_GET, .path = "/",
	  .host = "a", .close = 1, .fields = 2 },
	{ "Connection: close with tab", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "Connection: close\t\r\n\r\n"), OK, .method = HTTP_GET, .path = "/",
	  .host = "a", .close = 1, .fields = 2 },
	{ "Connection: close, keep-alive", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "Connection: keep-alive, CLOSE\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/", .host = "a", .close = 1, .fields = 2 },
	{ "Connection: upgrade ignored", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "Connection: Upgrade\r\n\r\n"), OK, .method = HTTP_GET, .path = "/",
	  .host = "a", .fields = 2 },
	{ "Expect 100-continue", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n"), OK,
	  .method = HTTP_POST, .path = "/", .host = "a", .has_cl = 1, .cl = 3,
	  .expect = 1, .fields = 3 },
	{ "Expect 100-Continue any case", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "expect:  100-CONTINUE \r\nContent-Length: 3\r\n\r\n"), OK,
	  .method = HTTP_POST, .path = "/", .host = "a", .has_cl = 1, .cl = 3,
	  .expect = 1, .fields = 3 },
	{ "Expect ignored on HTTP/1.0", IN("POST / HTTP/1.0\r\n"
	  "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"), OK,
	  .method = HTTP_POST, .path = "/", .v10 = 1, .close = 1, .has_cl = 1,
	  .cl = 3, .fields = 2 },
	{ "empty lines before the request line", IN("\r\n\r\nGET / HTTP/1.1\r\n"
	  "Host: a\r\n\r\n"), OK, .method = HTTP_GET, .path = "/", .host = "a",
	  .fields = 1 },
	{ "8 empty lines before the request line", .gen = gen_empty_at_limit,
	  .want = OK, .method = HTTP_GET, .path = "/", .host = "a", .fields = 1 },
	{ "pipelined second request", IN("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
	  "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .tail = 28,
	  .method = HTTP_GET, .path = "/1", .host = "a", .fields = 1 },
	{ "body bytes after the head", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 5\r\n\r\nhello"), OK, .tail = 5, .method = HTTP_POST,
	  .path = "/", .host = "a", .has_cl = 1, .cl = 5, .fields = 2 },
	{ "garbage after the head not examined", IN("GET / HTTP/1.1\r\n"
	  "Host: a\r\n\r\n\n\r\x01 bad"), OK, .tail = 7, .method = HTTP_GET,
	  .path = "/", .host = "a", .fields = 1 },
	{ "Host with port", IN("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
	  OK, .method = HTTP_GET, .path = "/", .host = "example.com:8080",
	  .fields = 1 },
	{ "Host IPv4", IN("GET / HTTP/1.1\r\nHost: 127.0.0.1:65535\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/", .host = "127.0.0.1:65535",
	  .fields = 1 },
	{ "Host IPv6 loopback", IN("GET / HTTP/1.1\r\nHost: [::1]:8099\r\n\r\n"),
	  OK, .method = HTTP_GET, .path = "/", .host = "[::1]:8099",
	  .fields = 1 },
	{ "Host IPv6 full", IN("GET / HTTP/1.1\r\n"
	  "Host: [2001:db8:0:0:0:ff00:42:8329]\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/",
	  .host = "[2001:db8:0:0:0:ff00:42:8329]", .fields = 1 },
	{ "Host IPv6 with IPv4 tail", IN("GET / HTTP/1.1\r\n"
	  "Host: [::ffff:192.0.2.1]\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/", .host = "[::ffff:192.0.2.1]", .fields = 1 },
	{ "Host pct-encoded and sub-delims", IN("GET / HTTP/1.1\r\n"
	  "Host: a%41b-c_d~e!$&'()*+,;=\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/", .host = "a%41b-c_d~e!$&'()*+,;=", .fields = 1 },
	{ "Host OWS trimmed", IN("GET / HTTP/1.1\r\nHost: \t a.b \t\r\n\r\n"),
	  OK, .method = HTTP_GET, .path = "/", .host = "a.b", .fields = 1 },
	{ "host field name any case", IN("GET / HTTP/1.1\r\nhOsT: a\r\n\r\n"),
	  OK, .method = HTTP_GET, .path = "/", .host = "a", .fields = 1 },
	{ "obs-text in a value", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "X-Name: D\xc3\xbc" "sseldorf\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/", .host = "a", .fields = 2 },
	{ "HTAB inside a value", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "X: a\tb\r\n\r\n"), OK, .method = HTTP_GET, .path = "/", .host = "a",
	  .fields = 2 },
	{ "empty value", IN("GET / HTTP/1.1\r\nX-Empty:\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/", .host = "a", .fields = 2 },
	{ "every tchar in a name", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/", .host = "a", .fields = 2 },
	{ "HTTP/1.2 served as 1.1", IN("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), OK,
	  .method = HTTP_GET, .path = "/", .host = "a", .fields = 1 },
	{ "RFC 3986 delimiters in target", IN("GET /a-._~!$&'()*+,;=:@/[x]?q/? "
	  "HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .method = HTTP_GET,
	  .path = "/a-._~!$&'()*+,;=:@/[x]", .query = "q/?", .host = "a",
	  .fields = 1 },
	{ "percent-encoded target", IN("GET /%E2%82%ac%20x HTTP/1.1\r\n"
	  "Host: a\r\n\r\n"), OK, .method = HTTP_GET, .path = "/%E2%82%ac%20x",
	  .host = "a", .fields = 1 },
	{ "request line at the limit", .gen = gen_line_at_limit, .want = OK,
	  .method = HTTP_GET, .host = "a", .fields = 1 },
	{ "field section at the limit", .gen = gen_head_at_limit, .want = OK,
	  .method = HTTP_GET, .path = "/", .host = "a", .fields = 2 },
	{ "100 fields", .gen = gen_fields_at_limit, .want = OK,
	  .method = HTTP_GET, .path = "/", .host = "a",
	  .fields = HTTP_MAX_FIELDS },

	/* incomplete */
	{ "empty input", IN(""), INCOMPLETE },
	{ "only empty lines", IN("\r\n\r\n"), INCOMPLETE },
	{ "partial method", IN("GE"), INCOMPLETE },
	{ "no final empty line", IN("GET / HTTP/1.1\r\nHost: a\r\n"), INCOMPLETE },
	{ "CR at the end", IN("GET / HTTP/1.1\r\nHost: a\r\n\r"), INCOMPLETE },
	{ "inside a value", IN("GET / HTTP/1.1\r\nHost: a\r\nX: abc"),
	  INCOMPLETE },
	{ "HTTP/1.1 request line only", IN("GET / HTTP/1.1\r\n"), INCOMPLETE },

	/* request line */
	{ "unknown method", IN("FOO / HTTP/1.1\r\nHost: a\r\n\r\n"), -501 },
	{ "lower-case method", IN("get / HTTP/1.1\r\nHost: a\r\n\r\n"), -501 },
	{ "CONNECT", IN("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), -501 },
	{ "PRI (HTTP/2 preface)", IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -501 },
	{ "NUL in method", IN("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "slash in method", IN("GE/T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "leading space", IN(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "two spaces after method", IN("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "two spaces before version", IN("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "tab as separator", IN("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "space after version", IN("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400 },
	{ "HTTP/0.9 request line", IN("GET /\r\n\r\n"), -400 },
	{ "lower-case protocol", IN("GET / http/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "HTTP/2.0", IN("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505 },
	{ "HTTP/0.9 version", IN("GET / HTTP/0.9\r\n\r\n"), -505 },
	{ "HTTP/5.6 rejected at once", IN("GET / HTTP/5.6"), -505 },
	{ "two-digit minor", IN("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), -400 },
	{ "letter minor", IN("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), -400 },
	{ "no minor", IN("GET / HTTP/1\r\nHost: a\r\n\r\n"), -400 },
	{ "RTSP protocol", IN("OPTIONS * RTSP/1.0\r\n\r\n"), -400 },
	{ "bare LF after request line", IN("GET / HTTP/1.1\nHost: a\r\n\r\n"),
	  -400 },
	{ "bare CR after request line", IN("GET / HTTP/1.1\rHost: a\r\n\r\n"),
	  -400 },
	{ "bare LF empty line first", IN("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "bare CR empty line first", IN("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "9 empty lines", .gen = gen_empty_over_limit, .want = -400 },
	{ "space in target", IN("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "quote in target", IN("GET /\"x\" HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "less-than in target", IN("GET /<x> HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "backslash in target", IN("GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "caret in target", IN("GET /a^b HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "backtick in target", IN("GET /a`b HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "brace in target", IN("GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "pipe in target", IN("GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "fragment in target", IN("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "raw UTF-8 in target", IN("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n"
	  "\r\n"), -400 },
	{ "DEL in target", IN("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "CTL in target", IN("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "NUL in target", IN("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "bad percent-encoding", IN("GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "truncated percent-encoding", IN("GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "asterisk-form with GET", IN("GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "asterisk and more", IN("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "authority-form", IN("GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "relative target", IN("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), -400 },
	{ "https scheme", IN("GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "userinfo in absolute-form", IN("GET http://u:p@a/ HTTP/1.1\r\n"
	  "Host: a\r\n\r\n"), -400 },
	{ "empty authority", IN("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  -400 },
	{ "absolute-form bad port", IN("GET http://a:99999/ HTTP/1.1\r\n"
	  "Host: a\r\n\r\n"), -400 },
	{ "request line over the limit", .gen = gen_line_over_limit,
	  .want = -414 },
	{ "endless target", .gen = gen_line_endless, .want = -414 },
	{ "endless method", .gen = gen_method_endless, .want = -414 },

	/* field syntax */
	{ "bare LF ending a field", IN("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"),
	  -400 },
	{ "bare LF ending the head", IN("GET / HTTP/1.1\r\nHost: a\r\n\n"), -400 },
	{ "bare LF in a value (smuggling)", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "x:\nTransfer-Encoding: chunked\r\n\r\n"), -400 },
	{ "bare CR in a value", IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
	  -400 },
	{ "bare CR as the empty line", IN("GET / HTTP/1.1\r\nHost: a\r\n\rX"),
	  -400 },
	{ "NUL in a value", IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
	  -400 },
	{ "CTL in a value", IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n"
	  "\r\n"), -400 },
	{ "DEL in a value", IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"),
	  -400 },
	{ "obs-fold", IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
	  -400 },
	{ "obs-fold with tab", IN("GET / HTTP/1.1\r\nX: a\r\n\tb\r\nHost: a\r\n"
	  "\r\n"), -400 },
	{ "whitespace before the first field", IN("GET / HTTP/1.1\r\n"
	  " Host: a\r\n\r\n"), -400 },
	{ "space before colon", IN("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400 },
	{ "tab before colon", IN("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), -400 },
	{ "parenthesis in a name", IN("GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n"
	  "\r\n"), -400 },
	{ "at sign in a name", IN("GET / HTTP/1.1\r\nHost: a\r\nX@y: b\r\n\r\n"),
	  -400 },
	{ "NUL in a name", IN("GET / HTTP/1.1\r\nHost: a\r\nX\0y: b\r\n\r\n"),
	  -400 },
	{ "non-ASCII in a name", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "X\xc3\xa9: b\r\n\r\n"), -400 },
	{ "empty name", IN("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), -400 },
	{ "no colon", IN("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), -400 },
	{ "field section over the limit", .gen = gen_head_over_limit,
	  .want = -431 },
	{ "endless field value", .gen = gen_head_endless, .want = -431 },
	{ "101 fields", .gen = gen_fields_over_limit, .want = -431 },

	/* Content-Length */
	{ "CL then TE", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n"), -400 },
	{ "TE then CL", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"), -400 },
	{ "duplicate CL, equal", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 4\r\nContent-Length: 4\r\n\r\n"), -400 },
	{ "duplicate CL, different", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 4\r\ncontent-length: 5\r\n\r\n"), -400 },
	{ "CL list", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n"
	  "\r\n"), -400 },
	{ "CL negative", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n"
	  "\r\n"), -400 },
	{ "CL plus sign", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n"
	  "\r\n"), -400 },
	{ "CL hex", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n"
	  "\r\n"), -400 },
	{ "CL empty", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"),
	  -400 },
	{ "CL inner space", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 1 2\r\n\r\n"), -400 },
	{ "CL overflow", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 18446744073709551616\r\n\r\n"), -400 },
	{ "CL letters", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4a\r\n"
	  "\r\n"), -400 },

	/* Transfer-Encoding */
	{ "TE on HTTP/1.0", IN("POST / HTTP/1.0\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n"), -400 },
	{ "chunked not last", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked, gzip\r\n\r\n"), -400 },
	{ "chunked twice", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked, chunked\r\n\r\n"), -400 },
	{ "chunked then another TE field", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), -400 },
	{ "chunked in two TE fields", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  -400 },
	{ "gzip, chunked", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: gzip, chunked\r\n\r\n"), -501 },
	{ "gzip then chunked in two fields", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), -501 },
	{ "gzip alone", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: gzip\r\n\r\n"), -400 },
	{ "identity", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: identity\r\n\r\n"), -400 },
	{ "chunkedchunked", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunkedchunked\r\n\r\n"), -400 },
	{ "TE empty", IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n"
	  "\r\n"), -400 },
	{ "TE with parameter", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked;q=1\r\n\r\n"), -400 },
	{ "TE quoted", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: \"chunked\"\r\n\r\n"), -400 },
	{ "TE with bare-LF smuggled CL", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked\nContent-Length: 4\r\n\r\n"), -400 },

	/* Idempotency-Key: 1-255 of 0x21..0x7e, once */
	{ "Idempotency-Key", IN("POST /payload HTTP/1.1\r\nHost: a\r\n"
	  "Idempotency-Key: a-B_9!~\r\n\r\n"), OK, .method = HTTP_POST,
	  .path = "/payload", .host = "a", .fields = 2 },
	{ "empty Idempotency-Key", IN("POST /payload HTTP/1.1\r\nHost: a\r\n"
	  "Idempotency-Key:\r\n\r\n"), -400 },
	{ "Idempotency-Key with space", IN("POST /payload HTTP/1.1\r\nHost: a\r\n"
	  "Idempotency-Key: a b\r\n\r\n"), -400 },
	{ "Idempotency-Key not ASCII", IN("POST /payload HTTP/1.1\r\nHost: a\r\n"
	  "Idempotency-Key: caf\xc3\xa9\r\n\r\n"), -400 },
	{ "duplicate Idempotency-Key", IN("POST /payload HTTP/1.1\r\nHost: a\r\n"
	  "Idempotency-Key: a\r\nidempotency-key: a\r\n\r\n"), -400 },

	/* Host */
	{ "missing Host on 1.1", IN("GET / HTTP/1.1\r\n\r\n"), -400 },
	{ "missing Host, absolute-form", IN("GET http://a/ HTTP/1.1\r\n\r\n"),
	  -400 },
	{ "duplicate Host", IN("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
	  -400 },
	{ "duplicate Host, equal", IN("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n"
	  "\r\n"), -400 },
	{ "duplicate Host on 1.0", IN("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n"
	  "\r\n"), -400 },
	{ "empty Host", IN("GET / HTTP/1.1\r\nHost:\r\n\r\n"), -400 },
	{ "Host with space", IN("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400 },
	{ "Host with userinfo", IN("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), -400 },
	{ "Host with path", IN("GET / HTTP/1.1\r\nHost: a/x\r\n\r\n"), -400 },
	{ "Host list", IN("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), -400 },
	{ "Host port not digits", IN("GET / HTTP/1.1\r\nHost: a:http\r\n\r\n"),
	  -400 },
	{ "Host port too big", IN("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"),
	  -400 },
	{ "Host empty port", IN("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), -400 },
	{ "Host bad IPv6", IN("GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n"), -400 },
	{ "Host unclosed IPv6", IN("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
	  -400 },
	{ "Host IPv6 too many groups", IN("GET / HTTP/1.1\r\n"
	  "Host: [1:2:3:4:5:6:7:8:9]\r\n\r\n"), -400 },
	{ "Host IPv6 two gaps", IN("GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n"),
	  -400 },
	{ "Host bad pct-encoding", IN("GET / HTTP/1.1\r\nHost: a%g1\r\n\r\n"),
	  -400 },

	/* Expect, Connection */
	{ "unknown expectation", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Expect: foo\r\nContent-Length: 1\r\n\r\n"), -417 },
	{ "100-continue with parameter", IN("POST / HTTP/1.1\r\nHost: a\r\n"
	  "Expect: 100-continue; x=1\r\n\r\n"), -417 },
	{ "empty Expect", IN("POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n"),
	  -417 },
	{ "Connection not a token list", IN("GET / HTTP/1.1\r\nHost: a\r\n"
	  "Connection: close;x\r\n\r\n"), -400 },
};

#define NHEAD (int)(sizeof(head_cases) / sizeof(head_cases[0]))

/* The input of a head case. */
static const char *
head_input(const struct head_case *tc, size_t *len)
{
	if (tc->gen != NULL) {
		*len = tc->gen();
		return genbuf;
	}
	*len = tc->len;
	return tc->in;
}

/* Is the slice p[0..n) inside buf[0..len)? (NULL slices are.) */
static int
inside(const char *p, size_t n, const char *buf, size_t len)
{
	if (p == NULL)
		return n == 0;
	return p >= buf && p <= buf + len && n <= (size_t)(buf + len - p);
}

/* Check a slice against the wanted string (NULL: no slice). */
static void
check_slice(const char *name, const char *what, const char *got,
    size_t glen, const char *want)
{
	if (want == NULL) {
		ck_assert_msg(got == NULL, "%s: %s: got \"%.*s\", want none",
		    name, what, (int)glen, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: %s: got none, want \"%s\"", name,
	    what, want);
	ck_assert_msg(glen == strlen(want) && memcmp(got, want, glen) == 0,
	    "%s: %s: got \"%.*s\", want \"%s\"", name, what, (int)glen, got,
	    want);
}

/* Check every field of a successfully parsed request. */
static void
check_request(const struct head_case *tc, const struct http_request *r,
    const char *buf, size_t hlen)
{
	const char *n = tc->name;

	ck_assert_msg(r->error == NULL, "%s: error set: %s", n, r->error);
	ck_assert_msg(inside(r->target, r->target_len, buf, hlen) &&
	    inside(r->path, r->path_len, buf, hlen) &&
	    inside(r->query, r->query_len, buf, hlen) &&
	    inside(r->host, r->host_len, buf, hlen),
	    "%s: a slice lies outside the head", n);
	ck_assert_msg(r->method == tc->method, "%s: method: got %d, want %d",
	    n, (int)r->method, (int)tc->method);
	if (tc->target != NULL)
		check_slice(n, "target", r->target, r->target_len, tc->target);
	if (tc->path != NULL)
		check_slice(n, "path", r->path, r->path_len, tc->path);
	ck_assert_msg(r->path != NULL && r->path_len > 0, "%s: no path", n);
	check_slice(n, "query", r->query, r->query_len, tc->query);
	check_slice(n, "host", r->host, r->host_len, tc->host);
	ck_assert_msg(r->version_minor == (tc->v10 ? 0 : 1),
	    "%s: version_minor: got %d, want %d", n, r->version_minor,
	    tc->v10 ? 0 : 1);
	ck_assert_msg(r->keep_alive == !tc->close,
	    "%s: keep_alive: got %d, want %d", n, r->keep_alive, !tc->close);
	ck_assert_msg(r->has_content_length == tc->has_cl,
	    "%s: has_content_length: got %d, want %d", n,
	    r->has_content_length, tc->has_cl);
	if (tc->has_cl)
		ck_assert_msg(r->content_length == tc->cl,
		    "%s: content_length: got %ju, want %ju", n,
		    (uintmax_t)r->content_length, (uintmax_t)tc->cl);
	ck_assert_msg(r->chunked == tc->chunked, "%s: chunked: got %d, want %d",
	    n, r->chunked, tc->chunked);
	ck_assert_msg(r->expect_continue == tc->expect,
	    "%s: expect_continue: got %d, want %d", n, r->expect_continue,
	    tc->expect);
	ck_assert_msg(r->fields == tc->fields, "%s: fields: got %zu, want %zu",
	    n, r->fields, tc->fields);
}

/* Do two parsed requests agree (slices by address)? */
static int
same_request(const struct http_request *a, const struct http_request *b)
{
	return a->method == b->method && a->target == b->target &&
	    a->target_len == b->target_len && a->path == b->path &&
	    a->path_len == b->path_len && a->query == b->query &&
	    a->query_len == b->query_len &&
	    a->version_minor == b->version_minor && a->host == b->host &&
	    a->host_len == b->host_len &&
	    a->authorization == b->authorization &&
	    a->authorization_len == b->authorization_len &&
	    a->idempotency_key == b->idempotency_key &&
	    a->idempotency_key_len == b->idempotency_key_len &&
	    a->has_content_length == b->has_content_length &&
	    a->content_length == b->content_length &&
	    a->chunked == b->chunked &&
	    a->expect_continue == b->expect_continue &&
	    a->keep_alive == b->keep_alive && a->fields == b->fields &&
	    a->error == b->error;
}

/*
 * Feed p[0..len) to one scan a byte at a time: at every byte the answer
 * of the whole-buffer parse of that prefix (prefix_rc), each byte
 * examined once (next == k after a 0), and the pages before the current
 * line made PROT_NONE as it moves on, so a rescan crashes.  A verdict
 * comes with the whole parse's request (and reason).
 */
static void
dribble(const char *name, struct guard *g, const char *p, size_t len,
    const struct http_request *whole)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	struct http_head_scan s;
	struct http_request req;
	char *locked = g->base;
	size_t k;
	int rc = 0;

	http_head_init(&s);
	for (k = 0; k <= len; k++) {
		char *upto = (char *)(((uintptr_t)p + s.line) & ~(page - 1));

		if (upto > locked) {
			ck_assert_msg(mprotect(locked, (size_t)(upto - locked),
			    PROT_NONE) == 0, "mprotect failed");
			locked = upto;
		}
		rc = http_parse_head_more(&s, p, k, &req);
		ck_assert_msg(rc == prefix_rc[k], "%s: byte %zu: got %d (%s), "
		    "want %d", name, k, rc, req.error ? req.error : "no error",
		    prefix_rc[k]);
		if (rc != 0)
			break;
		ck_assert_msg(s.next == k, "%s: byte %zu: next %zu", name, k,
		    s.next);
	}
	if (rc != 0)
		ck_assert_msg(same_request(&req, whole), "%s: the dribbled "
		    "request differs from the whole one", name);
	ck_assert_msg(mprotect(g->base, (size_t)(locked - g->base),
	    PROT_READ | PROT_WRITE) == 0, "mprotect failed");
}

/*
 * Feed p[0..len) to one scan in two calls, the first ending after k bytes,
 * for every k: the verdict and request of the whole parse, wherever the
 * split cuts a run of bytes.
 */
static void
split(const char *name, const char *p, size_t len, int want,
    const struct http_request *whole)
{
	struct http_head_scan s;
	struct http_request req;
	size_t k;
	int rc;

	for (k = 0; k <= len; k++) {
		http_head_init(&s);
		rc = http_parse_head_more(&s, p, k, &req);
		if (rc == 0)
			rc = http_parse_head_more(&s, p, len, &req);
		ck_assert_msg(rc == want, "%s: split at %zu: got %d (%s), want %d",
		    name, k, rc, req.error ? req.error : "no error", want);
		if (rc != 0)
			ck_assert_msg(same_request(&req, whole), "%s: split at "
			    "%zu: the request differs from the whole one", name, k);
	}
}

/*
 * in[0..len) must give want whole (and the request tc describes, unless
 * tc is NULL), 0 or want as every prefix (exactly 0 before the end of a
 * valid head), and the same dribbled and split in two.  Prefixes shorter
 * than from are not parsed from scratch: the dribble must give 0 there.
 */
static void
check_head(const char *name, const char *in, size_t len, int want,
    const struct head_case *tc, size_t from)
{
	struct http_request req, whole;
	struct guard g;
	size_t k;
	char *p;
	int rc;

	guard_init(&g, len);
	p = guard_place(&g, in, len);
	rc = http_parse_head(p, len, &req);
	whole = req;
	prefix_rc[len] = rc;
	ck_assert_msg(rc == want, "%s: got %d (%s), want %d", name, rc,
	    req.error ? req.error : "no error", want);
	if (want > 0 && tc != NULL)
		check_request(tc, &req, p, (size_t)want);
	if (want < 0)
		ck_assert_msg(req.error != NULL && req.error[0] != '\0',
		    "%s: no error reason", name);

	for (k = 0; k < from && k < len; k++)
		prefix_rc[k] = 0;
	for (; k < len; k++) {
		p = guard_place(&g, in, k);
		rc = http_parse_head(p, k, &req);
		prefix_rc[k] = rc;
		if (want > 0) {
			int w = k < (size_t)want ? 0 : want;

			ck_assert_msg(rc == w, "%s: prefix %zu: got %d (%s), "
			    "want %d", name, k, rc,
			    req.error ? req.error : "no error", w);
			if (rc > 0 && tc != NULL)
				check_request(tc, &req, p, (size_t)rc);
		} else {
			ck_assert_msg(rc == 0 || rc == want, "%s: prefix %zu: "
			    "got %d (%s), want 0 or %d", name, k, rc,
			    req.error ? req.error : "no error", want);
		}
	}
	p = guard_place(&g, in, len);
	dribble(name, &g, p, len, &whole);
	if (len <= SPLIT_MAX)
		split(name, p, len, want, &whole);
	guard_free(&g);
}

/* One head case, whole, as every prefix, dribbled and split. */
START_TEST(test_head_case)
{
	const struct head_case *tc = &head_cases[_i];
	const char *in;
	size_t len;

	in = head_input(tc, &len);
	check_head(tc->name, in, len, tc->want == OK ? (int)(len - tc->tail) :
	    tc->want, tc, 0);
}
END_TEST

/*
 * The limits swept over every byte of a line: the field section is
 * HTTP_MAX_HEAD - 2 + _i / 2 bytes, so the limit falls on each byte of its
 * last field line and final CRLF in turn; on odd _i that line holds a
 * control byte, whose 400 wins only before the limit.  Only the prefixes
 * near the limit are parsed from scratch (the rest is quadratic).
 */
#define FIELD_SWEEP	15
START_TEST(test_field_limit_sweep)
{
	static const char tail[] = "\r\nAb: ?\r\n\r\n";
	const size_t fs = strlen("GET / HTTP/1.1\r\n");
	size_t fslen = HTTP_MAX_HEAD - 2 + (size_t)_i / 2;
	size_t bad = fslen - strlen(strchr(tail, '?'));	/* from fs */
	struct head_case tc = { .method = HTTP_GET, .path = "/", .host = "a",
	    .fields = 3 };
	char name[96], *p;
	int want;

	p = put(genbuf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	p = fill(p, 'v', fs + fslen - (size_t)(p - genbuf) - strlen(tail));
	p = put(p, tail);
	ck_assert_uint_eq((size_t)(p - genbuf), fs + fslen);
	if (_i % 2 == 1)
		genbuf[fs + bad] = '\x01';
	if (_i % 2 == 1 && bad < HTTP_MAX_HEAD)
		want = -400;
	else
		want = fslen <= HTTP_MAX_HEAD ? (int)(fs + fslen) : -431;
	snprintf(name, sizeof(name), "field section of %zu bytes%s", fslen,
	    _i % 2 ? " with a control byte" : "");
	tc.name = name;
	check_head(name, genbuf, fs + fslen, want, &tc, fs + HTTP_MAX_HEAD - 16);
}
END_TEST

/*
 * The same for the request line (without its CRLF): HTTP_MAX_REQUEST_LINE
 * - 2 + _i / 2 bytes, so the limit falls on the target's last bytes, the
 * SP, the version, the CRLF; on odd _i the target's last byte is '<'.
 */
#define LINE_SWEEP	14
START_TEST(test_line_limit_sweep)
{
	size_t llen = HTTP_MAX_REQUEST_LINE - 2 + (size_t)_i / 2;
	size_t bad = llen - strlen(" HTTP/1.1") - 1;
	struct head_case tc = { .method = HTTP_GET, .host = "a", .fields = 1 };
	char name[96], *p;
	int want;

	p = put(genbuf, "GET /");
	p = fill(p, 'a', llen - strlen("GET / HTTP/1.1"));
	p = put(p, " HTTP/1.1\r\nHost: a\r\n\r\n");
	if (_i % 2 == 1)
		genbuf[bad] = '<';
	if (_i % 2 == 1 && bad < HTTP_MAX_REQUEST_LINE)
		want = -400;
	else
		want = llen <= HTTP_MAX_REQUEST_LINE ? (int)(p - genbuf) : -414;
	snprintf(name, sizeof(name), "request line of %zu bytes%s", llen,
	    _i % 2 ? " with a bad target byte" : "");
	tc.name = name;
	check_head(name, genbuf, (size_t)(p - genbuf), want, &tc,
	    HTTP_MAX_REQUEST_LINE - 16);
}
END_TEST

/*
 * Mutated heads: each of MUTANTS per case is one of a few heads with one
 * to three bytes replaced, inserted or deleted, or a run of one byte
 * inserted, then cut short at random one time in four.  Whatever the
 * verdict, every prefix, the dribble and every split must agree with it.
 */
#define MUTANT_CASES	20
#define MUTANTS		100
START_TEST(test_mutants)
{
	static const char *const heads[] = {
		"POST /payload HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
		"Content-Type: application/octet-stream\r\n"
		"Content-Length: 100\r\n\r\n",
		"GET http://a.b:8080/x%20y?q HTTP/1.1\r\nHost: [::1]:80\r\n"
		"Connection: keep-alive, close\r\nExpect: 100-continue\r\n"
		"Authorization: Bearer t\r\nIdempotency-Key: k-1\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h%41\r\n"
		"Transfer-Encoding: gzip, chunked\r\n\r\n",
		"\r\nOPTIONS * HTTP/1.0\r\nX:  v\t \r\n\r\nbody",
	};
	static const char bytes[] = "\r\n\t :%/?#@[]<>\"\\,;=.-aZ9\x7f\x80\xff";
	uint64_t x = 0x9e3779b97f4a7c15u * (uint64_t)(_i + 1);
	char name[96];
	int m;

#define RND()	(x ^= x << 13, x ^= x >> 7, x ^= x << 17)
	for (m = 0; m < MUTANTS; m++) {
		const char *h = heads[RND() % (sizeof(heads) / sizeof(heads[0]))];
		size_t len = strlen(h), n = 1 + RND() % 3, at, run;
		struct http_request req;
		char c;

		memcpy(genbuf, h, len);
		while (n-- > 0) {
			at = RND() % (len + 1);
			c = RND() % 2 ? bytes[RND() % (sizeof(bytes) - 1)] :
			    (char)RND();
			run = RND() % 4 == 0 ? RND() % 64 : 1;
			switch (RND() % 3) {
			case 0:		/* replace */
				if (at < len)
					genbuf[at] = c;
				break;
			case 1:		/* insert a run of c */
				memmove(genbuf + at + run, genbuf + at, len - at);
				memset(genbuf + at, c, run);
				len += run;
				break;
			case 2:		/* delete */
				if (at < len)
					memmove(genbuf + at, genbuf + at + 1,
					    --len - at);
				break;
			}
		}
		if (RND() % 4 == 0)
			len = RND() % (len + 1);
		snprintf(name, sizeof(name), "mutant %d.%d", _i, m);
		check_head(name, genbuf, len, http_parse_head(genbuf, len, &req),
		    NULL, 0);
	}
#undef RND
}
END_TEST

/* Requests pipelined in one buffer are parsed one after another. */
START_TEST(test_pipeline)
{
	static const char buf[] =
	    "\r\nGET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
	    "GET /3 HTTP/1.0\r\n\r\n";
	static const char *const paths[] = { "/1", "/2", "/3" };
	struct http_request req;
	size_t off = 0, len = sizeof(buf) - 1;
	int i, rc;

	for (i = 0; i < 3; i++) {
		rc = http_parse_head(buf + off, len - off, &req);
		ck_assert_msg(rc > 0, "request %d: got %d, want > 0", i, rc);
		check_slice("pipeline", "path", req.path, req.path_len,
		    paths[i]);
		off += (size_t)rc + (req.has_content_length ?
		    (size_t)req.content_length : 0);
	}
	ck_assert_msg(off == len, "consumed %zu bytes, want %zu", off, len);
	ck_assert_msg(req.keep_alive == 0, "HTTP/1.0: got keep_alive %d, want 0",
	    req.keep_alive);
}
END_TEST

/* Reason phrases. */
START_TEST(test_status_text)
{
	/* every status jobqd answers (jobqd(8) Status codes) */
	static const int codes[] = { 100, 200, 202, 204, 400, 401, 403, 404, 405, 408,
	    409, 410, 411, 413, 414, 417, 421, 422, 429, 431, 500, 501, 503, 505 };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		ck_assert_msg(http_status_text(codes[i])[0] != '\0',
		    "status %d: got \"\", want a reason phrase", codes[i]);
	ck_assert_str_eq(http_status_text(400), "Bad Request");
	ck_assert_str_eq(http_status_text(431),
	    "Request Header Fields Too Large");
	ck_assert_str_eq(http_status_text(999), "");
}
END_TEST

/* --- chunked cases -------------------------------------------------------- */

/* "0\r\n" then trailer fields of tlen bytes in all (final CRLF included). */
static size_t
gen_trailers(size_t tlen)
{
	char *p = put(genbuf, "0\r\nX: ");

	p = fill(p, 't', tlen - 7);
	p = put(p, "\r\n\r\n");
	return (size_t)(p - genbuf);
}

/* A trailer section of exactly HTTP_MAX_TRAILERS bytes. */
static size_t
gen_trailers_at_limit(void)
{
	return gen_trailers(HTTP_MAX_TRAILERS);
}

/* A trailer section one byte over. */
static size_t
gen_trailers_over_limit(void)
{
	return gen_trailers(HTTP_MAX_TRAILERS + 1);
}

/* A size line of llen bytes (CRLF excluded) for one chunk "x". */
static size_t
gen_size_line(size_t llen)
{
	char *p = put(genbuf, "1;");

	p = fill(p, 'e', llen - 2);
	p = put(p, "\r\nx\r\n0\r\n\r\n");
	return (size_t)(p - genbuf);
}

/* A size line of exactly HTTP_MAX_CHUNK_LINE bytes. */
static size_t
gen_size_line_at_limit(void)
{
	return gen_size_line(HTTP_MAX_CHUNK_LINE);
}

/* A size line one byte over. */
static size_t
gen_size_line_over_limit(void)
{
	return gen_size_line(HTTP_MAX_CHUNK_LINE + 1);
}

struct chunk_case {
	const char *name;
	const char *in;
	size_t len;
	size_t (*gen)(void);
	size_t cap;		/* 0: 1024 */
	int want;		/* 1, 0, -400 or -413 */
	const char *data;	/* decoded data (NULL: "", unchecked on error) */
	size_t dlen;
	size_t tail;		/* want 1: bytes left unconsumed */
};

#define DATA(s)	.data = (s), .dlen = sizeof(s) - 1

static const struct chunk_case chunk_cases[] = {
	{ "one chunk", IN("5\r\nhello\r\n0\r\n\r\n"), .want = 1,
	  DATA("hello") },
	{ "two chunks", IN("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), .want = 1,
	  DATA("hello world") },
	{ "upper-case hex", IN("A\r\n0123456789\r\n0\r\n\r\n"), .want = 1,
	  DATA("0123456789") },
	{ "lower-case hex", IN("1e\r\nall your base are belong to us\r\n"
	  "0\r\n\r\n"), .want = 1, DATA("all your base are belong to us") },
	{ "leading zeros", IN("0005\r\nhello\r\n000\r\n\r\n"), .want = 1,
	  DATA("hello") },
	{ "empty body", IN("0\r\n\r\n"), .want = 1, DATA("") },
	{ "extension name", IN("5;ext\r\nhello\r\n0\r\n\r\n"), .want = 1,
	  DATA("hello") },
	{ "extensions with values", IN("5;a=b;c=d\r\nhello\r\n"
	  "6;blahblah;blah\r\n world\r\n0\r\n\r\n"), .want = 1,
	  DATA("hello world") },
	{ "quoted extension value", IN("5;a=\"x \\\"y\\\"; \\\\z\";b=\"\"\r\n"
	  "hello\r\n0\r\n\r\n"), .want = 1, DATA("hello") },
	{ "extension BWS", IN("5 ; a = b ;c\r\nhello\r\n0\r\n\r\n"), .want = 1,
	  DATA("hello") },
	{ "extension BWS with tabs", IN("5\t;\ta\t=\t\"q\"\r\nhello\r\n0\r\n\r\n"),
	  .want = 1, DATA("hello") },
	{ "extension on the last chunk", IN("5\r\nhello\r\n0;done\r\n\r\n"),
	  .want = 1, DATA("hello") },
	{ "trailers", IN("5\r\nhello\r\n0\r\nVary: *\r\nX-Sum: abc\r\n\r\n"),
	  .want = 1, DATA("hello") },
	{ "trailer with empty value", IN("0\r\nX:\r\n\r\n"), .want = 1,
	  DATA("") },
	{ "bytes after the end not consumed", IN("0\r\n\r\nGET / HTTP/1.1\r\n"),
	  .want = 1, DATA(""), .tail = 16 },
	{ "next chunk-looking bytes not consumed", IN("1\r\na\r\n0\r\n\r\n"
	  "1\r\nb\r\n0\r\n\r\n"), .want = 1, DATA("a"), .tail = 11 },
	{ "data holding CRLFs", IN("4\r\n\r\n\r\n\r\n0\r\n\r\n"), .want = 1,
	  DATA("\r\n\r\n") },
	{ "data holding NULs", IN("3\r\n\0\0\0\r\n0\r\n\r\n"), .want = 1,
	  DATA("\0\0\0") },
	{ "exactly cap", IN("5\r\nhello\r\n0\r\n\r\n"), .cap = 5, .want = 1,
	  DATA("hello") },
	{ "zero cap, empty body", IN("0\r\n\r\n"), .cap = (size_t)-1, .want = 1,
	  DATA("") },
	{ "size line at the limit", .gen = gen_size_line_at_limit, .want = 1,
	  DATA("x") },
	{ "trailers at the limit", .gen = gen_trailers_at_limit, .want = 1,
	  DATA("") },
	{ "incomplete: no last chunk", IN("5\r\nhello\r\n"), .want = 0,
	  DATA("hello") },
	{ "incomplete: inside data", IN("5\r\nhel"), .want = 0, DATA("hel") },
	{ "incomplete: no final CRLF", IN("0\r\n"), .want = 0, DATA("") },
	{ "incomplete: inside a trailer", IN("0\r\nX: y"), .want = 0,
	  DATA("") },
	{ "incomplete: nothing", IN(""), .want = 0, DATA("") },

	{ "garbage after size", IN("2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n"),
	  .want = -400, DATA("") },
	{ "empty extension", IN("2;\r\naa\r\n0\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "extension without a name", IN("2;=x\r\naa\r\n0\r\n\r\n"),
	  .want = -400, DATA("") },
	{ "space after size", IN("2 \r\naa\r\n0\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "space after extension name", IN("2;a \r\naa\r\n0\r\n\r\n"),
	  .want = -400, DATA("") },
	{ "extension value missing", IN("2;a=\r\naa\r\n0\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "bad char in extension value", IN("2;a=b@c\r\naa\r\n0\r\n\r\n"),
	  .want = -400, DATA("") },
	{ "unterminated quoted value", IN("5;a=\"abc;b=\"def; ghi\r\nhello\r\n"
	  "0\r\n\r\n"), .want = -400, DATA("") },
	{ "empty size line", IN("\r\n0\r\n\r\n"), .want = -400, DATA("") },
	{ "leading space before size", IN(" 5\r\nhello\r\n0\r\n\r\n"),
	  .want = -400, DATA("") },
	{ "non-hex size", IN("g\r\n"), .want = -400, DATA("") },
	{ "0x prefix", IN("0x5\r\nhello\r\n0\r\n\r\n"), .want = -400, DATA("") },
	{ "negative size", IN("-5\r\nhello\r\n0\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "size overflows 64 bits", IN("10000000000000000\r\nx\r\n"),
	  .want = -400, DATA("") },
	{ "huge size over cap", IN("ffffffffffffffff\r\nx\r\n"), .want = -413,
	  DATA("") },
	{ "chunk over cap", IN("5\r\nhello\r\n0\r\n\r\n"), .cap = 4,
	  .want = -413, DATA("") },
	{ "total over cap", IN("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), .cap = 8,
	  .want = -413, DATA("hello") },
	{ "data longer than size", IN("3\r\nfoo\r\n\r\n"), .want = -400,
	  DATA("foo") },
	{ "no CRLF after data", IN("5\r\nhelloX\r\n0\r\n\r\n"), .want = -400,
	  DATA("hello") },
	{ "CR without LF after data", IN("5\r\nhello\rX0\r\n\r\n"), .want = -400,
	  DATA("hello") },
	{ "bare LF after data", IN("5\r\nhello\n0\r\n\r\n"), .want = -400,
	  DATA("hello") },
	{ "bare LF after size", IN("5\nhello\r\n0\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "bare CR after size", IN("5\rhello\r\n0\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "CR CR after size", IN("5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n"),
	  .want = -400, DATA("") },
	{ "size line too long", .gen = gen_size_line_over_limit, .want = -400,
	  DATA("") },
	{ "trailer obs-fold", IN("0\r\nX: a\r\n b\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "trailer bare LF", IN("0\r\nX: a\n\r\n"), .want = -400, DATA("") },
	{ "trailer space before colon", IN("0\r\nX : a\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "trailer without colon", IN("0\r\nX\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "trailer NUL in value", IN("0\r\nX: a\0b\r\n\r\n"), .want = -400,
	  DATA("") },
	{ "final bare LF", IN("0\r\n\n"), .want = -400, DATA("") },
	{ "final CR without LF", IN("0\r\n\rX"), .want = -400, DATA("") },
	{ "trailers over the limit", .gen = gen_trailers_over_limit,
	  .want = -400, DATA("") },
};

#define NCHUNK (int)(sizeof(chunk_cases) / sizeof(chunk_cases[0]))

struct chunk_result {
	int rc;
	size_t used;	/* bytes consumed in all */
	size_t made;	/* data bytes reported in all */
	uint64_t total;
};

/*
 * Decode in[0..len) in pieces: cut at split (if 0 < split < len), or one
 * byte at a time if bytewise.  Each piece ends at the input guard page;
 * out ends at the output guard page.
 */
static struct chunk_result
chunk_run(const struct chunk_case *tc, const char *in, size_t len,
    size_t split, int bytewise, struct guard *gin, char *out, size_t cap)
{
	struct chunk_result res = { 0, 0, 0, 0 };
	struct http_chunked ch;
	size_t pos = 0;

	http_chunked_init(&ch);
	do {
		size_t end, used = 0, made = 0, n;
		char *p;

		if (bytewise)
			end = pos + (pos < len);
		else
			end = pos < split && split < len ? split : len;
		n = end - pos;
		p = guard_place(gin, in + pos, n);
		res.rc = http_chunked_decode(&ch, p, n, &used, out, cap, &made);
		ck_assert_msg(used <= n, "%s: used %zu of %zu bytes", tc->name,
		    used, n);
		ck_assert_msg(res.rc == 0 || res.rc == 1 || res.rc == -400 ||
		    res.rc == -413, "%s: got %d", tc->name, res.rc);
		res.used += used;
		res.made += made;
		if (res.rc != 0)
			break;
		ck_assert_msg(used == n, "%s: returned 0 but used %zu of %zu",
		    tc->name, used, n);
		pos = end;
	} while (pos < len);
	res.total = ch.total;
	return res;
}

/* One chunked case: whole, split at every point, and byte by byte. */
START_TEST(test_chunk_case)
{
	const struct chunk_case *tc = &chunk_cases[_i];
	struct chunk_result whole, r;
	struct guard gin, gout;
	const char *in;
	size_t len, cap, k;
	char *out;
	int mode;

	if (tc->gen != NULL) {
		len = tc->gen();
		in = genbuf;
	} else {
		len = tc->len;
		in = tc->in;
	}
	cap = tc->cap == 0 ? 1024 : tc->cap == (size_t)-1 ? 0 : tc->cap;
	guard_init(&gin, len);
	guard_init(&gout, cap);
	out = gout.base + gout.size - cap;

	whole = chunk_run(tc, in, len, 0, 0, &gin, out, cap);
	ck_assert_msg(whole.rc == tc->want, "%s: got %d, want %d", tc->name,
	    whole.rc, tc->want);
	ck_assert_msg(whole.made == whole.total, "%s: made %zu, total %ju",
	    tc->name, whole.made, (uintmax_t)whole.total);
	if (tc->data != NULL) {
		ck_assert_msg(whole.made == tc->dlen, "%s: data: got %zu bytes, "
		    "want %zu", tc->name, whole.made, tc->dlen);
		ck_assert_msg(memcmp(out, tc->data, tc->dlen) == 0,
		    "%s: data: got \"%.*s\", want \"%.*s\"", tc->name,
		    (int)whole.made, out, (int)tc->dlen, tc->data);
	}
	if (tc->want >= 0)
		ck_assert_msg(whole.used == len - tc->tail,
		    "%s: used: got %zu, want %zu", tc->name, whole.used,
		    len - tc->tail);

	for (mode = 0; mode < 2; mode++) {
		for (k = 1; k < (mode ? 2 : len); k++) {
			memset(out, 0, cap);
			r = chunk_run(tc, in, len, k, mode, &gin, out, cap);
			ck_assert_msg(r.rc == whole.rc && r.used == whole.used &&
			    r.made == whole.made,
			    "%s: %s %zu: got rc %d used %zu made %zu, "
			    "want %d %zu %zu", tc->name,
			    mode ? "byte by byte" : "split at", k, r.rc, r.used,
			    r.made, whole.rc, whole.used, whole.made);
			if (tc->data != NULL)
				ck_assert_msg(memcmp(out, tc->data, tc->dlen)
				    == 0, "%s: split %zu: data differs",
				    tc->name, k);
		}
	}
	guard_free(&gin);
	guard_free(&gout);
}
END_TEST

/* After the end or an error the decoder stays put. */
START_TEST(test_chunk_sticky)
{
	struct http_chunked ch;
	char out[16];
	size_t used, made;
	int rc;

	http_chunked_init(&ch);
	rc = http_chunked_decode(&ch, "0\r\n\r\nXYZ", 8, &used, out,
	    sizeof(out), &made);
	ck_assert_msg(rc == 1 && used == 5, "end: got %d used %zu, want 1 5",
	    rc, used);
	rc = http_chunked_decode(&ch, "XYZ", 3, &used, out, sizeof(out), &made);
	ck_assert_msg(rc == 1 && used == 0 && made == 0,
	    "after end: got %d used %zu made %zu, want 1 0 0", rc, used, made);

	http_chunked_init(&ch);
	rc = http_chunked_decode(&ch, "z\r\n", 3, &used, out, sizeof(out),
	    &made);
	ck_assert_msg(rc == -400, "bad size: got %d, want -400", rc);
	rc = http_chunked_decode(&ch, "0\r\n\r\n", 5, &used, out, sizeof(out),
	    &made);
	ck_assert_msg(rc == -400 && used == 0,
	    "after error: got %d used %zu, want -400 0", rc, used);
}
END_TEST

/* Build the suite. */
static Suite *
parser_suite(void)
{
	Suite *s = suite_create("http_parser");
	TCase *tc;

	tc = tcase_create("head");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_head_case, 0, NHEAD);
	tcase_add_test(tc, test_pipeline);
	tcase_add_test(tc, test_status_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_field_limit_sweep, 0, 2 * FIELD_SWEEP);
	tcase_add_loop_test(tc, test_line_limit_sweep, 0, 2 * LINE_SWEEP);
	suite_add_tcase(s, tc);

	tc = tcase_create("mutants");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_mutants, 0, MUTANT_CASES);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_chunk_case, 0, NCHUNK);
	tcase_add_test(tc, test_chunk_sticky);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the number of failures (capped). */
int
main(void)
{
	SRunner *sr = srunner_create(parser_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("%d head cases, %d chunked cases\n", NHEAD, NCHUNK);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
