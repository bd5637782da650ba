/*
 * config — jobqd's configuration: defaults, the key table, the file parser.
 *
 * One table (CONFIG_KEYS below) names every key with its default, its
 * parser and whether SIGHUP applies it live; config_defaults() runs the
 * defaults through the same parsers, so the key list, the defaults and
 * the validation cannot drift apart.
 *
 * A parser validates one value and writes its field(s) only on success;
 * it explains a failure in a "reason" buffer and config_set() or
 * config_load() prefixes it with "KEY: " or "FILE:LINE: KEY: ".  Nothing
 * here logs or exits.  config_load() parses into a copy and copies it back
 * only when the whole file is good, so a bad file changes nothing.  The
 * file is read whole and bounded (rfile_read, CONFIG_FILE_MAX), so neither
 * a FIFO nor /dev/zero nor a huge file can stall or bloat the master.
 *
 * Values are checked as far as they can be without side effects: exec
 * handlers must name an existing executable file, users and groups must
 * exist, listen addresses must be numeric (no DNS); the token file is read.
 */
#include "common/config.h"
#include "common/rfile.h"
#include "common/segment.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES	4096	/* longest accepted line, without '\n' */
#define HANDLER_FORMS	"sleep MS, noop, exec PROG [ARGS...] or spool DIR"

typedef int (*parse_fn)(struct config *, const char *, char *, size_t);

/* Integer keys: field, minimum, maximum. */
#define UINT_KEY(field, lo, hi)						\
static int								\
parse_##field(struct config *c, const char *v, char *why, size_t n)	\
{									\
	return parse_uint(&c->field, v, lo, hi, why, n);		\
}

/*
 * The key table: name, default, live on SIGHUP, the struct config field
 * it sets (allow and deny both fill acl).  Order is the
 * order of DESIGN.md and of config_keys().
 */
#define CONFIG_KEYS(X)							\
	X(listen,		"0.0.0.0:8099",	1, listen)		\
	X(workers,		"100",		1, workers)		\
	X(queue,		"200",		0, queue)		\
	X(max_payload,		"65536",	0, max_payload)		\
	X(max_output,		"4096",		0, max_output)		\
	X(handler,		"sleep 500",	1, handler)		\
	X(job_timeout,		"0",		1, job_timeout)		\
	X(max_attempts,		"3",		1, max_attempts)	\
	X(retry_delay,		"1",		1, retry_delay)		\
	X(retry_delay_max,	"300",		1, retry_delay_max)	\
	X(max_delay,		"86400",	1, max_delay)		\
	X(drain_timeout,	"30",		1, drain_timeout)	\
	X(shm_name,		"",		0, shm_name)		\
	X(node,			"0",		0, node)		\
	X(pidfile,		"",		0, pidfile)		\
	X(user,			"",		0, user)		\
	X(group,		"",		0, group)		\
	X(log,			"stderr",	1, log)			\
	X(log_level,		"info",		1, log_level)		\
	X(max_connections,	"1024",		1, max_connections)	\
	X(keepalive_timeout,	"15",		1, keepalive_timeout)	\
	X(header_timeout,	"10",		1, header_timeout)	\
	X(body_timeout,		"30",		1, body_timeout)	\
	X(min_body_rate,	"1024",		1, min_body_rate)	\
	X(allow,		"",		1, acl)			\
	X(deny,			"",		1, acl)			\
	X(auth_token_file,	"",		1, auth_token_file)	\
	X(journal,		"",		0, journal)		\
	X(journal_sync,		"yes",		0, journal_sync)

struct key {
	const char *name;
	const char *def;
	parse_fn parse;
	int live;
	size_t off, size;	/* the key's field in struct config */
};

/* Parse decimal digits only into lo..hi; no sign, no spaces, no overflow. */
static int
parse_uint(unsigned *out, const char *v, unsigned long lo, unsigned long hi,
    char *why, size_t n)
{
	unsigned long long x = 0;
	const char *p;

	for (p = v; *p >= '0' && *p <= '9'; p++) {
		x = x * 10 + (unsigned)(*p - '0');
		if (x > hi)
			break;
	}
	if (p == v || *p != '\0' || x < lo || x > hi) {
		snprintf(why, n, "must be an integer from %lu to %lu, got \"%s\"",
		    lo, hi, v);
		return -1;
	}
	*out = (unsigned)x;
	return 0;
}

