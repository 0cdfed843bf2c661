#!/usr/bin/env bash
# Installs this build of lumos into BUILD_DIR/python_test/prefix and the Python package into the
# venv BUILD_DIR/python_test/venv (Debian's pip refuses system-wide installs; the venv sees
# Debian's numpy, pybind11, pytest and torch). Prints the venv's python.
#   scripts/python_package.sh [BUILD_DIR]        (default: build)
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$source_dir/build}" && pwd)
work=$build/python_test
cmake --install "$build" --prefix "$work/prefix" >/dev/null
[ -x "$work/venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$work/venv"
if command -v ccache >/dev/null; then
  export CC="ccache x86_64-linux-gnu-gcc" CXX="ccache x86_64-linux-gnu-g++" CCACHE_BASEDIR=$source_dir
fi
(cd "$source_dir" && LUMOS_PREFIX=$work/prefix "$work/venv/bin/pip" install --no-build-isolation --no-deps \
  --no-index --quiet --disable-pip-version-check . >&2)
echo "$work/venv/bin/python"
