#!/usr/bin/env bash
# The stand-in itself (docs/mockllm.md), with curl and jq only: usage fields and the
# token totals of /stats, the Anthropic Messages route and its 529s, rate-limit
# headers that tell the truth (remaining 0 means refused until the reset, and the
# reset really admits), retry-after-ms, the token bucket, OpenAI's
# insufficient_quota, real 4xx bodies (llama.cpp's context size, the MOCK-HTTP-4xx
# markers), MOCK-QUOTE-KEY and MOCK-EMPTY, --capacity's queue and 503s, and the
# ledgers (requests per key in any 60 s, drafts and reviews in flight).
source "$(dirname "$0")/lib.sh"
cd "$WS"

url() { echo "http://127.0.0.1:$MOCK_PORT$1"; }
# post ROUTE BODY [curl args...]: the status; headers in $WS/h, body in $WS/b.
post() {
    local route=$1 body=$2
    shift 2
    curl -s --max-time 10 -o "$WS/b" -D "$WS/h" -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$body" "$@" "$(url "$route")"
}
oai_body() { jq -nc --arg t "$1" '{model:"mock-model",messages:[{role:"user",content:$t}]}'; }
oai() { post /v1/chat/completions "$(oai_body "$2")" -H "Authorization: Bearer $1"; }
gem() {
    post /v1beta/models/gem-model:generateContent \
        "$(jq -nc --arg t "$2" '{contents:[{role:"user",parts:[{text:$t}]}]}')" -H "x-goog-api-key: $1"
}
ant_body() {
    jq -nc --arg t "$1" '{model:"claude-mock",max_tokens:256,messages:[{role:"user",content:$t}]}'
}
ant() { post /v1/messages "$(ant_body "$2")" -H "x-api-key: $1" -H 'anthropic-version: 2023-06-01'; }
# hdr NAME: that header of the last reply ("" when absent).
hdr() { grep -i "^$1:" "$WS/h" | head -1 | cut -d: -f2- | tr -d ' \r'; }
body() { jq -r "$1" "$WS/b"; }
# go_ms DURATION: a Go duration ("950ms", "1m59.95s") in whole ms.
go_ms() {
    awk -v d="$1" 'BEGIN { t = 0
        while (match(d, /^[0-9.]+(h|ms|m|s)/)) {
            u = substr(d, RSTART, RLENGTH); d = substr(d, RLENGTH + 1); n = u + 0
            if (u ~ /ms$/) t += n; else if (u ~ /h$/) t += n * 3600000
            else if (u ~ /m$/) t += n * 60000; else t += n * 1000
        }
        printf "%d\n", (d == "" ? t + 0.5 : -1) }'
}
# ms_sleep MS: sleep that many milliseconds.
ms_sleep() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }
tokens_of() { echo $(( (${#1} + 3) / 4 )); } # ceil(bytes / 4), ASCII text

# ---- flags: --help names each new one; bad values exit 2 ----
help=$(agentos-mockllm --help)
for f in --tpm --key-tpm --no-ratelimit-headers --insufficient-quota --max-prompt-tokens \
    --capacity --overloaded-rate 'ms (retry-after-ms'; do
    check "--help names $f" grep -qF -- "$f" <<<"$help"
done
for bad in "--capacity 0" "--retry-style bogus" "--no-ratelimit-headers=1" "--tpm -1" \
    "--overloaded-rate 2" "--key-tpm k" "--max-prompt-tokens 0"; do
    # shellcheck disable=SC2086
    timeout 5 agentos-mockllm $bad >/dev/null 2>&1
    check_eq "bad value '$bad' exits 2" 2 "$?"
done

# ---- 1. usage fields and the token totals of /stats ----
start_mock
oai ku1 abcdefgh >/dev/null
text=$(body '.choices[0].message.content')
check_eq "OpenAI usage.prompt_tokens = ceil(8/4)" 2 "$(body .usage.prompt_tokens)"
check_eq "OpenAI usage.completion_tokens = ceil(reply bytes/4)" "$(tokens_of "$text")" \
    "$(body .usage.completion_tokens)"
check_eq "OpenAI usage.total_tokens is the sum" $((2 + $(tokens_of "$text"))) "$(body .usage.total_tokens)"
gem ku2 "one two three" >/dev/null # 13 bytes: 4 tokens
text=$(body '.candidates[0].content.parts[0].text')
check_eq "Gemini usageMetadata.promptTokenCount" 4 "$(body .usageMetadata.promptTokenCount)"
check_eq "Gemini candidatesTokenCount" "$(tokens_of "$text")" "$(body .usageMetadata.candidatesTokenCount)"
check_eq "Gemini totalTokenCount" $((4 + $(tokens_of "$text"))) "$(body .usageMetadata.totalTokenCount)"
# system "be brief" + "\n" + "hello" = 14 bytes: 4 tokens
post /v1/messages '{"model":"claude-mock","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"hello"}]}]}' \
    -H 'x-api-key: ku3' -H 'anthropic-version: 2023-06-01' >/dev/null
a_out=$(body .usage.output_tokens)
check_eq "Anthropic usage.input_tokens counts system and text blocks" 4 "$(body .usage.input_tokens)"
check_eq "Anthropic usage.output_tokens" "$(tokens_of "$(body '.content[0].text')")" "$a_out"
s=$(mock_stats)
check_eq "/stats prompt_tokens is the sum over routes" 10 "$(jq .prompt_tokens <<<"$s")"
check_eq "/stats per_key prompt_tokens" 4 "$(jq '.per_key.ku3.prompt_tokens' <<<"$s")"
check_eq "/stats per_key completion_tokens" "$a_out" "$(jq '.per_key.ku3.completion_tokens' <<<"$s")"
check_eq "/stats completion_tokens is the sum of the replies'" \
    "$(jq '[.per_key[].completion_tokens] | add' <<<"$s")" "$(jq .completion_tokens <<<"$s")"
mock_reset
check_eq "/stats/reset zeroes token totals" 0 "$(mock_stat prompt_tokens)"
stop_mock

# ---- 2. the Anthropic Messages route ----
start_mock --overloaded-rate 0 --key-rpm ka=0
check_eq "no x-api-key: 401" 401 "$(post /v1/messages "$(ant_body hi)" -H 'anthropic-version: 2023-06-01')"
check_eq "401 body: Anthropic's authentication_error" "error authentication_error" \
    "$(body '.type + " " + .error.type')"
check_eq "no anthropic-version: 400" 400 "$(post /v1/messages "$(ant_body hi)" -H 'x-api-key: ka')"
check_eq "400 body: invalid_request_error" "error invalid_request_error" "$(body '.type + " " + .error.type')"
check_eq "no max_tokens: 400" 400 \
    "$(post /v1/messages '{"model":"c","messages":[{"role":"user","content":"hi"}]}' -H 'x-api-key: ka' -H 'anthropic-version: 2023-06-01')"
check "the 400 names max_tokens" grep -q max_tokens <<<"$(body .error.message)"
check_eq "a draft: 200" 200 "$(ant ka "# Widget")"
check_eq "message shape" "message assistant claude-mock text end_turn null" \
    "$(body '[.type, .role, .model, .content[0].type, .stop_reason, (.stop_sequence | tostring)] | join(" ")')"
check "id starts msg_" grep -q '^msg_' <<<"$(body .id)"
check "the draft is titled after the item" grep -qF '# Design: Widget' <<<"$(body '.content[0].text')"
ant ka $'AGENTOS-ROLE: review\n# Widget\nMOCK-BLOCKED' >/dev/null
check "a review follows its markers" grep -qx 'VERDICT: BLOCKED' <<<"$(body '.content[0].text')"
check_eq "content may be an array of text blocks" 200 \
    "$(post /v1/messages '{"model":"c","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"AGENTOS-ROLE: review"},{"type":"image","source":{}}]}]}' -H 'x-api-key: ka' -H 'anthropic-version: 2023-06-01')"