UINT_KEY(workers, 1, CONFIG_WORKERS_MAX)
UINT_KEY(queue, 1, CONFIG_QUEUE_MAX)
UINT_KEY(max_output, 0, CONFIG_OUTPUT_MAX)
UINT_KEY(job_timeout, 0, 86400)
UINT_KEY(max_attempts, 1, 1000)
UINT_KEY(retry_delay, 0, 86400)
UINT_KEY(retry_delay_max, 0, 86400)
UINT_KEY(max_delay, 0, 31536000)	/* a year */
UINT_KEY(drain_timeout, 0, 86400)
UINT_KEY(node, 0, CONFIG_NODE_MAX)
UINT_KEY(max_connections, 1, 1000000)
UINT_KEY(keepalive_timeout, 1, 3600)
UINT_KEY(header_timeout, 1, 3600)
UINT_KEY(body_timeout, 1, 3600)
UINT_KEY(min_body_rate, 0, 1000000000)

/* 1 (and a reason) when v does not fit a field of cap bytes. */
static int
too_long(const char *v, size_t cap, char *why, size_t n)
{
	if (strlen(v) < cap)
		return 0;
	snprintf(why, n, "longer than %zu bytes", cap - 1);
	return 1;
}

/* Copy v into a field of cap bytes, or explain that it is too long. */
static int
set_string(char *field, size_t cap, const char *v, char *why, size_t n)
{
	if (too_long(v, cap, why, n))
		return -1;
	memcpy(field, v, strlen(v) + 1);
	return 0;
}

/*
 * Split "HOST:PORT" (HOST a.b.c.d, [v6] or *) into a socket address and a
 * port.  Either output may be NULL.
 */
static int
listen_parse(const char *v, struct sockaddr_storage *ss, socklen_t *len,
    unsigned *port, char *why, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_storage tmp;
	const char *h, *colon;
	size_t hlen;
	unsigned p;
	int v6 = 0;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':') {
			snprintf(why, n, "want \"[IPv6]:PORT\", got \"%s\"", v);
			return -1;
		}
		h = v + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		v6 = 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL) {
			snprintf(why, n, "missing \":PORT\" (want a.b.c.d:PORT, "
			    "[IPv6]:PORT or *:PORT), got \"%s\"", v);
			return -1;
		}
		h = v;
		hlen = (size_t)(colon - h);
		if (memchr(h, ':', hlen) != NULL) {
			snprintf(why, n, "an IPv6 address must be in brackets "
			    "([IPv6]:PORT), got \"%s\"", v);
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof host) {
		snprintf(why, n, "bad address in \"%s\" (want a.b.c.d:PORT, "
		    "[IPv6]:PORT or *:PORT)", v);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	if (parse_uint(&p, colon + 1, 1, 65535, why, n) == -1) {
		snprintf(why, n, "port must be an integer from 1 to 65535, "
		    "got \"%s\"", v);
		return -1;
	}

	memset(&tmp, 0, sizeof tmp);
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&tmp;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(why, n, "\"%s\" is not a numeric IPv6 address, "
			    "got \"%s\"", host, v);
			return -1;
		}
		if (len != NULL)
			*len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&tmp;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		if (strcmp(host, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			snprintf(why, n, "\"%s\" is not a numeric IPv4 address "
			    "(host names are not resolved), got \"%s\"", host, v);
			return -1;
		}
		if (len != NULL)
			*len = sizeof *s4;
	}
	if (ss != NULL)
		*ss = tmp;
	if (port != NULL)
		*port = p;
	return 0;
}

/* listen: a numeric address and a port. */
static int
parse_listen(struct config *c, const char *v, char *why, size_t n)
{
	if (too_long(v, sizeof c->listen, why, n))
		return -1;
	if (listen_parse(v, NULL, NULL, NULL, why, n) == -1)
		return -1;
	return set_string(c->listen, sizeof c->listen, v, why, n);
}

