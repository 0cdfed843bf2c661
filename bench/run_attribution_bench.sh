#!/usr/bin/env bash
# Gradient and perturbation attributions per image, lumos beside captum, interleaved: each
# round runs every method once in lumos (bench/attribution_bench.cpp) and once in captum
# (bench/captum_attribution.py) on the same model, image and options, so load from other
# processes hits both sides alike; the table gives medians over the rounds.
# Usage: PYTHONPATH=/path/to/captum bench/run_attribution_bench.sh [BUILD_DIR] [MODEL]
#   env: ROUNDS (3), THREADS (2), BATCH (10), STEPS (50), SAMPLES (50), SHAP_SAMPLES (1000),
#        WINDOW (16), STRIDE (8), METHODS (saliency,ig,smoothgrad,occlusion,kernelshap)
# Needs BUILD_DIR/bench/attribution_bench (ninja -C BUILD_DIR attribution_bench) and captum
# (tests/fixtures/check_attribution_against_captum.py says how to get it); makes missing fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-resnet50}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
methods=${METHODS:-saliency,ig,smoothgrad,occlusion,kernelshap}
bench="$build/bench/attribution_bench"
python=/usr/bin/python3
if [ ! -x "$bench" ]; then
  echo "missing $bench; build it with: ninja -C $build attribution_bench" >&2
  exit 1
fi
$python -c "import captum" 2>/dev/null || { echo "captum is not importable: set PYTHONPATH to a captum v0.7.0 checkout" >&2; exit 1; }
$python tests/fixtures/make_torchvision_models.py "$build/fixtures" >&2

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
common=(--threads "$threads" --batch "${BATCH:-10}" --steps "${STEPS:-50}" --samples "${SAMPLES:-50}"
        --shap-samples "${SHAP_SAMPLES:-1000}" --window "${WINDOW:-16}" --stride "${STRIDE:-8}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
segments="$work/segments.npy"
input="$build/fixtures/torchvision/$model.input.npy"
onnx="$build/fixtures/torchvision/$model.onnx"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $model, threads $threads;" \
  "${common[*]}; $rounds rounds; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" "${common[@]}" --methods forward --segments-out "$segments" --input "$input" "$onnx" >/dev/null
for round in $(seq "$rounds"); do
  for method in ${methods//,/ }; do
    extra=forward
    case $method in ig | smoothgrad) extra=forward,passes-$method ;; esac
    "$bench" "${common[@]}" --methods "$extra,$method" --input "$input" "$onnx" | sed 's/^/lumos /' >>"$work/results"
    $python bench/captum_attribution.py "${common[@]}" --methods "forward,$method" --segments "$segments" "$model" |
      sed 's/^/captum /' >>"$work/results"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
$python - "$work/results" <<'PY'
import collections, statistics, sys
# Each invocation prints its own forward first: a method's multiple is taken against the
# forward of the same invocation, then the median over rounds.
rows = collections.defaultdict(list)
forward = {}
for line in open(sys.argv[1]):
    side, name, ms = line.split()
    ms = float(ms)
    if name == "forward":
        forward[side] = ms
        rows[side, "forward"].append(ms)
    else:
        rows[side, name].append((ms, ms / forward[side]))
names = [n for s, n in rows if s == "lumos" and n != "forward" and not n.startswith("passes")]
names = list(dict.fromkeys(names))
median = statistics.median
print(f"forward ms/img: lumos {median(rows['lumos', 'forward']):.1f}, PyTorch (captum's side) {median(rows['captum', 'forward']):.1f}\n")
print("method | lumos ms/img | x lumos forward | captum ms/img | x PyTorch forward | captum / lumos | lumos / batched passes")
print("--- | --- | --- | --- | --- | --- | ---")
for name in names:
    lumos = rows["lumos", name]
    captum = rows["captum", name]
    l, c = median([ms for ms, _ in lumos]), median([ms for ms, _ in captum])
    versus = ""
    passes = rows.get(("lumos", "passes-" + name))
    if passes:
        # the same number of plain batched passes, timed right before in the same invocation
        versus = f"{median([ms / p for (ms, _), (p, _) in zip(lumos, passes)]):.3f}"
    print(f"{name} | {l:.0f} | {median([x for _, x in lumos]):.1f} | {c:.0f} | {median([x for _, x in captum]):.1f} | "
          f"{c / l:.2f} | {versus}")
PY
