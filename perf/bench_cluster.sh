#!/usr/bin/env bash
# Several coordinators sharing one key set through Redis (SPEC 11 and 13).
#
#   perf/bench_cluster.sh [--quick] [--keys K] [--rpm R] [--coordinators "1 2 4"]
#
# K keys (default 3), each with "rpm": R (default 60), against agentos-mockllm
# --rpm R (the same budget, enforced per key with 429 + Retry-After), through a
# redis-server started here on loopback (no persistence). For each N of
# --coordinators, N coordinators (--parallel 3 each, shards i/N of one batch,
# --budget redis://...) run enough items to keep the keys busy about 60 s
# (--quick: about 20 s); first, for reference, one coordinator without Redis.
# Side by side, per row:
#   budget used  = requests / (K * R * minutes from the first start to the last end)
#                                                         target >= 0.90
#   429 share    = requests answered 429 / requests       target <  0.01
#   early        = requests before their Retry-After      must be 0
#   trips/req    = Redis round trips of the workers (take, give, waits) per request
#   trip mean/max = their latency (budget_redis_stats, summed over the runs)
#   waits/req    = takes Redis answered WAIT, per request
# Exits 1 if a row through Redis misses a target.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
export PATH="$BIN:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
unset AGENTOS_CREDENTIAL_LIMIT AGENTOS_SIMULATE_429 AGENTOS_WORKFLOW_DB

SECONDS_WANTED=60
KEYS=3
RPM=60
COORDS="1 2 4"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SECONDS_WANTED=20 ;;
    --keys) KEYS=$2; shift ;;
    --rpm) RPM=$2; shift ;;
    --coordinators) COORDS=$2; shift ;;
    *) echo "usage: $0 [--quick] [--keys K] [--rpm R] [--coordinators \"1 2 4\"]" >&2; exit 2 ;;
    esac
    shift
done
command -v redis-server >/dev/null || { echo "bench_cluster: needs redis-server" >&2; exit 2; }

WS=$(mktemp -d /tmp/agentos-bench-cluster.XXXXXX)
MOCK="" REDIS=""
cleanup() {
    [ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null && wait "$MOCK" 2>/dev/null
    [ -n "$REDIS" ] && kill "$REDIS" 2>/dev/null && wait "$REDIS" 2>/dev/null
    rm -rf "$WS"
}
trap cleanup EXIT

RPORT=$((20000 + RANDOM % 30000))
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WS" \
    --logfile "$WS/redis.log" </dev/null >/dev/null 2>&1 &
REDIS=$!
for _ in $(seq 1 100); do [ "$(redis-cli -p "$RPORT" PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(redis-cli -p "$RPORT" PING 2>/dev/null)" = PONG ] || { echo "redis-server did not start" >&2; exit 1; }
URL="redis://127.0.0.1:$RPORT"

agentos-mockllm --port 0 --port-file "$WS/port" --rpm "$RPM" --retry-style seconds \
    --latency-ms 20 >/dev/null 2>&1 &
MOCK=$!
for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
PORT=$(cat "$WS/port")
[ -n "$PORT" ] || { echo "the stand-in did not start" >&2; exit 1; }

export AGENTOS_HOME="$WS/home"
mkdir -p "$AGENTOS_HOME"
{
    echo '{"credentials": ['
    sep=""
    for i in $(seq 1 "$KEYS"); do
        echo "$sep{\"id\":\"k$i\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"bench-$i\",\"rpm\":$RPM}"
        sep=","
    done
    echo ']}'
} >"$AGENTOS_HOME/credentials.json"
chmod 600 "$AGENTOS_HOME/credentials.json"
# Every item approves on its first review: 2 requests (draft, review).
ITEMS=$((KEYS * RPM * SECONDS_WANTED / 60 / 2))

echo "bench_cluster: $KEYS keys x rpm $RPM, $ITEMS items (~${SECONDS_WANTED}s) per row, --parallel 3 per coordinator"
echo "date $(date -u +%F), $(nproc) CPUs, $(uname -sr), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
printf '%-14s %8s %7s %8s %7s %6s %9s %9s %10s %9s\n' row requests run_s used 429_share early \
    trips/req waits/req trip_mean trip_max
fail=0

# row NAME N [--budget URL]: one batch over N coordinators; prints its line.
row() {
    local name=$1 n=$2 i t0 t1 req h429 early secs used share dir pids=()
    shift 2
    dir="$WS/$name"
    mkdir -p "$dir/pending"
    for i in $(seq 1 "$ITEMS"); do printf '# Spec %d\n\nBenchmark item.\n' "$i" >"$dir/pending/$i.md"; done
    sleep 2 # the stand-in's buckets refill between rows
    curl -s -X POST "http://127.0.0.1:$PORT/stats/reset" >/dev/null
    rm -rf "$AGENTOS_HOME/logs"
    t0=$(date +%s.%N)
    for ((i = 0; i < n; i++)); do
        agentos-run lld --all --items "$dir/pending" --out "$dir/done" --parallel 3 \
            --shard "$i/$n" --no-progress --quiet "$@" >"$dir/out.$i" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { echo "$name: a coordinator exited $?" >&2; fail=1; }; done
    t1=$(date +%s.%N)
    local stats sums
    stats=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/stats")
    req=$(jq .requests <<<"$stats")
    h429=$(jq .http_429 <<<"$stats")
    early=$(jq .early_requests <<<"$stats")
    secs=$(echo "$t1 - $t0" | bc -l)
    used=$(echo "$req / ($KEYS * $RPM * $secs / 60)" | bc -l)
    share=$(echo "$h429 / $req" | bc -l)
    # Redis figures, summed over the runs' summary.json files.
    sums=$(cat "$AGENTOS_HOME"/logs/parallel/*/summary.json | jq -s '
        [.[] | .budget // empty] as $b |
        if ($b | length) == 0 then "- - - -" else
        ($b | map(.round_trips) | add) as $rt |
        ($b | map(.round_trips * .latency_mean_ms) | add) as $lat |
        "\($rt / '"$req"' * 100 | round / 100) \(($b | map(.waits) | add) / '"$req"' * 100 | round / 100) \(if $rt > 0 then ($lat / $rt * 1000 | round / 1000) else 0 end)ms \($b | map(.latency_max_ms) | max)ms" end' -r)
    # shellcheck disable=SC2086 # four words
    printf '%-14s %8d %7.1f %8.3f %7.4f %6d %9s %9s %10s %9s\n' "$name" "$req" "$secs" "$used" \
        "$share" "$early" $sums
    if [ -n "${1:-}" ]; then
        [ "$(echo "$used >= 0.90" | bc -l)" = 1 ] || fail=1
        [ "$(echo "$share < 0.01" | bc -l)" = 1 ] || fail=1
        [ "$early" = 0 ] || fail=1
    fi
}

row "1-local" 1
for n in $COORDS; do
    row "$n-redis" "$n" --budget "$URL"
done
echo "targets: used >= 0.90, 429 share < 0.01, no early request (rows through Redis)"
[ "$fail" = 0 ] && echo "bench_cluster: targets met" || { echo "bench_cluster: target missed"; exit 1; }
