/*
 * seqlock.h - one writer, any number of lock-free readers, for plain data in
 * the shared segment (the progress slots, the published view of a key slot).
 *
 * Protocol (PostgreSQL's st_changecount, Linux's seqcount):
 *   writer: seq += 1 (odd), release fence, store payload words (relaxed
 *           atomics), seq += 1 (even) with release order. (An odd seq left by
 *           a writer killed mid-write is first rounded up to even.)
 *   reader: s1 = seq (acquire); if odd, retry; copy payload words (relaxed);
 *           acquire fence; s2 = seq; if s1 != s2, retry.
 * Invariants: a payload has one writer at a time (the caller guarantees it:
 * the owner of a progress slot's claim, or the holder of a key slot's mutex),
 * so a writer never waits. The writer builds the new value locally and only
 * copies between the two bumps: nothing between them can fail. Readers never
 * block a writer, work on a read-only mapping, and give up after
 * SEQLOCK_READ_RETRIES attempts. Payload words are accessed with relaxed
 * atomics so the protocol is free of data races in the C11 sense (TSan-clean).
 */
#ifndef AGENTOS_SHM_SEQLOCK_H
#define AGENTOS_SHM_SEQLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SEQLOCK_READ_RETRIES 1000

/*
 * Publish src[0..len) as the payload words[0..nwords) (len <= 8 * nwords; the
 * rest is zeroed). crash_at names a crash point hit half-way through the
 * copy (crash tests), or NULL. Never blocks, never fails.
 */
void seqlock_write(_Atomic uint32_t *seq, uint64_t *words, size_t nwords, const void *src,
                   size_t len, const char *crash_at);

/* Copy a consistent payload into out[0..len). 0, or -EAGAIN when every attempt raced. */
int seqlock_read(const _Atomic uint32_t *seq, const uint64_t *words, size_t nwords, void *out,
                 size_t len);

#endif
