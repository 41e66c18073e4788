/*
 * ckpt_file.c - a checkpoint as a file on disk (see ckpt.h): what is done to
 * it by its path, without an open struct ckpt.
 *
 * ckpt_open (ckpt.c) has the file made here first: created by us with
 * open(O_CREAT, 0600) and fchmod'ed, so its mode never depends on the umask
 * (SQLite gives its journal the same mode); a file that is not regular or
 * lacks SQLite's header is refused before SQLite sees it. The .db stands for
 * the item alone: its -journal/-wal/-shm companions go where it goes (removed
 * with it, renamed along to .corrupt, removed when a new file is created at
 * its path), so a journal is never replayed into a checkpoint it does not
 * belong to. The peeks (--dry-run) open it read-only and create or change
 * nothing.
 */
#include "runtime/ckpt.h"
#include "runtime/ckpt_private.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shm/util.h"

static const char *const ckpt_companions[] = {"-journal", "-wal", "-shm"};

static void ckpt_remove_companions(const char *path)
{
    char p[4096];
    for (size_t i = 0; i < sizeof(ckpt_companions) / sizeof(ckpt_companions[0]); i++) {
        if (snprintf(p, sizeof(p), "%s%s", path, ckpt_companions[i]) < (int)sizeof(p))
            unlink(p);
    }
}

/*
 * Make sure path exists as a regular file with mode 0600. *is_new is 1 when
 * the file is empty: either we just created it or a crash hit between
 * creation and the schema commit, and an empty file holds nothing to lose.
 */
int ckpt_create_file(const char *path, int *is_new, char *err, size_t errlen)
{
    char dir[4096];
    if (util_strlcpy(dir, path, sizeof(dir)) >= sizeof(dir)) {
        util_errf(err, errlen, "checkpoint path is too long");
        return -ENAMETOOLONG;
    }
    int e = util_mkdir_p(dirname(dir), 0700);
    if (e) {
        util_errf(err, errlen, "could not create checkpoint folder for %s: %s", path, strerror(-e));
        return e;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        /* A journal left next to a vanished database must not be replayed into the new one. */
        ckpt_remove_companions(path);
    } else if (errno == EEXIST) {
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = -errno;
        if (e == -EISDIR) {
            util_errf(err, errlen, "checkpoint %s is corrupt: %s", path, "not a regular file");
            e = -EBADMSG;
        } else {
            util_errf(err, errlen, "could not open checkpoint %s: %s", path, strerror(-e));
        }
        if (fd >= 0)
            close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        util_errf(err, errlen, "checkpoint %s is corrupt: %s", path, "not a regular file");
        return -EBADMSG;
    }
    if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
        e = -errno;
        close(fd);
        util_errf(err, errlen, "could not set mode 0600 on checkpoint %s: %s", path, strerror(-e));
        return e;
    }
    *is_new = st.st_size == 0;
    /* SQLite takes a file shorter than its header for an empty database; we don't. */
    static const char magic[16] = "SQLite format 3";
    char head[16];
    if (!*is_new && (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
                     memcmp(head, magic, sizeof(head)) != 0)) {
        close(fd);
        util_errf(err, errlen, "checkpoint %s is corrupt: %s", path, "file is not a database");
        return -EBADMSG;
    }
    close(fd);
    return 0;
}

int ckpt_remove(const char *path)
{
    int rc = 0;
    if (unlink(path) != 0 && errno != ENOENT)
        rc = -errno;
    ckpt_remove_companions(path);
    return rc;
}

/*
 * The companions move along as <path>.corrupt-journal etc.: that is exactly
 * the name SQLite would look for next to <path>.corrupt, so the pair stays
 * inspectable, and nothing is left at <path>-journal to be replayed into a
 * fresh checkpoint created at path later.
 */
int ckpt_quarantine(const char *path)
{
    char dst[4096], src[4096];
    if (snprintf(dst, sizeof(dst), "%s.corrupt", path) >= (int)sizeof(dst))
        return -ENAMETOOLONG;
    if (rename(path, dst) != 0)
        return -errno;
    for (size_t i = 0; i < sizeof(ckpt_companions) / sizeof(ckpt_companions[0]); i++) {
        if (snprintf(src, sizeof(src), "%s%s", path, ckpt_companions[i]) >= (int)sizeof(src) ||
            snprintf(dst, sizeof(dst), "%s.corrupt%s", path, ckpt_companions[i]) >=
                (int)sizeof(dst))
            continue;
        unlink(dst);
        if (rename(src, dst) != 0)
            unlink(src);
    }
    return 0;
}

/*
 * Run one read-only query on a checkpoint and copy its first row's first
 * column (empty when the second column is non-zero or the value is NULL)
 * into out. 0, -ENOENT (no file, empty file, no row), -EBADMSG.
 */
static int ckpt_peek_row(const char *path, const char *sql, char *out, size_t outlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -ENOENT;
    if (!S_ISREG(st.st_mode))
        return -EBADMSG;
    if (st.st_size == 0)
        return -ENOENT;
    sqlite3 *db = NULL;
    /* Read-only and immutable-free: a dry run must not create journals or files. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -EBADMSG;
    }
    sqlite3_stmt *s = NULL;
    int rc = -EBADMSG;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            const unsigned char *n = sqlite3_column_text(s, 0);
            int empty = sqlite3_column_int(s, 1);
            snprintf(out, outlen, "%s", empty || !n ? "" : (const char *)n);
            rc = 0;
        } else if (step == SQLITE_DONE) {
            rc = -ENOENT;
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

int ckpt_peek(const char *path, char *next, size_t nextlen)
{
    return ckpt_peek_row(path, "SELECT next_node, finished FROM progress WHERE id = 1", next,
                         nextlen);
}

int ckpt_peek_source(const char *path, char sha[65])
{
    return ckpt_peek_row(path, "SELECT value, 0 FROM meta WHERE key = 'source_sha256'", sha, 65);
}
