#!/usr/bin/env bash
# lld-workflow end to end: 10 specs, --parallel 3 (see batch.sh).
PROG=lld-workflow PREFIX=LLD ITEMS=lld/pending OUT=lld/done WFNAME=lld
source "$(dirname "$0")/batch.sh"