/* max_payload: bytes, with an optional k/K or m/M suffix (x1024). */
static int
parse_max_payload(struct config *c, const char *v, char *why, size_t n)
{
	unsigned long long x = 0, mult = 1;
	const char *p;

	for (p = v; *p >= '0' && *p <= '9'; p++) {
		x = x * 10 + (unsigned)(*p - '0');
		if (x > CONFIG_PAYLOAD_MAX)
			break;
	}
	if (p != v && (*p == 'k' || *p == 'K'))
		mult = 1024, p++;
	else if (p != v && (*p == 'm' || *p == 'M'))
		mult = 1024 * 1024, p++;
	if (p == v || *p != '\0' || x == 0 || x > CONFIG_PAYLOAD_MAX ||
	    x * mult > CONFIG_PAYLOAD_MAX) {
		snprintf(why, n, "must be a size from 1 to %u bytes (suffix k "
		    "or m allowed), got \"%s\"", CONFIG_PAYLOAD_MAX, v);
		return -1;
	}
	c->max_payload = (unsigned)(x * mult);
	return 0;
}

/*
 * Split s into words on spaces and tabs; double quotes group ("a b" is one
 * word, "" an empty one) and inside them \" and \\ are escapes.  The words
 * go NUL-separated into out (cap bytes); returns the count or -1.
 */
static int
split_words(const char *s, char *out, size_t cap, char *why, size_t n)
{
	size_t o = 0;
	int count = 0;

	for (;;) {
		int quoted = 0;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return count;
		while (*s != '\0' && (quoted || (*s != ' ' && *s != '\t'))) {
			char ch = *s++;

			if (ch == '"') {
				quoted = !quoted;
				continue;
			}
			if (quoted && ch == '\\' && (*s == '"' || *s == '\\'))
				ch = *s++;
			if (o + 1 >= cap) {
				snprintf(why, n, "longer than %zu bytes", cap - 1);
				return -1;
			}
			out[o++] = ch;
		}
		if (quoted) {
			snprintf(why, n, "unterminated double quote");
			return -1;
		}
		if (o >= cap) {
			snprintf(why, n, "longer than %zu bytes", cap - 1);
			return -1;
		}
		out[o++] = '\0';
		count++;
	}
}

/* The word after w in a NUL-separated list. */
static const char *
next_word(const char *w)
{
	return w + strlen(w) + 1;
}

