/*
 * shard.h - which share of a batch this run takes (SPEC 13, `--shard I/N`,
 * `--shard slurm`).
 *
 * An item belongs to shard fnv1a64(ID) mod N, where ID is the item's ID as
 * the console shows it ("LLD-42") and fnv1a64 is the 64-bit FNV-1a hash of
 * its bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3). The hash
 * reads bytes one at a time, so it is the same on every machine, compiler and
 * byte order: N runs on N hosts, each given one I, take disjoint shares that
 * together cover the batch, without talking to each other. An item keeps its
 * shard as long as its ID and N stay the same (a re-run of a shard finds the
 * same items).
 *
 * Everything here is pure: the environment is passed in as a lookup function,
 * so the parsing is unit-tested without touching the process's environment.
 */
#ifndef AGENTOS_RUNTIME_SHARD_H
#define AGENTOS_RUNTIME_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 1000000 /* most shards of one batch */

struct shard {
    uint32_t index;  /* I: 0 <= index < count */
    uint32_t count;  /* N: 1 = the whole batch */
    int from_slurm;  /* resolved from SLURM_ARRAY_TASK_* */
    char origin[96]; /* how it was decided, for the console: "SLURM_ARRAY_TASK_ID 7 of 0-9" */
};

/* The 64-bit FNV-1a hash of s (see above). */
uint64_t shard_hash(const char *s);

/* The shard of item id among count shards (count >= 1). */
uint32_t shard_of(const char *id, uint32_t count);

/* 1 if item id belongs to shard s. */
int shard_has(const struct shard *s, const char *id);

/*
 * Check the form of a --shard value: "I/N" with whole numbers 0 <= I < N <=
 * SHARD_MAX, or "slurm". 0, or -EINVAL with a one-line err naming the value
 * ("--shard 4/4: I must be below N").
 */
int shard_check_arg(const char *arg, char *err, size_t errlen);

/*
 * Resolve a --shard value into s. "I/N" as above; "slurm" from the job
 * array's variables, read through getenv_fn: SLURM_ARRAY_TASK_ID (required),
 * SLURM_ARRAY_TASK_MIN (default 0), SLURM_ARRAY_TASK_STEP (default 1) and
 * SLURM_ARRAY_TASK_COUNT (else (MAX - MIN) / STEP + 1 from
 * SLURM_ARRAY_TASK_MAX): I = (ID - MIN) / STEP, N = COUNT, so `--array=1-10`
 * and `--array=0-18:2` work as well as `--array=0-9`. An array with gaps
 * (`--array=1,4,9`) gives an I past N and is refused: give `--shard I/N`.
 * 0, or -EINVAL with a one-line err naming the missing or bad variable.
 */
int shard_resolve(const char *arg, const char *(*getenv_fn)(const char *name), struct shard *s,
                  char *err, size_t errlen);

#endif
