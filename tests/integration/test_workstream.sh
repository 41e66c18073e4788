#!/usr/bin/env bash
# agentos-run workstream (SPEC 8): steps run as a graph, shell and prompt steps,
# acceptance tests, skips, --fail-fast, waves, DOT, checks before anything runs,
# and resuming from step checkpoints.
source "$(dirname "$0")/lib.sh"
start_mock
write_credentials 2
cd "$WS"

# step-01 and step-03 are independent: step-01 waits (bounded) for step-03 to have
# started, so it passes only if they really run at once.
cat >ws.json <<'EOF'
{"id": "ws-utils", "execution": {"parallel": true, "max_workers": 3, "timeout_per_step": 60},
 "steps": [
   {"id": "step-01", "run": "for i in $(seq 100); do test -e started-03 && break; sleep 0.05; done; mkdir -p a && echo hello-from-$AGENTOS_STEP | tee a/out",
    "files": ["a/"], "depends_on": [], "acceptance_tests": ["test -f a/out", "test -e started-03"]},
   {"id": "step-02", "prompt": "# Notes\n\nWrite notes about a.", "output": "b/notes.md",
    "depends_on": ["step-01"], "files": ["b/"]},
   {"id": "step-03", "run": "touch started-03; mkdir -p c && echo three > c/x", "files": ["c/"]},
   {"id": "step-04", "run": "cat a/out b/notes.md c/x > d.txt", "files": ["d.txt"],
    "depends_on": ["step-02", "step-03"], "acceptance_tests": ["grep -q hello-from-step-01 d.txt"]}
 ]}
EOF

# --dry-run: waves, nothing written, no request, no segment.
# (the shell writes its pid, then becomes the run: a segment would end in it)
timeout 30 bash -c 'echo $$ >"$0"; exec agentos-run workstream ws.json --dry-run' "$WS/dry.pid" >dry.txt 2>&1
check_eq "dry run exits 0" 0 "$?"
dry=$(cat "$WS/dry.pid")
check "dry run names the waves" grep -q '^Workstream ws-utils: 4 of 4 steps would run, 3 waves, --parallel 3:' dry.txt
check_eq "wave 1 holds step-01 and step-03" "step-01 step-03" \
    "$(awk '/^Wave 1:/{w=1;next} /^Wave/{w=0} w{print $1}' dry.txt | xargs)"
check_eq "wave 3 holds step-04" "step-04" "$(awk '/^Wave 3:/{w=1;next} /^Wave/{w=0} w{print $1}' dry.txt | xargs)"
check "a prompt step is shown as one" grep -qE '^  step-02 +prompt +new' dry.txt
check "dry run made no run folder" test ! -e "$AGENTOS_HOME/logs"
check "dry run made no checkpoint" test ! -e "$AGENTOS_HOME/checkpoints"
check_eq "dry run sent no request" 0 "$(mock_stat requests)"
check_eq "dry run left no segment" 0 "$(ls /dev/shm | grep -c -- "^agentos-.*-$dry\$")"

# --dot: the graph, edges from prerequisite to dependent.
timeout 30 agentos-run workstream ws.json --dot >ws.dot 2>&1
check_eq "--dot exits 0" 0 "$?"
check "--dot prints a digraph" grep -q '^digraph "ws-utils" {' ws.dot
check "--dot has the edge step-01 -> step-02" grep -qF '"step-01" -> "step-02";' ws.dot
check_eq "--dot has one edge per dependency" 4 "$(grep -c -- '->' ws.dot)"

# The run.
start=$(date +%s%N)
timeout 60 agentos-run workstream ws.json >run.txt 2>&1
rc=$?
check_eq "the workstream completes (exit 0)" 0 "$rc"
check "summary: 4 passed" grep -q '^\[COORDINATOR\] Summary: 4 passed, 0 failed, 0 skipped (4 steps' run.txt
check "every console line whole and prefixed" every_line_prefixed run.txt
check "step-01 and step-03 ran at once" grep -q '^three$' c/x
check "the prompt step wrote its output" grep -q '^# Design: Notes' b/notes.md
check "the dependent step saw both" grep -q three d.txt
l_done=$(grep -n '^\[step-02\] Completed: passed' run.txt | cut -d: -f1)
l_start=$(grep -n '^\[step-04\] >>> Executing: S1_execute' run.txt | cut -d: -f1)
check "step-04 started after step-02 passed" test "${l_done:-99}" -lt "${l_start:-0}"
run=$(latest_run_dir)
check "the command's output is in the step's log" grep -q '^hello-from-step-01$' "$run/step-01.log"
check "audit lines parse" audit_valid "$run"
check_eq "summary.json counts" "4 0 0" "$(jq -r '"\(.counts.passed) \(.counts.failed) \(.counts.skipped)"' "$run/summary.json")"
check_eq "one request, for the prompt step" 1 "$(mock_stat requests)"
check "no checkpoint left" test -z "$(ls "$AGENTOS_HOME"/checkpoints/workstream-ws-utils/*/*.db 2>/dev/null)"
check "each passed step is recorded" test -f "$AGENTOS_HOME"/workstreams/ws-utils/*/step-04.md
check_eq "files are 0600" "600" "$(stat -c %a "$AGENTOS_HOME"/workstreams/ws-utils/*/step-04.md)"

