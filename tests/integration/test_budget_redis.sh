#!/usr/bin/env bash
# SPEC 13: several coordinators on disjoint shards share one key budget through
# a real redis-server (started and stopped here, on loopback, no persistence),
# against the stand-in enforcing each key's rpm. The 60-rpm measurement over
# minutes is perf/bench_cluster.sh's; here the keys run at 600 rpm (a bucket
# of 10, refilled 10 a second) so the same checks take seconds:
#   - 2 and 4 coordinators: every item done once, under 1 % of requests
#     answered 429, no key over its budget in any 60 s window;
#   - a 429 one coordinator gets parks the key for the others: the stand-in
#     counts no request before a Retry-After it gave (early_requests 0);
#   - a coordinator killed with -9 (with its workers) leaves leases that
#     expire within their time-to-live, and a new run then finishes;
#   - Redis stopped mid-run and restarted: the runs go on and finish;
#   - Redis unreachable at start: exit 2 naming the URL.
source "$(dirname "$0")/../real/redis.sh"

if ! command -v redis-server >/dev/null; then
    real_skip "redis-server is not installed (make deps installs it)"
    finish
    exit 0
fi
redis_start || { not_ok "redis-server starts"; finish; exit 1; }
RPM=600

# keys N RPM [extra]: credentials for N keys of the stand-in, each with rpm RPM.
keys() { write_credentials "$1" openai ", \"rpm\": $2${3:-}"; }

# run_shards DIR N [options...]: N coordinators, shard i/N each, on items DIR;
# waits for all (90 s at most each); their exit statuses in $WS/rc.<i>.
run_shards() {
    local dir=$1 n=$2 i pids=()
    shift 2
    for ((i = 0; i < n; i++)); do
        timeout 90 agentos-run lld --all --items "$dir/pending" --out "$dir/done" \
            --parallel 3 --shard "$i/$n" --budget "$REDIS_URL" --no-progress "$@" \
            >"$WS/out.$i" 2>&1 &
        pids+=($!)
    done
    for ((i = 0; i < n; i++)); do
        wait "${pids[$i]}"
        echo $? >"$WS/rc.$i"
    done
}

