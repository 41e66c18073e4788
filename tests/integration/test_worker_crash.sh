#!/usr/bin/env bash
# A worker killed at the worst moments (holding a key in an HTTP request,
# inside a checkpoint transaction, half-way through a progress-slot write,
# after a node ran but before its checkpoint): the coordinator returns the
# key, retries the item once from its checkpoint, and the other items go on.
# With one key of concurrency 1, a key left reserved would stall the run.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 50
write_credentials 1
cd "$WS"

for point in http_request ckpt_txn prog_write node_done item_done; do
    rm -rf lld "$AGENTOS_HOME/checkpoints" "$AGENTOS_HOME/logs"
    make_specs lld/pending 4
    mock_reset
    AGENTOS_CRASH_POINT=$point AGENTOS_CRASH_FLAG="$WS/died-$point" \
        timeout 60 lld-workflow --all --parallel 2 >"$WS/$point.txt" 2>&1
    rc=$?
    check_eq "$point: run completes after the death" 0 "$rc"
    check "$point: a worker really died" test -e "$WS/died-$point"
    check "$point: the coordinator says so and retries" \
        grep -qE '^\[COORDINATOR\] Worker [0-9]+ killed by signal 9 while running LLD-0[1-4]; retrying it from its checkpoint' "$WS/$point.txt"
    n=$(grep -l '^status: approved$' lld/done/*.md 2>/dev/null | wc -l)
    check_eq "$point: every item approved" 4 "$n"
    run=$(latest_run_dir)
    check_eq "$point: one item took 2 attempts" 1 "$(jq '[.items[] | select(.attempts == 2)] | length' "$run/summary.json")"
    check_eq "$point: no key left reserved" 0 "$(jq .keys_left_reserved "$run/summary.json")"
    check "$point: audit lines still parse" audit_valid "$run"
    dup=$(cat "$run"/workflow-audit-*.jsonl | jq -R -r 'fromjson | select(.event == "node_done") | "\(.item) \(.node)"' | sort | uniq -d | wc -l)
    check_eq "$point: no finished node ran twice" 0 "$dup"
    rep=$(mock_stat delivered_repeats)
    case $point in
    ckpt_txn | node_done) check_le "$point: at most the node in flight is repeated" "$rep" 1 ;;
    *) check_eq "$point: no request repeated" 0 "$rep" ;;
    esac
    check "$point: no checkpoint left" test -z "$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null)"
done

# Deaths while holding an admission ticket but no item: with --parallel 1 a leaked
# ticket would stop every later item from starting.
for point in admitted item_released; do
    rm -rf lld "$AGENTOS_HOME/checkpoints" "$AGENTOS_HOME/logs"
    make_specs lld/pending 3
    AGENTOS_CRASH_POINT=$point AGENTOS_CRASH_FLAG="$WS/died-$point" \
        timeout 60 lld-workflow --all --parallel 1 >"$WS/$point.txt" 2>&1
    check_eq "$point: run completes after the death" 0 "$?"
    check "$point: a worker really died" test -e "$WS/died-$point"
    check_eq "$point: every item approved" 3 "$(grep -l '^status: approved$' lld/done/*.md 2>/dev/null | wc -l)"
done

# A worker stopped from outside (SIGTERM, not a shutdown): its item is retried.
rm -rf lld "$AGENTOS_HOME/checkpoints" "$AGENTOS_HOME/logs"
make_specs lld/pending 3
stop_mock
start_mock --latency-ms 400
write_credentials 1
lld-workflow --all --parallel 2 >"$WS/term.txt" 2>&1 &
coord=$!
for _ in $(seq 1 100); do
    grep -q 'Executing: N1_design' "$WS/term.txt" && break
    sleep 0.05
done
victim=$(busy_worker "$coord")
check "a worker holds an item" test -n "$victim"
kill -TERM "$victim"
wait "$coord"
check_eq "a worker stopped by SIGTERM: the run still completes" 0 "$?"
check "its item is retried" grep -qE "^\[COORDINATOR\] Worker $victim was stopped while running LLD-0[1-3]; retrying it from its checkpoint" "$WS/term.txt"
check_eq "every item approved" 3 "$(grep -l '^status: approved$' lld/done/*.md 2>/dev/null | wc -l)"
stop_mock
start_mock --latency-ms 50
write_credentials 1

# Dying every time: the item is retried once, then failed; the others are not disturbed.
rm -rf lld "$AGENTOS_HOME/checkpoints" "$AGENTOS_HOME/logs"
make_specs lld/pending 1
AGENTOS_CRASH_POINT=http_request timeout 60 lld-workflow --all >"$WS/twice.txt" 2>&1
check_eq "a worker dying twice fails its item (exit 1)" 1 "$?"
check "with the reason" grep -q 'LLD-01 FAILED: worker died while running it (killed by signal 9)' "$WS/twice.txt"
check "its checkpoint is kept" test -e "$(ckpt_dir lld/pending)/lld_workflow_01.db"
timeout 60 lld-workflow --all >"$WS/after.txt" 2>&1
check_eq "a later run resumes it" 0 "$?"
finish
