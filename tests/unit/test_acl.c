/*
 * test_acl — server/acl.c in process: CIDR list parsing (canonical text or
 * the exact error), matching peers of both families (IPv4-mapped IPv6
 * included), the token file's checks, the token comparison, and the
 * rate limit of the denial log.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "server/acl.h"

#define NELEM(a)	(int)(sizeof(a) / sizeof((a)[0]))

/* --- parsing ---------------------------------------------------------------- */

/* One list: want is the canonical text, or the error when err is set. */
static const struct { const char *text, *want; int err; } lists[] = {
	{ "", "", 0 },
	{ " \t ", "", 0 },
	{ "0.0.0.0/0", "0.0.0.0/0", 0 },
	{ "10.1.2.3/32", "10.1.2.3/32", 0 },
	{ "10.1.2.3", "10.1.2.3/32", 0 },
	{ "192.0.2.128/25", "192.0.2.128/25", 0 },
	{ "::/0", "::/0", 0 },
	{ "::1", "::1/128", 0 },
	{ "::1/128", "::1/128", 0 },
	{ "2001:DB8::/32", "2001:db8::/32", 0 },
	{ "127.0.0.0/8 ::1", "127.0.0.0/8 ::1/128", 0 },
	{ "\t10.0.0.0/8   192.168.0.0/16\t", "10.0.0.0/8 192.168.0.0/16", 0 },
	/* IPv4-mapped IPv6 rules are IPv4 rules */
	{ "::ffff:1.2.3.4", "1.2.3.4/32", 0 },
	{ "::ffff:192.0.2.0/120", "192.0.2.0/24", 0 },
	{ "::ffff:0.0.0.0/96", "0.0.0.0/0", 0 },
	{ "10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be 0 to 32", 1 },
	{ "::/129", "\"::/129\": the prefix length must be 0 to 128", 1 },
	{ "10.0.0.1/8", "\"10.0.0.1/8\": address bits set after the prefix "
	  "(did you mean 10.0.0.0/8?)", 1 },
	{ "2001:db8::1/32", "\"2001:db8::1/32\": address bits set after the "
	  "prefix (did you mean 2001:db8::/32?)", 1 },
	{ "1.2.3.4/0", "\"1.2.3.4/0\": address bits set after the prefix "
	  "(did you mean 0.0.0.0/0?)", 1 },
	/* ::ffff:0:0/80 has the ffff after its prefix: not an IPv4 rule */
	{ "::ffff:0:0/80", "\"::ffff:0:0/80\": address bits set after the "
	  "prefix (did you mean ::/80?)", 1 },
	{ "10.0.0.0/", "\"10.0.0.0/\" is not an IPv4 or IPv6 address with an "
	  "optional /PREFIX", 1 },
	{ "10.0.0.0/-1", "\"10.0.0.0/-1\" is not an IPv4 or IPv6 address with "
	  "an optional /PREFIX", 1 },
	{ "10.0.0.0/+8", "\"10.0.0.0/+8\" is not an IPv4 or IPv6 address with "
	  "an optional /PREFIX", 1 },
	{ "10.0.0.0/8/8", "\"10.0.0.0/8/8\" is not an IPv4 or IPv6 address "
	  "with an optional /PREFIX", 1 },
	{ "10.0.0.0/0008", "\"10.0.0.0/0008\" is not an IPv4 or IPv6 address "
	  "with an optional /PREFIX", 1 },
	{ "10.0.0.0/8x", "\"10.0.0.0/8x\" is not an IPv4 or IPv6 address with "
	  "an optional /PREFIX", 1 },
	{ "/8", "\"/8\" is not an IPv4 or IPv6 address with an optional /PREFIX", 1 },
	{ "1.2.3", "\"1.2.3\" is not an IPv4 or IPv6 address with an optional "
	  "/PREFIX", 1 },
	{ "1.2.3.4.5", "\"1.2.3.4.5\" is not an IPv4 or IPv6 address with an "
	  "optional /PREFIX", 1 },
	{ "256.0.0.0", "\"256.0.0.0\" is not an IPv4 or IPv6 address with an "
	  "optional /PREFIX", 1 },
	{ "01.2.3.4", "\"01.2.3.4\" is not an IPv4 or IPv6 address with an "
	  "optional /PREFIX", 1 },
	{ "fe80::1%eth0", "\"fe80::1%eth0\" is not an IPv4 or IPv6 address "
	  "with an optional /PREFIX", 1 },
	{ "localhost", "\"localhost\" is not an IPv4 or IPv6 address with an "
	  "optional /PREFIX", 1 },
	{ "*", "\"*\" is not an IPv4 or IPv6 address with an optional /PREFIX", 1 },
	{ "10.0.0.0/8,::1", "\"10.0.0.0/8,::1\" is not an IPv4 or IPv6 address "
	  "with an optional /PREFIX", 1 },
	/* the first bad word is named, the good ones before it do not stick */
	{ "::1 127.0.0.1 nope 10.0.0.0/8", "\"nope\" is not an IPv4 or IPv6 "
	  "address with an optional /PREFIX", 1 },
};

