#!/usr/bin/env bash
# make demo: start the bundled LLM stand-in, create a demo workspace with a
# dozen pending specs (one invalid, some the reviewer sends back), run
# `lld-workflow --all --parallel 3` against it, and show what it produced.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
DEMO="$ROOT/demo-workspace"
rm -rf "$DEMO"
mkdir -p "$DEMO/lld/pending" "$DEMO/home"
export AGENTOS_HOME="$DEMO/home"
cd "$DEMO"

agentos-mockllm --port 0 --port-file "$DEMO/mock.port" --latency-ms 300 --latency-jitter-ms 200 \
    >"$DEMO/mock.log" 2>&1 &
MOCK=$!
trap 'kill $MOCK 2>/dev/null; wait $MOCK 2>/dev/null' EXIT
for _ in $(seq 1 100); do [ -s "$DEMO/mock.port" ] && break; sleep 0.05; done
PORT=$(cat "$DEMO/mock.port" 2>/dev/null) || { echo "demo: the stand-in did not start"; exit 1; }

cat >"$AGENTOS_HOME/credentials.json" <<JSON
{"credentials": [
  {"id": "key-1", "provider": "openai", "base_url": "http://127.0.0.1:$PORT/v1", "model": "mock", "api_key": "demo-key-1"},
  {"id": "key-2", "provider": "openai", "base_url": "http://127.0.0.1:$PORT/v1", "model": "mock", "api_key": "demo-key-2"},
  {"id": "key-3", "provider": "gemini", "base_url": "http://127.0.0.1:$PORT", "model": "mock-gemini", "api_key": "demo-key-3"}
]}
JSON
chmod 600 "$AGENTOS_HOME/credentials.json"

topics=(rate-limiter session-cache audit-log blob-store job-queue feature-flags
        search-index webhook-relay config-loader metrics-agent)
i=1
for t in "${topics[@]}"; do
    n=$(printf '%02d' $i)
    {
        echo "# $t"
        echo
        echo "Design the $t component: its interfaces, data model, failure modes and tests."
        [ $i -eq 3 ] && echo "MOCK-REVISE-ONCE"
        [ $i -eq 7 ] && echo "MOCK-REVISE-ALWAYS"
    } >"lld/pending/$n-$t.md"
    i=$((i + 1))
done
printf '# retry-policy\n\nMOCK-REVISE-ONCE\nDesign retries.\n' >lld/pending/11-retry-policy.md
printf 'This spec forgot its heading.\n' >lld/pending/12-broken.md

echo "== demo workspace: $DEMO (12 specs, stand-in on 127.0.0.1:$PORT, 300-500 ms per reply)"
echo "== lld-workflow --all --dry-run"
lld-workflow --all --dry-run
echo
echo "== lld-workflow --all --parallel 3"
lld-workflow --all --parallel 3
rc=$?
echo
echo "== exit status $rc (1: the spec without a heading failed, as planned)"
echo "== results in $DEMO/lld/done:"
ls -1 lld/done
echo "== run folder:"
ls -1 "$(ls -1d "$AGENTOS_HOME"/logs/parallel/*/ | tail -1)"
echo "== stand-in stats: $(curl -s "http://127.0.0.1:$PORT/stats" | head -c 300)"

# A workstream: two independent build steps, a prompt step after one of them, and a
# final step that needs everything (docs/workstreams.md).
cat >ws-demo.json <<'JSON'
{"id": "ws-demo", "execution": {"parallel": true, "max_workers": 3},
 "steps": [
   {"id": "build-a", "run": "mkdir -p a && sleep 0.5 && echo built > a/out", "files": ["a/"],
    "acceptance_tests": ["test -s a/out"]},
   {"id": "build-b", "run": "mkdir -p b && sleep 0.5 && echo built > b/out", "files": ["b/"]},
   {"id": "notes", "prompt": "# Release notes\n\nWrite release notes for component a.",
    "output": "notes/release.md", "depends_on": ["build-a"], "files": ["notes/"]},
   {"id": "package", "run": "cat a/out b/out notes/release.md > package.txt",
    "depends_on": ["notes", "build-b"], "acceptance_tests": ["grep -q Release package.txt"]}
 ]}
JSON
echo
echo "== agentos-run workstream ws-demo.json --dry-run"
agentos-run workstream ws-demo.json --dry-run
echo
echo "== agentos-run workstream ws-demo.json"
agentos-run workstream ws-demo.json
wrc=$?
echo "== exit status $wrc; the graph as DOT: agentos-run workstream ws-demo.json --dot"
[ "$rc" -eq 1 ] && [ "$wrc" -eq 0 ]