check "  and is read as the prompt" grep -qx 'VERDICT: APPROVED' <<<"$(body '.content[0].text')"
stop_mock
start_mock --overloaded-rate 1
check_eq "--overloaded-rate 1: 529" 529 "$(ant ko hi)"
check_eq "529 body" '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' "$(cat "$WS/b")"
check_eq "the OpenAI route is not overloaded" 200 "$(oai ko hi)"
check_eq "/stats http_529" 1 "$(mock_stat http_529)"
stop_mock

# ---- 3. rate-limit headers that tell the truth ----
# --rpm 120: a bucket of 2 requests, one more every 500 ms.
start_mock --rpm 120 --key-rpm free=0 --key-rpm slow=0.5
oai kr hi >/dev/null
check_eq "x-ratelimit-limit-requests" 120 "$(hdr x-ratelimit-limit-requests)"
check_eq "x-ratelimit-remaining-requests after one of two" 1 "$(hdr x-ratelimit-remaining-requests)"
check_eq "no token headers without a tpm limit" "" "$(hdr x-ratelimit-limit-tokens)"
check_eq "remaining 1: the next request is admitted" 200 "$(oai kr hi)"
check_eq "  and says none is left" 0 "$(hdr x-ratelimit-remaining-requests)"
reset=$(go_ms "$(hdr x-ratelimit-reset-requests)")
check_le "  reset is a Go duration up to 950 ms" 1 "$reset"
check_le "  (not more)" "$reset" 950
check_eq "remaining 0: a request now is refused" 429 "$(oai kr hi)"
check_eq "the 429 carries the headers too" 0 "$(hdr x-ratelimit-remaining-requests)"
reset=$(go_ms "$(hdr x-ratelimit-reset-requests)")
ms_sleep "$reset"
check_eq "after the reset it is admitted" 200 "$(oai kr hi)"
oai free hi >/dev/null
check_eq "a key without a limit gets no headers" "" "$(hdr x-ratelimit-limit-requests)"
oai slow hi >/dev/null
check "a 2-minute reset reads 1m59.9..s" grep -qE '^1m59\.9[0-9]*s$' <<<"$(hdr x-ratelimit-reset-requests)"
ant ka2 hi >/dev/null
check_eq "anthropic-ratelimit-requests-limit" 120 "$(hdr anthropic-ratelimit-requests-limit)"
check_eq "anthropic-ratelimit-requests-remaining" 1 "$(hdr anthropic-ratelimit-requests-remaining)"
r=$(hdr anthropic-ratelimit-requests-reset)
check "anthropic-ratelimit-requests-reset is RFC 3339 UTC" \
    grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' <<<"$r"
