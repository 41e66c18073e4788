#!/usr/bin/env bash
# --timeout-per-step bounds a node's own work, not its waits for a key: a run
# whose only key is rate-limited (waits of ~1 s per request) still completes
# with a 1 s step limit, while a reply slower than the limit still fails.
source "$(dirname "$0")/lib.sh"
cd "$WS"

# (no rate-limit headers: with them the key would rest before any 429, a wait all the same)
start_mock --latency-ms 20 --rpm 60 --no-ratelimit-headers
write_credentials 1
make_specs lld/pending 3
timeout 90 lld-workflow --all --timeout-per-step 1 --no-progress >"$WS/o1.txt" 2>&1
check_eq "waits for a rate-limited key do not count against the step limit" 0 "$?"
check "the key really was rate-limited" grep -q 'Rate limit hit on key-1' "$WS/o1.txt"
check_eq "every item approved" 3 "$(grep -l '^status: approved$' lld/done/*.md | wc -l)"

stop_mock
start_mock --latency-ms 1500
write_credentials 1
rm -rf lld
make_specs lld/pending 1
timeout 90 lld-workflow --all --timeout-per-step 1 --no-progress >"$WS/o2.txt" 2>&1
check_eq "a reply slower than the step limit still fails the item" 1 "$?"
check "with the reason" grep -qE '^\[LLD-01\] FAILED: LLM request failed after 5 attempts: .*timeout' "$WS/o2.txt"
finish
