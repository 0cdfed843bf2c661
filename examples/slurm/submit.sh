#!/usr/bin/env bash
# Explains a dataset on a Slurm cluster in SHARDS array tasks, then merges them into one report
# when all have succeeded:
#   MODEL=net.onnx IMAGES=/data/images OUT=/shared/run1 examples/slurm/submit.sh 16
# Prints the report job's id; `sbatch` options for both jobs (partition, account) may follow the
# shard count, e.g. submit.sh 16 --partition=cpu. The report lands in $OUT/report.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shards=${1:?give the number of shards, e.g. submit.sh 16}
shift
export OUT="${OUT:-lumos-out}" SHARDS="$shards"
array=$(sbatch --parsable --export=ALL --array="0-$((shards - 1))" "$@" "$here/explain_array.sh")
array=${array%%;*}
sbatch --parsable --export=ALL --dependency="afterok:$array" --job-name=lumos-report \
  --output="lumos-report-%j.log" "$@" \
  --wrap "$(printf '%q ' "${LUMOS:-lumos}" report "$OUT" -o "$OUT/report")"
