#!/usr/bin/env bash
# Regenerate tests/corpus/checkpoints/ with the sqlite3 CLI: valid checkpoints
# and hostile ones (not SQLite, truncated, damaged pages, wrong schema, another
# workflow or item). tests/unit/test_corpus.c opens each with workflow "lld",
# item "LLD-1" and source sha256 "aaaa...a" (64 x 'a'); an "ok-" file must
# open, a "bad-" file must be refused with -EBADMSG. The schema below mirrors
# runtime/ckpt.c (format "agentos-ckpt-1"). Usage: tests/corpus/make_checkpoints.sh
set -eu
cd "$(dirname "$0")/checkpoints"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not found" >&2; exit 1; }

SHA=$(printf 'a%.0s' $(seq 64))
SCHEMA="CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE progress(id INTEGER PRIMARY KEY CHECK(id=1), next_node TEXT,
 finished INTEGER NOT NULL, state TEXT NOT NULL, saves INTEGER NOT NULL, updated TEXT);
CREATE TABLE history(seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL,
 next_node TEXT, ts TEXT NOT NULL);"

meta() { # format workflow item sha -> INSERT statements
    printf "INSERT INTO meta VALUES('format','%s'),('workflow','%s'),('item','%s'),('source_sha256','%s');" \
        "$1" "$2" "$3" "$4"
}
SAVE="INSERT INTO progress VALUES(1,'review',0,'{\"draft\":\"x\"}',1,'2024-01-01T00:00:00.000Z');
INSERT INTO history(node,next_node,ts) VALUES('draft','review','2024-01-01T00:00:00.000Z');"

db() { # file sql...
    local f=$1
    shift
    rm -f "$f"
    sqlite3 "$f" "PRAGMA journal_mode=DELETE; $*" >/dev/null
}

rm -f ./*.db

db ok-wal-mode.db "PRAGMA journal_mode=WAL; $SCHEMA $(meta agentos-ckpt-1 lld LLD-1 "$SHA") $SAVE"
db ok-valid.db "$SCHEMA $(meta agentos-ckpt-1 lld LLD-1 "$SHA") $SAVE"
db ok-valid-empty-progress.db "$SCHEMA $(meta agentos-ckpt-1 lld LLD-1 "$SHA")"
db ok-stale-input.db "$SCHEMA $(meta agentos-ckpt-1 lld LLD-1 "$(printf 'b%.0s' $(seq 64))") $SAVE"
db ok-no-tables.db "PRAGMA user_version=7;"
: >ok-zero-bytes.db

# Files ckpt_open accepts (the checkpoint layer does not read the state) but whose state a
# resumed item must not trust: see the issue 4 report (review rounds cap).
st() { # file next_node finished state
    db "$1" "$SCHEMA $(meta agentos-ckpt-1 lld LLD-1 "$SHA")
INSERT INTO progress VALUES(1,$2,$3,'$4',1,'2024-01-01T00:00:00.000Z');"
}
st any-state-rounds-negative.db "'N2_review'" 0 '{"spec":"# S","draft":"d","rounds":-1000000}'
st any-state-rounds-int-max.db "'N2_review'" 0 '{"spec":"# S","draft":"d","rounds":2147483647}'
st any-state-rounds-huge.db "'N2_review'" 0 '{"spec":"# S","draft":"d","rounds":1e300}'
st any-state-not-object.db "'N2_review'" 0 '[1,2,3]'
st any-state-not-json.db "'N2_review'" 0 '{"spec":'
st any-state-wrong-types.db "'N2_review'" 0 '{"spec":5,"draft":null,"review":[],"verdict":{},"rounds":"3"}'
st any-next-unknown-node.db "'N9_nowhere'" 0 '{}'
st any-live-row-without-next.db NULL 0 '{}'
st any-finished.db NULL 1 '{"spec":"# S","draft":"d","rounds":1,"verdict":"APPROVED"}'

db bad-other-workflow.db "$SCHEMA $(meta agentos-ckpt-1 issue LLD-1 "$SHA") $SAVE"
db bad-other-item.db "$SCHEMA $(meta agentos-ckpt-1 lld LLD-2 "$SHA") $SAVE"
db bad-unknown-format.db "$SCHEMA $(meta agentos-ckpt-9 lld LLD-1 "$SHA") $SAVE"
db bad-no-identity.db "$SCHEMA"
db bad-meta-only.db "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL); $(meta agentos-ckpt-1 lld LLD-1 "$SHA")"
db bad-wrong-columns.db "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE progress(id INTEGER PRIMARY KEY, next TEXT);
CREATE TABLE history(seq INTEGER PRIMARY KEY, node TEXT);
$(meta agentos-ckpt-1 lld LLD-1 "$SHA")"
db bad-progress-is-view.db "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE history(seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, next_node TEXT, ts TEXT NOT NULL);
CREATE VIEW progress AS SELECT 1 AS id, 'x' AS next_node, 0 AS finished, '{}' AS state, 1 AS saves, '' AS updated;
$(meta agentos-ckpt-1 lld LLD-1 "$SHA")"
db bad-unrelated-app.db "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES(1,'x');"

# Not SQLite at all.
printf 'this is not a database\n' >bad-text.db
printf '<html><body>502 Bad Gateway</body></html>\n' >bad-html.db
printf 'S' >bad-one-byte.db
head -c 8192 /dev/zero >bad-zeros.db
# The magic string and then junk: the header's page size and counts are nonsense.
{ printf 'SQLite format 3\0'; head -c 4080 /dev/zero | tr '\0' '\377'; } >bad-magic-then-junk.db
# A valid file cut in the middle of its second page.
head -c 6000 ok-valid.db >bad-truncated.db
# A valid file cut after its 100-byte header.
head -c 100 ok-valid.db >bad-header-only.db
# A valid file whose every page after the first is overwritten with 0xff.
size=$(stat -c %s ok-valid.db)
{ head -c 4096 ok-valid.db; head -c $((size - 4096)) /dev/zero | tr '\0' '\377'; } >bad-pages-scribbled.db
# A valid file with one table's root page zeroed (b-tree page type 0 is invalid).
{ head -c 4096 ok-valid.db; head -c 4096 /dev/zero; tail -c +8193 ok-valid.db; } >bad-page2-zeroed.db
chmod 0600 ./*.db
ls -l
