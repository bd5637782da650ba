/*
 * routes — what each jobqd endpoint answers: the path table, the allowed
 * methods, and the rendering of the JSON and Prometheus bodies.
 *
 * httpd owns the connections and POST /payload's body (the slot); routes
 * only decides and renders.  Nothing here does I/O or logs.
 *
 *   routes_find(path, len)        which endpoint a path names
 *   routes_allowed(r, method)     is the method allowed there
 *   routes_allow(r)               the Allow header value for 405
 *   routes_authorized(ctx, r, req, rep)   the bearer token check, or a 401
 *   routes_answer(ctx, r, req, rep)   answer an endpoint but POST /payload
 *   routes_error(rep, status, msg)          {"error":"msg"}
 *   routes_delay(req, max, &d, rep)   POST /payload's query: 1 and the
 *                                 delay in seconds (0 without one); else
 *                                 0 and rep a 400
 *   routes_accepted(rep, id, run_at)  202 for a queued job (run_at 0) or
 *                                 a scheduled one
 *   routes_health(ctx, why, n)    can jobs run: 1, or 0 and the reason
 */
#ifndef JOBQD_ROUTES_H
#define JOBQD_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "common/segment.h"
#include "server/acl.h"
#include "server/http_parser.h"
#include "server/obuf.h"

enum route {
	ROUTE_NOT_FOUND = 0,
	ROUTE_PAYLOAD,		/* /payload */
	ROUTE_JOB,		/* /jobs/... */
	ROUTE_JOBS,		/* /jobs (the listing) */
	ROUTE_RETRY,		/* /jobs/{id}/retry */
	ROUTE_OUTPUT,		/* /jobs/{id}/output */
	ROUTE_HEALTHZ,
	ROUTE_METRICS,
	ROUTE_STATUS,
};

#define ROUTES_MAX_STATUS	600	/* response counters: codes 0..599 */
#define JOBQD_VERSION		"0.1.0"	/* -V, the first log line, jobqd_build_info */
/* /healthz: 503 after this long without a dispatcher loop, or without a
 * worker alive while jobs wait (the dispatcher loops at least every 1 s) */
#define ROUTES_STALE_NS		(5 * 1000000000LL)

struct routes_ctx {
	struct segment *seg;
	int draining;
	unsigned connections;		/* open client connections */
	const uint64_t *responses;	/* [ROUTES_MAX_STATUS] by status code */
	const struct acl *acl;		/* the bearer token */
};

struct reply {
	int status;
	const char *ctype;		/* Content-Type */
	char extra[160];		/* extra header lines, each ending CRLF */
	int close;			/* answer with Connection: close */
	struct obuf *body;		/* the caller's buffer, reset by routes */
};

enum route routes_find(const char *path, size_t len);
int routes_allowed(enum route r, enum http_method m);
const char *routes_allow(enum route r);
/* 1 when the request may be served: no token is configured, it is
 * /healthz, or its Authorization carries the token; else 0 and rep is a
 * 401 with WWW-Authenticate that closes the connection. */
int routes_authorized(const struct routes_ctx *ctx, enum route r,
    const struct http_request *req, struct reply *rep);
/* GET/HEAD of every endpoint; DELETE /jobs/{id} (cancel), POST
 * /jobs/{id}/retry: these change the job's slot. */
void routes_answer(const struct routes_ctx *ctx, enum route r,
    const struct http_request *req, struct reply *rep);
void routes_error(struct reply *rep, int status, const char *msg);
int routes_delay(const struct http_request *req, uint32_t max_delay, uint32_t *delay,
    struct reply *rep);
void routes_accepted(struct reply *rep, uint64_t id, int64_t run_at);
/* 1 when jobs can run; else 0 and a short reason in why (printable
 * ASCII, no quotes): the dispatcher made no progress for ROUTES_STALE_NS,
 * or jobs wait and no worker was alive for as long.  A segment no
 * dispatcher ever ran on (dispatcher_beat 0) is not judged. */
int routes_health(const struct routes_ctx *ctx, char *why, size_t n);
/* RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z") of wall ns. */
void routes_time(int64_t ns, char buf[32]);

#endif
