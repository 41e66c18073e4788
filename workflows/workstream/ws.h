/*
 * ws.h - workstream files: loading, validating and describing a DAG of steps
 * (SPEC section 8).
 *
 * A workstream is a JSON object {"id", "execution", "steps"}; each step runs a
 * shell command ("run") or an LLM prompt ("prompt", reply to "output") once
 * every step in its "depends_on" has passed. ws_load refuses, with one line
 * naming the file and the field, anything the runner could not execute
 * safely: a bad ID (IDs end up in file names), an unknown dependency, a cycle
 * ("Step deadlock detected: a -> b -> a"), a bad step group (ws_exec.c). The
 * `execution` block may take values from the environment (${env.NAME},
 * ws_env.h), expanded before it is read. Unknown keys are ignored so older
 * runners accept newer files. Overlapping "files" between steps that may run
 * at once is a separate check (ws_check_files) so --dot and --dry-run can
 * still show such a graph.
 *
 * After a successful load every step has its dependencies as indexes, its
 * wave (the earliest round it could run in) and a SHA-256 that covers the
 * step's JSON and, through its dependencies' hashes, everything it builds on:
 * editing a step invalidates the checkpoints of its dependents, not of
 * unrelated steps. Strings (run, prompt, output, files, accept) point into
 * ws->doc and live until ws_free.
 */
#ifndef AGENTOS_WORKFLOWS_WS_H
#define AGENTOS_WORKFLOWS_WS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define WS_ID_MAX 64
#define WS_MAX_STEPS 10000
#define WS_FILE_MAX (4 * 1024 * 1024)

struct ws_step {
    char id[WS_ID_MAX + 1];
    const char *run;    /* shell command; NULL for a prompt step */
    const char *prompt; /* prompt text; NULL for a run step */
    const char *output; /* prompt steps: where the reply goes; NULL otherwise */
    char **files;       /* as written in the file */
    size_t nfiles;
    const char **accept; /* acceptance_tests commands */
    size_t naccept;
    size_t *deps;     /* indexes into ws->steps, in file order of depends_on */
    size_t ndeps;     /* a dependency listed twice counts once */
    unsigned wave;    /* 0 when no dependencies, else 1 + the largest wave of its deps */
    char sha256[65];  /* lower-hex SHA-256 of cJSON_PrintUnformatted(step object)
                         followed by the sha256 strings of its deps in deps order */
    const cJSON *def; /* the step's JSON object, owned by ws->doc */
    long timeout_s;   /* "timeout": seconds a node may run (overrides timeout_per_step); 0 */
    unsigned retries; /* "retries": runs again after a failure of its command; default 0 */
    unsigned group;   /* 1 + index into ws->groups of the one group it is in; 0 = none */
};

/* One of step_groups (ws_exec.c). */
struct ws_group {
    char id[WS_ID_MAX + 1];
    int sequential;   /* "execute": "sequential": one at a time, in the listed order */
    long max_workers; /* steps of the group at once; 0 = no limit of its own */
    long timeout_s;   /* from its first step's start; past it the group's steps fail; 0 */
    size_t *steps;    /* indexes into ws->steps, in the listed order */
    size_t nsteps;
};

struct workstream {
    char id[WS_ID_MAX + 1];
    int parallel;            /* execution.parallel; default 1 */
    long max_workers;        /* execution.max_workers; 0 = not given */
    long timeout_per_step;   /* execution.timeout_per_step in seconds; 0 = not given */
    int max_workers_auto;    /* execution.max_workers "auto" (SPEC 12) */
    int adaptive;            /* execution.adaptive_scaling */
    double rate_limit_delay; /* execution.rate_limit_delay: seconds between two step starts */
    struct ws_group *groups; /* step_groups, in file order */
    size_t ngroups;
    struct ws_step *steps; /* file order */
    size_t nsteps;
    unsigned nwaves; /* 1 + the largest wave */
    cJSON *doc;
    uint64_t *reach; /* private to ws.c: transitive closure for ws_depends */
};

/*
 * Read and validate a workstream file. 0, or -errno with err = one line naming
 * the file (its path as given) and what is wrong. On failure ws is zeroed and
 * needs no ws_free.
 */
int ws_load(const char *path, struct workstream *ws, char *err, size_t errlen);

/* The same from text; name is used in messages. */
int ws_parse(const char *text, size_t len, const char *name, struct workstream *ws, char *err,
             size_t errlen);

/* 1 if step a depends on step b directly or transitively (never for a == b). */
int ws_depends(const struct workstream *ws, size_t a, size_t b);

/*
 * Two steps that may run at once (neither depends on the other) must not list
 * overlapping files. 0 or -EINVAL with err (prefixed with name); -ENOMEM.
 * Entries are compared after dropping "." components, empty components and a
 * trailing "/", and resolving ".." lexically; "." or "" is the whole tree.
 * Two entries overlap when equal or when one is a prefix of the other at a "/"
 * boundary ("a" overlaps "a/x.c", not "ab").
 */
int ws_check_files(const struct workstream *ws, const char *name, char *err, size_t errlen);

/*
 * The graph as Graphviz DOT: a node per step in file order (run steps boxes,
 * prompt steps notes), an edge from each prerequisite to the step needing it.
 */
void ws_write_dot(const struct workstream *ws, FILE *out);

/* Free everything ws_load/ws_parse allocated and zero ws. Safe on a zeroed ws. */
void ws_free(struct workstream *ws);

#endif
