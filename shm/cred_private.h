/*
 * cred_private.h - what the credential-slot files share among themselves
 * (shm/cred_slot.c, shm/cred_judge.c, shm/cred.c); nothing else includes it.
 * The public API and the protocol's invariants are shm/cred.h.
 */
#ifndef AGENTOS_SHM_CRED_PRIVATE_H
#define AGENTOS_SHM_CRED_PRIVATE_H

#include <stdint.h>

#include "shm/cred.h"
#include "shm/gate.h"
#include "shm/util.h"

#define CRED_ROLE_ALL (CRED_ROLE_DRAFT | CRED_ROLE_REVIEW)
/* When every key is merely busy, nothing tells us when one frees up: poll. */
#define CRED_BUSY_POLL_NS (10 * UTIL_NS_PER_MS)

/* What one slot looks like to a reserver of some role, now. */
struct cred_judge {
    int of_role;          /* has the role and is not disabled */
    int eligible;         /* may be reserved right now */
    uint32_t ready_slots; /* request slots if not rate-limited */
    int64_t ready_at;     /* when it may become eligible (if not now) */
    uint32_t in_use;
    uint64_t requests;
};

/* The rpm bucket's capacity: one second's budget, at least one token (cred_slot.c). */
double cred_capacity(uint32_t rpm);

/* The pace the key keeps: its configured rpm, else what its provider announced. */
uint32_t cred_rpm(const struct cred_slot_sh *slot);

/* The token budget the key keeps, the same way. */
uint32_t cred_tpm(const struct cred_slot_sh *slot);

/* The larger of a and b. */
int64_t cred_max64(int64_t a, int64_t b);

/* 1 if pid names a process that no longer exists. */
int cred_pid_gone(int32_t pid);

/* Set the state that follows from the counters (disabled and rate-limited stay). */
void cred_settle_locked(struct cred_slot_sh *slot);

/* Recount in_use from holders[], then settle the state. */
void cred_recount_locked(struct cred_slot_sh *slot);

/* Refill the key's rpm and tpm buckets up to now_ns. */
void cred_refill_locked(struct cred_slot_sh *slot, int64_t now_ns);

/* The key's endpoint gate when the asker takes places at it, else NULL (cred_judge.c). */
struct gate_sh *cred_gate(const struct shm_segment *seg, const struct cred_slot_sh *slot,
                          const struct cred_ask *a);

/* Judge the slot for asker a at now_ns into v (ends an expired rate limit, refills). */
void cred_judge_locked(const struct shm_segment *seg, struct cred_slot_sh *slot,
                       const struct cred_ask *a, int64_t now_ns, struct cred_judge *v);

#endif
