/*
 * crashpoint.c - deliberate deaths at named points, for crash tests (see crashpoint.h).
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

void crash_point_arm(void)
{
    atomic_store_explicit(&crash_state, 0, memory_order_relaxed);
}

void crash_point(const char *name)
{
    int st = atomic_load_explicit(&crash_state, memory_order_relaxed);
    if (st == 1)
        return;
    if (st == 0) {
        crash_name = getenv("AGENTOS_CRASH_POINT");
        st = crash_name && *crash_name ? 2 : 1;
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
            return; /* somebody already died here in this run */
        close(fd);
    }
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}
