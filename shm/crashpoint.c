/*
 * crashpoint.c - deliberate deaths (or stops) at named points, for crash tests
 * (see crashpoint.h).
 */
#include "shm/crashpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 0 = not armed / not read yet, 1 = no point set, 2 = a point is set. */
static _Atomic int crash_state = 1;
static const char *crash_name;
static int crash_signal = SIGKILL;

void crash_point_arm(void)
{
    atomic_store_explicit(&crash_state, 0, memory_order_relaxed);
}

int crash_signal_of(const char *name)
{
    if (!name || !*name || !strcmp(name, "KILL") || !strcmp(name, "SIGKILL"))
        return SIGKILL;
    if (!strcmp(name, "STOP") || !strcmp(name, "SIGSTOP"))
        return SIGSTOP;
    return -1;
}

/* Read the environment once per process: 1 when a point is set, 0 when none. */
static int crash_read_env(void)
{
    crash_name = getenv("AGENTOS_CRASH_POINT");
    if (!crash_name || !*crash_name)
        return 0;
    crash_signal = crash_signal_of(getenv("AGENTOS_CRASH_SIGNAL"));
    return crash_signal > 0; /* an unknown signal name arms nothing: a test typo must not kill */
}

void crash_point(const char *name)
{
    int st = atomic_load_explicit(&crash_state, memory_order_relaxed);
    if (st == 1)
        return;
    if (st == 0) {
        st = crash_read_env() ? 2 : 1;
        atomic_store_explicit(&crash_state, st, memory_order_relaxed);
        if (st == 1)
            return;
    }
    if (strcmp(crash_name, name) != 0)
        return;
    const char *flag = getenv("AGENTOS_CRASH_FLAG");
    if (flag && *flag) {
        int fd = open(flag, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return; /* somebody already stopped here in this run */
        close(fd);
    }
    kill(getpid(), crash_signal);
    if (crash_signal == SIGSTOP)
        return; /* continued (SIGCONT): go on holding whatever was held */
    for (;;)
        pause();
}
