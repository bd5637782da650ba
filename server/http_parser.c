/*
 * http_parser — strict HTTP/1.1 request head parser and chunked decoder.
 *
 * http_parse_head_more() scans the head strictly left to right, resuming
 * where its previous call stopped, and every check fires at the first
 * byte that decides it.  A verdict therefore depends only on the bytes before the
 * point where it is given: every prefix of an input gives 0 or the same
 * verdict, and the limits (414, 431) fire while the head is incomplete.
 * The checks that need the whole head (Host present, chunked last, an
 * unknown coding) run at the final empty line.
 *
 * http_chunked_decode() is a byte-driven state machine whose state lives
 * in struct http_chunked, so any split of the body gives the same result;
 * chunk data is copied in runs.
 *
 * No I/O, no allocation, no mutable globals.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/http_parser.h"

/* --- character classes ---------------------------------------------------- */

/*
 * Each byte's classes are bits of cclass[byte], so a scan tests a byte
 * with one load and a mask.  Each class is written once below as its RFC
 * rule; the table is those rules evaluated at compile time.
 */
enum {
	C_TCHAR = 1 << 0,	/* tchar (RFC 9110 §5.6.2): method, field name */
	C_TARGET = 1 << 1,	/* a request-target byte: RFC 3986 unreserved,
				 * sub-delims, gen-delims but '#' (§3.5), '%' */
	C_REGNAME = 1 << 2,	/* unreserved / sub-delims (RFC 3986 §3.2.2
				 * reg-name, pct-encoded checked apart) */
	C_VALUE = 1 << 3,	/* a field-value byte (RFC 9110 §5.5): HTAB, SP,
				 * VCHAR, obs-text */
	C_QDTEXT = 1 << 4,	/* qdtext (RFC 9110 §5.6.4) */
	C_HEX = 1 << 5,		/* HEXDIG (RFC 5234 §B.1) */
};

#define DIGIT_(c)	((c) >= '0' && (c) <= '9')
#define ALNUM_(c)	(DIGIT_(c) || ((c) >= 'a' && (c) <= 'z') || \
			    ((c) >= 'A' && (c) <= 'Z'))
#define TCHAR_(c)	(ALNUM_(c) || (c) == '!' || (c) == '#' || (c) == '$' || \
			    (c) == '%' || (c) == '&' || (c) == '\'' || (c) == '*' || \
			    (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || \
			    (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define REGNAME_(c)	(ALNUM_(c) || (c) == '-' || (c) == '.' || (c) == '_' || \
			    (c) == '~' || (c) == '!' || (c) == '$' || (c) == '&' || \
			    (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || \
			    (c) == '+' || (c) == ',' || (c) == ';' || (c) == '=')
#define TARGET_(c)	(REGNAME_(c) || (c) == ':' || (c) == '/' || (c) == '?' || \
			    (c) == '[' || (c) == ']' || (c) == '@' || (c) == '%')
#define VALUE_(c)	((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f))
#define QDTEXT_(c)	((c) == '\t' || (c) == ' ' || (c) == '!' || \
			    ((c) >= 0x23 && (c) <= 0x5b) || ((c) >= 0x5d && (c) != 0x7f))
#define HEX_(c)		(DIGIT_(c) || ((c) >= 'a' && (c) <= 'f') || \
			    ((c) >= 'A' && (c) <= 'F'))
#define CLASSES(c)	((TCHAR_(c) ? C_TCHAR : 0) | (TARGET_(c) ? C_TARGET : 0) | \
			    (REGNAME_(c) ? C_REGNAME : 0) | (VALUE_(c) ? C_VALUE : 0) | \
			    (QDTEXT_(c) ? C_QDTEXT : 0) | (HEX_(c) ? C_HEX : 0))
#define CLASSES4(c)	CLASSES(c), CLASSES((c) + 1), CLASSES((c) + 2), CLASSES((c) + 3)
#define CLASSES16(c)	CLASSES4(c), CLASSES4((c) + 4), CLASSES4((c) + 8), \
			    CLASSES4((c) + 12)

