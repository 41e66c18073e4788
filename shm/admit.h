/*
 * admit.h - admission tickets: how many items may be in flight at once.
 *
 * The header's in_flight_mask holds one bit per worker slot: bit i set means
 * worker slot i has an item in flight. The protocol:
 *   - a worker takes its ticket (its own bit) with one CAS, and only while
 *     fewer bits than the header's `parallelism` are set; it then claims an
 *     item, runs it, and gives the ticket back when the item has ended;
 *   - the coordinator writes `parallelism` (it narrows and widens the run) and
 *     gives back the ticket of a worker it reaped, whatever instant it died at;
 *   - nobody else touches the mask.
 * Invariants: popcount(mask) <= the parallelism in force when each bit was
 * taken; a bit is set only while its worker slot's process is alive or not
 * yet reaped. One word, so no death at any instant can leak a ticket, and
 * nothing here ever blocks: a worker waiting for a ticket polls.
 */
#ifndef AGENTOS_SHM_ADMIT_H
#define AGENTOS_SHM_ADMIT_H

#include <stdint.h>

#include "shm/shm_layout.h"

/*
 * Try once to take worker slot `slot`'s ticket: 1 taken (or already held), 0
 * when the run is at its parallelism now (ask again later).
 */
int admit_try(struct shm_header_sh *h, unsigned slot);

/* Give worker slot `slot`'s ticket back (the worker, or the coordinator after reaping it). */
void admit_release(struct shm_header_sh *h, unsigned slot);

/* Items in flight now (tickets held). */
uint32_t admit_count(const struct shm_header_sh *h);

#endif
