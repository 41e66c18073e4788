/*
 * worker_private.h - what the two files of a worker process share (private to
 * runtime/worker*.c): worker.c is the process (signals, admission, claim, the
 * LLM client, its loop); worker_item.c runs one claimed item to its end. The
 * worker's public entry points are in runtime/run.h (wrk_main,
 * wrk_outcome_state, wrk_result_state).
 */
#ifndef AGENTOS_RUNTIME_WORKER_PRIVATE_H
#define AGENTOS_RUNTIME_WORKER_PRIVATE_H

#include <signal.h>

#include "llm/llm.h"
#include "runtime/log.h"
#include "runtime/run.h"
#include "shm/shm_layout.h"

/*
 * 1 once SIGTERM arrived (worker.c's handler sets it and does nothing else).
 * Read at every safe point and handed to every bounded wait of the item's run.
 */
extern volatile sig_atomic_t wrk_stop;

/*
 * The LLM client's on_wait hook; arg is the item's working set, which
 * wrk_run_one puts in llm->on_wait_arg: a wait for a key shows in the item's
 * progress slot.
 */
void wrk_on_wait(void *arg, int waiting);

/*
 * Run item idx, claimed by this worker (slot `worker`, its segment slot me),
 * to its end: own it, process it, publish its outcome in its progress slot,
 * mark its claim done. Nothing to return: the outcome is in the slot.
 */
void wrk_run_one(struct run_ctx *rc, unsigned worker, struct shm_worker_sh *me,
                 struct log_sink *log, struct llm_client *llm, int idx);

#endif