static const unsigned char cclass[256] = {
	CLASSES16(0x00), CLASSES16(0x10), CLASSES16(0x20), CLASSES16(0x30),
	CLASSES16(0x40), CLASSES16(0x50), CLASSES16(0x60), CLASSES16(0x70),
	CLASSES16(0x80), CLASSES16(0x90), CLASSES16(0xa0), CLASSES16(0xb0),
	CLASSES16(0xc0), CLASSES16(0xd0), CLASSES16(0xe0), CLASSES16(0xf0),
};

/* Is c a hex digit? */
static int
is_hex(unsigned char c)
{
	return cclass[c] & C_HEX;
}

/* The value of hex digit c. */
static unsigned
hex_val(unsigned char c)
{
	if (c <= '9')
		return (unsigned)(c - '0');
	return (unsigned)((c | 0x20) - 'a' + 10);
}

/* Is c a tchar? */
static int
is_tchar(unsigned char c)
{
	return cclass[c] & C_TCHAR;
}

/* May c appear in a field value? */
static int
is_value_char(unsigned char c)
{
	return cclass[c] & C_VALUE;
}

/* May c appear unescaped in a quoted-string? */
static int
is_qdtext(unsigned char c)
{
	return cclass[c] & C_QDTEXT;
}

/* Is c optional whitespace (SP or HTAB)? */
static int
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Compare p[0..n) with the lower-case string s, ignoring ASCII case. */
static int
eq_nocase(const unsigned char *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (s[i] == '\0')
			return 0;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c | 0x20);
		if (c != (unsigned char)s[i])
			return 0;
	}
	return s[n] == '\0';
}

/* --- authority (Host and absolute-form) ----------------------------------- */

/* Is p[0..n) a dec-octet dotted IPv4 address (RFC 3986)? */
static int
valid_ipv4(const unsigned char *p, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		size_t s = i;
		unsigned v = 0;

		if (part > 0) {
			if (i == n || p[i] != '.')
				return 0;
			s = ++i;
		}
		while (i < n && p[i] >= '0' && p[i] <= '9' && i - s < 3)
			v = v * 10 + (unsigned)(p[i++] - '0');
		if (i == s || v > 255 || (i - s > 1 && p[s] == '0'))
			return 0;
	}
	return i == n;
}

/* Is p[0..n) an IPv6 address (RFC 3986 IPv6address, no zone)? */
static int
valid_ipv6(const unsigned char *p, size_t n)
{
	size_t i = 0, groups = 0;
	int gap = 0;

	if (n >= 2 && p[0] == ':' && p[1] == ':') {
		gap = 1;
		i = 2;
		if (i == n)
			return 1;
	}
	for (;;) {
		size_t s = i;

		while (i < n && is_hex(p[i]) && i - s < 4)
			i++;
		if (i < n && p[i] == '.') {
			/* an IPv4 tail takes the place of two groups */
			if (!valid_ipv4(p + s, n - s))
				return 0;
			groups += 2;
			break;
		}
		if (i == s)
			return 0;
		groups++;
		if (i == n)
			break;
		if (p[i] != ':')
			return 0;
		i++;
		if (i < n && p[i] == ':') {
			if (gap)
				return 0;
			gap = 1;
			if (++i == n)
				break;
		} else if (i == n)
			return 0;
	}
	return gap ? groups <= 7 : groups == 8;
}

/*
 * Is p[0..n) uri-host [ ":" port ]?  The host is a non-empty reg-name (with
 * valid pct-encoding; IPv4 is a subset) or "[" IPv6 "]"; a port is 1 to 5
 * digits, at most 65535.
 */
static int
valid_authority(const unsigned char *p, size_t n)
{
	size_t i = 0;
	unsigned long port = 0;

	if (n == 0)
		return 0;
	if (p[0] == '[') {
		while (i < n && p[i] != ']')
			i++;
		if (i == n || !valid_ipv6(p + 1, i - 1))
			return 0;
		i++;
	} else {
		/* a reg-name; whatever ends it must be the port's ':' */
		while (i < n) {
			if (cclass[p[i]] & C_REGNAME)
				i++;
			else if (p[i] == '%' && n - i >= 3 && is_hex(p[i + 1]) &&
			    is_hex(p[i + 2]))
				i += 3;
			else
				break;
		}
		if (i == 0)
			return 0;
	}
	if (i == n)
		return 1;
	if (p[i] != ':' || n - i < 2 || n - i > 6)
		return 0;
	for (i++; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		port = port * 10 + (unsigned long)(p[i] - '0');
	}
	return port <= 65535;
}

