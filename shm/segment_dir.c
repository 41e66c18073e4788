/*
 * segment_dir.c - the directory of segments: list the runs' segments in
 * /dev/shm and remove the stale ones.
 *
 * Anyone may create /dev/shm/agentos-<x>, so an entry is trusted only after
 * fstatat (without following links) shows a regular file of this user; other
 * entries are reported as foreign and never opened, mapped or removed (opening
 * a FIFO would block). One of ours is mapped read-only, header only, to read
 * the magic, layout version and creator pid. A segment is stale when its
 * creator is gone (a coordinator killed with -9 leaves one behind), or when it
 * never got its magic and is older than a grace period (a creator between
 * shm_open and publishing is not); a segment of another layout version is
 * never stale. Creating, attaching and unlinking one segment is segment.c.
 */
#include "shm/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm/util.h"

#define SHM_DEV_DIR "/dev/shm"
/* A segment without magic younger than this may still be being created. */
#define SHM_STALE_GRACE_S 10

/* The creator is gone: kill(pid, 0) says no such process (EPERM = alive). */
static int shm_pid_gone(int32_t pid)
{
    if (pid <= 0)
        return 1; /* kill(0 or -n, ...) would address process groups */
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * Is /dev/shm/<bare> a segment this user could have made: a regular file
 * (not a FIFO, folder, link or device) owned by us? Judged with
 * fstatat(AT_SYMLINK_NOFOLLOW), so nothing is opened: anyone may create
 * /dev/shm/agentos-x, and opening a FIFO blocks until a writer comes. 0, or
 * -EPERM with why naming what it is instead.
 */
static int shm_entry_ours(int dirfd, const char *bare, char *why, size_t whylen)
{
    struct stat st;

    if (fstatat(dirfd, bare, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -errno;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s", util_mode_kind(st.st_mode));
        return -EPERM;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, whylen, "owned by uid %u", (unsigned)st.st_uid);
        return -EPERM;
    }
    return 0;
}

/*
 * Judge one of our /dev/shm entries without trusting it: map it read-only,
 * read the magic, version and creator pid. O_NONBLOCK and the type check
 * after open cover an entry swapped for a FIFO since shm_entry_ours looked.
 * A segment of another layout version is never called stale (this build
 * cannot read its creator pid).
 */
static void shm_probe(int dirfd, const char *bare, int32_t *creator_pid, int *stale)
{
    struct stat st;
    const struct shm_header_sh *h;
    void *base;
    int fd;

    *creator_pid = 0;
    *stale = 0;
    fd = openat(dirfd, bare, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return;
    }
    base = MAP_FAILED;
    if ((size_t)st.st_size >= SHM_HEADER_SIZE)
        base = mmap(NULL, SHM_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    h = base;
    if (base == MAP_FAILED || atomic_load_explicit(&h->magic, memory_order_acquire) != SHM_MAGIC) {
        /* No magic: garbage, or a creator between shm_open and publishing. */
        *stale = time(NULL) - st.st_mtime >= SHM_STALE_GRACE_S;
    } else if (h->layout_version == SHM_LAYOUT_VERSION) {
        *creator_pid = h->creator_pid;
        *stale = shm_pid_gone(h->creator_pid);
    }
    if (base != MAP_FAILED)
        munmap(base, SHM_HEADER_SIZE);
}

int shm_segment_scan(shm_list_fn fn, shm_foreign_fn foreign, void *arg)
{
    const char *bare = SHM_NAME_PREFIX + 1; /* "agentos-" */
    struct dirent *de;
    char name[300], why[64];
    int count = 0;
    DIR *d;

    d = opendir(SHM_DEV_DIR);
    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        int32_t pid;
        int stale;

        if (strncmp(de->d_name, bare, strlen(bare)) != 0)
            continue;
        snprintf(name, sizeof(name), "/%s", de->d_name);
        if (shm_entry_ours(dirfd(d), de->d_name, why, sizeof(why)) < 0) {
            if (foreign)
                foreign(name, why, arg);
            continue;
        }
        shm_probe(dirfd(d), de->d_name, &pid, &stale);
        if (fn)
            fn(name, pid, stale, arg);
        count++;
    }
    closedir(d);
    return count;
}

int shm_segment_list(shm_list_fn fn, void *arg)
{
    return shm_segment_scan(fn, NULL, arg);
}

struct shm_removal {
    shm_foreign_fn warn;
    void *arg;
    int removed;
};

static void shm_remove_if_stale(const char *name, int32_t creator_pid, int stale, void *arg)
{
    struct shm_removal *r = arg;

    (void)creator_pid;
    if (stale && shm_unlink(name) == 0)
        r->removed++;
}

static void shm_removal_foreign(const char *name, const char *why, void *arg)
{
    struct shm_removal *r = arg;

    if (r->warn)
        r->warn(name, why, r->arg);
}

int shm_segment_remove_stale(shm_foreign_fn warn, void *arg)
{
    struct shm_removal r = {.warn = warn, .arg = arg};
    int rc = shm_segment_scan(shm_remove_if_stale, shm_removal_foreign, &r);

    return rc < 0 ? rc : r.removed;
}
