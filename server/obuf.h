/*
 * obuf — a growable byte buffer for building responses.
 *
 * Appends never fail loudly: an allocation failure sets a sticky flag the
 * caller checks once (obuf_failed) after building a response, so rendering
 * code stays a straight list of appends.
 *
 *   obuf_add(b, p, n)      append bytes
 *   obuf_str(b, s)         append a C string
 *   obuf_uint(b, v)        append a decimal number
 *   obuf_printf(b, ...)    append formatted text
 *   obuf_consume(b, n)     drop n bytes from the front
 *   obuf_reset / obuf_free
 */
#ifndef JOBQD_OBUF_H
#define JOBQD_OBUF_H

#include <stddef.h>
#include <stdint.h>

struct obuf {
	char *p;
	size_t len, cap;
	size_t off;	/* bytes at the front already consumed */
	int failed;
};

void obuf_add(struct obuf *b, const void *p, size_t n);
void obuf_str(struct obuf *b, const char *s);
/* Append a number in decimal. */
void obuf_uint(struct obuf *b, uint64_t v);
void obuf_printf(struct obuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Unconsumed bytes. */
static inline size_t obuf_pending(const struct obuf *b) { return b->len - b->off; }
void obuf_consume(struct obuf *b, size_t n);
void obuf_reset(struct obuf *b);
void obuf_free(struct obuf *b);

#endif
