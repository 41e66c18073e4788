#!/usr/bin/env bash
# GET /healthz of agentos-shmstat RUN --listen (SPEC 12): 200 with a JSON body while
# the run is running and a key can serve; 503 with the reason while it is paused
# (every key refused: the credential pool is exhausted); then the good keys resume
# the run, /healthz is 200 again, and --listen stops by itself when the run ends.
source "$(dirname "$0")/lib.sh"
cd "$WS"
CREDS="$AGENTOS_HOME/credentials.json"
start_mock --latency-ms 300 --deny-key test-key-1=401 --deny-key test-key-2=401

# health URL: the body and the status, "CODE BODY"
health() { curl -s --max-time 5 -o "$WS/h.json" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz"; }

# 1. A healthy run: good keys.
write_credentials 2
sed -i 's/"test-key-/"good-key-/' "$CREDS"
make_specs lld/pending 8
lld-workflow --all --parallel 2 --no-progress >"$WS/run1.txt" 2>&1 &
pid=$!
RUN=$(run_id_of "$pid")
check "the run shows in the run list" test -n "$RUN"
agentos-shmstat "$RUN" --listen 127.0.0.1:0 >"$WS/listen1.out" 2>&1 &
lpid=$!
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.* on port \([0-9][0-9]*\)$/\1/p' "$WS/listen1.out")
    [ -n "$PORT" ] && break
    sleep 0.05
done
check "--listen says it serves /healthz" grep -q '/healthz' "$WS/listen1.out"
code=$(health)
check_eq "a healthy run: 200" 200 "$code"
check "with a JSON body saying ok" jq -e '.status == "ok" and .state == "running" and .keys_serving == 2' "$WS/h.json"
check_eq "/metrics still answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/metrics")"
wait "$pid"
check_eq "the run exits 0" 0 "$?"
timeout 10 tail --pid="$lpid" -f /dev/null
check "--listen stops when the run ends" bash -c "! kill -0 $lpid 2>/dev/null"

# 2. A paused run: every key refused, then good keys resume it.
write_credentials 2
rm -rf lld
make_specs lld/pending 3
lld-workflow --all --parallel 2 --no-progress >"$WS/run2.txt" 2>&1 &
pid=$!
RUN=$(run_id_of "$pid")
agentos-shmstat "$RUN" --listen 127.0.0.1:0 >"$WS/listen2.out" 2>&1 &
lpid=$!
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.* on port \([0-9][0-9]*\)$/\1/p' "$WS/listen2.out")
    [ -n "$PORT" ] && break
    sleep 0.05
done
check "the pause line" wait_for "$WS/run2.txt" 'Credential pool exhausted. Pausing all workflows...'
code=$(health)
check_eq "a paused run: 503" 503 "$code"
check "with the reason" jq -e '.status == "unavailable" and (.reason | startswith("paused"))' "$WS/h.json"
echo "# $(cat "$WS/h.json")"
sed -i 's/"test-key-/"good-key-/' "$CREDS"
check "good keys resume the run" wait_for "$WS/run2.txt" 'resuming'
ok200=0
for _ in $(seq 1 40); do
    [ "$(health)" = 200 ] && { ok200=1; break; }
    sleep 0.1
done
check_eq "resumed: 200 again" 1 "$ok200"
timeout 60 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "the resumed run exits 0" 0 "$?"
kill "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null
finish