/* Check that path is an existing executable regular file. */
static int
check_exec(const char *path, char *why, size_t n)
{
	struct stat st;

	if (path[0] != '/') {
		snprintf(why, n, "exec: PROG must be an absolute path, got \"%s\"",
		    path);
		return -1;
	}
	if (stat(path, &st) == -1) {
		snprintf(why, n, "exec: %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "exec: %s: not a regular file", path);
		return -1;
	}
	if (access(path, X_OK) == -1) {
		snprintf(why, n, "exec: %s: not executable (%s)", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Check that path is absolute and, if it exists, a directory. */
static int
check_spool(const char *path, char *why, size_t n)
{
	struct stat st;

	if (path[0] != '/') {
		snprintf(why, n, "spool: DIR must be an absolute path, got \"%s\"",
		    path);
		return -1;
	}
	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;	/* created at start */
		snprintf(why, n, "spool: %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, n, "spool: %s: exists and is not a directory", path);
		return -1;
	}
	return 0;
}

/*
 * handler: "sleep MS", "noop", "exec PROG [ARGS...]", "spool DIR".  The
 * text is kept as written; handler_words holds the exec argv (without the
 * word "exec") or the spool directory.
 */
static int
parse_handler(struct config *c, const char *v, char *why, size_t n)
{
	char words[CONFIG_HANDLER_MAX];
	const char *w0, *w1;
	enum handler_kind kind;
	unsigned ms = 0, argc = 0;
	int count;

	if (too_long(v, sizeof c->handler, why, n))
		return -1;
	count = split_words(v, words, sizeof words, why, n);
	if (count == -1)
		return -1;
	if (count == 0) {
		snprintf(why, n, "empty handler; want %s", HANDLER_FORMS);
		return -1;
	}
	w0 = words;
	w1 = next_word(w0);	/* valid only when count > 1 */

	if (strcmp(w0, "sleep") == 0) {
		if (count != 2) {
			snprintf(why, n, "want \"sleep MS\", got \"%s\"", v);
			return -1;
		}
		if (parse_uint(&ms, w1, 0, 3600000, why, n) == -1) {
			snprintf(why, n, "sleep: MS must be an integer from 0 "
			    "to 3600000, got \"%s\"", w1);
			return -1;
		}
		kind = HANDLER_SLEEP;
	} else if (strcmp(w0, "noop") == 0) {
		if (count != 1) {
			snprintf(why, n, "noop takes no arguments, got \"%s\"", v);
			return -1;
		}
		kind = HANDLER_NOOP;
	} else if (strcmp(w0, "exec") == 0) {
		if (count < 2) {
			snprintf(why, n, "want \"exec PROG [ARGS...]\", got \"%s\"",
			    v);
			return -1;
		}
		if (count - 1 > CONFIG_HANDLER_ARGS) {
			snprintf(why, n, "exec: more than %d words after \"exec\"",
			    CONFIG_HANDLER_ARGS);
			return -1;
		}
		if (check_exec(w1, why, n) == -1)
			return -1;
		kind = HANDLER_EXEC;
		argc = (unsigned)count - 1;
	} else if (strcmp(w0, "spool") == 0) {
		if (count != 2) {
			snprintf(why, n, "want \"spool DIR\", got \"%s\"", v);
			return -1;
		}
		if (check_spool(w1, why, n) == -1)
			return -1;
		kind = HANDLER_SPOOL;
		argc = 1;
	} else {
		snprintf(why, n, "unknown handler \"%s\"; want %s", w0,
		    HANDLER_FORMS);
		return -1;
	}

	/* Commit: everything below fits, as checked above. */
	memset(c->handler_words, 0, sizeof c->handler_words);
	if (argc > 0) {
		const char *end = w1;
		unsigned i;

		for (i = 0; i < argc; i++)
			end = next_word(end);
		memcpy(c->handler_words, w1, (size_t)(end - w1));
	}
	memcpy(c->handler, v, strlen(v) + 1);
	c->handler_kind = kind;
	c->sleep_ms = ms;
	c->handler_argc = argc;
	return 0;
}

/* shm_name: "" (derive "/jobqd-PORT") or "/name", 2..250 characters. */
static int
parse_shm_name(struct config *c, const char *v, char *why, size_t n)
{
	size_t len = strlen(v);

	if (len != 0 && (v[0] != '/' || strchr(v + 1, '/') != NULL ||
	    len < 2 || len > 250)) {
		snprintf(why, n, "must be \"/NAME\" with no other '/', 2 to 250 "
		    "characters, got \"%s\"", v);
		return -1;
	}
	return set_string(c->shm_name, sizeof c->shm_name, v, why, n);
}

/* pidfile: "" (none) or an absolute path. */
static int
parse_pidfile(struct config *c, const char *v, char *why, size_t n)
{
	if (v[0] != '\0' && v[0] != '/') {
		snprintf(why, n, "must be an absolute path, got \"%s\"", v);
		return -1;
	}
	return set_string(c->pidfile, sizeof c->pidfile, v, why, n);
}

/* user: "" (none) or an existing user name. */
static int
parse_user(struct config *c, const char *v, char *why, size_t n)
{
	if (too_long(v, sizeof c->user, why, n))
		return -1;
	if (v[0] != '\0' && getpwnam(v) == NULL) {
		snprintf(why, n, "no such user \"%s\"", v);
		return -1;
	}
	return set_string(c->user, sizeof c->user, v, why, n);
}

/* group: "" (none) or an existing group name. */
static int
parse_group(struct config *c, const char *v, char *why, size_t n)
{
	if (too_long(v, sizeof c->group, why, n))
		return -1;
	if (v[0] != '\0' && getgrnam(v) == NULL) {
		snprintf(why, n, "no such group \"%s\"", v);
		return -1;
	}
	return set_string(c->group, sizeof c->group, v, why, n);
}

/* log: "stderr", "syslog" or an absolute file path. */
static int
parse_log(struct config *c, const char *v, char *why, size_t n)
{
	if (strcmp(v, "stderr") != 0 && strcmp(v, "syslog") != 0 &&
	    v[0] != '/') {
		snprintf(why, n, "must be stderr, syslog or an absolute path, "
		    "got \"%s\"", v);
		return -1;
	}
	return set_string(c->log, sizeof c->log, v, why, n);
}

/* log_level: error, warn, info or debug. */
static int
parse_log_level(struct config *c, const char *v, char *why, size_t n)
{
	static const char *const names[] = {
		[LOG_LEVEL_ERROR] = "error",
		[LOG_LEVEL_WARN] = "warn",
		[LOG_LEVEL_INFO] = "info",
		[LOG_LEVEL_DEBUG] = "debug",
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(v, names[i]) == 0) {
			c->log_level = (enum log_level)i;
			return 0;
		}
	}
	snprintf(why, n, "must be error, warn, info or debug, got \"%s\"", v);
	return -1;
}

/* allow, deny: CIDRs separated by spaces; "" = none. */
static int
parse_allow(struct config *c, const char *v, char *why, size_t n)
{
	return acl_set_list(&c->acl, ACL_ALLOW, v, why, n);
}

static int
parse_deny(struct config *c, const char *v, char *why, size_t n)
{
	return acl_set_list(&c->acl, ACL_DENY, v, why, n);
}

/* auth_token_file: "" (none) or an absolute path.  The token is read now,
 * so a missing, open or empty file fails the start or the reload. */
static int
parse_auth_token_file(struct config *c, const char *v, char *why, size_t n)
{
	if (too_long(v, sizeof c->auth_token_file, why, n) ||
	    acl_load_token(&c->acl, v, why, n) == -1)
		return -1;
	return set_string(c->auth_token_file, sizeof c->auth_token_file, v,
	    why, n);
}

/* journal: "" (off) or the absolute path of a directory. */
static int
parse_journal(struct config *c, const char *v, char *why, size_t n)
{
	if (v[0] != '\0' && v[0] != '/') {
		snprintf(why, n, "must be an absolute path, got \"%s\"", v);
		return -1;
	}
	return set_string(c->journal, sizeof c->journal, v, why, n);
}

/* journal_sync: yes or no. */
static int
parse_journal_sync(struct config *c, const char *v, char *why, size_t n)
{
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
		snprintf(why, n, "must be yes or no, got \"%s\"", v);
		return -1;
	}
	c->journal_sync = v[0] == 'y';
	return 0;
}

#define KEY_ENTRY(name, def, live, field)	{ #name, def, parse_##name, live, \
	offsetof(struct config, field), sizeof(((struct config *)0)->field) },
#define KEY_NAME(name, def, live, field)	#name,

static const struct key keys[] = { CONFIG_KEYS(KEY_ENTRY) };
static const char *const key_names[] = { CONFIG_KEYS(KEY_NAME) NULL };

#define NKEYS	(sizeof keys / sizeof keys[0])

/* The table entry for name, or NULL. */
static const struct key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Built-in defaults: every key's default through its own parser. */
void
config_defaults(struct config *c)
{
	char why[256];
	size_t i;

	memset(c, 0, sizeof *c);
	for (i = 0; i < NKEYS; i++)
		(void)keys[i].parse(c, keys[i].def, why, sizeof why);
}

/* Set one key from its text; "KEY: reason" on error, c unchanged. */
int
config_set(struct config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct key *k = key_find(key);
	char why[512];

	if (k == NULL) {
		snprintf(err, errlen, "%s: unknown key", key);
		return -1;
	}
	if (k->parse(c, value, why, sizeof why) == -1) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

/*
 * Cut a '#' comment off line (outside double quotes; \" and \\ escape
 * inside them).  Returns 1 when the line ends inside a quote.
 */
static int
strip_comment(char *line)
{
	int quoted = 0;
	char *p;

	for (p = line; *p != '\0'; p++) {
		if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '#' && !quoted) {
			*p = '\0';
			break;
		}
	}
	return quoted;
}

/* Trim spaces and tabs at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return s;
}

/*
 * If v is one double-quoted string as a whole, strip the quotes and undo
 * \" and \\ in place.
 */
static void
unquote(char *v)
{
	size_t len = strlen(v), i, o;

	if (len < 2 || v[0] != '"')
		return;
	for (i = 1; i < len - 1; i++) {
		if (v[i] == '\\' && (v[i + 1] == '"' || v[i + 1] == '\\'))
			i++;
		else if (v[i] == '"')
			return;	/* closes before the end: not a whole */
	}
	if (i != len - 1 || v[len - 1] != '"')
		return;	/* the last quote was escaped */
	for (i = 1, o = 0; i < len - 1; i++) {
		if (v[i] == '\\' && (v[i + 1] == '"' || v[i + 1] == '\\'))
			i++;
		v[o++] = v[i];
	}
	v[o] = '\0';
}

/*
 * Parse text[0..len) (text[len] is ours to write) into c; "FILE:LINE: ..."
 * on error.  The number of keys set, or -1.
 */
static int
load_text(struct config *c, char *text, size_t len, const char *path,
    char *err, size_t errlen)
{
	unsigned seen[NKEYS] = { 0 };	/* line that set each key, 0 = none */
	char *p, *end = text + len, *next, *nl, *line, *eq, *key, *value,
	    why[512];
	unsigned lineno = 0;
	size_t llen;
	const struct key *k;
	int nset = 0, quoted;

	for (p = text; p < end; p = next) {
		nl = memchr(p, '\n', (size_t)(end - p));
		next = nl != NULL ? nl + 1 : end;
		llen = (size_t)((nl != NULL ? nl : end) - p);
		p[llen] = '\0';
		lineno++;
		if (llen > 0 && p[llen - 1] == '\r')
			p[--llen] = '\0';
		if (llen > LINE_MAX_BYTES) {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes",
			    path, lineno, LINE_MAX_BYTES);
			return -1;
		}
		if (strlen(p) != llen) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path,
			    lineno);
			return -1;
		}
		quoted = strip_comment(p);
		line = trim(p);
		if (*line == '\0')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%u: want \"key = value\", got "
			    "\"%s\"", path, lineno, line);
			return -1;
		}
		*eq = '\0';
		key = trim(line);
		value = trim(eq + 1);
		if (*key == '\0') {
			snprintf(err, errlen, "%s:%u: empty key before '='", path,
			    lineno);
			return -1;
		}
		if ((k = key_find(key)) == NULL) {
			snprintf(err, errlen, "%s:%u: %s: unknown key", path,
			    lineno, key);
			return -1;
		}
		if (seen[k - keys] != 0) {
			snprintf(err, errlen, "%s:%u: %s: duplicate key (first "
			    "set on line %u)", path, lineno, key, seen[k - keys]);
			return -1;
		}
		seen[k - keys] = lineno;
		if (*value == '\0') {
			snprintf(err, errlen, "%s:%u: %s: empty value", path,
			    lineno, key);
			return -1;
		}
		if (quoted) {
			snprintf(err, errlen, "%s:%u: %s: unterminated double "
			    "quote", path, lineno, key);
			return -1;
		}
		/* handler keeps its quotes: they group its words. */
		if (k->parse != parse_handler)
			unquote(value);
		if (k->parse(c, value, why, sizeof why) == -1) {
			snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, key,
			    why);
			return -1;
		}
		nset++;
	}
	return nset;
}

