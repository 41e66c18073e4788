/*
 * heartbeat.c - a worker's sign of life (see heartbeat.h). One slot per
 * process: workers are single-threaded, and the pointer is set once at start.
 */
#include "shm/heartbeat.h"

#include <stddef.h>

#include "shm/util.h"

static _Atomic int64_t *heartbeat_slot;

void heartbeat_attach(_Atomic int64_t *slot)
{
    heartbeat_slot = slot;
    heartbeat();
}

void heartbeat(void)
{
    if (heartbeat_slot)
        atomic_store_explicit(heartbeat_slot, util_now_mono_ns(), memory_order_relaxed);
}