START_TEST(parse_lists)
{
	struct acl a, before;
	char got[1024], why[256] = "";
	int rc;

	memset(&a, 0, sizeof a);
	ck_assert_int_eq(acl_set_list(&a, ACL_DENY, "192.0.2.1", why, sizeof why), 0);
	before = a;
	rc = acl_set_list(&a, ACL_DENY, lists[_i].text, why, sizeof why);
	if (lists[_i].err) {
		ck_assert_msg(rc == -1, "\"%s\": accepted, want \"%s\"",
		    lists[_i].text, lists[_i].want);
		ck_assert_msg(strcmp(why, lists[_i].want) == 0,
		    "\"%s\": got \"%s\", want \"%s\"", lists[_i].text, why,
		    lists[_i].want);
		ck_assert_msg(memcmp(&a, &before, sizeof a) == 0,
		    "\"%s\": the list changed on error", lists[_i].text);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\": got \"%s\"", lists[_i].text, why);
	acl_format_list(&a, ACL_DENY, got, sizeof got);
	ck_assert_msg(strcmp(got, lists[_i].want) == 0, "\"%s\": got \"%s\", want \"%s\"",
	    lists[_i].text, got, lists[_i].want);
	/* the other list is untouched */
	acl_format_list(&a, ACL_ALLOW, got, sizeof got);
	ck_assert_str_eq(got, "");
}
END_TEST

/* ACL_RULES_MAX rules fit; one more is refused.  A garbage word longer
 * than any address is quoted cut short. */
START_TEST(parse_limits)
{
	char text[ACL_RULES_MAX * 16 + 32], got[ACL_RULES_MAX * 20], why[256];
	char want[128], long_word[200];
	struct acl a;
	size_t o = 0;

	memset(&a, 0, sizeof a);
	for (int i = 0; i < ACL_RULES_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof text - o, "10.0.%d.0/24 ", i);
	ck_assert_int_eq(acl_set_list(&a, ACL_ALLOW, text, why, sizeof why), 0);
	acl_format_list(&a, ACL_ALLOW, got, sizeof got);
	ck_assert_msg(strstr(got, "10.0.31.0/24") != NULL, "%s", got);
	snprintf(text + o, sizeof text - o, "10.1.0.0/16");
	ck_assert_int_eq(acl_set_list(&a, ACL_ALLOW, text, why, sizeof why), -1);
	snprintf(want, sizeof want, "more than %d CIDRs", ACL_RULES_MAX);
	ck_assert_str_eq(why, want);

	memset(long_word, 'x', sizeof long_word - 1);
	long_word[sizeof long_word - 1] = '\0';
	ck_assert_int_eq(acl_set_list(&a, ACL_ALLOW, long_word, why, sizeof why), -1);
	snprintf(want, sizeof want, "\"%.64s\" is not an IPv4 or IPv6 address "
	    "with an optional /PREFIX", long_word);
	ck_assert_str_eq(why, want);
}
END_TEST

/* --- matching --------------------------------------------------------------- */

