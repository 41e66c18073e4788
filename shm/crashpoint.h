/*
 * crashpoint.h - deliberate deaths (or stops) at named points, for crash tests.
 *
 * Like SQLite's crash tests and PostgreSQL's crash-restart tests, agentos
 * proves its recovery by dying on purpose where it hurts most: holding a key,
 * inside a checkpoint transaction, between the two sequence bumps of a
 * progress-slot write. A point does nothing unless the environment asks:
 *
 *   AGENTOS_CRASH_POINT=<name>   the point at which to die (SIGKILL to self)
 *   AGENTOS_CRASH_SIGNAL=STOP    stop there instead (SIGSTOP to self): the
 *                                process stays alive holding what it holds,
 *                                as under a debugger; KILL (the default) dies.
 *                                Any other value arms no point.
 *   AGENTOS_CRASH_FLAG=<path>    die only if this file can be created (O_EXCL):
 *                                exactly once per run across all processes;
 *                                unset = die every time the point is reached
 *
 * Names: http_request (a key is reserved, before the request is sent),
 * ckpt_txn (inside the node's checkpoint transaction, before COMMIT),
 * prog_write (between the seqlock's odd and even bumps), node_done (a node
 * finished, before its checkpoint), item_done (the result is written and the
 * checkpoint deleted, but the item is not yet marked done), admitted (an
 * admission ticket is held, no item claimed yet), item_released (the item is
 * marked done, the ticket not yet given back), cred_locked (a worker holds a
 * key slot's robust mutex while taking a reservation: with
 * AGENTOS_CRASH_SIGNAL=STOP, the stopped worker a coordinator must never wait
 * for; with KILL, the EOWNERDEAD repair).
 * The check costs one load of a cached flag when no point is set.
 */
#ifndef AGENTOS_SHM_CRASHPOINT_H
#define AGENTOS_SHM_CRASHPOINT_H

/*
 * Arm the points in this process. Only workers arm them: the test is about a
 * worker's death, and the coordinator passes some of the same points.
 */
void crash_point_arm(void);

/* Die (or stop) here if armed and AGENTOS_CRASH_POINT names this point (see above). */
void crash_point(const char *name);

/* The signal AGENTOS_CRASH_SIGNAL names: SIGKILL for NULL, "" or KILL, SIGSTOP for STOP, else -1.
 */
int crash_signal_of(const char *name);

#endif
