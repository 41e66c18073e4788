/*
 * args.c - parsing agentos-run's command line (see args.h).
 *
 * Hand-rolled rather than getopt_long because of `--parallel [N]`: the value
 * is optional, and a following operand is taken as N unless it is another
 * option, so `--parallel abc` is a usage error (SPEC 3) instead of an item ID.
 */
#include "runtime/args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include "llm/budget_redis.h"
#include "runtime/shard.h"
#include "shm/util.h"

/* util_errf, returning -EINVAL: every parse error is a usage error. */
#define set_err(err, errlen, ...) (util_errf((err), (errlen), __VA_ARGS__), -EINVAL)

/* Parse a whole decimal long in [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

const char *args_workflow_from_argv0(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    if (strcmp(base, "lld-workflow") == 0)
        return "lld";
    if (strcmp(base, "issue-workflow") == 0)
        return "issue";
    return NULL;
}

static int parse_parallel(int argc, char **argv, int *i, const char *inline_val, struct run_opts *o,
                          char *err, size_t errlen)
{
    const char *val = inline_val;
    if (!val && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        val = argv[++*i];
    if (!val) {
        o->parallel = ARGS_PARALLEL_BARE;
        return 0;
    }
    long n;
    if (!strcmp(val, "auto")) {
        /* the width comes from the machine and the pool (plan.c); this is its ceiling */
        o->parallel = ARGS_PARALLEL_MAX;
        o->parallel_auto = 1;
        o->adaptive = 1;
        return 0;
    }
    if (parse_long(val, LONG_MIN, LONG_MAX, &n) != 0 || n < 1)
        return set_err(err, errlen,
                       "--parallel: \"%s\" is not a positive number of items (or auto)", val);
    o->parallel_auto = 0;
    if (n > ARGS_PARALLEL_MAX) {
        o->parallel = ARGS_PARALLEL_MAX;
        o->parallel_capped = 1;
    } else {
        o->parallel = (int)n;
    }
    return 0;
}

/* Options that take a value: name, and where the value goes. */
static int take_value(int argc, char **argv, int *i, const char *inline_val, const char **out,
                      char *err, size_t errlen)
{
    if (inline_val) {
        *out = inline_val;
        return 0;
    }
    if (*i + 1 >= argc)
        return set_err(err, errlen, "%s needs a value", argv[*i]);
    *out = argv[++*i];
    return 0;
}

static int take_long(int argc, char **argv, int *i, const char *inline_val, long lo, long hi,
                     long *out, char *err, size_t errlen)
{
    const char *name = argv[*i];
    const char *v = NULL;
    int rc = take_value(argc, argv, i, inline_val, &v, err, errlen);
    if (rc)
        return rc;
    if (parse_long(v, lo, hi, out) != 0) {
        snprintf(err, errlen, "%.*s: \"%s\" is not a whole number from %ld to %ld",
                 (int)strcspn(name, "="), name, v, lo, hi);
        return -EINVAL;
    }
    return 0;
}

