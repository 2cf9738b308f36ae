#!/usr/bin/env bash
# Train the cells of a paper table on the GPU machine (the device tool) and bring back their small files.
#
#   bash scripts/device_run.sh TABLE BUDGET JOBS [more `stnlab reproduce` arguments, e.g. --cell STN-C2 --seeds 3]
#
# Run from the repository root there, with `.devdata` (made here by scripts/pack_device_data.py) carried:
#   run(command="bash scripts/device_run.sh plankton long 5", carry=[".devdata"], timeout_s=590)
# It unpacks the data root into /tmp, trains JOBS runs at a time on the GPU (`reproduce --jobs`, each worker
# on its own slice of the CPU cores; the data render on the GPU), stops them cleanly at DEADLINE seconds
# (default 480: SIGTERM, each run writes its checkpoint; an unfinished run is lost with the machine), and
# packs what finished into $OUT/results.tgz (results/runs/TABLE/... + the regenerated TABLE.json/.md) and the
# log into $OUT/reproduce.log. Here: `tar xzf results.tgz` in the repository root, then
# `stnlab reproduce TABLE --budget BUDGET --collect-only` regenerates the tables with them.
# STNLAB_DEVICE=cpu runs the same path on a CPU (the test of this script: `... plankton smoke 2`).
set -euo pipefail
table=$1 budget=$2 jobs=$3
shift 3
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export STNLAB_DATA=/tmp/stnlab-data STNLAB_CACHE=/tmp/stnlab-cache
out=${OUT:-/tmp/stnlab-out}
mkdir -p "$STNLAB_DATA/plankton" "$STNLAB_DATA/mnist" "$out"
if [ -f .devdata/plankton/ndsb_train.tar.xz ] && [ ! -f "$STNLAB_DATA/plankton/ndsb_train.tar" ]; then
  xz -dc .devdata/plankton/ndsb_train.tar.xz > "$STNLAB_DATA/plankton/ndsb_train.tar"
fi
cp -n .devdata/mnist/*-ubyte.gz "$STNLAB_DATA/mnist/" 2>/dev/null || true
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true) 2>&1 | tee "$out/reproduce.log"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$out/reproduce.log"
set +e
timeout --signal=TERM --kill-after=60 "${DEADLINE:-480}" python3 -m stnlab reproduce "$table" --budget "$budget" \
  --jobs "$jobs" --runs /tmp/stnlab-runs --results results --set "device=${STNLAB_DEVICE:-cuda}" --no-progress "$@" \
  2>&1 | tee -a "$out/reproduce.log"
echo "reproduce exit ${PIPESTATUS[0]}" | tee -a "$out/reproduce.log"
set -e
files=$(ls -d "results/runs/$table" results/"$table".json results/"$table".md 2>/dev/null || true)
tar czf "$out/results.tgz" $files
echo "packed: $(tar tzf "$out/results.tgz" | grep -c eval.json) finished runs with eval.json" | tee -a "$out/reproduce.log"
