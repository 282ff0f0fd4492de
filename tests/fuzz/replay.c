/* The replay side shared by the fuzz targets; see replay.h. */
#include "replay.h"

#include "buf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

void replay_seed(uint64_t state) { rng = state; }

uint64_t replay_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

void replay_bytes(const uint8_t *p, size_t len)
{
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact)
        abort();
    if (len)
        memcpy(exact, p, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
}

void replay_mutations(const uint8_t *seed, size_t n, long rounds, size_t keep_prefix)
{
    if (n <= keep_prefix)
        return;
    uint8_t *tmp = malloc(n);
    if (!tmp)
        abort();
    for (long i = 0; i < rounds; i++) {
        size_t len = n;
        memcpy(tmp, seed, n);
        int edits = 1 + (int)(replay_rand() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = keep_prefix + replay_rand() % (len - keep_prefix);
            switch (replay_rand() % 4) {
            case 0: tmp[at] = (uint8_t)replay_rand(); break;
            case 1: tmp[at] ^= (uint8_t)(1u << (replay_rand() % 8)); break;
            case 2: len = at + 1; break; /* truncate */
            case 3: tmp[at] = (replay_rand() & 1) ? 0xff : 0x80; break;
            }
        }
        replay_bytes(tmp, len);
    }
    free(tmp);
}

/* Up to 1 MiB of a file; 1 when it could be opened. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static uint8_t in[1 << 20];
    size_t len = fread(in, 1, sizeof in, f);
    fclose(f);
    replay_bytes(in, len);
    return 1;
}

int replay_path(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return run_file(path);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        k += replay_path(p);
    }
    closedir(d);
    return k;
}

int replay_args(int argc, char **argv)
{
    int k = 0;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--", 2) != 0)
            k += replay_path(argv[i]);
    return k;
}

long replay_rounds(int argc, char **argv, long def)
{
    long rounds = def;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--rounds=", 9) == 0)
            rounds = atol(argv[i] + 9);
    return rounds;
}

int replay_write_seeds(int argc, char **argv, int n, void (*make)(struct buf *b, int v))
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--seeds=", 8) != 0)
            continue;
        for (int v = 0; v < n; v++) {
            struct buf s = BUF_INIT;
            make(&s, v);
            char path[4096];
            snprintf(path, sizeof path, "%s/seed_%d", argv[i] + 8, v);
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(buf_rptr(&s), 1, buf_len(&s), f);
                fclose(f);
            }
            buf_free(&s);
        }
        return 1;
    }
    return 0;
}
