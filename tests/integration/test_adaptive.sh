#!/usr/bin/env bash
# The run sizes itself (SPEC 12): --parallel auto names its width and what bounded
# it, never above 10 nor the keys' request slots; --adaptive governs the requests in
# flight to an endpoint from errors and latency, against the stand-in in overload
# mode (capacity 3: beyond 3 it queues, beyond 6 it answers 503): each change is a
# console line, a coordinator audit event, and shows in agentos-shmstat (table,
# JSON, Prometheus); the summary has the Speed-up line. Timing comparisons live in
# perf/bench_adaptive.sh, not here.
source "$(dirname "$0")/lib.sh"
cd "$WS"
CREDS="$AGENTOS_HOME/credentials.json"
start_mock --capacity 3 --latency-ms 200

# 1. --parallel auto on a batch: exit 0, the first line names the width and why.
write_credentials 2
make_specs lld/pending 6
timeout 120 lld-workflow --all --parallel auto --no-progress >"$WS/auto.txt" 2>&1
check_eq "--parallel auto exits 0" 0 "$?"
first=$(head -1 "$WS/auto.txt")
check "the first line names the width and what bounded it" \
    grep -qE '^\[COORDINATOR\] --parallel auto: [0-9]+ \(bounded by ' <<<"$first"
w=$(sed -n 's/^\[COORDINATOR\] --parallel auto: \([0-9]*\) .*/\1/p' <<<"$first")
check_le "the width is at most the keys' request slots (2)" "$w" 2
check "it names the keys' request slots" grep -qF "the keys' request slots: 2" <<<"$first"
check "the Run line uses it" grep -qF -- "--parallel $w," "$WS/auto.txt"
check "auto implies adaptive" grep -qF '[COORDINATOR] Adaptive: each endpoint starts at' "$WS/auto.txt"
check "6 approved" grep -qF '6 approved, 0 need revision, 0 failed' "$WS/auto.txt"
check "the summary has the Speed-up line" grep -qE '^\[COORDINATOR\] Speed-up [0-9.]+x \(sequential' "$WS/auto.txt"
out=$(timeout 10 lld-workflow --all --fresh --dry-run --parallel auto 2>&1)
check "--dry-run says --parallel auto" grep -qF -- '--parallel auto)' <<<"$out"

# wide keys: never above 10
write_credentials 3 openai ', "concurrency": 8'
rm -rf lld && make_specs lld/pending 2
timeout 60 lld-workflow --all --parallel auto --no-progress >"$WS/auto2.txt" 2>&1
check_eq "auto with 24 key slots exits 0" 0 "$?"
w=$(sed -n '1s/^\[COORDINATOR\] --parallel auto: \([0-9]*\) .*/\1/p' "$WS/auto2.txt")
check_le "never above 10" "$w" 10

# 2. --adaptive against a server that turns requests away past 6 in flight.
write_credentials 2 openai ', "concurrency": 5'
echo '{"adaptive": {"window_s": 1}}' >"$WS/fast.json"
rm -rf lld && make_specs lld/pending 30
mock_reset
lld-workflow --all --parallel 10 --adaptive --config "$WS/fast.json" --no-progress \
    >"$WS/adapt.txt" 2>&1 &
pid=$!
RUN=$(run_id_of "$pid")
seen=""
for _ in $(seq 1 200); do
    seen=$(agentos-shmstat --json "$RUN" 2>/dev/null |
        jq -r '[.limits[] | select(.kind == "endpoint" and .adaptive.last_change != null)][0].adaptive.last_change.to // empty')
    [ -n "$seen" ] && break
    sleep 0.05
done
check "agentos-shmstat --json shows the endpoint's limit change" test -n "$seen"
agentos-shmstat --prometheus "$RUN" >"$WS/prom.txt" 2>/dev/null
agentos-shmstat "$RUN" >"$WS/table.txt" 2>/dev/null
timeout 120 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "the adaptive run exits 0" 0 "$?"
check "30 approved" grep -qF '30 approved, 0 need revision, 0 failed' "$WS/adapt.txt"
check "a change is a console line in the SPEC's words" \
    grep -qE "^\[COORDINATOR\] endpoint 127\.0\.0\.1:$MOCK_PORT: [0-9]+ -> [0-9]+ requests? at a time \(.+\)$" "$WS/adapt.txt"
RD=$(latest_run_dir)
check "and a coordinator audit event" \
    jq -e -s 'map(select(.event == "limit_change" and (.from | type) == "number" and (.to | type) == "number" and .reason != null)) | length > 0' "$RD/coordinator-audit.jsonl"
check "every coordinator audit line is JSON" jq -e -s 'length > 0' "$RD/coordinator-audit.jsonl"
check "Prometheus has the endpoint's limit" grep -qE '^agentos_limit\{kind="endpoint",name="http://127\.0\.0\.1:[0-9]+/v1"\} [0-9]+$' "$WS/prom.txt"
check "and its changes" grep -qE '^agentos_limit_changes_total\{kind="endpoint",' "$WS/prom.txt"
check "the table has a LIMIT section" grep -qE '^endpoint +http://127\.0\.0\.1' "$WS/table.txt"
check_le "the stand-in never had more than the width in flight" "$(mock_stat max_in_flight)" 10
check "the summary has the Speed-up line" grep -qE '^\[COORDINATOR\] Speed-up [0-9.]+x' "$WS/adapt.txt"
check_eq "summary.json has the speed-up" true "$(jq '.speedup.factor > 0' "$RD/summary.json" 2>/dev/null)"

# 3. A bad adaptive setting is a configuration error naming file and field.
echo '{"adaptive": {"window_s": 0}}' >"$WS/bad.json"
rm -rf lld && make_specs lld/pending 1
timeout 10 lld-workflow --all --adaptive --config "$WS/bad.json" >"$WS/bad.txt" 2>&1
check_eq "bad adaptive setting: exit 2" 2 "$?"
check "naming the file and the field" grep -qF 'bad.json' "$WS/bad.txt"
diag "$WS/bad.txt"
finish
