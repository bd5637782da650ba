/* main — placeholder until the master lands. */
#include <stdio.h>

int main(void)
{
	fputs("jobqd: not yet\n", stderr);
	return 1;
}
