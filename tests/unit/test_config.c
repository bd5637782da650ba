/*
 * test_config — Check suite for common/config.c.
 *
 * Mostly tables: one row per named case, "got X, want Y" on failure.
 * Values are compared through show(), which renders the field(s) a key
 * sets as text, so one table shape covers every key.  Paths in tables may
 * use @EXE@ (an executable file), @FILE@ (a plain 0644 file), @DIR@ (a
 * directory) and @TMP@ (the config file being loaded); main() creates the
 * fixtures under /tmp and removes them at the end.
 */
#include <check.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"

#define NELEM(a)	((int)(sizeof (a) / sizeof (a)[0]))

static char fx_exe[64], fx_file[64], fx_dir[64], fx_token[64];

/* Replace @EXE@, @FILE@, @DIR@, @TOKEN@ and @TMP@ in in. */
static void
subst(const char *in, const char *tmp, char *out, size_t n)
{
	static const char *const names[] = { "@EXE@", "@FILE@", "@DIR@", "@TOKEN@",
	    "@TMP@" };
	const char *vals[] = { fx_exe, fx_file, fx_dir, fx_token, tmp ? tmp : "" };
	size_t o = 0, i;

	while (*in != '\0' && o + 1 < n) {
		for (i = 0; i < 5; i++) {
			size_t nl = strlen(names[i]);

			if (strncmp(in, names[i], nl) == 0) {
				size_t vl = strlen(vals[i]);

				ck_assert_uint_lt(o + vl, n);
				memcpy(out + o, vals[i], vl);
				o += vl;
				in += nl;
				break;
			}
		}
		if (i == 5)
			out[o++] = *in++;
	}
	out[o] = '\0';
}

/* Write len bytes to a new temp file; its name goes into path. */
static void
write_tmp(char *path, size_t n, const char *text, size_t len)
{
	int fd;

	snprintf(path, n, "/tmp/jobqd-test-config-XXXXXX");
	fd = mkstemp(path);
	ck_assert_msg(fd != -1, "mkstemp failed");
	ck_assert_msg(write(fd, text, len) == (ssize_t)len, "short write");
	close(fd);
}

/* Render what key sets in c as text (handler: kind, argc and words). */
static void
show(const struct config *c, const char *key, char *out, size_t n)
{
	static const char *const kinds[] = { "sleep", "noop", "exec", "spool" };
	static const char *const levels[] = { "error", "warn", "info", "debug" };

#define U(name)	else if (strcmp(key, #name) == 0) snprintf(out, n, "%u", c->name)
#define S(name)	else if (strcmp(key, #name) == 0) snprintf(out, n, "%s", c->name)
	if (strcmp(key, "handler") == 0) {
		char *argv[CONFIG_HANDLER_ARGS + 1];
		size_t argc = config_handler_argv(c, argv, CONFIG_HANDLER_ARGS + 1), i;
		int o;

		o = snprintf(out, n, "%s ms=%u argc=%zu", kinds[c->handler_kind],
		    c->sleep_ms, argc);
		for (i = 0; i < argc && o > 0 && (size_t)o < n; i++)
			o += snprintf(out + o, n - (size_t)o, " <%s>", argv[i]);
	}
	U(workers); U(queue); U(max_payload); U(max_output); U(job_timeout); U(max_attempts);
	U(retry_delay); U(retry_delay_max); U(max_delay);
	U(drain_timeout); U(max_connections); U(keepalive_timeout);
	U(header_timeout); U(body_timeout); U(min_body_rate); U(node);
	S(listen); S(shm_name); S(pidfile); S(user); S(group); S(log);
	S(auth_token_file); S(journal);
	else if (strcmp(key, "journal_sync") == 0)
		snprintf(out, n, "%s", c->journal_sync ? "yes" : "no");
	else if (strcmp(key, "log_level") == 0)
		snprintf(out, n, "%s", levels[c->log_level]);
	else if (strcmp(key, "allow") == 0)
		acl_format_list(&c->acl, ACL_ALLOW, out, n);
	else if (strcmp(key, "deny") == 0)
		acl_format_list(&c->acl, ACL_DENY, out, n);
	else
		snprintf(out, n, "?%s", key);
#undef U
#undef S
}

/* --- defaults ------------------------------------------------------------ */

static const struct { const char *key, *want; } defaults[] = {
	{ "listen", "0.0.0.0:8099" },
	{ "workers", "100" },
	{ "queue", "200" },
	{ "max_payload", "65536" },
	{ "max_output", "4096" },
	{ "handler", "sleep ms=500 argc=0" },
	{ "job_timeout", "0" },
	{ "max_attempts", "3" },
	{ "retry_delay", "1" },
	{ "retry_delay_max", "300" },
	{ "max_delay", "86400" },
	{ "drain_timeout", "30" },
	{ "shm_name", "" },
	{ "node", "0" },
	{ "pidfile", "" },
	{ "user", "" },
	{ "group", "" },
	{ "log", "stderr" },
	{ "log_level", "info" },
	{ "max_connections", "1024" },
	{ "keepalive_timeout", "15" },
	{ "header_timeout", "10" },
	{ "body_timeout", "30" },
	{ "min_body_rate", "1024" },
	{ "allow", "" },
	{ "deny", "" },
	{ "auth_token_file", "" },
	{ "journal", "" },
	{ "journal_sync", "yes" },
};

START_TEST(test_defaults)
{
	struct config c;
	char got[512];

	config_defaults(&c);
	show(&c, defaults[_i].key, got, sizeof got);
	ck_assert_msg(strcmp(got, defaults[_i].want) == 0,
	    "default %s: got \"%s\", want \"%s\"", defaults[_i].key, got,
	    defaults[_i].want);
}
END_TEST

START_TEST(test_defaults_handler_text)
{
	struct config c;

	config_defaults(&c);
	ck_assert_msg(strcmp(c.handler, "sleep 500") == 0,
	    "handler text: got \"%s\", want \"sleep 500\"", c.handler);
}
END_TEST

/* --- config_set: valid values ------------------------------------------- */

