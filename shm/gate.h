/*
 * gate.h - concurrency limits shared by every worker of a run: requests in
 * flight to a provider endpoint (the adaptive limit, SPEC 12), items in a
 * workflow node (the run file's max_concurrent), items of a group running at
 * once (a workstream's step_groups). One struct gate_sh each, in the segment.
 *
 * The protocol is the admission ticket's (shm/admit.h), one gate at a time:
 *   - a worker takes a place with one CAS on the gate's mask, setting its own
 *     worker slot's bit, and only while fewer bits than `limit` are set (0 =
 *     no limit) and, for a gate with a timeout, before its deadline; the first
 *     place ever taken sets the deadline (first start + timeout_ns) with a CAS;
 *   - it gives the place back with one atomic AND when the request, node or
 *     item has ended;
 *   - the coordinator writes `limit` (the adaptive limiter's decision) and
 *     clears a reaped worker's bit in every gate (gate_release_dead), at
 *     whatever instant that worker died.
 * Invariants: a bit is set only while its worker slot's process is alive or
 * not yet reaped; popcount(mask) <= the limit in force when each bit was set
 * (a lowered limit is reached as places come back, never by taking one
 * away). One word per gate, so no death at any instant can leak a place,
 * and nothing here blocks: a worker that finds a gate full polls.
 *
 * A worker holds at most one place of a gate at a time (it runs one item and
 * sends one request at a time); gate_try on a gate it already holds says so.
 */
#ifndef AGENTOS_SHM_GATE_H
#define AGENTOS_SHM_GATE_H

#include <stdint.h>

#include "shm/segment.h"

/* Result of gate_try. */
enum gate_take {
    GATE_FULL = 0,    /* every place is held: ask again later */
    GATE_TAKEN = 1,   /* the place is ours (or already was) */
    GATE_EXPIRED = 2, /* past its deadline: no place will ever be given again */
};

/*
 * Try once to take a place of g for worker slot `slot` (< 32) at now_ns
 * (CLOCK_MONOTONIC). NULL g (no such gate) is always GATE_TAKEN.
 */
enum gate_take gate_try(struct gate_sh *g, unsigned slot, int64_t now_ns);

/* Give worker slot `slot`'s place of g back (nothing if it held none; NULL g: nothing). */
void gate_release(struct gate_sh *g, unsigned slot);

/* Places held now. */
uint32_t gate_held(const struct gate_sh *g);

/* 1 if g has a deadline and now_ns is past it. */
int gate_expired(const struct gate_sh *g, int64_t now_ns);

/*
 * Coordinator, after reaping the worker in slot `slot`: give back every place
 * it held, in every gate. Returns how many it held.
 */
unsigned gate_release_dead(const struct shm_segment *seg, unsigned slot);

/* The gate of endpoint e, node n, group g; NULL when the segment has none. */
struct gate_sh *gate_endpoint(const struct shm_segment *seg, uint32_t e);
struct gate_sh *gate_node(const struct shm_segment *seg, uint32_t n);
struct gate_sh *gate_group(const struct shm_segment *seg, uint32_t g);

/* Groups in the segment (gates past the endpoint and node ones). */
uint32_t gate_group_count(const struct shm_segment *seg);

/* The coordinator publishes an endpoint gate's limiter status (seqlock; one writer). */
void gate_status_write(struct gate_sh *g, const struct gate_status *st);

/* Lock-free copy of the status. 0, or -EAGAIN (raced every retry). */
int gate_status_read(const struct gate_sh *g, struct gate_status *out);

/* "endpoint", "node" or "group". */
const char *gate_kind_name(uint32_t kind);

#endif
