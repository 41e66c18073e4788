/*
 * segment.c - create, attach, detach and unlink one run's shared-memory segment.
 *
 * The coordinator creates "/agentos-<run id>" with O_EXCL and mode 0600, sizes
 * it, maps it and lays it out as shm_layout.h describes: the header, then the
 * progress slots, the key slots, the worker slots, the endpoint slots and the
 * node stats, each region starting on a cache line. Every field is written
 * before the header's magic, which is stored last with release order, so an
 * attacher that reads the magic with acquire order sees a complete segment.
 * Attachers (workers inherit the mapping; the inspector maps read-only) check
 * magic, layout version, header and slot sizes and that every region lies
 * inside the object before they trust any offset. A coordinator killed with
 * -9 leaves its segment behind; the creator pid in the header lets the next
 * run tell such a stale segment from a live one and remove it (listing and
 * removing segments is segment_dir.c).
 */
#include "shm/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/util.h"
#include "shm/cred.h"

static size_t shm_align(size_t n)
{
    return (n + SHM_CACHELINE - 1) & ~(size_t)(SHM_CACHELINE - 1);
}

/* Region offsets, in layout order. */
struct shm_offsets {
    size_t items, keys, workers, endpoints, nodes, budget, gates, lwin;
};

/* Bytes of the budget region for these counts (run part, keys, worker leases). */
static size_t shm_budget_bytes(uint32_t key_count, uint32_t worker_count)
{
    return sizeof(struct budget_run_sh) + (size_t)key_count * sizeof(struct budget_key_sh) +
           (size_t)worker_count * sizeof(struct budget_lease_sh);
}

static uint32_t shm_gate_total(const struct shm_create_params *p)
{
    return p->endpoint_count + p->node_count + p->group_count;
}

/* Offsets of the regions for these counts, and the total size. */
static size_t shm_layout(const struct shm_create_params *p, struct shm_offsets *o)
{
    size_t off = shm_align(SHM_HEADER_SIZE);

    o->items = off;
    off = shm_align(off + (size_t)p->item_count * sizeof(struct prog_slot_sh));
    o->keys = off;
    off = shm_align(off + (size_t)p->key_count * sizeof(struct cred_slot_sh));
    o->workers = off;
    off = shm_align(off + (size_t)p->worker_count * sizeof(struct shm_worker_sh));
    o->endpoints = off;
    off = shm_align(off + (size_t)p->endpoint_count * sizeof(struct endpoint_sh));
    o->nodes = off;
    off = shm_align(off + (size_t)p->node_count * sizeof(struct node_stat_sh));
    o->budget = off;
    off = shm_align(off + shm_budget_bytes(p->key_count, p->worker_count));
    o->gates = off;
    off = shm_align(off + (size_t)shm_gate_total(p) * sizeof(struct gate_sh));
    o->lwin = off;
    return shm_align(off + (size_t)p->worker_count * p->endpoint_count * sizeof(struct lwin_sh));
}

size_t shm_segment_size(const struct shm_create_params *p)
{
    struct shm_offsets o;

    return shm_layout(p, &o);
}