static int parse_option(int argc, char **argv, int *i, struct run_opts *o, char *err, size_t errlen)
{
    char name[64];
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    if (nlen >= sizeof(name))
        return set_err(err, errlen, "unknown option \"%s\"", arg);
    memcpy(name, arg, nlen);
    name[nlen] = '\0';
    const char *iv = eq ? eq + 1 : NULL;
    long v = 0;
    int rc = 0;

    if (!strcmp(name, "--all"))
        o->all = 1;
    else if (!strcmp(name, "--parallel")) {
        rc = parse_parallel(argc, argv, i, iv, o, err, errlen);
        o->parallel_given = 1;
    } else if (!strcmp(name, "--dry-run"))
        o->dry_run = 1;
    else if (!strcmp(name, "--items"))
        rc = take_value(argc, argv, i, iv, &o->items_dir, err, errlen);
    else if (!strcmp(name, "--out"))
        rc = take_value(argc, argv, i, iv, &o->out_dir, err, errlen);
    else if (!strcmp(name, "--home"))
        rc = take_value(argc, argv, i, iv, &o->home, err, errlen);
    else if (!strcmp(name, "--credentials"))
        rc = take_value(argc, argv, i, iv, &o->credentials, err, errlen);
    else if (!strcmp(name, "--config"))
        rc = take_value(argc, argv, i, iv, &o->config, err, errlen);
    else if (!strcmp(name, "--adaptive"))
        o->adaptive = 1;
    else if (!strcmp(name, "--max-reviews")) {
        if (!(rc = take_long(argc, argv, i, iv, 1, 100, &v, err, errlen)))
            o->max_reviews = (int)v;
    } else if (!strcmp(name, "--timeout-per-step")) {
        rc = take_long(argc, argv, i, iv, 1, 86400, &o->timeout_per_step, err, errlen);
        o->timeout_given = 1;
    } else if (!strcmp(name, "--pause-timeout"))
        rc = take_long(argc, argv, i, iv, 0, 30L * 86400, &o->pause_timeout, err, errlen);
    else if (!strcmp(name, "--fresh"))
        o->fresh = 1;
    else if (!strcmp(name, "--no-progress"))
        o->no_progress = 1;
    else if (!strcmp(name, "--quiet"))
        o->quiet = 1;
    else if (!strcmp(name, "--fail-fast"))
        o->fail_fast = 1;
    else if (!strcmp(name, "--dot"))
        o->dot = 1;
    else if (!strcmp(name, "--shard")) {
        if (!(rc = take_value(argc, argv, i, iv, &o->shard, err, errlen)))
            rc = shard_check_arg(o->shard, err, errlen);
    } else if (!strcmp(name, "--budget")) {
        struct budget_url u;
        if (!(rc = take_value(argc, argv, i, iv, &o->budget, err, errlen)))
            rc = budget_redis_parse_url(o->budget, &u, err, errlen) < 0 ? -EINVAL : 0;
    } else if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        o->help = 1;
    else if (!strcmp(name, "--version"))
        o->version = 1;
    else
        return set_err(err, errlen, "unknown option \"%s\" (see --help)", arg);
    if (rc == 0 && iv &&
        (!strcmp(name, "--all") || !strcmp(name, "--dry-run") || !strcmp(name, "--fresh") ||
         !strcmp(name, "--quiet") || !strcmp(name, "--no-progress") || !strcmp(name, "--adaptive")))
        return set_err(err, errlen, "%s takes no value", name);
    return rc;
}

static void defaults(struct run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->parallel = 1;
    o->max_reviews = 3;
    o->timeout_per_step = 300;
    o->pause_timeout = -1;
}

int args_parse(int argc, char **argv, const char *prog_workflow, struct run_opts *o, char *err,
               size_t errlen, char *warn, size_t warnlen)
{
    defaults(o);
    if (warnlen)
        warn[0] = '\0';
    o->workflow = prog_workflow;
    o->ids = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*o->ids));
    if (!o->ids)
        return set_err(err, errlen, "out of memory");
    int only_operands = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_operands && !strcmp(a, "--")) {
            only_operands = 1;
        } else if (!only_operands && a[0] == '-' && a[1] != '\0') {
            int rc = parse_option(argc, argv, &i, o, err, errlen);
            if (rc)
                return rc;
        } else if (!o->workflow) {
            o->workflow = a;
        } else {
            o->ids[o->nids++] = a;
        }
    }
    if (o->help || o->version)
        return 0;
    if (!o->workflow)
        return set_err(err, errlen, "no workflow given: agentos-run WORKFLOW [--all | ID...]");
    if (o->parallel_capped && warnlen)
        snprintf(warn, warnlen, "--parallel is capped at %d; running %d at once", ARGS_PARALLEL_MAX,
                 ARGS_PARALLEL_MAX);
    return 0;
}

void args_free(struct run_opts *o)
{
    free(o->ids);
    o->ids = NULL;
    o->nids = 0;
}
