/*
 * acl — address lists and the bearer token (see acl.h).
 *
 * Rules keep their family: an IPv4 rule matches IPv4 peers, including
 * IPv4-mapped IPv6 peers (::ffff:a.b.c.d, what a dual-stack listener
 * sees), and an IPv6 rule matches the other IPv6 peers.  An IPv6 rule
 * written inside ::ffff:0:0/96 is stored as the IPv4 rule it means.
 * A rule with bits set after its prefix is refused rather than guessed.
 *
 * The token is kept zero-padded to ACL_TOKEN_MAX bytes; a presented one
 * is copied into a zeroed buffer of the same size (its length is the
 * client's own) and every check compares all ACL_TOKEN_MAX bytes and the
 * lengths, folding the differences together without a branch, so its
 * time does not depend on the configured token.  Only a presented token
 * longer than ACL_TOKEN_MAX (which cannot match) is refused early.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/rfile.h"
#include "server/acl.h"

#define WORD_MAX	64	/* longest CIDR text: an IPv6 address and "/128" */
#define NS_PER_S	1000000000LL

/* Is addr (16 bytes) an IPv4-mapped IPv6 address, ::ffff:a.b.c.d? */
static int v4mapped(const uint8_t *addr)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return memcmp(addr, prefix, sizeof prefix) == 0;
}

/* Is the bit at position i (from the most significant) of addr set? */
static int bit(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1;
}

/* "a.b.c.d/N" or "v6/N" of a rule. */
static void rule_format(const struct acl_rule *r, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(r->v6 ? AF_INET6 : AF_INET, r->addr, host, sizeof host);
	snprintf(buf, n, "%s/%u", host, r->prefix);
}

/* Parse one CIDR w[0..len) into r; a missing prefix means one host. */
static int rule_parse(const char *w, size_t len, struct acl_rule *r, char *why,
    size_t n)
{
	char text[WORD_MAX], *slash, canon[WORD_MAX];
	unsigned prefix, max;
	struct acl_rule tmp;

	memset(&tmp, 0, sizeof tmp);
	if (len >= sizeof text)
		goto bad;
	memcpy(text, w, len);
	text[len] = '\0';
	if ((slash = strchr(text, '/')) != NULL)
		*slash = '\0';
	tmp.v6 = strchr(text, ':') != NULL;
	if (inet_pton(tmp.v6 ? AF_INET6 : AF_INET, text, tmp.addr) != 1)
		goto bad;
	max = tmp.v6 ? 128 : 32;
	prefix = max;
	if (slash != NULL) {
		const char *p = slash + 1;

		prefix = 0;
		if (*p == '\0' || strlen(p) > 3)
			goto bad;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max) {
			snprintf(why, n, "\"%.*s\": the prefix length must be 0 to %u",
			    (int)len, w, max);
			return -1;
		}
	}
	tmp.prefix = (uint8_t)prefix;
	if (tmp.v6 && prefix >= 96 && v4mapped(tmp.addr)) {
		memmove(tmp.addr, tmp.addr + 12, 4);
		memset(tmp.addr + 4, 0, 12);
		tmp.v6 = 0;
		tmp.prefix = (uint8_t)(prefix - 96);
		max = 32;
	}
	for (unsigned i = tmp.prefix; i < max; i++) {
		if (!bit(tmp.addr, i))
			continue;
		for (; i < max; i++)
			tmp.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
		rule_format(&tmp, canon, sizeof canon);
		snprintf(why, n, "\"%.*s\": address bits set after the prefix "
		    "(did you mean %s?)", (int)len, w, canon);
		return -1;
	}
	*r = tmp;
	return 0;
bad:
	snprintf(why, n, "\"%.*s\" is not an IPv4 or IPv6 address with an "
	    "optional /PREFIX", (int)(len < WORD_MAX ? len : WORD_MAX), w);
	return -1;
}

int acl_set_list(struct acl *a, enum acl_which which, const char *text,
    char *why, size_t n)
{
	struct acl_list l = { .n = 0 };
	const char *p = text;

	for (;;) {
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t");
		if (l.n == ACL_RULES_MAX) {
			snprintf(why, n, "more than %d CIDRs", ACL_RULES_MAX);
			return -1;
		}
		if (rule_parse(p, len, &l.rule[l.n], why, n) == -1)
			return -1;
		l.n++;
		p += len;
	}
	a->list[which] = l;
	return 0;
}

void acl_format_list(const struct acl *a, enum acl_which which, char *buf,
    size_t n)
{
	const struct acl_list *l = &a->list[which];
	size_t off = 0;

	if (n == 0)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < l->n && off < n; i++) {
		char one[WORD_MAX];

		rule_format(&l->rule[i], one, sizeof one);
		off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? " " : "", one);
	}
}

/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
 * "/" ) *"="; the offset of the first byte that breaks it, or len. */
