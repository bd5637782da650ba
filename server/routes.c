/*
 * routes — the endpoints' answers (see routes.h).
 *
 * Shared-memory figures are read without locks: the counters are atomics,
 * and a job's record is read, then its id and state are read again, so a
 * slot reused under our feet is reported as unknown rather than mixed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/segment.h"
#include "server/routes.h"

#define JOBS_PREFIX	"/jobs/"
#define RETRY_SUFFIX	"/retry"
#define OUTPUT_SUFFIX	"/output"
#define LIST_DEFAULT	100	/* GET /jobs: limit's default and maximum */
#define LIST_MAX	1000

static const char *const state_names[] = {
	[SLOT_QUEUED] = "queued", [SLOT_RUNNING] = "running",
	[SLOT_DONE] = "done", [SLOT_FAILED] = "failed", [SLOT_CANCELED] = "canceled",
	[SLOT_SCHEDULED] = "scheduled",
};

static const char *const reason_names[] = {
	[SLOT_REASON_EXIT] = "exit", [SLOT_REASON_SIGNAL] = "signal",
	[SLOT_REASON_TIMEOUT] = "timeout", [SLOT_REASON_LOST] = "lost",
};

/* Does path[0..len) equal the C string s? */
static int path_is(const char *path, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(path, s, len) == 0;
}

/* Is path[0..len) /jobs/{16 characters}suffix? */
static int job_path_ends(const char *path, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len == strlen(JOBS_PREFIX) + JOBID_STRLEN + n &&
	    memcmp(path + len - n, suffix, n) == 0;
}

enum route routes_find(const char *path, size_t len)
{
	if (path_is(path, len, "/payload"))
		return ROUTE_PAYLOAD;
	if (path_is(path, len, "/healthz"))
		return ROUTE_HEALTHZ;
	if (path_is(path, len, "/metrics"))
		return ROUTE_METRICS;
	if (path_is(path, len, "/status"))
		return ROUTE_STATUS;
	if (path_is(path, len, "/jobs"))
		return ROUTE_JOBS;
	if (len > strlen(JOBS_PREFIX) && memcmp(path, JOBS_PREFIX, strlen(JOBS_PREFIX)) == 0) {
		if (job_path_ends(path, len, RETRY_SUFFIX))
			return ROUTE_RETRY;
		if (job_path_ends(path, len, OUTPUT_SUFFIX))
			return ROUTE_OUTPUT;
		return ROUTE_JOB;
	}
	return ROUTE_NOT_FOUND;
}

int routes_allowed(enum route r, enum http_method m)
{
	if (r == ROUTE_PAYLOAD || r == ROUTE_RETRY)
		return m == HTTP_POST;
	return m == HTTP_GET || m == HTTP_HEAD || (r == ROUTE_JOB && m == HTTP_DELETE);
}

const char *routes_allow(enum route r)
{
	return r == ROUTE_PAYLOAD || r == ROUTE_RETRY ? "POST" :
	    r == ROUTE_JOB ? "GET, HEAD, DELETE" : "GET, HEAD";
}

void routes_time(int64_t ns, char buf[32])
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	size_t n;

	if (gmtime_r(&sec, &tm) == NULL) {
		strcpy(buf, "1970-01-01T00:00:00.000Z");
		return;
	}
	n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(ns / 1000000 % 1000));
}

/* Start a reply: status, content type, empty body and extra headers. */
static void reply_start(struct reply *rep, int status, const char *ctype)
{
	rep->status = status;
	rep->ctype = ctype;
	rep->extra[0] = '\0';
	rep->close = 0;
	obuf_reset(rep->body);
}

void routes_error(struct reply *rep, int status, const char *msg)
{
	reply_start(rep, status, "application/json");
	obuf_str(rep->body, "{\"error\":\"");
	for (const char *p = msg; *p; p++) {	/* JSON-safe: no escapes needed */
		char ch = *p;

		if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e)
			ch = '?';
		obuf_add(rep->body, &ch, 1);
	}
	obuf_str(rep->body, "\"}\n");
}