# The run folders of the last `n` runs (newest last).
run_dirs() { ls -1td "$AGENTOS_HOME"/logs/parallel/*/ | head -"$1" | tac; }

# check_batch NAME DIR N ITEMS: the checks every shared run must pass.
check_batch() {
    local name=$1 dir=$2 n=$3 items=$4 i rc_all=0 ids req r429 worst
    for ((i = 0; i < n; i++)); do
        [ "$(cat "$WS/rc.$i")" = 0 ] || { rc_all=1; diag "$WS/out.$i" | tail -5; }
    done
    check_eq "$name: every coordinator exits 0" 0 "$rc_all"
    check_eq "$name: a result for every item" "$items" "$(ls "$dir/done" | wc -l)"
    # Each item in exactly one shard's summary, and done there.
    ids=$(for d in $(run_dirs "$n"); do jq -r '.items[] | select(.outcome == "approved") | .id' "$d/summary.json"; done)
    check_eq "$name: every item done once, in one shard" "$items $items" \
        "$(echo "$ids" | grep -c . ) $(echo "$ids" | sort -u | grep -c .)"
    check_eq "$name: no reply delivered twice" 0 "$(mock_stat delivered_repeats)"
    req=$(mock_stat requests)
    r429=$(mock_stat http_429)
    check "$name: under 1 % of $req requests answered 429 ($r429)" [ $((r429 * 100)) -lt "$req" ]
    worst=$(mock_stats | jq '[.per_key[].max_in_any_60s] | max')
    check_le "$name: no key over rpm + burst in any 60 s window" "$worst" $((RPM + RPM / 60))
    check_eq "$name: no request before a Retry-After" 0 "$(mock_stat early_requests)"
}

# --- 2 and 4 coordinators on one key set ---------------------------------
start_mock --rpm $RPM
keys 3 $RPM
make_specs "$WS/b2/pending" 40
run_shards "$WS/b2" 2
check_batch "2 coordinators" "$WS/b2" 2 40
check "2 coordinators: each says the keys are shared" grep -q "Keys shared through $REDIS_URL" "$WS/out.0"
check "2 coordinators: summary.json has the budget's round trips" \
    jq -e '.budget.takes > 0 and .budget.round_trips_per_request > 0' "$(run_dirs 1)/summary.json"

mock_reset
make_specs "$WS/b4/pending" 60
run_shards "$WS/b4" 4
check_batch "4 coordinators" "$WS/b4" 4 60
out=$(agentos-run summarize $(run_dirs 4))
check "summarize over the 4 shards reports 60 approved" grep -q "Summary: 60 approved" <<<"$out"
stop_mock

# --- a 429 one coordinator gets parks the key for the others ----------------
start_mock --rpm $RPM --always-429 test-key-3 --latency-ms 100
keys 3 $RPM
make_specs "$WS/p/pending" 16
run_shards "$WS/p" 2
check_eq "429 parking: both coordinators exit 0" "0 0" "$(cat "$WS/rc.0") $(cat "$WS/rc.1")"
check_eq "429 parking: every item done" 16 "$(ls "$WS/p/done" | wc -l)"
k3=$(mock_stats | jq '.per_key["test-key-3"].requests')
check "429 parking: the always-429 key was tried ($k3 requests)" [ "$k3" -ge 2 ]
check_eq "429 parking: no request to it before its Retry-After" 0 \
    "$(mock_stats | jq '.per_key["test-key-3"].early_requests')"
check "429 parking: a coordinator saw another run's 429" \
    grep -q "Rate limit hit on key-3 by another run" "$WS/out.0" "$WS/out.1"
stop_mock

# --- a coordinator killed with -9 gives its leases back by their TTL -------
# Leases live --timeout-per-step + 5 s: 8 s here. Requests take 3 s.
live_leases() {
    local t now n=0 k
    t=($(redis_cli TIME))
    now=$((t[0] * 1000000 + t[1]))
    for k in 1 2 3; do
        n=$((n + $(redis_cli ZCOUNT "agentos:default:{key-$k}:leases" "($now" +inf)))
    done
    echo "$n"
}
start_mock --latency-ms 3000
keys 3 $RPM
make_specs "$WS/k/pending" 6
setsid agentos-run lld --all --items "$WS/k/pending" --out "$WS/k/done" --parallel 3 \
    --budget "$REDIS_URL" --timeout-per-step 3 --no-progress >"$WS/out.k" 2>&1 &
kpid=$!
wait_until 10 eval '[ "$(live_leases)" -ge 3 ]'
held=$(live_leases)
check_eq "kill -9: the coordinator holds a lease on every key" 3 "$held"
kill -KILL -- -"$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
killed_at=$SECONDS
check_eq "kill -9: its leases are still in Redis right after" 3 "$(live_leases)"
wait_until 12 eval '[ "$(live_leases)" = 0 ]'
took=$((SECONDS - killed_at))
check_eq "kill -9: the leases expired" 0 "$(live_leases)"
check_le "kill -9: within their TTL (8 s, +1 s of polling)" "$took" 9
stop_mock
start_mock
keys 3 $RPM
timeout 60 agentos-run lld --all --items "$WS/k/pending" --out "$WS/k/done" --parallel 3 \
    --budget "$REDIS_URL" --no-progress >"$WS/out.k2" 2>&1
check_eq "kill -9: a new run then finishes the items" "0 6" "$? $(ls "$WS/k/done" | wc -l)"
stop_mock

# --- a request longer than its lease keeps it: the coordinator renews it ----
start_mock --latency-ms 4000
keys 3 $RPM
make_specs "$WS/l/pending" 3
AGENTOS_BUDGET_LEASE_MS=1500 timeout 60 agentos-run lld --all --items "$WS/l/pending" \
    --out "$WS/l/done" --parallel 3 --budget "$REDIS_URL" --no-progress >"$WS/out.l" 2>&1
check_eq "lease renewal: 4 s requests on 1.5 s leases finish" "0 3" "$? $(ls "$WS/l/done" | wc -l)"
check_eq "lease renewal: no lease expired under its request" 0 \
    "$(jq '.budget.gives_expired' "$(run_dirs 1)/summary.json")"
stop_mock

# --- Redis stopped mid-run and restarted ------------------------------------
start_mock --rpm $RPM --latency-ms 300
keys 3 $RPM
make_specs "$WS/r/pending" 60 # long enough that each coordinator is still running when Redis is back
run_shards "$WS/r" 2 &
shards=$!
wait_for "$WS/out.0" "Keys shared through"
sleep 1.5
redis_stop
sleep 2
redis_start "$REDIS_PORT" || not_ok "redis-server restarts"
wait "$shards"
check_eq "Redis restart: both coordinators exit 0" "0 0" "$(cat "$WS/rc.0") $(cat "$WS/rc.1")"
check_eq "Redis restart: every item done" 60 "$(ls "$WS/r/done" | wc -l)"
for i in 0 1; do
    check "Redis restart: coordinator $i says it lost Redis" grep -q "Budget $REDIS_URL lost" "$WS/out.$i"
    check "Redis restart: and that it is back" grep -q "Budget $REDIS_URL is back" "$WS/out.$i" ||
        grep "COORDINATOR" "$WS/out.$i" | tail -5 | sed 's/^/# /'
done
check_eq "Redis restart: no request before a Retry-After" 0 "$(mock_stat early_requests)"
stop_mock

# --- tpm: a key's token budget is shared too ----------------------------------
# Each request is charged its estimate at the take and corrected by its usage at
# the give, in Redis (GCRA): the key's token clock (ttat) exists only when the
# runs share a tpm budget there.
stop_mock
start_mock --rpm $RPM
keys 1 $RPM ', "tpm": 60000'
make_specs "$WS/t/pending" 3
run_shards "$WS/t" 1
check_eq "tpm: the run exits 0" 0 "$(cat "$WS/rc.0")"
ttat=$(redis_cli HGET "agentos:default:{key-1}:state" ttat)
check "tpm: Redis keeps the key's token clock (ttat '$ttat')" [ -n "$ttat" ]

# --- Redis unreachable at start ---------------------------------------------
start_mock
keys 1 0
make_specs "$WS/u/pending" 1
redis_stop
agentos-run lld --all --items "$WS/u/pending" --out "$WS/u/done" --budget "$REDIS_URL" \
    >"$WS/out.u" 2>&1
check_eq "Redis unreachable at start: exit 2" 2 "$?"
check "Redis unreachable at start: the message names the URL" grep -q "$REDIS_URL" "$WS/out.u"
check_eq "Redis unreachable at start: no request sent" 0 "$(mock_stat requests)"
finish
