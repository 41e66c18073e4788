/*
 * ckpt.c - per-item SQLite checkpoints (see ckpt.h): the protocol spoken to
 * an open checkpoint. What is done to the file by its path (creating it,
 * removing, quarantining, peeking) is ckpt_file.c.
 *
 * One SQLite file per item holds three tables: `meta` (format, workflow,
 * item, source_sha256: who the file belongs to), `progress` (a single row:
 * the node to run next, the finished flag, the workflow state as JSON and a
 * save counter) and `history` (one row per completed node, for audits and
 * tests). A save updates `progress` and appends to `history` in one
 * BEGIN IMMEDIATE transaction, so a kill at any instant leaves either the
 * previous save or the new one, never a mix.
 *
 * Journal mode: rollback journal (journal_mode=DELETE) with synchronous=FULL,
 * not WAL. A checkpoint is written once per node (seconds apart), so WAL's
 * write throughput buys nothing, while its persistent -wal/-shm companions
 * would break "one file per item": a copied, quarantined or inspected .db
 * would silently miss committed saves still sitting in the -wal. With DELETE
 * the .db alone is complete whenever no transaction is open; the -journal
 * exists only during a save (or after a crash, when SQLite rolls it back on
 * the next open). synchronous=FULL makes a returned save durable.
 *
 * The file is created by ckpt_file.c before SQLite opens it, with a mode
 * that never depends on the umask. Files from earlier runs are distrusted:
 * quick_check, the schema (every statement is prepared at open, which checks
 * tables and columns) and the identity in `meta` must all pass, else -EBADMSG
 * with a one-line reason.
 */
#include "runtime/ckpt.h"
#include "runtime/ckpt_private.h"
#include "shm/crashpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "shm/util.h"

#define CKPT_FORMAT "agentos-ckpt-1"
#define CKPT_BUSY_MS 5000

/*
 * SQLite's words for the last error, and the system's when SQLite had one
 * ("unable to open database file (Too many open files)"): the real cause, not
 * only SQLite's summary of it.
 */
static const char *ckpt_why(sqlite3 *db, char *buf, size_t len)
{
    int sys = db ? sqlite3_system_errno(db) : 0;
    const char *msg = db ? sqlite3_errmsg(db) : "out of memory";
    if (sys > 0)
        util_errf(buf, len, "%s (%s)", msg, strerror(sys));
    else
        util_strlcpy(buf, msg, len);
    return buf;
}

static const char ckpt_schema[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE progress(id INTEGER PRIMARY KEY CHECK(id=1), next_node TEXT,"
    " finished INTEGER NOT NULL, state TEXT NOT NULL, saves INTEGER NOT NULL, updated TEXT);"
    "CREATE TABLE history(seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL,"
    " next_node TEXT, ts TEXT NOT NULL);";

/* Every statement the module runs; preparing them all doubles as the schema check. */
enum ckpt_stmt {
    ST_META_GET,
    ST_META_SET,
    ST_LOAD,
    ST_UPSERT,
    ST_HISTORY,
    ST_COUNT,
    ST_N,
};

static const char *const ckpt_sql[ST_N] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE key=?1",
    [ST_META_SET] = "INSERT INTO meta(key,value) VALUES(?1,?2)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
    [ST_LOAD] = "SELECT next_node, state, finished FROM progress WHERE id=1",
    [ST_UPSERT] = "INSERT INTO progress(id,next_node,finished,state,saves,updated)"
                  " VALUES(1,?1,?2,?3,1,?4) ON CONFLICT(id) DO UPDATE SET"
                  " next_node=excluded.next_node, finished=excluded.finished,"
                  " state=excluded.state, saves=saves+1, updated=excluded.updated",
    [ST_HISTORY] = "INSERT INTO history(node,next_node,ts) VALUES(?1,?2,?3)",
    [ST_COUNT] = "SELECT saves FROM progress WHERE id=1",
};

struct ckpt {
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    char *path;
    char source[65]; /* ckpt_set_source: recorded by the next save; "" = nothing staged */
};

/* Map an SQLite result code to -errno. */
static int ckpt_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return -EACCES;
    default:
        return -EIO;
    }
}

