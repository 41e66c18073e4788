/*
 * prog.h - the lock-free progress table: one seqlock slot per item.
 *
 * Protocol (PostgreSQL's st_changecount, Linux's seqcount):
 *   writer: seq += 1 (odd), release fence, store payload words (relaxed
 *           atomics), seq += 1 (even) with release order. (An odd seq left by
 *           a writer killed mid-write is first rounded up to even.)
 *   reader: s1 = seq (acquire); if odd, retry; copy payload words (relaxed);
 *           acquire fence; s2 = seq; if s1 != s2, retry.
 * Invariants: each slot has one writer at a time (the worker holding the
 * item's claim, or the coordinator for an unclaimed item or a dead worker's
 * item), so a writer never waits. The writer builds the new value locally and
 * only copies between the two bumps: nothing between them can fail. Readers
 * never block a writer and give up after a bounded number of retries.
 * Payload words are accessed with relaxed atomics so the protocol is free of
 * data races in the C11 sense (TSan-clean).
 */
#ifndef AGENTOS_SHM_PROG_H
#define AGENTOS_SHM_PROG_H

#include <stdint.h>

#include "shm/shm_layout.h"

#define PROG_READ_RETRIES 1000

/* Publish item as the slot's new payload. Never blocks, never fails. */
void prog_write(struct prog_slot_sh *slot, const struct prog_item *item);

/*
 * Copy a consistent payload into out. Returns 0, or -EAGAIN when every one of
 * PROG_READ_RETRIES attempts raced with a writer. Works on a read-only mapping.
 */
int prog_read(const struct prog_slot_sh *slot, struct prog_item *out);

/*
 * Try to take item slot for worker pid: one CAS of the claim word from FREE to
 * (pid, TAKEN). Returns 1 if taken, 0 if not free.
 */
int prog_claim(struct prog_slot_sh *slot, int32_t pid);

/*
 * Move an unowned claim (pid 0) from one state to another in one CAS, e.g. a
 * free item to done when the run stops taking items, without racing a worker
 * that takes it at the same instant. 1 if moved, 0 if the claim was not `from`.
 */
int prog_claim_move(struct prog_slot_sh *slot, uint32_t from, uint32_t to);

/* Set the claim word (coordinator: requeue a dead worker's item, mark done). */
void prog_set_claim(struct prog_slot_sh *slot, uint32_t claim, int32_t pid);

/* The claim word (acquire order); split it with prog_claim_state / prog_claim_pid. */
uint64_t prog_claim_load(const struct prog_slot_sh *slot);

static inline uint32_t prog_claim_state(uint64_t word)
{
    return (uint32_t)(word & 0xffffffffu);
}

static inline int32_t prog_claim_pid(uint64_t word)
{
    return (int32_t)(uint32_t)(word >> 32);
}

/* Human name of a prog_state ("pending", "running", "waiting-key", ...). */
const char *prog_state_name(uint32_t state);

#endif
