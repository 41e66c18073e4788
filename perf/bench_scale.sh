#!/usr/bin/env bash
# How cost grows with the batch (SPEC 11): 200, 2,000 and 20,000 items at zero
# stand-in latency, --parallel 10, side by side with GNU parallel -j10 running as
# many trivial jobs. For each size: wall time, per-item (per-job) overhead, and
# the coordinator's peak RSS (GNU parallel's own peak RSS beside it), sampled
# every 50 ms from /proc while the run lasts. Linear or better means the
# per-item figures stay flat as the size grows, and memory grows no faster than
# the items.
#
#   perf/bench_scale.sh [SIZES...]      (default: 200 2000 20000)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(200 2000 20000)
WS=$(mktemp -d /tmp/agentos-bench-scale.XXXXXX)
MOCK=""
trap '[ -n "$MOCK" ] && kill $MOCK 2>/dev/null; rm -rf "$WS"' EXIT

now() { date +%s.%N; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# peak_rss PID: the largest VmRSS of PID until it exits (KiB), on stdout
peak_rss() {
    local pid=$1 peak=0 r
    while kill -0 "$pid" 2>/dev/null; do
        r=$(rss_kib "$pid")
        [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.05
    done
    echo "$peak"
}

agentos-mockllm --port 0 --port-file "$WS/port" --latency-ms 0 >/dev/null 2>&1 &
MOCK=$!
for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
PORT=$(cat "$WS/port")

echo "agentos scale benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%8s  %10s %12s %14s   %10s %12s %14s   %s\n' items "agentos s" "ms/item" "coord RSS MiB" \
    "parallel s" "ms/job" "parallel MiB" "ratio"
for n in "${SIZES[@]}"; do
    rm -rf "$WS/w" && mkdir -p "$WS/w/lld/pending" "$WS/w/home"
    export AGENTOS_HOME="$WS/w/home"
    for i in $(seq 1 "$n"); do printf '# Spec %d\n\nScale item.\n' "$i"; done |
        awk -v d="$WS/w/lld/pending" '/^# Spec/ {f = sprintf("%s/%06d.md", d, $3)} {print > f} /^Scale/ {close(f)}'
    echo "{\"credentials\":[{\"id\":\"k\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"scale-key\",\"concurrency\":8},{\"id\":\"k2\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"scale-key-2\",\"concurrency\":8}]}" \
        >"$WS/w/home/credentials.json"
    chmod 600 "$WS/w/home/credentials.json"
    t0=$(now)
    (cd "$WS/w" && exec lld-workflow --all --parallel 10 --quiet --no-progress >"$WS/out.txt" 2>&1) &
    apid=$!
    arss=$(peak_rss "$apid")
    wait "$apid"
    arc=$?
    t1=$(now)
    at=$(echo "$t1 - $t0" | bc -l)
    done_n=$(ls "$WS/w/lld/done" 2>/dev/null | wc -l)
    t0=$(now)
    seq 1 "$n" | parallel -j10 true {} >/dev/null 2>&1 &
    ppid_=$!
    prss=$(peak_rss "$ppid_")
    wait "$ppid_"
    t1=$(now)
    pt=$(echo "$t1 - $t0" | bc -l)
    printf '%8d  %10.2f %12.3f %14.1f   %10.2f %12.3f %14.1f   %.3f%s\n' "$n" "$at" \
        "$(echo "$at * 1000 / $n" | bc -l)" "$(echo "$arss / 1024" | bc -l)" "$pt" \
        "$(echo "$pt * 1000 / $n" | bc -l)" "$(echo "$prss / 1024" | bc -l)" "$(echo "$at / $pt" | bc -l)" \
        "$([ "$arc" = 0 ] && [ "$done_n" = "$n" ] || echo "  (exit $arc, $done_n of $n results!)")"
done
echo "ms/item: agentos items each do 2 LLM requests, 5 checkpoint transactions and 1 result; a GNU parallel job runs true."
