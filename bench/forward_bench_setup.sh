# Sourced by the forward benchmarks once $build is set: sets $bench (forward_bench) and $python,
# stops with a hint when forward_bench is not built, and makes missing torchvision fixtures.
bench="$build/bench/forward_bench"
python=/usr/bin/python3
if [ ! -x "$bench" ]; then
  echo "missing $bench; build it with: ninja -C $build forward_bench" >&2
  exit 1
fi
$python tests/fixtures/make_torchvision_models.py "$build/fixtures" >&2
