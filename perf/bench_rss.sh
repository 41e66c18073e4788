#!/usr/bin/env bash
# Worker memory (SPEC 11): run 12 items at --parallel 3 against the stand-in
# and sample every worker's RSS through agentos-shmstat --json while it runs.
# Prints the largest RSS seen per worker and overall.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
WS=$(mktemp -d /tmp/agentos-bench-rss.XXXXXX)
trap 'kill $MOCK 2>/dev/null; rm -rf "$WS"' EXIT
agentos-mockllm --port 0 --port-file "$WS/port" --latency-ms 300 >/dev/null 2>&1 &
MOCK=$!
for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
PORT=$(cat "$WS/port")
mkdir -p "$WS/lld/pending" "$WS/home"
export AGENTOS_HOME="$WS/home"
for i in $(seq 1 12); do printf '# Spec %d\n\nMemory benchmark.\n' "$i" >"$WS/lld/pending/$i.md"; done
echo "{\"credentials\":[{\"id\":\"k\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"rss\",\"concurrency\":3}]}" >"$WS/home/credentials.json"
chmod 600 "$WS/home/credentials.json"
cd "$WS"
lld-workflow --all --parallel 3 --quiet --no-progress >/dev/null 2>&1 &
pid=$!
run=""
for _ in $(seq 1 100); do
    run=$(agentos-shmstat 2>/dev/null | awk -v p="$pid" '$3 == p { print $1 }')
    [ -n "$run" ] && break
    sleep 0.02
done
: >"$WS/rss"
while kill -0 "$pid" 2>/dev/null; do
    agentos-shmstat "$run" --json 2>/dev/null | jq -r '.workers[] | select(.pid > 0) | "\(.pid) \(.rss_kib)"' >>"$WS/rss"
    sleep 0.2
done
wait "$pid"
echo "worker RSS, $(date -u +%Y-%m-%dT%H:%MZ), 12 items, --parallel 3 (KiB, largest seen per worker)"
sort -k1,1n -k2,2n "$WS/rss" | awk '{m[$1] = $2} END {for (p in m) print "  worker " p ": " m[p] " KiB"}'
awk '$2 > max {max = $2} END {printf "  largest: %.1f MiB\n", max / 1024}' "$WS/rss"