static const struct { const char *key, *value, *want; } valid[] = {
	{ "listen", "127.0.0.1:80", "127.0.0.1:80" },
	{ "listen", "[::1]:8080", "[::1]:8080" },
	{ "listen", "*:1", "*:1" },
	{ "listen", "0.0.0.0:65535", "0.0.0.0:65535" },
	{ "workers", "1", "1" },
	{ "workers", "1024", "1024" },
	{ "workers", "0007", "7" },
	{ "queue", "1", "1" },
	{ "queue", "1000000", "1000000" },
	{ "max_payload", "1", "1" },
	{ "max_payload", "64k", "65536" },
	{ "max_payload", "2K", "2048" },
	{ "max_payload", "16m", "16777216" },
	{ "max_payload", "1M", "1048576" },
	{ "max_payload", "16777216", "16777216" },
	{ "max_output", "0", "0" },
	{ "max_output", "1048576", "1048576" },
	{ "handler", "noop", "noop ms=0 argc=0" },
	{ "handler", "sleep 0", "sleep ms=0 argc=0" },
	{ "handler", "  sleep\t3600000 ", "sleep ms=3600000 argc=0" },
	{ "handler", "exec @EXE@", "exec ms=0 argc=1 <@EXE@>" },
	{ "handler", "exec @EXE@ -c \"echo a b\" x", "exec ms=0 argc=4 <@EXE@> <-c> <echo a b> <x>" },
	{ "handler", "exec @EXE@ \"say \\\"hi\\\"\" \"a\\\\b\" c\\d", "exec ms=0 argc=4 <@EXE@> <say \"hi\"> <a\\b> <c\\d>" },
	{ "handler", "exec @EXE@ \"\" a\"b c\"d", "exec ms=0 argc=3 <@EXE@> <> <ab cd>" },
	{ "handler", "exec \"@EXE@\"", "exec ms=0 argc=1 <@EXE@>" },
	{ "handler", "spool @DIR@", "spool ms=0 argc=1 <@DIR@>" },
	{ "handler", "spool /nonexistent-jobqd/spool", "spool ms=0 argc=1 </nonexistent-jobqd/spool>" },
	{ "job_timeout", "0", "0" },
	{ "job_timeout", "86400", "86400" },
	{ "max_attempts", "1", "1" },
	{ "max_attempts", "1000", "1000" },
	{ "retry_delay", "0", "0" },
	{ "retry_delay", "86400", "86400" },
	{ "retry_delay_max", "0", "0" },
	{ "retry_delay_max", "86400", "86400" },
	{ "max_delay", "0", "0" },
	{ "max_delay", "31536000", "31536000" },
	{ "drain_timeout", "0", "0" },
	{ "drain_timeout", "86400", "86400" },
	{ "shm_name", "/x", "/x" },
	{ "shm_name", "/jobqd-test.1", "/jobqd-test.1" },
	{ "shm_name", "", "" },
	{ "pidfile", "/run/jobqd.pid", "/run/jobqd.pid" },
	{ "pidfile", "", "" },
	{ "user", "root", "root" },
	{ "user", "", "" },
	{ "group", "root", "root" },
	{ "group", "", "" },
	{ "log", "stderr", "stderr" },
	{ "log", "syslog", "syslog" },
	{ "log", "/var/log/jobqd.log", "/var/log/jobqd.log" },
	{ "log_level", "error", "error" },
	{ "log_level", "warn", "warn" },
	{ "log_level", "info", "info" },
	{ "log_level", "debug", "debug" },
	{ "node", "0", "0" },
	{ "node", "255", "255" },
	{ "max_connections", "1", "1" },
	{ "max_connections", "1000000", "1000000" },
	{ "keepalive_timeout", "1", "1" },
	{ "keepalive_timeout", "3600", "3600" },
	{ "header_timeout", "3600", "3600" },
	{ "body_timeout", "1", "1" },
	{ "min_body_rate", "0", "0" },
	{ "min_body_rate", "1000000000", "1000000000" },
	{ "allow", "127.0.0.0/8 ::1", "127.0.0.0/8 ::1/128" },
	{ "allow", " 10.0.0.0/8\t192.0.2.7 ", "10.0.0.0/8 192.0.2.7/32" },
	{ "allow", "::ffff:10.0.0.0/104", "10.0.0.0/8" },
	{ "allow", "", "" },
	{ "deny", "0.0.0.0/0 ::/0", "0.0.0.0/0 ::/0" },
	{ "auth_token_file", "@TOKEN@", "@TOKEN@" },
	{ "auth_token_file", "", "" },
	{ "journal", "/var/lib/jobqd/journal", "/var/lib/jobqd/journal" },
	{ "journal", "", "" },
	{ "journal_sync", "yes", "yes" },
	{ "journal_sync", "no", "no" },
};

START_TEST(test_set_valid)
{
	struct config c;
	char value[1024], want[1024], got[1024], err[1024] = "";

	config_defaults(&c);
	subst(valid[_i].value, NULL, value, sizeof value);
	subst(valid[_i].want, NULL, want, sizeof want);
	ck_assert_msg(config_set(&c, valid[_i].key, value, err, sizeof err) == 0,
	    "set %s=%s: got error \"%s\", want success", valid[_i].key, value,
	    err);
	show(&c, valid[_i].key, got, sizeof got);
	ck_assert_msg(strcmp(got, want) == 0, "set %s=%s: got \"%s\", want \"%s\"",
	    valid[_i].key, value, got, want);
}
END_TEST

/* --- config_set: invalid values, exact messages --------------------------- */

