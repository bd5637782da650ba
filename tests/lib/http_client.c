/*
 * http_client — a tiny raw-socket HTTP/1.1 client for the tests (see
 * http_client.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/http_client.h"

#define HC_BUF	(1024 * 1024)

struct hc {
	int fd;
	int eof;
	size_t len;
	char buf[HC_BUF];
};

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct hc *hc_open(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct hc *c = malloc(sizeof *c);

	if (c == NULL)
		return NULL;
	c->len = 0;
	c->eof = 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd == -1 || connect(c->fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		if (c->fd != -1)
			close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

void hc_close(struct hc *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

int hc_fd(const struct hc *c)
{
	return c->fd;
}

int hc_send(struct hc *c, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int hc_sends(struct hc *c, const char *s)
{
	return hc_send(c, s, strlen(s));
}

/* Read up to max more bytes into the buffer before the deadline: 1 got
 * bytes, 0 EOF or reset, -1 timeout. */
static int fill_max(struct hc *c, size_t max, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (c->eof)
			return 0;
		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (c->len == HC_BUF)
			return -1;
		n = recv(c->fd, c->buf + c->len, HC_BUF - c->len < max ?
		    HC_BUF - c->len : max, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->eof = 1;
			return 0;
		}
		c->len += (size_t)n;
		return 1;
	}
}

static int fill(struct hc *c, long long deadline)
{
	return fill_max(c, HC_BUF, deadline);
}

int hc_fill(struct hc *c, size_t max, int timeout_ms)
{
	return fill_max(c, max, now_ms() + timeout_ms);
}

/* Find "\r\n\r\n" in the buffer: the head's length with it, or 0. */
static size_t head_end(const struct hc *c)
{
	for (size_t i = 0; i + 4 <= c->len; i++)
		if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

const char *hc_header(const struct hc_resp *r, const char *name)
{
	static char val[4096];
	size_t nl = strlen(name);
	const char *p = r->head ? strstr(r->head, "\r\n") : NULL;

	while (p != NULL && p[2] != '\0') {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (end == NULL)
			break;
		if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t n;

			while (*v == ' ' || *v == '\t')
				v++;
			n = (size_t)(end - v);
			if (n >= sizeof val)
				n = sizeof val - 1;
			memcpy(val, v, n);
			val[n] = '\0';
			return val;
		}
		p = end;
	}
	return NULL;
}

int hc_read(struct hc *c, struct hc_resp *r, int head, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	size_t hl, need;
	const char *cl;
	int until_close = 0;

	memset(r, 0, sizeof *r);
	while ((hl = head_end(c)) == 0)
		if (fill(c, deadline) != 1)
			return -1;
	r->head = malloc(hl + 1);
	if (r->head == NULL)
		return -1;
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	if (head || (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304)
		need = 0;
	else if ((cl = hc_header(r, "Content-Length")) != NULL)
		need = (size_t)strtoul(cl, NULL, 10);
	else
		until_close = 1, need = 0;
	if (until_close) {
		int rc;

		while ((rc = fill(c, deadline)) == 1)
			;
		if (rc == -1)
			goto fail;
		need = c->len - hl;
	} else {
		while (c->len - hl < need)
			if (fill(c, deadline) != 1)
				goto fail;
	}
	r->body = malloc(need + 1);
	if (r->body == NULL)
		goto fail;
	memcpy(r->body, c->buf + hl, need);
	r->body[need] = '\0';
	r->body_len = need;
	memmove(c->buf, c->buf + hl + need, c->len - hl - need);
	c->len -= hl + need;
	return 0;
fail:
	hc_resp_free(r);
	return -1;
}

int hc_eof(struct hc *c, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int rc;

	while ((rc = fill(c, deadline)) == 1)
		c->len = 0;
	c->len = 0;
	return rc == 0;
}

void hc_resp_free(struct hc_resp *r)
{
	free(r->head);
	free(r->body);
	r->head = r->body = NULL;
}

int hc_once(int port, const char *raw, struct hc_resp *r)
{
	struct hc *c = hc_open(port);
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (c == NULL)
		return -1;
	if (hc_sends(c, raw) == 0 && hc_read(c, r, strncmp(raw, "HEAD ", 5) == 0, HC_WAIT_MS) == 0)
		rc = r->status;
	hc_close(c);
	return rc;
}
