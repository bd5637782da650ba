/*
 * acl — who may talk to jobqd: CIDR allow and deny lists matched against a
 * client's address at accept, and the bearer token every request but
 * /healthz must carry when a token file is configured.
 *
 * struct acl is flat and bounded (ACL_RULES_MAX rules per list, a token of
 * at most ACL_TOKEN_MAX bytes) because it lives in struct config, which is
 * copied through a pipe on reload.  Its fields are private to acl.c.
 *
 *   acl_set_list(a, which, text, why, n)  parse "CIDR CIDR ..." into the
 *                                  allow or deny list; "" empties it
 *   acl_format_list(a, which, buf, n)    the list back as canonical text
 *   acl_load_token(a, path, why, n)      read a token file; "" = no token
 *   acl_peer_allowed(a, sa)        deny first, then allow ("" allows all)
 *   acl_token_on(a)                is a token required
 *   acl_token_ok(a, value, len)    does an Authorization value carry it
 *   acl_log_denied(fd, status, now)  log a refusal with the peer address,
 *                                  at most one line a second
 */
#ifndef JOBQD_ACL_H
#define JOBQD_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ACL_RULES_MAX	32	/* CIDRs in one list */
#define ACL_TOKEN_MAX	256	/* bytes in a bearer token */

enum acl_which { ACL_ALLOW, ACL_DENY };

struct acl_rule {
	uint8_t v6;		/* 0: IPv4 (addr[0..3]), 1: IPv6 */
	uint8_t prefix;		/* 0..32 or 0..128 */
	uint8_t addr[16];
};

struct acl_list {
	unsigned n;
	struct acl_rule rule[ACL_RULES_MAX];
};

struct acl {
	struct acl_list list[2];	/* [ACL_ALLOW], [ACL_DENY] */
	unsigned token_len;		/* 0: no token required */
	uint8_t token[ACL_TOKEN_MAX];	/* zero after token_len */
};

/* 0, or -1 with a reason in why and a unchanged. */
int acl_set_list(struct acl *a, enum acl_which which, const char *text,
    char *why, size_t n);
void acl_format_list(const struct acl *a, enum acl_which which, char *buf,
    size_t n);
/* 0, or -1 with a reason in why and a unchanged.  The file must be a
 * regular file with no group or other permission bits, holding one
 * RFC 6750 token (a trailing newline is ignored). */
int acl_load_token(struct acl *a, const char *path, char *why, size_t n);
int acl_peer_allowed(const struct acl *a, const struct sockaddr *sa);
int acl_token_on(const struct acl *a);
/* value: an Authorization field value, "Bearer TOKEN"; NULL = absent.
 * Takes the same time whatever the configured token's length and bytes. */
int acl_token_ok(const struct acl *a, const char *value, size_t len);
/* Log "STATUS to PEER" at info; within a second of the last line only
 * count it, and report the count with the next line.  now: monotonic ns. */
void acl_log_denied(int fd, int status, int64_t now);

#endif
