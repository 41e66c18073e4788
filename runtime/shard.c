/*
 * shard.c - the share of a batch one run takes: `--shard I/N` and `--shard
 * slurm` (see shard.h for the hash and why it is machine-independent).
 *
 * Only the arithmetic and the parsing live here; runtime/plan.c applies the
 * shard to the items it found, for every workflow alike.
 */
#include "runtime/shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/util.h"

#define FNV64_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

uint64_t shard_hash(const char *s)
{
    uint64_t h = FNV64_BASIS;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV64_PRIME;
    }
    return h;
}

uint32_t shard_of(const char *id, uint32_t count)
{
    return count <= 1 ? 0 : (uint32_t)(shard_hash(id) % count);
}

int shard_has(const struct shard *s, const char *id)
{
    return s->count <= 1 || shard_of(id, s->count) == s->index;
}

/* A whole decimal number 0..max, nothing else (no sign, no blanks). 0 or -EINVAL. */
static int shard_number(const char *s, size_t len, long max, long *out)
{
    if (len == 0 || len > 9)
        return -EINVAL;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "I/N" into s. 0 or -EINVAL (err). */
static int shard_parse_pair(const char *arg, struct shard *s, char *err, size_t errlen)
{
    const char *slash = strchr(arg, '/');
    long i, n;
    if (!slash || shard_number(arg, (size_t)(slash - arg), SHARD_MAX, &i) < 0 ||
        shard_number(slash + 1, strlen(slash + 1), SHARD_MAX, &n) < 0) {
        util_errf(err, errlen,
                  "--shard %.40s: give I/N (whole numbers, 0 <= I < N <= %d) or \"slurm\"", arg,
                  SHARD_MAX);
        return -EINVAL;
    }
    if (n < 1) {
        util_errf(err, errlen, "--shard %.40s: N must be at least 1", arg);
        return -EINVAL;
    }
    if (i >= n) {
        util_errf(err, errlen, "--shard %.40s: I must be below N (shards are 0 to %ld)", arg,
                  n - 1);
        return -EINVAL;
    }
    memset(s, 0, sizeof(*s));
    s->index = (uint32_t)i;
    s->count = (uint32_t)n;
    util_errf(s->origin, sizeof(s->origin), "--shard %ld/%ld", i, n);
    return 0;
}

int shard_check_arg(const char *arg, char *err, size_t errlen)
{
    struct shard s;
    if (!strcmp(arg, "slurm"))
        return 0;
    return shard_parse_pair(arg, &s, err, errlen);
}

/* One SLURM_ARRAY_TASK_* variable as a number; dflt when unset and dflt >= 0. */
static int slurm_var(const char *(*getenv_fn)(const char *), const char *name, long dflt, long *out,
                     char *err, size_t errlen)
{
    const char *v = getenv_fn(name);
    if (!v || !*v) {
        if (dflt >= 0) {
            *out = dflt;
            return 0;
        }
        util_errf(err, errlen, "--shard slurm: %s is not set (not inside a Slurm job array?)",
                  name);
        return -EINVAL;
    }
    if (shard_number(v, strlen(v), 100000000, out) < 0) {
        util_errf(err, errlen, "--shard slurm: %s=\"%.20s\" is not a whole number", name, v);
        return -EINVAL;
    }
    return 0;
}

static int shard_from_slurm(const char *(*getenv_fn)(const char *), struct shard *s, char *err,
                            size_t errlen)
{
    long id, min, step, count, max = -1;
    int r = slurm_var(getenv_fn, "SLURM_ARRAY_TASK_ID", -1, &id, err, errlen);
    if (!r)
        r = slurm_var(getenv_fn, "SLURM_ARRAY_TASK_MIN", 0, &min, err, errlen);
    if (!r)
        r = slurm_var(getenv_fn, "SLURM_ARRAY_TASK_STEP", 1, &step, err, errlen);
    if (!r)
        r = slurm_var(getenv_fn, "SLURM_ARRAY_TASK_COUNT", 0, &count, err, errlen);
    if (!r && count == 0) {
        r = slurm_var(getenv_fn, "SLURM_ARRAY_TASK_MAX", -1, &max, err, errlen);
        if (r == 0 && max < min) {
            util_errf(err, errlen, "--shard slurm: SLURM_ARRAY_TASK_MAX %ld is below _MIN %ld", max,
                      min);
            r = -EINVAL;
        }
    }
    if (r)
        return r;
    if (step < 1)
        step = 1;
    if (count == 0)
        count = (max - min) / step + 1;
    if (id < min || (id - min) % step != 0 || (id - min) / step >= count || count > SHARD_MAX) {
        util_errf(err, errlen,
                  "--shard slurm: SLURM_ARRAY_TASK_ID %ld is not one of %ld tasks from %ld by %ld "
                  "(an array with gaps?); give --shard I/N",
                  id, count, min, step);
        return -EINVAL;
    }
    memset(s, 0, sizeof(*s));
    s->index = (uint32_t)((id - min) / step);
    s->count = (uint32_t)count;
    s->from_slurm = 1;
    util_errf(s->origin, sizeof(s->origin), "SLURM_ARRAY_TASK_ID %ld, %ld tasks from %ld", id,
              count, min);
    return 0;
}

int shard_resolve(const char *arg, const char *(*getenv_fn)(const char *name), struct shard *s,
                  char *err, size_t errlen)
{
    if (!strcmp(arg, "slurm"))
        return shard_from_slurm(getenv_fn, s, err, errlen);
    return shard_parse_pair(arg, s, err, errlen);
}
