#!/bin/sh
# bench_uring.sh - build and run the log-write benchmark (perf/bench_uring.c):
# ns per ~80-byte log line for write(2), naive io_uring and the batching writer.
# Run from anywhere; builds into /tmp/bench_uring.
set -eu
cd "$(dirname "$0")/.."
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wformat=2 -Wshadow -Werror -pthread -I. \
    -o /tmp/bench_uring perf/bench_uring.c runtime/uring.c shm/util.c shm/heartbeat.c -luring -lcrypto
exec /tmp/bench_uring