int routes_authorized(const struct routes_ctx *ctx, enum route r,
    const struct http_request *req, struct reply *rep)
{
	if (r == ROUTE_HEALTHZ ||
	    acl_token_ok(ctx->acl, req->authorization, req->authorization_len))
		return 1;
	routes_error(rep, 401, "unauthorized");
	memcpy(rep->extra, "WWW-Authenticate: Bearer\r\n",
	    sizeof "WWW-Authenticate: Bearer\r\n");
	rep->close = 1;
	return 0;
}

/* Append "name":time or "name":null. */
static void json_time(struct obuf *b, const char *name, int64_t ns)
{
	char t[32];

	if (ns == 0) {
		obuf_printf(b, ",\"%s\":null", name);
		return;
	}
	routes_time(ns, t);
	obuf_printf(b, ",\"%s\":\"%s\"", name, t);
}

int routes_delay(const struct http_request *req, uint32_t max_delay, uint32_t *delay,
    struct reply *rep)
{
	const char *q = req->query;
	size_t n = req->query_len, k = strlen("delay=");
	uint64_t v = 0;
	char msg[80];

	*delay = 0;
	if (q == NULL)
		return 1;
	if (n < k || memcmp(q, "delay=", k) != 0 || memchr(q, '&', n) != NULL) {
		routes_error(rep, 400, "the only query parameter is delay=SECONDS");
		return 0;
	}
	for (int digits = n > k; k < n || !digits; k++) {
		if (!digits || q[k] < '0' || q[k] > '9') {
			routes_error(rep, 400, "delay must be whole seconds, digits only");
			return 0;
		}
		if ((v = v * 10 + (uint64_t)(q[k] - '0')) > max_delay) {
			snprintf(msg, sizeof msg, "delay over max_delay (%" PRIu32 " s)", max_delay);
			routes_error(rep, 400, msg);
			return 0;
		}
	}
	*delay = (uint32_t)v;
	return 1;
}

void routes_accepted(struct reply *rep, uint64_t id, int64_t run_at)
{
	char hex[JOBID_STRLEN + 1];

	jobid_format(id, hex);
	reply_start(rep, 202, "application/json");
	memcpy(rep->extra, "Location: /jobs/", 16);
	memcpy(rep->extra + 16, hex, JOBID_STRLEN);
	memcpy(rep->extra + 16 + JOBID_STRLEN, "\r\n", 3);
	obuf_str(rep->body, "{\"id\":\"");
	obuf_add(rep->body, hex, JOBID_STRLEN);
	if (run_at == 0) {
		obuf_str(rep->body, "\",\"state\":\"queued\"}\n");
		return;
	}
	obuf_str(rep->body, "\",\"state\":\"scheduled\"");
	json_time(rep->body, "run_at", run_at);
	obuf_str(rep->body, "}\n");
}

/* Append the JSON of job id, read from its slot sl in state st (a copy,
 * checked after against the slot); -1 when the slot changed meanwhile. */
static int json_job(struct obuf *b, const struct slot *sl, uint64_t id, uint32_t st,
    uint32_t max_output)
{
	struct slot copy;
	char hex[JOBID_STRLEN + 1];
	int ended = st == SLOT_DONE || st == SLOT_FAILED;

	memcpy(&copy, sl, sizeof copy);	/* header fields only */
	atomic_thread_fence(memory_order_acquire);
	if (sl->id != id || atomic_load(&sl->state) != st ||
	    st < SLOT_QUEUED || st > SLOT_SCHEDULED)
		return -1;
	jobid_format(id, hex);
	obuf_printf(b, "{\"id\":\"%s\",\"state\":\"%s\",\"attempts\":%" PRIu32,
	    hex, state_names[st], copy.attempts);
	json_time(b, "queued_at", copy.t_queued);
	json_time(b, "run_at", st == SLOT_SCHEDULED ? copy.run_at : 0);
	json_time(b, "started_at", st == SLOT_QUEUED && copy.attempts == 0 ? 0 : copy.t_started);
	json_time(b, "finished_at", ended || st == SLOT_CANCELED ? copy.t_finished : 0);
	if (ended)
		obuf_printf(b, ",\"exit_status\":%" PRId32, copy.exit_status);
	else
		obuf_str(b, ",\"exit_status\":null");
	if (st == SLOT_FAILED && copy.reason > SLOT_REASON_NONE && copy.reason <= SLOT_REASON_LOST)
		obuf_printf(b, ",\"reason\":\"%s\"", reason_names[copy.reason]);
	else
		obuf_str(b, ",\"reason\":null");
	if (copy.worker_pid > 0)
		obuf_printf(b, ",\"worker_pid\":%" PRId32, copy.worker_pid);
	else
		obuf_str(b, ",\"worker_pid\":null");
	obuf_printf(b, ",\"payload_bytes\":%" PRIu32, copy.payload_len);
	obuf_printf(b, ",\"output_bytes\":%" PRIu32 "}",
	    copy.output_len < max_output ? copy.output_len : max_output);
	return 0;
}

