/* nn_dispatch.c: method name -> handler, by binary search in a table sorted once. */
#include <stdlib.h>
#include <string.h>

#include "nn_ops.h"

struct nn_method {
    const char *name;
    nn_handler_fn fn;
};

#define NN_ROW(name) { #name, nn_op_##name },
static struct nn_method methods[] = { NN_OPS(NN_ROW) };
#undef NN_ROW
static const size_t nmethods = sizeof methods / sizeof methods[0];
static int sorted;

static int cmp_method(const void *a, const void *b)
{
    return strcmp(((const struct nn_method *)a)->name, ((const struct nn_method *)b)->name);
}

nn_handler_fn nn_find_handler(const char *method)
{
    if (!sorted) {
        qsort(methods, nmethods, sizeof methods[0], cmp_method);
        sorted = 1;
    }
    struct nn_method key = { method, NULL };
    const struct nn_method *m = bsearch(&key, methods, nmethods, sizeof methods[0], cmp_method);
    return m ? m->fn : NULL;
}

bool nn_standby_serves(const char *method)
{
    return strcmp(method, "refreshNodes") == 0 || strcmp(method, "setSafeMode") == 0;
}
