#!/usr/bin/env bash
# shellcheck disable=SC2034 # (the variables set are the API)
# llama.cpp's llama-server, a real OpenAI-compatible LLM server (SPEC 14),
# built from the llama.cpp sources inside the npm package node-llama-cpp and
# serving a tiny random model made with llama.cpp's own gguf-py.
#
# Run:    tests/real/llama.sh build    build (once) and cache the binary and model
#         tests/real/llama.sh model    only (re)make the model
# Source: functions below; a test calls llama_start and llama_stop.
#
#   llama_build          ensure $LLAMA_BIN: npm pack the package, git clone its
#                        package/llama/gitRelease.bundle into $LLAMA_SRC,
#                        configure $LLAMA_SRC/build (kept if already there),
#                        build --target llama-server, copy the binary to
#                        $LLAMA_BIN with a stamp ($LLAMA_BIN.stamp). Does
#                        nothing when binary and stamp are there. Waits for a
#                        build already running in $LLAMA_SRC (a lock, and any
#                        process working in that tree), up to
#                        LLAMA_BUILD_TIMEOUT s (default 5400). Needs no stdin;
#                        prints a line a minute; log in $LLAMA_BUILD_LOG.
#   llama_model          ensure $LLAMA_MODEL (about 17 MB; ~1 s) and print its path
#   llama_available      0 if the binary is built (a test may skip otherwise)
#   llama_start PORT APIKEY [extra llama-server args]
#                        PORT may be "auto". Starts llama-server on 127.0.0.1
#                        with $LLAMA_ARGS (below), waits up to 60 s for GET
#                        /health to be 200; sets LLAMA_PORT, LLAMA_PID,
#                        LLAMA_URL (http://127.0.0.1:PORT, add /v1 for the
#                        OpenAI API), LLAMA_LOG. 1 on failure, 2 if not built.
#   llama_stop
#
# The server, as started here: -np 4 slots, -c 1024 in all, so 256 tokens per
# slot (an explicit -np turns the unified KV cache off): a prompt of more than
# ~256 tokens gets 400 exceed_context_size_error, and 4 requests run at once.
# One thread (-t 1): the machine is shared. --seed 42, --no-warmup, --alias
# agentos-tiny (the "model" that replies name; requests may send any). What the
# server answers (errors, usage, headers) is captured in
# tests/corpus/replies/llama-server/ by tests/real/capture-llama-replies.sh.
#
# Cache: ${AGENTOS_CACHE_DIR:-$HOME/.cache/agentos} (outside the work tree):
#   src/node-llama-cpp-3.21.1.tgz, src/llama.cpp (the clone, build/ inside),
#   bin/llama-server, bin/llama-server.stamp, models/tiny-llama-<hash>.gguf
# Stopped at exit by tests/real/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LLAMA_NPM=node-llama-cpp@3.21.1
LLAMA_CACHE=$(real_cache_dir)
LLAMA_SRC="$LLAMA_CACHE/src/llama.cpp"
LLAMA_BIN="$LLAMA_CACHE/bin/llama-server"
LLAMA_BUILD_LOG="$LLAMA_CACHE/src/llama-build.log"
LLAMA_CMAKE_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
    -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF)
LLAMA_STAMP="$LLAMA_NPM ${LLAMA_CMAKE_FLAGS[*]}"
LLAMA_ARGS=(-np 4 -c 1024 -t 1 --seed 42 --no-warmup --alias agentos-tiny)
LLAMA_PORT=""
LLAMA_PID=""
LLAMA_URL=""
LLAMA_LOG=""

_llama_say() { echo "# llama: $*" >&2; }

llama_available() {
    [ -x "$LLAMA_BIN" ] && [ "$(head -1 "$LLAMA_BIN.stamp" 2>/dev/null)" = "$LLAMA_STAMP" ]
}

