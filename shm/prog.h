/*
 * prog.h - the lock-free progress table: one seqlock slot per item.
 *
 * Each slot's payload (struct prog_item) is a seqlock (shm/seqlock.h): the
 * one process that owns the item (the worker holding its claim, or the
 * coordinator for an unclaimed item or a dead worker's item) writes it, and
 * anyone reads it without blocking the writer. The claim word beside it is a
 * CAS word: workers take FREE items with one CAS of (pid, TAKEN), so a death
 * at any instant can never leave a claim without its owner's pid.
 */
#ifndef AGENTOS_SHM_PROG_H
#define AGENTOS_SHM_PROG_H

#include <stdint.h>

#include "shm/shm_layout.h"

/* Publish item as the slot's new payload. Never blocks, never fails. */
void prog_write(struct prog_slot_sh *slot, const struct prog_item *item);

/*
 * Copy a consistent payload into out. Returns 0, or -EAGAIN when every one of
 * SEQLOCK_READ_RETRIES attempts raced with a writer. Works on a read-only mapping.
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

/* Name of a prog_state ("pending", "running", "waiting-key", "needs-revision", ...). */
const char *prog_state_name(uint32_t state);

/* The state's word in a summary's counts ("approved", "need revision", "not started"). */
const char *prog_count_label(uint32_t state);

/* The state named `name` (prog_state_name's word), or -EINVAL. */
int prog_state_from_name(const char *name);

/* The outcome an item in `state` ended the run with: running or waiting count as interrupted. */
uint32_t prog_outcome(uint32_t state);

/* Number of prog states (for tables indexed by state). */
#define PROG_STATE_COUNT 10u

#endif
