# shellcheck shell=bash disable=SC2034 # (the variables set are the API)
# A real Prometheus server on loopback scraping given targets every 1 s.
# Sourced. Debian package prometheus.
#
#   prometheus_start HOST:PORT...  write a config scraping each target (job
#                        "agentos", scrape and evaluation interval 1 s), start
#                        prometheus on a free loopback port with its storage in
#                        $WS, wait up to 30 s for /-/ready; sets PROM_PORT,
#                        PROM_PID, PROM_URL, PROM_LOG. 1 on failure.
#                        PROM_BEARER=TOKEN in the environment: scrape with
#                        "Authorization: Bearer TOKEN" (llama-server --metrics
#                        wants its API key)
#   prometheus_query EXPR  print the JSON of /api/v1/query?query=EXPR (3 s max)
#   prometheus_value EXPR  print the value of the first series of EXPR, or nothing
#   prometheus_wait SECS EXPR  until EXPR has at least one series; 1 on time-out
#   prometheus_stop      stop it
# Stopped at exit by tests/real/lib.sh.
# (tests/integration/test_shmstat_prometheus.sh predates this file and starts
# its own copy of the same thing; it can move onto these functions.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROM_PORT=""
PROM_PID=""
PROM_URL=""
PROM_LOG=""

prometheus_start() {
    local dir t targets="" auth=""
    for t in "$@"; do targets="$targets${targets:+, }'$t'"; done
    [ -n "${PROM_BEARER:-}" ] && auth=$'    authorization:\n      credentials: '"'$PROM_BEARER'"
    real_can_start prometheus "$PROM_PID" || return 1
    PROM_PORT=$(free_port)
    dir="$WS/prometheus-$PROM_PORT"
    mkdir -p "$dir"
    PROM_LOG="$dir/prometheus.log"
    cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: agentos
    static_configs:
      - targets: [$targets]
$auth
EOF
    prometheus --config.file="$dir/prometheus.yml" \
        --web.listen-address="127.0.0.1:$PROM_PORT" \
        --storage.tsdb.path="$dir/tsdb" </dev/null >"$PROM_LOG" 2>&1 &
    PROM_PID=$!
    PROM_URL="http://127.0.0.1:$PROM_PORT"
    if [ "${_PROM_AT_EXIT:-}" != 1 ]; then
        real_at_exit prometheus_stop
        _PROM_AT_EXIT=1
    fi
    if ! wait_server 30 "$PROM_PID" curl -sf --max-time 2 "$PROM_URL/-/ready"; then
        echo "# prometheus was not ready on port $PROM_PORT (exited, or 30 s passed)" >&2
        tail -5 "$PROM_LOG" | sed 's/^/# /' >&2
        prometheus_stop
        return 1
    fi
}

prometheus_query() {
    curl -s --max-time 3 --get "$PROM_URL/api/v1/query" --data-urlencode "query=$1"
}

prometheus_value() {
    prometheus_query "$1" | jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}

_prom_has_series() {
    [ "$(prometheus_query "$1" | jq -r '.data.result | length' 2>/dev/null)" -ge 1 ] 2>/dev/null
}

prometheus_wait() { wait_until "$1" _prom_has_series "$2"; }

prometheus_stop() {
    stop_pid "$PROM_PID" 10
    PROM_PID=""
}
