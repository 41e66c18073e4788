#!/usr/bin/env bash
# Crash stress: many runs, each killed (-9) at a random moment: a random
# worker, or the coordinator. After each kill the batch is run again until it
# completes. Every third run is a workstream (a random graph of shell and
# prompt steps) instead of an lld batch. Some lld runs (r % 4 == 2) stop a
# worker instead (SIGSTOP, crash point cred_locked) while it holds a key slot's
# mutex, then send SIGINT to the coordinator, which must exit 130 within 5 s.
# Prints, over all runs: items or steps lost, finished nodes requested again,
# keys left reserved, audit lines that do not parse, segments left behind,
# stopped-worker runs that did not exit 130 within 5 s. All must be 0.
# STRESS_RUNS (default 200) sets the number of runs.
#
# Replay: the first line printed is "# stress seed S". STRESS_SEED=S replays
# the same choices: it seeds bash's RANDOM (sizes, widths, graphs, when and
# whom to kill or stop) and the stand-in's --seed (latency jitter). Timing is
# the machine's, so a replay makes the same choices, not the same interleaving.
#
#   tests/stress.sh                       (make stress)
#   STRESS_RUNS=6 tests/stress.sh         (the short version inside make test)
#   STRESS_SEED=12345 tests/stress.sh     (replay a run that printed seed 12345)
source "$(dirname "$0")/integration/lib.sh"
RUNS=${STRESS_RUNS:-200}
SEED=${STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# stress seed $SEED (STRESS_SEED=$SEED replays it)"
RANDOM=$SEED
start_mock --latency-ms 40 --latency-jitter-ms 80 --seed "$SEED"
write_credentials 2 openai ', "concurrency": 2'
lost=0 repeated=0 reserved=0 badaudit=0 segleft=0 kills_w=0 kills_c=0 unfinished=0 hung=0
coords=""
ws_runs=0
stop_runs=0 stops=0 stop_bad=0 stop_worst=0

# make_workstream N R: ws.json with N steps, each depending on a random earlier
# one half of the time; every third a prompt step. A shell step appends its id to
# ledger.txt and its acceptance test looks for it.
make_workstream() {
    local n=$1 r=$2 i sep="" dep
    {
        echo "{\"id\": \"stress-$r\", \"execution\": {\"parallel\": true}, \"steps\": ["
        for i in $(seq 1 "$n"); do
            dep=""
            [ "$i" -gt 1 ] && [ $((RANDOM % 2)) -eq 0 ] && dep="\"s$((1 + RANDOM % (i - 1)))\""
            if [ $((i % 3)) -eq 0 ]; then
                echo "$sep{\"id\": \"s$i\", \"prompt\": \"# Step $i of run $r\\n\\nWrite it.\", \"output\": \"out/s$i.md\", \"depends_on\": [$dep]}"
            else
                echo "$sep{\"id\": \"s$i\", \"run\": \"sleep 0.$((RANDOM % 3))$((RANDOM % 10)); echo s$i >> ledger.txt\", \"depends_on\": [$dep], \"acceptance_tests\": [\"grep -qx s$i ledger.txt\"]}"
            fi
            sep=","
        done
        echo "]}"
    } >ws.json
}

# stop_worker_then_interrupt COORD DIR R: let the next worker that takes a key
# slot's mutex stop there (SIGSTOP), wait (10 s at most) until one is stopped,
# then SIGINT the coordinator: it must exit 130 within 5 s. A run that ended
# before any worker stopped counts as a run without a stop, not a failure.
stop_worker_then_interrupt() {
    local coord=$1 dir=$2 r=$3 victim="" t0 t1 ms rc
    rm -f "$dir/stop.flag"
    for _ in $(seq 1 200); do
        victim=$(ps -o pid=,stat= --ppid "$coord" 2>/dev/null | awk '$2 ~ /^T/ { print $1; exit }')
        [ -n "$victim" ] && break
        kill -0 "$coord" 2>/dev/null || return 0
        sleep 0.05
    done
    [ -n "$victim" ] || return 0
    stops=$((stops + 1))
    t0=$(date +%s%N)
    kill -INT "$coord"
    for _ in $(seq 1 200); do kill -0 "$coord" 2>/dev/null || break; sleep 0.05; done
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    [ "$ms" -gt "$stop_worst" ] && stop_worst=$ms
    kill -0 "$coord" 2>/dev/null && return 0 # left to the hung-run check below
    wait "$coord"
    rc=$?
    if [ "$rc" -ne 130 ] || [ "$ms" -gt 5000 ]; then
        stop_bad=$((stop_bad + 1))
        echo "# run $r: a worker stopped holding a slot mutex; SIGINT gave rc $rc after $ms ms ($dir)"
    fi
    kill -9 "$victim" 2>/dev/null # the coordinator SIGKILLs it; make sure
}

for r in $(seq 1 "$RUNS"); do
    dir="$WS/r$r"
    mkdir -p "$dir"
    cd "$dir"
    export AGENTOS_HOME="$dir/home"
    mkdir -p "$AGENTOS_HOME"
    cp "$WS/home/credentials.json" "$AGENTOS_HOME/"
    n=$((3 + RANDOM % 5))
    par=$((1 + RANDOM % 4))
    stop=0
    if [ $((r % 3)) -eq 0 ]; then
        ws_runs=$((ws_runs + 1))
        make_workstream "$n" "$r"
        cmd=(agentos-run workstream ws.json --parallel "$par" --no-progress)
    else
        make_specs lld/pending "$n"
        for f in lld/pending/*.md; do echo "Stress run $r." >>"$f"; done # unique prompts per run
        cmd=(lld-workflow --all --parallel "$par" --no-progress)
        [ $((r % 4)) -eq 2 ] && stop=1
    fi
    if [ "$stop" -eq 1 ]; then
        # the flag exists, so nothing stops until it is removed at a random moment
        : >"$dir/stop.flag"
        AGENTOS_CRASH_POINT=cred_locked AGENTOS_CRASH_SIGNAL=STOP AGENTOS_CRASH_FLAG="$dir/stop.flag" \
            "${cmd[@]}" >"$dir/run0.txt" 2>&1 &
    else
        "${cmd[@]}" >"$dir/run0.txt" 2>&1 &
    fi
    coord=$!
    coords="$coords $coord"
    sleep "0.$((RANDOM % 9))$((RANDOM % 10))"
    if [ "$stop" -eq 1 ]; then
        stop_runs=$((stop_runs + 1))
        stop_worker_then_interrupt "$coord" "$dir" "$r"
    elif [ $((RANDOM % 4)) -eq 0 ]; then
        kill -9 "$coord" 2>/dev/null && kills_c=$((kills_c + 1))
    else
        # Workers only: under ASan an exiting coordinator's other child is
        # LeakSanitizer's tracer, and killing that leaves the coordinator
        # spinning in ASan's exit code forever (seen in CI, reproduced).
        pick=$RANDOM # drawn whether or not a worker is found, so a replay keeps step
        victims=($(pgrep -P "$coord" -x agentos-worker))
        if [ ${#victims[@]} -gt 0 ]; then
            kill -9 "${victims[$((pick % ${#victims[@]}))]}" 2>/dev/null && kills_w=$((kills_w + 1))
        fi
    fi
    # A run must end by itself after the kill; if not, show where it is stuck.
    for _ in $(seq 1 1200); do kill -0 "$coord" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$coord" 2>/dev/null; then
        hung=$((hung + 1))
        echo "# run $r: still running 60 s after the kill ($dir); its state:"
        agentos-shmstat "$(run_id_of "$coord")" 2>&1 | sed 's/^/#   /'
        ps -o pid,stat,wchan:20,cmd --ppid "$coord" 2>&1 | sed 's/^/#   /'
        tail -5 "$dir/run0.txt" | sed 's/^/#   /'
        kill -9 "$coord" $(pgrep -P "$coord") 2>/dev/null
    fi
    wait "$coord" 2>/dev/null
    for attempt in 1 2 3; do
        timeout 60 "${cmd[@]}" >"$dir/run$attempt.txt" 2>&1 &
        c2=$!
        coords="$coords $c2"
        wait "$c2"
        rc=$?
        [ $rc -eq 0 ] && break
    done
    [ $rc -eq 0 ] || { unfinished=$((unfinished + 1)); echo "# run $r did not complete: rc $rc ($dir)"; }
    ok_items=$(grep -l '^status: \(approved\|passed\)$' lld/done/*.md "$AGENTOS_HOME"/workstreams/*/*.md 2>/dev/null | wc -l)
    lost=$((lost + n - ok_items))
    # a finished node is one whose node_done was logged after its checkpoint committed
    dup=$(cat "$AGENTOS_HOME"/logs/parallel/*/workflow-audit-*.jsonl 2>/dev/null |
        jq -R -r 'fromjson? | select(.event == "node_done") | "\(.item) \(.node)"' | sort | uniq -d | wc -l)
    repeated=$((repeated + dup))
    for s in "$AGENTOS_HOME"/logs/parallel/*/summary.json; do
        [ -f "$s" ] && reserved=$((reserved + $(jq '.keys_left_reserved // 0' "$s")))
    done
    for f in "$AGENTOS_HOME"/logs/parallel/*/workflow-audit-*.jsonl; do
        [ -f "$f" ] || continue
        badaudit=$((badaudit + $(jq -R 'fromjson? // "BAD" | select(. == "BAD")' "$f" 2>/dev/null | wc -l)))
    done
    cd "$WS"
    [ -z "${KEEP_WS:-}" ] && [ $rc -eq 0 ] && rm -rf "$dir"
done
for c in $coords; do
    ls /dev/shm | grep -qE -- "^agentos-.*-$c\$" && segleft=$((segleft + 1))
done

echo "# stress (seed $SEED): $RUNS runs ($ws_runs workstreams; $kills_w workers, $kills_c coordinators killed; $stop_runs stopped-worker runs, $stops with a worker stopped holding a slot mutex), delivered repeats of in-flight nodes: $(mock_stat delivered_repeats)"
echo "# items lost $lost, finished nodes repeated $repeated, keys left reserved $reserved, bad audit lines $badaudit, segments left $segleft, batches not completed $unfinished, hung runs $hung, stopped-worker runs not ending 130 within 5 s $stop_bad (slowest $stop_worst ms)"
check_eq "stress: items lost" 0 "$lost"
check_eq "stress: finished nodes requested again" 0 "$repeated"
check_eq "stress: keys left reserved" 0 "$reserved"
check_eq "stress: audit lines that do not parse" 0 "$badaudit"
check_eq "stress: segments left behind" 0 "$segleft"
check_eq "stress: batches that did not complete after the kill" 0 "$unfinished"
check_eq "stress: killed runs that did not end by themselves" 0 "$hung"
check_eq "stress: stopped-worker runs not ending with 130 within 5 s of SIGINT" 0 "$stop_bad"
finish