# The llama.cpp tree, from the git bundle in the npm package.
_llama_src() {
    local dir="$LLAMA_CACHE/src" tgz
    [ -d "$LLAMA_SRC/.git" ] && return 0
    mkdir -p "$dir"
    tgz="$dir/node-llama-cpp-${LLAMA_NPM##*@}.tgz"
    if [ ! -s "$tgz" ]; then
        _llama_say "npm pack $LLAMA_NPM"
        (cd "$dir" && timeout 600 npm pack "$LLAMA_NPM" --silent </dev/null >/dev/null) ||
            { _llama_say "npm pack $LLAMA_NPM failed"; return 1; }
    fi
    tar -xzf "$tgz" -C "$dir" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json ||
        return 1
    rm -rf "$LLAMA_SRC.tmp"
    git -c advice.detachedHead=false clone -q "$dir/package/llama/gitRelease.bundle" "$LLAMA_SRC.tmp" </dev/null &&
        mv "$LLAMA_SRC.tmp" "$LLAMA_SRC"
}

# Someone else's build in the tree: a process whose cwd is in it (our own
# build runs from $LLAMA_CACHE, see llama_build; $$ is the caller's shell).
_llama_foreign_build() {
    find /proc/[0-9]*/cwd -maxdepth 0 \( -lname "$LLAMA_SRC" -o -lname "$LLAMA_SRC/*" \) \
        2>/dev/null | cut -d/ -f3 | grep -vxq "$$"
}

_llama_progress() { grep -o '^\[ *[0-9]*%\]' "$LLAMA_BUILD_LOG" 2>/dev/null | tail -1; }

# Compile under the lock, a line a minute, killed at the deadline.
_llama_compile() {
    local deadline=$1 pid next rc
    if [ ! -f "$LLAMA_SRC/build/CMakeCache.txt" ]; then
        _llama_say "configuring $LLAMA_SRC/build"
        cmake -S "$LLAMA_SRC" -B "$LLAMA_SRC/build" "${LLAMA_CMAKE_FLAGS[@]}" \
            </dev/null >"$LLAMA_BUILD_LOG" 2>&1 || { tail -20 "$LLAMA_BUILD_LOG" >&2; return 1; }
    fi
    _llama_say "building llama-server with $(nproc) jobs (10-30 min the first time; log $LLAMA_BUILD_LOG)"
    setsid cmake --build "$LLAMA_SRC/build" --target llama-server -j"$(nproc)" \
        </dev/null >>"$LLAMA_BUILD_LOG" 2>&1 &
    pid=$!
    next=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            _llama_say "build still running at the deadline; stopping it"
            kill -- -"$pid" 2>/dev/null || kill "$pid"
            wait "$pid"
            return 1
        fi
        [ "$SECONDS" -ge "$next" ] && { _llama_say "building: $(_llama_progress)"; next=$((SECONDS + 60)); }
        sleep 2
    done
    wait "$pid"
    rc=$?
    echo "rc=$rc" >>"$LLAMA_BUILD_LOG"
    [ "$rc" -eq 0 ] || { tail -20 "$LLAMA_BUILD_LOG" >&2; return 1; }
}

_llama_build_locked() {
    local deadline=$1 tag info
    llama_available && return 0
    _llama_src || return 1
    if _llama_foreign_build; then
        _llama_say "waiting for the build already running in $LLAMA_SRC"
        while _llama_foreign_build; do
            [ "$SECONDS" -ge "$deadline" ] && { _llama_say "it did not end in time"; return 1; }
            sleep 5
        done
    fi
    _llama_compile "$deadline" || return 1
    mkdir -p "$(dirname "$LLAMA_BIN")"
    cp "$LLAMA_SRC/build/bin/llama-server" "$LLAMA_BIN.tmp" && mv "$LLAMA_BIN.tmp" "$LLAMA_BIN" || return 1
    info="$LLAMA_CACHE/src/package/llama/llama.cpp.info.json"
    [ -f "$info" ] || tar -xzf "$LLAMA_CACHE/src/node-llama-cpp-${LLAMA_NPM##*@}.tgz" \
        -C "$LLAMA_CACHE/src" package/llama/llama.cpp.info.json 2>/dev/null
    tag=$(jq -r .tag "$info" 2>/dev/null)
    {
        echo "$LLAMA_STAMP"
        echo "llama.cpp release ${tag:-?} from $LLAMA_NPM, commit $(git -C "$LLAMA_SRC" rev-parse HEAD)"
        "$LLAMA_BIN" --version 2>&1 | grep -E '^(version|built)'
    } >"$LLAMA_BIN.stamp"
    _llama_say "built $LLAMA_BIN: $(sed -n 3p "$LLAMA_BIN.stamp")"
}

