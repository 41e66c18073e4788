#!/usr/bin/env bash
# Shared-memory hot paths with 1 and 10 contending processes (SPEC 11):
# progress-table update/read and credential reserve+release, in ns per op.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
make -C "$ROOT" --no-print-directory "$BUILD/libagentos.a" >/dev/null
# shellcheck disable=SC2046 # the library list is words on purpose
cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$ROOT" -o "$ROOT/$BUILD/bench_shm" "$ROOT/perf/bench_shm.c" \
    "$ROOT/$BUILD/libagentos.a" $(make -s -C "$ROOT" --no-print-directory print-LDLIBS)
echo "bench_shm, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
"$ROOT/$BUILD/bench_shm" "${1:-200000}"