/* Read a file over c; c is changed only when the whole file is valid.
 * The file is read whole (at most CONFIG_FILE_MAX bytes, one more to
 * tell a larger one, and a byte for load_text's last NUL). */
int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config tmp = *c;
	ssize_t got;
	char *text;
	int rc = -1;

	if ((text = malloc(CONFIG_FILE_MAX + 2)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((got = rfile_read(path, text, CONFIG_FILE_MAX + 1, NULL, err,
	    errlen)) == -1)
		goto out;
	if (got > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONFIG_FILE_MAX);
		goto out;
	}
	if ((rc = load_text(&tmp, text, (size_t)got, path, err, errlen)) >= 0)
		*c = tmp;
out:
	free(text);
	return rc;
}

/* The segment must fit in /dev/shm (tmpfs): say so now, not with a
 * failed start. */
static int check_shm_room(const struct config *c, char *err, size_t errlen)
{
	struct statvfs vfs;
	unsigned long long need = segment_size(c->queue, c->max_payload, c->max_output);
	unsigned long long room;

	if (statvfs("/dev/shm", &vfs) == -1)
		return 0;	/* no /dev/shm to measure: segment_open will tell */
	room = (unsigned long long)vfs.f_blocks * vfs.f_frsize;
	if (need <= room)
		return 0;
	snprintf(err, errlen, "queue: %u slots of max_payload + max_output = %u + %u bytes "
	    "need %llu MiB of shared memory; /dev/shm holds %llu MiB", c->queue,
	    c->max_payload, c->max_output, need >> 20, room >> 20);
	return -1;
}