static int shm_run_id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n >= SHM_RUN_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* "/agentos-x" stays as it is; a bare run id "x" gets the prefix. */
static int shm_full_name(const char *name, char *out, size_t outlen)
{
    int n;

    if (name[0] == '/') {
        if (strncmp(name, SHM_NAME_PREFIX, strlen(SHM_NAME_PREFIX)) != 0)
            return -EINVAL;
        name += strlen(SHM_NAME_PREFIX);
    }
    if (!shm_run_id_ok(name))
        return -EINVAL;
    n = snprintf(out, outlen, "%s%s", SHM_NAME_PREFIX, name);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int shm_create_params_ok(const struct shm_create_params *p, char *err, size_t errlen)
{
    if (!p->run_id || !shm_run_id_ok(p->run_id)) {
        snprintf(err, errlen, "invalid run id \"%.*s\": use 1-%d of [A-Za-z0-9_-]", SHM_RUN_ID_MAX,
                 p->run_id ? p->run_id : "", SHM_RUN_ID_MAX - 1);
        return -EINVAL;
    }
    if (p->workflow && strlen(p->workflow) >= SHM_WORKFLOW_MAX) {
        snprintf(err, errlen, "workflow name \"%.*s\" is longer than %d characters",
                 SHM_WORKFLOW_MAX, p->workflow, SHM_WORKFLOW_MAX - 1);
        return -EINVAL;
    }
    if (p->endpoint_count > SHM_MAX_KEYS || p->node_count > SHM_MAX_NODES ||
        (p->endpoint_count && !p->endpoint_urls) || (p->node_count && !p->node_names)) {
        snprintf(err, errlen, "segment counts %u endpoints, %u nodes exceed %d/%d or lack names",
                 p->endpoint_count, p->node_count, SHM_MAX_KEYS, SHM_MAX_NODES);
        return -EINVAL;
    }
    if (p->group_count > SHM_MAX_GROUPS || (p->group_count && !p->group_names)) {
        snprintf(err, errlen, "segment counts %u item groups, more than %d or without names",
                 p->group_count, SHM_MAX_GROUPS);
        return -EINVAL;
    }
    if (p->item_count > SHM_MAX_ITEMS || p->key_count > SHM_MAX_KEYS ||
        p->worker_count > SHM_MAX_WORKERS) {
        snprintf(err, errlen, "segment counts %u items, %u keys, %u workers exceed %d/%d/%d",
                 p->item_count, p->key_count, p->worker_count, SHM_MAX_ITEMS, SHM_MAX_KEYS,
                 SHM_MAX_WORKERS);
        return -EINVAL;
    }
    return 0;
}

static void shm_gate_init(struct gate_sh *g, uint32_t kind, uint32_t ref, const char *name,
                          uint32_t limit, int64_t timeout_ns)
{
    g->kind = kind;
    g->ref = ref;
    g->timeout_ns = timeout_ns > 0 ? timeout_ns : 0;
    atomic_store_explicit(&g->limit, limit, memory_order_relaxed);
    util_strlcpy(g->name, name ? name : "", sizeof(g->name));
}

/* Endpoint gates, then node gates, then group gates (shm/gate.h finds them in that order). */
static void shm_init_gates(struct shm_segment *seg, const struct shm_create_params *p)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < p->endpoint_count; i++)
        shm_gate_init(shm_gate_slot(seg, k++), GATE_ENDPOINT, i, p->endpoint_urls[i],
                      p->endpoint_limit, 0);
    for (uint32_t i = 0; i < p->node_count; i++)
        shm_gate_init(shm_gate_slot(seg, k++), GATE_NODE, i, p->node_names[i],
                      p->node_limits ? p->node_limits[i] : 0, 0);
    for (uint32_t i = 0; i < p->group_count; i++)
        shm_gate_init(shm_gate_slot(seg, k++), GATE_GROUP, i, p->group_names[i],
                      p->group_limits ? p->group_limits[i] : 0,
                      p->group_timeouts_ns ? p->group_timeouts_ns[i] : 0);
}