/* 404 for an id this segment never issued, 410 for one whose slot was
 * reused. */
static void job_unknown(const struct routes_ctx *ctx, uint64_t id, struct reply *rep)
{
	if (id != 0 && segment_expired(ctx->seg, id))
		routes_error(rep, 410, "expired");
	else
		routes_error(rep, 404, "unknown job");
}

/* The job a /jobs/{id}[/retry] path names: its slot and state, or NULL
 * and rep answered (404, 410, 421). */
static struct slot *job_find(const struct routes_ctx *ctx, const char *hexid,
    uint64_t *id, uint32_t *st, struct reply *rep)
{
	struct slot *sl;

	*id = 0;
	if (jobid_parse(hexid, JOBID_STRLEN, id) == -1) {
		routes_error(rep, 404, "unknown job");
		return NULL;
	}
	if (jobid_node(*id) != segment_node(ctx->seg)) {
		reply_start(rep, 421, "application/json");
		obuf_printf(rep->body, "{\"error\":\"wrong node\",\"node\":%u}\n",
		    segment_node(ctx->seg));
		return NULL;
	}
	if ((sl = segment_lookup(ctx->seg, *id)) == NULL) {
		job_unknown(ctx, *id, rep);
		return NULL;
	}
	*st = atomic_load_explicit(&sl->state, memory_order_acquire);
	return sl;
}

/* status and the job's JSON, read again while its state changes under
 * us (a retried job the dispatcher takes at once); 404/410 when its slot
 * was reused. */
static void reply_job(const struct routes_ctx *ctx, int status, const struct slot *sl,
    uint64_t id, uint32_t st, struct reply *rep)
{
	for (int tries = 0; tries < 3; tries++) {
		reply_start(rep, status, "application/json");
		if (json_job(rep->body, sl, id, st, segment_max_output(ctx->seg)) == 0) {
			obuf_str(rep->body, "\n");
			return;
		}
		st = atomic_load_explicit(&sl->state, memory_order_acquire);
	}
	job_unknown(ctx, id, rep);
}

/* 409: the job is in state st. */
static void conflict(struct reply *rep, const char *msg, uint32_t st)
{
	reply_start(rep, 409, "application/json");
	obuf_printf(rep->body, "{\"error\":\"%s\",\"state\":\"%s\"}\n", msg,
	    st <= SLOT_SCHEDULED && state_names[st] ? state_names[st] : "unknown");
}

/* GET, HEAD or DELETE /jobs/{id}. */
static void answer_job(const struct routes_ctx *ctx, const struct http_request *req,
    struct reply *rep)
{
	size_t plen = strlen(JOBS_PREFIX);
	struct slot *sl;
	uint64_t id;
	uint32_t st;

