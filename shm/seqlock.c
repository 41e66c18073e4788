/*
 * seqlock.c - the seqlock protocol (see seqlock.h).
 *
 * It follows Boehm's "Can seqlocks get along with programming language memory
 * models?" (MSPC 2012): the payload is copied as 64-bit words with relaxed
 * atomic accesses, so a reader racing a writer reads a torn copy but never has
 * a data race; the sequence counter and two fences tell it to throw the copy
 * away. The writer:
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
 * If s1 == s2 and even, no write overlapped the copy.
 */
#include "shm/seqlock.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "shm/crashpoint.h"

#define SEQLOCK_MAX_WORDS 64

void seqlock_write(_Atomic uint32_t *seq, uint64_t *words, size_t nwords, const void *src,
                   size_t len, const char *crash_at)
{
    uint64_t local[SEQLOCK_MAX_WORDS];
    uint32_t s;

    /* Build the new value before the odd count: nothing below can fail. */
    if (nwords > SEQLOCK_MAX_WORDS)
        nwords = SEQLOCK_MAX_WORDS;
    if (len > nwords * sizeof(uint64_t))
        len = nwords * sizeof(uint64_t);
    memset(local, 0, nwords * sizeof(uint64_t));
    memcpy(local, src, len);

    /*
     * An odd count here means the previous writer was killed between its
     * bumps (the coordinator is now writing a dead worker's slot): round up
     * to even so this write's bumps still go odd, then even.
     */
    s = (atomic_load_explicit(seq, memory_order_relaxed) + 1u) & ~1u;
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 0; i < nwords; i++) {
        if (crash_at && i == nwords / 2)
            crash_point(crash_at); /* crash tests: die with the payload half written */
        __atomic_store_n(&words[i], local[i], __ATOMIC_RELAXED);
    }
    atomic_store_explicit(seq, s + 2, memory_order_release);
}

/* Let the writer run: a pause on x86, and now and then give up the CPU. */
static void seqlock_relax(unsigned attempt)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (attempt % 64 == 63)
        sched_yield();
}

int seqlock_read(const _Atomic uint32_t *seq, const uint64_t *words, size_t nwords, void *out,
                 size_t len)
{
    uint64_t local[SEQLOCK_MAX_WORDS];

    if (nwords > SEQLOCK_MAX_WORDS)
        nwords = SEQLOCK_MAX_WORDS;
    if (len > nwords * sizeof(uint64_t))
        len = nwords * sizeof(uint64_t);
    for (unsigned attempt = 0; attempt < SEQLOCK_READ_RETRIES; attempt++) {
        uint32_t s1 = atomic_load_explicit(seq, memory_order_acquire);
        uint32_t s2;

        if (s1 & 1u) {
            seqlock_relax(attempt);
            continue;
        }
        for (size_t i = 0; i < nwords; i++)
            local[i] = __atomic_load_n(&words[i], __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(seq, memory_order_relaxed);
        if (s1 == s2) {
            memcpy(out, local, len);
            return 0;
        }
        seqlock_relax(attempt);
    }
    return -EAGAIN;
}
