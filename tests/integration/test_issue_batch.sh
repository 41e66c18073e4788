#!/usr/bin/env bash
# issue-workflow end to end: 10 briefs, --parallel 3 (see batch.sh).
PROG=issue-workflow PREFIX=ISSUE ITEMS=issues/pending OUT=issues/done WFNAME=issue
source "$(dirname "$0")/batch.sh"
