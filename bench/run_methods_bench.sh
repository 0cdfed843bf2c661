#!/usr/bin/env bash
# Score-CAM, Ablation-CAM and LIME per image, lumos beside pytorch-grad-cam and lime on Debian's
# PyTorch (issue 15), interleaved: each round runs, per model and method, lumos
# (bench/cam_bench.cpp --time METHOD, bench/lime_bench.cpp --modes fp32) and then the reference
# (bench/methods_reference.py) on the same model, image and target, each in a process of its own
# under /usr/bin/time, so that load from other processes hits both sides alike and each
# process's peak RSS is known. Prints s/img per side (median over rounds), their ratio and the
# largest peak RSS of each side.
#
# Usage: bench/run_methods_bench.sh [BUILD_DIR] REFS_DIR
#   REFS_DIR: the fetched pytorch-grad-cam, ttach and lime sources (bench/python_bench.py's layout)
#   env: ROUNDS (1), THREADS (2), MODELS (resnet18 resnet50 mobilenet_v2),
#        METHODS (scorecam ablationcam lime), LIME_SAMPLES (1000), CAM_BATCH (32, lumos's default)
# Needs BUILD_DIR/bench/{cam_bench,lime_bench} (ninja -C BUILD_DIR cam_bench lime_bench) and the
# fixtures (scripts/make_fixtures.sh). Never run by CI. A quick development run:
#   ROUNDS=1 MODELS=resnet18 METHODS="ablationcam lime" LIME_SAMPLES=100 bench/run_methods_bench.sh build REFS
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 1 ]; then set -- build "$1"; fi
[ $# -eq 2 ] || { sed -n '10,16p' "$0" >&2; exit 2; }
build=$1
refs=$2
rounds=${ROUNDS:-1}
threads=${THREADS:-2}
models=${MODELS:-resnet18 resnet50 mobilenet_v2}
methods=${METHODS:-scorecam ablationcam lime}
samples=${LIME_SAMPLES:-1000}
cam_batch=${CAM_BATCH:-32}
python=/usr/bin/python3
fixtures=$build/fixtures
for tool in cam_bench lime_bench; do
  [ -x "$build/bench/$tool" ] || { echo "missing $build/bench/$tool; build it: ninja -C $build $tool" >&2; exit 1; }
done
for package in pytorch-grad-cam/pytorch_grad_cam ttach/ttach lime/lime; do
  [ -d "$refs/$package" ] || { echo "missing $refs/$package: see bench/python_bench.py for the layout" >&2; exit 1; }
done
for model in $models; do
  [ -f "$fixtures/torchvision/$model.onnx" ] || { echo "missing $fixtures/torchvision/$model.onnx: run scripts/make_fixtures.sh" >&2; exit 1; }
done
[ -f "$fixtures/quickshift/chelsea.png" ] || { echo "missing $fixtures/quickshift/chelsea.png: run scripts/make_fixtures.sh" >&2; exit 1; }

# Both sides: the thread count, and lumos's allocator settings (keep_freed_memory in the C++
# benches; GLIBC_TUNABLES for PyTorch, as bench/run_forward_bench.sh explains).
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
kept=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647
flags=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_bf16' | sort -u | xargs || true)
case " $flags " in
  *" amx_bf16 "*) bf16_note="bf16 not run by this script (fp32 only)" ;;
  *) bf16_note="no amx_bf16: bf16 not measured" ;;
esac
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, flags: ${flags:-none}" \
  "($bf16_note); $(free -g | awk '/Mem:/ {print $2}') GB; threads $threads; $rounds round(s);" \
  "LIME $samples samples (lumos batch 64, lime batch 10); CAM batch: lumos $cam_batch," \
  "pytorch-grad-cam's defaults (ScoreCAM 16, AblationCAM 32); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
side() {  # MODEL METHOD SIDE COMMAND...: "MODEL METHOD SIDE SECONDS PEAK_KB" into $work/results
  local model=$1 method=$2 name=$3 seconds
  shift 3
  if ! /usr/bin/time -f "%M" -o "$work/rss" "$@" >"$work/out" 2>"$work/err"; then
    echo "$name $method on $model failed:" >&2
    cat "$work/out" "$work/err" >&2
    exit 1
  fi
  if [ "$method" = lime ] && [ "$name" = lumos ]; then  # the total of lime_bench's fp32 row
    seconds=$(awk -F'|' -v m="$model" '$2 ~ " "m" " && $3 ~ "fp32" {print $8 / 1000}' "$work/out")
  else
    seconds=$(awk -v m="$method" '$1 == m {print $2}' "$work/out")
  fi
  echo "$model $method $name $seconds $(tail -1 "$work/rss")" | tee -a "$work/results" >&2
}
for round in $(seq "$rounds"); do
  for model in $models; do
    for method in $methods; do
      if [ "$method" = lime ]; then
        side "$model" lime lumos "$build/bench/lime_bench" --modes fp32 --no-quickshift --no-batch-split \
          "$fixtures" "$samples" "$threads" "$model"
      else
        side "$model" "$method" lumos "$build/bench/cam_bench" --threads "$threads" \
          --perturbation-batch "$cam_batch" --time "$method" --input "$fixtures/torchvision/$model.input.npy" \
          "$fixtures/torchvision/$model.onnx"
      fi
      side "$model" "$method" reference env GLIBC_TUNABLES=$kept $python bench/methods_reference.py \
        --refs "$refs" --method "$method" --fixtures "$fixtures" --threads "$threads" --lime-samples "$samples" "$model"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

$python - "$work/results" <<'PY'
import collections, statistics, sys
seconds, peaks = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    model, method, side, s, kb = line.split()
    seconds[model, method, side].append(float(s))
    peaks[model, method, side].append(int(kb))
names = {"scorecam": ("Score-CAM", "pytorch-grad-cam ScoreCAM"),
         "ablationcam": ("Ablation-CAM", "pytorch-grad-cam AblationCAM"),
         "lime": ("LIME", "lime LimeImageExplainer")}
print("model | method | lumos s/img | reference | reference s/img | lumos / reference (median of rounds) | "
      "peak RSS lumos (MB) | peak RSS reference (MB)")
print("--- | --- | ---: | --- | ---: | ---: | ---: | ---:")
for model, method, side in seconds:
    if side != "lumos":
        continue
    ours, theirs = seconds[model, method, "lumos"], seconds[model, method, "reference"]
    ratio = statistics.median(o / t for o, t in zip(ours, theirs))
    ours_name, their_name = names[method]
    print(f"{model} | {ours_name} | {statistics.median(ours):.2f} | {their_name} | {statistics.median(theirs):.2f} | "
          f"{ratio:.2f} | {max(peaks[model, method, 'lumos']) / 1024:.0f} | "
          f"{max(peaks[model, method, 'reference']) / 1024:.0f}")
PY