/* A sockaddr for an address text (IPv6 when it holds ':'). */
static const struct sockaddr *peer(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

static const struct { const char *allow, *deny, *peer; int want; } matches[] = {
	{ "", "", "203.0.113.9", 1 },
	{ "", "", "2001:db8::9", 1 },
	{ "127.0.0.0/8", "", "127.0.0.1", 1 },
	{ "127.0.0.0/8", "", "127.255.255.255", 1 },
	{ "127.0.0.0/8", "", "128.0.0.1", 0 },
	{ "127.0.0.0/8", "", "126.255.255.255", 0 },
	{ "127.0.0.0/8", "", "::ffff:127.0.0.1", 1 },
	{ "127.0.0.0/8", "", "::ffff:128.0.0.1", 0 },
	{ "127.0.0.0/8", "", "::1", 0 },
	{ "::1", "", "::1", 1 },
	{ "::1", "", "127.0.0.1", 0 },
	{ "::1", "", "::2", 0 },
	/* an IPv6 rule never matches an IPv4 peer, mapped or not */
	{ "::/0", "", "2001:db8::1", 1 },
	{ "::/0", "", "127.0.0.1", 0 },
	{ "::/0", "", "::ffff:127.0.0.1", 0 },
	{ "0.0.0.0/0", "", "::ffff:203.0.113.9", 1 },
	{ "0.0.0.0/0", "", "::1", 0 },
	{ "::ffff:10.0.0.0/104", "", "10.9.9.9", 1 },
	{ "::ffff:10.0.0.0/104", "", "::ffff:10.9.9.9", 1 },
	{ "::ffff:10.0.0.0/104", "", "11.0.0.0", 0 },
	{ "192.0.2.128/25", "", "192.0.2.127", 0 },
	{ "192.0.2.128/25", "", "192.0.2.128", 1 },
	{ "192.0.2.128/25", "", "192.0.2.255", 1 },
	{ "2001:db8::/33", "", "2001:db8:7fff:ffff::1", 1 },
	{ "2001:db8::/33", "", "2001:db8:8000::", 0 },
	{ "1.2.3.4", "", "1.2.3.4", 1 },
	{ "1.2.3.4", "", "1.2.3.5", 0 },
	{ "10.0.0.0/8 192.0.2.0/24", "", "192.0.2.1", 1 },
	/* deny first */
	{ "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", 0 },
	{ "10.0.0.0/8", "10.1.0.0/16", "10.2.0.0", 1 },
	{ "", "192.0.2.7", "192.0.2.7", 0 },
	{ "", "192.0.2.7", "::ffff:192.0.2.7", 0 },
	{ "", "192.0.2.7", "192.0.2.8", 1 },
	{ "", "192.0.2.7", "::1", 1 },
	{ "0.0.0.0/0", "0.0.0.0/0", "1.2.3.4", 0 },
};

START_TEST(match_peers)
{
	struct sockaddr_storage ss;
	struct acl a;
	char why[256];

	memset(&a, 0, sizeof a);
	ck_assert_int_eq(acl_set_list(&a, ACL_ALLOW, matches[_i].allow, why, sizeof why), 0);
	ck_assert_int_eq(acl_set_list(&a, ACL_DENY, matches[_i].deny, why, sizeof why), 0);
	ck_assert_msg(acl_peer_allowed(&a, peer(matches[_i].peer, &ss)) == matches[_i].want,
	    "allow \"%s\" deny \"%s\": %s: want %s", matches[_i].allow,
	    matches[_i].deny, matches[_i].peer, matches[_i].want ? "allowed" : "denied");
}
END_TEST

/* A family that is neither IPv4 nor IPv6 matches no rule. */
START_TEST(match_other_family)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct acl a;
	char why[256];

	memset(&a, 0, sizeof a);
	ck_assert(acl_peer_allowed(&a, (struct sockaddr *)&un));
	ck_assert_int_eq(acl_set_list(&a, ACL_DENY, "192.0.2.7", why, sizeof why), 0);
	ck_assert(!acl_peer_allowed(&a, (struct sockaddr *)&un));
}
END_TEST

/* --- the token file ----------------------------------------------------------- */

static char dir[64];

