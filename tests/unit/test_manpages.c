/*
 * test_manpages — Check suite: the man pages agree with the code.
 *
 *   keys      man/jobqd.conf.5 documents exactly config_keys(), one
 *             ".It Cm KEY" per key in the top-level list of ".Ss Keys",
 *             in the table's order, each marked ".Sy live" or
 *             ".Sy restart" as config_key_live() says
 *   synopsis  the SYNOPSIS of man/jobqd.8, as mandoc renders it, is the
 *             usage line of "$JOBQD_BIN -h" without "usage: ", and -h
 *             exits 0
 *   signals   every signal server/supervisor.c handles ("case SIGxxx:")
 *             is named in the SIGNALS section of jobqd.8
 *   http      every endpoint and status code is in HTTP INTERFACE
 *
 * JOBQD_SRC is the source root (default "."); JOBQD_BIN the jobqd binary
 * (set by "make check"; the synopsis test fails when it is unset).
 * mandoc must be installed.
 */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"

#define RENDER_WIDTH	"width=200"	/* no line wrapping in SYNOPSIS */

/* A growing string. */
struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->p = realloc(b->p, cap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static const char *src_dir(void)
{
	const char *s = getenv("JOBQD_SRC");

	return s != NULL && *s != '\0' ? s : ".";
}

/* $JOBQD_SRC/rel into out. */
static void src_path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", src_dir(), rel);
}

/* The whole file, NUL-terminated; fails the test if unreadable. */
static char *slurp(const char *path)
{
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	FILE *fp = fopen(path, "r");

	ck_assert_msg(fp != NULL, "cannot read %s: %s (is JOBQD_SRC the source root?)",
	    path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_add(&b, chunk, n);
	fclose(fp);
	buf_add(&b, "", 0);
	return b.p;
}

/* Run argv (no shell); stdout into *out, stderr left alone.  Returns the
 * wait status. */
static int run_capture(const char *const argv[], char **out)
{
	struct buf b = { 0 };
	char chunk[4096];
	int p[2], st;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], chunk, sizeof chunk)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		buf_add(&b, chunk, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1)
		ck_assert_int_eq(errno, EINTR);
	buf_add(&b, "", 0);
	*out = b.p;
	return st;
}

/* Remove backspace overstrikes in place: "X\bX" (bold) and "_\bX"
 * (underline) both become "X", as col -b does. */
static void strip_overstrike(char *s)
{
	size_t o = 0;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\b') {
			if (o > 0)
				o--;
			continue;
		}
		s[o++] = s[i];
	}
	s[o] = '\0';
}

/* Collapse runs of whitespace to one space and trim, in place. */
static void squeeze(char *s)
{
	size_t o = 0;
	int space = 0;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (isspace((unsigned char)s[i])) {
			space = o > 0;
			continue;
		}
		if (space)
			s[o++] = ' ';
		space = 0;
		s[o++] = s[i];
	}
	s[o] = '\0';
}

/* The page rendered as plain text by mandoc, without overstrikes. */
static char *render(const char *page)
{
	char path[4096], *out;
	const char *argv[] = { "mandoc", "-Tascii", "-O", RENDER_WIDTH, path, NULL };
	int st;

	src_path(path, sizeof path, page);
	st = run_capture(argv, &out);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "mandoc -Tascii %s failed (status %d): is mandoc installed?", path,
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	strip_overstrike(out);
	return out;
}

/*
 * The body of section name in rendered text: the lines after the header
 * line that is exactly name, up to the next header (a line starting with
 * a non-blank).  NULL when there is no such section.
 */
static char *section(const char *text, const char *name)
{
	struct buf b = { 0 };
	size_t nl = strlen(name);
	const char *p = text, *e;

	for (;;) {
		e = strchr(p, '\n');
		if (e == NULL)
			return NULL;
		if ((size_t)(e - p) == nl && memcmp(p, name, nl) == 0)
			break;
		p = e + 1;
	}
	for (p = e + 1; *p != '\0'; p = e + 1) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if (e > p && !isspace((unsigned char)*p))
			break;
		buf_add(&b, p, (size_t)(e - p));
		buf_add(&b, "\n", 1);
		if (*e == '\0')
			break;
	}
	buf_add(&b, "", 0);
	return b.p;
}

/* --- jobqd.conf(5): the keys ---------------------------------------------- */

struct doc_key {
	char name[64];
	int live, restart;	/* ".Sy live" / ".Sy restart" in its entry */
};

