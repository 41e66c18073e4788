/*
 * metrics_private.h - what metrics.c (the JSON document and the shared
 * formatting helpers) and metrics_prom.c (the Prometheus exposition) share
 * beyond metrics.h; private to tools/shmstat/metrics*.c. Both are defined in
 * metrics.c.
 */
#ifndef AGENTOS_TOOLS_SHMSTAT_METRICS_PRIVATE_H
#define AGENTOS_TOOLS_SHMSTAT_METRICS_PRIVATE_H

#include <stdint.h>

#include "shm/shm_layout.h"

/*
 * Upper bounds in ms of the latency histograms' buckets but the last (+Inf),
 * as shm/shm_layout.h defines them: "histogram_bounds_ms" of the JSON, the
 * le= labels of the exposition.
 */
extern const uint64_t metrics_bounds_ms[SHM_HIST_BUCKETS - 1];

/* "shutting down" -> "shutting_down": the machine form of a run state. */
const char *metrics_run_state_key(uint32_t st);

#endif