llama_build() {
    local deadline=$((SECONDS + ${LLAMA_BUILD_TIMEOUT:-5400}))
    llama_available && return 0
    mkdir -p "$LLAMA_CACHE/src"
    (
        cd "$LLAMA_CACHE" || exit 1
        flock -w "${LLAMA_BUILD_TIMEOUT:-5400}" 9 || { _llama_say "build lock busy"; exit 1; }
        _llama_build_locked "$deadline"
    ) 9>"$LLAMA_CACHE/src/.llama-build.lock"
}

llama_model() {
    local gen="$REAL_DIR/gen_tiny_llama.py" out py
    out="$LLAMA_CACHE/models/tiny-llama-$(sha256sum "$gen" | cut -c1-12).gguf"
    if [ ! -s "$out" ]; then
        _llama_src || return 1
        # Debian's python3-numpy is for /usr/bin/python3; another python3
        # first on PATH (pyenv) may lack numpy, and pip cannot reach PyPI.
        for py in /usr/bin/python3 python3; do
            "$py" -c 'import numpy' 2>/dev/null && break
        done
        mkdir -p "$(dirname "$out")"
        PYTHONPATH="$LLAMA_SRC/gguf-py" timeout 120 "$py" "$gen" \
            "$LLAMA_SRC/models/ggml-vocab-llama-spm.gguf" "$out.tmp" </dev/null >&2 &&
            mv "$out.tmp" "$out" || { _llama_say "could not make the model"; return 1; }
    fi
    LLAMA_MODEL=$out
    echo "$out"
}

_llama_healthy() {
    [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$LLAMA_URL/health")" = 200 ]
}

llama_start() {
    local port=$1 key=$2 model
    shift 2 || { echo "usage: llama_start PORT APIKEY [args]" >&2; return 2; }
    llama_available || { _llama_say "$LLAMA_BIN is not built (tests/real/llama.sh build)"; return 2; }
    model=$(llama_model) || return 1
    [ "$port" = auto ] && port=$(free_port)
    real_can_start llama-server "$LLAMA_PID" "$port" || return 1
    LLAMA_PORT=$port
    LLAMA_URL="http://127.0.0.1:$port"
    LLAMA_LOG="$WS/llama-server-$port.log"
    "$LLAMA_BIN" -m "$model" --host 127.0.0.1 --port "$port" --api-key "$key" \
        "${LLAMA_ARGS[@]}" "$@" </dev/null >"$LLAMA_LOG" 2>&1 &
    LLAMA_PID=$!
    if [ "${_LLAMA_AT_EXIT:-}" != 1 ]; then
        real_at_exit llama_stop
        _LLAMA_AT_EXIT=1
    fi
    if ! wait_server 60 "$LLAMA_PID" _llama_healthy; then
        _llama_say "llama-server not healthy on port $port (exited, or 60 s passed)"
        tail -5 "$LLAMA_LOG" | sed 's/^/# /' >&2
        llama_stop
        return 1
    fi
}

llama_stop() {
    stop_pid "$LLAMA_PID" 10
    LLAMA_PID=""
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
    build) llama_build && llama_model >/dev/null ;;
    model) llama_model ;;
    *) echo "usage: $0 build|model" >&2; exit 2 ;;
    esac
fi
