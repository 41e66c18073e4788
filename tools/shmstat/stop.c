/*
 * stop.c - when agentos-shmstat stops following a run (--watch, --listen): a
 * SIGINT, SIGTERM or SIGHUP asked, or the run is over (its segment unlinked,
 * the run done, or its coordinator gone). The handler only sets shmstat_stop,
 * a volatile sig_atomic_t; the loops read it between naps, and a nap wakes
 * early because the handler is installed without SA_RESTART. SIGPIPE is
 * ignored, so a client or reader that went away is an error, not a death.
 */
#include "tools/shmstat/shmstat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t shmstat_stop;

static void shmstat_on_signal(int sig)
{
    (void)sig;
    shmstat_stop = 1;
}

void shmstat_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = shmstat_on_signal; /* no SA_RESTART: nanosleep must wake */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void shmstat_nap(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

    while (!shmstat_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int shmstat_gone(const char *name)
{
    int fd = shm_open(name, O_RDONLY | O_NONBLOCK, 0);

    if (fd < 0)
        return errno == ENOENT;
    close(fd);
    return 0;
}

const char *shmstat_ended(const struct shm_segment *seg, const struct snap *s)
{
    if (shmstat_gone(seg->name))
        return "has ended (its segment is gone)";
    if (s && s->run_state == SHM_RUN_DONE)
        return "is done";
    if (s && s->stale)
        return "is stale (its coordinator is gone)";
    return NULL;
}