static void token_setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/jobqd-test-acl-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void token_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write a file in dir with this content and mode; its path in path. */
static void token_file(char *path, size_t n, const char *name, const char *text,
    size_t len, mode_t mode)
{
	int fd;

	snprintf(path, n, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static const struct { const char *text; size_t len; mode_t mode; const char *err; unsigned tlen; } tokens[] = {
	{ "abc\n", 4, 0600, NULL, 3 },
	{ "abc\r\n", 5, 0600, NULL, 3 },
	{ "abc", 3, 0600, NULL, 3 },
	{ "abc\n", 4, 0400, NULL, 3 },
	{ "abc\n", 4, 0700, NULL, 3 },
	{ "Zz09-._~+/==\n", 13, 0600, NULL, 12 },
	{ "abc\n", 4, 0644, "mode 0644 lets group or others at the token; want 0600 or 0400", 0 },
	{ "abc\n", 4, 0640, "mode 0640 lets group or others at the token; want 0600 or 0400", 0 },
	{ "abc\n", 4, 0620, "mode 0620 lets group or others at the token; want 0600 or 0400", 0 },
	{ "abc\n", 4, 0610, "mode 0610 lets group or others at the token; want 0600 or 0400", 0 },
	{ "abc\n", 4, 0602, "mode 0602 lets group or others at the token; want 0600 or 0400", 0 },
	{ "abc\n", 4, 0601, "mode 0601 lets group or others at the token; want 0600 or 0400", 0 },
	{ "", 0, 0600, "empty; it must hold the token", 0 },
	{ "\n", 1, 0600, "empty; it must hold the token", 0 },
	{ "\r\n", 2, 0600, "empty; it must hold the token", 0 },
	{ "abc\n\n", 5, 0600, "byte 4 of the token is not allowed (want one line of "
	  "A-Z a-z 0-9 - . _ ~ + / and trailing =)", 0 },
	{ "a b\n", 4, 0600, "byte 2 of the token is not allowed (want one line of "
	  "A-Z a-z 0-9 - . _ ~ + / and trailing =)", 0 },
	{ "a\0b\n", 4, 0600, "byte 2 of the token is not allowed (want one line of "
	  "A-Z a-z 0-9 - . _ ~ + / and trailing =)", 0 },
	{ "a=b\n", 4, 0600, "byte 3 of the token is not allowed (want one line of "
	  "A-Z a-z 0-9 - . _ ~ + / and trailing =)", 0 },
	{ "=ab\n", 4, 0600, "byte 1 of the token is not allowed (want one line of "
	  "A-Z a-z 0-9 - . _ ~ + / and trailing =)", 0 },
	{ "ab\tc", 4, 0600, "byte 3 of the token is not allowed (want one line of "
	  "A-Z a-z 0-9 - . _ ~ + / and trailing =)", 0 },
};

START_TEST(token_files)
{
	char path[128], why[512] = "", want[512];
	struct acl a, before;

	memset(&a, 0, sizeof a);
	token_file(path, sizeof path, "old", "old\n", 4, 0600);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), 0);
	before = a;
	token_file(path, sizeof path, "token", tokens[_i].text, tokens[_i].len,
	    tokens[_i].mode);
	if (tokens[_i].err == NULL) {
		ck_assert_msg(acl_load_token(&a, path, why, sizeof why) == 0,
		    "row %d: got \"%s\"", _i, why);
		ck_assert_uint_eq(a.token_len, tokens[_i].tlen);
		ck_assert(acl_token_on(&a));
		return;
	}
	ck_assert_msg(acl_load_token(&a, path, why, sizeof why) == -1,
	    "row %d: accepted", _i);
	snprintf(want, sizeof want, "%s: %s", path, tokens[_i].err);
	ck_assert_msg(strncmp(why, want, strlen(want)) == 0, "row %d: got \"%s\", want \"%s\"",
	    _i, why, want);
	ck_assert_msg(memcmp(&a, &before, sizeof a) == 0, "row %d: the old token changed", _i);
}
END_TEST

