#!/usr/bin/env bash
# No secret reaches any output: run a batch with marked keys (one in the file,
# one from the environment, one the server rejects with 401, 429s on the way)
# and search the console, every file agentos wrote and a copy of the live
# shared segment for the marker; a reply that quotes its key (MOCK-QUOTE-KEY) is
# stored and forwarded to the reviewing provider scrubbed. Everything agentos writes is 0600 in 0700
# folders; a group-readable credentials file draws a warning.
source "$(dirname "$0")/lib.sh"
M=SECRETMARK
export AGENTOS_TEST_KEY2="sk-$M-two-def456"
start_mock --latency-ms 200 --deny-key "sk-$M-three-ghi789=401" --rpm 30
cd "$WS"
cat >"$AGENTOS_HOME/credentials.json" <<JSON
{"credentials": [
 {"id": "key-1", "provider": "openai", "model": "m", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key": "sk-$M-one-abc123"},
 {"id": "key-2", "provider": "gemini", "model": "g", "base_url": "http://127.0.0.1:$MOCK_PORT", "api_key_env": "AGENTOS_TEST_KEY2"},
 {"id": "key-3", "provider": "openai", "model": "m", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key": "sk-$M-three-ghi789"}
]}
JSON
chmod 600 "$AGENTOS_HOME/credentials.json"
make_specs lld/pending 6
lld-workflow --all --parallel 3 >"$WS/console.txt" 2>&1 &
pid=$!
copied=0
for _ in $(seq 1 200); do
    seg=$(ls /dev/shm 2>/dev/null | grep -- "-$pid\$" | head -1)
    if [ -n "$seg" ] && cp "/dev/shm/$seg" "$WS/segment.copy" 2>/dev/null; then
        copied=1
        segmode=$(stat -c %a "/dev/shm/$seg")
        sleep 0.3
        cp "/dev/shm/$seg" "$WS/segment.copy2" 2>/dev/null
        break
    fi
    sleep 0.02
done
wait "$pid"
check "the run finished" test $? -le 1
check_eq "a copy of the live segment was taken" 1 "$copied"
check_eq "the segment is 0600" 600 "${segmode:-none}"
check "a 401 key was really used (error path covered)" grep -q 'key-3' "$WS/console.txt"
hits=$(grep -rl "$M" "$WS/console.txt" "$WS/segment.copy"* "$AGENTOS_HOME" lld 2>/dev/null | grep -v "$AGENTOS_HOME/credentials.json")
check_eq "no secret in the console, the segment, logs, audit, checkpoints or results" "" "$hits"
bad=$(find "$AGENTOS_HOME/logs" "$AGENTOS_HOME/checkpoints" lld/done -type f -perm /077 2>/dev/null)
check_eq "every file agentos wrote is 0600" "" "$bad"
bad=$(find "$AGENTOS_HOME/logs" "$AGENTOS_HOME/checkpoints" lld/done -type d -perm /077 2>/dev/null)
check_eq "every folder agentos made is 0700" "" "$bad"

# A workstream: a prompt step uses the keys, and a shell step that prints its
# environment must not print the key that api_key_env names (it is removed).
cat >ws.json <<'EOF'
{"id": "sec", "steps": [
  {"id": "ask", "prompt": "# Notes\n\nWrite notes.", "output": "notes.md"},
  {"id": "show-env", "run": "env", "depends_on": ["ask"]}]}
EOF
timeout 60 agentos-run workstream ws.json >"$WS/ws-console.txt" 2>&1
check_eq "the workstream ran" 0 "$?"
check "the shell step printed its environment" grep -q '^AGENTOS_STEP=show-env$' "$(latest_run_dir)/show-env.log"
check "the key's variable was there to leak" test -n "$AGENTOS_TEST_KEY2"
hits=$(grep -rl "$M" "$WS/ws-console.txt" "$AGENTOS_HOME" notes.md 2>/dev/null | grep -v "$AGENTOS_HOME/credentials.json")
check_eq "no secret in the workstream's console, step logs, records or output" "" "$hits"

# A 200 whose reply quotes the request's key (the stand-in's MOCK-QUOTE-KEY): the
# draft key is on the stand-in, the review key on a recording server
# (tests/adversarial/hostile_server.py record), so the review prompt that carries the
# draft to another provider can be read as sent. No secret in the item log, the audit,
# the result, the console or that prompt.
rm -rf lld "$AGENTOS_HOME/logs" "$AGENTOS_HOME/checkpoints"
python3 "$ROOT/tests/adversarial/hostile_server.py" record "$WS/rec.port" "$WS/rec.jsonl" >"$WS/rec.out" 2>&1 &
rec_pid=$!
for _ in $(seq 1 100); do [ -s "$WS/rec.port" ] && break; sleep 0.05; done
rec_port=$(cat "$WS/rec.port")
cat >"$AGENTOS_HOME/credentials.json" <<JSON
{"credentials": [
 {"id": "drafter", "provider": "openai", "model": "m", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key": "sk-$M-quoted-jkl012", "roles": ["draft"]},
 {"id": "reviewer", "provider": "openai", "model": "m", "base_url": "http://127.0.0.1:$rec_port/v1", "api_key": "sk-$M-review-mno345", "roles": ["review"]}
]}
JSON
chmod 600 "$AGENTOS_HOME/credentials.json"
mkdir -p lld/pending
printf '# Quoting\n\nMOCK-QUOTE-KEY\n' >lld/pending/q1.md
timeout 60 lld-workflow --all --no-progress >"$WS/quote.txt" 2>&1
check_eq "quoted key: the run finishes" 0 "$?"
kill "$rec_pid" 2>/dev/null; wait "$rec_pid" 2>/dev/null
check "the stand-in really quoted the key (scrubbed in the result)" \
    grep -qF 'Echoed API key: [REDACTED]' lld/done/LLD-Q1.md
check "the review prompt carried the draft to the other provider" \
    grep -qF 'Echoed API key: [REDACTED]' "$WS/rec.jsonl"
hits=$(grep -rl "$M" "$WS/quote.txt" "$WS/rec.jsonl" "$AGENTOS_HOME" lld 2>/dev/null | grep -v "$AGENTOS_HOME/credentials.json")
check_eq "no secret in the item log, audit, result, console or the forwarded prompt" "" "$hits"
write_credentials 1
sed -i "s/test-key-1/sk-$M-one-abc123/" "$AGENTOS_HOME/credentials.json"
make_specs lld/pending 6

chmod 644 "$AGENTOS_HOME/credentials.json"
printf '\nOne more line.\n' >>lld/pending/01.md
timeout 60 lld-workflow 01 >"$WS/o2.txt" 2>"$WS/e2.txt"
check "a group-readable credentials file draws a warning" grep -q 'warning: .*credentials.json is readable by group or others' "$WS/e2.txt"
check "the warning carries no secret" bash -c "! grep -q $M '$WS/e2.txt' '$WS/o2.txt'"
finish