/* Derived values: shm_name "/jobqd-PORT" when not set. */
int
config_finish(struct config *c, char *err, size_t errlen)
{
	int port = config_listen_port(c);

	if (port == -1) {
		snprintf(err, errlen, "listen: no valid port in \"%s\"",
		    c->listen);
		return -1;
	}
	if (c->shm_name[0] == '\0')
		snprintf(c->shm_name, sizeof c->shm_name, "/jobqd-%d", port);
	return check_shm_room(c, err, errlen);
}

/* Defaults, then the file (if any), then "key=value" overrides, then the
 * derived values: the whole configuration of one start or reload.  The
 * number of keys the file set. */
int
config_build(struct config *c, const char *path, char *const *kv, size_t n,
    char *err, size_t errlen)
{
	struct config tmp;
	int nset = 0;

	config_defaults(&tmp);
	if (path != NULL && (nset = config_load(&tmp, path, err, errlen)) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char key[64], why[512];
		const char *eq = strchr(kv[i], '=');
		size_t klen = eq != NULL ? (size_t)(eq - kv[i]) : 0;

		if (eq == NULL || klen == 0 || klen >= sizeof(key)) {
			snprintf(err, errlen, "-o %s: expected key=value", kv[i]);
			return -1;
		}
		memcpy(key, kv[i], klen);
		key[klen] = '\0';
		if (config_set(&tmp, key, eq + 1, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "-o %s", why);
			return -1;
		}
	}
	if (config_finish(&tmp, err, errlen) == -1)
		return -1;
	*c = tmp;
	return nset;
}