d=$(($(date -d "$r" +%s%3N) - $(date +%s%3N)))
check_le "  about 500 ms ahead" "$d" 600
gem kg hi >/dev/null
check_eq "the Gemini route sends none (Google does not)" "" "$(hdr x-ratelimit-limit-requests)"
stop_mock
start_mock --rpm 120 --tpm 6000 --no-ratelimit-headers
oai kn hi >/dev/null
check "--no-ratelimit-headers: none" bash -c "! grep -qi ratelimit '$WS/h'"
stop_mock

# ---- 4. retry-after-ms ----
start_mock --rpm 60 --retry-style ms
oai km hi >/dev/null
check_eq "--retry-style ms: a 429" 429 "$(oai km hi)"
ms=$(hdr retry-after-ms)
check_le "retry-after-ms is whole ms up to 1000" "$ms" 1000
check_eq "Retry-After is ceil(retry-after-ms / 1000)" $(((ms + 999) / 1000)) "$(hdr Retry-After)"
ms_sleep "$ms"
check_eq "after retry-after-ms the key is served" 200 "$(oai km hi)"
check_eq "  and that was not early" 0 "$(mock_stat early_requests)"
stop_mock

# ---- 5. token budgets ----
# --tpm 600: 600 tokens, 10 more a second; a request "hi" costs 1 + ~84 tokens.
start_mock --tpm 600 --key-tpm small=50 --retry-style ms
oai kt hi >/dev/null
cost=$(body .usage.total_tokens)
check_eq "x-ratelimit-limit-tokens" 600 "$(hdr x-ratelimit-limit-tokens)"
left=$(hdr x-ratelimit-remaining-tokens)
check_le "x-ratelimit-remaining-tokens: the limit less this request" "$left" $((600 - cost))
check_le "  (and not less, but for refill)" $((600 - cost)) "$left"
check "x-ratelimit-reset-tokens is a Go duration" test "$(go_ms "$(hdr x-ratelimit-reset-tokens)")" -ge 1
st=200
for _ in $(seq 1 12); do
    st=$(oai kt hi)
    [ "$st" = 429 ] && break
