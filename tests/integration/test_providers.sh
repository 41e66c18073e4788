#!/usr/bin/env bash
# Real providers' behaviour (SPEC 6a) against the stand-in, end to end:
#   - a key whose account has no credit (OpenAI 429 insufficient_quota) gets no
#     request after its first 429, and the batch completes on the other key;
#   - the token totals of summary.json equal what the stand-in reported, for each
#     provider's usage fields (OpenAI, Gemini, Anthropic), and the cost follows the
#     keys' prices;
#   - an Anthropic-keyed batch completes while 30 % of its requests get 529;
#   - keys without rpm against a stand-in that allows 30 rpm per key and says so in
#     OpenAI headers get under 5 % of their requests answered 429 (they rest until
#     the reset and learn the pace);
#   - a request the provider rejects (400) fails its item after exactly one request,
#     with the provider's own words.
source "$(dirname "$0")/lib.sh"
run_dir_of() { sed -n 's/^\[COORDINATOR\] Run folder: //p' "$1" | tail -1; }
cd "$WS"

# --- no credit left: disabled, never asked again --------------------------------------
start_mock --latency-ms 20 --insufficient-quota test-key-1
write_credentials 2
rm -rf lld
make_specs lld/pending 4
timeout 60 lld-workflow --all --parallel 2 >"$WS/quota.txt" 2>&1
check_eq "insufficient_quota: the run exits 0" 0 "$?"
check "insufficient_quota: all 4 approved" grep -q '4 approved, 0 need revision, 0 failed' "$WS/quota.txt"
check "insufficient_quota: the key is disabled, with the provider's reason" \
    grep -qF '[COORDINATOR] Key key-1 disabled: insufficient_quota' "$WS/quota.txt"
stats=$(mock_stats)
check_eq "insufficient_quota: the key got exactly one request" 1 "$(jq '.per_key["test-key-1"].requests' <<<"$stats")"
check_eq "insufficient_quota: the other key did the 8 requests" 8 "$(jq '.per_key["test-key-2"].completions' <<<"$stats")"
stop_mock

# --- tokens: summary.json equals the stand-in's usage, per provider -------------------
for provider in openai gemini anthropic; do
    start_mock --latency-ms 10
    write_credentials 2 "$provider" ', "price": {"input": 2.5, "output": 10}'
    rm -rf lld
    make_specs lld/pending 3
    timeout 60 lld-workflow --all --parallel 2 >"$WS/tok-$provider.txt" 2>&1
    check_eq "$provider tokens: the run exits 0" 0 "$?"
    run=$(run_dir_of "$WS/tok-$provider.txt")
    stats=$(mock_stats)
    sin=$(jq '.prompt_tokens' <<<"$stats")
    sout=$(jq '.completion_tokens' <<<"$stats")
    check_le "$provider tokens: the stand-in reported some" 1 "$sin"
    check_eq "$provider tokens: input total equals the stand-in's" "$sin" "$(jq '.tokens.input' "$run/summary.json")"
    check_eq "$provider tokens: output total equals the stand-in's" "$sout" "$(jq '.tokens.output' "$run/summary.json")"
    check_eq "$provider tokens: the items add up to it" "$sin" "$(jq '[.items[].input_tokens] | add' "$run/summary.json")"
    check_eq "$provider tokens: the keys add up to it" "$sout" "$(jq '[.keys[].output_tokens] | add' "$run/summary.json")"
    check_eq "$provider tokens: the cost is the tokens at the keys' prices" \
        "$(jq -n "($sin * 2.5 + $sout * 10) / 1e6 * 1e6 | round")" "$(jq '.cost * 1e6 | round' "$run/summary.json")"
    check_eq "$provider tokens: item costs add up to the total" \
        "$(jq '.cost * 1e6 | round' "$run/summary.json")" "$(jq '[.items[].cost] | add * 1e6 | round' "$run/summary.json")"
    check "$provider tokens: the console summary prints them" \
        grep -qE "^\[COORDINATOR\] Tokens: $sin in, $sout out; cost [0-9.]+ " "$WS/tok-$provider.txt"
    check "$provider tokens: each audit line carries its usage" \
        grep -q '"input_tokens":[0-9]*,"output_tokens":[0-9]*' "$run/workflow-audit-LLD-01.jsonl"
    stop_mock
