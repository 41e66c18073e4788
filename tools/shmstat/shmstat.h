/*
 * shmstat.h - what agentos-shmstat's main (tools/agentos-shmstat.c) shares with
 * the files of tools/shmstat/ that follow a run; private to that tool.
 *
 * A --watch or --listen follows its run until a signal sets shmstat_stop or
 * shmstat_ended says the run is over (stop.c); listen.c is --listen. The unit
 * tests link every file of tools/shmstat/ without main, so nothing here may need
 * a symbol of tools/agentos-shmstat.c: what both sides use is defined here or in
 * tools/shmstat/.
 */
#ifndef AGENTOS_TOOLS_SHMSTAT_SHMSTAT_H
#define AGENTOS_TOOLS_SHMSTAT_SHMSTAT_H

#include <signal.h>
#include <stdio.h>

#include "shm/segment.h"
#include "shm/snapshot.h"

#define PROG "agentos-shmstat"

/* Set by SIGINT, SIGTERM and SIGHUP (the handler does nothing else). */
extern volatile sig_atomic_t shmstat_stop;

/* Install the stop handler (no SA_RESTART: a nap must wake) and ignore SIGPIPE. */
void shmstat_signals(void);

/* Sleep up to s seconds, waking early on a signal. */
void shmstat_nap(double s);

/* The run's segment name no longer exists (the coordinator unlinked it). */
int shmstat_gone(const char *name);

/* Why a watched or served run is over, or NULL while it lasts. */
const char *shmstat_ended(const struct shm_segment *seg, const struct snap *s);

/*
 * Serve GET /metrics and GET /healthz of seg on spec ("HOST:PORT", "[v6]:PORT"
 * or ":PORT") until the run is over or a signal stops it (listen.c). 0; 1 when
 * it could not listen; 2 when spec is not an address (after a message).
 */
int shmstat_listen(const struct shm_segment *seg, const char *spec);

/*
 * Print "agentos-shmstat: msg "arg" (see --help)" and return 2 (the usage exit
 * status). Inline: the option parser and listen.c both print it.
 */
static inline int shmstat_usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s%s (see --help)\n", msg, arg ? " \"" : "", arg ? arg : "",
            arg ? "\"" : "");
    return 2;
}

#endif
