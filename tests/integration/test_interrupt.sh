#!/usr/bin/env bash
# Ctrl+C mid-run: the shutdown line, exit 130 within 5 s, checkpoints kept;
# the re-run completes and no finished node is requested again. A checkpoint
# left beside a finished item (its worker died between the result and the
# removal) is removed by the next run, not by a dry run.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 700
write_credentials 3
cd "$WS"
make_specs lld/pending 6
lld-workflow --all --parallel 3 >"$WS/run1.txt" 2>&1 &
pid=$!
# wait until every first-round item has finished at least one LLM node
wait_for "$WS/run1.txt" 'Executing: N2_review' 3
t0=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
rc=$?
t1=$(date +%s%N)
check_eq "interrupted run exits 130" 130 "$rc"
check_le "and within 5 s" $(( (t1 - t0) / 1000000 )) 5000
check "prints the shutdown line" grep -qF '[COORDINATOR] Shutting down... waiting for workers to checkpoint' "$WS/run1.txt"
n=$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null | wc -l)
check_le "checkpoints are kept" 3 "$n"
check "every console line whole and prefixed" every_line_prefixed "$WS/run1.txt"
check_eq "no segment left" 0 "$(ls /dev/shm | grep -c "^agentos-.*-$pid\$")"
for db in "$AGENTOS_HOME"/checkpoints/*/*.db; do
    check "$(basename "$db") passes integrity_check" bash -c "[ \"\$(sqlite3 '$db' 'PRAGMA integrity_check')\" = ok ]"
done
mkdir -p "$WS/saved" && cp "$AGENTOS_HOME"/checkpoints/*/*.db "$WS/saved/"
timeout 120 lld-workflow --all --parallel 3 >"$WS/run2.txt" 2>&1
check_eq "the re-run completes" 0 "$?"
check "it resumes from checkpoints" grep -q 'Resuming at N' "$WS/run2.txt"
check "all 6 approved in the end" test "$(grep -l '^status: approved$' lld/done/*.md | wc -l)" -eq 6
check_eq "no request repeated for a finished node" 0 "$(mock_stat delivered_repeats)"
check "no checkpoint left" test -z "$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null)"

cp "$WS"/saved/*.db "$(ckpt_dir lld/pending)/"
lld-workflow --all --dry-run >"$WS/dry.txt" 2>&1
check_eq "a dry run leaves finished items' checkpoints alone" "$(ls "$WS/saved" | wc -l)" "$(ls "$AGENTOS_HOME"/checkpoints/*/*.db | wc -l)"
lld-workflow --all >"$WS/run3.txt" 2>&1
check_eq "with every item up to date, nothing runs" 0 "$?"
check "it says nothing is pending" grep -qF 'Nothing pending for lld' "$WS/run3.txt"
check "and the finished items' checkpoints are gone" test -z "$(ls "$AGENTOS_HOME"/checkpoints/*/*.db 2>/dev/null)"
finish