/* Files that are no token files; "" turns the token off. */
START_TEST(token_file_kinds)
{
	char path[128], link[160], why[512], want[512], big[ACL_TOKEN_MAX + 2];
	struct acl a;

	memset(&a, 0, sizeof a);
	ck_assert_int_eq(acl_load_token(&a, dir, why, sizeof why), -1);
	snprintf(want, sizeof want, "%s: not a regular file", dir);
	ck_assert_str_eq(why, want);

	/* a FIFO is refused without blocking on its open */
	snprintf(path, sizeof path, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), -1);
	snprintf(want, sizeof want, "%s: not a regular file", path);
	ck_assert_str_eq(why, want);

	snprintf(path, sizeof path, "%s/missing", dir);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	ck_assert_str_eq(why, want);

	ck_assert_int_eq(acl_load_token(&a, "token", why, sizeof why), -1);
	ck_assert_str_eq(why, "must be an absolute path, got \"token\"");

	/* ACL_TOKEN_MAX bytes are fine, one more is not */
	memset(big, 'a', sizeof big);
	big[ACL_TOKEN_MAX] = '\n';
	token_file(path, sizeof path, "max", big, ACL_TOKEN_MAX + 1, 0600);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), 0);
	ck_assert_uint_eq(a.token_len, ACL_TOKEN_MAX);
	big[ACL_TOKEN_MAX] = 'a';
	token_file(path, sizeof path, "over", big, ACL_TOKEN_MAX + 2, 0600);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), -1);
	snprintf(want, sizeof want, "%s: the token is longer than %d bytes", path,
	    ACL_TOKEN_MAX);
	ck_assert_str_eq(why, want);

	/* the mode that counts is the file's, not a symlink's */
	token_file(path, sizeof path, "real", "abc\n", 4, 0600);
	snprintf(link, sizeof link, "%s/link", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(acl_load_token(&a, link, why, sizeof why), 0);
	ck_assert_uint_eq(a.token_len, 3);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(acl_load_token(&a, link, why, sizeof why), -1);

	ck_assert_int_eq(acl_load_token(&a, "", why, sizeof why), 0);
	ck_assert(!acl_token_on(&a));
	ck_assert(acl_token_ok(&a, NULL, 0));
}
END_TEST

/* --- the comparison ----------------------------------------------------------- */

static int ok(const struct acl *a, const char *v)
{
	return acl_token_ok(a, v, strlen(v));
}

START_TEST(token_compare)
{
	char path[128], why[512], big[ACL_TOKEN_MAX + 1], hdr[ACL_TOKEN_MAX + 64];
	struct acl a;

	memset(&a, 0, sizeof a);
	/* no token: everything passes */
	ck_assert(acl_token_ok(&a, NULL, 0));
	ck_assert(ok(&a, "Basic x"));

	token_file(path, sizeof path, "t", "s3cret\n", 7, 0600);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), 0);
	ck_assert(ok(&a, "Bearer s3cret"));
	ck_assert(ok(&a, "bearer s3cret"));
	ck_assert(ok(&a, "BEARER s3cret"));
	ck_assert(ok(&a, "Bearer   s3cret"));
	ck_assert(!acl_token_ok(&a, NULL, 0));
	ck_assert(!ok(&a, ""));
	ck_assert(!ok(&a, "Bearer"));
	ck_assert(!ok(&a, "Bearer "));
	ck_assert(!ok(&a, "Bearer s3cre"));
	ck_assert(!ok(&a, "Bearer s3cretx"));
	ck_assert(!ok(&a, "Bearer s3creT"));
	ck_assert(!ok(&a, "Bearer S3cret"));
	ck_assert(!ok(&a, "Bearers3cret"));
	ck_assert(!ok(&a, "Bearer\ts3cret"));
	ck_assert(!ok(&a, "Basic s3cret"));
	ck_assert(!ok(&a, "s3cret"));
	ck_assert(!ok(&a, "Bearer s3cret "));
	/* zero padding is no match: the lengths count too */
	ck_assert(!acl_token_ok(&a, "Bearer s3cret\0", 14));
	ck_assert(!acl_token_ok(&a, "Bearer s3cret\0\0\0", 16));
	/* only the first len bytes are looked at */
	ck_assert(acl_token_ok(&a, "Bearer s3cretXYZ", 13));

	/* a token of ACL_TOKEN_MAX bytes: the last byte counts; longer ones
	 * are refused */
	memset(big, 'k', ACL_TOKEN_MAX);
	big[ACL_TOKEN_MAX] = '\n';
	token_file(path, sizeof path, "t", big, sizeof big, 0600);
	ck_assert_int_eq(acl_load_token(&a, path, why, sizeof why), 0);
	snprintf(hdr, sizeof hdr, "Bearer %.*s", ACL_TOKEN_MAX, big);
	ck_assert(ok(&a, hdr));
	hdr[strlen(hdr) - 1] = 'j';
	ck_assert(!ok(&a, hdr));
	snprintf(hdr, sizeof hdr, "Bearer %.*sk", ACL_TOKEN_MAX, big);
	ck_assert(!ok(&a, hdr));
}
END_TEST