static const struct { const char *key, *value, *want; } invalid[] = {
	{ "workers", "abc", "workers: must be an integer from 1 to 1024, got \"abc\"" },
	{ "workers", "0", "workers: must be an integer from 1 to 1024, got \"0\"" },
	{ "workers", "1025", "workers: must be an integer from 1 to 1024, got \"1025\"" },
	{ "workers", "-1", "workers: must be an integer from 1 to 1024, got \"-1\"" },
	{ "workers", "+1", "workers: must be an integer from 1 to 1024, got \"+1\"" },
	{ "workers", "1 0", "workers: must be an integer from 1 to 1024, got \"1 0\"" },
	{ "workers", "", "workers: must be an integer from 1 to 1024, got \"\"" },
	{ "workers", "99999999999999999999999", "workers: must be an integer from 1 to 1024, got \"99999999999999999999999\"" },
	{ "queue", "1000001", "queue: must be an integer from 1 to 1000000, got \"1000001\"" },
	{ "queue", "0x10", "queue: must be an integer from 1 to 1000000, got \"0x10\"" },
	{ "max_output", "1048577", "max_output: must be an integer from 0 to 1048576, got \"1048577\"" },
	{ "max_output", "4k", "max_output: must be an integer from 0 to 1048576, got \"4k\"" },
	{ "max_payload", "0", "max_payload: must be a size from 1 to 16777216 bytes (suffix k or m allowed), got \"0\"" },
	{ "max_payload", "17m", "max_payload: must be a size from 1 to 16777216 bytes (suffix k or m allowed), got \"17m\"" },
	{ "max_payload", "16777217", "max_payload: must be a size from 1 to 16777216 bytes (suffix k or m allowed), got \"16777217\"" },
	{ "max_payload", "64kb", "max_payload: must be a size from 1 to 16777216 bytes (suffix k or m allowed), got \"64kb\"" },
	{ "max_payload", "k", "max_payload: must be a size from 1 to 16777216 bytes (suffix k or m allowed), got \"k\"" },
	{ "max_payload", "1g", "max_payload: must be a size from 1 to 16777216 bytes (suffix k or m allowed), got \"1g\"" },
	{ "job_timeout", "86401", "job_timeout: must be an integer from 0 to 86400, got \"86401\"" },
	{ "max_attempts", "0", "max_attempts: must be an integer from 1 to 1000, got \"0\"" },
	{ "max_attempts", "1001", "max_attempts: must be an integer from 1 to 1000, got \"1001\"" },
	{ "retry_delay", "86401", "retry_delay: must be an integer from 0 to 86400, got \"86401\"" },
	{ "retry_delay_max", "-1", "retry_delay_max: must be an integer from 0 to 86400, got \"-1\"" },
	{ "max_delay", "31536001", "max_delay: must be an integer from 0 to 31536000, got \"31536001\"" },
	{ "max_delay", "+5", "max_delay: must be an integer from 0 to 31536000, got \"+5\"" },
	{ "drain_timeout", "86401", "drain_timeout: must be an integer from 0 to 86400, got \"86401\"" },
	{ "node", "256", "node: must be an integer from 0 to 255, got \"256\"" },
	{ "node", "ff", "node: must be an integer from 0 to 255, got \"ff\"" },
	{ "max_connections", "0", "max_connections: must be an integer from 1 to 1000000, got \"0\"" },
	{ "keepalive_timeout", "0", "keepalive_timeout: must be an integer from 1 to 3600, got \"0\"" },
	{ "header_timeout", "3601", "header_timeout: must be an integer from 1 to 3600, got \"3601\"" },
	{ "body_timeout", "1.5", "body_timeout: must be an integer from 1 to 3600, got \"1.5\"" },
	{ "min_body_rate", "1000000001", "min_body_rate: must be an integer from 0 to 1000000000, got \"1000000001\"" },
	{ "listen", "localhost:80", "listen: \"localhost\" is not a numeric IPv4 address (host names are not resolved), got \"localhost:80\"" },
	{ "listen", "127.0.0.1", "listen: missing \":PORT\" (want a.b.c.d:PORT, [IPv6]:PORT or *:PORT), got \"127.0.0.1\"" },
	{ "listen", "127.0.0.1:0", "listen: port must be an integer from 1 to 65535, got \"127.0.0.1:0\"" },
	{ "listen", "127.0.0.1:65536", "listen: port must be an integer from 1 to 65535, got \"127.0.0.1:65536\"" },
	{ "listen", "127.0.0.1:", "listen: port must be an integer from 1 to 65535, got \"127.0.0.1:\"" },
	{ "listen", "127.0.0.1:http", "listen: port must be an integer from 1 to 65535, got \"127.0.0.1:http\"" },
	{ "listen", "::1:80", "listen: an IPv6 address must be in brackets ([IPv6]:PORT), got \"::1:80\"" },
	{ "listen", "[::1]80", "listen: want \"[IPv6]:PORT\", got \"[::1]80\"" },
	{ "listen", "[::1", "listen: want \"[IPv6]:PORT\", got \"[::1\"" },
	{ "listen", "[1.2.3.4]:80", "listen: \"1.2.3.4\" is not a numeric IPv6 address, got \"[1.2.3.4]:80\"" },
	{ "listen", ":80", "listen: bad address in \":80\" (want a.b.c.d:PORT, [IPv6]:PORT or *:PORT)" },
	{ "listen", "1.2.3.256:80", "listen: \"1.2.3.256\" is not a numeric IPv4 address (host names are not resolved), got \"1.2.3.256:80\"" },
	{ "handler", "", "handler: empty handler; want sleep MS, noop, exec PROG [ARGS...] or spool DIR" },
	{ "handler", "run /bin/true", "handler: unknown handler \"run\"; want sleep MS, noop, exec PROG [ARGS...] or spool DIR" },
	{ "handler", "sleep", "handler: want \"sleep MS\", got \"sleep\"" },
	{ "handler", "sleep 1 2", "handler: want \"sleep MS\", got \"sleep 1 2\"" },
	{ "handler", "sleep 3600001", "handler: sleep: MS must be an integer from 0 to 3600000, got \"3600001\"" },
	{ "handler", "sleep -5", "handler: sleep: MS must be an integer from 0 to 3600000, got \"-5\"" },
	{ "handler", "noop now", "handler: noop takes no arguments, got \"noop now\"" },
	{ "handler", "exec", "handler: want \"exec PROG [ARGS...]\", got \"exec\"" },
	{ "handler", "exec true", "handler: exec: PROG must be an absolute path, got \"true\"" },
	{ "handler", "exec /nonexistent-jobqd/prog", "handler: exec: /nonexistent-jobqd/prog: No such file or directory" },
	{ "handler", "exec @FILE@ arg", "handler: exec: @FILE@: not executable (Permission denied)" },
	{ "handler", "exec @DIR@", "handler: exec: @DIR@: not a regular file" },
	{ "handler", "exec @EXE@ \"unterminated", "handler: unterminated double quote" },
	{ "handler", "spool", "handler: want \"spool DIR\", got \"spool\"" },
	{ "handler", "spool rel/dir", "handler: spool: DIR must be an absolute path, got \"rel/dir\"" },
	{ "handler", "spool @FILE@", "handler: spool: @FILE@: exists and is not a directory" },
	{ "handler", "spool @FILE@/sub", "handler: spool: @FILE@/sub: Not a directory" },
	{ "handler", "SLEEP 5", "handler: unknown handler \"SLEEP\"; want sleep MS, noop, exec PROG [ARGS...] or spool DIR" },
	{ "shm_name", "jobqd", "shm_name: must be \"/NAME\" with no other '/', 2 to 250 characters, got \"jobqd\"" },
	{ "shm_name", "/", "shm_name: must be \"/NAME\" with no other '/', 2 to 250 characters, got \"/\"" },
	{ "shm_name", "/a/b", "shm_name: must be \"/NAME\" with no other '/', 2 to 250 characters, got \"/a/b\"" },
	{ "pidfile", "run/jobqd.pid", "pidfile: must be an absolute path, got \"run/jobqd.pid\"" },
	{ "user", "nosuchuser-jobqd", "user: no such user \"nosuchuser-jobqd\"" },
	{ "group", "nosuchgroup-jobqd", "group: no such group \"nosuchgroup-jobqd\"" },
	{ "log", "file.log", "log: must be stderr, syslog or an absolute path, got \"file.log\"" },
	{ "log", "", "log: must be stderr, syslog or an absolute path, got \"\"" },
	{ "log_level", "warning", "log_level: must be error, warn, info or debug, got \"warning\"" },
	{ "log_level", "INFO", "log_level: must be error, warn, info or debug, got \"INFO\"" },
	{ "allow", "10.0.0.1/8", "allow: \"10.0.0.1/8\": address bits set after the prefix (did you mean 10.0.0.0/8?)" },
	{ "allow", "10.0.0.0/33", "allow: \"10.0.0.0/33\": the prefix length must be 0 to 32" },
	{ "deny", "localhost", "deny: \"localhost\" is not an IPv4 or IPv6 address with an optional /PREFIX" },
	{ "deny", "10.0.0.0/8,::1", "deny: \"10.0.0.0/8,::1\" is not an IPv4 or IPv6 address with an optional /PREFIX" },
	{ "auth_token_file", "token", "auth_token_file: must be an absolute path, got \"token\"" },
	{ "auth_token_file", "@FILE@", "auth_token_file: @FILE@: mode 0644 lets group or others at the token; want 0600 or 0400 (chmod 600 @FILE@)" },
	{ "auth_token_file", "@DIR@", "auth_token_file: @DIR@: not a regular file" },
	{ "journal", "var/journal", "journal: must be an absolute path, got \"var/journal\"" },
	{ "journal_sync", "1", "journal_sync: must be yes or no, got \"1\"" },
	{ "journal_sync", "", "journal_sync: must be yes or no, got \"\"" },
	{ "nosuchkey", "1", "nosuchkey: unknown key" },
	{ "Workers", "1", "Workers: unknown key" },
};