/* --- request head --------------------------------------------------------- */

/* Record a rejection reason and return the verdict. */
static int
reject(struct http_request *req, int status, const char *why)
{
	req->error = why;
	return -status;
}

/* Map a method token to its enum; 0 if unknown. */
static enum http_method
method_lookup(const unsigned char *p, size_t n)
{
#define M(name, m)	{ name, sizeof(name) - 1, m }
	static const struct {
		const char *name;
		size_t len;
		enum http_method m;
	} tab[] = {
		M("GET", HTTP_GET), M("HEAD", HTTP_HEAD), M("POST", HTTP_POST),
		M("PUT", HTTP_PUT), M("DELETE", HTTP_DELETE),
		M("OPTIONS", HTTP_OPTIONS), M("PATCH", HTTP_PATCH),
		M("TRACE", HTTP_TRACE),
	};
#undef M
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].len == n && memcmp(tab[i].name, p, n) == 0)
			return tab[i].m;
	return (enum http_method)0;
}

/* Set path and query from p[0..n), which starts with '/'. */
static void
split_path(struct http_request *req, const char *p, size_t n)
{
	const char *q = memchr(p, '?', n);

	req->path = p;
	req->path_len = q ? (size_t)(q - p) : n;
	if (q) {
		req->query = q + 1;
		req->query_len = n - req->path_len - 1;
	}
}

/* Check the form of the request-target t[0..n) and set path and query. */
static int
parse_target(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *t, size_t n)
{
	const char *ct = (const char *)t;
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i] == '%' && (n - i < 3 || !is_hex(t[i + 1]) ||
		    !is_hex(t[i + 2])))
			return reject(req, 400, "bad percent-encoding in target");
	req->target = ct;
	req->target_len = n;
	if (t[0] == '/') {
		split_path(req, ct, n);
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		if (req->method != HTTP_OPTIONS)
			return reject(req, 400, "asterisk-form without OPTIONS");
		req->path = ct;
		req->path_len = 1;
		return 0;
	}
	if (n >= 7 && eq_nocase(t, 7, "http://")) {
		for (i = 7; i < n && t[i] != '/' && t[i] != '?'; i++)
			continue;
		if (!valid_authority(t + 7, i - 7))
			return reject(req, 400, "invalid authority in target");
		ctx->authority = t + 7;
		ctx->authority_len = i - 7;
		if (i < n && t[i] == '/') {
			split_path(req, ct + i, n - i);
		} else {
			/* "http://host[?q]": the path is "/", the second
			 * slash of "http://" */
			req->path = ct + 6;
			req->path_len = 1;
			if (i < n) {
				req->query = ct + i + 1;
				req->query_len = n - i - 1;
			}
		}
		return 0;
	}
	return reject(req, 400, "unsupported request-target form");
}

/* Parse a Content-Length value. */
static int
field_content_length(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	uint64_t x = 0;
	size_t i;

	if (req->has_content_length)
		return reject(req, 400, "duplicate Content-Length");
	if (ctx->te)
		return reject(req, 400, "Content-Length with Transfer-Encoding");
	if (n == 0)
		return reject(req, 400, "empty Content-Length");
	for (i = 0; i < n; i++) {
		unsigned d;

		if (v[i] < '0' || v[i] > '9')
			return reject(req, 400, "invalid Content-Length");
		d = (unsigned)(v[i] - '0');
		if (x > UINT64_MAX / 10 || x * 10 > UINT64_MAX - d)
			return reject(req, 400, "Content-Length overflow");
		x = x * 10 + d;
	}
	req->has_content_length = 1;
	req->content_length = x;
	return 0;
}

/* The next element of a comma-separated list of tokens in v[0..n),
 * starting at *i (empty elements are skipped): 1 with the token in
 * v[*s..*e), 0 at the end, -1 when an element is not a bare token. */
