#!/usr/bin/env bash
# One task of a Slurm job array explains its share of the images:
#   sbatch --array=0-15 examples/slurm/explain_array.sh   (16 shares; or run submit.sh)
# Every task lists the same images, keeps those whose path hashes to its index (lumos explain
# --shard K/N) and writes them and its own run record, run.shard-K-of-N.json, into OUT, a
# folder on a disk all nodes share. `lumos report OUT -o REPORT` then merges the shares.
#
# Settings come from the environment (sbatch passes it on):
#   LUMOS    the lumos binary (default: lumos on PATH)
#   MODEL    the ONNX model (required)
#   IMAGES   image files or folders, space-separated (required; give every task the same spelling:
#            the share depends on each path as listed)
#   OUT      the output folder (default lumos-out)
#   METHODS  default gradcam,gradcam++,lime
#   SHARDS   N (default: the array's size)
#SBATCH --job-name=lumos-explain
#SBATCH --array=0-3
#SBATCH --cpus-per-task=1
#SBATCH --output=lumos-explain-%A_%a.log
set -euo pipefail

: "${MODEL:?set MODEL to the ONNX model}" "${IMAGES:?set IMAGES to the image files or folders}"
: "${SLURM_ARRAY_TASK_ID:?run this script as a job array: sbatch --array=0-(N-1)}"
# K is the task's index; N is SHARDS, or the array's size for an array 0-(N-1). Set SHARDS to
# redo some shares alone: SHARDS=16 sbatch --array=7,11 explain_array.sh.
shards=${SHARDS:-$SLURM_ARRAY_TASK_COUNT}
if [ -z "${SHARDS:-}" ] && [ "$SLURM_ARRAY_TASK_MIN" -ne 0 ] || [ "$SLURM_ARRAY_TASK_MAX" -ge "$shards" ]; then
  echo "explain_array.sh: give --array=0-$((shards - 1)), or set SHARDS=N for a part of the indices 0..N-1" >&2
  exit 2
fi
read -r -a images <<<"$IMAGES"
exec "${LUMOS:-lumos}" --threads "${SLURM_CPUS_PER_TASK:-1}" explain -m "$MODEL" -i "${images[@]}" \
  -o "${OUT:-lumos-out}" --method "${METHODS:-gradcam,gradcam++,lime}" \
  --shard "$SLURM_ARRAY_TASK_ID/$shards"
