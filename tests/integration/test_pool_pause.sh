#!/usr/bin/env bash
# Disabled keys and the paused pool (SPEC 6): a key the stand-in refuses (401) is
# disabled with a console line and the other keys carry the run; when every key is
# refused the run pauses, and new keys written to the credentials file resume it (the
# edited file is noticed, and so is SIGHUP alone); --pause-timeout ends the pause
# with exit 75 and checkpoints kept, and the next run resumes from them. The same
# pause comes when only one role has no usable key left (a draft key that still works
# does not keep a workflow going that needs a review), and a file with no key for a
# role is refused at start (exit 2).
source "$(dirname "$0")/lib.sh"
cd "$WS"
CREDS="$AGENTOS_HOME/credentials.json"
PAUSE_LINE='[COORDINATOR] Credential pool exhausted. Pausing all workflows...'

# coord_ticked PID N: until the coordinator's main thread has slept and woken N more
# times (it sleeps once per 100 ms tick in ppoll; each wake runs a whole tick,
# pool_tick's look at the credentials file included); 10 s at most.
coord_ticked() {
    local f="/proc/$1/task/$1/status" c0 c
    c0=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$f" 2>/dev/null) || return 1
    [ -n "$c0" ] || return 1
    for _ in $(seq 1 200); do
        c=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$f" 2>/dev/null)
        [ -n "$c" ] || return 1
        [ "$c" -ge $((c0 + $2)) ] && return 0
        sleep 0.05
    done
    return 1
}

# good_keys N: N keys with values the stand-in accepts (it refuses by key value).
good_keys() {
    write_credentials "$1"
    sed -i 's/"test-key-/"good-key-/' "$CREDS"
}


start_mock --latency-ms 50 --deny-key test-key-1=401 --deny-key test-key-2=403 --deny-key test-key-3=401

# 1. One refused key among three: disabled, the others carry the run.
write_credentials 3
sed -i 's/"test-key-2"/"fine-key-2"/; s/"test-key-3"/"fine-key-3"/' "$CREDS"
make_specs lld/pending 4
timeout 30 lld-workflow --all --parallel 3 >"$WS/one.txt" 2>&1
check_eq "one refused key: the run exits 0" 0 "$?"
check "all 4 approved" grep -q '4 approved, 0 need revision, 0 failed' "$WS/one.txt"
check "the key is disabled with a console line" grep -qF '[COORDINATOR] Key key-1 disabled: HTTP 401' "$WS/one.txt"
check "the run narrows to the keys left" grep -qF '2 of 3 keys can serve now; running 2 workflows at a time (was 3)' "$WS/one.txt"
check_eq "the refused key was tried once" 1 "$(mock_stats | jq '.per_key["test-key-1"].requests')"
check "no pause" bash -c "! grep -qF 'Pausing' '$WS/one.txt'"

# 2. Every key refused: pause; good keys written to the file resume the run.
mock_reset
write_credentials 2
rm -rf lld
make_specs lld/pending 3
lld-workflow --all --parallel 2 >"$WS/edit.txt" 2>&1 &
pid=$!
check "all refused: the pause line" wait_for "$WS/edit.txt" "$PAUSE_LINE"
check "both keys disabled (401 and 403)" \
    bash -c "grep -qF 'Key key-1 disabled: HTTP 401' '$WS/edit.txt' && grep -qF 'Key key-2 disabled: HTTP 403' '$WS/edit.txt'"
sleep 0.5
good_keys 2
wait_for "$WS/edit.txt" 'Summary:'
timeout 20 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "the edited file resumes the run to exit 0" 0 "$?"
check "it says the file was reloaded" grep -qF '[COORDINATOR] Credentials reloaded (edited file): 2 keys' "$WS/edit.txt"
check "and that it resumes" grep -qF '[COORDINATOR] Credential pool has usable keys again; resuming' "$WS/edit.txt"
check "all 3 approved" grep -q '3 approved, 0 need revision, 0 failed' "$WS/edit.txt"
stats=$(mock_stats)
check_le "the workers sent the new secrets" 6 \
    "$(jq '[.per_key["good-key-1"].requests, .per_key["good-key-2"].requests] | add' <<<"$stats")"
check_eq "no new request went out with an old secret" 0 "$(jq '[.per_key["test-key-1"].requests, .per_key["test-key-2"].requests] | add - 2' <<<"$stats")"
check "no secret on the console" bash -c "! grep -qE 'good-key|test-key' '$WS/edit.txt'"

# 3. The same pause resumed by SIGHUP alone (the file's mtime is put back, so only the
#    signal can make the coordinator look at it).
write_credentials 2
rm -rf lld "$AGENTOS_HOME"/checkpoints
make_specs lld/pending 3
lld-workflow --all --parallel 2 >"$WS/hup.txt" 2>&1 &
pid=$!
wait_for "$WS/hup.txt" "$PAUSE_LINE"
# The new file is written aside, given the old one's mtime, and renamed into place:
# the coordinator stats the file every tick, and an edit in place would be seen by
# a tick that falls between the write and putting the mtime back.
mkdir -p "$WS/aside"
(AGENTOS_HOME="$WS/aside" CREDS="$WS/aside/credentials.json" && good_keys 2)
touch -r "$CREDS" "$WS/aside/credentials.json"
mv "$WS/aside/credentials.json" "$CREDS"
# Positive signals first: the coordinator has looked at the file again (it wakes
# once per tick, and every tick stats the file), and the run is still paused.
check "the coordinator keeps ticking after the edit" coord_ticked "$pid" 5
run=$(run_id_of "$pid")
check_eq "the inspector shows the run paused" paused \
    "$(agentos-shmstat --json "$run" 2>/dev/null | jq -r '.run.state')"
