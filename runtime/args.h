/*
 * args.h - the command line of agentos-run (SPEC 3).
 *
 *   agentos-run WORKFLOW [--all | ID...] [options]
 *   lld-workflow / issue-workflow [--all | ID...] [options]   (argv[0] names the workflow)
 *
 * Parsing is pure: no file or environment is touched, so it is unit-tested on
 * its own. It knows no workflow: the operands after the workflow's name go
 * into ids[], and the plan (runtime/plan.c) or the workflow's load hook decide
 * what they mean and whether the selection makes sense. Defaults that depend
 * on the environment (home, credentials, folders) are resolved by the plan.
 */
#ifndef AGENTOS_RUNTIME_ARGS_H
#define AGENTOS_RUNTIME_ARGS_H

#include <stddef.h>

#define ARGS_PARALLEL_BARE 3
#define ARGS_PARALLEL_MAX 10

struct run_opts {
    const char *workflow; /* "lld", "issue", "workstream" */
    int all;
    const char **ids; /* the operands after the workflow (item IDs, a workstream's FILE.json):
                         malloc'd array of pointers into argv */
    int nids;
    int parallel;        /* 1 without the flag */
    int parallel_given;  /* --parallel was on the command line */
    int parallel_capped; /* the requested N was above the cap */
    int parallel_auto;   /* --parallel auto: the plan picks the width (runtime/width.h) */
    int adaptive;        /* --adaptive (implied by --parallel auto): per-endpoint limits */
    const char *config;  /* --config FILE; NULL = <home>/agentos.json if present */
    int dry_run;
    const char *items_dir; /* NULL = workflow default */
    const char *out_dir;
    const char *home;        /* NULL = $AGENTOS_HOME or ~/.agentos */
    const char *credentials; /* NULL = <home>/credentials.json */
    int max_reviews;         /* 3 */
    long timeout_per_step;   /* seconds, 300 */
    int timeout_given;       /* --timeout-per-step was on the command line */
    long pause_timeout;      /* seconds, -1 = wait until refreshed or interrupted */
    int fresh;
    int no_progress;
    int quiet;
    int fail_fast;      /* stop at the first failed item */
    int dot;            /* print the items' graph (workflows whose items have one) */
    const char *shard;  /* --shard I/N or "slurm" (form checked; resolved by the plan) */
    const char *budget; /* --budget redis://HOST[:PORT][/DB] (form checked) */
    int help;
    int version;
};

/*
 * Parse argv. prog_workflow is the workflow implied by the program name
 * ("lld" for lld-workflow), or NULL for agentos-run, whose first operand is
 * the workflow. Returns 0, or -EINVAL with a one-line message in err naming
 * the bad flag or value (exit status 2). A non-fatal note (the --parallel cap)
 * goes into warn ("" when none).
 */
int args_parse(int argc, char **argv, const char *prog_workflow, struct run_opts *o, char *err,
               size_t errlen, char *warn, size_t warnlen);

void args_free(struct run_opts *o);

/* Workflow implied by a program name ("lld-workflow" -> "lld"), or NULL. */
const char *args_workflow_from_argv0(const char *argv0);

#endif