static int
list_next(const unsigned char *v, size_t n, size_t *i, size_t *s, size_t *e)
{
	while (*i < n && (is_ows(v[*i]) || v[*i] == ','))
		(*i)++;
	if (*i == n)
		return 0;
	*s = *i;
	while (*i < n && is_tchar(v[*i]))
		(*i)++;
	*e = *i;
	while (*i < n && is_ows(v[*i]))
		(*i)++;
	if (*e == *s || (*i < n && v[*i] != ','))
		return -1;
	return 1;
}

/*
 * Parse one Transfer-Encoding field: a comma list of tokens (empty list
 * elements are ignored, transfer parameters are not accepted).  Once
 * chunked is seen, nothing may follow it in this or a later field.
 */
static int
field_transfer_encoding(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	size_t i = 0, s = 0, e = 0, elems = 0;
	int r;

	if (req->version_minor == 0)
		return reject(req, 400, "Transfer-Encoding on HTTP/1.0");
	if (req->has_content_length)
		return reject(req, 400, "Content-Length with Transfer-Encoding");
	ctx->te = 1;
	while ((r = list_next(v, n, &i, &s, &e)) == 1) {
		elems++;
		if (req->chunked)
			return reject(req, 400, "chunked is not the last coding");
		if (eq_nocase(v + s, e - s, "chunked"))
			req->chunked = 1;
		else
			ctx->te_other = 1;
	}
	if (r == -1)
		return reject(req, 400, "invalid transfer coding");
	if (elems == 0)
		return reject(req, 400, "empty Transfer-Encoding");
	return 0;
}

/* Parse a Connection value: a comma list of tokens. */
static int
field_connection(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	size_t i = 0, s = 0, e = 0;
	int r;

	while ((r = list_next(v, n, &i, &s, &e)) == 1) {
		if (eq_nocase(v + s, e - s, "close"))
			ctx->conn_close = 1;
		else if (eq_nocase(v + s, e - s, "keep-alive"))
			ctx->conn_keep_alive = 1;
	}
	if (r == -1)
		return reject(req, 400, "invalid Connection");
	return 0;
}

/* Parse a Host value. */
static int
field_host(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	if (++ctx->hosts > 1)
		return reject(req, 400, "duplicate Host");
	if (!valid_authority(v, n))
		return reject(req, 400, "invalid Host");
	req->host = (const char *)v;
	req->host_len = n;
	return 0;
}

/* Keep an Authorization value. */
static int
field_authorization(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	(void)ctx;
	if (req->authorization != NULL)
		return reject(req, 400, "duplicate Authorization");
	req->authorization = (const char *)v;
	req->authorization_len = n;
	return 0;
}

/* Parse an Idempotency-Key value. */
static int
field_idempotency_key(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	(void)ctx;
	if (req->idempotency_key != NULL)
		return reject(req, 400, "duplicate Idempotency-Key");
	if (n == 0 || n > 255)
		return reject(req, 400, "invalid Idempotency-Key");
	for (size_t k = 0; k < n; k++)
		if (v[k] < 0x21 || v[k] > 0x7e)
			return reject(req, 400, "invalid Idempotency-Key");
	req->idempotency_key = (const char *)v;
	req->idempotency_key_len = n;
	return 0;
}

/* Parse an Expect value. */
static int
field_expect(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *v, size_t n)
{
	(void)ctx;
	if (!eq_nocase(v, n, "100-continue"))
		return reject(req, 417, "unsupported expectation");
	/* RFC 9110 §10.1.1: ignored on HTTP/1.0 */
	req->expect_continue = req->version_minor >= 1;
	return 0;
}

/*
 * Apply the rules for one complete field line (value without OWS).  The
 * names it knows differ in length, so the length picks the one name to
 * compare (a duplicate case label would not compile); other fields are
 * passed over.
 */
static int
field_line(struct http_request *req, struct http_head_ctx *ctx,
    const unsigned char *name, size_t nlen, const unsigned char *v, size_t n)
{
#define KNOWN(s, fn)	case sizeof(s) - 1:				\
	return eq_nocase(name, nlen, s) ? fn(req, ctx, v, n) : 0
	switch (nlen) {
	KNOWN("host", field_host);
	KNOWN("expect", field_expect);
	KNOWN("connection", field_connection);
	KNOWN("authorization", field_authorization);
	KNOWN("content-length", field_content_length);
	KNOWN("idempotency-key", field_idempotency_key);
	KNOWN("transfer-encoding", field_transfer_encoding);
	}
#undef KNOWN
	return 0;
}

