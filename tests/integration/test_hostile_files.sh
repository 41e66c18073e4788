#!/usr/bin/env bash
# Files that are not what their names promise (issue 9, findings 5, 8, 15):
# FIFOs, folders and dangling links where agentos expects files, in the
# project, in $AGENTOS_HOME and in /dev/shm. Nothing may block, every such
# thing is named in a message, and nothing that is not ours is touched.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 5
write_credentials 2
cd "$WS"

# --credentials naming a FIFO: a usage error at once, naming it (it blocked start-up for ever)
make_specs lld/pending 1
mkfifo "$WS/cred.fifo"
timeout 10 lld-workflow --all --credentials "$WS/cred.fifo" >"$WS/c.txt" 2>&1
check_eq "--credentials naming a FIFO: exit 2 at once" 2 "$?"
check "naming the file and what it is" grep -qF "$WS/cred.fifo: not a regular file (a FIFO)" "$WS/c.txt"
rm -rf lld

# A FIFO named like a segment in /dev/shm (any local user can make one): stale-segment
# clean-up opened it and blocked every run before its first line. In a private /dev/shm
# (mount namespace), so it cannot hang anybody else's runs on this machine.
make_specs lld/pending 2
if unshare -m --propagation private true 2>/dev/null; then
    timeout 20 unshare -m --propagation private bash -c '
        mount -t tmpfs -o mode=1777 tmpfs /dev/shm || exit 99
        mkfifo /dev/shm/agentos-x && mkdir /dev/shm/agentos-dir || exit 98
        lld-workflow --all --parallel 2 --no-progress
        rc=$?
        test -p /dev/shm/agentos-x && test -d /dev/shm/agentos-dir || exit 97
        exit $rc' >"$WS/shm.txt" 2>&1
    check_eq "a FIFO and a folder named agentos-* in /dev/shm: the run completes" 0 "$?"
    check "the FIFO is named in a warning" grep -qF "warning: /dev/shm/agentos-x is not an agentos segment of this user (a FIFO); left alone" "$WS/shm.txt"
    check "the folder too" grep -qF "/dev/shm/agentos-dir is not an agentos segment of this user (a folder)" "$WS/shm.txt"
else
    ok "# SKIP no mount namespace (needs root)"
fi
rm -rf lld

# *.md entries that cannot be items: a case clash, a FIFO, a folder, a dangling link.
# Each fails with its real cause (a clash said "Invalid item name"; the others were
# skipped without a word), the good item runs, and nothing blocks on the FIFO.
make_specs lld/pending 1
printf '# One\n' >lld/pending/AbC.md
printf '# Two\n' >lld/pending/abc.md
mkfifo lld/pending/fifo.md
mkdir lld/pending/folder.md
ln -s /nonexistent/x.md lld/pending/gone.md
timeout 20 lld-workflow --all --dry-run >"$WS/d.txt" 2>&1
check_eq "dry run: exit 0" 0 "$?"
check "dry run: the clash names the file that has the ID" grep -qE "abc.md .* fails: its ID LLD-ABC is already AbC.md's" "$WS/d.txt"
check "dry run: the FIFO says what it is" grep -qE "LLD-FIFO .* fails: lld/pending/fifo.md is a FIFO, not a regular file" "$WS/d.txt"
timeout 30 lld-workflow --all --parallel 2 --no-progress >"$WS/f.txt" 2>&1
check_eq "a run with them: exit 1 (they fail), no hang" 1 "$?"
check "the clash fails naming the file that has the ID" grep -qF "[COORDINATOR] abc.md FAILED: its ID LLD-ABC is already AbC.md's (file names that differ only in case share an ID)" "$WS/f.txt"
check "the FIFO fails saying what it is" grep -qF "[COORDINATOR] LLD-FIFO FAILED: lld/pending/fifo.md is a FIFO, not a regular file" "$WS/f.txt"
check "the folder too" grep -qF "[COORDINATOR] LLD-FOLDER FAILED: lld/pending/folder.md is a folder, not a regular file" "$WS/f.txt"
check "and the dangling link" grep -qF "[COORDINATOR] LLD-GONE FAILED: lld/pending/gone.md is a dangling link, not a regular file" "$WS/f.txt"
check "the good items run" test -f lld/done/LLD-01.md -a -f lld/done/LLD-ABC.md
timeout 20 lld-workflow fifo --no-progress >"$WS/f2.txt" 2>&1
check_eq "naming the FIFO's ID: it fails (exit 1), not \"no item\"" 1 "$?"
check "with the same reason" grep -qF "LLD-FIFO FAILED: lld/pending/fifo.md is a FIFO" "$WS/f2.txt"
rm -rf lld

# Step IDs that would pass for the coordinator: "coordinator" wrote into the run's
# coordinator.log, "COORDINATOR" printed lines indistinguishable from its own. Refused
# (exit 2) before anything runs, as are IDs that differ only in case.
for id in coordinator COORDINATOR; do
    echo "{\"id\": \"w\", \"steps\": [{\"id\": \"$id\", \"run\": \"echo hi > made-by-$id\"}]}" >ws.json
    timeout 20 agentos-run workstream ws.json --no-progress >"$WS/r.txt" 2>&1
    check_eq "step id $id: exit 2" 2 "$?"
    check "naming it as reserved" grep -qF "steps[0].id \"$id\" is reserved" "$WS/r.txt"
    check "and nothing ran" test ! -e "made-by-$id"
done
echo '{"id": "w", "steps": [{"id": "Build", "run": "true"}, {"id": "build", "run": "true"}]}' >ws.json
timeout 20 agentos-run workstream ws.json --no-progress >"$WS/r.txt" 2>&1
check_eq "step ids that differ only in case: exit 2" 2 "$?"
check "naming both" grep -qF 'step ids "Build" and "build" differ only in case' "$WS/r.txt"
rm -f ws.json

# A 1,000-key credentials file with AGENTOS_CREDENTIAL_LIMIT=256 (the segment's key
# slots): the run uses the first 256 keys and completes; without the limit, the file
# is refused naming the cap.
make_specs lld/pending 2
{
    echo '{"credentials": ['
    for i in $(seq 1 1000); do
        [ "$i" -gt 1 ] && echo ","
        echo "{\"id\": \"k$i\", \"provider\": \"openai\", \"model\": \"m\", \"base_url\": \"http://127.0.0.1:$MOCK_PORT/v1\", \"api_key\": \"test-key-$i\"}"
    done
    echo ']}'
} >"$WS/many.json"
chmod 600 "$WS/many.json"
AGENTOS_CREDENTIAL_LIMIT=256 timeout 60 lld-workflow --all --parallel 3 --no-progress --credentials "$WS/many.json" >"$WS/k.txt" 2>&1
check_eq "1,000 keys with AGENTOS_CREDENTIAL_LIMIT=256: the run completes" 0 "$?"
check "with 256 keys" grep -qE '^\[COORDINATOR\] Run .* 256 keys$' "$WS/k.txt"
timeout 60 lld-workflow --all --fresh --no-progress --credentials "$WS/many.json" >"$WS/k2.txt" 2>&1
check_eq "without the limit: a configuration error" 2 "$?"
check "naming the cap and the way out" grep -qF "more than 256 keys (AGENTOS_CREDENTIAL_LIMIT=N uses the first N)" "$WS/k2.txt"
rm -rf lld

finish
