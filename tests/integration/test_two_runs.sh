#!/usr/bin/env bash
# One workspace, several runs (SPEC 13): two runs on the same items never
# process one item at once and never pay for a node twice; a run that can own
# nothing exits 0 and says why; a run killed with -9 leaves nothing that stops
# the next one, which resumes its item from the checkpoint. Workstream steps
# too: no step runs twice, and a step whose dependency another run holds is
# left to that run.
source "$(dirname "$0")/lib.sh"
cd "$WS"

# run_id_in FILE: the run id from a run's first console line ("Run <id>: ...").
run_id_in() { sed -n 's/^\[COORDINATOR\] Run \([^:]*\):.*/\1/p' "$1" | head -1; }
# wait_pid PID SECS: wait for background job PID, at most SECS (then kill -9 it);
# its exit status in $WAIT_RC (124 on time-out).
wait_pid() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && { kill -9 "$1"; wait "$1" 2>/dev/null; WAIT_RC=124; return; }
    wait "$1"
    WAIT_RC=$?
}

# ---- two runs 0.2 s apart on the same 12 items ----------------------------------
start_mock --latency-ms 300
write_credentials 3
make_specs lld/pending 12
lld-workflow --all --parallel 3 --no-progress >a.txt 2>&1 &
a=$!
sleep 0.2
lld-workflow --all --parallel 3 --no-progress >b.txt 2>&1 &
b=$!
wait_pid $a 240
ra=$WAIT_RC
wait_pid $b 240
rb=$WAIT_RC
check_eq "the first run exits 0" 0 "$ra"
check_eq "the second run, started 0.2 s later, exits 0" 0 "$rb"
check_eq "all 12 results exist" 12 "$(grep -l '^status: ' lld/done/*.md 2>/dev/null | wc -l)"
check_eq "the stand-in answered no prompt twice" 0 "$(mock_stat prompts_sha256_repeats)"
check_eq "and delivered no finished step twice" 0 "$(mock_stat delivered_repeats)"
check_eq "2 requests per item, 24 in all: no node paid for twice" 24 "$(mock_stat completions)"
ida=$(run_id_in a.txt)
check "the second run names the run that holds items" grep -q "being processed by run $ida" b.txt
check "no readonly-database failure" bash -c "! grep -qi 'readonly database' a.txt b.txt"
check "no item failed in either run" bash -c "! grep -q 'FAILED' a.txt b.txt"
check "every console line whole and prefixed" every_line_prefixed b.txt
ja=$(ls -1d "$AGENTOS_HOME"/logs/parallel/*/summary.json | head -1)
jb=$(ls -1d "$AGENTOS_HOME"/logs/parallel/*/summary.json | tail -1)
check_eq "between them the two runs did all 12" 12 \
    "$(jq -s '[.[].items[] | select(.outcome == "approved" and .requests > 0) | .id] | unique | length' "$ja" "$jb")"
check_eq "items one run left to the other are other-run with the owner named" 0 \
    "$(jq -s '[.[].items[] | select(.outcome == "other-run" and (.reason | test("^being processed by run ") | not))] | length' "$ja" "$jb")"
check_eq "no lock file or checkpoint is left" "" "$(find "$AGENTOS_HOME/checkpoints" -type f ! -name WORKSPACE)"
diag b.txt | grep -E 'COORDINATOR\] [0-9]+ items|left to|Summary' | head -5

# ---- a run that finds every item held exits 0 and says why ---------------------
rm -rf lld "$AGENTOS_HOME/logs"
stop_mock
start_mock --latency-ms 3000
write_credentials 2
make_specs lld/pending 2
lld-workflow --all --parallel 2 --no-progress >a.txt 2>&1 &
a=$!
wait_for a.txt 'Executing: N1_design' 2
ida=$(run_id_in a.txt)
timeout 30 lld-workflow --all --parallel 2 >c.txt 2>&1
check_eq "a run started while another holds every item exits 0" 0 "$?"
check "and says why, naming the owner" \
    grep -qx "\[COORDINATOR\] Nothing to take: all 2 items are being processed by run $ida" c.txt
check_eq "it made no run folder" 1 "$(ls -1 "$AGENTOS_HOME/logs/parallel" | wc -l)"
timeout 30 lld-workflow --all --dry-run >d.txt 2>&1
check "--dry-run shows who holds an item" grep -qE "^  LLD-01 .* being processed by run $ida\$" d.txt
wait_pid $a 120
check_eq "the owner still finishes (exit 0)" 0 "$WAIT_RC"
check_eq "2 results" 2 "$(grep -l '^status: ' lld/done/*.md 2>/dev/null | wc -l)"

