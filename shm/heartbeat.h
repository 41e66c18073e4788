/*
 * heartbeat.h - a worker's sign of life, in its worker slot
 * (shm_worker_sh.heartbeat_ns), for the coordinator's watchdog.
 *
 * A worker attaches its slot once; from then on every wait that is bounded
 * and legitimate (a key's rate limit, a backoff, an HTTP transfer within its
 * time limit, an output flush behind a slow reader, a shell step within its
 * timeout) calls heartbeat() at least once a second or so. A worker whose
 * heartbeat stops while it holds an item is therefore either stopped
 * (SIGSTOP, a debugger) or stuck where nothing bounds it (an open() on a
 * FIFO, a loop), and the watchdog ends it (runtime/coord_watchdog.c).
 * In a process that attached nothing (the coordinator, tests) heartbeat()
 * does nothing.
 */
#ifndef AGENTOS_SHM_HEARTBEAT_H
#define AGENTOS_SHM_HEARTBEAT_H

#include <stdatomic.h>
#include <stdint.h>

/* Beat into slot (CLOCK_MONOTONIC ns) from now on; beats once. NULL detaches. */
void heartbeat_attach(_Atomic int64_t *slot);

/* Store the time now into the attached slot (relaxed: a display-grade clock word). */
void heartbeat(void);

#endif
