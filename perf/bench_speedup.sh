#!/usr/bin/env bash
# Speed-up and dispatch overhead, measured side by side in one run.
#
#   perf/bench_speedup.sh [--full]
#
# 1. 6 items at 300 ms stand-in latency: sequential vs --parallel 3 (target <= 0.40).
# 2. --full only: 100 items at --parallel 10 vs sequential (target >= 0.95 of 10x).
# 3. Per-item overhead at zero latency: agentos-run --parallel 10 on N items vs
#    GNU parallel -j10 running N trivial jobs (target: below GNU parallel's).
# TMPDIR picks the scratch folder (TMPDIR=/dev/shm takes disk flush latency out of both sides).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
FULL=0
[ "${1:-}" = --full ] && FULL=1
WS=$(mktemp -d "${TMPDIR:-/tmp}/agentos-bench.XXXXXX")
MOCK=""
trap '[ -n "$MOCK" ] && kill $MOCK 2>/dev/null; rm -rf "$WS"' EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

start_mock() {
    [ -n "$MOCK" ] && kill $MOCK 2>/dev/null && wait $MOCK 2>/dev/null
    rm -f "$WS/port"
    agentos-mockllm --port 0 --port-file "$WS/port" "$@" >/dev/null 2>&1 &
    MOCK=$!
    for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
    PORT=$(cat "$WS/port")
}

# workspace N KEYS: fresh home + N specs, KEYS keys of concurrency 1
workspace() {
    local n=$1 keys=$2 i sep=""
    rm -rf "$WS/w" && mkdir -p "$WS/w/lld/pending" "$WS/w/home"
    export AGENTOS_HOME="$WS/w/home"
    for i in $(seq 1 "$n"); do printf '# Spec %d\n\nBenchmark item.\n' "$i" >"$WS/w/lld/pending/$i.md"; done
    {
        echo '{"credentials": ['
        for i in $(seq 1 "$keys"); do
            echo "$sep{\"id\":\"k$i\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"bench-$i\"}"
            sep=","
        done
        echo ']}'
    } >"$WS/w/home/credentials.json"
    chmod 600 "$WS/w/home/credentials.json"
}

# run_batch N PARALLEL -> seconds
run_batch() {
    workspace "$1" 10
    local t0 t1
    t0=$(now)
    (cd "$WS/w" && lld-workflow --all --parallel "$2" --no-progress >/dev/null 2>&1)
    t1=$(now)
    elapsed "$t0" "$t1"
}

echo "agentos speed-up benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"

start_mock --latency-ms 300
seq_t=$(run_batch 6 1)
par_t=$(run_batch 6 3)
printf '6 items, 300 ms latency: sequential %.2fs, --parallel 3 %.2fs, ratio %.3f (target <= 0.40, ideal 0.333)\n' \
    "$seq_t" "$par_t" "$(echo "$par_t / $seq_t" | bc -l)"

if [ $FULL -eq 1 ]; then
    seq_t=$(run_batch 100 1)
    par_t=$(run_batch 100 10)
    printf '100 items, 300 ms latency: sequential %.2fs, --parallel 10 %.2fs, speed-up %.2fx = %.3f of ideal 10x (target >= 0.95)\n' \
        "$seq_t" "$par_t" "$(echo "$seq_t / $par_t" | bc -l)" "$(echo "$seq_t / $par_t / 10" | bc -l)"
fi

N=200
start_mock --latency-ms 0
ag_t=$(run_batch $N 10)
t0=$(now)
seq 1 $N | parallel -j10 true {} >/dev/null 2>&1
t1=$(now)
gp_t=$(elapsed "$t0" "$t1")
printf '%d items, zero latency, -j/--parallel 10: agentos %.2f ms/item (2 LLM requests, 5 checkpoints, 1 result each), GNU parallel %.2f ms/job (true), ratio %.3f (target < 1)\n' \
    $N "$(echo "$ag_t * 1000 / $N" | bc -l)" "$(echo "$gp_t * 1000 / $N" | bc -l)" "$(echo "$ag_t / $gp_t" | bc -l)"
