/*
 * own.h - which live run owns an item (SPEC 13, "one workspace, several runs").
 *
 * Two runs on the same items (two terminals, two cron jobs) must never process
 * one item at the same time, or pay for one node twice. An item is owned by
 * the run whose worker holds the lock on its lock file, the item's checkpoint
 * path plus ".lock" (own_lock_path), beside the checkpoint.
 *
 * Protocol (the invariants every function below keeps):
 *  - The lock is an exclusive open-file-description lock (fcntl F_OFD_SETLK
 *    over the whole file). The kernel drops it when its owner closes the file
 *    or dies, kill -9 included, so a dead run never stops the next one.
 *    Not flock(2): looking at a flock lock means taking it, and a look taken at
 *    the wrong instant would make a live run's worker think the item is held.
 *    F_OFD_GETLK looks without taking (own_probe), and OFD locks, unlike POSIX
 *    record locks, belong to the open file, not the process, so closing some
 *    other descriptor of the file never drops them.
 *  - Only the owner opens the item's checkpoint or deletes it; an owner writes
 *    its run id into the file so others can name it.
 *  - Release unlinks the file while still holding the lock, then closes it.
 *    So a taker whose lock succeeded checks that the path still names the file
 *    it locked; if not, that file was released and unlinked meanwhile, and it
 *    opens the path again. Two owners can never hold two files of one path.
 *  - Lock files left by a killed owner hold no lock: they stop nobody, and the
 *    next owner removes them when it releases.
 * The coordinator never holds these locks for its items: workers take the lock
 * of one item when they claim it (20,000 items are not 20,000 descriptors),
 * and the plan only probes, to say which items another run holds.
 */
#ifndef AGENTOS_RUNTIME_OWN_H
#define AGENTOS_RUNTIME_OWN_H

#include <stddef.h>

#include "runtime/run.h"

/* The lock file of item it: run_ckpt_path() + ".lock". 0 or -ENAMETOOLONG. */
int own_lock_path(const struct run_ctx *rc, const struct item *it, char *out, size_t outlen);

/*
 * Take the lock at path for run_id (written into the file; "" writes
 * nothing). 0 with *fd the held lock; -EWOULDBLOCK when a live owner holds
 * it, with its run id copied into owner ("" when it wrote none yet; owner may
 * be NULL); another -errno when the file cannot be opened or locked. Never
 * waits. The descriptor is close-on-exec, so no child keeps the lock alive.
 */
int own_take(const char *path, const char *run_id, int *fd, char *owner, size_t ownerlen);

/* Release a lock own_take gave: unlink path (while held), then close fd. */
void own_release(const char *path, int fd);

/*
 * Look without taking: 1 when a live owner holds path's lock (its run id in
 * owner, maybe ""), 0 when nobody does or there is no file; -errno when it
 * cannot be looked at. Creates nothing, so --dry-run may use it.
 */
int own_probe(const char *path, char *owner, size_t ownerlen);

/*
 * Delete checkpoint ckpt_path, and its stale lock file, only while owning the
 * item for that instant. 0 done (or nothing to do), -EWOULDBLOCK when a live
 * run holds it (nothing deleted).
 */
int own_remove_checkpoint(const char *ckpt_path);

/*
 * Plan time: drop from rc's selection every item another live run holds, and
 * every selected item that depends on one of them (it could not start before
 * that run ends), and say so on stdout ("[COORDINATOR] 4 items are being
 * processed by run R; taking the other 8", or "Nothing to take: ..." when
 * none is left). 0 (rc->nsel may now be 0) or -ENOMEM.
 */
int own_leave_held(struct run_ctx *rc);

#endif
