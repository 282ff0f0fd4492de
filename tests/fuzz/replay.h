/*
 * The replay side shared by the fuzz targets: when built without libFuzzer
 * (FR_LIBFUZZER unset), each target's main() runs pseudo-random mutations
 * of its seeds and the corpus files given on the command line through its
 * LLVMFuzzerTestOneInput, so the normal suite exercises the same paths on
 * every compiler. Each target keeps its seeds, its options beyond these and
 * its final line; this file holds what they all did the same way.
 */
#ifndef FR_FUZZ_REPLAY_H
#define FR_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* The target under test, defined by each fuzz target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The xorshift generator behind the mutations. A target sets its own
 * starting state so that its sequence stays what it was. */
void replay_seed(uint64_t state);
uint64_t replay_rand(void);

/* Runs p[0..len) from an allocation of exactly len bytes, so that the
 * sanitizers see any read past the input. */
void replay_bytes(const uint8_t *p, size_t len);

/* rounds runs of seed[0..n) with 1-4 random edits each: a random byte, a
 * flipped bit, a truncation, or 0xff/0x80. The first keep_prefix bytes (a
 * selector, say) are never edited nor cut; n must exceed keep_prefix. */
void replay_mutations(const uint8_t *seed, size_t n, long rounds, size_t keep_prefix);

/* Runs a file, or every file under a directory (recursively, skipping
 * names starting with a dot). Returns how many files ran. */
int replay_path(const char *path);

/* replay_path over every argument that is not an option ("--..."). */
int replay_args(int argc, char **argv);

struct buf;
/* With a --seeds=DIR argument: writes make(v) for v in [0, n) to
 * DIR/seed_<v> and returns 1 (the target then exits); else 0. */
int replay_write_seeds(int argc, char **argv, int n, void (*make)(struct buf *b, int v));

/* The value of the last --rounds=N argument, or def. */
long replay_rounds(int argc, char **argv, long def);

#endif
