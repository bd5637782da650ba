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
 *   hc_eof(c, ms)             1 when the server closed (EOF or reset),
 *                             0 on timeout; buffered bytes are dropped
 *   hc_header(r, name)        a header's value (static copy) or NULL
 *   hc_close(c), hc_resp_free(r)
 */
#ifndef JOBQD_TEST_HTTP_CLIENT_H
#define JOBQD_TEST_HTTP_CLIENT_H

#include <stddef.h>

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
int hc_eof(struct hc *c, int timeout_ms);
const char *hc_header(const struct hc_resp *r, const char *name);
void hc_resp_free(struct hc_resp *r);

/* Connect, send, read one response, close: the status, or -1. */
int hc_once(int port, const char *raw, struct hc_resp *r);

#endif
