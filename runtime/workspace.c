/*
 * workspace.c - the key of a workspace, and the note that names it (see
 * workspace.h).
 *
 * The key hashes resolved paths, not the names the user typed: "lld/pending",
 * "./lld/pending" and a symlink to the folder are one workspace, while the
 * same relative name in two clones is two. A moved or renamed folder is a new
 * workspace (its old state stays under the old key; nothing is deleted).
 */
#include "runtime/workspace.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/util.h"

int workspace_key(const char *const *paths, size_t n, char key[WORKSPACE_KEY_LEN + 1],
                  char *resolved, size_t resolvedlen, char *err, size_t errlen)
{
    size_t used = 0;
    if (resolvedlen == 0)
        return -EINVAL;
    resolved[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char *real = realpath(paths[i], NULL);
        if (!real) {
            int e = errno;
            util_errf(err, errlen, "could not resolve %s: %s", paths[i], strerror(e));
            return -e;
        }
        size_t rl = strlen(real);
        if (used + rl + 2 > resolvedlen) {
            util_errf(err, errlen, "the resolved path of %s is too long", paths[i]);
            free(real);
            return -ENAMETOOLONG;
        }
        memcpy(resolved + used, real, rl);
        used += rl;
        resolved[used++] = i + 1 < n ? '\n' : '\0';
        free(real);
    }
    char sha[65];
    int r = util_sha256_hex(resolved, strlen(resolved), sha);
    if (r < 0) {
        util_errf(err, errlen, "could not hash the workspace path: %s", strerror(-r));
        return r;
    }
    memcpy(key, sha, WORKSPACE_KEY_LEN);
    key[WORKSPACE_KEY_LEN] = '\0';
    return 0;
}

int workspace_note(const char *dir, const char *resolved)
{
    char path[PATH_MAX];
    if (util_pathf(path, sizeof(path), "%s/WORKSPACE", dir) < 0)
        return -ENAMETOOLONG;
    if (access(path, F_OK) == 0)
        return 0;
    int r = util_mkdir_p(dir, 0700);
    if (r < 0)
        return r;
    char *text = util_asprintf("%s\n", resolved);
    if (!text)
        return -ENOMEM;
    r = util_write_file_atomic(path, text, strlen(text));
    free(text);
    return r;
}