/* The checks that need the whole field section. */
static int
head_done(struct http_request *req, struct http_head_ctx *ctx)
{
	if (ctx->te && !req->chunked)
		return reject(req, 400, "chunked is not the last coding");
	if (req->version_minor >= 1 && ctx->hosts == 0)
		return reject(req, 400, "missing Host");
	if (ctx->te_other)
		return reject(req, 501, "unsupported transfer coding");
	if (ctx->authority) {
		/* RFC 9112 §3.2.2: the target's authority replaces Host */
		req->host = (const char *)ctx->authority;
		req->host_len = ctx->authority_len;
	}
	if (ctx->conn_close)
		req->keep_alive = 0;
	else
		req->keep_alive = req->version_minor >= 1 || ctx->conn_keep_alive;
	return 0;
}

/* Where a head scan stands (struct http_head_scan's phase). */
enum {
	P_EMPTY = 0,	/* empty lines before the request line */
	P_EMPTY_LF,	/* CR of an empty line seen */
	P_METHOD,
	P_TARGET,	/* mark: the target's start */
	P_VERSION,	/* mark: the version's start */
	P_FIELD,	/* the start of a field line or of the final CRLF */
	P_NAME,		/* mark: the name's start */
	P_VALUE,	/* mark2: the value's start */
	P_VALUE_LF,	/* CR after a value seen */
	P_END_LF,	/* CR of the final CRLF seen */
	P_DONE,		/* verdict given */
};

void
http_head_init(struct http_head_scan *s)
{
	memset(s, 0, sizeof(*s));
}

/* Parse a request head at the start of buf (see http_parser.h). */
int
http_parse_head(const char *buf, size_t len, struct http_request *req)
{
	struct http_head_scan s;

	http_head_init(&s);
	return http_parse_head_more(&s, buf, len, req);
}

/*
 * Resume the scan of a request head at s->next.  Each phase examines each
 * byte once, most of them in a run of one class that stops at the first
 * byte of another; a line's slices are looked at again only when the line
 * is complete (the method, the target, a field), so a head costs linear
 * time however it is split.
 */
int
http_parse_head_more(struct http_head_scan *s, const char *buf, size_t len,
    struct http_request *req)
{
	const unsigned char *b = (const unsigned char *)buf;
	struct http_request *r = &s->req;
	struct http_head_ctx *ctx = &s->ctx;
	size_t i = s->next;
	int phase = s->phase;
	int rc;

#define VERDICT(x)	do { rc = (x); goto verdict; } while (0)
/*
 * Every byte of the request line and of the field section is counted
 * before it is looked at.  RUN skips the bytes of class cls from i (none
 * when cls is 0; four at a time while it can) up to len and lim, the
 * offset of the first byte over the limit, then: at len, wait for more;
 * at lim, that verdict; else b[i] is the byte that ended the run, for the
 * caller to judge.
 */
#define RUN(cls, lim, status, why) do {					\
	size_t lim_ = (lim), stop_ = len < lim_ ? len : lim_;		\
	while (i + 4 <= stop_ && (cclass[b[i]] & cclass[b[i + 1]] &	\
	    cclass[b[i + 2]] & cclass[b[i + 3]] & (cls)))		\
		i += 4;							\
	while (i < stop_ && (cclass[b[i]] & (cls)))			\
		i++;							\
	if (i == len)							\
		goto more;						\
	if (i >= lim_)							\
		VERDICT(reject(r, status, why));			\
} while (0)
#define LINE_RUN(cls)	RUN(cls, s->line + HTTP_MAX_REQUEST_LINE, 414,	\
			    "request line too long")