# ---- the owner killed with -9 mid-item: the next run takes it over -------------
rm -rf lld "$AGENTOS_HOME/logs"
mock_reset
make_specs lld/pending 1
lld-workflow --all --no-progress >a.txt 2>&1 &
a=$!
wait_for a.txt 'Executing: N2_review'
sleep 1 # the review request is in flight (the stand-in answers after 3 s)
ida=$(run_id_in a.txt)
kill_run_hard $a
lock=$(find "$AGENTOS_HOME/checkpoints" -name '*.lock')
check "the killed run left its lock file beside the checkpoint" test -e "${lock%.lock}"
check "holding the dead run's id" grep -qx "$ida" "$lock"
timeout 60 lld-workflow --all --no-progress >b.txt 2>&1
check_eq "the next run takes the item over (exit 0)" 0 "$?"
check "and resumes from the checkpoint" grep -q '^\[LLD-01\] Resuming at N2_review from checkpoint' b.txt
check "no design requested again" bash -c "! grep -q 'Executing: N1_design' b.txt"
check_eq "the stand-in delivered no finished step twice" 0 "$(mock_stat delivered_repeats)"
check "the result exists" grep -q '^status: approved' lld/done/LLD-01.md
check_eq "the stale lock file is gone" "" "$(find "$AGENTOS_HOME/checkpoints" -type f ! -name WORKSPACE)"

# ---- workstream steps: two runs, each step runs once ---------------------------
rm -rf lld "$AGENTOS_HOME/logs"
cat >ws.json <<'EOF'
{"id": "ws-two", "execution": {"parallel": true, "max_workers": 2, "timeout_per_step": 60},
 "steps": [
   {"id": "s1", "run": "echo x >> ran.s1; sleep 1"},
   {"id": "s2", "run": "echo x >> ran.s2; sleep 1", "depends_on": ["s1"]},
   {"id": "s3", "run": "echo x >> ran.s3; sleep 1"},
   {"id": "s4", "run": "echo x >> ran.s4; sleep 1"},
   {"id": "s5", "run": "echo x >> ran.s5; sleep 1", "depends_on": ["s3"]}
 ]}
EOF
agentos-run workstream ws.json --no-progress >a.txt 2>&1 &
a=$!
sleep 0.2
agentos-run workstream ws.json --no-progress >b.txt 2>&1 &
b=$!
wait_pid $a 120
ra=$WAIT_RC
wait_pid $b 120
rb=$WAIT_RC
check_eq "two workstream runs: the first exits 0" 0 "$ra"
check_eq "the second exits 0" 0 "$rb"
check_eq "every step ran exactly once" "1 1 1 1 1" \
    "$(for s in s1 s2 s3 s4 s5; do wc -l <ran.$s 2>/dev/null || echo 0; done | xargs)"
check "the second run left steps to the first" grep -qE 'being processed by run|left to another run' b.txt
timeout 30 agentos-run workstream ws.json >c.txt 2>&1
check "a third run finds every step passed" grep -q 'Nothing pending' c.txt

# ---- an item taken by another run between this run's plan and its claim --------
# The lock of t2 is taken (by a POSIX record lock, which conflicts with agentos's
# OFD locks) while t1 runs (t1 waits, at most 20 s, until it is): this run
# planned t2 free, its worker then finds it held, leaves it to its owner, and
# leaves t3, which depends on it, too.
cat >ws2.json <<'EOF2'
{"id": "ws-race", "execution": {"parallel": true, "max_workers": 2, "timeout_per_step": 60},
 "steps": [
   {"id": "t1", "run": "echo x >> ran.t1; for i in $(seq 200); do test -e held && break; sleep 0.1; done"},
   {"id": "t2", "run": "echo x >> ran.t2", "depends_on": ["t1"]},
   {"id": "t3", "run": "echo x >> ran.t3", "depends_on": ["t2"]}
 ]}
EOF2
agentos-run workstream ws2.json --no-progress >a.txt 2>&1 &
a=$!
wait_for a.txt '[t1] Running'
# Beside t1's (held) lock, wherever the checkpoints of this workstream live.
t1lock=$(find "$AGENTOS_HOME/checkpoints" -name '*t1.db.lock' | head -1)
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "a+")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
f.truncate(0); f.write("19991231T235959Z-1"); f.flush()
open(sys.argv[2], "w").close()
time.sleep(60)
' "${t1lock%t1.db.lock}t2.db.lock" held &
holder=$!
wait_pid $a 60
check_eq "a run whose planned item was taken meanwhile exits 0" 0 "$WAIT_RC"
check "the taken step is left to its owner" \
    grep -q '^\[COORDINATOR\] t2 left to another run: being processed by run 19991231T235959Z-1$' a.txt
check "its dependent is left to it too" \
    grep -q '^\[COORDINATOR\] t3 left to another run: it depends on t2, which is being processed by run 19991231T235959Z-1$' a.txt
check "neither ran" test ! -e ran.t2 -a ! -e ran.t3
check "the summary counts them" grep -q 'Summary: 1 passed, 0 failed, 0 skipped, 2 left to another run' a.txt
kill $holder 2>/dev/null
wait $holder 2>/dev/null
timeout 60 agentos-run workstream ws2.json --no-progress >b.txt 2>&1
check_eq "once the owner is gone, the next run does them (exit 0)" 0 "$?"
check_eq "each step ran once" "1 1 1" "$(for s in t1 t2 t3; do wc -l <ran.$s 2>/dev/null || echo 0; done | xargs)"
finish