done

# --- Anthropic with 30 % of 529s: the batch completes, the keys are not blamed --------
start_mock --latency-ms 10 --overloaded-rate 0.3 --seed 7
write_credentials 2 anthropic
rm -rf lld
make_specs lld/pending 6
timeout 90 lld-workflow --all --parallel 2 >"$WS/529.txt" 2>&1
check_eq "529s: the run exits 0" 0 "$?"
check "529s: all 6 approved" grep -q '6 approved, 0 need revision, 0 failed' "$WS/529.txt"
check_le "529s: the stand-in answered some" 1 "$(mock_stat http_529)"
check "529s: no key rate-limited or disabled for them" \
    bash -c "! grep -qE 'Rate limit hit|disabled' '$WS/529.txt'"
run=$(run_dir_of "$WS/529.txt")
check "529s: the audit shows them as failed attempts" grep -qh '"http_status":529' "$run"/workflow-audit-*.jsonl
stop_mock

# --- keys without rpm learn 30 rpm from the headers: under 5 % 429s --------------------
# 4 keys at 30 rpm each serve 2 requests a second: 24 items (48 requests) take ~25 s.
start_mock --latency-ms 20 --rpm 30
write_credentials 4
rm -rf lld
make_specs lld/pending 24
timeout 60 lld-workflow --all --parallel 4 >"$WS/pace.txt" 2>&1
check_eq "learned pace: the run exits 0" 0 "$?"
check "learned pace: all 24 approved" grep -q '24 approved, 0 need revision, 0 failed' "$WS/pace.txt"
stats=$(mock_stats)
req=$(jq .requests <<<"$stats")
r429=$(jq .http_429 <<<"$stats")
echo "# learned pace: $r429 of $req requests answered 429"
check_le "learned pace: at least 48 requests" 48 "$req"
check_le "learned pace: under 5 % answered 429" $((r429 * 100)) $((req * 5 - 1))
check_eq "learned pace: no request before a reset it was told" 0 "$(jq .early_requests <<<"$stats")"
run=$(run_dir_of "$WS/pace.txt")
check_le "learned pace: the keys rested on the headers' word" 1 "$(jq '[.keys[].rests] | add' "$run/summary.json")"
stop_mock

# --- rejected: one request, the provider's words ---------------------------------------
start_mock --latency-ms 10 --max-prompt-tokens 1500
write_credentials 1
rm -rf lld
make_specs lld/pending 2
printf '# Spec 03\n\nDesign a component. MOCK-HTTP-400\n' >lld/pending/03.md
{ printf '# Spec 04\n\n'; for _ in $(seq 1 300); do printf 'The component must be long enough. '; done; echo; } >lld/pending/04.md
timeout 60 lld-workflow --all --parallel 2 >"$WS/rej.txt" 2>&1
check_eq "rejected: the run exits 1 (items failed)" 1 "$?"
check "rejected: the others are approved" grep -q '2 approved, 0 need revision, 2 failed' "$WS/rej.txt"
run=$(run_dir_of "$WS/rej.txt")
check_eq "rejected (MOCK-HTTP-400): exactly one request" 1 "$(grep -c '"event":"llm_request"' "$run/workflow-audit-LLD-03.jsonl")"
check "rejected (MOCK-HTTP-400): the provider's words" \
    grep -qF 'FAILED: LLM request rejected: HTTP 400 invalid_request_error: ' "$WS/rej.txt"
check_eq "rejected (too long): exactly one request" 1 "$(grep -c '"event":"llm_request"' "$run/workflow-audit-LLD-04.jsonl")"
check "rejected (too long): llama.cpp's words in the summary" \
    bash -c "jq -r '.items[] | select(.id == \"LLD-04\") | .reason' '$run/summary.json' | grep -q 'LLM request rejected: HTTP 400 exceed_context_size_error: request ([0-9]* tokens) exceeds the available context size (1500 tokens)'"
check_eq "rejected: the stand-in saw two 400s" 2 "$(mock_stat http_400)"
stop_mock
finish