done
check_eq "the token budget runs out: 429" 429 "$st"
check_eq "  type tokens, code rate_limit_exceeded" "tokens rate_limit_exceeded" "$(body '.error.type + " " + .error.code')"
check "  message: Rate limit reached for tokens" grep -q '^Rate limit reached for tokens' <<<"$(body .error.message)"
ms=$(hdr retry-after-ms)
check_le "  the retry delay is at most the time 1 request's tokens take (9 s)" "$ms" 9000
ms_sleep "$ms"
check_eq "  and true: after it the request is served" 200 "$(oai kt hi)"
check_eq "a request over the whole budget: 429" 429 "$(oai small hi)"
check "  'Request too large'" grep -q '^Request too large' <<<"$(body .error.message)"
check_eq "  with no retry delay (none would be true)" "" "$(hdr retry-after-ms)"
stop_mock

# ---- 6. --insufficient-quota ----
start_mock --insufficient-quota kq
check_eq "insufficient quota: 429" 429 "$(oai kq hi)"
check_eq "  OpenAI's body, word for word" \
    '{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}' \
    "$(cat "$WS/b")"
check_eq "  no Retry-After" "" "$(hdr Retry-After)"
check_eq "other keys are served" 200 "$(oai kok hi)"
s=$(mock_stats)
check_eq "/stats per_key counts the key's requests" 1 "$(jq .per_key.kq.requests <<<"$s")"
check_eq "  and its 429s" 1 "$(jq .per_key.kq.http_429 <<<"$s")"
stop_mock

# ---- 7. 4xx with real bodies, MOCK-QUOTE-KEY, MOCK-EMPTY ----
start_mock --max-prompt-tokens 1024
long=$(head -c 4192 /dev/zero | tr '\0' x) # 1048 tokens
check_eq "a prompt over --max-prompt-tokens: 400" 400 "$(oai kc "$long")"
check_eq "  llama.cpp's body with the real numbers" \
    '{"error":{"code":400,"message":"request (1048 tokens) exceeds the available context size (1024 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":1048,"n_ctx":1024}}' \
    "$(cat "$WS/b")"
check_eq "a prompt of exactly 1024 tokens is served" 200 "$(oai kc "${long:0:4096}")"
for code in 400 404 422; do
    check_eq "MOCK-HTTP-$code on OpenAI" "$code" "$(oai kc "MOCK-HTTP-$code")"
    check_eq "  OpenAI's error shape" "invalid_request_error null true true" \
        "$(body '[.error.type, (.error.param | tostring), (.error.message | length > 0), (.error | has("code"))] | map(tostring) | join(" ")')"
    check_eq "MOCK-HTTP-$code on Gemini" "$code" "$(gem kc "MOCK-HTTP-$code")"
    check_eq "  Gemini's error shape" "$code true" "$(body '[.error.code, (.error.status | length > 0)] | map(tostring) | join(" ")')"
    check_eq "MOCK-HTTP-$code on Anthropic" "$code" "$(ant kc "MOCK-HTTP-$code")"
    check_eq "  Anthropic's error shape" "error true" "$(body '[.type, (.error.type | endswith("_error"))] | map(tostring) | join(" ")')"