/* The key names in table order, NULL-terminated. */
const char *const *
config_keys(void)
{
	return key_names;
}

/* 1 when SIGHUP applies key live, 0 otherwise (unknown keys too). */
int
config_key_live(const char *key)
{
	const struct key *k = key_find(key);

	return k != NULL && k->live;
}

/* Copy key's field from src into dst: 1 if it differed, 0 if not, -1 for
 * an unknown key. */
int
config_key_restore(struct config *dst, const struct config *src, const char *key)
{
	const struct key *k = key_find(key);

	if (k == NULL)
		return -1;
	if (memcmp((const char *)dst + k->off, (const char *)src + k->off, k->size) == 0)
		return 0;
	memcpy((char *)dst + k->off, (const char *)src + k->off, k->size);
	return 1;
}

/* c->listen as a socket address. */
int
config_listen_addr(const struct config *c, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char why[256];

	return listen_parse(c->listen, ss, len, NULL, why, sizeof why);
}

/* The port of c->listen, or -1. */
int
config_listen_port(const struct config *c)
{
	char why[256];
	unsigned port;

	if (listen_parse(c->listen, NULL, NULL, &port, why, sizeof why) == -1)
		return -1;
	return (int)port;
}

/* argv[0..argc-1] = the handler words, argv[argc] = NULL; returns argc. */
size_t
config_handler_argv(const struct config *c, char **argv, size_t n)
{
	const char *w = c->handler_words;
	size_t i, argc = c->handler_argc;

	if (n == 0)
		return 0;
	if (n < argc + 1) {
		argv[0] = NULL;
		return 0;
	}
	for (i = 0; i < argc; i++) {
		argv[i] = (char *)w;
		w = next_word(w);
	}
	argv[argc] = NULL;
	return argc;
}

