/*
 * http_client — a tiny raw-socket HTTP/1.1 client for the tests.
 *
 * It sends exactly the bytes it is given (so tests can send broken
 * requests) and reads responses one at a time from a buffer, so pipelined
 * answers and interim 100s can be checked in order.
 *
 *   hc_open(port)             connect to 127.0.0.1:port (NULL on failure)
 *   hc_send(c, p, n), hc_sends(c, s)   write all bytes (0, or -1)
 *   hc_read(c, r, head, ms)   one response (head: HEAD request, no body);
 *                             0, or -1 on timeout, EOF or reset first
 *   hc_fill(c, max, ms)       read up to max bytes into the buffer (for a
 *                             slow reader): 1, 0 on EOF or reset, -1 timeout
 *   hc_eof(c, ms)             1 when the server closed (EOF or reset),
 *                             0 on timeout; buffered bytes are dropped
 *   hc_header(r, name)        a header's value (static copy) or NULL
 *   hc_close(c), hc_resp_free(r)
 *   hc_once(port, raw, r)     connect, send, read one response (waiting up
 *                             to HC_WAIT_MS), close: the status, or -1
 */
#ifndef JOBQD_TEST_HTTP_CLIENT_H
#define JOBQD_TEST_HTTP_CLIENT_H

#include <stddef.h>

#define HC_WAIT_MS	10000	/* hc_once's bound on the wait for an answer */

struct hc;

struct hc_resp {
	int status;
	char *head;		/* status line and fields, NUL-terminated */
	char *body;		/* NUL-terminated */
	size_t body_len;
};

struct hc *hc_open(int port);
void hc_close(struct hc *c);
int hc_fd(const struct hc *c);
int hc_send(struct hc *c, const void *p, size_t n);
int hc_sends(struct hc *c, const char *s);
int hc_read(struct hc *c, struct hc_resp *r, int head, int timeout_ms);
int hc_fill(struct hc *c, size_t max, int timeout_ms);
int hc_eof(struct hc *c, int timeout_ms);
const char *hc_header(const struct hc_resp *r, const char *name);
void hc_resp_free(struct hc_resp *r);
int hc_once(int port, const char *raw, struct hc_resp *r);

#endif
