# shellcheck shell=bash disable=SC2034 # (the variables set are the API)
# A real Redis server on loopback for tests (SPEC 13, --budget redis://).
# Sourced. Debian package redis-server (redis-server, redis-cli).
#
#   redis_start [PORT]   start redis-server on 127.0.0.1 (a free port unless
#                        given), no persistence (--save '' --appendonly no),
#                        wait up to 10 s for PING; sets REDIS_PORT, REDIS_PID,
#                        REDIS_URL (redis://127.0.0.1:PORT), REDIS_LOG. 1 on failure.
#   redis_stop           stop it (SIGTERM, then SIGKILL after 5 s); keeps REDIS_PORT
#   redis_restart        redis_stop, then redis_start on the same port (an empty
#                        server: what a coordinator sees after "Redis restarted")
#   redis_cli ARGS...    redis-cli against it, 5 s at most
# Stopped at exit by tests/real/lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_PORT=""
REDIS_PID=""
REDIS_URL=""
REDIS_LOG=""

redis_cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

_redis_pong() { [ "$(redis_cli PING 2>/dev/null)" = PONG ]; }

redis_start() {
    local dir port=${1:-$(free_port)}
    real_can_start redis-server "$REDIS_PID" "$port" || return 1
    REDIS_PORT=$port
    dir="$WS/redis-$REDIS_PORT"
    mkdir -p "$dir"
    REDIS_LOG="$dir/redis.log"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --daemonize no --logfile "$REDIS_LOG" </dev/null >>"$REDIS_LOG" 2>&1 &
    REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    if [ "${_REDIS_AT_EXIT:-}" != 1 ]; then
        real_at_exit redis_stop
        _REDIS_AT_EXIT=1
    fi
    if ! wait_server 10 "$REDIS_PID" _redis_pong; then
        echo "# redis-server did not answer PING on port $REDIS_PORT (exited, or 10 s passed)" >&2
        tail -5 "$REDIS_LOG" | sed 's/^/# /' >&2
        redis_stop
        return 1
    fi
}

redis_stop() {
    stop_pid "$REDIS_PID" 5
    REDIS_PID=""
}

redis_restart() {
    local port=$REDIS_PORT
    redis_stop
    redis_start "$port"
}