/* The uid and gid of user/group; ours where unset. */
int
config_user_ids(const struct config *c, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd *pw = NULL;
	struct group *gr;

	*uid = geteuid();
	*gid = getegid();
	if (c->user[0] != '\0') {
		if ((pw = getpwnam(c->user)) == NULL) {
			snprintf(err, errlen, "user: no such user \"%s\"", c->user);
			return -1;
		}
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (c->group[0] != '\0') {
		if ((gr = getgrnam(c->group)) == NULL) {
			snprintf(err, errlen, "group: no such group \"%s\"", c->group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/* key's file path: its directory must take new files (W_OK | X_OK) from
 * whoever we are now.  A missing one is made at start: then the nearest
 * existing directory must take it, or, when creates is 1 (root makes it
 * for the daemon's user), only be reachable (X_OK).  0, or -1 with a
 * reason. */
static int
check_dir(const char *key, const char *path, int creates, const char *who,
    char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX];
	struct stat st;
	char *slash;
	int missing = 0, mode;

	snprintf(dir, sizeof dir, "%s", path);
	for (;;) {
		if ((slash = strrchr(dir, '/')) == NULL)
			return 0;	/* not a path: stderr, syslog */
		slash[slash == dir] = '\0';	/* "/x" -> "/" */
		if (stat(dir, &st) == 0 || errno != ENOENT || strcmp(dir, "/") == 0)
			break;
		missing = 1;
	}
	mode = missing && creates ? X_OK : W_OK | X_OK;
	if (access(dir, mode) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: the directory %s is not %s by %s: %s", key,
	    path, dir, mode == X_OK ? "reachable" : "writable", who, strerror(errno));
	return -1;
}

/* Both files' directories for whoever we are now. */
static int
check_dirs(const struct config *c, int creates, const char *who, char *err,
    size_t errlen)
{
	if (c->pidfile[0] != '\0' &&
	    check_dir("pidfile", c->pidfile, creates, who, err, errlen) == -1)
		return -1;
	if (c->log[0] == '/' && check_dir("log", c->log, creates, who, err, errlen) == -1)
		return -1;
	return 0;
}

int
config_check_paths(const struct config *c, char *err, size_t errlen)
{
	char who[96];
	uid_t uid;
	gid_t gid;
	int p[2], status;
	ssize_t n;
	pid_t pid, w;

	if (config_user_ids(c, &uid, &gid, err, errlen) == -1)
		return -1;
	if (c->user[0] != '\0')
		snprintf(who, sizeof who, "user %s", c->user);
	else if (c->group[0] != '\0')
		snprintf(who, sizeof who, "group %s", c->group);
	else
		snprintf(who, sizeof who, "uid %ld", (long)uid);
	if (geteuid() != 0 || (uid == geteuid() && gid == getegid()))
		return check_dirs(c, 0, who, err, errlen);
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {		/* as the daemon will be after the drop */
		char why[1024];
		size_t len;

		close(p[0]);
		if (setgroups(1, &gid) == -1 || setgid(gid) == -1 || setuid(uid) == -1)
			snprintf(why, sizeof why, "checking as uid %ld: %s", (long)uid,
			    strerror(errno));
		else if (check_dirs(c, 1, who, why, sizeof why) == 0)
			_exit(0);
		len = strlen(why);
		_exit(write(p[1], why, len) == (ssize_t)len ? 1 : 2);
	}
	close(p[1]);
	do
		n = read(p[0], err, errlen - 1);
	while (n == -1 && errno == EINTR);
	close(p[0]);
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (n <= 0)
		snprintf(err, errlen, "checking the pidfile and log directories as %s failed", who);
	else
		err[n] = '\0';
	return -1;
}