START_TEST(test_set_invalid)
{
	struct config c, before;
	char value[1024], want[1024], err[1024] = "";

	config_defaults(&c);
	before = c;
	subst(invalid[_i].value, NULL, value, sizeof value);
	subst(invalid[_i].want, NULL, want, sizeof want);
	ck_assert_msg(config_set(&c, invalid[_i].key, value, err, sizeof err) == -1,
	    "set %s=%s: got success, want error \"%s\"", invalid[_i].key, value,
	    want);
	ck_assert_msg(strcmp(err, want) == 0, "set %s=%s: got \"%s\", want \"%s\"",
	    invalid[_i].key, value, err, want);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0,
	    "set %s=%s: config changed on error", invalid[_i].key, value);
}
END_TEST

START_TEST(test_set_long_values)
{
	struct config c;
	char big[CONFIG_HANDLER_MAX + 16], err[2048];

	config_defaults(&c);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[0] = '/';
	ck_assert_int_eq(config_set(&c, "pidfile", big, err, sizeof err), -1);
	ck_assert_msg(strcmp(err, "pidfile: longer than 1023 bytes") == 0,
	    "got \"%s\", want \"pidfile: longer than 1023 bytes\"", err);
	ck_assert_int_eq(config_set(&c, "handler", big, err, sizeof err), -1);
	ck_assert_msg(strcmp(err, "handler: longer than 1023 bytes") == 0,
	    "got \"%s\", want \"handler: longer than 1023 bytes\"", err);
	big[300] = '\0';
	ck_assert_int_eq(config_set(&c, "listen", big, err, sizeof err), -1);
	ck_assert_msg(strcmp(err, "listen: longer than 255 bytes") == 0,
	    "got \"%s\", want \"listen: longer than 255 bytes\"", err);
	ck_assert_int_eq(config_set(&c, "user", big + 1, err, sizeof err), -1);
	ck_assert_msg(strcmp(err, "user: longer than 63 bytes") == 0,
	    "got \"%s\", want \"user: longer than 63 bytes\"", err);
	big[251] = '\0';	/* "/" + 250 = 251 chars */
	ck_assert_int_eq(config_set(&c, "shm_name", big, err, sizeof err), -1);
	big[250] = '\0';
	ck_assert_msg(config_set(&c, "shm_name", big, err, sizeof err) == 0,
	    "shm_name of 250 chars: got \"%s\", want success", err);
	/* A small error buffer truncates, never overflows. */
	ck_assert_int_eq(config_set(&c, "workers", "x", err, 8), -1);
	ck_assert_msg(strcmp(err, "workers") == 0, "got \"%s\", want \"workers\"",
	    err);
}
END_TEST

/* --- handler words ------------------------------------------------------- */

START_TEST(test_handler_word_limit)
{
	struct config c;
	char v[CONFIG_HANDLER_MAX], err[512], *argv[CONFIG_HANDLER_ARGS + 1];
	int i, o;

	config_defaults(&c);
	o = snprintf(v, sizeof v, "exec %s", fx_exe);
	for (i = 1; i < CONFIG_HANDLER_ARGS; i++)
		o += snprintf(v + o, sizeof v - (size_t)o, " a%d", i);
	ck_assert_msg(config_set(&c, "handler", v, err, sizeof err) == 0,
	    "%d words: got \"%s\", want success", CONFIG_HANDLER_ARGS, err);
	ck_assert_uint_eq(config_handler_argv(&c, argv, CONFIG_HANDLER_ARGS + 1),
	    CONFIG_HANDLER_ARGS);
	ck_assert_ptr_null(argv[CONFIG_HANDLER_ARGS]);
	ck_assert_str_eq(argv[CONFIG_HANDLER_ARGS - 1], "a63");
	snprintf(v + o, sizeof v - (size_t)o, " one-too-many");
	ck_assert_int_eq(config_set(&c, "handler", v, err, sizeof err), -1);
	ck_assert_msg(strcmp(err, "handler: exec: more than 64 words after \"exec\"") == 0,
	    "got \"%s\"", err);
}
END_TEST

START_TEST(test_handler_argv_small)
{
	struct config c;
	char v[256], err[256], *argv[3] = { (char *)"x", (char *)"y", (char *)"z" };

	config_defaults(&c);
	ck_assert_uint_eq(config_handler_argv(&c, argv, 3), 0);	/* sleep */
	ck_assert_ptr_null(argv[0]);
	snprintf(v, sizeof v, "exec %s a b", fx_exe);
	ck_assert_int_eq(config_set(&c, "handler", v, err, sizeof err), 0);
	ck_assert_str_eq(c.handler, v);
	ck_assert_uint_eq(config_handler_argv(&c, argv, 3), 0);	/* n < argc+1 */
	ck_assert_ptr_null(argv[0]);
	ck_assert_uint_eq(config_handler_argv(&c, argv, 0), 0);
}
END_TEST

/* auth_token_file reads the token at once; "" turns it off again. */
START_TEST(test_set_token_file)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	ck_assert(acl_token_ok(&c.acl, NULL, 0));
	ck_assert_msg(config_set(&c, "auth_token_file", fx_token, err, sizeof err) == 0,
	    "got \"%s\"", err);
	ck_assert(!acl_token_ok(&c.acl, NULL, 0));
	ck_assert(acl_token_ok(&c.acl, "Bearer tok-en_1.2~", 18));
	ck_assert(!acl_token_ok(&c.acl, "Bearer tok-en_1.2", 17));
	ck_assert_int_eq(config_set(&c, "auth_token_file", "", err, sizeof err), 0);
	ck_assert(acl_token_ok(&c.acl, NULL, 0));
}
END_TEST

/* --- config files -------------------------------------------------------- */

/*
 * One file per row: on success the keys in check[] must show want[]; on
 * error the message must equal err (with @TMP@ = the file name).
 */