	if (req->path_len != plen + JOBID_STRLEN) {
		routes_error(rep, 404, "unknown job");
		return;
	}
	if ((sl = job_find(ctx, req->path + plen, &id, &st, rep)) == NULL)
		return;
	if (req->method != HTTP_DELETE) {
		reply_job(ctx, 200, sl, id, st, rep);
	} else if (segment_cancel(ctx->seg, jobid_slot(id)) == 0) {
		reply_job(ctx, 200, sl, id, SLOT_CANCELED, rep);
	} else {
		st = atomic_load(&sl->state);
		/* QUEUED: requeued after its worker died, or its timer came,
		 * the dispatcher holds it to run again */
		conflict(rep, st == SLOT_QUEUED ? "about to run" : "not queued", st);
	}
}

/* POST /jobs/{id}/retry. */
static void answer_retry(const struct routes_ctx *ctx, const struct http_request *req,
    struct reply *rep)
{
	struct slot *sl;
	uint64_t id;
	uint32_t st;

	if ((sl = job_find(ctx, req->path + strlen(JOBS_PREFIX), &id, &st, rep)) == NULL)
		return;
	if (st != SLOT_FAILED && st != SLOT_CANCELED) {
		conflict(rep, "not failed or canceled", st);
		return;
	}
	if (segment_retry(ctx->seg, jobid_slot(id)) == -1) {
		routes_error(rep, 503, "queue full");
		return;
	}
	reply_job(ctx, 202, sl, id, SLOT_QUEUED, rep);
}

/* GET or HEAD /jobs/{id}/output: the bytes, copied and then checked
 * against the slot like json_job's record. */
static void answer_output(const struct routes_ctx *ctx, const struct http_request *req,
    struct reply *rep)
{
	const unsigned char *out;
	struct slot *sl;
	uint64_t id;
	uint32_t st, len;

	if ((sl = job_find(ctx, req->path + strlen(JOBS_PREFIX), &id, &st, rep)) == NULL)
		return;
	reply_start(rep, 200, "application/octet-stream");
	out = segment_output(ctx->seg, jobid_slot(id), &len);
	obuf_add(rep->body, out, len);
	atomic_thread_fence(memory_order_acquire);
	if (sl->id != id)
		job_unknown(ctx, id, rep);
}

/* Parse GET /jobs's query: state=STATE (required) and limit=N. */
static int list_query(const char *q, size_t len, uint32_t *st, uint32_t *limit)
{
	int have_state = 0;

	*limit = LIST_DEFAULT;
	while (len > 0) {
		const char *amp = memchr(q, '&', len);
		size_t n = amp ? (size_t)(amp - q) : len;

		if (n > 6 && memcmp(q, "state=", 6) == 0) {
			uint32_t k;

			for (k = SLOT_QUEUED; k <= SLOT_SCHEDULED; k++)
				if (strlen(state_names[k]) == n - 6 &&
				    memcmp(q + 6, state_names[k], n - 6) == 0)
					break;
			if (k > SLOT_SCHEDULED)
				return -1;
			*st = k;
			have_state = 1;
		} else if (n > 6 && n <= 10 && memcmp(q, "limit=", 6) == 0) {
			uint32_t v = 0;

			for (size_t i = 6; i < n; i++) {
				if (q[i] < '0' || q[i] > '9')
					return -1;
				v = v * 10 + (uint32_t)(q[i] - '0');
			}
			if (v == 0 || v > LIST_MAX)
				return -1;
			*limit = v;
		} else {
			return -1;
		}
		q += n;
		len -= n;
		if (amp) {
			q++;
			len--;
			if (len == 0)
				return -1;
		}
	}
	return have_state ? 0 : -1;
}

/* GET /jobs?state=STATE&limit=N: a scan of the slot table.  The body is at
 * most LIST_MAX job objects of a bounded size (about 300 bytes). */
static void answer_list(const struct routes_ctx *ctx, const struct http_request *req,
    struct reply *rep)
{
	static uint64_t ids[LIST_MAX];
	uint32_t st = 0, limit, n;
	int first = 1;