#define FIELD_RUN(cls)	RUN(cls, s->fs + HTTP_MAX_HEAD, 431,		\
			    "header section too large")

	for (;;) {
		switch (phase) {
		case P_EMPTY:
			/* RFC 9112 §2.2: skip a few empty lines */
			if (i == len)
				goto more;
			if (b[i] == '\n')
				VERDICT(reject(r, 400, "bare LF"));
			if (b[i] != '\r') {
				s->line = i;
				phase = P_METHOD;
				break;
			}
			if (s->empty == HTTP_MAX_EMPTY_LINES)
				VERDICT(reject(r, 400, "too many empty lines"));
			i++;
			phase = P_EMPTY_LF;
			break;
		case P_EMPTY_LF:
			if (i == len)
				goto more;
			if (b[i] != '\n')
				VERDICT(reject(r, 400, "bare CR"));
			s->line = ++i;
			s->empty++;
			phase = P_EMPTY;
			break;
		case P_METHOD:
			LINE_RUN(C_TCHAR);
			if (b[i] != ' ')
				VERDICT(reject(r, 400, "invalid method"));
			if (i == s->line)
				VERDICT(reject(r, 400, "empty method"));
			r->method = method_lookup(b + s->line, i - s->line);
			if (r->method == 0)
				VERDICT(reject(r, 501, "unknown method"));
			s->mark = ++i;
			phase = P_TARGET;
			/* fall through */
		case P_TARGET:
			LINE_RUN(C_TARGET);
			if (b[i] != ' ')
				VERDICT(reject(r, 400, "invalid byte in target"));
			if (i == s->mark)
				VERDICT(reject(r, 400, "empty target"));
			if ((rc = parse_target(r, ctx, b + s->mark, i - s->mark)) < 0)
				VERDICT(rc);
			s->mark = ++i;
			phase = P_VERSION;
			/* fall through */
		case P_VERSION: {
			/* '#' is any digit; the CRLF is not counted in the limit */
			static const char version[] = "HTTP/#.#\r\n";
			const size_t vs = s->mark;

			for (;; i++) {
				size_t k = i - vs;
				unsigned char want;

				if (i == len)
					goto more;
				if (k < 8 && i - s->line >= HTTP_MAX_REQUEST_LINE)
					VERDICT(reject(r, 414, "request line too long"));
				want = (unsigned char)version[k];
				if (want == '#' ? b[i] < '0' || b[i] > '9' : b[i] != want)
					VERDICT(reject(r, 400, k == 9 ?
					    "bare CR in request line" : b[i] == '\n' ?
					    "bare LF in request line" :
					    "invalid HTTP version"));
				/* known at the major digit: reject without waiting */
				if (k == 5 && b[i] != '1')
					VERDICT(reject(r, 505, "HTTP major version not 1"));
				if (k == 9)
					break;
			}
			/* 1.2 and later minors are served as 1.1 (RFC 9110 §2.5) */
			r->version_minor = b[vs + 7] == '0' ? 0 : 1;
			s->line = s->fs = ++i;
			phase = P_FIELD;
		}
			/* fall through */
		case P_FIELD:
			FIELD_RUN(0);
			if (b[i] == '\r') {
				i++;
				phase = P_END_LF;
				break;
			}
			if (b[i] == '\n')
				VERDICT(reject(r, 400, "bare LF"));
			if (is_ows(b[i]))
				VERDICT(reject(r, 400, "obs-fold or leading whitespace"));
			if (r->fields == HTTP_MAX_FIELDS)
				VERDICT(reject(r, 431, "too many header fields"));
			phase = P_NAME;
			/* fall through */
		case P_NAME:
			FIELD_RUN(C_TCHAR);
			if (b[i] != ':')
				VERDICT(reject(r, 400, is_ows(b[i]) ?
				    "whitespace before colon" : "invalid field name"));
			if (i == s->line)
				VERDICT(reject(r, 400, "empty field name"));
			s->mark = i++;	/* the name's end */
			s->mark2 = i;
			phase = P_VALUE;
			/* fall through */
		case P_VALUE:
			FIELD_RUN(C_VALUE);
			if (b[i] != '\r')
				VERDICT(reject(r, 400, b[i] == '\n' ? "bare LF" :
				    b[i] == '\0' ? "NUL in field value" :
				    "control character in field value"));
			i++;
			phase = P_VALUE_LF;
			/* fall through */
		case P_VALUE_LF: {
			size_t vs = s->mark2, ve = i - 1;

			FIELD_RUN(0);
			if (b[i] != '\n')
				VERDICT(reject(r, 400, "bare CR"));
			for (; vs < ve && is_ows(b[vs]); vs++)
				continue;
			while (ve > vs && is_ows(b[ve - 1]))
				ve--;
			r->fields++;
			if ((rc = field_line(r, ctx, b + s->line, s->mark - s->line,
			    b + vs, ve - vs)) < 0)
				VERDICT(rc);
			s->line = ++i;
			phase = P_FIELD;
			break;
		}
		case P_END_LF:
			FIELD_RUN(0);
			if (b[i] != '\n')
				VERDICT(reject(r, 400, "bare CR"));
			if ((rc = head_done(r, ctx)) < 0)
				VERDICT(rc);
			VERDICT((int)(i + 1));
		case P_DONE:
			*req = *r;
			return s->verdict;
		}
	}