/* Lay out a zero-filled mapping; the magic is published by the caller. */
static int shm_init_regions(struct shm_segment *seg, const struct shm_create_params *p, char *err,
                            size_t errlen)
{
    struct shm_header_sh *h = seg->hdr;
    struct shm_offsets o;
    int rc;

    h->total_size = shm_layout(p, &o);
    h->layout_version = SHM_LAYOUT_VERSION;
    h->header_size = SHM_HEADER_SIZE;
    h->items_offset = o.items;
    h->keys_offset = o.keys;
    h->workers_offset = o.workers;
    h->endpoints_offset = o.endpoints;
    h->nodes_offset = o.nodes;
    h->budget_offset = o.budget;
    h->budget_size = (uint32_t)shm_budget_bytes(p->key_count, p->worker_count);
    h->endpoint_count = p->endpoint_count;
    h->endpoint_slot_size = sizeof(struct endpoint_sh);
    h->node_count = p->node_count;
    h->node_slot_size = sizeof(struct node_stat_sh);
    h->gates_offset = o.gates;
    h->lwin_offset = o.lwin;
    h->gate_count = shm_gate_total(p);
    h->gate_slot_size = sizeof(struct gate_sh);
    h->lwin_slot_size = sizeof(struct lwin_sh);
    h->adaptive = p->adaptive ? 1 : 0;
    h->start_gap_ns = p->start_gap_ns > 0 ? p->start_gap_ns : 0;
    h->item_count = p->item_count;
    h->item_slot_size = sizeof(struct prog_slot_sh);
    h->key_count = p->key_count;
    h->key_slot_size = sizeof(struct cred_slot_sh);
    h->worker_count = p->worker_count;
    h->worker_slot_size = sizeof(struct shm_worker_sh);
    h->creator_pid = (int32_t)getpid();
    h->parallel_max = p->parallel_max ? p->parallel_max : 1;
    h->started_realtime_ns = util_now_real_ns();
    util_strlcpy(h->workflow, p->workflow ? p->workflow : "", sizeof(h->workflow));
    util_strlcpy(h->run_id, p->run_id, sizeof(h->run_id));
    atomic_store_explicit(&h->run_state, SHM_RUN_STARTING, memory_order_relaxed);
    atomic_store_explicit(&h->parallelism, h->parallel_max, memory_order_relaxed);

    for (uint32_t i = 0; i < p->item_count; i++)
        shm_prog_slot(seg, i)->index = i;
    for (uint32_t i = 0; i < p->key_count; i++) {
        rc = cred_mutex_init(shm_cred_slot(seg, i));
        if (rc < 0) {
            snprintf(err, errlen, "could not initialise the mutex of key slot %u: %s", i,
                     strerror(-rc));
            return rc;
        }
    }
    for (uint32_t i = 0; i < p->worker_count; i++)
        atomic_store_explicit(&shm_worker_slot(seg, i)->item_index, -1, memory_order_relaxed);
    for (uint32_t i = 0; i < p->endpoint_count; i++)
        util_strlcpy(shm_endpoint_slot(seg, i)->url, p->endpoint_urls[i] ? p->endpoint_urls[i] : "",
                     SHM_ENDPOINT_MAX);
    for (uint32_t i = 0; i < p->node_count; i++)
        util_strlcpy(shm_node_slot(seg, i)->name, p->node_names[i] ? p->node_names[i] : "",
                     SHM_NODE_MAX);
    struct budget_run_sh *b = shm_budget_run(seg);
    if (p->budget_url && *p->budget_url) {
        util_strlcpy(b->url, p->budget_url, sizeof(b->url));
        atomic_store_explicit(&b->mode, SHM_BUDGET_SHARED, memory_order_relaxed);
    }
    atomic_store_explicit(&b->n_live, 1, memory_order_relaxed);
    shm_init_gates(seg, p);
    return 0;
}

int shm_segment_create(struct shm_segment *seg, const struct shm_create_params *p, char *err,
                       size_t errlen)
{
    size_t size;
    void *base;
    int fd, rc;

    memset(seg, 0, sizeof(*seg));
    rc = shm_create_params_ok(p, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(seg->name, sizeof(seg->name), "%s%s", SHM_NAME_PREFIX, p->run_id);
    size = shm_segment_size(p);

    fd = shm_open(seg->name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "could not create shared memory \"%s\": %s", seg->name,
                 strerror(-rc));
        return rc;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        rc = -errno;
        snprintf(err, errlen, "could not size shared memory \"%s\" to %zu bytes: %s", seg->name,
                 size, strerror(-rc));
        goto fail;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        rc = -errno;
        snprintf(err, errlen, "could not map shared memory \"%s\": %s", seg->name, strerror(-rc));
        goto fail;
    }
    close(fd);
    fd = -1;
    seg->base = base;
    seg->size = size;
    seg->hdr = base;
    rc = shm_init_regions(seg, p, err, errlen);
    if (rc < 0)
        goto fail;
    /* Last: everything above becomes visible to whoever sees the magic. */
    atomic_store_explicit(&seg->hdr->magic, SHM_MAGIC, memory_order_release);
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    if (seg->base)
        munmap(seg->base, seg->size);
    shm_unlink(seg->name);
    seg->base = NULL;
    seg->hdr = NULL;
    return rc;
}

/* A region of count slots of slot_size at off lies inside total bytes. */
static int shm_region_ok(uint64_t off, uint32_t count, uint32_t slot_size, uint64_t hdr_size,
                         uint64_t total)
{
    if (off < hdr_size || off % SHM_CACHELINE != 0 || off > total)
        return 0;
    return (uint64_t)count * slot_size <= total - off;
}

