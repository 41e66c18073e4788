/*
 * runcfg.h - the run file: `--config FILE`, by default $AGENTOS_HOME/agentos.json
 * (SPEC 12).
 *
 *   {"nodes": {"lld.N2_review": {"max_concurrent": 2, "keys": ["key-1", "key-2"]}},
 *    "adaptive": {"window_s": 10, "error_share_high": 0.2, "error_share_low": 0.05,
 *                 "latency_high_s": 30, "latency_low_s": 5,
 *                 "decrease": 0.25, "increase": 0.33}}
 *
 * Both sections are optional. "nodes" sets, per workflow node, how many items
 * may be in that node at once and which keys may serve it; "adaptive" sets the
 * policy of the per-endpoint limiter (runtime/limiter.h; the gradient's own
 * fields gradient_tolerance, throughput_gain, gradient_persist, min_samples and
 * history_windows are accepted too). Everything is checked against what the
 * caller knows (its workflows with their node names, the key ids of the
 * credentials file) before anything is kept: a mistake is -EINVAL and one line
 * naming the file and the field, e.g.
 *   agentos.json: nodes."lld.N9_x": workflow lld has no node N9_x (it has N0_load, ...)
 * The parser touches no file and no environment; runcfg_load() reads the file.
 */
#ifndef AGENTOS_RUNTIME_RUNCFG_H
#define AGENTOS_RUNTIME_RUNCFG_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/limiter.h"

#define RUNCFG_MAX_BYTES (1024 * 1024)
#define RUNCFG_MAX_NODES 64 /* entries of "nodes" */
#define RUNCFG_MAX_KEYS 256 /* key ids a mask can name (SHM_MAX_KEYS) */
#define RUNCFG_KEY_WORDS (RUNCFG_MAX_KEYS / 64)
#define RUNCFG_MAX_CONCURRENT 1000

/* A workflow the caller runs, and the names of its nodes. */
struct runcfg_workflow {
    const char *name;         /* "lld" */
    const char *const *nodes; /* "N0_load", "N1_design", ... */
    size_t node_count;
};

/* What the file is checked against. */
struct runcfg_known {
    const struct runcfg_workflow *workflows;
    size_t workflow_count;
    const char *const *keys; /* the credentials' key ids, in pool order */
    size_t key_count;
};

/* The settings of one workflow node. */
struct runcfg_node {
    uint32_t workflow;                   /* index into runcfg_known.workflows */
    uint32_t node;                       /* index into that workflow's nodes */
    uint32_t max_concurrent;             /* items in this node at once; 0 = no limit */
    uint32_t key_count;                  /* keys allowed; 0 = any key */
    uint64_t key_mask[RUNCFG_KEY_WORDS]; /* bit i: runcfg_known.keys[i] may serve */
};

struct runcfg {
    int loaded; /* 1 when a file was read, 0 when there was none */
    size_t node_count;
    struct runcfg_node nodes[RUNCFG_MAX_NODES];
    struct limiter_policy adaptive; /* limiter_policy_default(), then the file's fields */
};

/* No file: no node settings, the default adaptive policy. */
void runcfg_init(struct runcfg *cfg);

/* "<home>/agentos.json" into buf; -ENAMETOOLONG if it does not fit. */
int runcfg_default_path(const char *home, char *buf, size_t len);

/*
 * Parse and check the text of a run file. name is the file's name as the
 * messages show it. On success cfg->loaded is 1. On error: -EINVAL (or
 * -EFBIG, -ENOMEM), one line in err, and cfg holds only the defaults.
 */
int runcfg_parse(const char *name, const char *text, size_t len, const struct runcfg_known *known,
                 struct runcfg *cfg, char *err, size_t errlen);

/*
 * Read and parse the run file at path. is_default says path is the default
 * one rather than one given with --config: then a file that does not exist is
 * no error (0, cfg->loaded = 0). Only a regular file of at most
 * RUNCFG_MAX_BYTES is read; a FIFO, a device or a folder is refused without
 * blocking on it (opened O_NONBLOCK, checked with fstat before any read).
 */
int runcfg_load(const char *path, int is_default, const struct runcfg_known *known,
                struct runcfg *cfg, char *err, size_t errlen);

/* The settings of a node, or NULL when the file sets none for it. */
const struct runcfg_node *runcfg_find(const struct runcfg *cfg, uint32_t workflow, uint32_t node);

/* 1 if key (an index into runcfg_known.keys) may serve node n; n NULL: any key may. */
int runcfg_key_allowed(const struct runcfg_node *n, uint32_t key);

#endif
