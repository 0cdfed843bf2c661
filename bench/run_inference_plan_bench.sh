#!/usr/bin/env bash
# Batched scoring with the inference plan (issue 15), every side interleaved in one run:
#   lumos default     Model::scores on an export that keeps its BatchNormalizations: the whole
#                     inference plan (folded at load, channels-last batch, convolutions packed for
#                     oneDNN with ReLU fused, blocked regions where the model has them)
#   lumos packed      the same, the plan limited to packing (--plan packed: no blocked region)
#   lumos NHWC        the same, the plan limited to folding and channels-last memory (--plan channels-last)
#   lumos folded      the same, the plan limited to folding (--plan folded: NCHW memory)
#   lumos as written  the same file run as written (--as-written: no folding)
#   lumos torch.onnx  the ordinary export, which torch.onnx folded itself (default plan)
#   pytorch eager / channels_last / optimized (torch.jit.optimize_for_inference)
# PyTorch runs with lumos's allocator settings (GLIBC_TUNABLES, as run_forward_bench.sh explains).
# Prints ms per image (median and minimum of all timed runs) and each process's peak RSS.
# Usage: bench/run_inference_plan_bench.sh [BUILD_DIR] [THREADS] [BATCH]   (env: ROUNDS, RUNS, WARMUP, MODELS)
# Needs BUILD_DIR/bench/forward_bench; writes the unfolded exports to BUILD_DIR/bench_models.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
batch=${3:-32}
rounds=${ROUNDS:-2}
runs=${RUNS:-3}
warmup=${WARMUP:-1}
models=${MODELS:-resnet50 mobilenet_v2}
. bench/forward_bench_setup.sh
mkdir -p "$build/bench_models"
for model in $models; do
  unfolded="$build/bench_models/${model}_bn.onnx"
  [ -f "$unfolded" ] || $python bench/export_unfolded.py "$model" "$unfolded" 2>/dev/null
done

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
kept=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
  "flags: $(grep -m1 -o -w -E 'avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | xargs || true);" \
  "threads: $threads; batch $batch; $rounds rounds x $runs runs after $warmup warm-up;" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

results=$(mktemp)
peaks=$(mktemp)
trap 'rm -f "$results" "$peaks" "$results.rss"' EXIT
side() {  # MODEL SIDE COMMAND...: its timing lines and its peak RSS
  local model=$1 name=$2
  shift 2
  /usr/bin/time -f "%M" -o "$results.rss" "$@" | sed "s/^/$model $name /" >>"$results"
  echo "$model $name $(tail -1 "$results.rss")" >>"$peaks"
}
for round in $(seq "$rounds"); do
  for model in $models; do
    unfolded="$build/bench_models/${model}_bn.onnx"
    common=(--threads "$threads" --runs "$runs" --warmup "$warmup")
    side "$model" "lumos-default" "$bench" "${common[@]}" "$unfolded" "$batch"
    side "$model" "lumos-packed" "$bench" "${common[@]}" --plan packed "$unfolded" "$batch"
    side "$model" "lumos-nhwc" "$bench" "${common[@]}" --plan channels-last "$unfolded" "$batch"
    side "$model" "lumos-folded" "$bench" "${common[@]}" --plan folded "$unfolded" "$batch"
    side "$model" "lumos-as-written" "$bench" "${common[@]}" --as-written "$unfolded" "$batch"
    side "$model" "lumos-torch.onnx-folded" "$bench" "${common[@]}" "$build/fixtures/torchvision/$model.onnx" "$batch"
    for mode in eager channels_last optimized; do
      side "$model" "pytorch-$mode" env GLIBC_TUNABLES=$kept \
        $python bench/pytorch_forward.py "${common[@]}" --mode "$mode" "$model" "$batch"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

$python - "$results" "$peaks" <<'PY'
import collections, statistics, sys
times, peaks = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    model, side, batch, *ms = line.split()
    times[model, side] += map(float, ms)
for line in open(sys.argv[2]):
    model, side, kb = line.split()
    peaks[model, side].append(int(kb))
print("model | side | ms/img median | min | ÷ lumos as written | ÷ PyTorch optimized (median, min) | peak RSS (MB)")
print("--- | --- | --- | --- | --- | --- | ---")
for (model, side), ms in times.items():
    base = statistics.median(times[model, "lumos-as-written"])
    best = times[model, "pytorch-optimized"]
    print(f"{model} | {side} | {statistics.median(ms):.2f} | {min(ms):.2f} | {statistics.median(ms) / base:.3f} | "
          f"{statistics.median(ms) / statistics.median(best):.2f}, {min(ms) / min(best):.2f} | "
          f"{max(peaks[model, side]) / 1024:.0f}")
PY
