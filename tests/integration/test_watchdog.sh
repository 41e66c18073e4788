#!/usr/bin/env bash
# The coordinator's watchdog (issue 9, finding 8): a worker that holds an item and
# gives no sign of life for --timeout-per-step (at least 5 s) is ended and its item
# retried once from its checkpoint; a second death fails it. Before, a stopped
# worker left the run "running" for ever. A worker that legitimately waits longer
# than that for a rate-limited key keeps beating and is left alone.
source "$(dirname "$0")/lib.sh"
cd "$WS"
STOPPED=""
my_cleanup() {
    [ -n "$STOPPED" ] && kill -KILL $STOPPED 2>/dev/null
    cleanup
}
trap my_cleanup EXIT

# wait_line FILE REGEX [SECS]: until a line of FILE matches (extended regex).
wait_line() {
    for _ in $(seq 1 $((${3:-20} * 20))); do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# 1. SIGSTOP the worker twice while it runs the only item: ended and retried, then failed.
start_mock --latency-ms 3000
write_credentials 1
make_specs lld/pending 1
t0=$(date +%s%N)
lld-workflow --all --timeout-per-step 2 --no-progress >"$WS/stop.txt" 2>&1 &
pid=$!
w1=$(busy_worker "$pid")
kill -STOP "$w1" && STOPPED="$w1"
check "a stopped worker is ended and its item retried" \
    wait_line "$WS/stop.txt" "^\[COORDINATOR\] Worker $w1 was stuck in N[0-9]_[a-z]+ \(no sign of life for [0-9]+s\) while running LLD-01; retrying it from its checkpoint$"
ms=$((($(date +%s%N) - t0) / 1000000))
check_le "within the 5 s limit and a tick or two" "$ms" 9000
check "the stopped worker is gone" bash -c "! kill -0 $w1 2>/dev/null"
w2=""
for _ in $(seq 1 100); do
    w2=$(busy_worker "$pid")
    [ -n "$w2" ] && [ "$w2" != "$w1" ] && break
    sleep 0.05
done
check "a new worker resumes the item" test -n "$w2" -a "$w2" != "$w1"
wait_line "$WS/stop.txt" '^\[LLD-01\] Resuming at ' 5
kill -STOP "$w2" && STOPPED="$w2"
timeout 20 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "a second death fails the item: exit 1" 1 "$?"
check "with the reason" grep -qE "^\[COORDINATOR\] Worker $w2 was stuck in N[0-9]_[a-z]+ \(no sign of life for [0-9]+s\) while running LLD-01; LLD-01 FAILED: worker died while running it \(was stuck in " "$WS/stop.txt"
check "the summary has it" grep -qE '^\[COORDINATOR\] +LLD-01 +failed ' "$WS/stop.txt"
check_eq "the checkpoint is kept" 1 "$(ckpt_files | wc -l)"
STOPPED=""
stop_mock

# 2. A legitimate wait longer than the limit: a key at 10 requests a minute (6 s
#    apart) and a 5 s limit. The waits beat; nothing is ended; the item is approved.
start_mock --latency-ms 20 --rpm 10
write_credentials 1
rm -rf lld "$AGENTOS_HOME/checkpoints"
make_specs lld/pending 1
timeout 60 lld-workflow --all --timeout-per-step 5 --no-progress >"$WS/wait.txt" 2>&1
check_eq "a long wait for a key: the run exits 0" 0 "$?"
check "the key was really throttled" grep -q 'Rate limit hit on key-1\|waiting for a key' "$WS/wait.txt"
secs=$(sed -n "s/.*(1 items\?, \([0-9]*\)\.[0-9]s).*/\1/p" "$WS/wait.txt")
check_le "the wait outlasted the 5 s limit" 6 "${secs:-0}"
check "nothing was ended" bash -c "! grep -q 'was stuck' '$WS/wait.txt'"
check "approved" grep -q '1 approved, 0 need revision, 0 failed' "$WS/wait.txt"
finish