# A re-run finds nothing pending; editing step-03 re-runs it and what depends on it.
timeout 30 agentos-run workstream ws.json >rerun.txt 2>&1
check_eq "re-run exits 0" 0 "$?"
check "re-run finds nothing pending" grep -q 'Nothing pending in workstream ws-utils (4 steps up to date)' rerun.txt
sed -i 's/echo three/echo THREE/' ws.json
timeout 30 agentos-run workstream ws.json --dry-run >dry2.txt 2>&1
check "after an edit: step-01 up to date" grep -qE '^  step-01 +run +up to date' dry2.txt
check "after an edit: step-03 new" grep -qE '^  step-03 +run +new' dry2.txt
check "after an edit: step-04 (depends on it) new" grep -qE '^  step-04 +run +new' dry2.txt
check "after an edit: step-02 up to date" grep -qE '^  step-02 +prompt +up to date' dry2.txt

# A failed step skips its dependents; the others go on; exit 1.
cat >fail.json <<'EOF'
{"id": "ws-fail", "execution": {"parallel": true, "max_workers": 2},
 "steps": [
   {"id": "bad", "run": "echo about to fail; exit 3"},
   {"id": "after-bad", "run": "touch after-bad.ran", "depends_on": ["bad"]},
   {"id": "after-after", "run": "touch after-after.ran", "depends_on": ["after-bad"]},
   {"id": "fine", "run": "touch fine.ran"},
   {"id": "untested", "run": "true", "acceptance_tests": ["test -e no-such-file"]}
 ]}
EOF
timeout 60 agentos-run workstream fail.json >fail.txt 2>&1
check_eq "a failed step: exit 1" 1 "$?"
check "the reason names the command and status" grep -qF '[bad] FAILED: command `echo about to fail; exit 3` exited with status 3' fail.txt
check "its dependent is skipped, with the reason" grep -qF '[COORDINATOR] after-bad SKIPPED: it depends on bad, which failed' fail.txt
check "the skip cascades" grep -qF '[COORDINATOR] after-after SKIPPED: it depends on after-bad, which was skipped' fail.txt
check "skipped steps never ran" test ! -e after-bad.ran -a ! -e after-after.ran
check "an independent step still ran" test -e fine.ran
check "a failing acceptance test fails its step" grep -qF '[untested] FAILED: acceptance test `test -e no-such-file` exited with status 1' fail.txt
check "summary counts" grep -q 'Summary: 1 passed, 2 failed, 2 skipped (5 steps' fail.txt

# --fail-fast: the first failure stops a long step and everything not started; exit 1.
cat >ff.json <<'EOF'
{"id": "ws-ff", "execution": {"parallel": true, "max_workers": 2},
 "steps": [
   {"id": "slow", "run": "sleep 30.017"},
   {"id": "quick-fail", "run": "sleep 0.3; exit 1"},
   {"id": "later", "run": "touch later.ran", "depends_on": ["slow"]}
 ]}
EOF
t0=$(date +%s%N)
timeout 60 agentos-run workstream ff.json --fail-fast >ff.txt 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "--fail-fast: exit 1" 1 "$rc"
check "--fail-fast stops within 6 s (the slow step sleeps 30)" test "$ms" -lt 6000
check "--fail-fast says why" grep -qF '[COORDINATOR] quick-fail failed; --fail-fast stops the run (1 step not started)' ff.txt
check "the not-started step never ran" test ! -e later.ran
check_eq "the slow step was interrupted, its checkpoint kept" interrupted \
    "$(jq -r '.items[] | select(.id == "slow") | .outcome' "$(latest_run_dir)/summary.json")"
check "no sleep left behind" test -z "$(pgrep -f '^sleep 30.017$')"

# Checked before anything runs: cycles, unknown dependencies, overlapping files.
runs_before=$(ls "$AGENTOS_HOME/logs/parallel" | wc -l)
printf '{"id":"c","steps":[{"id":"step-a","run":"true","depends_on":["step-b"]},{"id":"step-b","run":"true","depends_on":["step-a"]}]}' >cycle.json
timeout 10 agentos-run workstream cycle.json >cycle.txt 2>&1
check_eq "a cycle: exit 2" 2 "$?"
check "a cycle is named" grep -qF 'Step deadlock detected: step-a -> step-b -> step-a' cycle.txt
printf '{"id":"u","steps":[{"id":"s1","run":"true","depends_on":["s9"]}]}' >unknown.json
timeout 10 agentos-run workstream unknown.json >unknown.txt 2>&1
check_eq "an unknown dependency: exit 2" 2 "$?"
check "the unknown dependency is named" grep -qF 'step s1 depends on unknown step "s9"' unknown.txt
printf '{"id":"o","steps":[{"id":"s1","run":"touch o1","files":["src/"]},{"id":"s2","run":"touch o2","files":["src/x.c"]}]}' >overlap.json
timeout 10 agentos-run workstream overlap.json >overlap.txt 2>&1
check_eq "overlapping files of steps that may run at once: exit 2" 2 "$?"
check "the overlap names both steps" grep -qE 'steps s1 and s2 may run at once' overlap.txt
check "nothing ran" test ! -e o1 -a ! -e o2
check_eq "no run folder for a refused file" "$runs_before" "$(ls "$AGENTOS_HOME/logs/parallel" | wc -l)"
timeout 10 agentos-run workstream overlap.json --parallel 1 >overlap1.txt 2>&1
check_eq "one at a time, the same files are fine" 0 "$?"

