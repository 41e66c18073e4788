# shellcheck shell=bash disable=SC2034 # (the variables set are the API)
# Common harness for tests against real servers (SPEC 14). Sourced, never run.
#
# It sources tests/integration/lib.sh, so a real-server test gets the same
# scratch workspace ($WS, removed at exit), agentos binaries on PATH and TAP
# helpers (ok, not_ok, check, check_eq, check_le, diag, finish) as every other
# integration test, and adds what servers nobody on the project wrote need:
#
#   free_port                  print a loopback TCP port nobody listens on
#   free_port_pair             print "P P+1", two adjacent free ports
#   real_at_exit CMD...        run CMD at exit, last registered first, before
#                              $WS is removed; use it instead of `trap ... EXIT`
#   wait_until SECS CMD...     run CMD every 0.1 s until it succeeds; 1 on time-out
#   wait_server SECS PID CMD...  the same for a server just started as PID:
#                              2 as soon as PID has died (a port taken, a bad
#                              config), without waiting out SECS
#   real_can_start NAME PID [PORT]  0 if no NAME runs as PID yet (one server of a
#                              kind at a time) and PORT is free; else says why
#   stop_pid PID [SECS]        SIGTERM, wait up to SECS (default 10), then SIGKILL;
#                              reaps PID if it is our child
#   real_cache_dir             print ${AGENTOS_CACHE_DIR:-$HOME/.cache/agentos}
#   real_skip REASON           print "ok - # SKIP REASON" (TAP skip)
#
# Every wait in tests/real/ is bounded; every server is started by a *_start
# function that registers its *_stop with real_at_exit, so nothing outlives the
# test, even on SIGINT/SIGTERM or a failed `set -e`.
[ -n "${REAL_LIB_LOADED:-}" ] && return 0
REAL_LIB_LOADED=1
REAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/lib.sh
source "$REAL_DIR/../integration/lib.sh"

REAL_AT_EXIT=()
real_at_exit() { REAL_AT_EXIT+=("$*"); }

real_cleanup() {
    local i
    trap - INT TERM
    for ((i = ${#REAL_AT_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${REAL_AT_EXIT[$i]}" || true
    done
    REAL_AT_EXIT=()
    cleanup
}
trap real_cleanup EXIT
# A signal must still run the EXIT trap (bash skips it on an untrapped signal).
trap 'exit 130' INT
trap 'exit 143' TERM

real_cache_dir() { echo "${AGENTOS_CACHE_DIR:-$HOME/.cache/agentos}"; }

real_skip() { T_COUNT=$((T_COUNT + 1)); echo "ok - # SKIP $*"; }

_port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# A port picked at random in 20000-59999 (clear of the ephemeral range the
# kernel hands to outgoing connections, 32768-60999 overlaps it only partly;
# a collision just means the server fails to bind and the test says so).
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        _port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}

free_port_pair() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 39999))
        _port_free "$p" && _port_free $((p + 1)) && { echo "$p $((p + 1))"; return 0; }
    done
    return 1
}

wait_until() {
    local secs=$1 end
    shift
    end=$((SECONDS + secs))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

real_can_start() {
    if [ -n "$2" ] && kill -0 "$2" 2>/dev/null; then
        echo "# $1 is already running (pid $2); stop it first" >&2
        return 1
    fi
    if [ -n "${3:-}" ] && ! _port_free "$3"; then
        echo "# $1: port $3 is taken" >&2
        return 1
    fi
}

wait_server() {
    local secs=$1 pid=$2 end
    shift 2
    end=$((SECONDS + secs))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || return 2
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

stop_pid() {
    local pid=$1 secs=${2:-10} i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
