#!/usr/bin/env bash
# The key pool's shape (SPEC 6): request slots (`concurrency`) bound the requests in
# flight whatever --parallel says, roles send drafts and reviews to their own keys,
# AGENTOS_CREDENTIAL_LIMIT uses only the first keys, and an endpoint that keeps
# answering 503 trips its circuit breaker while the item fails after 5 attempts.
source "$(dirname "$0")/lib.sh"
# run_dir_of CONSOLE: the run folder a run printed (two runs in one second get
# TS and TS-2, which latest_run_dir's sort can confuse).
run_dir_of() { sed -n 's/^\[COORDINATOR\] Run folder: //p' "$1" | tail -1; }
cd "$WS"
CREDS="$AGENTOS_HOME/credentials.json"
start_mock --latency-ms 300

# 1. Two keys of one request slot each, --parallel 5: at most 2 requests at once.
write_credentials 2
make_specs lld/pending 6
timeout 30 lld-workflow --all --parallel 5 >"$WS/c1.txt" 2>&1
check_eq "2 keys x 1 slot: the run exits 0" 0 "$?"
check "all 6 approved" grep -q '6 approved, 0 need revision, 0 failed' "$WS/c1.txt"
mif=$(mock_stat max_in_flight)
check_le "never more than 2 requests in flight" "$mif" 2
check_eq "and 2 did overlap" 2 "$mif"
check "the narrowing line" \
    grep -qF '[COORDINATOR] 2 of 2 keys can serve now; running 2 workflows at a time (was 5)' "$WS/c1.txt"

# 2. One key of 3 request slots: 3 at once.
mock_reset
write_credentials 1 openai ', "concurrency": 3'
rm -rf lld
make_specs lld/pending 6
timeout 30 lld-workflow --all --parallel 5 >"$WS/c3.txt" 2>&1
check_eq "1 key x 3 slots: the run exits 0" 0 "$?"
check_eq "3 requests in flight at once" 3 "$(mock_stat max_in_flight)"
check "the narrowing line" \
    grep -qF '[COORDINATOR] 1 of 1 key can serve now; running 3 workflows at a time (was 5)' "$WS/c3.txt"

# 3. Roles: drafts only on the draft key, reviews only on the review key.
mock_reset
url="http://127.0.0.1:$MOCK_PORT/v1"
cat >"$CREDS" <<EOF
{"credentials": [
 {"id": "drafter", "provider": "openai", "model": "m", "base_url": "$url", "api_key": "test-key-d", "roles": ["draft"]},
 {"id": "reviewer", "provider": "openai", "model": "m", "base_url": "$url", "api_key": "test-key-r", "roles": ["review"]}
]}
EOF
chmod 600 "$CREDS"
rm -rf lld
make_specs lld/pending 3
timeout 30 lld-workflow --all --parallel 2 >"$WS/roles.txt" 2>&1
check_eq "roles: the run exits 0" 0 "$?"
run=$(run_dir_of "$WS/roles.txt")
pairs=$(cat "$run"/workflow-audit-*.jsonl | jq -r 'select(.event == "llm_request") | "\(.node)=\(.key)"' | sort -u | tr '\n' ' ')
check_eq "audit: drafts on drafter, reviews on reviewer" "N1_design=drafter N2_review=reviewer " "$pairs"
stats=$(mock_stats)
check_eq "the stand-in saw 3 requests on the draft key" 3 "$(jq '.per_key["test-key-d"].requests' <<<"$stats")"
check_eq "and 3 on the review key" 3 "$(jq '.per_key["test-key-r"].requests' <<<"$stats")"
check_eq "3 drafts and 3 reviews in all" "3 3" "$(jq -r '"\(.drafts) \(.reviews)"' <<<"$stats")"

# 4. AGENTOS_CREDENTIAL_LIMIT=1 with 3 keys: only the first is used.
mock_reset
write_credentials 3
rm -rf lld
make_specs lld/pending 3
AGENTOS_CREDENTIAL_LIMIT=1 timeout 30 lld-workflow --all --parallel 3 >"$WS/limit.txt" 2>&1
check_eq "credential limit: the run exits 0" 0 "$?"
check "the run counts 1 key" grep -qE '^\[COORDINATOR\] Run .*, 1 key$' "$WS/limit.txt"
check_eq "the stand-in saw only key 1" '["test-key-1"]' \
    "$(mock_stats | jq -c '.per_key | with_entries(select(.value.requests > 0)) | keys')"
check_eq "with every request" 6 "$(mock_stats | jq '.per_key["test-key-1"].requests')"
stop_mock

# 5. Circuit breaker: the only endpoint answers 503 to everything.
start_mock --latency-ms 10 --fail-rate 1
write_credentials 1
rm -rf lld
make_specs lld/pending 1
timeout 30 lld-workflow --all >"$WS/cb.txt" 2>&1
check_eq "503s: the run exits 1" 1 "$?"
check "the item fails after 5 attempts" \
    grep -qF '[LLD-01] FAILED: LLM request failed after 5 attempts: HTTP 503' "$WS/cb.txt"
check "the breaker line" grep -qE "^\[COORDINATOR\] Endpoint http://127\.0\.0\.1:$MOCK_PORT/v1 failing \(5 errors in a row\); no requests to it for 5s$" "$WS/cb.txt"
check_eq "exactly 5 requests reached the endpoint" 5 "$(mock_stat requests)"
check_eq "all of them 503" 5 "$(mock_stat http_5xx)"
finish
