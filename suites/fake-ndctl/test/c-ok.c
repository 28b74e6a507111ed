// A compiled test run from the build directory, like ndctl's dax-dev.
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	const char *p = getenv("TEST_PATH");
	printf("c-ok: running from %s\n", p ? p : "(unset)");
	return p ? 0 : 1;
}
