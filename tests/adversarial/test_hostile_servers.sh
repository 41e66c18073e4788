#!/usr/bin/env bash
# Hostile servers (issue 9): a provider that never answers, one that trickles a
# byte a second, one that closes mid-body, one that sends 100 MB, and one that
# quotes the request's key in a 200 and in its error bodies. Each run must end
# within a bound with a clear failed item (or a finished run): never a hang, a
# crash, or a secret in the console, a log, an audit line, a checkpoint or a
# result. The server is tests/adversarial/hostile_server.py on loopback.
source "$(dirname "$0")/../integration/lib.sh"
cd "$WS"
HOSTILE="$ROOT/tests/adversarial/hostile_server.py"
KEY=sk-HOSTILEMARK-0123456789
HPID=""
stop_hostile() {
    [ -n "$HPID" ] && kill "$HPID" 2>/dev/null && wait "$HPID" 2>/dev/null
    HPID=""
}
trap 'stop_hostile; cleanup' EXIT

# start_hostile MODE [RECORD_FILE]: sets HPORT.
start_hostile() {
    stop_hostile
    rm -f "$WS/h.port"
    python3 "$HOSTILE" "$1" "$WS/h.port" ${2:+"$2"} >"$WS/h.out" 2>&1 &
    HPID=$!
    for _ in $(seq 1 100); do
        [ -s "$WS/h.port" ] && break
        sleep 0.05
    done
    HPORT=$(cat "$WS/h.port" 2>/dev/null)
    [ -n "$HPORT" ] || { not_ok "hostile server ($1) did not start"; diag "$WS/h.out"; finish; exit 1; }
}

# one_key: the only key points at the hostile server.
one_key() {
    cat >"$AGENTOS_HOME/credentials.json" <<EOF
{"credentials": [{"id": "hostile", "provider": "openai", "model": "m",
  "base_url": "http://127.0.0.1:$HPORT/v1", "api_key": "$KEY"}]}
EOF
    chmod 600 "$AGENTOS_HOME/credentials.json"
}

# no_secret WHAT FILES...: the key is nowhere in the console or anything agentos wrote.
no_secret() {
    local what=$1 hits
    shift
    hits=$(grep -rl "HOSTILEMARK" "$@" "$AGENTOS_HOME" lld 2>/dev/null | grep -v "$AGENTOS_HOME/credentials.json")
    check_eq "$what: no secret anywhere" "" "$hits"
}

# run_case NAME LIMIT_S ARGS...: one item, timed; sets RC and MS.
run_case() {
    local name=$1 limit=$2
    shift 2
    rm -rf lld "$AGENTOS_HOME/checkpoints" "$AGENTOS_HOME/logs"
    make_specs lld/pending 1
    local t0 t1
    t0=$(date +%s%N)
    timeout "$((limit + 10))" lld-workflow --all --no-progress "$@" >"$WS/$name.txt" 2>&1
    RC=$?
    t1=$(date +%s%N)
    MS=$(((t1 - t0) / 1000000))
    check_le "$name: ends within ${limit}s" "$MS" "$((limit * 1000))"
}

# 1. Silent: accepts and never answers. Every attempt ends at the request's limit.
start_hostile silent
one_key
run_case silent 20 --timeout-per-step 1
check_eq "silent: the item fails (exit 1)" 1 "$RC"
check "silent: the reason names the time-out" \
    grep -qE '^\[LLD-01\] FAILED: LLM request failed after 5 attempts: timeout: no reply within 1s$' "$WS/silent.txt"
no_secret silent "$WS/silent.txt"

# 2. Trickling: a byte a second never completes a reply within the limit.
start_hostile trickle
one_key
run_case trickle 20 --timeout-per-step 1
check_eq "trickle: the item fails (exit 1)" 1 "$RC"
check "trickle: the reason names the time-out" \
    grep -qE '^\[LLD-01\] FAILED: LLM request failed after 5 attempts: timeout: ' "$WS/trickle.txt"

# 3. Cut: the connection closes mid-body.
start_hostile cut
one_key
run_case cut 15
check_eq "cut: the item fails (exit 1)" 1 "$RC"
check "cut: the reason says the transfer was cut" \
    grep -qE '^\[LLD-01\] FAILED: LLM request failed after 5 attempts: .*(closed|partial|remaining)' "$WS/cut.txt"

# 4. Huge: a 100 MB body is refused past the client's limit, not buffered whole.
start_hostile huge
one_key
run_case huge 20
check_eq "huge: the item fails (exit 1)" 1 "$RC"
check "huge: the reason names the size limit" \
    grep -qF '[LLD-01] FAILED: LLM request failed after 5 attempts: reply larger than 8388608 bytes' "$WS/huge.txt"

# 5. A 400 whose message quotes the key: rejected at once, in the provider's words, scrubbed.
start_hostile quote-400
one_key
run_case quote400 10
check_eq "quote-400: the item fails (exit 1)" 1 "$RC"
check "quote-400: the provider's words, with the key withheld" \
    grep -qF '[LLD-01] FAILED: LLM request rejected: HTTP 400 invalid_request_error: Invalid key [REDACTED] for this model' "$WS/quote400.txt"
no_secret quote-400 "$WS/quote400.txt"

# 6. A 503 page that quotes the key: retried, failed, its page in the log scrubbed.
start_hostile quote-503
one_key
run_case quote503 15
check_eq "quote-503: the item fails (exit 1)" 1 "$RC"
check "quote-503: the page reached the item log (scrubbed)" \
    grep -rqF 'Authorization: Bearer [REDACTED]' "$AGENTOS_HOME/logs"
no_secret quote-503 "$WS/quote503.txt"

# 7. A 200 that quotes the key: the run finishes, the reply is stored scrubbed.
start_hostile quote-200
one_key
run_case quote200 10
check_eq "quote-200: the run finishes (exit 0)" 0 "$RC"
check "quote-200: the result holds the reply with the key withheld" \
    grep -qF 'The key you sent: [REDACTED]' lld/done/LLD-01.md
no_secret quote-200 "$WS/quote200.txt"
stop_hostile
finish