/* The keys of the top-level list under ".Ss Keys", in order. */
static size_t doc_keys(const char *mdoc, struct doc_key *k, size_t max)
{
	const char *p = strstr(mdoc, "\n.Ss Keys\n");
	size_t n = 0;
	int depth = 0, seen_list = 0;

	ck_assert_msg(p != NULL, "jobqd.conf.5 has no \".Ss Keys\" subsection");
	for (p = strchr(p + 1, '\n') + 1; *p != '\0'; ) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len >= 3 && strncmp(p, ".Bl", 3) == 0) {
			depth++;
			seen_list = 1;
		} else if (len >= 3 && strncmp(p, ".El", 3) == 0) {
			if (--depth == 0)
				break;
		} else if (seen_list && depth == 0 && len >= 3 &&
		    (strncmp(p, ".Ss", 3) == 0 || strncmp(p, ".Sh", 3) == 0)) {
			break;
		} else if (depth == 1 && len > 8 && strncmp(p, ".It Cm ", 7) == 0) {
			size_t w = strcspn(p + 7, " \t\n");

			ck_assert_uint_lt(n, max);
			ck_assert_uint_lt(w, sizeof k[n].name);
			memset(&k[n], 0, sizeof k[n]);
			memcpy(k[n].name, p + 7, w);
			n++;
		} else if (depth == 1 && n > 0) {
			if (len >= 8 && strncmp(p, ".Sy live", 8) == 0)
				k[n - 1].live = 1;
			if (len >= 11 && strncmp(p, ".Sy restart", 11) == 0)
				k[n - 1].restart = 1;
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	return n;
}

static size_t code_key_count(void)
{
	size_t n = 0;

	for (const char *const *k = config_keys(); *k != NULL; k++)
		n++;
	return n;
}

static int in_doc(const struct doc_key *d, size_t nd, const char *name)
{
	for (size_t i = 0; i < nd; i++)
		if (strcmp(d[i].name, name) == 0)
			return 1;
	return 0;
}

static int in_code(const char *name)
{
	for (const char *const *k = config_keys(); *k != NULL; k++)
		if (strcmp(*k, name) == 0)
			return 1;
	return 0;
}

static struct doc_key dk[256];
static size_t ndk;

static void load_doc_keys(void)
{
	char path[4096], *mdoc;

	src_path(path, sizeof path, "man/jobqd.conf.5");
	mdoc = slurp(path);
	ndk = doc_keys(mdoc, dk, sizeof dk / sizeof dk[0]);
	free(mdoc);
}

START_TEST(conf_keys_match_config)
{
	struct buf missing = { 0 }, extra = { 0 };

	load_doc_keys();
	buf_str(&missing, "");
	buf_str(&extra, "");
	for (const char *const *k = config_keys(); *k != NULL; k++)
		if (!in_doc(dk, ndk, *k)) {
			buf_str(&missing, " ");
			buf_str(&missing, *k);
		}
	for (size_t i = 0; i < ndk; i++)
		if (!in_code(dk[i].name)) {
			buf_str(&extra, " ");
			buf_str(&extra, dk[i].name);
		}
	ck_assert_msg(missing.len == 0 && extra.len == 0,
	    "jobqd.conf.5 vs config_keys(): missing from the page:%s; "
	    "documented but not a key:%s",
	    missing.len ? missing.p : " (none)", extra.len ? extra.p : " (none)");
	free(missing.p);
	free(extra.p);
}
END_TEST

START_TEST(conf_keys_in_table_order)
{
	const char *const *k = config_keys();

	load_doc_keys();
	ck_assert_msg(ndk == code_key_count(),
	    "jobqd.conf.5 documents %zu keys, config_keys() has %zu", ndk,
	    code_key_count());
	for (size_t i = 0; i < ndk; i++)
		ck_assert_msg(strcmp(dk[i].name, k[i]) == 0,
		    "jobqd.conf.5: key %zu is \"%s\", config.c's table has \"%s\" there",
		    i + 1, dk[i].name, k[i]);
}
END_TEST

START_TEST(conf_keys_live_or_restart)
{
	struct buf bad = { 0 };
	char line[512];

	load_doc_keys();
	buf_str(&bad, "");
	for (size_t i = 0; i < ndk; i++) {
		int live;

		if (!in_code(dk[i].name))
			continue;	/* reported by conf_keys_match_config */
		live = config_key_live(dk[i].name);
		if (dk[i].live == live && dk[i].restart == !live)
			continue;
		snprintf(line, sizeof line, " %.63s (code: %s; page:%s%s%s)", dk[i].name,
		    live ? "live" : "restart", dk[i].live ? " live" : "",
		    dk[i].restart ? " restart" : "",
		    !dk[i].live && !dk[i].restart ? " neither" : "");
		buf_str(&bad, line);
	}
	ck_assert_msg(bad.len == 0,
	    "jobqd.conf.5: \".Sy live\"/\".Sy restart\" disagrees with config_key_live():%s",
	    bad.p);
	free(bad.p);
}
END_TEST

/* --- jobqd(8): SYNOPSIS against -h ----------------------------------------- */