/* --- the denial log ----------------------------------------------------------- */

/* A connected TCP socket on the loopback; its local port in *port. */
static int loopback_pair(int *client, unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*client, (struct sockaddr *)&sin, sizeof sin), 0);
	len = sizeof sin;
	ck_assert_int_eq(getsockname(*client, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	close(lfd);
	return fd;
}

/* The log file's text (static). */
static const char *slurp(const char *path)
{
	static char text[4096];
	FILE *fp = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(fp);
	n = fread(text, 1, sizeof text - 1, fp);
	text[n] = '\0';
	fclose(fp);
	return text;
}

static unsigned lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One line a second at most; the next line counts the quiet ones.  The
 * clock is the caller's, so this does not depend on timing. */
START_TEST(denial_log_rate_limit)
{
	const int64_t s = 1000000000, t0 = 50 * s;
	char path[128], want[160];
	const char *text;
	unsigned port;
	int client, fd = loopback_pair(&client, &port);

	snprintf(path, sizeof path, "%s/log", dir);
	ck_assert_int_eq(log_open(path, LOG_LEVEL_INFO), 0);
	acl_log_denied(fd, 403, t0);
	text = slurp(path);
	snprintf(want, sizeof want, "denied 127.0.0.1 port %u: 403 not in allow or in deny\n", port);
	ck_assert_msg(strstr(text, want) != NULL, "got \"%s\", want \"%s\"", text, want);
	acl_log_denied(fd, 401, t0 + s / 2);
	acl_log_denied(fd, 401, t0 + s - 1);
	ck_assert_uint_eq(lines(slurp(path)), 1);
	acl_log_denied(fd, 401, t0 + s);
	text = slurp(path);
	ck_assert_uint_eq(lines(text), 2);
	snprintf(want, sizeof want, "denied 127.0.0.1 port %u: 401 missing or wrong "
	    "bearer token (and 2 more not logged)\n", port);
	ck_assert_msg(strstr(text, want) != NULL, "got \"%s\", want \"%s\"", text, want);
	/* the count starts again */
	acl_log_denied(fd, 401, t0 + 3 * s);
	text = slurp(path);
	ck_assert_uint_eq(lines(text), 3);
	ck_assert_ptr_null(strstr(strrchr(text, ':'), "more not logged"));
	/* below info nothing is logged */
	log_set_level(LOG_LEVEL_WARN);
	acl_log_denied(fd, 403, t0 + 10 * s);
	ck_assert_uint_eq(lines(slurp(path)), 3);
	close(fd);
	close(client);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acl");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, parse_lists, 0, NELEM(lists));
	tcase_add_test(tc, parse_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_loop_test(tc, match_peers, 0, NELEM(matches));
	tcase_add_test(tc, match_other_family);
	suite_add_tcase(s, tc);

	tc = tcase_create("token");
	tcase_add_checked_fixture(tc, token_setup, token_teardown);
	tcase_add_loop_test(tc, token_files, 0, NELEM(tokens));
	tcase_add_test(tc, token_file_kinds);
	tcase_add_test(tc, token_compare);
	tcase_add_test(tc, denial_log_rate_limit);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