	if (req->query == NULL || list_query(req->query, req->query_len, &st, &limit) == -1) {
		routes_error(rep, 400, "want state=queued|scheduled|running|done|failed|canceled"
		    " and limit=1..1000");
		return;
	}
	reply_start(rep, 200, "application/json");
	obuf_str(rep->body, "{\"jobs\":[");
	n = segment_list(ctx->seg, st, ids, limit);
	for (uint32_t k = 0; k < n; k++) {
		struct slot *sl = segment_slot(ctx->seg, jobid_slot(ids[k]));
		size_t mark = rep->body->len;

		if (!first)
			obuf_str(rep->body, ",");
		if (json_job(rep->body, sl, ids[k], st, segment_max_output(ctx->seg)) == -1)
			rep->body->len = mark;	/* it changed state meanwhile */
		else
			first = 0;
	}
	obuf_str(rep->body, "]}\n");
}

int routes_health(const struct routes_ctx *ctx, char *why, size_t n)
{
	struct seg_header *h = segment_header(ctx->seg);
	int64_t now = clock_mono_ns();
	int64_t beat = atomic_load_explicit(&h->dispatcher_beat, memory_order_relaxed);
	int64_t seen = atomic_load_explicit(&h->worker_seen, memory_order_relaxed);
	uint32_t queued = atomic_load_explicit(&h->queued, memory_order_relaxed);

	if (beat == 0)
		return 1;
	if (now - beat > ROUTES_STALE_NS) {
		snprintf(why, n, "dispatcher: no progress for %lld s",
		    (long long)((now - beat) / 1000000000));
		return 0;
	}
	if (queued > 0 && now - seen > ROUTES_STALE_NS) {
		snprintf(why, n, "no worker alive for %lld s with %" PRIu32 " jobs waiting",
		    (long long)((now - seen) / 1000000000), queued);
		return 0;
	}
	return 1;
}

/* GET /healthz: 200 "ok", 503 "draining", or 503 and why jobs cannot run. */
static void answer_healthz(const struct routes_ctx *ctx, struct reply *rep)
{
	char why[128];

	if (ctx->draining) {
		reply_start(rep, 503, "text/plain; charset=utf-8");
		obuf_str(rep->body, "draining\n");
	} else if (routes_health(ctx, why, sizeof(why))) {
		reply_start(rep, 200, "text/plain; charset=utf-8");
		obuf_str(rep->body, "ok\n");
	} else {
		reply_start(rep, 503, "application/json");
		obuf_printf(rep->body, "{\"error\":\"unhealthy\",\"reason\":\"%s\"}\n", why);
	}
}

static const char *const score_names[] = {
	[SCORE_EMPTY] = "empty", [SCORE_STARTING] = "starting",
	[SCORE_IDLE] = "idle", [SCORE_BUSY] = "busy",
	[SCORE_EXITING] = "exiting",
};

