#!/usr/bin/env bash
# Load, forward and Grad-CAM of keras.applications' ResNet50 and MobileNetV2 (full size,
# random weights) as .keras files beside the same networks as .onnx, in one run.
# Usage: bench/run_keras_bench.sh [BUILD_DIR] [THREADS]   (env: ROUNDS)
# Needs BUILD_DIR/bench/keras_bench (ninja -C BUILD_DIR keras_bench); makes the models
# (tests/fixtures/make_keras_models.py --bench: tfjs builds them, Python writes .keras).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
bench="$build/bench/keras_bench"
if [ ! -x "$bench" ]; then
  echo "missing $bench; build it with: ninja -C $build keras_bench" >&2
  exit 1
fi
/usr/bin/python3 tests/fixtures/make_keras_models.py --bench "$build/bench_models" >&2
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads: $threads;" \
  "${ROUNDS:-7} rounds; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" --threads "$threads" --rounds "${ROUNDS:-7}" "$build/bench_models/resnet50/model.keras" \
  "$build/bench_models/mobilenet_v2/model.keras"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
