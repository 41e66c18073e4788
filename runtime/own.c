/*
 * own.c - item ownership between runs on one workspace: the lock file
 * protocol (take, release, probe; see own.h for its invariants) and what the
 * plan does with it: leave the items another live run holds to that run, and
 * say so in one line.
 */
/* F_OFD_SETLK, F_OFD_GETLK need _GNU_SOURCE (the Makefile defines it) */
#include "runtime/own.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/ckpt.h"
#include "shm/util.h"

/* Opens of a path whose file was released and unlinked under us, before giving up. */
#define OWN_REOPEN_MAX 16

int own_lock_path(const struct run_ctx *rc, const struct item *it, char *out, size_t outlen)
{
    char ckpt[PATH_MAX];
    int r = run_ckpt_path(rc, it, ckpt, sizeof(ckpt));
    return r < 0 ? r : util_pathf(out, outlen, "%s.lock", ckpt);
}

/* The run id written in the lock file: printable characters only, "" if none. */
static void read_owner(int fd, char *owner, size_t len)
{
    if (!owner || !len)
        return;
    owner[0] = '\0';
    char buf[SHM_RUN_ID_MAX];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] < '!' || buf[i] > '~') {
            buf[i] = '\0';
            break;
        }
    util_strlcpy(owner, buf, len);
}

static int lock_whole(int fd, short type, int cmd)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl)); /* l_pid must be 0 for OFD locks */
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return fcntl(fd, cmd, &fl) == 0 ? 0 : -errno;
}

/* Does path still name the file open as fd? 1 yes, 0 no (released and unlinked). */
static int still_named(int fd, const char *path)
{
    struct stat a, b;
    if (fstat(fd, &a) != 0 || stat(path, &b) != 0)
        return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void write_owner(int fd, const char *run_id)
{
    size_t n = strlen(run_id);
    if (!n)
        return;
    /* Write, then cut: a reader never sees the file empty, at worst a mix of two ids. */
    if (pwrite(fd, run_id, n, 0) == (ssize_t)n)
        (void)!ftruncate(fd, (off_t)n);
}

int own_take(const char *path, const char *run_id, int *fd, char *owner, size_t ownerlen)
{
    *fd = -1;
    if (owner && ownerlen)
        owner[0] = '\0';
    for (int tries = 0; tries < OWN_REOPEN_MAX; tries++) {
        int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (f < 0)
            return -errno;
        int r = lock_whole(f, F_WRLCK, F_OFD_SETLK);
        if (r == -EAGAIN || r == -EACCES) {
            read_owner(f, owner, ownerlen);
            close(f);
            return -EWOULDBLOCK;
        }
        if (r < 0) {
            close(f);
            return r;
        }
        if (still_named(f, path)) {
            write_owner(f, run_id);
            *fd = f;
            return 0;
        }
        close(f); /* we locked a file its owner had just released and unlinked */
    }
    return -EAGAIN;
}

void own_release(const char *path, int fd)
{
    if (fd < 0)
        return;
    unlink(path); /* while held: see the protocol in own.h */
    close(fd);
}

int own_probe(const char *path, char *owner, size_t ownerlen)
{
    if (owner && ownerlen)
        owner[0] = '\0';
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0)
        return errno == ENOENT ? 0 : -errno;
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    int r = fcntl(f, F_OFD_GETLK, &fl) == 0 ? (fl.l_type != F_UNLCK) : -errno;
    if (r == 1)
        read_owner(f, owner, ownerlen);
    close(f);
    return r;
}

int own_remove_checkpoint(const char *ckpt_path)
{
    char lock[PATH_MAX];
    if (util_pathf(lock, sizeof(lock), "%s.lock", ckpt_path) < 0)
        return -ENAMETOOLONG;
    if (access(ckpt_path, F_OK) != 0 && access(lock, F_OK) != 0)
        return 0; /* the common case: nothing on disk, nothing to lock */
    int fd;
    int r = own_take(lock, "", &fd, NULL, 0);
    if (r < 0)
        return r;
    ckpt_remove(ckpt_path);
    own_release(lock, fd);
    return 0;
}

/* ---- the plan: leave held items to their owners ------------------------ */