static size_t token_bad_at(const uint8_t *t, size_t len)
{
	size_t i = 0;

	for (; i < len; i++) {
		uint8_t ch = t[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~+/", ch) != NULL) || ch == 0)
			break;
	}
	if (i == 0)
		return 0;
	while (i < len && t[i] == '=')
		i++;
	return i;
}

int acl_load_token(struct acl *a, const char *path, char *why, size_t n)
{
	uint8_t buf[ACL_TOKEN_MAX + 3];	/* the token, "\r\n", one too many */
	size_t len, bad;
	struct stat st;
	ssize_t got;
	int rc = -1;

	if (path[0] == '\0') {
		a->token_len = 0;
		memset(a->token, 0, sizeof a->token);
		return 0;
	}
	if (path[0] != '/') {
		snprintf(why, n, "must be an absolute path, got \"%s\"", path);
		return -1;
	}
	if ((got = rfile_read(path, buf, sizeof buf, &st, why, n)) == -1)
		goto out;
	len = (size_t)got;
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, n, "%s: mode %04o lets group or others at the token; "
		    "want 0600 or 0400 (chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		snprintf(why, n, "%s: empty; it must hold the token", path);
		goto out;
	}
	if (len > ACL_TOKEN_MAX) {
		snprintf(why, n, "%s: the token is longer than %d bytes", path,
		    ACL_TOKEN_MAX);
		goto out;
	}
	if ((bad = token_bad_at(buf, len)) != len) {
		snprintf(why, n, "%s: byte %zu of the token is not allowed (want "
		    "one line of A-Z a-z 0-9 - . _ ~ + / and trailing =)", path,
		    bad + 1);
		goto out;
	}
	memset(a->token, 0, sizeof a->token);
	memcpy(a->token, buf, len);
	a->token_len = (unsigned)len;
	rc = 0;
out:
	memset(buf, 0, sizeof buf);
	return rc;
}

/* The peer's address bytes (IPv4-mapped IPv6 as IPv4): 0 for IPv4, 1 for
 * IPv6, -1 for another family. */
static int peer_addr(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		if (!v4mapped(out))
			return 1;
		memmove(out, out + 12, 4);
		return 0;
	}
	return -1;
}

static int rule_match(const struct acl_rule *r, int v6, const uint8_t *addr)
{
	unsigned full = r->prefix / 8, rem = r->prefix % 8;

	if (r->v6 != v6 || memcmp(r->addr, addr, full) != 0)
		return 0;
	return rem == 0 ||
	    ((r->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

static int list_match(const struct acl_list *l, int v6, const uint8_t *addr)
{
	for (unsigned i = 0; i < l->n; i++)
		if (rule_match(&l->rule[i], v6, addr))
			return 1;
	return 0;
}

int acl_peer_allowed(const struct acl *a, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int v6 = peer_addr(sa, addr);

	if (v6 == -1)
		return a->list[ACL_ALLOW].n == 0 && a->list[ACL_DENY].n == 0;
	if (list_match(&a->list[ACL_DENY], v6, addr))
		return 0;
	return a->list[ACL_ALLOW].n == 0 || list_match(&a->list[ACL_ALLOW], v6, addr);
}

int acl_token_on(const struct acl *a)
{
	return a->token_len != 0;
}

int acl_token_ok(const struct acl *a, const char *value, size_t len)
{
	uint8_t got[ACL_TOKEN_MAX] = { 0 };
	unsigned diff;
	size_t i = 6, tlen;

	if (a->token_len == 0)
		return 1;
	if (value == NULL || len <= i || strncasecmp(value, "Bearer", i) != 0 ||
	    value[i] != ' ')
		return 0;
	while (i < len && value[i] == ' ')
		i++;
	tlen = len - i;
	if (tlen > ACL_TOKEN_MAX)
		return 0;
	memcpy(got, value + i, tlen);	/* the client's length, not ours */
	diff = (unsigned)tlen ^ a->token_len;
	for (i = 0; i < ACL_TOKEN_MAX; i++)
		diff |= (unsigned)(got[i] ^ a->token[i]);
	return diff == 0;
}

/* The rate limit of acl_log_denied: the master is single-threaded. */
static struct {
	int64_t last;		/* when the last line was logged, 0 = never */
	unsigned long quiet;	/* refusals counted since, not logged */
} denied;

void acl_log_denied(int fd, int status, int64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?", more[64] = "";
	uint8_t addr[16];
	unsigned port = 0;
	int v6;

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	if (denied.last != 0 && now - denied.last < NS_PER_S) {
		denied.quiet++;
		return;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    (v6 = peer_addr((struct sockaddr *)&ss, addr)) != -1) {
		inet_ntop(v6 ? AF_INET6 : AF_INET, addr, host, sizeof host);
		port = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (denied.quiet > 0)
		snprintf(more, sizeof more, " (and %lu more not logged)", denied.quiet);
	log_info("denied %s port %u: %d %s%s", host, port, status,
	    status == 403 ? "not in allow or in deny" : "missing or wrong bearer token",
	    more);
	denied.last = now;
	denied.quiet = 0;
}