/* GET /status: the summary and the non-empty scoreboard entries. */
static void answer_status(const struct routes_ctx *ctx, struct reply *rep)
{
	struct seg_header *h = segment_header(ctx->seg);
	struct obuf *b = rep->body;
	struct seg_census w;
	int first = 1;
	char why[128];

	segment_census(ctx->seg, 0, &w);
	reply_start(rep, 200, "application/json");
	obuf_printf(b, "{\"node\":%u,\"workers\":{\"total\":%u,\"idle\":%u,\"busy\":%u,"
	    "\"starting\":%u,\"exiting\":%u},", segment_node(ctx->seg),
	    w.workers[SCORE_STARTING] + w.workers[SCORE_IDLE] + w.workers[SCORE_BUSY],
	    w.workers[SCORE_IDLE], w.workers[SCORE_BUSY],
	    w.workers[SCORE_STARTING], w.workers[SCORE_EXITING]);
	obuf_printf(b, "\"queue\":{\"capacity\":%" PRIu32 ",\"depth\":%" PRIu32
	    ",\"running\":%" PRIu32 "},",
	    segment_capacity(ctx->seg), w.queued, w.running);
	obuf_printf(b, "\"jobs\":{\"accepted\":%" PRIu64 ",\"completed\":%" PRIu64
	    ",\"failed\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"retried\":%" PRIu64
	    ",\"canceled\":%" PRIu64 "},",
	    atomic_load(&h->accepted), atomic_load(&h->completed),
	    atomic_load(&h->failed), atomic_load(&h->rejected), atomic_load(&h->retried),
	    atomic_load(&h->canceled));
	obuf_printf(b, "\"connections\":%u,\"draining\":%s,",
	    ctx->connections, ctx->draining ? "true" : "false");
	if (routes_health(ctx, why, sizeof(why)))
		obuf_str(b, "\"healthy\":true,\"reason\":null,\"scoreboard\":[");
	else
		obuf_printf(b, "\"healthy\":false,\"reason\":\"%s\",\"scoreboard\":[", why);
	for (uint32_t i = 0; i < SEG_SCORE_COUNT; i++) {
		struct score *sc = segment_score(ctx->seg, i);
		uint32_t st = atomic_load(&sc->state);
		uint64_t job = atomic_load(&sc->job_id);
		char hex[JOBID_STRLEN + 1];

		if (st == SCORE_EMPTY || st > SCORE_EXITING)
			continue;
		obuf_printf(b, "%s{\"index\":%" PRIu32 ",\"pid\":%" PRId32
		    ",\"state\":\"%s\",\"generation\":%" PRIu32 ",\"job\":",
		    first ? "" : ",", i, atomic_load(&sc->pid), score_names[st],
		    sc->generation);
		if (job != 0) {
			jobid_format(job, hex);
			obuf_printf(b, "\"%s\"", hex);
		} else {
			obuf_str(b, "null");
		}
		obuf_printf(b, ",\"jobs_done\":%" PRIu64 "}", atomic_load(&sc->jobs_done));
		first = 0;
	}
	obuf_str(b, "]}\n");
}