#undef FIELD_RUN
#undef LINE_RUN
#undef RUN
#undef VERDICT
more:
	s->next = i;
	s->phase = phase;
	*req = *r;
	return 0;
verdict:
	s->next = i;
	s->phase = P_DONE;
	s->verdict = rc;
	*req = *r;
	return rc;
}

/* --- chunked body --------------------------------------------------------- */

/*
 * Decoder states.  The size line follows RFC 9112 §7.1:
 *   chunk-size [ chunk-ext ] CRLF
 *   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * so whitespace may only come before ';' or '=' or after them, and "2;"
 * (no name) is bad framing.
 */
enum {
	CH_SIZE = 0,		/* first hex digit of chunk-size */
	CH_SIZE_MORE,		/* more digits, ';', BWS or CR */
	CH_EXT_WS,		/* BWS: only ';' may end it */
	CH_EXT_PRE_NAME,	/* after ';' */
	CH_EXT_NAME,
	CH_EXT_NAME_WS,		/* BWS after a name: '=' or ';' */
	CH_EXT_PRE_VAL,		/* after '=' */
	CH_EXT_VAL,		/* token value */
	CH_EXT_QVAL,		/* inside a quoted-string */
	CH_EXT_QPAIR,		/* after '\' in a quoted-string */
	CH_EXT_AFTER_QVAL,	/* after the closing '"' */
	CH_SIZE_LF,		/* CR ended the size line */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START,	/* a trailer field or the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_BAD,
	CH_TOO_BIG,
};

/* Start decoding a new chunked body. */
void
http_chunked_init(struct http_chunked *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->state = CH_SIZE;
}

/* The next state after byte c on the size line; CH_BAD if c is wrong. */
static int
size_line_step(struct http_chunked *ch, unsigned char c)
{
	switch (ch->state) {
	case CH_SIZE:
		if (!is_hex(c))
			return CH_BAD;
		ch->remaining = hex_val(c);
		return CH_SIZE_MORE;
	case CH_SIZE_MORE:
		if (is_hex(c)) {
			if (ch->remaining > (UINT64_MAX >> 4))
				return CH_BAD;
			ch->remaining = ch->remaining << 4 | hex_val(c);
			return CH_SIZE_MORE;
		}
		break;
	case CH_EXT_WS:
		if (is_ows(c))
			return CH_EXT_WS;
		return c == ';' ? CH_EXT_PRE_NAME : CH_BAD;
	case CH_EXT_PRE_NAME:
		if (is_ows(c))
			return CH_EXT_PRE_NAME;
		return is_tchar(c) ? CH_EXT_NAME : CH_BAD;
	case CH_EXT_NAME:
		if (is_tchar(c))
			return CH_EXT_NAME;
		if (is_ows(c))
			return CH_EXT_NAME_WS;
		if (c == '=')
			return CH_EXT_PRE_VAL;
		break;
	case CH_EXT_NAME_WS:
		if (is_ows(c))
			return CH_EXT_NAME_WS;
		if (c == '=')
			return CH_EXT_PRE_VAL;
		return c == ';' ? CH_EXT_PRE_NAME : CH_BAD;
	case CH_EXT_PRE_VAL:
		if (is_ows(c))
			return CH_EXT_PRE_VAL;
		if (c == '"')
			return CH_EXT_QVAL;
		return is_tchar(c) ? CH_EXT_VAL : CH_BAD;
	case CH_EXT_VAL:
		if (is_tchar(c))
			return CH_EXT_VAL;
		break;
	case CH_EXT_QVAL:
		if (c == '"')
			return CH_EXT_AFTER_QVAL;
		if (c == '\\')
			return CH_EXT_QPAIR;
		return is_qdtext(c) ? CH_EXT_QVAL : CH_BAD;
	case CH_EXT_QPAIR:
		return is_value_char(c) ? CH_EXT_QVAL : CH_BAD;
	case CH_EXT_AFTER_QVAL:
		break;
	default:
		return CH_BAD;
	}
	/* after digits, a name, or a value: ';', BWS or the CR */
	if (c == ';')
		return CH_EXT_PRE_NAME;
	if (is_ows(c))
		return CH_EXT_WS;
	return c == '\r' ? CH_SIZE_LF : CH_BAD;
}

/* Decode a chunked body from in[0..len) (see http_parser.h). */
int
http_chunked_decode(struct http_chunked *ch, const char *in, size_t len,
    size_t *used, char *out, size_t cap, size_t *made)
{
	const unsigned char *b = (const unsigned char *)in;
	size_t i = 0, n;
	unsigned char c;

	*made = 0;
	while (i < len) {
		switch (ch->state) {
		case CH_DATA:
			n = len - i;
			if (n > ch->remaining)
				n = (size_t)ch->remaining;
			memcpy(out + ch->total, in + i, n);
			ch->total += n;
			ch->remaining -= n;
			*made += n;
			i += n;
			if (ch->remaining == 0)
				ch->state = CH_DATA_CR;
			continue;
		case CH_DONE:
		case CH_BAD:
		case CH_TOO_BIG:
			goto out;
		}

		c = b[i];
		switch (ch->state) {
		case CH_SIZE_LF:
			if (c != '\n') {
				ch->state = CH_BAD;
				goto out;
			}
			if (ch->remaining > cap - ch->total) {
				ch->state = CH_TOO_BIG;
				goto out;
			}
			ch->line = 0;
			ch->state = ch->remaining ? CH_DATA : CH_TRAILER_START;
			break;
		case CH_DATA_CR:
			ch->state = c == '\r' ? CH_DATA_LF : CH_BAD;
			break;
		case CH_DATA_LF:
			ch->state = c == '\n' ? CH_SIZE : CH_BAD;
			break;
		case CH_TRAILER_START:
		case CH_TRAILER_NAME:
		case CH_TRAILER_VALUE:
		case CH_TRAILER_LF:
		case CH_END_LF:
			if (ch->trailer_bytes++ >= HTTP_MAX_TRAILERS) {
				ch->state = CH_BAD;
				break;
			}
			if (ch->state == CH_TRAILER_START)
				ch->state = c == '\r' ? CH_END_LF :
				    is_tchar(c) ? CH_TRAILER_NAME : CH_BAD;
			else if (ch->state == CH_TRAILER_NAME)
				ch->state = c == ':' ? CH_TRAILER_VALUE :
				    is_tchar(c) ? CH_TRAILER_NAME : CH_BAD;
			else if (ch->state == CH_TRAILER_VALUE)
				ch->state = c == '\r' ? CH_TRAILER_LF :
				    is_value_char(c) ? CH_TRAILER_VALUE : CH_BAD;
			else if (ch->state == CH_TRAILER_LF)
				ch->state = c == '\n' ? CH_TRAILER_START : CH_BAD;
			else
				ch->state = c == '\n' ? CH_DONE : CH_BAD;
			if (ch->state == CH_DONE) {
				i++;
				goto out;
			}
			break;
		default:
			/* the size line: its length excludes the CRLF */
			if (c != '\r' && ch->line++ >= HTTP_MAX_CHUNK_LINE) {
				ch->state = CH_BAD;
				break;
			}
			ch->state = size_line_step(ch, c);
			break;
		}
		if (ch->state == CH_BAD)
			goto out;
		i++;
	}
out:
	*used = i;
	switch (ch->state) {
	case CH_DONE:
		return 1;
	case CH_BAD:
		return -400;
	case CH_TOO_BIG:
		return -413;
	}
	return 0;
}

/* --- status text ---------------------------------------------------------- */

/* A reason phrase for a status code ("Bad Request"), "" if unknown. */
const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "";
}
