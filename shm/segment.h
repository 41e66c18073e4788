/*
 * segment.h - create, attach, detach and remove one run's shared segment.
 *
 * A run's segment is the POSIX shared-memory object "/agentos-<run id>",
 * mode 0600, laid out as shm_layout.h describes. The coordinator creates and
 * initialises it (header magic published last, with release order), workers
 * inherit the mapping across fork, and the inspector attaches read-only and
 * checks magic, layout version and sizes before trusting any offset.
 */
#ifndef AGENTOS_SHM_SEGMENT_H
#define AGENTOS_SHM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/shm_layout.h"

/* The per-process handle of a mapped segment (the shared half is the header). */
struct shm_segment {
    void *base;
    size_t size;
    int readonly;
    char name[64]; /* "/agentos-<run id>" */
    struct shm_header_sh *hdr;
};

struct shm_create_params {
    const char *run_id;   /* [A-Za-z0-9_-], becomes part of the name */
    const char *workflow; /* "lld", "issue", "workstream" */
    uint32_t item_count;
    uint32_t key_count;
    uint32_t worker_count;
    uint32_t parallel_max;
    uint32_t endpoint_count;          /* distinct provider endpoints */
    const char *const *endpoint_urls; /* endpoint_count base URLs (no secrets) */
    uint32_t node_count;              /* nodes of the workflow */
    const char *const *node_names;    /* node_count names */
    const char *budget_url;           /* --budget (no secret), NULL or "": none */
    /* layout 5: gates (shm/gate.h) and pacing; all optional (zero = none) */
    const uint32_t *node_limits;      /* node_count items-in-node limits, 0 = none; or NULL */
    uint32_t endpoint_limit;          /* first limit of every endpoint gate; 0 = none */
    int adaptive;                     /* endpoint limits follow the adaptive limiter */
    uint32_t group_count;             /* item groups, <= SHM_MAX_GROUPS */
    const char *const *group_names;   /* group_count names */
    const uint32_t *group_limits;     /* group_count limits, 0 = none; or NULL */
    const int64_t *group_timeouts_ns; /* group_count timeouts, 0 = none; or NULL */
    int64_t start_gap_ns;             /* least time between two item starts; 0 = none */
};

/* Size in bytes of a segment with these counts. */
size_t shm_segment_size(const struct shm_create_params *p);

/*
 * Create and initialise a new segment (O_EXCL, mode 0600): zeroed regions,
 * prog slot indexes set, credential mutexes initialised process-shared and
 * robust, worker item_index -1, header filled and its magic published last.
 * Returns 0 or -errno; on failure writes a one-line reason into err.
 */
int shm_segment_create(struct shm_segment *seg, const struct shm_create_params *p, char *err,
                       size_t errlen);

/*
 * Attach to an existing segment by name ("/agentos-..." or bare run id).
 * readonly maps PROT_READ. Checks magic, layout version, header/slot sizes and
 * that every region lies inside the mapping. Returns 0, -ENOENT (no such run),
 * -EPROTO (another layout version or not an agentos segment), or -errno.
 */
int shm_segment_attach(struct shm_segment *seg, const char *name, int readonly, char *err,
                       size_t errlen);

/* Unmap (the segment object stays). */
void shm_segment_detach(struct shm_segment *seg);

/* shm_unlink the segment's name; returns 0 or -errno. */
int shm_segment_unlink(const char *name);

/* Accessors; index must be < the header's count. */
struct prog_slot_sh *shm_prog_slot(const struct shm_segment *seg, uint32_t index);
struct cred_slot_sh *shm_cred_slot(const struct shm_segment *seg, uint32_t index);
struct shm_worker_sh *shm_worker_slot(const struct shm_segment *seg, uint32_t index);
struct endpoint_sh *shm_endpoint_slot(const struct shm_segment *seg, uint32_t index);
struct node_stat_sh *shm_node_slot(const struct shm_segment *seg, uint32_t index);
/* The shared key budget's region (SPEC 13): the run's part, one part per key, one per worker. */
struct budget_run_sh *shm_budget_run(const struct shm_segment *seg);
struct budget_key_sh *shm_budget_key(const struct shm_segment *seg, uint32_t index);
struct budget_lease_sh *shm_budget_lease(const struct shm_segment *seg, uint32_t worker);
struct gate_sh *shm_gate_slot(const struct shm_segment *seg, uint32_t index);
/* Worker slot w's samples of endpoint e (NULL when out of range). */
struct lwin_sh *shm_lwin_slot(const struct shm_segment *seg, uint32_t w, uint32_t e);

/* The directory of segments in /dev/shm (shm/segment_dir.c). */

/*
 * Callback for shm_segment_list: name is "/agentos-...", creator_pid from the
 * header (0 if unreadable), stale = the creator process no longer exists.
 */
typedef void (*shm_list_fn)(const char *name, int32_t creator_pid, int stale, void *arg);

/*
 * Callback for a /dev/shm entry named agentos-* that is not a segment this
 * user could have made (a FIFO, a folder, a link, another user's file): why
 * says what it is ("a FIFO", "owned by uid 1001"). Such an entry is never
 * opened, mapped or removed: anyone can create one, and opening a FIFO
 * blocks.
 */
typedef void (*shm_foreign_fn)(const char *name, const char *why, void *arg);

/*
 * Enumerate /dev/shm/agentos-* segments of this user (fn) and the entries
 * that are not (foreign; either may be NULL). Returns how many fn saw, or
 * -errno.
 */
int shm_segment_scan(shm_list_fn fn, shm_foreign_fn foreign, void *arg);

/* shm_segment_scan without the foreign entries. */
int shm_segment_list(shm_list_fn fn, void *arg);

/*
 * Remove every agentos segment of this user whose creator is gone (a
 * coordinator killed with -9 leaves one); warn (may be NULL) hears of each
 * foreign entry, left alone. Returns how many were removed, or -errno.
 */
int shm_segment_remove_stale(shm_foreign_fn warn, void *arg);

#endif
