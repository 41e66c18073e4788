/*
 * prog.c - the lock-free progress table: one item's slot written and read
 * through the one seqlock (shm/seqlock.c, where the protocol and its memory
 * orders are argued), the claim word workers take items with, and the names
 * of the item states. Each slot has a single writer at a time (see prog.h),
 * so the writer never waits and never fails.
 */
#include "shm/prog.h"
#include "shm/seqlock.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#define PROG_WORDS (sizeof(((struct prog_slot_sh *)0)->data) / sizeof(uint64_t))

void prog_write(struct prog_slot_sh *slot, const struct prog_item *item)
{
    seqlock_write(&slot->seq, slot->data, PROG_WORDS, item, sizeof(*item), "prog_write");
}

int prog_read(const struct prog_slot_sh *slot, struct prog_item *out)
{
    return seqlock_read(&slot->seq, slot->data, PROG_WORDS, out, sizeof(*out));
}

static uint64_t prog_claim_word(uint32_t state, int32_t pid)
{
    return ((uint64_t)(uint32_t)pid << 32) | state;
}

int prog_claim(struct prog_slot_sh *slot, int32_t pid)
{
    uint64_t expected = prog_claim_word(PROG_CLAIM_FREE, 0);

    return atomic_compare_exchange_strong_explicit(&slot->claim, &expected,
                                                   prog_claim_word(PROG_CLAIM_TAKEN, pid),
                                                   memory_order_acq_rel, memory_order_relaxed);
}

int prog_claim_move(struct prog_slot_sh *slot, uint32_t from, uint32_t to)
{
    uint64_t expected = prog_claim_word(from, 0);

    return atomic_compare_exchange_strong_explicit(&slot->claim, &expected, prog_claim_word(to, 0),
                                                   memory_order_acq_rel, memory_order_relaxed);
}

void prog_set_claim(struct prog_slot_sh *slot, uint32_t claim, int32_t pid)
{
    atomic_store_explicit(&slot->claim, prog_claim_word(claim, pid), memory_order_release);
}

uint64_t prog_claim_load(const struct prog_slot_sh *slot)
{
    return atomic_load_explicit(&((struct prog_slot_sh *)slot)->claim, memory_order_acquire);
}

/*
 * The one table of state names: the inspector, the summary, summary.json and
 * the result files' `status` all use these words.
 */
static const struct {
    const char *name;  /* "needs-revision" */
    const char *count; /* in a summary's counts: "need revision" */
} prog_names[] = {
    [PROG_PENDING] = {"pending", "not started"},
    [PROG_RUNNING] = {"running", "running"},
    [PROG_WAITING_KEY] = {"waiting-key", "waiting for a key"},
    [PROG_APPROVED] = {"approved", "approved"},
    [PROG_NEEDS_REVISION] = {"needs-revision", "need revision"},
    [PROG_FAILED] = {"failed", "failed"},
    [PROG_INTERRUPTED] = {"interrupted", "interrupted"},
    [PROG_PASSED] = {"passed", "passed"},
    [PROG_SKIPPED] = {"skipped", "skipped"},
    [PROG_OTHER_RUN] = {"other-run", "left to another run"},
};
#define PROG_NSTATES (sizeof(prog_names) / sizeof(prog_names[0]))
_Static_assert(PROG_NSTATES == PROG_STATE_COUNT, "a prog state without a name");

const char *prog_state_name(uint32_t state)
{
    return state < PROG_NSTATES ? prog_names[state].name : "unknown";
}

const char *prog_count_label(uint32_t state)
{
    return state < PROG_NSTATES ? prog_names[state].count : "unknown";
}

int prog_state_from_name(const char *name)
{
    for (uint32_t i = 0; name && i < PROG_NSTATES; i++)
        if (strcmp(prog_names[i].name, name) == 0)
            return (int)i;
    return -EINVAL;
}

uint32_t prog_outcome(uint32_t state)
{
    switch (state) {
    case PROG_RUNNING:
    case PROG_WAITING_KEY:
        return PROG_INTERRUPTED; /* never ended: the run stopped under it */
    default:
        return state < PROG_NSTATES ? state : PROG_PENDING;
    }
}