static const struct {
	const char *name, *text, *err;
	const char *key1, *want1, *key2, *want2;
} files[] = {
	{ "empty file", "", NULL, "workers", "100", NULL, NULL },
	{ "comments and blank lines",
	  "# jobqd\n\n   \t\n# workers = 5\nworkers = 7 # seven\n", NULL,
	  "workers", "7", NULL, NULL },
	{ "spaces and tabs", "\t workers\t=\t12  \n  queue=13\n", NULL,
	  "workers", "12", "queue", "13" },
	{ "no final newline", "workers = 9", NULL, "workers", "9", NULL, NULL },
	{ "CRLF line ends", "workers = 9\r\nqueue = 8\r\n", NULL,
	  "workers", "9", "queue", "8" },
	{ "quoted value", "log = \"/var/log/a b.log\"\n", NULL,
	  "log", "/var/log/a b.log", NULL, NULL },
	{ "quoted value with #", "pidfile = \"/run/a#b.pid\" # comment\n", NULL,
	  "pidfile", "/run/a#b.pid", NULL, NULL },
	{ "quoted value with escapes", "pidfile = \"/run/\\\"q\\\\.pid\"\n", NULL,
	  "pidfile", "/run/\"q\\.pid", NULL, NULL },
	{ "quoted integer", "workers = \"5\"\n", NULL, "workers", "5", NULL, NULL },
	{ "quoted empty pidfile", "pidfile = \"\"\n", NULL, "pidfile", "", NULL, NULL },
	{ "value with =", "handler = exec @EXE@ --opt=1 # c\n", NULL,
	  "handler", "exec ms=0 argc=2 <@EXE@> <--opt=1>", NULL, NULL },
	{ "handler keeps quotes", "handler = exec @EXE@ \"a # b\" c # comment\n",
	  NULL, "handler", "exec ms=0 argc=3 <@EXE@> <a # b> <c>", NULL, NULL },
	{ "handler quoted whole is one word", "handler = \"sleep 5\"\n",
	  "@TMP@:1: handler: unknown handler \"sleep 5\"; want sleep MS, noop, exec PROG [ARGS...] or spool DIR",
	  NULL, NULL, NULL, NULL },
	{ "bad integer", "# c\n\nworkers = abc\n",
	  "@TMP@:3: workers: must be an integer from 1 to 1024, got \"abc\"",
	  NULL, NULL, NULL, NULL },
	{ "duplicate key", "workers = 1\nqueue = 2\nworkers = 3\n",
	  "@TMP@:3: workers: duplicate key (first set on line 1)",
	  NULL, NULL, NULL, NULL },
	{ "unknown key", "workers = 1\nwrokers = 2\n",
	  "@TMP@:2: wrokers: unknown key", NULL, NULL, NULL, NULL },
	{ "no =", "workers 5\n", "@TMP@:1: want \"key = value\", got \"workers 5\"",
	  NULL, NULL, NULL, NULL },
	{ "empty key", " = 5\n", "@TMP@:1: empty key before '='",
	  NULL, NULL, NULL, NULL },
	{ "empty value", "queue = 4\nworkers =   # none\n",
	  "@TMP@:2: workers: empty value", NULL, NULL, NULL, NULL },
	{ "unterminated quote", "log = \"/var/log/x # y\n",
	  "@TMP@:1: log: unterminated double quote", NULL, NULL, NULL, NULL },
	{ "quote not whole", "log = \"/a\" b\n",
	  "@TMP@:1: log: must be stderr, syslog or an absolute path, got \"\"/a\" b\"",
	  NULL, NULL, NULL, NULL },
	{ "bad listen", "listen = localhost:8099\n",
	  "@TMP@:1: listen: \"localhost\" is not a numeric IPv4 address (host names are not resolved), got \"localhost:8099\"",
	  NULL, NULL, NULL, NULL },
	{ "exec not executable", "\nhandler = exec @FILE@\n",
	  "@TMP@:2: handler: exec: @FILE@: not executable (Permission denied)",
	  NULL, NULL, NULL, NULL },
	{ "spool on a file", "handler = spool @FILE@\n",
	  "@TMP@:1: handler: spool: @FILE@: exists and is not a directory",
	  NULL, NULL, NULL, NULL },
	{ "every key", "listen = [::1]:9000\nworkers = 2\nqueue = 3\n"
	  "max_payload = 1k\nhandler = noop\njob_timeout = 4\nmax_attempts = 5\n"
	  "drain_timeout = 6\nshm_name = /q\npidfile = /run/p\nuser = root\n"
	  "group = root\nlog = syslog\nlog_level = debug\nmax_connections = 7\n"
	  "keepalive_timeout = 8\nheader_timeout = 9\nbody_timeout = 10\n",
	  NULL, "max_payload", "1024", "body_timeout", "10" },
	{ "bad allow", "allow = 127.0.0.0/8 ::1/129\n",
	  "@TMP@:1: allow: \"::1/129\": the prefix length must be 0 to 128",
	  NULL, NULL, NULL, NULL },
	{ "token file open to others", "auth_token_file = @FILE@\n",
	  "@TMP@:1: auth_token_file: @FILE@: mode 0644 lets group or others at the token; want 0600 or 0400 (chmod 600 @FILE@)",
	  NULL, NULL, NULL, NULL },
	{ "quoted empty allow", "allow = \"\"\n", NULL, "allow", "", NULL, NULL },
	{ "access keys", "allow = 127.0.0.0/8 ::1\ndeny = 127.0.0.2\n"
	  "auth_token_file = @TOKEN@\n", NULL, "auth_token_file", "@TOKEN@",
	  "deny", "127.0.0.2/32" },
};

START_TEST(test_load_file)
{
	struct config c, before;
	char path[64], text[2048], want[2048], got[1024], err[1024] = "";
	int rc;

	config_defaults(&c);
	before = c;
	subst(files[_i].text, NULL, text, sizeof text);
	write_tmp(path, sizeof path, text, strlen(text));
	rc = config_load(&c, path, err, sizeof err);
	unlink(path);
	if (files[_i].err != NULL) {
		subst(files[_i].err, path, want, sizeof want);
		ck_assert_msg(rc == -1, "%s: got success, want \"%s\"",
		    files[_i].name, want);
		ck_assert_msg(strcmp(err, want) == 0, "%s: got \"%s\", want \"%s\"",
		    files[_i].name, err, want);
		ck_assert_msg(memcmp(&c, &before, sizeof c) == 0,
		    "%s: config changed by a bad file", files[_i].name);
		return;
	}
	ck_assert_msg(rc >= 0, "%s: got error \"%s\", want success",
	    files[_i].name, err);
	show(&c, files[_i].key1, got, sizeof got);
	subst(files[_i].want1, NULL, want, sizeof want);
	ck_assert_msg(strcmp(got, want) == 0, "%s: %s: got \"%s\", want \"%s\"",
	    files[_i].name, files[_i].key1, got, want);
	if (files[_i].key2 != NULL) {
		show(&c, files[_i].key2, got, sizeof got);
		ck_assert_msg(strcmp(got, files[_i].want2) == 0,
		    "%s: %s: got \"%s\", want \"%s\"", files[_i].name,
		    files[_i].key2, got, files[_i].want2);
	}
}
END_TEST

