#!/usr/bin/env bash
# A reload keeps the state of every key whose entry did not change (issue 9,
# finding 12): SIGHUPs every 50 ms with the credentials file untouched, against a
# stand-in at 30 requests a minute, must not let a single request reach a key
# before the time its 429 or its rate-limit headers said (the stand-in's
# early_requests). A key whose secret did change is reloaded afresh: a disabled
# key with a new secret comes back.
source "$(dirname "$0")/lib.sh"
cd "$WS"
start_mock --latency-ms 20 --rpm 30 --deny-key test-key-2=401 --no-ratelimit-headers
write_credentials 1
make_specs lld/pending 3
lld-workflow --all --no-progress >"$WS/hup.txt" 2>&1 &
pid=$!
wait_for "$WS/hup.txt" '>>> Executing' # the coordinator handles SIGHUP by now
n=0
while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 600 ]; do
    kill -HUP "$pid" 2>/dev/null && n=$((n + 1))
    sleep 0.05
done
timeout 30 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "the run under SIGHUPs exits 0" 0 "$?"
check_le "many reloads happened" 50 "$(grep -c 'Credentials reloaded (SIGHUP): 1 key, 0 changed' "$WS/hup.txt")"
check_le "the key really was throttled" 1 "$(mock_stat http_429)"
check_eq "no request before the time the stand-in gave" 0 "$(mock_stat early_requests)"
check "all 3 approved" grep -q '3 approved, 0 need revision, 0 failed' "$WS/hup.txt"

# A changed entry is reloaded: key-2's secret is refused (401) and disabled; a new
# secret written to the file brings it back while key-1 stays as it was.
mock_reset
write_credentials 2
rm -rf lld
make_specs lld/pending 4
lld-workflow --all --parallel 2 --no-progress >"$WS/change.txt" 2>&1 &
pid=$!
wait_for "$WS/change.txt" 'Key key-2 disabled: HTTP 401'
sed -i 's/"test-key-2"/"new-key-2"/' "$AGENTOS_HOME/credentials.json"
kill -HUP "$pid"
timeout 60 tail --pid="$pid" -f /dev/null
wait "$pid"
check_eq "the run with a changed key exits 0" 0 "$?"
check "the reload counts one changed key" grep -qF 'Credentials reloaded (SIGHUP): 2 keys, 1 changed' "$WS/change.txt"
check_le "the new secret was used" 1 "$(mock_stats | jq '.per_key["new-key-2"].requests // 0')"
finish
