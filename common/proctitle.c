/*
 * proctitle — rewrite argv in place for ps (see proctitle.h).
 *
 * argv strings and the environment strings are contiguous at the top of
 * the stack; once environ is copied to the heap, that whole area can hold
 * the title.  Without init (unit tests) only the short name is set.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/proctitle.h"

extern char **environ;

static char *area;
static size_t area_len;

void proctitle_init(int argc, char **argv)
{
	char *end;
	size_t n = 0;
	char **env;

	if (argc < 1 || argv[0] == NULL)
		return;
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		if (environ[n] == end)
			end = environ[n] + strlen(environ[n]) + 1;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if ((env[i] = strdup(environ[i])) == NULL)
			return;	/* keep the old environ; no title rewrite */
	environ = env;
	area = argv[0];
	area_len = (size_t)(end - argv[0]);
	for (int i = 1; i < argc; i++)
		argv[i] = NULL;
}

void proctitle_set(const char *fmt, ...)
{
	char title[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(title, sizeof(title), fmt, ap);
	va_end(ap);
	if (area != NULL && area_len > 1) {
		memset(area, 0, area_len);
		snprintf(area, area_len, "%s", title);
	}
	/* comm holds 15 bytes: drop the "jobqd: " prefix there. */
	prctl(PR_SET_NAME, strncmp(title, "jobqd: ", 7) == 0 ? title + 7 : title, 0, 0, 0);
}