# A step over its time limit is stopped and fails.
printf '{"id":"t","execution":{"timeout_per_step":1},"steps":[{"id":"hang","run":"sleep 20"}]}' >t.json
t0=$(date +%s%N)
timeout 30 agentos-run workstream t.json >t.txt 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "a step past its timeout: exit 1" 1 "$rc"
check "the timeout is the reason" grep -qF '[hang] FAILED: command `sleep 20` timed out after 1 s' t.txt
check "it is stopped at once, not after 20 s" test "$ms" -lt 8000

# Resume: a step whose command ran but whose acceptance test failed resumes at the
# test; the command is not run again.
printf '{"id":"r","steps":[{"id":"once","run":"echo ran >> count.txt","acceptance_tests":["test -e go"]}]}' >r.json
timeout 30 agentos-run workstream r.json >r1.txt 2>&1
check_eq "acceptance not met yet: exit 1" 1 "$?"
timeout 30 agentos-run workstream r.json --dry-run >r2.txt 2>&1
check "the dry run says it resumes at the acceptance tests" grep -qE '^  once +run +resume at S2_accept' r2.txt
touch go
timeout 30 agentos-run workstream r.json >r3.txt 2>&1
check_eq "then it passes" 0 "$?"
check "resumed from its checkpoint" grep -qF '[once] Resuming at S2_accept from checkpoint' r3.txt
check_eq "the command ran once" 1 "$(wc -l <count.txt)"

# Ctrl+C mid-step: exit 130, checkpoint kept, the next run completes.
printf '{"id":"i","steps":[{"id":"long","run":"sleep 2; touch long.done"},{"id":"next","run":"touch next.done","depends_on":["long"]}]}' >i.json
agentos-run workstream i.json >i1.txt 2>&1 &
pid=$!
wait_for i1.txt '[long] >>> Executing: S1_execute'
kill -INT "$pid"
wait "$pid"
check_eq "Ctrl+C: exit 130" 130 "$?"
check "no step after the interrupted one started" test ! -e next.done
timeout 30 agentos-run workstream i.json >i2.txt 2>&1
check_eq "the next run completes" 0 "$?"
check "both steps done" test -e long.done -a -e next.done

# A worker killed with -9 in the middle of a step's command: its shell dies with it
# (no orphan finishes the command), the step is retried once from its checkpoint, and
# the inspector shows the waiting step as blocked meanwhile.
printf '{"id":"k","steps":[{"id":"victim","run":"sleep 3; echo done >> k.txt"},{"id":"after","run":"touch after.done","depends_on":["victim"]}]}' >k.json
agentos-run workstream k.json >k1.txt 2>&1 &
coord=$!
wait_for k1.txt "[victim] Running: sleep 3"
run=$(run_id_of "$coord")
check_eq "the inspector shows the waiting step as blocked" blocked \
    "$(agentos-shmstat --json "$run" | jq -r '.items[] | select(.id == "after") | .claim')"
victim=$(busy_worker "$coord")
kill -9 "$victim"
wait "$coord"
check_eq "a worker killed mid-step: the run still completes" 0 "$?"
check "the coordinator retried the step" grep -qE "^\[COORDINATOR\] Worker $victim killed by signal 9 while running victim; retrying it from its checkpoint" k1.txt
sleep 3.5 # long enough for an orphaned "sleep 3; echo" to have written
check_eq "the killed worker's command did not finish on its own" 1 "$(wc -l <k.txt)"
check "the dependent ran after the retry" test -e after.done

# Shell steps need no credentials file at all.
rm -f "$AGENTOS_HOME/credentials.json"
printf '{"id":"nokey","steps":[{"id":"s","run":"touch nokey.ran"}]}' >nokey.json
timeout 30 agentos-run workstream nokey.json >nokey.txt 2>&1
check_eq "shell steps run without credentials" 0 "$?"
check "and ran" test -e nokey.ran
timeout 30 agentos-run workstream ws.json --fresh >nokey2.txt 2>&1
check_eq "a prompt step without credentials: exit 2" 2 "$?"
check "the message names the credentials file" grep -q 'credentials.json' nokey2.txt

finish
