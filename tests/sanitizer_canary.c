/* sanitizer_canary: a program with one known leak, or with `ub` one signed
 * overflow, whose reports tests/sanitizer_reports.py expects to find where
 * the tests' reports go; it proves the scan at the end of a sanitizer run
 * looks in the right place. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile kept; /* cleared before exit: the block leaks */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ub") == 0) {
        volatile int big = INT_MAX;
        int sum = big + argc; /* signed overflow */
        printf("%d\n", sum);
        return 0;
    }
    kept = malloc(42);
    kept = NULL;
    return 0;
}
