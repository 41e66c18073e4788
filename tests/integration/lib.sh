# Shared helpers for integration tests (sourced). Each test starts the real
# binaries against a real agentos-mockllm on loopback, in a scratch workspace
# (also its current folder) that is removed at exit, and prints TAP lines
# ("ok - ..." / "not ok - ...").
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
export PATH="$BIN:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
unset AGENTOS_CREDENTIAL_LIMIT AGENTOS_SIMULATE_429 AGENTOS_WORKFLOW_DB

T_FAILS=0
T_COUNT=0
WS=$(mktemp -d /tmp/agentos-it.XXXXXX)
export AGENTOS_HOME="$WS/home"
mkdir -p "$AGENTOS_HOME"
# Every test starts in its own scratch folder: a relative path (lld/pending, a
# ws.json) can never land in the repository or the caller's folder.
cd "$WS" || exit 1
MOCK_PID=""
MOCK_PORT=""

cleanup() {
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
    [ -n "${KEEP_WS:-}" ] && { echo "# workspace kept: $WS"; return; }
    rm -rf "$WS"
}
trap cleanup EXIT

ok() { T_COUNT=$((T_COUNT + 1)); echo "ok - $*"; }
not_ok() { T_COUNT=$((T_COUNT + 1)); T_FAILS=$((T_FAILS + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
    local d=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d"; fi
}
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}
# check_le DESCRIPTION A B: ok if A <= B (integers)
check_le() {
    if [ "$2" -le "$3" ] 2>/dev/null; then ok "$1"; else not_ok "$1 ($2 > $3)"; fi
}
diag() { sed 's/^/# /' "$@"; }

# start_mock [flags...]: start agentos-mockllm on a free port; sets MOCK_PORT. A
# stand-in the test started before is stopped first (one at a time, none left behind).
start_mock() {
    local pf="$WS/mock.port"
    stop_mock
    rm -f "$pf"
    agentos-mockllm --port 0 --port-file "$pf" "$@" >"$WS/mock.out" 2>&1 &
    MOCK_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$pf" ] && break
        sleep 0.05
    done
    MOCK_PORT=$(cat "$pf" 2>/dev/null)
    if [ -z "$MOCK_PORT" ]; then
        echo "not ok - mock server did not start"; diag "$WS/mock.out"; exit 1
    fi
}
stop_mock() {
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
    MOCK_PID=""
}
mock_stats() { curl -s --max-time 5 "http://127.0.0.1:$MOCK_PORT/stats"; }
mock_stat() { mock_stats | jq -r ".$1"; }
mock_reset() { curl -s --max-time 5 -X POST "http://127.0.0.1:$MOCK_PORT/stats/reset" >/dev/null; }

# write_credentials N [provider] [extra-json-fields]: N keys against the mock.
write_credentials() {
    local n=$1 provider=${2:-openai} extra=${3:-} i sep="" url
    if [ "$provider" = openai ]; then url="http://127.0.0.1:$MOCK_PORT/v1"; else url="http://127.0.0.1:$MOCK_PORT"; fi
    {
        echo '{"credentials": ['
        for i in $(seq 1 "$n"); do
            echo "$sep{\"id\": \"key-$i\", \"provider\": \"$provider\", \"model\": \"mock-model\", \"base_url\": \"$url\", \"api_key\": \"test-key-$i\"$extra}"
            sep=","
        done
        echo ']}'
    } >"$AGENTOS_HOME/credentials.json"
    chmod 600 "$AGENTOS_HOME/credentials.json"
}

# make_specs DIR N: N approvable specs named 01..N.md
make_specs() {
    local dir=$1 n=$2 i
    mkdir -p "$dir"
    for i in $(seq 1 "$n"); do
        i=$(printf '%02d' "$i")
        printf '# Spec %s\n\nDesign a component number %s.\n' "$i" "$i" >"$dir/$i.md"
    done
}

# every_line_prefixed FILE: every line starts with [SOMETHING]
every_line_prefixed() {
    ! grep -vE '^\[[A-Za-z0-9_.-]+\] ' "$1" | grep -q .
}

# audit_valid RUN_DIR: every line of every audit file parses as JSON
audit_valid() {
    local f
    for f in "$1"/workflow-audit-*.jsonl; do
        [ -f "$f" ] || return 1
        jq -R -e 'fromjson | has("ts") and has("run") and has("item") and has("event")' "$f" \
            | grep -qv '^true$' && { echo "bad line in $f"; return 1; }
    done
    return 0
}

# wait_for FILE TEXT [COUNT]: until FILE has COUNT (default 1) lines containing the
# fixed string TEXT; 10 s at most. Returns 1 on time-out.
wait_for() {
    local n
    for _ in $(seq 1 200); do
        n=$(grep -cF -- "$2" "$1" 2>/dev/null)
        [ "${n:-0}" -ge "${3:-1}" ] && return 0
        sleep 0.05
    done
    return 1
}

# run_id_of PID: the run id (<UTC timestamp>-<pid>) of the run whose coordinator
# is PID, from agentos-shmstat's list; waits up to 5 s for it to appear.
run_id_of() {
    local id=""
    for _ in $(seq 1 100); do
        id=$(agentos-shmstat 2>/dev/null | awk -v p="$1" '$3 == p { print $1 }')
        [ -n "$id" ] && break
        sleep 0.05
    done
    echo "$id"
}

# busy_worker PID: the pid of a worker of coordinator PID that holds an item,
# read from agentos-shmstat --json (an idle worker, waiting for admission, would
# not do for a test that kills "the worker running an item"); waits up to 5 s.
busy_worker() {
    local run w=""
    run=$(run_id_of "$1")
    for _ in $(seq 1 100); do
        w=$(agentos-shmstat --json "$run" 2>/dev/null | jq -r '[.workers[] | select(.item != null) | .pid][0] // empty')
        [ -n "$w" ] && break
        sleep 0.05
    done
    echo "$w"
}

# kill_run_hard PID: kill coordinator PID and its workers with -9, as one crash.
# Everything is stopped first: killing the coordinator alone sends its workers
# their death signal (SIGTERM), and a worker scheduled before its own SIGKILL
# would shut down cleanly and release its item, which is not the crash tested.
kill_run_hard() {
    local procs="$1 $(pgrep -P "$1")"
    kill -STOP $procs 2>/dev/null
    kill -9 $procs 2>/dev/null
    wait "$1" 2>/dev/null
}

latest_run_dir() { ls -1td "$AGENTOS_HOME"/logs/parallel/*/ 2>/dev/null | head -1 | sed 's:/$::'; }

finish() {
    echo "1..$T_COUNT"
    [ "$T_FAILS" -eq 0 ]
}

# ckpt_files: every checkpoint file under $AGENTOS_HOME/checkpoints, whatever its
# workspace folder (one path a line).
ckpt_files() {
    find "$AGENTOS_HOME/checkpoints" -name '*.db' -type f 2>/dev/null | sort
}

# ckpt_dir ITEMS_DIR: where the items of that folder keep their checkpoints:
# $AGENTOS_HOME/checkpoints/<first 16 hex digits of the SHA-256 of its resolved path>
# (runtime/workspace.h). The folder must exist.
ckpt_dir() {
    local real
    real=$(cd "$1" && pwd -P) || return 1
    echo "$AGENTOS_HOME/checkpoints/$(printf '%s' "$real" | sha256sum | cut -c1-16)"
}
