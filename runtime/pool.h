/*
 * pool.h - the coordinator's view of the credential pool.
 *
 * Every tick the coordinator looks at the key slots and decides three things:
 *   - parallelism: items in flight never exceed the request slots of the keys
 *     that can serve now (not disabled, not rate-limited) and never drop below
 *     one. The header's `parallelism` is the admission limit workers obey; a
 *     console line marks each change. Only when every selected item needs a
 *     key (rc->narrow_to_keys): an item that needs none must not wait for the
 *     pool, and one that needs a key then waits for it inside the request.
 *   - waiting: when workers start waiting for a key, one line says so.
 *   - pause: when no key can come back (all disabled), or no key that is not
 *     disabled has a role the run needs (rc->roles_needed), the run
 *     pauses ("Credential pool exhausted. Pausing all workflows...", plus
 *     "No usable key has role review" for a role); SIGHUP or an edited
 *     credentials file reloads the pool; --pause-timeout ends the wait (the
 *     coordinator then shuts down and exits 75).
 */
#ifndef AGENTOS_RUNTIME_POOL_H
#define AGENTOS_RUNTIME_POOL_H

#include <stdint.h>
#include <time.h>

#include "runtime/console.h"
#include "runtime/run.h"
#include "shm/cred.h"

/* What one look at the key slots found (pool_view_add per key). */
struct pool_view {
    uint32_t keys, disabled, limited, cut_off, serving_slots;
    uint32_t live_roles; /* roles of the keys not disabled (CRED_ROLE_* bits) */
};

/*
 * Count key k into v: disabled, else rate-limited (until > now_ns), else cut
 * off (its endpoint's breaker not ready), else serving with its concurrency
 * (0 counts as 1). Pure.
 */
void pool_view_add(struct pool_view *v, const struct cred_pub *k, int endpoint_ready,
                   int64_t now_ns);

/*
 * Items allowed in flight: the request slots of the keys that can serve now,
 * never more than --parallel and never fewer than 1 (a run waiting for keys
 * still needs one worker to notice they are back). Pure.
 */
uint32_t pool_parallelism(uint32_t parallel_max, uint32_t serving_slots);

/*
 * The roles no key can come back for: every role needed when there is no key
 * or every key is disabled, else those of roles_needed no live key has
 * (CRED_ROLE_* bits; both when roles_needed is 0). Non-zero = the pool is
 * exhausted and the run pauses. Pure.
 */
uint32_t pool_missing_roles(const struct pool_view *v, uint32_t roles_needed);

struct pool_monitor {
    struct run_ctx *rc;
    struct coord_console *con;
    uint32_t last_parallelism;
    uint32_t last_waiting;
    int paused;
    int64_t paused_since_ns;
    int expired;                /* --pause-timeout passed */
    struct timespec cred_mtime; /* credentials file, to notice edits */
    char cred_path[PATH_MAX];
};

void pool_init(struct pool_monitor *pm, struct run_ctx *rc, struct coord_console *con);

/* Look at the pool and adjust parallelism / pause state. */
void pool_tick(struct pool_monitor *pm);

/* Reload the credentials file into the slots (why: "SIGHUP", "edited file"). */
void pool_reload(struct pool_monitor *pm, const char *why);

/* 1 when the pause outlasted --pause-timeout: the run must checkpoint and exit 75. */
int pool_should_exit(const struct pool_monitor *pm);

void pool_free(struct pool_monitor *pm);

/* Distinct base URLs of cf into urls[] (pointers into cf; urls has room for cf->n). */
uint32_t pool_endpoints(const struct cred_file *cf, const char **urls);

/* Index of url's endpoint slot in the segment, or -1. */
int pool_endpoint_index(const struct shm_segment *seg, const char *url);

/* The shared-slot configuration of credential i (with its endpoint index). -ENOENT if its
 * endpoint is not in the segment. */
int pool_cred_init(const struct shm_segment *seg, const struct credential *c, struct cred_init *ci);

#endif