static int shm_check_header(const struct shm_segment *seg, size_t st_size, char *err, size_t errlen)
{
    const struct shm_header_sh *h = seg->hdr;
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);

    if (magic != SHM_MAGIC) {
        snprintf(err, errlen,
                 "segment %s is not an agentos segment (no magic; not initialised yet?)",
                 seg->name);
        return -EPROTO;
    }
    if (h->layout_version != SHM_LAYOUT_VERSION) {
        snprintf(err, errlen, "segment %s has layout version %u, this build reads %u", seg->name,
                 h->layout_version, SHM_LAYOUT_VERSION);
        return -EPROTO;
    }
    if (h->header_size != SHM_HEADER_SIZE || h->item_slot_size != sizeof(struct prog_slot_sh) ||
        h->key_slot_size != sizeof(struct cred_slot_sh) ||
        h->worker_slot_size != sizeof(struct shm_worker_sh) ||
        h->endpoint_slot_size != sizeof(struct endpoint_sh) ||
        h->node_slot_size != sizeof(struct node_stat_sh) ||
        h->gate_slot_size != sizeof(struct gate_sh) ||
        h->lwin_slot_size != sizeof(struct lwin_sh)) {
        snprintf(err, errlen,
                 "segment %s has header/slot sizes %u/%u/%u/%u, this build uses "
                 "%d/%zu/%zu/%zu",
                 seg->name, h->header_size, h->item_slot_size, h->key_slot_size,
                 h->worker_slot_size, SHM_HEADER_SIZE, sizeof(struct prog_slot_sh),
                 sizeof(struct cred_slot_sh), sizeof(struct shm_worker_sh));
        return -EPROTO;
    }
    if (h->total_size > st_size || h->total_size < SHM_HEADER_SIZE ||
        h->item_count > SHM_MAX_ITEMS || h->key_count > SHM_MAX_KEYS ||
        h->worker_count > SHM_MAX_WORKERS ||
        !shm_region_ok(h->items_offset, h->item_count, h->item_slot_size, h->header_size,
                       h->total_size) ||
        !shm_region_ok(h->keys_offset, h->key_count, h->key_slot_size, h->header_size,
                       h->total_size) ||
        !shm_region_ok(h->workers_offset, h->worker_count, h->worker_slot_size, h->header_size,
                       h->total_size) ||
        h->endpoint_count > SHM_MAX_KEYS || h->node_count > SHM_MAX_NODES ||
        !shm_region_ok(h->endpoints_offset, h->endpoint_count, h->endpoint_slot_size,
                       h->header_size, h->total_size) ||
        !shm_region_ok(h->nodes_offset, h->node_count, h->node_slot_size, h->header_size,
                       h->total_size) ||
        h->budget_size != shm_budget_bytes(h->key_count, h->worker_count) ||
        !shm_region_ok(h->budget_offset, 1, h->budget_size, h->header_size, h->total_size) ||
        h->gate_count > SHM_MAX_KEYS + SHM_MAX_NODES + SHM_MAX_GROUPS ||
        h->gate_count < (uint64_t)h->endpoint_count + h->node_count ||
        !shm_region_ok(h->gates_offset, h->gate_count, h->gate_slot_size, h->header_size,
                       h->total_size) ||
        !shm_region_ok(h->lwin_offset, h->worker_count * h->endpoint_count, h->lwin_slot_size,
                       h->header_size, h->total_size)) {
        snprintf(err, errlen, "segment %s has regions outside its %zu bytes", seg->name, st_size);
        return -EPROTO;
    }
    if (!memchr(h->run_id, '\0', sizeof(h->run_id)) ||
        !memchr(h->workflow, '\0', sizeof(h->workflow))) {
        snprintf(err, errlen, "segment %s has an unterminated run id or workflow", seg->name);
        return -EPROTO;
    }
    return 0;
}

/* Open and map name; fills seg->base/size/hdr. Does not check the contents. */
static int shm_map_existing(struct shm_segment *seg, int readonly, size_t *st_size, char *err,
                            size_t errlen)
{
    struct stat st;
    void *base;
    int fd, rc;

    fd = shm_open(seg->name, (readonly ? O_RDONLY : O_RDWR) | O_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ENOENT)
            snprintf(err, errlen, "no such run: shared memory \"%s\" does not exist", seg->name);
        else
            snprintf(err, errlen, "could not open shared memory \"%s\": %s", seg->name,
                     strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "could not stat shared memory \"%s\": %s", seg->name, strerror(-rc));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not an agentos segment (%s)", seg->name,
                 util_mode_kind(st.st_mode));
        close(fd);
        return -EPROTO;
    }
    if ((size_t)st.st_size < SHM_HEADER_SIZE) {
        snprintf(err, errlen, "segment %s is not an agentos segment (%lld bytes)", seg->name,
                 (long long)st.st_size);
        close(fd);
        return -EPROTO;
    }
    base = mmap(NULL, (size_t)st.st_size, readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                fd, 0);
    rc = base == MAP_FAILED ? -errno : 0;
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "could not map shared memory \"%s\": %s", seg->name, strerror(-rc));
        return rc;
    }
    seg->base = base;
    seg->size = (size_t)st.st_size;
    seg->hdr = base;
    *st_size = (size_t)st.st_size;
    return 0;
}

