#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang-14, ASan + UBSan) into build-fuzz/ and runs them.
# See docs/reliability.md.
#
#   scripts/fuzz.sh build                     build the harnesses
#   scripts/fuzz.sh smoke [SECONDS]           each harness on its seed corpus for SECONDS (default 20), as CI does:
#                                             a fixed seed, so CI replays the same mutations and fails only on a
#                                             change in lumos (campaigns, with random seeds, look for new findings)
#   scripts/fuzz.sh campaign NAME SECONDS     fuzz one harness; new inputs go to build-fuzz/corpus/NAME,
#                                             findings to build-fuzz/findings/NAME
#   scripts/fuzz.sh replay NAME FILE...       run inputs (a finding, a corpus) through a harness once
#
# Harnesses: fuzz/<name>_fuzzer.cpp with seeds in fuzz/corpus/<name>/ (a new one is added to the list below).
set -euo pipefail
cd "$(dirname "$0")/.."
harnesses=(onnx_model keras_model image npy)
flags=(-rss_limit_mb=3072 -timeout=20 -print_final_stats=1)

build() {
  export CCACHE_BASEDIR="$PWD" CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUMOS_FUZZ=ON \
    -DLUMOS_BUILD_TESTS=OFF -DLUMOS_BUILD_BENCH=OFF >/dev/null
  ninja -C build-fuzz -j2 "${harnesses[@]/%/_fuzzer}"
}

run() {  # NAME SECONDS NEW_INPUTS_DIR [LIBFUZZER_FLAGS...]
  local name=$1 seconds=$2 corpus=$3
  shift 3
  mkdir -p "$corpus" "build-fuzz/findings/$name"
  build-fuzz/fuzz/"${name}_fuzzer" "${flags[@]}" "$@" -max_total_time="$seconds" \
    -artifact_prefix="build-fuzz/findings/$name/" "$corpus" "fuzz/corpus/$name"
}

case "${1:-}" in
  build) build ;;
  smoke)
    build
    for name in "${harnesses[@]}"; do
      scratch=$(mktemp -d)
      echo "lumos: fuzz: $name for ${2:-20} s"
      status=0
      run "$name" "${2:-20}" "$scratch/new" -seed=1 >"$scratch/log" 2>&1 || status=$?
      grep -E "^(#[0-9]+ +(INITED|DONE)|Done [0-9]+ runs)" "$scratch/log" || true
      if [ "$status" -ne 0 ]; then
        tail -n 40 "$scratch/log" >&2
        echo "lumos: fuzz: $name found a problem (exit $status); the input is in build-fuzz/findings/$name/" >&2
        rm -rf "$scratch"
        exit 1
      fi
      rm -rf "$scratch"
    done ;;
  campaign) build; run "$2" "$3" "build-fuzz/corpus/$2" ;;
  replay) build; name=$2; shift 2; build-fuzz/fuzz/"${name}_fuzzer" "${flags[@]}" "$@" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
