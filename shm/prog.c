/*
 * prog.c - the lock-free progress table: seqlock writes and reads of one
 * item's slot, and the claim word workers take items with.
 *
 * The seqlock follows Boehm's "Can seqlocks get along with programming
 * language memory models?" (MSPC 2012): the payload is copied as 64-bit words
 * with relaxed atomic accesses, so a reader racing a writer reads a torn copy
 * but never has a data race; the sequence counter and two fences tell it to
 * throw the copy away. The writer:
 *
 *     s = seq (rounded up to even);  seq = s + 1 (relaxed);  release fence;
 *     store words (relaxed);  seq = s + 2 (release)
 *
 * The release fence keeps the word stores from becoming visible before the
 * odd count; the release store of the even count keeps them from becoming
 * visible after it. The reader mirrors it:
 *
 *     s1 = seq (acquire);  odd -> retry;  load words (relaxed);
 *     acquire fence;  s2 = seq (relaxed);  s1 != s2 -> retry
 *
 * If s1 == s2 and even, no write overlapped the copy. Each slot has a single
 * writer at a time (see prog.h), so the writer never waits and never fails.
 */
#include "shm/prog.h"
#include "shm/crashpoint.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#define PROG_WORDS (sizeof(((struct prog_slot_sh *)0)->data) / sizeof(uint64_t))

void prog_write(struct prog_slot_sh *slot, const struct prog_item *item)
{
    uint64_t words[PROG_WORDS];
    uint32_t s;

    /* Build the new value before the odd count: nothing below can fail. */
    memset(words, 0, sizeof(words));
    memcpy(words, item, sizeof(*item));

    /*
     * An odd count here means the previous writer was killed between its
     * bumps (the coordinator is now writing a dead worker's slot): round up
     * to even so this write's bumps still go odd, then even.
     */
    s = (atomic_load_explicit(&slot->seq, memory_order_relaxed) + 1u) & ~1u;
    atomic_store_explicit(&slot->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < PROG_WORDS; i++) {
        if (i == PROG_WORDS / 2)
            crash_point("prog_write"); /* crash tests: die with the slot half written */
        __atomic_store_n(&slot->data[i], words[i], __ATOMIC_RELAXED);
    }
    atomic_store_explicit(&slot->seq, s + 2, memory_order_release);
}

/* Let the writer run: a pause on x86, and now and then give up the CPU. */
static void prog_relax(unsigned attempt)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (attempt % 64 == 63)
        sched_yield();
}

int prog_read(const struct prog_slot_sh *slot, struct prog_item *out)
{
    uint64_t words[PROG_WORDS];

    for (unsigned attempt = 0; attempt < PROG_READ_RETRIES; attempt++) {
        uint32_t s1 = atomic_load_explicit(&slot->seq, memory_order_acquire);
        uint32_t s2;

        if (s1 & 1u) {
            prog_relax(attempt);
            continue;
        }
        for (size_t i = 0; i < PROG_WORDS; i++)
            words[i] = __atomic_load_n(&slot->data[i], __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&slot->seq, memory_order_relaxed);
        if (s1 == s2) {
            memcpy(out, words, sizeof(*out));
            return 0;
        }
        prog_relax(attempt);
    }
    return -EAGAIN;
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

const char *prog_state_name(uint32_t state)
{
    static const char *const names[] = {
        [PROG_PENDING] = "pending",
        [PROG_RUNNING] = "running",
        [PROG_WAITING_KEY] = "waiting-key",
        [PROG_APPROVED] = "approved",
        [PROG_NEEDS_REVISION] = "needs-revision",
        [PROG_FAILED] = "failed",
        [PROG_INTERRUPTED] = "interrupted",
        [PROG_PASSED] = "passed",
        [PROG_SKIPPED] = "skipped",
    };

    if (state >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[state];
}
