#!/usr/bin/env bash
# Files that are not what their names promise (issue 9, findings 5, 8, 15):
# FIFOs, folders and dangling links where agentos expects files, in the
# project, in $AGENTOS_HOME and in /dev/shm. Nothing may block, every such
# thing is named in a message, and nothing that is not ours is touched.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 5
write_credentials 2
cd "$WS"

# --credentials naming a FIFO: a usage error at once, naming it (it blocked start-up for ever)
make_specs lld/pending 1
mkfifo "$WS/cred.fifo"
timeout 10 lld-workflow --all --credentials "$WS/cred.fifo" >"$WS/c.txt" 2>&1
check_eq "--credentials naming a FIFO: exit 2 at once" 2 "$?"
check "naming the file and what it is" grep -qF "$WS/cred.fifo: not a regular file (a FIFO)" "$WS/c.txt"
rm -rf lld

finish
