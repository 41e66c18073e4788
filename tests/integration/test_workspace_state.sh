#!/usr/bin/env bash
# State that must belong to one workspace and one version of the input (issue 9,
# findings 1-3): a spec edited during a run is not processed twice; checkpoints and
# workstream step records of two folders sharing one $AGENTOS_HOME never meet.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 700
write_credentials 1
cd "$WS"

# 3. A spec edited between discovery and its load node: the result holds the new text
#    and the new text's hash, so the next run finds nothing pending (it redid the item).
make_specs lld/pending 2
lld-workflow --all --parallel 1 --no-progress >"$WS/e1.txt" 2>&1 &
pid=$!
wait_for "$WS/e1.txt" "[LLD-01] >>> Executing: N1_design" || not_ok "the run did not start"
printf '# Spec 02, edited\n\nEDITED-DURING-RUN\n' >lld/pending/02.md
wait "$pid"
check_eq "the run with the edit completes" 0 "$?"
check "LLD-02's result is made from the edited text" grep -q 'Spec 02, edited' lld/done/LLD-02.md
check_eq "and records the edited text's hash" "$(sha256sum lld/pending/02.md | cut -d' ' -f1)" \
    "$(sed -n 's/^source_sha256: //p' lld/done/LLD-02.md)"
timeout 30 lld-workflow --all --no-progress >"$WS/e2.txt" 2>&1
check "the next run finds nothing pending" grep -q 'Nothing pending' "$WS/e2.txt"
rm -rf lld

finish