int shm_segment_attach(struct shm_segment *seg, const char *name, int readonly, char *err,
                       size_t errlen)
{
    size_t st_size = 0;
    int rc;

    memset(seg, 0, sizeof(*seg));
    if (!name || shm_full_name(name, seg->name, sizeof(seg->name)) < 0) {
        snprintf(err, errlen, "invalid run name \"%.64s\": expected a run id or /agentos-<id>",
                 name ? name : "");
        return -EINVAL;
    }
    seg->readonly = readonly ? 1 : 0;
    rc = shm_map_existing(seg, readonly, &st_size, err, errlen);
    if (rc < 0)
        return rc;
    rc = shm_check_header(seg, st_size, err, errlen);
    if (rc < 0) {
        shm_segment_detach(seg);
        return rc;
    }
    return 0;
}

void shm_segment_detach(struct shm_segment *seg)
{
    if (seg->base)
        munmap(seg->base, seg->size);
    seg->base = NULL;
    seg->hdr = NULL;
    seg->size = 0;
}

int shm_segment_unlink(const char *name)
{
    char full[64];

    if (!name || shm_full_name(name, full, sizeof(full)) < 0)
        return -EINVAL;
    return shm_unlink(full) < 0 ? -errno : 0;
}

/* Slot i of a region, or NULL when i is out of range. */
static void *shm_slot(const struct shm_segment *seg, uint64_t off, uint32_t count,
                      uint32_t slot_size, uint32_t i)
{
    if (!seg->base || i >= count)
        return NULL;
    return (char *)seg->base + off + (size_t)i * slot_size;
}

struct prog_slot_sh *shm_prog_slot(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->items_offset, h->item_count, h->item_slot_size, index);
}

struct cred_slot_sh *shm_cred_slot(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->keys_offset, h->key_count, h->key_slot_size, index);
}

struct shm_worker_sh *shm_worker_slot(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->workers_offset, h->worker_count, h->worker_slot_size, index);
}

struct endpoint_sh *shm_endpoint_slot(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->endpoints_offset, h->endpoint_count, h->endpoint_slot_size, index);
}

struct node_stat_sh *shm_node_slot(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->nodes_offset, h->node_count, h->node_slot_size, index);
}

struct budget_run_sh *shm_budget_run(const struct shm_segment *seg)
{
    return seg->base ? (struct budget_run_sh *)((char *)seg->base + seg->hdr->budget_offset) : NULL;
}

struct budget_key_sh *shm_budget_key(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->budget_offset + sizeof(struct budget_run_sh), h->key_count,
                    sizeof(struct budget_key_sh), index);
}

struct budget_lease_sh *shm_budget_lease(const struct shm_segment *seg, uint32_t worker)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg,
                    h->budget_offset + sizeof(struct budget_run_sh) +
                        (size_t)h->key_count * sizeof(struct budget_key_sh),
                    h->worker_count, sizeof(struct budget_lease_sh), worker);
}

struct gate_sh *shm_gate_slot(const struct shm_segment *seg, uint32_t index)
{
    const struct shm_header_sh *h = seg->hdr;

    return shm_slot(seg, h->gates_offset, h->gate_count, h->gate_slot_size, index);
}

struct lwin_sh *shm_lwin_slot(const struct shm_segment *seg, uint32_t w, uint32_t e)
{
    const struct shm_header_sh *h = seg->hdr;

    if (w >= h->worker_count || e >= h->endpoint_count)
        return NULL;
    return shm_slot(seg, h->lwin_offset, h->worker_count * h->endpoint_count, h->lwin_slot_size,
                    w * h->endpoint_count + e);
}
