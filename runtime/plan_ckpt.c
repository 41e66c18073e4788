/*
 * plan_ckpt.c - the checkpoints a plan finds on disk (plan.c is the rest of
 * the plan): where an item's checkpoint is (run_ckpt_path), where it would
 * resume (--dry-run), the ones made before checkpoints were kept per
 * workspace, and the ones left behind by items that are finished.
 *
 * Invariants: a checkpoint on disk means unfinished work, so one whose item's
 * result is up to date is removed, but only while owning the item
 * (runtime/own.h). A checkpoint from before per-workspace state is taken over
 * only when it was made from the item's current input (its recorded SHA-256),
 * moved together with its rollback journal; one made from other input is
 * another project's and is never moved, reset or deleted. --dry-run only
 * peeks (runtime/ckpt.h): it moves, creates and removes nothing.
 */
#include "runtime/plan.h"
#include "runtime/plan_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/ckpt.h"
#include "runtime/own.h"
#include "shm/util.h"

int run_ckpt_path(const struct run_ctx *rc, const struct item *it, char *out, size_t outlen)
{
    if (rc->workflow_db)
        return util_pathf(out, outlen, "%s", rc->workflow_db);
    return util_pathf(out, outlen, "%s/%s_workflow_%s.db", rc->plan.ckpt_dir, rc->wf->name,
                      it->stem);
}

/*
 * Where a folder item's checkpoint lived before checkpoints were kept per
 * workspace (<home>/checkpoints/<workflow>_workflow_<stem>.db), when that
 * file was made from this very input: 0 with the path, else -ENOENT. Such a
 * checkpoint holds nothing but what that input produced, so any folder with
 * the same input may resume it; one made from other input is another
 * project's (or stale) and is left alone, never reset or deleted.
 */
static int legacy_ckpt(const struct run_ctx *rc, const struct item *it, char *out, size_t len)
{
    char sha[65];
    if (rc->wf->load || rc->workflow_db || rc->o->fresh || it->invalid_name || !it->sha256[0] ||
        util_pathf(out, len, "%s/checkpoints/%s_workflow_%s.db", rc->plan.home, rc->wf->name,
                   it->stem) < 0)
        return -ENOENT;
    return ckpt_peek_source(out, sha) == 0 && !strcmp(sha, it->sha256) ? 0 : -ENOENT;
}

void plan_resume_point(const struct run_ctx *rc, const struct item *it, char *what, size_t len)
{
    char path[PATH_MAX], next[64] = "";
    const char *note = "";
    util_strlcpy(what, "new", len);
    if (run_ckpt_path(rc, it, path, sizeof(path)) < 0)
        return;
    int r = rc->o->fresh ? -ENOENT : ckpt_peek(path, next, sizeof(next));
    if (r == -ENOENT && access(path, F_OK) != 0 && legacy_ckpt(rc, it, path, sizeof(path)) == 0) {
        r = ckpt_peek(path, next, sizeof(next));
        note = " (checkpoint from before per-workspace state)";
    }
    if (r == 0 && next[0])
        util_errf(what, len, "resume at %s%s", next, note);
    else if (r == -EBADMSG)
        util_errf(what, len, "checkpoint unreadable (%s would fail)", rc->wf->noun);
}

/* Move one file and its rollback journal, if any (a hot journal must go with its db). */
static int move_ckpt(const char *from, const char *to)
{
    char fj[PATH_MAX + 16], tj[PATH_MAX + 16];
    if (util_pathf(fj, sizeof(fj), "%s-journal", from) < 0 ||
        util_pathf(tj, sizeof(tj), "%s-journal", to) < 0)
        return -ENAMETOOLONG;
    if (access(fj, F_OK) == 0 && rename(fj, tj) != 0)
        return -errno;
    return rename(from, to) == 0 ? 0 : -errno;
}

/*
 * Checkpoints from before per-workspace state: each selected item's old
 * checkpoint that was made from its current input moves into this
 * workspace's folder, said once (the move is what makes it once).
 */
void plan_adopt_legacy_checkpoints(const struct run_ctx *rc)
{
    size_t moved = 0;
    for (size_t k = 0; k < rc->nsel; k++) {
        const struct item *it = run_item(rc, k);
        char path[PATH_MAX], old[PATH_MAX];
        if (run_ckpt_path(rc, it, path, sizeof(path)) < 0 || access(path, F_OK) == 0 ||
            legacy_ckpt(rc, it, old, sizeof(old)) < 0)
            continue;
        if ((moved || util_mkdir_p(rc->plan.ckpt_dir, 0700) == 0) && move_ckpt(old, path) == 0)
            moved++;
    }
    if (moved) {
        printf("[COORDINATOR] Moved %zu checkpoint%s made before checkpoints were kept per "
               "workspace into %s\n",
               moved, plan_plural(moved), rc->plan.ckpt_dir);
        fflush(stdout);
    }
}

/*
 * An item whose result is up to date needs no checkpoint. One is left only
 * if its worker died between writing the result (the item's commit point)
 * and removing the checkpoint, and the run ended before a retry noticed; it
 * is removed here, so a checkpoint on disk always means unfinished work.
 * Only while owning the item (runtime/own.h): another run's worker may be
 * between writing that result and its last checkpoint save, and must not
 * find its checkpoint deleted under it. Stale lock files go the same way.
 */
void plan_remove_finished_checkpoints(const struct run_ctx *rc)
{
    if (rc->workflow_db)
        return;
    for (size_t i = 0; i < rc->plan.items.n; i++) {
        const struct item *it = &rc->plan.items.v[i];
        char path[PATH_MAX];
        if (!it->pending && !it->invalid_name && run_ckpt_path(rc, it, path, sizeof(path)) == 0)
            own_remove_checkpoint(path);
    }
}