static void ckpt_finalize_all(struct ckpt *c)
{
    for (int i = 0; i < ST_N; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
}

void ckpt_close(struct ckpt *c)
{
    if (!c)
        return;
    ckpt_finalize_all(c);
    sqlite3_close_v2(c->db);
    free(c->path);
    free(c);
}

static int ckpt_exec(struct ckpt *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

static void ckpt_now(char out[32])
{
    int64_t ns = util_now_real_ns();
    time_t s = (time_t)(ns / UTIL_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ns % UTIL_NS_PER_SEC / UTIL_NS_PER_MS));
}

/* Read meta[key] into a malloc'd string; NULL when absent (or on error). */
static char *ckpt_meta_get(struct ckpt *c, const char *key)
{
    sqlite3_stmt *s = c->st[ST_META_GET];
    char *v = NULL;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (t)
            v = strdup((const char *)t);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return v;
}

static int ckpt_meta_set(struct ckpt *c, const char *key, const char *value)
{
    sqlite3_stmt *s = c->st[ST_META_SET];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int ckpt_prepare_all(struct ckpt *c)
{
    for (int i = 0; i < ST_N; i++) {
        int rc =
            sqlite3_prepare_v3(c->db, ckpt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* Run quick_check; 0 if it says "ok", else -EBADMSG with the first complaint in err. */
static int ckpt_quick_check(struct ckpt *c, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int ok = rc == SQLITE_ROW && sqlite3_column_text(s, 0) &&
             strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    if (!ok) {
        const char *why = rc == SQLITE_ROW && sqlite3_column_text(s, 0)
                              ? (const char *)sqlite3_column_text(s, 0)
                              : sqlite3_errmsg(c->db);
        char line[160];
        util_strlcpy(line, why, sizeof(line));
        line[strcspn(line, "\r\n")] = '\0';
        util_errf(err, errlen, "checkpoint %s is corrupt: %s", c->path, line);
    }
    sqlite3_finalize(s);
    return ok ? 0 : -EBADMSG;
}

/* Compare meta[key] with want; -EBADMSG with a reason when it differs. */
static int ckpt_check_meta(struct ckpt *c, const char *key, const char *want, char *err,
                           size_t errlen)
{
    char *have = ckpt_meta_get(c, key);
    int rc = 0;
    if (!have) {
        util_errf(err, errlen, "checkpoint %s is corrupt: no %s recorded", c->path, key);
        rc = -EBADMSG;
    } else if (strcmp(have, want) != 0) {
        if (strcmp(key, "format") == 0)
            util_errf(err, errlen, "checkpoint %s is corrupt: unknown format \"%.40s\"", c->path,
                      have);
        else
            util_errf(err, errlen, "checkpoint %s belongs to %s \"%.80s\", not \"%s\"", c->path,
                      key, have, want);
        rc = -EBADMSG;
    }
    free(have);
    return rc;
}

/* A brand-new (empty) file: create the schema and the identity in one transaction. */
static int ckpt_init_new(struct ckpt *c, const char *workflow, const char *item_id, const char *sha,
                         char *err, size_t errlen)
{
    int rc = ckpt_exec(c, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = ckpt_exec(c, ckpt_schema);
    if (rc == SQLITE_OK)
        rc = ckpt_prepare_all(c);
    if (rc == SQLITE_OK)
        rc = ckpt_meta_set(c, "format", CKPT_FORMAT);
    if (rc == SQLITE_OK)
        rc = ckpt_meta_set(c, "workflow", workflow);
    if (rc == SQLITE_OK)
        rc = ckpt_meta_set(c, "item", item_id);
    if (rc == SQLITE_OK)
        rc = ckpt_meta_set(c, "source_sha256", sha);
    if (rc == SQLITE_OK)
        rc = ckpt_exec(c, "COMMIT");
    if (rc != SQLITE_OK) {
        char why[256];
        util_errf(err, errlen, "could not create checkpoint %s: %s", c->path,
                  ckpt_why(c->db, why, sizeof(why)));
        ckpt_exec(c, "ROLLBACK");
        return ckpt_errno(rc);
    }
    return 0;
}

/*
 * 1 when the database holds no table at all: a crash during ckpt_init_new
 * whose journal SQLite has just rolled back. Nothing was ever saved in it, so
 * it is initialised like a new file rather than reported as corrupt.
 */
static int ckpt_is_empty(struct ckpt *c)
{
    sqlite3_stmt *s = NULL;
    int empty = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_schema", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        empty = sqlite3_column_int(s, 0) == 0;
    sqlite3_finalize(s);
    return empty;
}

/* An existing file: verify it, then reset it if it was made from other input. */
static int ckpt_verify_existing(struct ckpt *c, const char *workflow, const char *item_id,
                                const char *sha, int *was_stale, char *err, size_t errlen)
{
    int e = ckpt_quick_check(c, err, errlen);
    if (e)
        return e;
    if (ckpt_is_empty(c))
        return ckpt_init_new(c, workflow, item_id, sha, err, errlen);
    int rc = ckpt_prepare_all(c);
    if (rc != SQLITE_OK) {
        util_errf(err, errlen, "checkpoint %s is corrupt: schema missing (%s)", c->path,
                  sqlite3_errmsg(c->db));
        return (rc & 0xff) == SQLITE_ERROR ? -EBADMSG : ckpt_errno(rc);
    }
    if ((e = ckpt_check_meta(c, "format", CKPT_FORMAT, err, errlen)) ||
        (e = ckpt_check_meta(c, "workflow", workflow, err, errlen)) ||
        (e = ckpt_check_meta(c, "item", item_id, err, errlen)))
        return e;
    char *have = ckpt_meta_get(c, "source_sha256");
    int same = have && strcmp(have, sha) == 0;
    free(have);
    if (same)
        return 0;
    rc = ckpt_exec(c, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = ckpt_exec(c, "DELETE FROM progress; DELETE FROM history;");
    if (rc == SQLITE_OK)
        rc = ckpt_meta_set(c, "source_sha256", sha);
    if (rc == SQLITE_OK)
        rc = ckpt_exec(c, "COMMIT");
    if (rc != SQLITE_OK) {
        util_errf(err, errlen, "could not reset checkpoint %s: %s", c->path, sqlite3_errmsg(c->db));
        ckpt_exec(c, "ROLLBACK");
        return ckpt_errno(rc);
    }
    *was_stale = 1;
    return 0;
}

/* Connection-level settings; the first one to touch the file reports "not a database". */
static int ckpt_configure(struct ckpt *c)
{
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, CKPT_BUSY_MS);
    /* Files on disk are untrusted input: no schema tricks, no writable schema. */
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    int rc = ckpt_exec(c, "PRAGMA journal_mode=DELETE");
    if (rc == SQLITE_OK)
        rc = ckpt_exec(c, "PRAGMA synchronous=FULL");
    return rc;
}

int ckpt_open(const char *path, const char *workflow, const char *item_id,
              const char *source_sha256, struct ckpt **out, int *was_stale, char *err,
              size_t errlen)
{
    int stale_dummy = 0;
    if (!was_stale)
        was_stale = &stale_dummy;
    *was_stale = 0;
    *out = NULL;
    if (!path || !*path || !workflow || !*workflow || !item_id || !*item_id || !source_sha256) {
        util_errf(err, errlen, "invalid checkpoint arguments");
        return -EINVAL;
    }
    int is_new = 0;
    int e = ckpt_create_file(path, &is_new, err, errlen);
    if (e)
        return e;
    struct ckpt *c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        free(c);
        util_errf(err, errlen, "could not open checkpoint %s: %s", path, strerror(ENOMEM));
        return -ENOMEM;
    }
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = ckpt_configure(c);
    if (rc != SQLITE_OK) {
        int bad = (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
        char buf[256];
        const char *why = c->db ? ckpt_why(c->db, buf, sizeof(buf)) : sqlite3_errstr(rc);
        if (bad)
            util_errf(err, errlen, "checkpoint %s is corrupt: %s", path, why);
        else
            util_errf(err, errlen, "could not open checkpoint %s: %s", path, why);
        ckpt_close(c);
        return ckpt_errno(rc);
    }
    if (is_new)
        e = ckpt_init_new(c, workflow, item_id, source_sha256, err, errlen);
    else
        e = ckpt_verify_existing(c, workflow, item_id, source_sha256, was_stale, err, errlen);
    if (e) {
        ckpt_close(c);
        return e;
    }
    *out = c;
    return 0;
}

static char *ckpt_col_dup(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? strdup((const char *)t) : NULL;
}

int ckpt_load(struct ckpt *c, char **next_node, char **state_json, int *finished)
{
    *next_node = NULL;
    *state_json = NULL;
    if (finished)
        *finished = 0;
    sqlite3_stmt *s = c->st[ST_LOAD];
    int rc = sqlite3_step(s);
    int e = 0;
    if (rc == SQLITE_ROW) {
        int fin = sqlite3_column_int(s, 2) != 0;
        char *nn = fin ? NULL : ckpt_col_dup(s, 0);
        char *st = ckpt_col_dup(s, 1);
        if (!st || (!fin && !nn)) {
            /* NOT NULL on state; a live row without a next node is damage, not "done". */
            e = st ? -EBADMSG : -ENOMEM;
            free(nn);
            free(st);
        } else {
            *next_node = nn;
            *state_json = st;
            if (finished)
                *finished = fin;
        }
    } else {
        e = rc == SQLITE_DONE ? -ENOENT : ckpt_errno(rc);
    }
    sqlite3_reset(s);
    return e;
}

static int ckpt_save_steps(struct ckpt *c, const char *done_node, const char *next_node,
                           const char *state_json)
{
    char ts[32];
    ckpt_now(ts);
    sqlite3_stmt *u = c->st[ST_UPSERT], *h = c->st[ST_HISTORY];
    sqlite3_bind_text(u, 1, next_node, -1, SQLITE_STATIC); /* NULL binds SQL NULL */
    sqlite3_bind_int(u, 2, next_node == NULL);
    sqlite3_bind_text(u, 3, state_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(u, 4, ts, -1, SQLITE_STATIC);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    sqlite3_clear_bindings(u);
    if (rc != SQLITE_DONE)
        return rc;
    if (c->source[0] && (rc = ckpt_meta_set(c, "source_sha256", c->source)) != SQLITE_OK)
        return rc;
    sqlite3_bind_text(h, 1, done_node, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 2, next_node, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 3, ts, -1, SQLITE_STATIC);
    rc = sqlite3_step(h);
    sqlite3_reset(h);
    sqlite3_clear_bindings(h);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int ckpt_save(struct ckpt *c, const char *done_node, const char *next_node, const char *state_json,
              char *err, size_t errlen)
{
    if (!c || !done_node || !state_json) {
        util_errf(err, errlen, "invalid checkpoint save arguments");
        return -EINVAL;
    }
    int rc = ckpt_exec(c, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = ckpt_save_steps(c, done_node, next_node, state_json);
    if (rc == SQLITE_OK)
        crash_point("ckpt_txn"); /* crash tests: die with the transaction open */
    if (rc == SQLITE_OK)
        rc = ckpt_exec(c, "COMMIT");
    if (rc == SQLITE_OK)
        c->source[0] = '\0';
    if (rc != SQLITE_OK) {
        char why[256];
        util_errf(err, errlen, "could not save checkpoint %s: %s", c->path,
                  ckpt_why(c->db, why, sizeof(why)));
        if (!sqlite3_get_autocommit(c->db))
            ckpt_exec(c, "ROLLBACK");
        int e = ckpt_errno(rc);
        return e == -EBUSY || e == -ENOSPC || e == -ENOMEM ? e : -EIO;
    }
    return 0;
}

int ckpt_set_source(struct ckpt *c, const char *source_sha256)
{
    if (!c || !source_sha256 || strlen(source_sha256) >= sizeof(c->source))
        return -EINVAL;
    util_strlcpy(c->source, source_sha256, sizeof(c->source));
    return 0;
}

int ckpt_saved_count(struct ckpt *c)
{
    sqlite3_stmt *s = c->st[ST_COUNT];
    int n = 0;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return n;
}
