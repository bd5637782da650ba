/*
 * config — jobqd's configuration: defaults, the key table, the file parser.
 *
 * The file is "key = value" lines with '#' comments (a '#' starts a comment
 * anywhere outside a double-quoted string); blank lines are ignored.  Every
 * key has a default, so no file is needed.  "-o key=value" on the command
 * line goes through config_set() after the file and overrides it.
 *
 * struct config is flat (no pointers) on purpose: the master sends it to
 * the dispatcher through a pipe on reload, and forks inherit it as is.
 *
 * Errors are reported into a caller buffer as "FILE:LINE: KEY: reason" (or
 * "KEY: reason" for -o) and never logged here; the caller exits 78.
 *
 *   config_defaults(c)               built-in defaults
 *   config_load(c, path, err, n)     read a file over c (a bounded read)
 *   config_set(c, key, value, err, n)  one key (validates it)
 *   config_finish(c, err, n)         derived values (shm_name from the port)
 *   config_build(c, path, kv, n, err, errlen)  all of the above, in order
 *   config_keys()                    the key names, NULL-terminated
 *   config_key_live(key)             1 if SIGHUP applies the key live
 *   config_key_restore(dst, src, key)  copy one key's value (reload)
 *   config_listen_addr(c, ss, len)   the listen address as a sockaddr
 *   config_handler_argv(c, argv, n)  the handler words as an argv
 *   config_user_ids(c, uid, gid, err, n)  the ids user/group name
 *   config_check_paths(c, err, n)    pidfile and log dirs writable by them
 */
#ifndef JOBQD_CONFIG_H
#define JOBQD_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/log.h"
#include "server/acl.h"

#define CONFIG_WORKERS_MAX	1024
#define CONFIG_QUEUE_MAX	1000000
#define CONFIG_PAYLOAD_MAX	(16u * 1024 * 1024)
#define CONFIG_OUTPUT_MAX	(1024u * 1024)
#define CONFIG_HANDLER_MAX	1024	/* bytes of handler words */
#define CONFIG_HANDLER_ARGS	64	/* words in an exec handler */
#define CONFIG_PATH_MAX		1024
#define CONFIG_NODE_MAX		255	/* a job id's first two hex digits */
#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes in a configuration file */

enum handler_kind {
	HANDLER_SLEEP,		/* sleep MS */
	HANDLER_NOOP,		/* noop */
	HANDLER_EXEC,		/* exec PROG [ARGS...] (PROG absolute) */
	HANDLER_SPOOL,		/* spool DIR (absolute) */
};

struct config {
	char listen[256];		/* as written: "0.0.0.0:8099", "[::1]:80" */
	unsigned workers;		/* 1 .. CONFIG_WORKERS_MAX */
	unsigned queue;			/* 1 .. CONFIG_QUEUE_MAX */
	unsigned max_payload;		/* 1 .. CONFIG_PAYLOAD_MAX bytes */
	unsigned max_output;		/* 0 .. CONFIG_OUTPUT_MAX bytes, 0 = off */
	char handler[CONFIG_HANDLER_MAX];	/* as written */
	enum handler_kind handler_kind;
	unsigned sleep_ms;		/* HANDLER_SLEEP */
	/* HANDLER_EXEC: argc words, NUL-separated, in handler_words;
	 * HANDLER_SPOOL: the directory is word 0. */
	unsigned handler_argc;
	char handler_words[CONFIG_HANDLER_MAX];
	unsigned job_timeout;		/* seconds, 0 = none */
	unsigned max_attempts;		/* 1 .. 1000 */
	unsigned retry_delay;		/* seconds after a first failed attempt, 0 = none */
	unsigned retry_delay_max;	/* seconds, the doubling's cap */
	unsigned max_delay;		/* seconds: POST /payload?delay= at most */
	unsigned drain_timeout;		/* seconds */
	char shm_name[256];		/* "" until config_finish: "/jobqd-PORT" */
	unsigned node;			/* 0 .. CONFIG_NODE_MAX, in every job id */
	char pidfile[CONFIG_PATH_MAX];	/* "" = none */
	char user[64];			/* "" = none */
	char group[64];			/* "" = none */
	char log[CONFIG_PATH_MAX];	/* "stderr", "syslog" or an absolute path */
	enum log_level log_level;
	unsigned max_connections;	/* 1 .. 1000000 */
	unsigned keepalive_timeout;	/* seconds, >= 1 */
	unsigned header_timeout;	/* seconds, >= 1 */
	unsigned body_timeout;		/* seconds, >= 1 */
	unsigned min_body_rate;		/* bytes a second under pressure, 0 = none */
	/* allow, deny: CIDR lists; auth_token_file: "" = none, else read
	 * (with its permissions checked) into acl at every load */
	char auth_token_file[CONFIG_PATH_MAX];
	struct acl acl;
	char journal[CONFIG_PATH_MAX];	/* directory; "" = no journal */
	int journal_sync;		/* 1: fdatasync before the 202 */
};

void config_defaults(struct config *c);
/* The number of keys the file set (0 for one of only comments and blank
 * lines), or -1 with "FILE:LINE: KEY: reason" (or "FILE: reason") in err.
 * The file must be a regular file (symbolic links are followed) of at
 * most CONFIG_FILE_MAX bytes. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* 0, or -1 with "KEY: reason" in err (unknown key, bad value, range). */
int config_set(struct config *c, const char *key, const char *value,
    char *err, size_t errlen);
/* Fill derived values; 0, or -1 with a reason. */
int config_finish(struct config *c, char *err, size_t errlen);
/* Defaults + file (path may be NULL) + n "key=value" overrides + finish:
 * the number of keys the file set (0 without one) and *c replaced, or -1
 * with the first error and *c untouched. */
int config_build(struct config *c, const char *path, char *const *kv, size_t n,
    char *err, size_t errlen);
/* The key names in table order, NULL-terminated. */
const char *const *config_keys(void);
/* 1 when SIGHUP applies this key without a restart, 0 otherwise. */
int config_key_live(const char *key);
/* Copy key's own field (not values derived from it) from src into dst:
 * 1 if it differed, 0 if equal, -1 for an unknown key. */
int config_key_restore(struct config *dst, const struct config *src, const char *key);
/* Resolve c->listen (numeric only: IPv4 "a.b.c.d:port", "[v6]:port",
 * "*:port"); 0 or -1. */
int config_listen_addr(const struct config *c, struct sockaddr_storage *ss,
    socklen_t *len);
/* The port of c->listen, or -1. */
int config_listen_port(const struct config *c);
/* Point argv[0..argc-1] at the handler words and set argv[argc] = NULL;
 * returns argc (0 when the handler has no words).  n >= argc + 1. */
size_t config_handler_argv(const struct config *c, char **argv, size_t n);
/* The uid and gid the daemon runs as: user's and its primary group (or
 * group), our effective ones where unset; 0, or -1 with a reason. */
int config_user_ids(const struct config *c, uid_t *uid, gid_t *gid,
    char *err, size_t errlen);
/* The directories of the pidfile and of a log file must let the daemon's
 * user (config_user_ids) create and remove files in them after the
 * privilege drop; a missing one (created at start, owned by that user)
 * must be reachable by it.  Checked in a child that takes that user's ids
 * when we are root and they differ (access(2) as that user: modes, ACLs,
 * every directory on the way).  0, or -1 with a reason. */
int config_check_paths(const struct config *c, char *err, size_t errlen);

#endif
