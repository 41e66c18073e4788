#!/usr/bin/env bash
# A second Ctrl+C exits at once; every checkpoint still opens and resumes.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 600
write_credentials 3
cd "$WS"
make_specs lld/pending 6
# One worker hangs deaf to every signal but SIGKILL as it sends its second request (a
# stopped worker would not do: the shutdown sends SIGCONT); it keeps the first, graceful
# shutdown waiting.
touch "$WS/hang.flag" # removed below: the next request after that hangs, once
AGENTOS_CRASH_POINT=http_request AGENTOS_CRASH_SIGNAL=HANG AGENTOS_CRASH_FLAG="$WS/hang.flag" \
    lld-workflow --all --parallel 3 >"$WS/run1.txt" 2>&1 &
pid=$!
wait_for "$WS/run1.txt" 'Executing: N2_review' 2
rm -f "$WS/hang.flag"
# the worker that reaches the point next creates the flag again, then hangs
for _ in $(seq 1 100); do [ -e "$WS/hang.flag" ] && break; sleep 0.1; done
check "a worker hangs (deaf to SIGTERM and SIGCONT)" test -e "$WS/hang.flag"
sleep 0.2
workers=$(pgrep -P "$pid" -x agentos-worker | tr '\n' ' ')
kill -INT "$pid"
sleep 0.3
check "the first Ctrl+C is still waiting for the hung worker" kill -0 "$pid"
t0=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
rc=$?
t1=$(date +%s%N)
check_eq "exits 130" 130 "$rc"
check_le "at once (under 1 s after the second Ctrl+C)" $(( (t1 - t0) / 1000000 )) 1000
alive=0
for w in $workers; do kill -0 "$w" 2>/dev/null && alive=1; done
check_eq "no worker left running" 0 "$alive"
n=0
for db in "$AGENTOS_HOME"/checkpoints/*/*.db; do
    [ -e "$db" ] || continue
    n=$((n + 1))
    check "$(basename "$db") passes integrity_check" bash -c "[ \"\$(sqlite3 '$db' 'PRAGMA integrity_check')\" = ok ]"
done
check_le "checkpoints were written" 1 "$n"
timeout 120 lld-workflow --all --parallel 3 >"$WS/run2.txt" 2>&1
check_eq "the re-run completes" 0 "$?"
check "it resumed from checkpoints" grep -q 'Resuming at N' "$WS/run2.txt"
check "all 6 approved" test "$(grep -l '^status: approved$' lld/done/*.md | wc -l)" -eq 6
check_eq "no finished node was requested again" 0 "$(mock_stat delivered_repeats)"
finish