check "without SIGHUP the run stays paused" bash -c "! grep -qF 'resuming' '$WS/hup.txt'"
kill -HUP "$pid"
wait_for "$WS/hup.txt" 'Summary:'
timeout 20 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "SIGHUP resumes the run to exit 0" 0 "$?"
check "it says SIGHUP reloaded the file" grep -qF '[COORDINATOR] Credentials reloaded (SIGHUP): 2 keys' "$WS/hup.txt"
check "all 3 approved after SIGHUP" grep -q '3 approved, 0 need revision, 0 failed' "$WS/hup.txt"

# 4. --pause-timeout: exit 75 with checkpoints kept; the next run (good keys) resumes.
write_credentials 2
rm -rf lld "$AGENTOS_HOME"/checkpoints
make_specs lld/pending 3
t0=$(date +%s%N)
timeout 30 lld-workflow --all --parallel 2 --pause-timeout 2 >"$WS/pt.txt" 2>&1
rc=$?
t1=$(date +%s%N)
check_eq "--pause-timeout 2 ends the run with 75" 75 "$rc"
ms=$(((t1 - t0) / 1000000))
check_le "after the 2 s pause" 2000 "$ms"
check_le "and promptly" "$ms" 8000
check "the pause line" grep -qF "$PAUSE_LINE" "$WS/pt.txt"
check "the timeout line" grep -qF '[COORDINATOR] Paused for 2s (--pause-timeout); checkpointing and exiting' "$WS/pt.txt"
n=$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null | wc -l)
check_le "checkpoints are kept" 1 "$n"
check "no result yet" test -z "$(ls lld/done 2>/dev/null)"
good_keys 2
timeout 30 lld-workflow --all --parallel 2 >"$WS/pt2.txt" 2>&1
check_eq "the next run with good keys exits 0" 0 "$?"
check "it resumes from checkpoints" grep -qE '^\[LLD-0[123]\] Resuming at N1_design from checkpoint$' "$WS/pt2.txt"
check "all 3 approved in the end" grep -q '3 approved, 0 need revision, 0 failed' "$WS/pt2.txt"
check "no checkpoint left" test -z "$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null)"

# 5. A draft-only key and a review-only key that is refused (401): no key can review,
#    so the run pauses although the draft key is free; --pause-timeout ends it with 75.
url="http://127.0.0.1:$MOCK_PORT/v1"
cat >"$CREDS" <<EOF
{"credentials": [
 {"id": "drafter", "provider": "openai", "model": "m", "base_url": "$url", "api_key": "fine-key-d", "roles": ["draft"]},
 {"id": "reviewer", "provider": "openai", "model": "m", "base_url": "$url", "api_key": "test-key-1", "roles": ["review"]}
]}
EOF
chmod 600 "$CREDS"
rm -rf lld "$AGENTOS_HOME"/checkpoints
make_specs lld/pending 1
t0=$(date +%s%N)
timeout 20 lld-workflow --all --pause-timeout 2 >"$WS/role.txt" 2>&1
rc=$?
t1=$(date +%s%N)
check_eq "no usable review key: --pause-timeout 2 ends the run with 75" 75 "$rc"
ms=$(((t1 - t0) / 1000000))
check_le "within 10 s" "$ms" 10000
check "the reviewer is disabled" grep -qF '[COORDINATOR] Key reviewer disabled: HTTP 401' "$WS/role.txt"
check "the pause line" grep -qF "$PAUSE_LINE" "$WS/role.txt"
check "a line names the role" grep -qF '[COORDINATOR] No usable key has role review' "$WS/role.txt"
check "not the misleading waiting line" bash -c "! grep -qF 'keys busy or disabled' '$WS/role.txt'"
check "the timeout line (role)" grep -qF '[COORDINATOR] Paused for 2s (--pause-timeout); checkpointing and exiting' "$WS/role.txt"
check_eq "the checkpoint is kept" 1 "$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null | wc -l)"
check "no result" test -z "$(ls lld/done 2>/dev/null)"

# 6. The same role pause, ended by a good review key written to the file: the run
#    resumes from the checkpoint of 5 and finishes.
lld-workflow --all >"$WS/role2.txt" 2>&1 &
pid=$!
check "again the role pause" wait_for "$WS/role2.txt" '[COORDINATOR] No usable key has role review'
sed -i 's/"test-key-1"/"fine-key-r"/' "$CREDS"
wait_for "$WS/role2.txt" 'Summary:'
timeout 20 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "a good review key resumes the run to exit 0" 0 "$?"
check "it resumes" grep -qF '[COORDINATOR] Credential pool has usable keys again; resuming' "$WS/role2.txt"
check "1 approved after the role pause" grep -q '1 approved, 0 need revision, 0 failed' "$WS/role2.txt"

# 7. A file in which no key has role review is a configuration error at start.
cat >"$CREDS" <<EOF
{"credentials": [
 {"id": "drafter", "provider": "openai", "model": "m", "base_url": "$url", "api_key": "fine-key-d", "roles": ["draft"]}
]}
EOF
rm -rf lld
make_specs lld/pending 1
timeout 10 lld-workflow --all >"$WS/norole.txt" 2>&1
check_eq "no key with role review: exit 2" 2 "$?"
check "the error names the role and the file" \
    grep -qF "agentos-run: no key in $CREDS has role review" "$WS/norole.txt"
check "no run folder for it" bash -c "! grep -qF 'Run folder' '$WS/norole.txt'"
finish
