/*
 * ckpt.h - per-item SQLite checkpoints.
 *
 * One file per item (where: run_ckpt_path in runtime/run.h), mode 0600,
 * rollback journal with synchronous=FULL (ADR-3: WAL would leave saves in a
 * -wal companion that a copy or rename could lose). After every node
 * the worker saves, in one transaction, the node just finished, the next node
 * to run and the workflow state (a JSON document). A re-run loads the latest
 * save and resumes at `next`, so finished nodes never run twice. The file
 * records the workflow, the item ID and the input's SHA-256; a file that fails
 * `PRAGMA quick_check`, lacks the schema, or belongs to another workflow/item
 * is "corrupt": the caller renames it `.corrupt` (ckpt_quarantine) and fails
 * the item.
 */
#ifndef AGENTOS_RUNTIME_CKPT_H
#define AGENTOS_RUNTIME_CKPT_H

#include <stddef.h>

struct ckpt;

/*
 * Open or create the checkpoint at path for (workflow, item_id, source_sha256).
 * A new file gets the schema and the identity. An existing file is checked
 * (quick_check, schema, workflow, item): mismatch/corruption returns -EBADMSG
 * with a one-line reason in err ("checkpoint ... is corrupt: ..." /
 * "... belongs to workflow issue"). An existing checkpoint made from other
 * input (different sha256) is reset to empty (the item starts anew) and
 * *was_stale set to 1. 0 or -errno.
 */
int ckpt_open(const char *path, const char *workflow, const char *item_id,
              const char *source_sha256, struct ckpt **out, int *was_stale, char *err,
              size_t errlen);

/*
 * Latest save: *next_node (NULL = item finished) and *state_json, malloc'd.
 * -ENOENT when nothing was saved yet (start at the first node).
 */
int ckpt_load(struct ckpt *c, char **next_node, char **state_json, int *finished);

/*
 * Save one node's completion in one transaction: done_node, next_node
 * (NULL = finished), state_json. 0 or -errno (the transaction is rolled back;
 * the previous save stays intact). err gets a one-line reason.
 */
int ckpt_save(struct ckpt *c, const char *done_node, const char *next_node, const char *state_json,
              char *err, size_t errlen);

/*
 * The input turned out to be other bytes than those ckpt_open was given (the
 * load node hashed what it actually read, and the file had changed since
 * discovery): the next ckpt_save records source_sha256 in the same
 * transaction as the state it goes with, so a checkpoint never pairs one
 * version's text with another's hash. 0 or -EINVAL.
 */
int ckpt_set_source(struct ckpt *c, const char *source_sha256);

/* Number of nodes saved so far (for tests and the summary). */
int ckpt_saved_count(struct ckpt *c);

void ckpt_close(struct ckpt *c);

/*
 * Look at a checkpoint without creating or changing anything (for --dry-run):
 * copies the next node into next ("" when the item finished). 0, -ENOENT (no
 * file or nothing saved), -EBADMSG (unreadable / not a checkpoint).
 */
int ckpt_peek(const char *path, char *next, size_t nextlen);

/*
 * The input hash a checkpoint records, without creating or changing anything:
 * into sha (65 bytes). 0, -ENOENT (no file), -EBADMSG (not a checkpoint).
 */
int ckpt_peek_source(const char *path, char sha[65]);

/* Delete a checkpoint file and its -wal/-shm/-journal companions. 0 or -errno. */
int ckpt_remove(const char *path);

/* Rename path to path.corrupt (replacing an older .corrupt). 0 or -errno. */
int ckpt_quarantine(const char *path);

#endif