START_TEST(test_load_every_key)
{
	static const char text[] = "listen = [::1]:9000\nworkers = 2\nqueue = 3\n"
	    "max_payload = 1k\nmax_output = 11\nhandler = noop\njob_timeout = 4\n"
	    "max_attempts = 5\nretry_delay = 11\nretry_delay_max = 12\nmax_delay = 13\n"
	    "drain_timeout = 6\nshm_name = /q\nnode = 200\n"
	    "pidfile = /run/p\nuser = root\ngroup = root\nlog = syslog\n"
	    "log_level = debug\nmax_connections = 7\nkeepalive_timeout = 8\n"
	    "header_timeout = 9\nbody_timeout = 10\nmin_body_rate = 11\n"
	    "allow = 10.0.0.0/8\ndeny = 10.0.0.1\nauth_token_file = @TOKEN@\n"
	    "journal = /var/lib/j\njournal_sync = no\n";
	static const char *const want[] = {
		"[::1]:9000", "2", "3", "1024", "11", "noop ms=0 argc=0", "4", "5",
		"11", "12", "13", "6", "/q", "200", "/run/p", "root", "root", "syslog", "debug",
		"7", "8", "9", "10", "11", "10.0.0.0/8", "10.0.0.1/32", "@TOKEN@",
		"/var/lib/j", "no",
	};
	const char *const *k = config_keys();
	struct config c;
	char path[64], got[512], err[512] = "", full[1024], w[512];
	size_t i;
	int rc;

	config_defaults(&c);
	subst(text, NULL, full, sizeof full);
	write_tmp(path, sizeof path, full, strlen(full));
	rc = config_load(&c, path, err, sizeof err);
	ck_assert_msg(rc == (int)NELEM(want), "got %d \"%s\", want %d keys set",
	    rc, err, (int)NELEM(want));
	unlink(path);
	for (i = 0; k[i] != NULL; i++) {
		show(&c, k[i], got, sizeof got);
		subst(want[i], NULL, w, sizeof w);
		ck_assert_msg(strcmp(got, w) == 0, "%s: got \"%s\", want \"%s\"",
		    k[i], got, w);
	}
}
END_TEST

START_TEST(test_load_long_line)
{
	struct config c, before;
	char path[64], want[256], err[512] = "";
	static char text[5000];

	/* 4096 bytes is fine, 4097 is not. */
	config_defaults(&c);
	memset(text, ' ', sizeof text);
	memcpy(text, "workers = 5", 11);
	text[4096] = '\n';
	write_tmp(path, sizeof path, text, 4097);
	ck_assert_msg(config_load(&c, path, err, sizeof err) == 1,
	    "4096-byte line: got \"%s\", want success", err);
	unlink(path);
	ck_assert_uint_eq(c.workers, 5);

	before = c;
	memset(text, '#', sizeof text);
	memcpy(text, "queue = 1\n", 10);
	text[10 + 4097] = '\n';
	write_tmp(path, sizeof path, text, 10 + 4098);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: line longer than 4096 bytes", path);
	unlink(path);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "config changed");
}
END_TEST

START_TEST(test_load_nul_byte)
{
	struct config c;
	char path[64], want[256], err[512] = "";
	static const char text[] = "workers = 5\nqueue\0 = 1\n";

	config_defaults(&c);
	write_tmp(path, sizeof path, text, sizeof text - 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: NUL byte in line", path);
	unlink(path);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);
}
END_TEST

START_TEST(test_load_missing_file)
{
	struct config c, before;
	char err[512] = "", want[512];

	config_defaults(&c);
	before = c;
	ck_assert_int_eq(config_load(&c, "/nonexistent-jobqd/jobqd.conf", err,
	    sizeof err), -1);
	ck_assert_msg(strcmp(err, "/nonexistent-jobqd/jobqd.conf: No such file "
	    "or directory") == 0, "got \"%s\"", err);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "config changed");
	ck_assert_int_eq(config_load(&c, fx_dir, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: not a regular file", fx_dir);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err,
	    want);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "config changed");
}
END_TEST

/* A bad line late in the file must undo the good lines before it. */
START_TEST(test_load_untouched_on_error)
{
	static const char text[] = "workers = 3\nqueue = 4\nhandler = noop\n"
	    "listen = *:1234\nmax_attempts = 0\n";
	struct config c, before;
	char path[64], err[512] = "";

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "workers", "50", err, sizeof err), 0);
	before = c;
	write_tmp(path, sizeof path, text, sizeof text - 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), -1);
	unlink(path);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0,
	    "config changed: workers got %u, want 50", c.workers);
}
END_TEST

/* -o after the file overrides it; the file over defaults keeps the rest. */
START_TEST(test_set_overrides_file)
{
	static const char text[] = "workers = 3\nqueue = 4\n";
	struct config c;
	char path[64], err[512] = "";

	config_defaults(&c);
	write_tmp(path, sizeof path, text, sizeof text - 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), 2);
	unlink(path);
	ck_assert_int_eq(config_set(&c, "workers", "9", err, sizeof err), 0);
	ck_assert_msg(c.workers == 9, "workers: got %u, want 9", c.workers);
	ck_assert_msg(c.queue == 4, "queue: got %u, want 4", c.queue);
	ck_assert_msg(c.max_attempts == 3, "max_attempts: got %u, want 3",
	    c.max_attempts);
	/* The same key twice through -o is fine: the last one wins. */
	ck_assert_int_eq(config_set(&c, "workers", "10", err, sizeof err), 0);
	ck_assert_msg(c.workers == 10, "workers: got %u, want 10", c.workers);
}
END_TEST

/* Loading a second file over the first: duplicates are per file. */
START_TEST(test_load_two_files)
{
	static const char a[] = "workers = 3\nqueue = 4\n", b[] = "workers = 5\n";
	struct config c;
	char path[64], err[512] = "";

	config_defaults(&c);
	write_tmp(path, sizeof path, a, sizeof a - 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), 2);
	unlink(path);
	write_tmp(path, sizeof path, b, sizeof b - 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), 1);
	unlink(path);
	ck_assert_msg(c.workers == 5 && c.queue == 4, "got workers=%u queue=%u, "
	    "want 5 and 4", c.workers, c.queue);
}
END_TEST

/*
 * Cap this test process's data (brk and private mappings) so that a loader
 * that reads without bound fails with ENOMEM instead of eating the machine.
 * Not under AddressSanitizer, whose own mappings the cap would count.
 */
static void
cap_memory(void)
{
#ifndef __SANITIZE_ADDRESS__
	struct rlimit rl = { 256u << 20, 256u << 20 };

	ck_assert_int_eq(setrlimit(RLIMIT_DATA, &rl), 0);
#endif
}

/* A unique new name under /tmp for a FIFO or a link. */
static void
tmp_name(char *path, size_t n, const char *what)
{
	snprintf(path, n, "/tmp/jobqd-test-config-%s-%ld", what, (long)getpid());
	unlink(path);
}

/* A FIFO with no writer is refused at once: the open does not wait for a
 * writer, nor the read for data. */
START_TEST(test_load_fifo)
{
	struct config c, before;
	char path[96], want[160], err[512] = "";

	config_defaults(&c);
	before = c;
	tmp_name(path, sizeof path, "fifo");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), -1);
	unlink(path);
	snprintf(want, sizeof want, "%s: not a regular file", path);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "config changed");
}
END_TEST

/* Symbolic links are followed (/etc configs often are one), but what they
 * lead to must be a regular file: /dev/zero is endless. */
