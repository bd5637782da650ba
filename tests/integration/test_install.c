/*
 * test_install — "make install" and what it installs, from the real
 * Makefile ($JOBQD_SRC) into temp directories.
 *
 * layout    DESTDIR + PREFIX=/usr: every file with its mode, the install's
 *           paths in the unit, the init script and the man pages (no
 *           /usr/local), the installed jobqd.conf passes jobqd -t; a second
 *           install keeps an edited jobqd.conf; uninstall leaves only it.
 * security  systemd-analyze security --offline=yes rates the unit <= 3.0.
 * verify    systemd-analyze verify accepts the unit installed with a
 *           PREFIX whose binary exists.
 * sysusers  systemd-sysusers --root creates the user jobqd from the file.
 * init      the LSB init script: sh -n, its header, and its status and
 *           usage exit codes.
 *
 * The systemd-analyze tests pass with a message on stderr when
 * systemd-analyze is missing (make check installs it when it can).
 */
#include <check.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[64];
static char out[256];	/* the output file of the last sh() */

static const char *src(void)
{
	const char *s = getenv("JOBQD_SRC");

	ck_assert_msg(s != NULL, "JOBQD_SRC is not set");
	return s;
}

/* Run cmd with sh, output (stdout and stderr) to out; the exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096], full[4400];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(out, sizeof(out), "%s/out", tmp);
	snprintf(full, sizeof(full), "( %s ) >'%s' 2>&1", cmd, out);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The whole file at path (static buffer; "" when missing). */
static const char *slurp(const char *path)
{
	static char buf[131072];
	FILE *fp = fopen(path, "r");
	size_t n = fp != NULL ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

	if (fp != NULL)
		fclose(fp);
	buf[n] = '\0';
	return buf;
}

/* make ARGS in the source tree, as a fresh make (not the jobserver of a
 * "make check" above us), with the build of the binary under test. */
