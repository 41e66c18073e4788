#!/usr/bin/env bash
# The rest of the workstream format (SPEC 8 additions): max_workers from
# ${env.MAXW:-2}, rate_limit_delay 0.5 (at least 0.5 s between two step starts,
# across workers), a sequential group of 3 steps (one at a time, in the listed
# order), a step that fails once and passes on its retry, a group whose timeout
# stops its running step and fails the one not started; the summary has the
# Speed-up line. Every step appends "<id> start|end <seconds>" to events.txt.
source "$(dirname "$0")/lib.sh"
cd "$WS"
mark='echo \"$AGENTOS_STEP start $(date +%s.%N)\" >> events.txt'
done_='echo \"$AGENTOS_STEP end $(date +%s.%N)\" >> events.txt'
cat >ws.json <<JSON
{"id": "ws-more", "execution": {"parallel": true, "max_workers": "\${env.MAXW:-2}",
                                 "rate_limit_delay": 0.5, "timeout_per_step": 60},
 "steps": [
   {"id": "s1", "run": "$mark; sleep 0.2; $done_"},
   {"id": "s2", "run": "$mark; sleep 0.2; $done_"},
   {"id": "s3", "run": "$mark; sleep 0.2; $done_"},
   {"id": "flaky", "run": "$mark; if [ -e flaky.once ]; then $done_; exit 0; fi; touch flaky.once; exit 3",
    "retries": 1},
   {"id": "slow", "run": "$mark; sleep 30; $done_"},
   {"id": "slow-b", "run": "$mark; $done_"},
   {"id": "after", "run": "$mark; $done_", "depends_on": ["s2"]}
 ],
 "step_groups": [
   {"id": "seq", "steps": ["s3", "s1", "s2"], "execute": "sequential"},
   {"id": "tg", "steps": ["slow", "slow-b"], "max_workers": 1, "timeout": 2}
 ]}
JSON
check "the workstream file is JSON" jq -e . ws.json

unset MAXW
out=$(timeout 10 agentos-run workstream ws.json --dry-run 2>&1)
check "\${env.MAXW:-2}: the default, 2" grep -qF -- '--parallel 2:' <<<"$out"
out=$(MAXW=3 timeout 10 agentos-run workstream ws.json --dry-run 2>&1)
check "MAXW=3: 3" grep -qF -- '--parallel 3:' <<<"$out"

start=$(date +%s.%N)
timeout 120 agentos-run workstream ws.json --no-progress >run.txt 2>&1
rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
check_eq "a failed group step: exit 1" 1 "$rc"
check "the run used --parallel 2" grep -qF -- '--parallel 2,' run.txt
check "the run ended well before the slow step's 30 s" test "$(echo "$took < 25" | bc)" = 1

# rate_limit_delay: consecutive starts at least 0.5 s apart (a little slack for the
# time between the worker's start slot and the command's first line).
gaps=$(awk '$2 == "start" {print $3}' events.txt | sort -n | awk 'NR > 1 {printf "%.3f\n", $1 - p} {p = $1}')
min=$(sort -n <<<"$gaps" | head -1)
check "rate_limit_delay: the smallest gap between starts ($min s) is about 0.5 s or more" \
    test "$(echo "$min >= 0.4" | bc)" = 1

# the sequential group: s3, s1, s2, one at a time.
order=$(awk '$2 == "start" && ($1 == "s1" || $1 == "s2" || $1 == "s3") {print $1}' events.txt | xargs)
check_eq "sequential: the listed order" "s3 s1 s2" "$order"
t() { awk -v s="$1" -v e="$2" '$1 == s && $2 == e {print $3; exit}' events.txt; }
check "sequential: s1 starts after s3 ended" test "$(echo "$(t s1 start) >= $(t s3 end)" | bc)" = 1
check "sequential: s2 starts after s1 ended" test "$(echo "$(t s2 start) >= $(t s1 end)" | bc)" = 1
check "a step depending on one of the group runs after it" grep -qE '^after start' events.txt

