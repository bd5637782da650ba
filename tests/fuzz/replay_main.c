/*
 * replay_main — run LLVMFuzzerTestOneInput over saved inputs without
 * libFuzzer, so that a plain (gcc) build replays the corpus in
 * `make check`.
 *
 *   replay_http_parser DIR|FILE...
 *
 * Every regular file named (or found directly in a named directory) is
 * read into a buffer of its exact size and passed to the fuzz target; a
 * failed check aborts.  Prints how many inputs ran; exits 1 if an
 * argument cannot be read or nothing ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run the target on one file; return 1 if it ran, 0 if skipped, -1 on error. */
static int
replay_file(const char *path)
{
	struct stat st;
	FILE *f;
	uint8_t *buf;
	size_t n;

	if (stat(path, &st) == -1) {
		perror(path);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		fclose(f);
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || n != (size_t)st.st_size) {
		fprintf(stderr, "%s: short read\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 1;
}

/* Run the target on every regular file directly in dir; -1 on error. */
static long
replay_dir(const char *dir)
{
	DIR *d;
	struct dirent *de;
	long ran = 0;
	char path[4096];

	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		int rc;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path)) {
			fprintf(stderr, "%s/%s: path too long\n", dir, de->d_name);
			closedir(d);
			return -1;
		}
		if ((rc = replay_file(path)) < 0) {
			closedir(d);
			return -1;
		}
		ran += rc;
	}
	closedir(d);
	return ran;
}

/* Replay every argument. */
int
main(int argc, char **argv)
{
	long ran = 0, n;
	struct stat st;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			perror(argv[i]);
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) :
		    replay_file(argv[i]);
		if (n < 0)
			return 1;
		ran += n;
	}
	printf("replay_http_parser: %ld inputs ran\n", ran);
	return ran > 0 ? 0 : 1;
}
