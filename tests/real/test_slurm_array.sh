#!/usr/bin/env bash
# SPEC 13 on a real one-node Slurm cluster (munged, slurmctld, slurmd started
# here on loopback by tests/real/slurm.sh) with a real redis-server:
# `sbatch --array=0-3%2 examples/slurm/agentos-array.sbatch` over 12 items in a
# shared workspace with the keys' budget in Redis. Every item is done once, by
# one task; no more than 2 tasks ran at once (%2); no request got a 429 or came
# before a Retry-After; `agentos-run summarize` over the four run folders
# reports 12. Then a task killed mid-run (scancel) leaves its items to a
# re-submission of the array, which finishes them. Needs root (slurmd starts
# jobs as their submitter); ~1-2 minutes.
source "$(dirname "$0")/slurm.sh"
source "$REAL_DIR/redis.sh"

if [ "$(id -u)" != 0 ] || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    real_skip "needs root, slurm-wlm and munge (make deps installs them)"
    finish
    exit 0
fi
SBATCH="$ROOT/examples/slurm/agentos-array.sbatch"
redis_start || { not_ok "redis-server starts"; finish; exit 1; }
start_mock --rpm 600 --latency-ms 200
write_credentials 3 openai ', "rpm": 600'
slurm_start || { not_ok "the Slurm cluster starts"; finish; exit 1; }
ok "a one-node Slurm cluster is up ($(sinfo -h -o '%P %D %T' | head -1))"

# submit DIR ARRAY: the example script over DIR's items; prints the job id.
submit() {
    sbatch --parsable --array="$2" --chdir "$1" --output "$1/slurm-%A_%a.out" \
        --export="ALL,AGENTOS_HOME=$AGENTOS_HOME,AGENTOS_BUDGET=$REDIS_URL,AGENTOS_RUN=$BIN/agentos-run,AGENTOS_PARALLEL=2" \
        "$SBATCH"
}
# The run folders the tasks of job $2 in $1 named.
run_folders() { grep -h "Run folder:" "$1"/slurm-"$2"_*.out | awk '{ print $NF }'; }

W="$WS/shared"
make_specs "$W/lld/pending" 12
chmod -R a+rX "$WS"
job=$(submit "$W" 0-3%2)
check "sbatch accepts the array" [ -n "$job" ]
slurm_wait_idle 180 || not_ok "the array ended within 180 s"
check_eq "each of the 4 tasks wrote its output" 4 "$(ls "$W"/slurm-"$job"_*.out 2>/dev/null | wc -l)"
for t in 0 1 2 3; do
    grep -q "Summary:" "$W/slurm-${job}_$t.out" || { diag "$W/slurm-${job}_$t.out" | tail -8; }
done
check_eq "a result for every item" 12 "$(ls "$W/lld/done" 2>/dev/null | wc -l)"
dirs=$(run_folders "$W" "$job")
check_eq "four run folders" 4 "$(echo "$dirs" | grep -c .)"
ids=$(for d in $dirs; do jq -r '.items[].id' "$d/summary.json"; done)
check_eq "every item in exactly one task's summary" "12 12" \
    "$(echo "$ids" | grep -c .) $(echo "$ids" | sort -u | grep -c .)"
shards=$(for d in $dirs; do jq -r '.shard' "$d/summary.json"; done | sort | paste -sd' ')
check_eq "task i ran shard i/4 (--shard slurm)" "0/4 1/4 2/4 3/4" "$shards"
# %2: at any instant at most two runs were between their start and their end.
overlap=$(for d in $dirs; do jq -r '"\(.started_unix_ms) 1\n\(.ended_unix_ms) -1"' "$d/summary.json"; done |
    sort -n -k1,1 -k2,2n | awk '{ n += $2; if (n > m) m = n } END { print m }')
check_le "no more than 2 tasks at once (%2)" "$overlap" 2
check_eq "no request answered 429" 0 "$(mock_stat http_429)"
check_eq "no request before a Retry-After" 0 "$(mock_stat early_requests)"
out=$(agentos-run summarize $dirs)
check "summarize over the four run folders reports 12" grep -q "Summary: 12 approved" <<<"$out"
used=$(for d in $dirs; do jq -r 'select(.budget.takes > 0) | .run' "$d/summary.json"; done | grep -c .)
check_eq "each of the 4 runs took its keys from the shared budget" 4 "$used"

# A task that dies: its items resume when the array is submitted again.
W2="$WS/again"
make_specs "$W2/lld/pending" 12
chmod -R a+rX "$W2"
stop_mock
start_mock --rpm 600 --latency-ms 1500
write_credentials 3 openai ', "rpm": 600'
job=$(submit "$W2" 0-1)
wait_until 60 eval "grep -qs 'Executing: N1_design' '$W2/slurm-${job}_1.out'"
scancel --signal=KILL --full "${job}_1"
slurm_wait_idle 120 || not_ok "the first array ended within 120 s"
before=$(ls "$W2/lld/done" | wc -l)
check "the killed task left items undone ($before of 12 done)" [ "$before" -lt 12 ]
job2=$(submit "$W2" 0-1)
slurm_wait_idle 120 || not_ok "the second array ended within 120 s"
check_eq "the re-submitted array finishes them" 12 "$(ls "$W2/lld/done" | wc -l)"
check_eq "no request before a Retry-After" 0 "$(mock_stat early_requests)"
finish
