/*
 * workspace.h - which workspace a run's state belongs to.
 *
 * Checkpoints and workstream step records live under $AGENTOS_HOME, which
 * many folders share (clones, worktrees, other projects). Each is kept in a
 * subfolder named by the workspace's key, so two folders never see each
 * other's state (docs/architecture.md, ADR-14). The key is the first
 * WORKSPACE_KEY_LEN hex digits of the SHA-256 of the workspace's resolved
 * paths (realpath: a symlink or "./" spelling of the same folder is the
 * same workspace); a file WORKSPACE in the subfolder names them for people.
 */
#ifndef AGENTOS_RUNTIME_WORKSPACE_H
#define AGENTOS_RUNTIME_WORKSPACE_H

#include <stddef.h>

#define WORKSPACE_KEY_LEN 16 /* hex digits: 64 bits, no accidental collisions in one home */

/*
 * The key of the workspace made of paths[0..n) (each resolved with realpath,
 * joined by newlines) into key; the resolved text, for the note, into
 * resolved. 0, or -errno of the first path that cannot be resolved (err
 * names it).
 */
int workspace_key(const char *const *paths, size_t n, char key[WORKSPACE_KEY_LEN + 1],
                  char *resolved, size_t resolvedlen, char *err, size_t errlen);

/*
 * Write dir/WORKSPACE ("<resolved>\n", what the key was made of) if it is not
 * there yet, creating dir (0700). Best effort: the note is for people; state
 * does not depend on it. 0 or -errno.
 */
int workspace_note(const char *dir, const char *resolved);

#endif
