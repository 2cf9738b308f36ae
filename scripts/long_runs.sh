#!/usr/bin/env bash
# The long CPU runs of the open result issues, as one queue. Start it once per core, in the background:
#
#   nohup nice -n 10 scripts/long_runs.sh > long_runs_a.log 2>&1 &
#   sleep 60; nohup nice -n 10 scripts/long_runs.sh > long_runs_b.log 2>&1 &
#
# Each `stnlab reproduce` keeps finished runs (also those committed under results/runs from another machine),
# resumes interrupted ones from their last checkpoint and skips a run that the other chain is training now, so two
# chains share the queue, one run per core (threads=1). Run folders outlive a clean stop of this machine, so a run
# longer than a session finishes across sessions. The order:
#   1. plankton `medium` seed 0 of the five networks (done: committed under results/runs, skipped);
#   2. the compensation probe of docs/training.md: STN-SL2 and STN-C2 trained without rotation in the augmentation
#      (a budget of its own, `medium+augment_rotation=0`, in a results folder of its own: a probe of another
#      recipe, not a cell of the paper's table);
#   3. the equivariant extension's MNIST-R table at the `paper` budget (what is left of its 3 seeds: ~6 core-hours);
#   4. plankton `long` (30 epochs, ~5-7 core-hours a network here): seed 0 of STN-C2, STN-SL2, STN-C7, CNN,
#      STN-DL2, then seeds 1-2 of STN-C2 and STN-SL2 (the paired interval of claim P-error);
#   5. MNIST-S at the `paper` budget for the claims' cells (STN-SL1, STN-C0, STN-C1; 14-19 core-hours each).
# (`medium` seeds 1-2 of STN-C2 and STN-SL2, for a paired interval at that budget: `stnlab reproduce plankton
# --budget medium --cell STN-C2 --cell STN-SL2 --seeds 3 --set threads=1`.) Finished runs' small files land in
# results/ (commit them); checkpoints stay in runs/.
set -uo pipefail
cd "$(dirname "$0")/.."
export STNLAB_DATA="${STNLAB_DATA:-$(cd ../shared/data 2>/dev/null && pwd)}"
[ -d .venv ] && . .venv/bin/activate
run() { stnlab reproduce "$@" --set threads=1 --no-progress || echo "reproduce $* stopped with exit $?"; }
run plankton --budget medium --cell STN-C2 --cell STN-SL2 --cell STN-C7 --cell CNN --cell STN-DL2 --seeds 1
run plankton --budget medium --cell STN-SL2 --cell STN-C2 --seeds 1 --set augment_rotation=0 \
    --results results/recipe-search/plankton-no-rotation
run mnist-eq --budget paper
run plankton --budget long --cell STN-C2 --cell STN-SL2 --cell STN-C7 --cell CNN --cell STN-DL2 --seeds 1
run plankton --budget long --cell STN-C2 --cell STN-SL2 --seeds 3
run mnist-rst --budget paper --cell mnist-scale/STN-SL1 --cell mnist-scale/STN-C0 --cell mnist-scale/STN-C1 --seeds 1
