#!/usr/bin/env bash
# Smoke test of the real-server harness (SPEC 14), TAP: starts each server,
# checks that it answers, stops them all, and checks nothing is left running.
#   llama-server   a completion with usage; the 400 exceed_context body; a 401
#   haproxy        429 + Retry-After, 503 and held requests in front of it, seen
#                  by the client and in the proxy's per-request log; the
#                  "no request before Retry-After" ledger check, both ways
#   Redis          PING, and an empty server on the same port after a restart
#   Slurm          sbatch --array=0-3%2 runs all 4 tasks with their ids
#   Prometheus     ready, and scraping llama-server's /metrics
# Without a built llama-server (tests/real/llama.sh build) its checks are
# skipped with a "# SKIP" reason and haproxy fronts a Python http.server.
# The whole run is bounded: a watchdog sends SIGTERM after SMOKE_TIMEOUT s
# (default 300), and the exit trap stops every server.
source "$(dirname "$0")/llama.sh"
source "$REAL_DIR/haproxy.sh"
source "$REAL_DIR/redis.sh"
source "$REAL_DIR/slurm.sh"
source "$REAL_DIR/prometheus.sh"

setsid bash -c "sleep ${SMOKE_TIMEOUT:-300}; kill -TERM $$" </dev/null >/dev/null 2>&1 &
WATCHDOG=$!
real_at_exit "kill -- -$WATCHDOG 2>/dev/null"

KEY=sk-smoke-0123456789
AUTH="Authorization: Bearer $KEY"

# chat URL OUTFILE [PROMPT [MAX_TOKENS [CURL-ARGS...]]]: prints the status;
# CHAT_AUTH replaces the Authorization header.
chat() {
    local url=$1 out=$2 prompt=${3:-Say hello} max=${4:-8}
    shift 4 2>/dev/null || shift $#
    jq -n --arg p "$prompt" --argjson m "$max" \
        '{model: "tiny", messages: [{role: "user", content: $p}], max_tokens: $m}' >"$WS/req.json"
    curl -s --max-time "${CHAT_TIMEOUT:-20}" -o "$out" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "${CHAT_AUTH:-$AUTH}" "$@" \
        --data-binary "@$WS/req.json" "$url/v1/chat/completions"
}

# ---- llama-server ---------------------------------------------------------------
BACKEND_PORT=""
if llama_available; then
    if llama_start auto "$KEY" --metrics; then
        ok "llama-server is up on $LLAMA_URL"
        BACKEND_PORT=$LLAMA_PORT
        code=$(chat "$LLAMA_URL" "$WS/c.json" "Say hello" 8)
        check_eq "a chat completion is 200" 200 "$code"
        check_eq "usage.completion_tokens is max_tokens" 8 "$(jq -r .usage.completion_tokens "$WS/c.json")"
        check "usage.prompt_tokens > 0 and content is a string" \
            jq -e '.usage.prompt_tokens > 0 and (.choices[0].message.content | type == "string")' "$WS/c.json"
        code=$(chat "$LLAMA_URL" "$WS/e.json" "$(printf 'word %.0s' $(seq 1 300))" 8)
        check_eq "a prompt over the slot's context is 400" 400 "$code"
        check_eq "with exceed_context_size_error" exceed_context_size_error "$(jq -r .error.type "$WS/e.json")"
        diag "$WS/e.json"; echo
        code=$(CHAT_AUTH="Authorization: Bearer sk-wrong" chat "$LLAMA_URL" "$WS/k.json" "hi" 8)
        check_eq "a wrong key is 401" 401 "$code"
    else
        not_ok "llama-server starts"
    fi
else
    real_skip "llama-server not built yet (run tests/real/llama.sh build; 10-30 min once)"
fi
if [ -z "$BACKEND_PORT" ]; then
    BACKEND_PORT=$(free_port)
    python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        b = b"{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":4}}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    do_GET = do_POST
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$BACKEND_PORT" </dev/null >/dev/null 2>&1 &
    real_at_exit "stop_pid $!"
    wait_until 10 curl -sf --max-time 1 "http://127.0.0.1:$BACKEND_PORT/" ||
        not_ok "a stand-in backend starts on port $BACKEND_PORT"
fi

