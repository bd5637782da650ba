/*
 * http_parser — a strict HTTP/1.1 request parser (RFC 9112 / RFC 9110).
 *
 * Pure functions over caller-owned bytes: no I/O, no allocation, no hidden
 * state, no logging.  Like picohttpparser, the head parser is called again
 * with the whole buffer as more bytes arrive and returns slices into it;
 * its state between calls lives in a small caller-owned struct, so it
 * resumes where the previous call stopped and a head dribbled byte by
 * byte costs linear time.  The chunked body decoder keeps its state the
 * same way, so it can be fed any split of the body.
 *
 *   http_head_init(s)
 *   http_parse_head_more(s, buf, len, req)
 *       > 0   a complete request head; the value is its length in bytes
 *             (leading empty lines, request line, fields, final CRLF)
 *       0     incomplete: call again with more bytes
 *       < 0   -STATUS: reject with that HTTP status and close
 *             (400, 414, 417, 431, 501, 505); req->error says why
 *       buf must be the same buffer on every call of one scan, its first
 *       len bytes unchanged since the last call (more may follow); bytes
 *       before s->line are never read again, and s->next is where the next
 *       call starts examining (every byte before it was examined once).
 *       After a verdict the scan keeps returning it; init s for the next
 *       head.  req is set on every call (slices valid on a verdict > 0).
 *   http_parse_head(buf, len, req)
 *       the same in one call, from a fresh scan
 *   http_chunked_init(ch)
 *   http_chunked_decode(ch, in, len, &used, out, cap, &made)
 *       1 the body and its trailers are complete, 0 more bytes needed,
 *       -400 bad framing, -413 the data would exceed cap in total
 *
 * What it enforces (every violation is -400 unless noted):
 *   - request line "METHOD SP target SP HTTP/x.y CRLF", single spaces;
 *     a request line over HTTP_MAX_REQUEST_LINE bytes is -414 (also while
 *     still incomplete); major version != 1 is -505; up to
 *     HTTP_MAX_EMPTY_LINES empty lines before it are skipped
 *   - methods: GET HEAD POST PUT DELETE OPTIONS PATCH TRACE are known;
 *     any other token (CONNECT included) is -501; a non-token is -400
 *   - targets: origin-form "/...", absolute-form "http://host[:port]/..."
 *     (path extracted; "http://host" means "/"), "*" only with OPTIONS;
 *     bytes outside RFC 3986's set (CTL, SP, non-ASCII, '"', '<', '>',
 *     '\', '^', '`', '{', '|', '}', '#') are rejected
 *   - header section over HTTP_MAX_HEAD bytes or HTTP_MAX_FIELDS fields is
 *     -431 (also while incomplete)
 *   - CRLF only: a bare LF or bare CR anywhere in the head; obs-fold;
 *     whitespace before ':'; a non-token field name; NUL, CR, LF or other
 *     CTL (HTAB allowed) in a value
 *   - Content-Length: 1*DIGIT after trimming OWS; duplicates (even equal),
 *     lists and overflow are rejected
 *   - Transfer-Encoding: comma lists over all TE fields; "chunked" must be
 *     last and appear once; any other coding is -501; TE with CL, or TE on
 *     HTTP/1.0, is rejected
 *   - Host: exactly one on HTTP/1.1 (optional on 1.0, at most one); value
 *     is reg-name / IPv4 / "[" IPv6 "]" with an optional ":port"
 *   - Expect: "100-continue" (case-insensitive) sets expect_continue; any
 *     other expectation is -417
 *   - Connection: a token list; "close" and "keep-alive" are honoured
 *     (HTTP/1.0 is close unless keep-alive)
 *   - Authorization: at most one (its value is passed on unparsed)
 *
 * Details the rules above leave open (decided in http_parser.c):
 *   - The head is checked strictly left to right and the first violation
 *     wins, so every prefix of an input gives 0 or the final verdict.
 *     Checks that need the whole head run at the final CRLF, in this
 *     order: chunked not last (also TE without chunked, e.g. "gzip"),
 *     missing Host, then any other coding (-501: "gzip, chunked").
 *   - Limits: the request line is counted without its CRLF; the field
 *     section is every byte after the request line, final CRLF included.
 *   - HTTP/1.2 to 1.9 are served as 1.1 (version_minor 1); a major
 *     version other than 1 is -505 as soon as its digit arrives.
 *   - Targets: '%' must start a %XX escape.  Absolute-form must use the
 *     "http" scheme (any case), no userinfo; host is then the target's
 *     authority (RFC 9112 §3.2.2), and for "http://host" path points at
 *     the second '/' of "http://" so every slice stays in buf.
 *   - Host: an empty value is rejected; a port is 1-5 digits <= 65535.
 *   - Transfer-Encoding elements are bare tokens: a transfer-parameter
 *     or quoted string is -400.  Empty list elements are skipped, but a
 *     TE field with no coding at all is -400.
 *   - Expect on HTTP/1.0: 100-continue is ignored (RFC 9110 §10.1.1)
 *     and leaves expect_continue 0; another expectation is still -417.
 *   - Chunked (RFC 9112 §7.1): whitespace is allowed only as BWS around
 *     ';' and '=' in extensions, so "2 ", "2;" and "2;a " are -400; a
 *     size line (without CRLF) over HTTP_MAX_CHUNK_LINE or a size over
 *     64 bits is -400; a size over what cap still holds is -413 at the LF
 *     ending its line.  Trailer fields follow the head's field syntax
 *     and are discarded; a trailer section (final CRLF included) over
 *     HTTP_MAX_TRAILERS is -400.  After 1 or an error the decoder keeps
 *     returning it with *used 0; on an error *used is the offset of the
 *     offending byte in this call.
 */