# retries: flaky failed once and passed on its retry.
check_eq "flaky ran twice" 2 "$(grep -c '^flaky start' events.txt)"
RD=$(latest_run_dir)
check "its log says the attempt failed and is retried" grep -qF 'Attempt failed: command' "$RD/flaky.log"
check "flaky passed" grep -qE '^\[COORDINATOR\]   flaky +passed' run.txt
check "the retry is in its audit" jq -e -s 'map(select(.event == "item_retry")) | length == 1' "$RD/workflow-audit-flaky.jsonl"

# the group timeout: slow stopped at ~2 s and failed; slow-b never started.
check "slow failed naming its group's timeout" grep -qE '^\[COORDINATOR\]   slow +failed .*FAILED: group tg passed its timeout of 2s' run.txt
check "the worker's own line names the group" grep -qE '^\[slow\] FAILED: group tg passed its timeout of 2s' run.txt
check "and says the command was stopped at the group's deadline, not after the step's 60 s" \
    grep -qF "\` was stopped at its group's deadline)" run.txt
check "slow did not finish its sleep" bash -c "! grep -q '^slow end' events.txt"
check "slow-b failed without starting" grep -qE '^\[COORDINATOR\]   slow-b +failed .*not started: group tg passed its timeout of 2s' run.txt
check "slow-b never ran" bash -c "! grep -q '^slow-b start' events.txt"
check "the group timeout is in the coordinator audit" \
    jq -e -s 'map(select(.event == "group_timeout" and .group == "tg" and .item == "slow-b")) | length == 1' "$RD/coordinator-audit.jsonl"
check "5 steps passed" grep -qE 'Summary: 5 passed, 2 failed' run.txt
check "the summary has the Speed-up line" grep -qE '^\[COORDINATOR\] Speed-up [0-9.]+x \(sequential [0-9.]+s, wall [0-9.]+s\), efficiency [0-9]+% of --parallel 2' run.txt
check "and summary.json" jq -e '.speedup.factor > 0' "$RD/summary.json"

# validation errors name the step or group (exit 2).
sed 's/"timeout": 2}/"timeout": 2, "execute": "sometimes"}/' ws.json >bad.json
timeout 10 agentos-run workstream bad.json >bad.txt 2>&1
check_eq "a bad group: exit 2" 2 "$?"
check "naming the group" grep -qF 'step group tg: execute must be "parallel" or "sequential"' bad.txt
sed 's/"retries": 1/"retries": "once"/' ws.json >bad.json
timeout 10 agentos-run workstream bad.json >bad.txt 2>&1
check_eq "bad retries: exit 2" 2 "$?"
check "naming the step" grep -qF 'step flaky: retries must be a whole number' bad.txt
sed 's/"${env.MAXW:-2}"/"${env.MAXW_UNSET_X}"/' ws.json >bad.json
timeout 10 agentos-run workstream bad.json >bad.txt 2>&1
check_eq "an unset variable without a default: exit 2" 2 "$?"
check "naming it" grep -qF 'MAXW_UNSET_X' bad.txt

# the examples run as documented (examples/workstreams/README.md)
mkdir -p ex && cd ex
timeout 120 agentos-run workstream "$ROOT/examples/workstreams/three-utilities.json" --no-progress >three.txt 2>&1
check_eq "examples/workstreams/three-utilities.json: exit 0" 0 "$?"
check "it chose its width (max_workers auto)" grep -qE '^\[COORDINATOR\] --parallel auto: [0-9]+ ' three.txt
check "4 steps passed" grep -qF '4 passed, 0 failed' three.txt
MAXW=2 timeout 120 agentos-run workstream "$ROOT/examples/workstreams/diamond.json" --no-progress >diamond.txt 2>&1
check_eq "examples/workstreams/diamond.json: exit 0" 0 "$?"
check "the diamond's report" grep -qF 'evens 50, odds 50' work/report.txt
out=$(timeout 10 agentos-run workstream "$ROOT/examples/workstreams/diamond.json" --dry-run 2>&1)
check "its dry run: 3 waves, up to date" grep -qF '0 of 4 steps would run, 3 waves' <<<"$out"
cd ..
finish
