/*
 * guard.h - a snapshot that survives the segment shrinking under it.
 *
 * The inspector maps a segment another process owns. If that file is
 * truncated while it is mapped (a hostile user, a buggy tool, a tmpfs
 * quota), a read past the new end raises SIGBUS, which would kill the
 * inspector in the middle of a --watch. guard_snap_take checks the
 * segment's size before the copy (fstat of the name) and catches a SIGBUS
 * raised during the copy itself (sigsetjmp), so the caller gets -EFAULT and
 * says why, instead of dying.
 */
#ifndef AGENTOS_TOOLS_SHMSTAT_GUARD_H
#define AGENTOS_TOOLS_SHMSTAT_GUARD_H

#include "shm/segment.h"
#include "shm/snapshot.h"

/* Install the SIGBUS handler (once per process, before any guard_snap_take). */
void guard_install(void);

/*
 * snap_take(seg, s), guarded: 0; -ENOMEM; or -EFAULT when the segment is
 * shorter than the mapping (its name now names a smaller file) or a SIGBUS
 * hit the copy (*s is then empty, nothing to free). Thread-safe: each thread
 * has its own jump target (a SIGBUS is delivered to the thread that faulted).
 */
int guard_snap_take(const struct shm_segment *seg, struct snap *s);

/* The header's run_state, guarded the same way: 0 and *state, or -EFAULT. */
int guard_run_state(const struct shm_segment *seg, uint32_t *state);

#endif
