#!/usr/bin/env bash
# A dead provider endpoint pauses the run like an exhausted pool (issue 9, finding 6;
# SPEC 6): when every endpoint that could serve is cut off by its circuit breaker,
# "[COORDINATOR] No provider endpoint reachable. Pausing all workflows...", items
# waiting for it spend no attempts, probes go on, the run resumes when the endpoint
# answers, and --pause-timeout ends the wait with exit 75, checkpoints kept.
source "$(dirname "$0")/lib.sh"
cd "$WS"
CREDS="$AGENTOS_HOME/credentials.json"
PAUSE='[COORDINATOR] No provider endpoint reachable. Pausing all workflows...'
# free_port: a loopback port nobody listens on (bound, read back, closed)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# keys_at PORT N: N keys on one endpoint at PORT
keys_at() {
    local i sep=""
    {
        echo '{"credentials": ['
        for i in $(seq 1 "$2"); do
            echo "$sep{\"id\": \"key-$i\", \"provider\": \"openai\", \"model\": \"m\", \"base_url\": \"http://127.0.0.1:$1/v1\", \"api_key\": \"test-key-$i\"}"
            sep=","
        done
        echo ']}'
    } >"$CREDS"
    chmod 600 "$CREDS"
}

# 1. The done-criterion: 10 items against a closed port, --pause-timeout 10: exit 75
#    within 20 s (it took ~5 minutes per item), checkpoints kept.
port=$(free_port)
keys_at "$port" 1
make_specs lld/pending 10
t0=$(date +%s%N)
timeout 60 lld-workflow --all --parallel 3 --pause-timeout 10 --no-progress >"$WS/dead.txt" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "a dead endpoint: --pause-timeout 10 ends the run with 75" 75 "$rc"
check_le "within 20 s" "$ms" 20000
check "the pause line" grep -qxF "$PAUSE" "$WS/dead.txt"
check_eq "said once" 1 "$(grep -cF "$PAUSE" "$WS/dead.txt")"
check "the timeout line" grep -qF '[COORDINATOR] Paused for 10s (--pause-timeout); checkpointing and exiting' "$WS/dead.txt"
check "no repeated 'waiting for a key' lines" bash -c "[ \$(grep -c 'waiting for a key' '$WS/dead.txt') -le 1 ]"
check_le "checkpoints are kept" 1 "$(ckpt_files | wc -l)"
check "at most the item whose own 5 attempts tripped the breaker failed" \
    bash -c "[ \$(grep -c 'FAILED' '$WS/dead.txt') -le 2 ]"

# 2. The endpoint comes back: two items on two keys of one endpoint trip the breaker
#    between them (neither spends 5 attempts), wait without spending any, and finish
#    once a probe gets an answer.
rm -rf lld "$AGENTOS_HOME/checkpoints"
port=$(free_port)
keys_at "$port" 2
make_specs lld/pending 2
lld-workflow --all --parallel 2 --no-progress >"$WS/back.txt" 2>&1 &
pid=$!
check "the pause (endpoint down)" wait_for "$WS/back.txt" "$PAUSE"
agentos-mockllm --port "$port" --latency-ms 20 >"$WS/mock2.out" 2>&1 &
mock2=$!
timeout 40 tail --pid="$pid" -f /dev/null
wait "$pid"
rc=$?
kill "$mock2" 2>/dev/null
wait "$mock2" 2>/dev/null
check_eq "the endpoint back: the run exits 0" 0 "$rc"
check "it says so and resumes" grep -qF '[COORDINATOR] A provider endpoint answers again; resuming' "$WS/back.txt"
check "both approved, nothing failed" grep -q '2 approved, 0 need revision, 0 failed' "$WS/back.txt"
finish