# ---- haproxy --------------------------------------------------------------------
# Deterministic faults: of requests 1..14, 3 6 9 12 get 429, 5 10 get 503, 7 14
# are held, the other 6 reach the backend.
if haproxy_start auto "$BACKEND_PORT" --429-every 3 --503-every 5 --hold-every 7 --retry-after 4; then
    ok "haproxy is up on $HAPROXY_URL in front of port $BACKEND_PORT"
    codes=""
    for i in $(seq 1 14); do
        codes="$codes $(CHAT_TIMEOUT=1 chat "$HAPROXY_URL" "$WS/h$i.json" "Say hello" 4 -D "$WS/h$i.hdr")"
    done
    check_eq "the client sees the faults in order" \
        " 200 200 429 200 503 429 000 200 429 503 200 429 200 000" "$codes"
    check "a 429 carries Retry-After: 4" grep -qix 'retry-after: 4.' "$WS/h3.hdr"
    check_eq "and an OpenAI-shaped JSON error" rate_limit_exceeded "$(jq -r .error.code "$WS/h3.json")"
    check_eq "a 503 has a JSON error body" service_unavailable "$(jq -r .error.code "$WS/h5.json")"
    check "a request let through is a completion with usage" jq -e '.usage.completion_tokens == 4' "$WS/h1.json"
    check_eq "the log has every arrival, held ones too" 14 "$(haproxy_arrivals | wc -l)"
    check_eq "4 logged as 429" 4 "$(haproxy_count 429)"
    check_eq "2 logged as held" 2 "$(haproxy_count hold)"
    check_eq "6 reached the backend" 6 "$(haproxy_requests | jq -s '[.[] | select(.server == "llm")] | length')"
    check_eq "the key is logged as a hash, never the secret" "$(haproxy_key_tag "Bearer $KEY")" \
        "$(haproxy_arrivals | jq -r .key | sort -u)"
    check "no line of the log holds the secret" bash -c "! grep -qF '$KEY' '$HAPROXY_LOG'"
    haproxy_stop
else
    not_ok "haproxy starts"
fi

# Random shares, and the ledger: key "slow" is always 429 with Retry-After 1.
if haproxy_start auto "$BACKEND_PORT" --429 50 --429-key slow --retry-after 1; then
    codes=""
    for i in $(seq 1 20); do codes="$codes $(chat "$HAPROXY_URL" /dev/null x 2)"; done
    check "a random half of requests get 429 (some do, some do not)" \
        bash -c "grep -q 429 <<<'$codes' && grep -q 200 <<<'$codes'"
    haproxy_mark
    export CHAT_AUTH="Authorization: Bearer sk-slow-1"
    tag=$(haproxy_key_tag "Bearer sk-slow-1")
    for i in 1 2 3; do
        chat "$HAPROXY_URL" /dev/null x 2 >/dev/null
        sleep 1.1
    done
    check_eq "the ledger has the 3 requests of key sk-slow-1" 3 \
        "$(haproxy_arrivals | jq -s --arg k "$tag" '[.[] | select(.key == $k and .fault == "429")] | length')"
    check_eq "a client that waits out Retry-After: 0 early requests" 0 "$(haproxy_early_requests 50 "$tag")"
    chat "$HAPROXY_URL" /dev/null x 2 >/dev/null
    chat "$HAPROXY_URL" /dev/null x 2 >/dev/null
    check_eq "one that does not is caught" 1 "$(haproxy_early_requests 50 "$tag")"
    unset CHAT_AUTH
    haproxy_stop
else
    not_ok "haproxy starts with random shares"
fi

# ---- Redis ----------------------------------------------------------------------
if redis_start; then
    ok "redis is up on $REDIS_URL"
    check_eq "PING" PONG "$(redis_cli PING)"
    redis_cli SET agentos:smoke 1 >/dev/null
    if redis_restart; then
        check_eq "restarted on the same port, empty" "PONG " "$(redis_cli PING) $(redis_cli GET agentos:smoke)"
    else
        not_ok "redis restarts on port $REDIS_PORT"
    fi
    redis_stop
    check "stopped: nothing answers on its port" bash -c "! redis-cli -h 127.0.0.1 -p $REDIS_PORT PING"
else
    not_ok "redis starts"
fi

# ---- Slurm ----------------------------------------------------------------------
if slurm_start; then
    ok "slurm: node $SLURM_NODE idle"
    mkdir -p "$WS/array"
    # shellcheck disable=SC2016
    if (cd "$WS/array" && timeout 10 sbatch -Q --array=0-3%2 \
        --wrap 'echo $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT > out.$SLURM_ARRAY_TASK_ID'); then
        slurm_wait_idle 60
        check_eq "the array job ran its 4 tasks" "0 4|1 4|2 4|3 4" \
            "$(cat "$WS"/array/out.* 2>/dev/null | paste -sd '|')"
    else
        not_ok "sbatch accepts the array job"
    fi
    slurm_stop
else
    not_ok "slurm starts"
fi

# ---- Prometheus -----------------------------------------------------------------
if [ -n "${LLAMA_PID:-}" ]; then
    if PROM_BEARER=$KEY prometheus_start "127.0.0.1:$LLAMA_PORT"; then
        ok "prometheus is ready on $PROM_URL"
        prometheus_wait 20 'llamacpp:tokens_predicted_total > 0'
        check_le "it scraped llama-server's tokens_predicted_total" 1 \
            "$(prometheus_value 'llamacpp:tokens_predicted_total' | cut -d. -f1)"
    else
        not_ok "prometheus starts"
    fi
else
    if prometheus_start "127.0.0.1:$BACKEND_PORT"; then ok "prometheus is ready on $PROM_URL"; else not_ok "prometheus starts"; fi
fi
prometheus_stop
llama_stop

# ---- nothing left behind --------------------------------------------------------
left=$(for p in $LLAMA_PID $HAPROXY_PID $REDIS_PID $SLURMD_PID $SLURMCTLD_PID $MUNGED_PID $PROM_PID; do
    kill -0 "$p" 2>/dev/null && echo "$p"
done)
check_eq "every server stopped" "" "$left"
finish
