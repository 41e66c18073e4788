#!/usr/bin/env bash
# Does an inspector slow a run down? The same batch twice: alone, then with
# agentos-shmstat RUN --json in a tight loop for the whole run (the worst an
# operator can do). Prints both wall times and their ratio (target ~1.0).
# A third run hammers with `true` spawned just as often, so that on a small
# machine the cost of sharing CPUs can be told from any cost of the segment.
# A fourth keeps ONE inspector process refreshing every 10 ms (--watch 0.01):
# the segment is read continuously without the cost of starting processes.
#
#   perf/bench_inspector.sh [ITEMS] [LATENCY_MS]     (default 24 items, 300 ms)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
N=${1:-24}
LAT=${2:-300}
WS=$(mktemp -d /tmp/agentos-bench-inspector.XXXXXX)
MOCK=""
HAMMER=""
trap '[ -n "$HAMMER" ] && kill $HAMMER 2>/dev/null; [ -n "$MOCK" ] && kill $MOCK 2>/dev/null; rm -rf "$WS"' EXIT

agentos-mockllm --port 0 --port-file "$WS/port" --latency-ms "$LAT" >/dev/null 2>&1 &
MOCK=$!
for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
PORT=$(cat "$WS/port")

workspace() { # fresh home + N specs + 3 keys against the stand-in
    local i sep=""
    rm -rf "$WS/w" && mkdir -p "$WS/w/lld/pending" "$WS/w/home"
    export AGENTOS_HOME="$WS/w/home"
    for i in $(seq 1 "$N"); do printf '# Spec %d\n\nBenchmark item.\n' "$i" >"$WS/w/lld/pending/$i.md"; done
    {
        echo '{"credentials": ['
        for i in 1 2 3; do
            echo "$sep{\"id\":\"k$i\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"bench-$i\"}"
            sep=","
        done
        echo ']}'
    } >"$WS/w/home/credentials.json"
    chmod 600 "$WS/w/home/credentials.json"
}

# run_batch HAMMER(0|1|2) -> seconds; 1 hammers with shmstat --json, 2 with
# /bin/true (same spawn rate, no segment); with 1 or 2 also the spawns made
run_batch() {
    local t0 t1 pid run="" snaps
    workspace
    cd "$WS/w"
    t0=$(date +%s.%N)
    lld-workflow --all --parallel 3 --quiet --no-progress >/dev/null 2>&1 &
    pid=$!
    if [ "$1" != 0 ]; then
        for _ in $(seq 1 200); do
            run=$(agentos-shmstat 2>/dev/null | awk -v p="$pid" '$3 == p { print $1 }')
            [ -n "$run" ] && break
            sleep 0.01
        done
        : >"$WS/snaps"
        if [ "$1" = 1 ]; then
            (while agentos-shmstat "$run" --json >/dev/null 2>&1; do echo >>"$WS/snaps"; done) &
        elif [ "$1" = 3 ]; then
            agentos-shmstat "$run" --watch 0.01 >"$WS/snaps" 2>/dev/null &
        else
            (while kill -0 "$pid" 2>/dev/null; do /bin/true; echo >>"$WS/snaps"; done) &
        fi
        HAMMER=$!
    fi
    wait "$pid"
    t1=$(date +%s.%N)
    if [ -n "$HAMMER" ]; then
        kill "$HAMMER" 2>/dev/null
        wait "$HAMMER" 2>/dev/null
        HAMMER=""
        sleep 0.2
        snaps=$(wc -l <"$WS/snaps")
        echo "$(echo "$t1 - $t0" | bc -l) $snaps"
    else
        echo "$(echo "$t1 - $t0" | bc -l)"
    fi
    cd "$WS"
}

alone=$(run_batch 0)
read -r hammered snaps <<<"$(run_batch 1)"
read -r spawned spawns <<<"$(run_batch 2)"
read -r watched lines <<<"$(run_batch 3)"
printf 'inspector bench: %d items, --parallel 3, %d ms latency\n' "$N" "$LAT"
printf '  alone:                 %.2f s\n' "$alone"
printf '  with shmstat --json:   %.2f s (%d snapshots, %.0f/s)\n' "$hammered" "$snaps" \
    "$(echo "$snaps / $hammered" | bc -l)"
printf '  with /bin/true loop:   %.2f s (%d spawns)\n' "$spawned" "$spawns"
printf '  with one --watch 0.01: %.2f s (%d lines drawn)\n' "$watched" "$lines"
printf '  ratio watch/alone:     %.3f (target ~1.0: reading the segment costs the run nothing)\n' \
    "$(echo "$watched / $alone" | bc -l)"
printf '  ratio shmstat/alone:   %.3f (target ~1.0)\n' "$(echo "$hammered / $alone" | bc -l)"
printf '  ratio shmstat/true:    %.3f (the segment'"'"'s share of the cost)\n' \
    "$(echo "$hammered / $spawned" | bc -l)"