START_TEST(test_load_symlinks)
{
	struct config c;
	char path[96], link[96], want[160], err[512] = "";

	config_defaults(&c);
	cap_memory();
	tmp_name(link, sizeof link, "zero");
	ck_assert_int_eq(symlink("/dev/zero", link), 0);
	ck_assert_int_eq(config_load(&c, link, err, sizeof err), -1);
	unlink(link);
	snprintf(want, sizeof want, "%s: not a regular file", link);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);

	write_tmp(path, sizeof path, "workers = 6\n", 12);
	tmp_name(link, sizeof link, "link");
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_msg(config_load(&c, link, err, sizeof err) == 1, "got \"%s\"", err);
	unlink(link);
	unlink(path);
	ck_assert_uint_eq(c.workers, 6);
}
END_TEST

/* CONFIG_FILE_MAX bytes load; one more byte is refused, however long the
 * file grows past it (the read stops there). */
START_TEST(test_load_oversize)
{
	struct config c, before;
	char path[64], want[160], err[512] = "";
	char *text = malloc(CONFIG_FILE_MAX + 1);

	ck_assert_ptr_nonnull(text);
	config_defaults(&c);
	memset(text, '#', CONFIG_FILE_MAX + 1);
	for (size_t i = 99; i < CONFIG_FILE_MAX; i += 100)
		text[i] = '\n';
	memcpy(text, "workers = 7\n", 12);
	write_tmp(path, sizeof path, text, CONFIG_FILE_MAX);
	ck_assert_msg(config_load(&c, path, err, sizeof err) == 1, "got \"%s\"", err);
	ck_assert_uint_eq(c.workers, 7);
	unlink(path);

	before = c;
	write_tmp(path, sizeof path, text, CONFIG_FILE_MAX + 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
	unlink(path);
	free(text);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);
	ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "config changed");
}
END_TEST

/* One line of nearly CONFIG_FILE_MAX bytes with no newline: refused as a
 * long line, in bounded memory. */
START_TEST(test_load_overlong_line)
{
	struct config c;
	char path[64], want[160], err[512] = "";
	size_t len = CONFIG_FILE_MAX - 1;
	char *text = malloc(len);

	ck_assert_ptr_nonnull(text);
	config_defaults(&c);
	cap_memory();
	memset(text, 'x', len);
	memcpy(text, "workers = 1", 11);
	write_tmp(path, sizeof path, text, len);
	free(text);
	ck_assert_int_eq(config_load(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1: line longer than 4096 bytes", path);
	unlink(path);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);
}
END_TEST

/* The count of keys a file sets: 0 for an empty file or only comments
 * (which a reload refuses); config_build passes it on, 0 without a file. */
START_TEST(test_load_counts_keys)
{
	static const struct { const char *text; int want; } cases[] = {
		{ "", 0 },
		{ "\n\n   \n", 0 },
		{ "# listen = 127.0.0.1:1\n  # allow = 127.0.0.1\n", 0 },
		{ "workers = 2\n# queue = 3\nhandler = noop", 2 },
	};
	struct config c;
	char path[64], err[512] = "";

	for (int i = 0; i < NELEM(cases); i++) {
		config_defaults(&c);
		write_tmp(path, sizeof path, cases[i].text, strlen(cases[i].text));
		ck_assert_msg(config_load(&c, path, err, sizeof err) == cases[i].want,
		    "case %d: got \"%s\", want %d keys", i, err, cases[i].want);
		ck_assert_msg(config_build(&c, path, NULL, 0, err, sizeof err) ==
		    cases[i].want, "case %d: config_build: \"%s\"", i, err);
		unlink(path);
	}
	ck_assert_int_eq(config_build(&c, NULL, NULL, 0, err, sizeof err), 0);
}
END_TEST

/* --- listen ------------------------------------------------------------- */

static const struct { const char *listen, *addr; int family, port; } listens[] = {
	{ "0.0.0.0:8099", "0.0.0.0", AF_INET, 8099 },
	{ "127.0.0.1:1", "127.0.0.1", AF_INET, 1 },
	{ "*:65535", "0.0.0.0", AF_INET, 65535 },
	{ "[::1]:8080", "::1", AF_INET6, 8080 },
	{ "[::]:80", "::", AF_INET6, 80 },
	{ "[2001:db8::5]:443", "2001:db8::5", AF_INET6, 443 },
	{ "[::ffff:1.2.3.4]:9", "::ffff:1.2.3.4", AF_INET6, 9 },
};

START_TEST(test_listen_addr)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct config c;
	char err[512] = "", got[INET6_ADDRSTRLEN] = "";
	int port;

	config_defaults(&c);
	ck_assert_msg(config_set(&c, "listen", listens[_i].listen, err,
	    sizeof err) == 0, "%s: got \"%s\"", listens[_i].listen, err);
	ck_assert_int_eq(config_listen_addr(&c, &ss, &len), 0);
	ck_assert_msg(ss.ss_family == listens[_i].family, "%s: family got %d, "
	    "want %d", listens[_i].listen, ss.ss_family, listens[_i].family);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		ck_assert_uint_eq(len, sizeof *s4);
		inet_ntop(AF_INET, &s4->sin_addr, got, sizeof got);
		port = ntohs(s4->sin_port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		ck_assert_uint_eq(len, sizeof *s6);
		inet_ntop(AF_INET6, &s6->sin6_addr, got, sizeof got);
		port = ntohs(s6->sin6_port);
	}
	ck_assert_msg(strcmp(got, listens[_i].addr) == 0, "%s: addr got %s, "
	    "want %s", listens[_i].listen, got, listens[_i].addr);
	ck_assert_msg(port == listens[_i].port, "%s: port got %d, want %d",
	    listens[_i].listen, port, listens[_i].port);
	ck_assert_msg(config_listen_port(&c) == listens[_i].port,
	    "%s: config_listen_port got %d, want %d", listens[_i].listen,
	    config_listen_port(&c), listens[_i].port);
}
END_TEST

START_TEST(test_listen_port_invalid)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct config c;

	/* Written behind the parser's back, as a corrupt struct would be. */
	config_defaults(&c);
	snprintf(c.listen, sizeof c.listen, "host:80");
	ck_assert_int_eq(config_listen_port(&c), -1);
	ck_assert_int_eq(config_listen_addr(&c, &ss, &len), -1);
}
END_TEST

/* --- config_finish ------------------------------------------------------ */

static const struct { const char *listen, *shm, *want; } finishes[] = {
	{ NULL, NULL, "/jobqd-8099" },
	{ "[::1]:9000", NULL, "/jobqd-9000" },
	{ "*:1", NULL, "/jobqd-1" },
	{ "127.0.0.1:7000", "/mine", "/mine" },
	{ "127.0.0.1:7000", "", "/jobqd-7000" },
};