#define OWN_NAMED_MAX 3 /* owners named in the console line; more are "other runs" */

struct own_tally {
    char run[OWN_NAMED_MAX][SHM_RUN_ID_MAX];
    size_t count[OWN_NAMED_MAX];
    size_t named;   /* distinct owners in run[] */
    size_t unnamed; /* held items whose owner is not in run[] */
    size_t held;
    size_t dependents;
};

static void tally_owner(struct own_tally *t, const char *owner)
{
    t->held++;
    for (size_t i = 0; owner[0] && i < t->named; i++)
        if (!strcmp(t->run[i], owner)) {
            t->count[i]++;
            return;
        }
    if (owner[0] && t->named < OWN_NAMED_MAX) {
        util_strlcpy(t->run[t->named], owner, sizeof(t->run[0]));
        t->count[t->named++] = 1;
        return;
    }
    t->unnamed++;
}

/* "run R", "runs R1 (3) and R2 (1)", "another run", "run R (3) and other runs (1)". */
static void owners_text(const struct own_tally *t, char *out, size_t len)
{
    size_t used = 0, parts = t->named + (t->unnamed ? 1 : 0);
    out[0] = '\0';
    if (parts == 1) {
        if (t->named)
            util_errf(out, len, "run %s", t->run[0]);
        else
            util_strlcpy(out, "another run", len);
        return;
    }
    for (size_t i = 0; i < parts; i++) {
        const char *sep = i == 0 ? "runs " : i + 1 == parts ? " and " : ", ";
        if (i < t->named)
            util_errf(out + used, len - used, "%s%s (%zu)", sep, t->run[i], t->count[i]);
        else
            util_errf(out + used, len - used, "%sother runs (%zu)", i == 0 ? "" : " and ",
                      t->unnamed);
        used = strlen(out);
    }
}

static void say_left(const struct run_ctx *rc, const struct own_tally *t, size_t kept)
{
    const char *noun = rc->wf->noun;
    char who[4 * SHM_RUN_ID_MAX + 64], deps[96] = "";
    owners_text(t, who, sizeof(who));
    if (t->dependents)
        util_errf(deps, sizeof(deps), " (and %zu that depend on %s)", t->dependents,
                  t->held == 1 ? "it" : "them");
    const char *s = t->held == 1 ? "" : "s", *verb = t->held == 1 ? "is" : "are";
    if (kept)
        printf("[COORDINATOR] %zu %s%s %s being processed by %s%s; taking the other %zu\n", t->held,
               noun, s, verb, who, deps, kept);
    else
        printf("[COORDINATOR] Nothing to take: %s%zu %s%s %s being processed by %s%s\n",
               t->dependents || t->held == 1 ? "" : "all ", t->held, noun, s, verb, who, deps);
    fflush(stdout); /* before the coordinator's own (unbuffered) console output */
}

int own_leave_held(struct run_ctx *rc)
{
    size_t n = rc->plan.items.n;
    char *left = calloc(n + 1, 1); /* per item index: left to another run */
    if (!left)
        return -ENOMEM;
    struct own_tally t;
    memset(&t, 0, sizeof(t));
    size_t kept = 0;
    for (size_t k = 0; k < rc->nsel; k++) { /* wave order: dependencies come first */
        size_t i = rc->sel[k];
        const struct item *it = &rc->plan.items.v[i];
        char path[PATH_MAX], owner[SHM_RUN_ID_MAX];
        for (size_t d = 0; d < it->ndeps && !left[i]; d++)
            if (left[it->deps[d]]) {
                left[i] = 1;
                t.dependents++;
            }
        if (!left[i] && !it->invalid_name && own_lock_path(rc, it, path, sizeof(path)) == 0 &&
            own_probe(path, owner, sizeof(owner)) == 1) {
            left[i] = 1;
            tally_owner(&t, owner);
        }
        if (left[i]) {
            rc->slot_of[i] = -1;
            continue;
        }
        rc->slot_of[i] = (long)kept;
        rc->sel[kept++] = i;
    }
    free(left);
    if (t.held)
        say_left(rc, &t, kept);
    rc->nsel = kept;
    return 0;
}
