#!/usr/bin/env bash
# agentos against a real OpenAI-compatible server (SPEC 14, SPEC 6a): llama.cpp's
# llama-server with a tiny random model, behind a real haproxy that logs every
# request (a ledger with hashed keys) and, in the last part, injects faults.
#
#   1. a 6-spec batch with `max_tokens` on the keys completes (a random model
#      gives no verdict: items end needs-revision), no reply longer than
#      max_tokens, usage totals positive and equal to the server's own counts
#      (/metrics tokens_predicted_total, prompt_tokens_total + _cached_total)
#      and to the sum of the usage in the audit
#   2. an over-long prompt fails at once, after exactly one request, with the
#      server's exceed_context_size_error message
#   3. a wrong key gets one request (401) and is disabled; the batch completes
#      on the good key
#   4. through haproxy's faults (429 + Retry-After, 503, held connections) a
#      batch completes with 0 requests before their Retry-After
#   5. no secret reaches any output: console, run folders, checkpoints, results
#
# Needs the other half of issue 10 (credential fields `max_tokens`, `timeout_s`,
# token accounting in summary.json and the audit, 4xx not retried): until it
# is merged, parts 1-4 fail where they check those. Skips (TAP SKIP) when
# llama-server is not built (tests/real/llama.sh build). Bounded: a watchdog
# ends the test after LLAMA_TEST_TIMEOUT s (default 600); servers stop at exit.
source "$(dirname "$0")/llama.sh"
source "$REAL_DIR/haproxy.sh"

setsid bash -c "sleep ${LLAMA_TEST_TIMEOUT:-600}; kill -TERM $$" </dev/null >/dev/null 2>&1 &
real_at_exit "kill -- -$! 2>/dev/null"

if ! llama_available; then
    real_skip "llama-server not built yet (run tests/real/llama.sh build; 10-30 min once)"
    finish
    exit 0
fi