done
gem kc MOCK-HTTP-400 >/dev/null
check_eq "Gemini 400 is INVALID_ARGUMENT" INVALID_ARGUMENT "$(body .error.status)"
oai kc MOCK-HTTP-404 >/dev/null
check_eq "OpenAI 404 names the model" model_not_found "$(body .error.code)"
check_eq "/stats http_422" 3 "$(mock_stat http_422)"
oai sk-mock-secret-42 MOCK-QUOTE-KEY >/dev/null
check "MOCK-QUOTE-KEY: the reply quotes the key" grep -qF sk-mock-secret-42 <<<"$(body '.choices[0].message.content')"
ant sk-ant-secret-43 MOCK-QUOTE-KEY >/dev/null
check "  on the Anthropic route too" grep -qF sk-ant-secret-43 <<<"$(body '.content[0].text')"
check_eq "MOCK-EMPTY: 200" 200 "$(oai kc MOCK-EMPTY)"
check_eq "  with empty content and 0 completion tokens" '"" 0' \
    "$(body '(.choices[0].message.content | tojson) + " " + (.usage.completion_tokens | tostring)')"
stop_mock

# ---- 8. --capacity: a server with 2 slots ----
start_mock --capacity 2 --latency-ms 500
pids=()
for i in 1 2 3 4 5 6; do
    curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Authorization: Bearer kcap' \
        --data-binary "$(oai_body "# item $i")" "$(url /v1/chat/completions)" >"$WS/cap.$i" &
    pids+=($!)
    sleep 0.02
done
wait "${pids[@]}"
cat "$WS"/cap.* >"$WS/cap"
check_eq "6 at once on 2 slots: 4 served" 4 "$(grep -c '^200 ' "$WS/cap")"
check_eq "  2 answered 503" 2 "$(grep -c '^503 ' "$WS/cap")"
check "  the 503s at once" awk '$1 == 503 && $2 > 0.3 { exit 1 }' "$WS/cap"
# at least the 2 queued (a loaded machine can slow the others past 0.9 s too)
check "  the queued ones waited for a slot" awk '$1 == 200 && $2 > 0.9 { n++ } END { exit n >= 2 ? 0 : 1 }' "$WS/cap"
s=$(mock_stats)
check_eq "/stats http_503_overload" 2 "$(jq .http_503_overload <<<"$s")"
check_eq "/stats max_queued" 2 "$(jq .max_queued <<<"$s")"
check_eq "/stats queued and serving back to 0" "0 0" "$(jq -r '"\(.queued) \(.serving)"' <<<"$s")"
check_le "/stats max_in_flight saw them all" 4 "$(jq .max_in_flight <<<"$s")"
check_le "latency_ms_p50 >= 500" 500 "$(jq '.latency_ms_p50 | floor' <<<"$s")"
check_le "latency_ms_p95 >= 900 (queued behind a 500 ms request)" 900 "$(jq '.latency_ms_p95 | floor' <<<"$s")"
stop_mock

# ---- 9. ledgers ----
start_mock --latency-ms 400
for _ in 1 2 3 4 5; do oai kw hi >/dev/null; done
check_eq "max_in_any_60s counts a key's requests" 5 "$(mock_stat per_key.kw.max_in_any_60s)"
pids=()
for t in $'AGENTOS-ROLE: review\n# A' $'AGENTOS-ROLE: review\n# B' '# C'; do
    curl -s --max-time 10 -o /dev/null -H 'Authorization: Bearer kx' \
        --data-binary "$(oai_body "$t")" "$(url /v1/chat/completions)" &
    pids+=($!)
done
wait "${pids[@]}"
s=$(mock_stats)
check_eq "max_reviews_in_flight: 2 overlapped" 2 "$(jq .max_reviews_in_flight <<<"$s")"
check_eq "max_drafts_in_flight: 1" 1 "$(jq .max_drafts_in_flight <<<"$s")"
check_eq "nothing in flight now" "0 0" "$(jq -r '"\(.reviews_in_flight) \(.drafts_in_flight)"' <<<"$s")"
mock_reset
s=$(mock_stats)
check_eq "a reset clears the ledgers" "0 0 0" \
    "$(jq -r '"\(.max_reviews_in_flight) \(.per_key.kw.max_in_any_60s) \(.latency_ms_p95)"' <<<"$s")"
stop_mock

finish