static int make(const char *args)
{
	const char *bin = getenv("JOBQD_BIN");
	int san = bin != NULL && strstr(bin, "/build/san/") != NULL;

	return sh("env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C '%s' SANITIZE=%d %s",
	    src(), san, args);
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/jobqd-install-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (strncmp(tmp, "/tmp/jobqd-install-", 19) == 0 && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
}

/* Assert that root/rel is a regular file with this mode. */
static void want_file(const char *root, const char *rel, mode_t mode)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	ck_assert_msg(stat(path, &st) == 0 && S_ISREG(st.st_mode), "%s is not installed", path);
	ck_assert_msg((st.st_mode & 07777) == mode, "%s has mode %o, want %o", path,
	    (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

/* Assert that the file root/rel contains (or not) s. */
static void want_text(const char *root, const char *rel, const char *s, int present)
{
	char path[512];

	snprintf(path, sizeof(path), "%s%s", root, rel);
	ck_assert_msg((strstr(slurp(path), s) != NULL) == present, "%s %s \"%s\"",
	    path, present ? "lacks" : "contains", s);
}

static int nfiles;
static int count(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_F) {
		nfiles++;
		if (strstr(path, "/etc/jobqd.conf") == NULL)
			fprintf(stderr, "left after uninstall: %s\n", path);
	}
	return 0;
}

START_TEST(test_layout)
{
	char root[128], args[512], page[256], conf[512];
	struct passwd *pw = getpwuid(getuid());
	struct group *gr = getgrgid(getgid());
	glob_t g;

	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(args, sizeof(args), "install DESTDIR='%s' PREFIX=/usr", root);
	ck_assert_msg(make(args) == 0, "make %s: %s", args, slurp(out));

	want_file(root, "/usr/sbin/jobqd", 0755);
	want_file(root, "/etc/jobqd.conf", 0644);
	want_file(root, "/etc/init.d/jobqd", 0755);
	want_file(root, "/etc/logrotate.d/jobqd", 0644);
	want_file(root, "/usr/lib/systemd/system/jobqd.service", 0644);
	want_file(root, "/usr/lib/sysusers.d/jobqd.conf", 0644);
	want_file(root, "/usr/share/doc/jobqd/README.md", 0644);
	want_file(root, "/usr/share/doc/jobqd/LICENSE", 0644);
	want_file(root, "/usr/share/doc/jobqd/jobqd.conf.sample", 0644);

	/* Every page, with the install's paths. */
	snprintf(page, sizeof(page), "%s/man/*.[0-9]", src());
	ck_assert_int_eq(glob(page, 0, NULL, &g), 0);
	ck_assert_uint_ge(g.gl_pathc, 3);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *name = strrchr(g.gl_pathv[i], '/') + 1;

		snprintf(page, sizeof(page), "/usr/share/man/man%c/%s",
		    name[strlen(name) - 1], name);
		want_file(root, page, 0644);
		want_text(root, page, "/usr/local", 0);
	}
	globfree(&g);
	want_text(root, "/usr/share/man/man8/jobqd.8", "/usr/sbin/jobqd -c /etc/jobqd.conf", 1);
	want_text(root, "/usr/share/man/man8/jobqd.8", "/usr/lib/sysusers.d/jobqd.conf", 1);

	/* The unit, the init script, sysusers. */
	want_text(root, "/usr/lib/systemd/system/jobqd.service",
	    "\nExecStart=/usr/sbin/jobqd -c /etc/jobqd.conf\n", 1);
	want_text(root, "/usr/lib/systemd/system/jobqd.service", "\nUser=jobqd\n", 1);
	want_text(root, "/usr/lib/systemd/system/jobqd.service", "\nRestartPreventExitStatus=78\n", 1);
	/* RestartPreventExitStatus= does not cover ExecStartPre=. */
	want_text(root, "/usr/lib/systemd/system/jobqd.service", "\nExecStartPre=", 0);
	want_text(root, "/usr/lib/systemd/system/jobqd.service", "\nDynamicUser=", 0);
	want_text(root, "/usr/lib/systemd/system/jobqd.service", "\nRemoveIPC=", 0);
	want_text(root, "/usr/lib/systemd/system/jobqd.service", "/usr/local", 0);
	want_text(root, "/etc/init.d/jobqd", "\nDAEMON=/usr/sbin/jobqd\n", 1);
	want_text(root, "/usr/lib/sysusers.d/jobqd.conf", "\nu jobqd ", 1);
	want_text(root, "/etc/logrotate.d/jobqd", "USR1", 1);

	/* The installed configuration: safe settings, and valid (with this
	 * machine's user for jobqd, which the test does not create). */
	want_text(root, "/etc/jobqd.conf", "\nlisten = 127.0.0.1:8099\n", 1);
	want_text(root, "/etc/jobqd.conf", "\nuser = jobqd\n", 1);
	want_text(root, "/etc/jobqd.conf", "\nhandler = spool /var/lib/jobqd/spool\n", 1);
	ck_assert_ptr_nonnull(pw);
	ck_assert_ptr_nonnull(gr);
	snprintf(conf, sizeof(conf), "%s/jobqd.conf", tmp);
	ck_assert_int_eq(sh("sed -e 's/^user = jobqd$/user = %s/' -e 's/^group = jobqd$/group = %s/' "
	    "'%s/etc/jobqd.conf' > '%s'", pw->pw_name, gr->gr_name, root, conf), 0);
	ck_assert_msg(sh("'%s' -t -c '%s'", getenv("JOBQD_BIN"), conf) == 0,
	    "jobqd -t: %s", slurp(out));

	/* A second install keeps the operator's file. */
	ck_assert_int_eq(sh("echo 'workers = 7' >> '%s/etc/jobqd.conf'", root), 0);
	ck_assert_msg(make(args) == 0, "make %s: %s", args, slurp(out));
	want_text(root, "/etc/jobqd.conf", "\nworkers = 7\n", 1);

	/* Uninstall: only the operator's file is left. */
	snprintf(args, sizeof(args), "uninstall DESTDIR='%s' PREFIX=/usr", root);
	ck_assert_msg(make(args) == 0, "make %s: %s", args, slurp(out));
	want_text(root, "/etc/jobqd.conf", "\nworkers = 7\n", 1);
	nfiles = 0;
	ck_assert_int_eq(nftw(root, count, 16, FTW_PHYS), 0);
	ck_assert_int_eq(nfiles, 1);
}
END_TEST

/* 1 if systemd-analyze runs here; else say why the test is skipped. */
static int have_analyze(const char *test)
{
	if (sh("systemd-analyze --version") == 0)
		return 1;
	fprintf(stderr, "%s: SKIPPED: systemd-analyze is missing (Debian: apt-get install "
	    "systemd; make check does it as root)\n", test);
	return 0;
}

START_TEST(test_security)
{
	char unit[512];
	const char *o, *p;
	double score;

	if (!have_analyze("test_security"))
		return;
	snprintf(unit, sizeof(unit), "%s/server/jobqd.service", src());
	ck_assert_msg(sh("systemd-analyze security --offline=yes '%s'", unit) == 0,
	    "systemd-analyze security: %s", slurp(out));
	o = slurp(out);
	p = strstr(o, "Overall exposure level for jobqd.service: ");
	ck_assert_msg(p != NULL, "no overall exposure in: %s", o);
	ck_assert_int_eq(sscanf(p + strlen("Overall exposure level for jobqd.service: "),
	    "%lf", &score), 1);
	ck_assert_msg(score <= 3.0, "exposure %.1f > 3.0:\n%s", score, o);
}
END_TEST

START_TEST(test_verify)
{
	char args[512];

	if (!have_analyze("test_verify"))
		return;
	snprintf(args, sizeof(args), "install PREFIX='%s/p' SYSCONFDIR='%s/etc' ADDUSER=no",
	    tmp, tmp);
	ck_assert_msg(make(args) == 0, "make %s: %s", args, slurp(out));
	int st = sh("systemd-analyze verify --man=no '%s/p/lib/systemd/system/jobqd.service'", tmp);

	ck_assert_msg(st == 0 && slurp(out)[0] == '\0', "systemd-analyze verify: %s", slurp(out));
}
END_TEST

/* The sysusers.d file creates the user and group jobqd (in a temp root). */
START_TEST(test_sysusers)
{
	char path[256];

	if (sh("command -v systemd-sysusers") != 0) {
		fprintf(stderr, "test_sysusers: SKIPPED: systemd-sysusers is missing\n");
		return;
	}
	ck_assert_int_eq(sh("mkdir -p '%s/sys/etc'", tmp), 0);
	ck_assert_msg(sh("systemd-sysusers --root='%s/sys' '%s/server/jobqd.sysusers'", tmp, src()) == 0,
	    "systemd-sysusers: %s", slurp(out));
	snprintf(path, sizeof(path), "%s/sys/etc/passwd", tmp);
	ck_assert_ptr_nonnull(strstr(slurp(path), "jobqd:x:"));
	ck_assert_ptr_nonnull(strstr(slurp(path), ":/var/lib/jobqd:/usr/sbin/nologin"));
	snprintf(path, sizeof(path), "%s/sys/etc/group", tmp);
	ck_assert_ptr_nonnull(strstr(slurp(path), "jobqd:x:"));
}
END_TEST

START_TEST(test_init_script)
{
	char args[512], script[256];
	static const char *const want[] = { "### BEGIN INIT INFO", "### END INIT INFO",
	    "# Provides:          jobqd", "start-stop-daemon", "\nstart)", "\nstop)",
	    "\nrestart)", "\nreload|force-reload)", "\nstatus)", " -d -c ", "-p \"$PIDFILE\"" };

	snprintf(args, sizeof(args), "install PREFIX='%s/p' SYSCONFDIR='%s/etc' ADDUSER=no",
	    tmp, tmp);
	ck_assert_msg(make(args) == 0, "make %s: %s", args, slurp(out));
	snprintf(script, sizeof(script), "%s/etc/init.d/jobqd", tmp);
	ck_assert_msg(sh("sh -n '%s'", script) == 0, "sh -n: %s", slurp(out));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		want_text(script, "", want[i], 1);
	/* LSB exit codes: 3 for an unknown action and for "not running". */
	ck_assert_int_eq(sh("'%s' frobnicate", script), 3);
	if (sh("command -v start-stop-daemon") != 0) {
		fprintf(stderr, "test_init_script: status SKIPPED: no start-stop-daemon\n");
		return;
	}
	if (access("/run/jobqd/jobqd.pid", F_OK) == 0) {
		fprintf(stderr, "test_init_script: status SKIPPED: a jobqd runs here\n");
		return;
	}
	ck_assert_int_eq(sh("'%s' status", script), 3);
	ck_assert_ptr_nonnull(strstr(slurp(out), "jobqd is not running"));
}
END_TEST

static Suite *
install_suite(void)
{
	Suite *s = suite_create("install");
	TCase *tc = tcase_create("install");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_security);
	tcase_add_test(tc, test_verify);
	tcase_add_test(tc, test_sysusers);
	tcase_add_test(tc, test_init_script);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(install_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
