#!/usr/bin/env bash
# HTTP 429s from the stand-in (SPEC 6): with a low per-key rpm and each Retry-After
# style (seconds, HTTP-date, Gemini RetryInfo body) every item completes, the
# rate-limit line appears, the run narrows and widens again, and no request reaches
# a key before the time it was told; a key that always gets 429 hands its work to the
# other key; AGENTOS_SIMULATE_429 answers without calling the stand-in.
source "$(dirname "$0")/lib.sh"
# run_dir_of CONSOLE: the run folder a run printed (two runs in one second get
# TS and TS-2, which latest_run_dir's sort can confuse).
run_dir_of() { sed -n 's/^\[COORDINATOR\] Run folder: //p' "$1" | tail -1; }
cd "$WS"

# run_style STYLE PROVIDER: 4 items on 3 keys against --rpm 30 (one request per 2 s a key).
# The stand-in keeps its rate-limit headers to itself: with them, keys rest before a 429
# can happen (test_providers.sh), and this test is about what a 429 does.
run_style() {
    local style=$1 provider=$2 out="$WS/$1.txt"
    start_mock --latency-ms 100 --rpm 30 --no-ratelimit-headers --retry-style "$style"
    write_credentials 3 "$provider"
    rm -rf lld
    make_specs lld/pending 4
    timeout 50 lld-workflow --all --parallel 3 >"$out" 2>&1
    check_eq "$style: the run exits 0" 0 "$?"
    check "$style: all 4 approved" grep -q '4 approved, 0 need revision, 0 failed' "$out"
    check "$style: the rate-limit line" \
        grep -qE '^\[COORDINATOR\] Rate limit hit on key-[123]\. Backing off for [0-9]+s\. Redistributing work\.\.\.$' "$out"
    check_le "$style: the stand-in answered 429s" 1 "$(mock_stat http_429)"
    check_eq "$style: no request before its Retry-After" 0 "$(mock_stat early_requests)"
    check "$style: the run narrows while keys cool down" \
        grep -qE 'of 3 keys can serve now; running [12] workflows? at a time \(was 3\)' "$out"
    # (as a key comes back; all three at once only if the run lasts until the third does)
    check "$style: and widens again" \
        grep -qE 'running (2 workflows at a time \(was 1\)|3 workflows at a time \(was [12]\))$' "$out"
    check "$style: every console line whole and prefixed" every_line_prefixed "$out"
    stop_mock
}
run_style seconds openai
run_style http-date openai
run_style gemini-body gemini

# A key that always gets 429: its work moves to the other key, nothing fails.
start_mock --latency-ms 20 --always-429 test-key-1
write_credentials 2
rm -rf lld
make_specs lld/pending 4
timeout 50 lld-workflow --all --parallel 2 >"$WS/a429.txt" 2>&1
check_eq "always-429 key: the run exits 0" 0 "$?"
check "always-429 key: all 4 approved" grep -q '4 approved, 0 need revision, 0 failed' "$WS/a429.txt"
check "always-429 key: its rate-limit line" \
    grep -qF '[COORDINATOR] Rate limit hit on key-1. Backing off for 1s. Redistributing work...' "$WS/a429.txt"
stats=$(mock_stats)
check_le "key-2 carried every request" 8 "$(jq '.per_key["test-key-2"].requests' <<<"$stats")"
check_eq "key-2 got no 429" 0 "$(jq '.per_key["test-key-2"].http_429' <<<"$stats")"
k1=$(jq '.per_key["test-key-1"].requests' <<<"$stats")
check_eq "key-1 got only 429s" "$k1" "$(jq '.per_key["test-key-1"].http_429' <<<"$stats")"
check_eq "key-1 never asked before its second was up" 0 "$(jq '.early_requests' <<<"$stats")"
stop_mock

# AGENTOS_SIMULATE_429=2: every 2nd request of the run is a synthetic 429 with a 1 s
# delay that never reaches the stand-in; the request is retried and goes out, so the
# run finishes (SPEC 6). With --parallel 1 and 2 items of 2 requests each (a draft and
# an approving review), the run's requests are R S R S R S R: 4 real, 3 synthetic.
start_mock --latency-ms 20
write_credentials 1
rm -rf lld
make_specs lld/pending 2
AGENTOS_SIMULATE_429=2 timeout 60 lld-workflow --all --parallel 1 >"$WS/sim.txt" 2>&1
check_eq "simulated 429s: the run still finishes" 0 "$?"
check_eq "the stand-in saw each request once" 4 "$(mock_stat requests)"
check_eq "three synthetic 429s, each a backoff line" 3 \
    "$(grep -c '^\[COORDINATOR\] Rate limit hit on key-1. Backing off for 1s. Redistributing work...$' "$WS/sim.txt")"
check "both results are there" test -e lld/done/LLD-01.md -a -e lld/done/LLD-02.md
run=$(run_dir_of "$WS/sim.txt")
check "the audit names the synthetic 429" grep -q '"event":"http_429".*simulated 429' "$run/workflow-audit-LLD-01.jsonl"
check_eq "summary.json counts them" 3 "$(jq .http_429 "$run/summary.json")"
stop_mock
AGENTOS_SIMULATE_429=0 lld-workflow --all --fresh >"$WS/sim0.txt" 2>&1
check_eq "AGENTOS_SIMULATE_429=0 is a configuration error" 2 "$?"
check "naming the variable" grep -q 'AGENTOS_SIMULATE_429="0" is not a whole number' "$WS/sim0.txt"
finish