secret() { echo "sk-$1-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
KEY=$(secret llama)
KEY2=$(secret llama2)
WRONG=$(secret wrong)
MAX_TOKENS=24

# -c 4096 with -np 4: 1024 tokens per slot, room for the built-in prompts.
# (twice: a port picked free may be taken by someone else before the server binds it)
if ! llama_start auto "$KEY,$KEY2" -c 4096 --metrics && ! llama_start auto "$KEY,$KEY2" -c 4096 --metrics; then
    not_ok "llama-server starts"
    finish
    exit 1
fi
ok "llama-server is up on $LLAMA_URL"
if ! haproxy_start auto "$LLAMA_PORT"; then
    not_ok "haproxy starts in front of it"
    finish
    exit 1
fi
cd "$WS"

# key ID SECRET [MORE-JSON]: one credential entry against the proxy.
key() {
    local more=${3:-}
    [ -n "$more" ] || more='{}'
    jq -cn --arg id "$1" --arg k "$2" --arg url "$HAPROXY_URL/v1" --argjson more "$more" \
        '{id: $id, provider: "openai", model: "agentos-tiny", base_url: $url, api_key: $k} + $more'
}
# creds ENTRY...: the credentials file.
creds() {
    jq -n '{credentials: [$ARGS.positional[] | fromjson]}' --args "$@" >"$AGENTOS_HOME/credentials.json"
    chmod 600 "$AGENTOS_HOME/credentials.json"
}
# metric NAME: a llamacpp: counter from the server's /metrics, as an integer.
metric() {
    curl -s --max-time 5 -H "Authorization: Bearer $KEY" "$LLAMA_URL/metrics" |
        awk -v m="llamacpp:$1" '$1 == m { printf "%.0f\n", $2 }'
}
# tokens KIND FILE...: the sum of every "<KIND>_tokens" number (KIND prompt or
# completion; Anthropic's input/output count as the same) in the items of a
# summary.json.
tokens() {
    local re
    re=$([ "$1" = prompt ] && echo '^(prompt|input)_tokens$' || echo '^(completion|output)_tokens$')
    shift
    jq -s --arg re "$re" '[.[].items[] | .. | objects | to_entries[]
        | select(.key | test($re)) | .value | numbers] | add // 0' "$@"
}
# audit_tokens KIND RUN_DIR: the same over the audit lines of the requests.
audit_tokens() {
    local re
    re=$([ "$1" = prompt ] && echo '^(prompt|input)_tokens$' || echo '^(completion|output)_tokens$')
    cat "$2"/workflow-audit-*.jsonl | jq -s --arg re "$re" '[.[] | select(has("http_status"))
        | .. | objects | to_entries[] | select(.key | test($re)) | .value | numbers] | add // 0'
}
reached_backend() { haproxy_requests | jq -s '[.[] | select(.server == "llm")] | length'; }
results() { grep -lE "^status: ($2)\$" "$1"/*.md 2>/dev/null | wc -l; }

# ---- 1. a batch with max_tokens ------------------------------------------------
creds "$(key key-1 "$KEY" "{\"max_tokens\": $MAX_TOKENS, \"concurrency\": 2}")" \
    "$(key key-2 "$KEY2" "{\"max_tokens\": $MAX_TOKENS, \"concurrency\": 2}")"
make_specs lld/pending 6
p0=$(metric tokens_predicted_total)
q0=$(($(metric prompt_tokens_total) + $(metric prompt_tokens_cached_total)))
haproxy_mark
timeout 300 lld-workflow --all --parallel 4 --no-progress >batch.txt 2>&1
check_eq "the 6-spec batch with max_tokens exits 0" 0 "$?"
check_eq "every item ends approved or needs-revision" 6 "$(results lld/done 'approved|needs-revision')"
check "no item failed for HTTP 400" bash -c "! grep -q 'HTTP 400' batch.txt"
run1=$(latest_run_dir)
reached=$(reached_backend)
predicted=$(($(metric tokens_predicted_total) - p0))
prompted=$(($(metric prompt_tokens_total) + $(metric prompt_tokens_cached_total) - q0))
check_le "requests reached the server" 6 "$reached"
# each reply's own usage (the audit line of its request) is at most max_tokens
longest=$(cat "$run1"/workflow-audit-*.jsonl | jq -s '[.[] | .output_tokens | numbers] | max // 0')
check_le "max_tokens caps every reply (the longest: $longest tokens; $predicted in all)" \
    "$longest" "$MAX_TOKENS"
sum_c=$(tokens completion "$run1/summary.json")
sum_p=$(tokens prompt "$run1/summary.json")
check_le "summary.json: completion tokens are positive" 1 "$sum_c"
check_le "summary.json: prompt tokens are positive" 1 "$sum_p"
check_eq "completion tokens equal the server's tokens_predicted_total" "$predicted" "$sum_c"
check_eq "prompt tokens in summary.json equal the audit's sum of usage" \
    "$(audit_tokens prompt "$run1")" "$sum_p"
check_eq "completion tokens in summary.json equal the audit's sum of usage" \
    "$(audit_tokens completion "$run1")" "$sum_c"
check_eq "prompt tokens equal the server's prompt_tokens_total + prompt_tokens_cached_total" \
    "$prompted" "$sum_p"
diag batch.txt | grep -E 'Summary' | head -2

# ---- 2. an over-long prompt: one request, the server's words -------------------
mkdir -p long/pending
{
    echo "# A very long spec"
    echo
    for _ in $(seq 1 300); do echo "word word word word word"; done
} >long/pending/big.md
haproxy_mark
start=$SECONDS
timeout 120 lld-workflow --all --items long/pending --out long/done --no-progress >long.txt 2>&1
check_eq "the over-long item fails (exit 1)" 1 "$?"
check "with exceed_context_size_error" grep -q 'FAILED: .*exceed_context_size_error' long.txt
check "and the server's message" grep -q 'exceeds the available context size' long.txt
check_eq "after exactly one request" 1 "$(haproxy_arrivals | wc -l)"
check_le "at once (no backoff: under 10 s)" $((SECONDS - start)) 10
diag long.txt | grep FAILED | head -2

# ---- 3. a wrong key ------------------------------------------------------------
creds "$(key key-bad "$WRONG" "{\"max_tokens\": $MAX_TOKENS}")" \
    "$(key key-good "$KEY" "{\"max_tokens\": $MAX_TOKENS}")"
make_specs wrong/pending 3
haproxy_mark
timeout 300 lld-workflow --all --items wrong/pending --out wrong/done --parallel 2 --no-progress \
    >wrong.txt 2>&1
check_eq "a batch with one wrong key exits 0" 0 "$?"
check_eq "all 3 items end on the good key" 3 "$(results wrong/done 'approved|needs-revision')"
check "the wrong key is disabled" grep -q 'Key key-bad disabled' wrong.txt
check_eq "after one request (its 401)" 1 \
    "$(haproxy_arrivals | jq -s --arg k "$(haproxy_key_tag "Bearer $WRONG")" '[.[] | select(.key == $k)] | length')"
check_eq "the server answered it 401" 1 "$(haproxy_requests | jq -s '[.[] | select(.status == 401)] | length')"
haproxy_stop

# ---- 4. through haproxy's faults -----------------------------------------------
# Of the requests, in arrival order: every 4th gets 429 with Retry-After: 2,
# every 7th a 503, every 11th is held and never answered (timeout_s ends it).
# One request at a time per key, so "before its Retry-After" is well defined.
if haproxy_start auto "$LLAMA_PORT" --429-every 4 --503-every 7 --hold-every 11 --retry-after 2; then
    creds "$(key key-1 "$KEY" "{\"max_tokens\": $MAX_TOKENS, \"timeout_s\": 10}")" \
        "$(key key-2 "$KEY2" "{\"max_tokens\": $MAX_TOKENS, \"timeout_s\": 10}")"
    make_specs faults/pending 4
    timeout 400 lld-workflow --all --items faults/pending --out faults/done --parallel 2 \
        --timeout-per-step 120 --no-progress >faults.txt 2>&1
    check_eq "through 429s, 503s and held connections the batch exits 0" 0 "$?"
    check_eq "all 4 items end" 4 "$(results faults/done 'approved|needs-revision')"
    check_le "the proxy answered 429s" 1 "$(haproxy_count 429)"
    check_le "and 503s" 1 "$(haproxy_count 503)"
    check_le "and held connections" 1 "$(haproxy_count hold)"
    check_eq "0 requests before their Retry-After" 0 "$(haproxy_early_requests 50)"
    check_le "agentos counted the 429s" 1 "$(jq .http_429 "$(latest_run_dir)/summary.json")"
    diag faults.txt | grep -E 'Rate limit|Summary' | head -3
    haproxy_stop
else
    not_ok "haproxy starts with faults"
fi

# ---- 5. no secret anywhere -----------------------------------------------------
leaks=$(grep -rlF -e "$KEY" -e "$KEY2" -e "$WRONG" "$AGENTOS_HOME" "$WS"/*.txt lld long wrong faults \
    2>/dev/null | grep -vx "$AGENTOS_HOME/credentials.json")
check_eq "no secret in the console, run folders, checkpoints or results" "" "$leaks"
check "the checkpoints were searched too (the failed item's is kept)" \
    test -n "$(find "$AGENTOS_HOME/checkpoints" -name '*.db')"
finish
