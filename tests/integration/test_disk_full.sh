#!/usr/bin/env bash
# ENOSPC: a full result folder, then a full state folder. Items fail with the
# reason, no half-written result appears, and the run ends cleanly. Runs in
# a private mount namespace with small tmpfs mounts (needs root, as CI has).
if [ -z "${AGENTOS_IN_NS:-}" ]; then
    AGENTOS_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@" \
        || { echo "not ok - could not create a private mount namespace (needs root)"; exit 1; }
fi
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 10
write_credentials 2
cd "$WS"

fill() { # fill a folder's filesystem to the last byte
    dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
    dd if=/dev/zero of="$1/filler2" bs=1 2>/dev/null
    true
}

# 1. the result folder is full
make_specs lld/pending 3
mkdir -p lld/done
mount -t tmpfs -o size=64k,mode=0700 tmpfs lld/done || { not_ok "mount tmpfs"; finish; exit 1; }
fill lld/done
timeout 60 lld-workflow --all --parallel 2 >"$WS/o1.txt" 2>&1
rc=$?
check_eq "a full result folder fails the items (exit 1)" 1 "$rc"
check "with the reason" grep -qE '^\[LLD-01\] FAILED: .*(No space left on device|disk is full)' "$WS/o1.txt"
check "no result file, whole or half" test -z "$(ls lld/done | grep -v '^filler')"
check "the checkpoints are kept for a re-run" test -e "$(ckpt_dir lld/pending)/lld_workflow_01.db"
check "every console line whole and prefixed" every_line_prefixed "$WS/o1.txt"
rm -f lld/done/filler lld/done/filler2
timeout 60 lld-workflow --all --parallel 2 >"$WS/o2.txt" 2>&1
check_eq "with space again, the re-run completes" 0 "$?"
check "from the checkpoints" grep -q 'Resuming at N4_finalize' "$WS/o2.txt"
umount lld/done

# 2. the state folder (checkpoints, logs) is full
rm -rf lld
make_specs lld/pending 2
home2="$WS/home2"
mkdir -p "$home2"
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$home2" || { not_ok "mount tmpfs"; finish; exit 1; }
cp "$AGENTOS_HOME/credentials.json" "$home2/"
fill "$home2"
AGENTOS_HOME="$home2" timeout 60 lld-workflow --all --parallel 2 >"$WS/o3.txt" 2>&1
rc=$?
check "a full state folder ends the run cleanly (exit 1 or 2, no crash or hang)" test "$rc" -eq 1 -o "$rc" -eq 2
check "naming the problem" grep -qE '(No space left on device|disk is full)' "$WS/o3.txt"
check "no result file appears" test -z "$(ls lld/done 2>/dev/null)"
umount "$home2"

# 3. the run folder fills up: the items fail (their logs cannot be written), and the
#    coordinator says that summary.json could not be written instead of staying silent.
rm -rf lld
make_specs lld/pending 2
mkdir -p "$AGENTOS_HOME/logs/parallel"
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$AGENTOS_HOME/logs/parallel" || { not_ok "mount tmpfs"; finish; exit 1; }
fill "$AGENTOS_HOME/logs/parallel"
timeout 60 lld-workflow --all --parallel 2 --no-progress >"$WS/o4.txt" 2>&1
rc=$?
check "a full run folder ends the run cleanly (exit 1 or 2, no crash or hang)" test "$rc" -eq 1 -o "$rc" -eq 2
if [ "$rc" -eq 1 ]; then
    check "the coordinator says summary.json was not written, and why" \
        grep -qE '^\[COORDINATOR\] could not write .*/summary.json: No space left on device$' "$WS/o4.txt"
    check "no half-written summary.json" bash -c "! ls '$AGENTOS_HOME'/logs/parallel/*/summary.json 2>/dev/null | grep -q ."
fi
umount "$AGENTOS_HOME/logs/parallel"
finish