START_TEST(test_finish_shm_name)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	if (finishes[_i].listen != NULL)
		ck_assert_int_eq(config_set(&c, "listen", finishes[_i].listen, err,
		    sizeof err), 0);
	if (finishes[_i].shm != NULL)
		ck_assert_int_eq(config_set(&c, "shm_name", finishes[_i].shm, err,
		    sizeof err), 0);
	ck_assert_msg(config_finish(&c, err, sizeof err) == 0, "got \"%s\"", err);
	ck_assert_msg(strcmp(c.shm_name, finishes[_i].want) == 0,
	    "shm_name: got \"%s\", want \"%s\"", c.shm_name, finishes[_i].want);
}
END_TEST

START_TEST(test_finish_bad_listen)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	snprintf(c.listen, sizeof c.listen, "nonsense");
	ck_assert_int_eq(config_finish(&c, err, sizeof err), -1);
	ck_assert_msg(strcmp(err, "listen: no valid port in \"nonsense\"") == 0,
	    "got \"%s\"", err);
}
END_TEST

/* --- the key table -------------------------------------------------------- */

static const struct { const char *key; int live; } keytab[] = {
	{ "listen", 1 }, { "workers", 1 }, { "queue", 0 }, { "max_payload", 0 },
	{ "max_output", 0 },
	{ "handler", 1 }, { "job_timeout", 1 }, { "max_attempts", 1 },
	{ "retry_delay", 1 }, { "retry_delay_max", 1 }, { "max_delay", 1 },
	{ "drain_timeout", 1 }, { "shm_name", 0 }, { "node", 0 }, { "pidfile", 0 },
	{ "user", 0 }, { "group", 0 }, { "log", 1 }, { "log_level", 1 },
	{ "max_connections", 1 }, { "keepalive_timeout", 1 },
	{ "header_timeout", 1 }, { "body_timeout", 1 }, { "min_body_rate", 1 },
	{ "allow", 1 }, { "deny", 1 }, { "auth_token_file", 1 },
	{ "journal", 0 }, { "journal_sync", 0 },
};
#define NKEYTAB	(sizeof keytab / sizeof keytab[0])

START_TEST(test_keys_order)
{
	const char *const *k = config_keys();
	size_t n;

	for (n = 0; k[n] != NULL; n++)
		;
	ck_assert_msg(n == NKEYTAB, "key count: got %zu, want %zu", n, NKEYTAB);
	for (n = 0; n < NKEYTAB; n++)
		ck_assert_msg(strcmp(k[n], keytab[n].key) == 0,
		    "key %zu: got \"%s\", want \"%s\"", n, k[n], keytab[n].key);
}
END_TEST

START_TEST(test_key_live)
{
	ck_assert_msg(config_key_live(keytab[_i].key) == keytab[_i].live,
	    "config_key_live(%s): got %d, want %d", keytab[_i].key,
	    config_key_live(keytab[_i].key), keytab[_i].live);
}
END_TEST

START_TEST(test_key_live_unknown)
{
	ck_assert_int_eq(config_key_live("nosuchkey"), 0);
	ck_assert_int_eq(config_key_live(""), 0);
}
END_TEST

/* Every default is accepted by its own key's parser. */
START_TEST(test_defaults_roundtrip)
{
	struct config c, d;
	char value[1200], err[512] = "";

	config_defaults(&c);
	d = c;
	show(&c, keytab[_i].key, value, sizeof value);
	if (strcmp(keytab[_i].key, "handler") == 0)
		snprintf(value, sizeof value, "%s", c.handler);
	ck_assert_msg(config_set(&d, keytab[_i].key, value, err, sizeof err) == 0,
	    "%s=%s: got \"%s\"", keytab[_i].key, value, err);
	ck_assert_msg(memcmp(&c, &d, sizeof c) == 0, "%s: changed", keytab[_i].key);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_loop_test(tc, test_defaults, 0, NELEM(defaults));
	tcase_add_test(tc, test_defaults_handler_text);
	tcase_add_loop_test(tc, test_defaults_roundtrip, 0, (int)NKEYTAB);
	suite_add_tcase(s, tc);

	tc = tcase_create("set");
	tcase_add_loop_test(tc, test_set_valid, 0, NELEM(valid));
	tcase_add_loop_test(tc, test_set_invalid, 0, NELEM(invalid));
	tcase_add_test(tc, test_set_long_values);
	tcase_add_test(tc, test_handler_word_limit);
	tcase_add_test(tc, test_handler_argv_small);
	tcase_add_test(tc, test_set_token_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_loop_test(tc, test_load_file, 0, NELEM(files));
	tcase_add_test(tc, test_load_every_key);
	tcase_add_test(tc, test_load_long_line);
	tcase_add_test(tc, test_load_nul_byte);
	tcase_add_test(tc, test_load_missing_file);
	tcase_add_test(tc, test_load_untouched_on_error);
	tcase_add_test(tc, test_set_overrides_file);
	tcase_add_test(tc, test_load_two_files);
	tcase_add_test(tc, test_load_fifo);
	tcase_add_test(tc, test_load_symlinks);
	tcase_add_test(tc, test_load_oversize);
	tcase_add_test(tc, test_load_overlong_line);
	tcase_add_test(tc, test_load_counts_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_add_loop_test(tc, test_listen_addr, 0, NELEM(listens));
	tcase_add_test(tc, test_listen_port_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("finish");
	tcase_add_loop_test(tc, test_finish_shm_name, 0, NELEM(finishes));
	tcase_add_test(tc, test_finish_bad_listen);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_keys_order);
	tcase_add_loop_test(tc, test_key_live, 0, (int)NKEYTAB);
	tcase_add_test(tc, test_key_live_unknown);
	suite_add_tcase(s, tc);
	return s;
}

/* Create the fixture files: an executable, a plain file, a directory. */
static int
fixtures_create(void)
{
	int fd;

	snprintf(fx_exe, sizeof fx_exe, "/tmp/jobqd-test-exe-XXXXXX");
	snprintf(fx_file, sizeof fx_file, "/tmp/jobqd-test-file-XXXXXX");
	snprintf(fx_dir, sizeof fx_dir, "/tmp/jobqd-test-dir-XXXXXX");
	if ((fd = mkstemp(fx_exe)) == -1)
		return -1;
	if (write(fd, "#!/bin/sh\nexit 0\n", 17) != 17 || fchmod(fd, 0755) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	if ((fd = mkstemp(fx_file)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	if (mkdtemp(fx_dir) == NULL)
		return -1;
	snprintf(fx_token, sizeof fx_token, "/tmp/jobqd-test-token-XXXXXX");
	if ((fd = mkstemp(fx_token)) == -1)	/* mode 0600 */
		return -1;
	if (write(fd, "tok-en_1.2~\n", 12) != 12) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void
fixtures_remove(void)
{
	if (fx_exe[0] != '\0')
		unlink(fx_exe);
	if (fx_file[0] != '\0')
		unlink(fx_file);
	if (fx_dir[0] != '\0')
		rmdir(fx_dir);
	if (fx_token[0] != '\0')
		unlink(fx_token);
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (fixtures_create() == -1) {
		perror("test_config: fixtures");
		fixtures_remove();
		return 1;
	}
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fixtures_remove();
	return failed == 0 ? 0 : 1;
}
