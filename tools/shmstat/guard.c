/*
 * guard.c - a snapshot that survives the segment shrinking under it (see
 * guard.h). The handler only jumps back to the guarded copy; a SIGBUS
 * outside one is a real bug and gets the default action (a core, if
 * enabled). A snapshot interrupted by the jump may have allocated its
 * arrays: they are leaked, not freed, since the jump can land between an
 * allocation and the pointer's store; the caller stops right after.
 */
#include "tools/shmstat/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local sigjmp_buf *guard_jump;

static void guard_on_bus(int sig)
{
    if (guard_jump)
        siglongjmp(*guard_jump, 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

void guard_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = guard_on_bus;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER; /* siglongjmp leaves the handler: keep SIGBUS deliverable */
    sigaction(SIGBUS, &sa, NULL);
}

/* 1 when the segment's name now names a file shorter than our mapping. */
static int guard_shrunk(const struct shm_segment *seg)
{
    struct stat st;
    int fd = shm_open(seg->name, O_RDONLY, 0);

    if (fd < 0)
        return 0; /* unlinked: the mapping keeps the old file, whole */
    int shrunk = fstat(fd, &st) == 0 && (size_t)st.st_size < seg->size;
    close(fd);
    return shrunk;
}

int guard_snap_take(const struct shm_segment *seg, struct snap *s)
{
    sigjmp_buf jb;

    memset(s, 0, sizeof(*s));
    if (guard_shrunk(seg))
        return -EFAULT;
    if (sigsetjmp(jb, 1)) {
        guard_jump = NULL;
        snap_free(s); /* what the copy had allocated when the fault cut it short */
        memset(s, 0, sizeof(*s));
        return -EFAULT;
    }
    guard_jump = &jb;
    int rc = snap_take(seg, s);
    guard_jump = NULL;
    return rc;
}

int guard_run_state(const struct shm_segment *seg, uint32_t *state)
{
    sigjmp_buf jb;

    if (guard_shrunk(seg))
        return -EFAULT;
    if (sigsetjmp(jb, 1)) {
        guard_jump = NULL;
        return -EFAULT;
    }
    guard_jump = &jb;
    *state = atomic_load(&seg->hdr->run_state);
    guard_jump = NULL;
    return 0;
}
