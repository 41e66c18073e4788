/*
 * gate.c - concurrency gates (see gate.h for the protocol).
 *
 * Why a bitmask and not a counter: a counter taken with one CAS and a note of
 * who holds it written after would leak a place when the worker dies between
 * the two; with one bit per worker slot the CAS that takes the place is also
 * the record of who holds it, so the coordinator can always give a dead
 * worker's places back. The same reasoning as the admission ticket.
 */
#include "shm/gate.h"

#include <errno.h>

#include "shm/seqlock.h"

static void gate_note_max(struct gate_sh *g, uint32_t held)
{
    uint32_t cur = atomic_load_explicit(&g->max_held, memory_order_relaxed);
    while (held > cur && !atomic_compare_exchange_weak_explicit(
                             &g->max_held, &cur, held, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* The first place ever taken starts the clock of a gate with a timeout. */
static void gate_start_clock(struct gate_sh *g, int64_t now_ns)
{
    int64_t zero = 0;
    if (g->timeout_ns > 0)
        atomic_compare_exchange_strong(&g->deadline_ns, &zero, now_ns + g->timeout_ns);
}

enum gate_take gate_try(struct gate_sh *g, unsigned slot, int64_t now_ns)
{
    if (!g || slot >= 32)
        return GATE_TAKEN; /* no gate (or no slot to take it with): nothing limits */
    uint32_t bit = 1u << slot;
    for (;;) {
        uint32_t cur = atomic_load(&g->mask);
        uint32_t limit = atomic_load(&g->limit);
        if (cur & bit)
            return GATE_TAKEN;
        if (gate_expired(g, now_ns)) {
            atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
            return GATE_EXPIRED;
        }
        if (limit && (uint32_t)__builtin_popcount(cur) >= limit) {
            atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed);
            return GATE_FULL;
        }
        if (atomic_compare_exchange_weak(&g->mask, &cur, cur | bit)) {
            atomic_fetch_add_explicit(&g->taken, 1, memory_order_relaxed);
            gate_note_max(g, (uint32_t)__builtin_popcount(cur | bit));
            gate_start_clock(g, now_ns);
            return GATE_TAKEN;
        }
    }
}

void gate_release(struct gate_sh *g, unsigned slot)
{
    if (g && slot < 32)
        atomic_fetch_and(&g->mask, ~(1u << slot));
}

uint32_t gate_held(const struct gate_sh *g)
{
    return (uint32_t)__builtin_popcount(atomic_load(&((struct gate_sh *)g)->mask));
}

int gate_expired(const struct gate_sh *g, int64_t now_ns)
{
    int64_t d = atomic_load(&((struct gate_sh *)g)->deadline_ns);
    return d > 0 && now_ns > d;
}

unsigned gate_release_dead(const struct shm_segment *seg, unsigned slot)
{
    unsigned n = 0;
    uint32_t bit = 1u << slot;
    for (uint32_t i = 0; i < seg->hdr->gate_count; i++) {
        struct gate_sh *g = shm_gate_slot(seg, i);
        n += (atomic_fetch_and(&g->mask, ~bit) & bit) != 0;
    }
    return n;
}

struct gate_sh *gate_endpoint(const struct shm_segment *seg, uint32_t e)
{
    if (!seg->hdr || e >= seg->hdr->endpoint_count)
        return NULL;
    return shm_gate_slot(seg, e);
}

struct gate_sh *gate_node(const struct shm_segment *seg, uint32_t n)
{
    if (!seg->hdr || n >= seg->hdr->node_count)
        return NULL;
    return shm_gate_slot(seg, seg->hdr->endpoint_count + n);
}

uint32_t gate_group_count(const struct shm_segment *seg)
{
    const struct shm_header_sh *h = seg->hdr;
    uint32_t fixed = h->endpoint_count + h->node_count;
    return h->gate_count > fixed ? h->gate_count - fixed : 0;
}

struct gate_sh *gate_group(const struct shm_segment *seg, uint32_t g)
{
    if (!seg->hdr || g >= gate_group_count(seg))
        return NULL;
    return shm_gate_slot(seg, seg->hdr->endpoint_count + seg->hdr->node_count + g);
}

#define GATE_STATUS_WORDS (sizeof(((struct gate_sh *)0)->status) / sizeof(uint64_t))

void gate_status_write(struct gate_sh *g, const struct gate_status *st)
{
    seqlock_write(&g->status_seq, g->status, GATE_STATUS_WORDS, st, sizeof(*st), NULL);
}

int gate_status_read(const struct gate_sh *g, struct gate_status *out)
{
    return seqlock_read(&g->status_seq, g->status, GATE_STATUS_WORDS, out, sizeof(*out));
}

const char *gate_kind_name(uint32_t kind)
{
    return kind == GATE_ENDPOINT ? "endpoint" : kind == GATE_NODE ? "node" : "group";
}