#ifndef JOBQD_HTTP_PARSER_H
#define JOBQD_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_REQUEST_LINE	8192
#define HTTP_MAX_HEAD		16384	/* the field section, after the request line */
#define HTTP_MAX_FIELDS		100
#define HTTP_MAX_EMPTY_LINES	8
#define HTTP_MAX_CHUNK_LINE	4096	/* chunk-size line with extensions */
#define HTTP_MAX_TRAILERS	16384

enum http_method {
	HTTP_GET = 1,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_TRACE,
};

struct http_request {
	enum http_method method;
	const char *target;	/* as sent */
	size_t target_len;
	const char *path;	/* origin path without the query ("*" for asterisk-form) */
	size_t path_len;
	const char *query;	/* after '?', or NULL */
	size_t query_len;
	int version_minor;	/* 0 or 1 */
	const char *host;	/* NULL when absent */
	size_t host_len;
	const char *authorization;	/* the Authorization value, NULL when absent */
	size_t authorization_len;
	const char *idempotency_key;	/* 1-255 of 0x21..0x7e, NULL when absent */
	size_t idempotency_key_len;
	int has_content_length;
	uint64_t content_length;
	int chunked;
	int expect_continue;
	int keep_alive;		/* after the version and Connection */
	size_t fields;		/* number of header fields */
	const char *error;	/* static reason when rejected, else NULL */
};

/* What the field section has seen so far, beyond struct http_request. */
struct http_head_ctx {
	const unsigned char *authority;	/* absolute-form target, or NULL */
	size_t authority_len;
	int hosts;			/* Host fields seen */
	int te;				/* a Transfer-Encoding field was seen */
	int te_other;			/* a coding other than chunked was seen */
	int conn_close;
	int conn_keep_alive;
};

/* A head scan between calls: next and line are for callers to read (tests,
 * benchmarks); the rest is the parser's. */
struct http_head_scan {
	size_t next;		/* the next byte to examine */
	size_t line;		/* the start of the current line */
	int phase;
	int empty;		/* empty lines skipped */
	int verdict;
	size_t fs;		/* the start of the field section */
	size_t mark, mark2;	/* offsets within the current line */
	struct http_head_ctx ctx;
	struct http_request req;
};

void http_head_init(struct http_head_scan *s);
/* Resume parsing a request head at the start of buf (see above). */
int http_parse_head_more(struct http_head_scan *s, const char *buf,
    size_t len, struct http_request *req);
/* Parse a request head at the start of buf from scratch (see above). */
int http_parse_head(const char *buf, size_t len, struct http_request *req);

struct http_chunked {
	int state;
	uint64_t remaining;	/* data bytes left in the current chunk */
	uint64_t total;		/* data bytes produced so far */
	size_t line;		/* bytes seen on the current size/trailer line */
	size_t trailer_bytes;
	unsigned flags;
};

void http_chunked_init(struct http_chunked *ch);
/* Decode from in[0..len): *used is set to the bytes consumed.  out is the
 * whole body buffer of cap bytes: data is appended at out + ch->total (what
 * earlier calls produced) and *made is set to the data bytes this call
 * wrote.  Bytes after the end of the message are not consumed.  Returns 1 when
 * the last chunk and trailer section are complete, 0 when more is needed,
 * -400 on bad framing, -413 when the body would exceed cap bytes. */
int http_chunked_decode(struct http_chunked *ch, const char *in, size_t len,
    size_t *used, char *out, size_t cap, size_t *made);

/* A reason phrase for a status code ("Bad Request"), "" if unknown. */
const char *http_status_text(int status);

#endif
