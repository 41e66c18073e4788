#!/usr/bin/env bash
# agentos-shmstat --listen scraped by a real Prometheus server on loopback:
# a run of 18 specs at 500 ms latency, --listen 127.0.0.1:0 (a free port),
# Prometheus with scrape_interval 1s; its HTTP API must have the run's series
# while the run lasts, and --listen must stop by itself when the run ends.
# Needs the Debian package prometheus (prometheus + promtool).
source "$(dirname "$0")/lib.sh"

RUN_PID=""
LISTEN_PID=""
PROM_PID=""
my_cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    [ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null && wait "$LISTEN_PID" 2>/dev/null
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    cleanup
}
trap my_cleanup EXIT

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    not_ok "prometheus and promtool are installed (Debian package prometheus)"
    finish
    exit 1
fi

# A loopback port nobody listens on (Prometheus cannot be told to pick one), below the
# kernel's ephemeral range, which the other suites' servers on port 0 draw from.
free_port() {
    local p low
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    [ "${low:-0}" -gt 12000 ] || low=32768
    for _ in $(seq 1 50); do
        p=$((10000 + RANDOM % (low - 10000)))
        ss -ltnH "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# Start Prometheus on a free port; another process may take the port between the
# check and the bind: then try another (5 times). Sets PROM_PORT and PROM_PID.
start_prometheus() {
    local try
    for try in 1 2 3 4 5; do
        PROM_PORT=$(free_port)
        prometheus --config.file="$WS/prometheus.yml" --web.listen-address="127.0.0.1:$PROM_PORT" \
            --storage.tsdb.path="$WS/tsdb" >"$WS/prometheus.log" 2>&1 &
        PROM_PID=$!
        for _ in $(seq 1 100); do # up to 10 s
            curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PROM_PORT/-/ready" && return 0
            kill -0 "$PROM_PID" 2>/dev/null || break
            grep -q 'address already in use' "$WS/prometheus.log" && break
            sleep 0.1
        done
        diag <(echo "prometheus try $try on port $PROM_PORT:"; tail -2 "$WS/prometheus.log")
        kill "$PROM_PID" 2>/dev/null
        wait "$PROM_PID" 2>/dev/null
        PROM_PID=""
    done
    return 1
}

start_mock --latency-ms 500
write_credentials 3
cd "$WS"
make_specs lld/pending 18
for i in 01 04 07 10 13 16; do printf 'MOCK-REVISE-ONCE\n' >>"lld/pending/$i.md"; done
lld-workflow --all --parallel 3 >"$WS/run.out" 2>&1 &
RUN_PID=$!
RUN=$(run_id_of "$RUN_PID")
check "found the run" test -n "$RUN"

agentos-shmstat "$RUN" --listen 127.0.0.1:0 >"$WS/listen.out" 2>&1 &
LISTEN_PID=$!
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.* on port \([0-9][0-9]*\)$/\1/p' "$WS/listen.out")
    [ -n "$PORT" ] && break
    sleep 0.05
done
check "--listen reports its port" test -n "$PORT"
curl -s --max-time 5 -D "$WS/headers.txt" "http://127.0.0.1:$PORT/metrics" >"$WS/metrics.txt"
check "GET /metrics serves the exposition" grep -q '^agentos_run_in_flight ' "$WS/metrics.txt"
check "with the exposition content type" grep -qi '^content-type: text/plain; version=0.0.4' "$WS/headers.txt"
check "promtool accepts what /metrics serves" promtool check metrics <"$WS/metrics.txt"
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")
check_eq "other paths are 404" 404 "$code"
check "--listen is bound to loopback only" bash -c "ss -ltnH 'sport = :$PORT' | grep -q '127.0.0.1:$PORT'"

cat >"$WS/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agentos
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
start_prometheus
check "Prometheus is ready on a free port" test -n "$PROM_PID"

q() { curl -s --max-time 3 --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"; }
got=""
for _ in $(seq 1 150); do # up to 15 s
    got=$(q agentos_run_in_flight | jq -r '.data.result | length' 2>/dev/null)
    [ "${got:-0}" -ge 1 ] && break
    sleep 0.1
done
check_eq "Prometheus scraped agentos_run_in_flight" 1 "${got:-0}"
[ "${got:-0}" -ge 1 ] || diag <(tail -5 "$WS/prometheus.log")
n=$(q 'up{job="agentos"}' | jq -r '.data.result[0].value[1]' 2>/dev/null)
check_eq "the scrape target is up" 1 "$n"
n=$(q 'count(agentos_key_requests_total)' | jq -r '.data.result[0].value[1]' 2>/dev/null)
check_eq "one key series per key" 3 "$n"
n=$(q 'count(agentos_key_latency_seconds_bucket{key="key-1"})' | jq -r '.data.result[0].value[1]' 2>/dev/null)
check_eq "the latency histogram has its 12 buckets" 12 "$n"
n=$(q 'agentos_run_info' | jq -r '.data.result[0].metric.run' 2>/dev/null)
check_eq "the series carry the run id" "$RUN" "$n"

# The run ends; --listen stops serving by itself.
timeout 60 tail --pid="$RUN_PID" -f /dev/null
wait "$RUN_PID"
check_eq "the run succeeded" 0 "$?"
RUN_PID=""
for _ in $(seq 1 50); do kill -0 "$LISTEN_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LISTEN_PID" 2>/dev/null; then
    not_ok "--listen exits when the run ends"
else
    wait "$LISTEN_PID"
    check_eq "--listen exits 0 when the run ends" 0 "$?"
    LISTEN_PID=""
fi
check "--listen says why it stopped" grep -q "stopped serving" "$WS/listen.out"

finish