START_TEST(synopsis_is_usage)
{
	const char *bin = getenv("JOBQD_BIN");
	char *out, *page, *syn;
	const char *usage;
	int st;

	if (bin == NULL || *bin == '\0') {
		fprintf(stderr, "test_manpages: JOBQD_BIN is not set: cannot compare "
		    "the SYNOPSIS of jobqd.8 with \"jobqd -h\" (run via make check, "
		    "or set JOBQD_BIN=path/to/jobqd)\n");
		ck_abort_msg("JOBQD_BIN is not set: the SYNOPSIS of jobqd.8 was not "
		    "compared with \"jobqd -h\"");
	}
	{
		const char *argv[] = { bin, "-h", NULL };

		st = run_capture(argv, &out);
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "%s -h: want exit status 0, got %s %d", bin,
	    WIFEXITED(st) ? "exit" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	ck_assert_msg(strncmp(out, "usage: ", 7) == 0,
	    "%s -h: want a line starting \"usage: \", got \"%s\"", bin, out);
	usage = out + 7;
	squeeze((char *)usage);

	page = render("man/jobqd.8");
	syn = section(page, "SYNOPSIS");
	ck_assert_msg(syn != NULL, "jobqd.8 renders no SYNOPSIS section");
	squeeze(syn);
	ck_assert_msg(strcmp(syn, usage) == 0,
	    "SYNOPSIS of jobqd.8 is \"%s\"; jobqd -h says \"%s\"", syn, usage);
	free(syn);
	free(page);
	free(out);
}
END_TEST

/* --- jobqd(8): signals and HTTP ------------------------------------------- */

START_TEST(signals_documented)
{
	static const char *const required[] = { "SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1" };
	char path[4096], *code, *page, *sig;
	struct buf missing = { 0 };
	const char *p;
	size_t found = 0;

	page = render("man/jobqd.8");
	sig = section(page, "SIGNALS");
	ck_assert_msg(sig != NULL, "jobqd.8 renders no SIGNALS section");
	buf_str(&missing, "");
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (strstr(sig, required[i]) == NULL) {
			buf_str(&missing, " ");
			buf_str(&missing, required[i]);
		}
	/* And whatever the supervisor's signal switch handles. */
	src_path(path, sizeof path, "server/supervisor.c");
	code = slurp(path);
	for (p = code; (p = strstr(p, "case SIG")) != NULL; p += 5) {
		char name[32];
		size_t w = strcspn(p + 5, ":");

		if (w >= sizeof name || p[5 + w] != ':')
			continue;
		memcpy(name, p + 5, w);
		name[w] = '\0';
		found++;
		if (strstr(sig, name) == NULL && strstr(missing.p, name) == NULL) {
			buf_str(&missing, " ");
			buf_str(&missing, name);
		}
	}
	ck_assert_msg(found > 0, "no \"case SIG...:\" found in %s", path);
	ck_assert_msg(missing.len == 0,
	    "signals not named in the SIGNALS section of jobqd.8:%s", missing.p);
	free(missing.p);
	free(code);
	free(sig);
	free(page);
}
END_TEST

START_TEST(http_documented)
{
	static const char *const endpoints[] = {
		"/payload", "/jobs/", "/healthz", "/metrics", "/status",
	};
	static const char *const statuses[] = {
		"202", "400", "401", "403", "404", "405", "408", "411", "413", "414", "417",
		"431", "501", "503", "505", "Retry-After", "Location", "Allow",
		"WWW-Authenticate",
		"100-continue", "chunked",
	};
	struct buf missing = { 0 };
	char *page, *http;

	page = render("man/jobqd.8");
	http = section(page, "HTTP INTERFACE");
	ck_assert_msg(http != NULL, "jobqd.8 renders no HTTP INTERFACE section");
	buf_str(&missing, "");
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
		if (strstr(page, endpoints[i]) == NULL || strstr(http, endpoints[i]) == NULL) {
			buf_str(&missing, " ");
			buf_str(&missing, endpoints[i]);
		}
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (strstr(http, statuses[i]) == NULL) {
			buf_str(&missing, " ");
			buf_str(&missing, statuses[i]);
		}
	ck_assert_msg(missing.len == 0,
	    "not in the HTTP INTERFACE section of jobqd.8:%s", missing.p);
	free(missing.p);
	free(http);
	free(page);
}
END_TEST

/* --- self-checks of the helpers ------------------------------------------- */

START_TEST(helpers)
{
	char s[] = "S\bSY\bYN _\bf_\bi_\bl_\be  x\n";
	char t[] = "  a \t b\n\n c  ";
	const char *text = "NAME\n     x\n\nSYNOPSIS\n     a [-b]\n     c\n\nDESCRIPTION\n  d\n";
	char *sec;

	strip_overstrike(s);
	ck_assert_str_eq(s, "SYN file  x\n");
	squeeze(t);
	ck_assert_str_eq(t, "a b c");
	sec = section(text, "SYNOPSIS");
	ck_assert_ptr_nonnull(sec);
	squeeze(sec);
	ck_assert_str_eq(sec, "a [-b] c");
	free(sec);
	ck_assert_ptr_null(section(text, "FILES"));
}
END_TEST

static Suite *manpages_suite(void)
{
	Suite *s = suite_create("manpages");
	TCase *tc;

	tc = tcase_create("helpers");
	tcase_add_test(tc, helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobqd.conf.5");
	tcase_add_test(tc, conf_keys_match_config);
	tcase_add_test(tc, conf_keys_in_table_order);
	tcase_add_test(tc, conf_keys_live_or_restart);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobqd.8");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, synopsis_is_usage);
	tcase_add_test(tc, signals_documented);
	tcase_add_test(tc, http_documented);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(manpages_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