/* One metric's HELP and TYPE lines. */
static void metric_head(struct obuf *b, const char *name, const char *type,
    const char *help)
{
	obuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A single-valued metric. */
static void metric(struct obuf *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metric_head(b, name, type, help);
	obuf_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* A histogram from non-cumulative shm buckets (µs) into seconds. */
static void histogram(struct obuf *b, const char *name, const char *help,
    _Atomic uint64_t *buckets, _Atomic uint64_t *sum_us)
{
	uint64_t cum = 0;

	metric_head(b, name, "histogram", help);
	for (int i = 0; i < SEG_HIST_BUCKETS; i++) {
		cum += atomic_load_explicit(&buckets[i], memory_order_relaxed);
		if (i == SEG_HIST_BUCKETS - 1)
			obuf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
		else
			obuf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			    (double)seg_hist_bounds_us[i] / 1e6, cum);
	}
	obuf_printf(b, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
	    (double)atomic_load(sum_us) / 1e6, name, cum);
}

/* GET /metrics: Prometheus text format 0.0.4. */
static void answer_metrics(const struct routes_ctx *ctx, struct reply *rep)
{
	struct seg_header *h = segment_header(ctx->seg);
	struct obuf *b = rep->body;
	struct seg_census w;

	segment_census(ctx->seg, 0, &w);
	reply_start(rep, 200, "text/plain; version=0.0.4; charset=utf-8");
	metric_head(b, "jobqd_build_info", "gauge", "Always 1; the version is a label.");
	obuf_str(b, "jobqd_build_info{version=\"" JOBQD_VERSION "\"} 1\n");
	metric(b, "jobqd_node", "gauge", "This node's number, the first byte of its job ids.",
	    segment_node(ctx->seg));
	metric_head(b, "jobqd_workers", "gauge", "Worker processes by state.");
	for (int st = SCORE_STARTING; st <= SCORE_EXITING; st++)
		obuf_printf(b, "jobqd_workers{state=\"%s\"} %u\n", score_names[st],
		    w.workers[st]);
	metric(b, "jobqd_queue_depth", "gauge", "Jobs queued or scheduled, not yet running.",
	    atomic_load(&h->queued));
	metric(b, "jobqd_queue_capacity", "gauge", "Job slots.",
	    segment_capacity(ctx->seg));
	metric(b, "jobqd_jobs_running", "gauge", "Jobs running now.",
	    atomic_load(&h->running));
	metric(b, "jobqd_jobs_accepted_total", "counter", "Jobs accepted (202).",
	    atomic_load(&h->accepted));
	metric(b, "jobqd_jobs_completed_total", "counter", "Jobs done.",
	    atomic_load(&h->completed));
	metric(b, "jobqd_jobs_failed_total", "counter",
	    "Jobs failed after their last attempt.", atomic_load(&h->failed));
	metric(b, "jobqd_jobs_canceled_total", "counter",
	    "Queued or scheduled jobs canceled (DELETE).", atomic_load(&h->canceled));
	metric(b, "jobqd_jobs_scheduled_total", "counter",
	    "Delayed submissions accepted (POST /payload?delay=N, N > 0).",
	    atomic_load(&h->scheduled));
	metric(b, "jobqd_jobs_replayed_total", "counter",
	    "Submissions answered with the job of their Idempotency-Key (not accepted).",
	    atomic_load(&h->replayed));
	metric(b, "jobqd_jobs_rejected_total", "counter",
	    "Payloads refused because the queue was full.", atomic_load(&h->rejected));
	metric(b, "jobqd_jobs_retried_total", "counter",
	    "Failed job attempts (non-zero status, worker death, timeout) queued again.",
	    atomic_load(&h->retried));
	metric(b, "jobqd_worker_deaths_total", "counter",
	    "Workers that died unasked (crash, kill, timeout, failed start).",
	    atomic_load(&h->worker_deaths));
	metric(b, "jobqd_job_timeouts_total", "counter",
	    "Job attempts killed at job_timeout.", atomic_load(&h->job_timeouts));
	metric(b, "jobqd_dispatcher_restarts_total", "counter",
	    "Dispatchers started again after one died.",
	    atomic_load(&h->dispatcher_restarts));
	metric_head(b, "jobqd_reloads_total", "counter", "Configuration reloads by result.");
	obuf_printf(b, "jobqd_reloads_total{result=\"ok\"} %" PRIu64 "\n"
	    "jobqd_reloads_total{result=\"failed\"} %" PRIu64 "\n",
	    atomic_load(&h->reloads_ok), atomic_load(&h->reloads_failed));
	metric(b, "jobqd_draining", "gauge", "1 while shutting down (draining), else 0.",
	    ctx->draining != 0);
	metric(b, "jobqd_connections", "gauge", "Open client connections.",
	    ctx->connections);
	metric_head(b, "jobqd_http_responses_total", "counter",
	    "HTTP responses by status code (this master).");
	for (int code = 100; code < ROUTES_MAX_STATUS; code++)
		if (ctx->responses[code] != 0)
			obuf_printf(b, "jobqd_http_responses_total{code=\"%d\"} %" PRIu64 "\n",
			    code, ctx->responses[code]);
	histogram(b, "jobqd_job_wait_seconds", "Time jobs waited in the queue.",
	    h->wait_hist, &h->wait_sum_us);
	histogram(b, "jobqd_job_run_seconds", "Time jobs ran.",
	    h->run_hist, &h->run_sum_us);
}

void routes_answer(const struct routes_ctx *ctx, enum route r,
    const struct http_request *req, struct reply *rep)
{
	switch (r) {
	case ROUTE_JOB:
		answer_job(ctx, req, rep);
		break;
	case ROUTE_JOBS:
		answer_list(ctx, req, rep);
		break;
	case ROUTE_RETRY:
		answer_retry(ctx, req, rep);
		break;
	case ROUTE_OUTPUT:
		answer_output(ctx, req, rep);
		break;
	case ROUTE_HEALTHZ:
		answer_healthz(ctx, rep);
		break;
	case ROUTE_METRICS:
		answer_metrics(ctx, rep);
		break;
	case ROUTE_STATUS:
		answer_status(ctx, rep);
		break;
	case ROUTE_PAYLOAD:	/* httpd handles it; never reached */
	case ROUTE_NOT_FOUND:
	default:
		routes_error(rep, 404, "not found");
		break;
	}
}
