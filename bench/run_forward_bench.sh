#!/usr/bin/env bash
# Forward time per image, lumos (the ONNX export) beside PyTorch eager (the same model: same
# weights, BatchNorm folded as in the export), same machine, same run, same thread count.
# Usage: bench/run_forward_bench.sh [BUILD_DIR] [THREADS]   (env: ROUNDS, RUNS, WARMUP)
# Needs BUILD_DIR/bench/forward_bench (ninja -C BUILD_DIR forward_bench); makes missing fixtures.
# lumos runs as shipped: it calls lumos::keep_freed_memory() (include/lumos/runtime.hpp), so
# glibc reuses freed activation buffers instead of page-faulting through fresh ones. PyTorch
# runs twice: as users run it, and with the same allocator settings through GLIBC_TUNABLES,
# which compares the engines alone. The sides alternate for ROUNDS rounds so that load from
# other processes hits them alike; the tables give the median and the minimum of all runs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
rounds=${ROUNDS:-3}
runs=${RUNS:-5}
warmup=${WARMUP:-2}
. bench/forward_bench_setup.sh

# Both sides run the same LibTorch with the same threads; BLAS (the final Gemm) is OpenBLAS.
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: $threads;" \
  "$rounds rounds x $runs runs after $warmup warm-up; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "libblas.so.3 -> $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
echo "forward_bench: $(ldd "$bench" | grep -Eo 'lib(blas|openblas)[^ ]* => [^ ]*' | tr '\n' ' ')"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
  for model in resnet50 mobilenet_v2; do
    "$bench" --threads "$threads" --runs "$runs" --warmup "$warmup" "$build/fixtures/torchvision/$model.onnx" 1 32 |
      sed "s/^/$model lumos /" >>"$results"
    $python bench/pytorch_forward.py --threads "$threads" --runs "$runs" --warmup "$warmup" "$model" 1 32 |
      sed "s/^/$model pytorch /" >>"$results"
    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647 \
      $python bench/pytorch_forward.py --threads "$threads" --runs "$runs" --warmup "$warmup" "$model" 1 32 |
      sed "s/^/$model pytorch-kept /" >>"$results"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# Lines: MODEL SIDE BATCH MS...
$python - "$results" <<'EOF'
import collections, statistics, sys
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    model, side, batch, *ms = line.split()
    times[model, int(batch), side] += map(float, ms)
for baseline, title in (("pytorch", "PyTorch as users run it (default glibc malloc)"),
                        ("pytorch-kept", "PyTorch with lumos's allocator settings (engine against engine)")):
    print(f"lumos against {title}:\n")
    print("model | batch | lumos ms/img | pytorch ms/img | ratio | lumos min | pytorch min | min ratio")
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for model, batch in dict.fromkeys((m, b) for m, b, _ in times):
        lumos, torch = times[model, batch, "lumos"], times[model, batch, baseline]
        l, p = statistics.median(lumos), statistics.median(torch)
        print(f"{model} | {batch} | {l:.2f} | {p:.2f} | {l / p:.3f} | {min(lumos):.2f} | {min(torch):.2f} | "
              f"{min(lumos) / min(torch):.3f}")
    print()
EOF
