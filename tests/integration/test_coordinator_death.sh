#!/usr/bin/env bash
# kill -9 of the coordinator: its workers notice (PR_SET_PDEATHSIG), stop at a
# safe point and exit; the segment it leaves is stale, and the next run removes
# it and resumes every item from its checkpoint.
# test: alone (any other suite's run would remove the stale segment this test
# looks for: every run clears its user's segments whose coordinator is dead)
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 400
write_credentials 3
cd "$WS"
make_specs lld/pending 6
lld-workflow --all --parallel 3 >"$WS/run1.txt" 2>&1 &
coord=$!
wait_for "$WS/run1.txt" 'Executing: N2_review' 2
workers=$(pgrep -P "$coord" -x agentos-worker | tr '\n' ' ')
check "the run has workers" test -n "$workers"
kill -9 "$coord"
wait "$coord" 2>/dev/null
gone=0
for _ in $(seq 1 100); do
    alive=0
    for w in $workers; do kill -0 "$w" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && { gone=1; break; }
    sleep 0.05
done
check_eq "every worker exits within 5 s of the coordinator's death" 1 "$gone"
seg=$(ls /dev/shm | grep -- "-$coord\$")
check "the dead coordinator's segment is left behind" test -n "$seg"
timeout 20 agentos-shmstat 2>/dev/null | grep -q stale || true
timeout 120 lld-workflow --all --parallel 3 >"$WS/run2.txt" 2>&1
check_eq "the next run completes" 0 "$?"
check "and resumes from checkpoints" grep -q 'Resuming at N' "$WS/run2.txt"
check "the stale segment was removed" test ! -e "/dev/shm/$seg"
check "all 6 approved" test "$(grep -l '^status: approved$' lld/done/*.md | wc -l)" -eq 6
check_eq "no finished node was requested again" 0 "$(mock_stat delivered_repeats)"
finish
