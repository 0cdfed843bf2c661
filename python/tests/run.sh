#!/usr/bin/env bash
# The Python package's test (ctest python_package): installs this build of lumos into
# BUILD/python_test/prefix, pip-installs the package into a venv there (Debian's pip refuses
# system-wide installs; the venv sees Debian's numpy, pybind11, pytest, torch), runs pytest.
#   python/tests/run.sh BUILD_DIR [pytest arguments]
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
shift
work=$build/python_test
cmake --install "$build" --prefix "$work/prefix" >/dev/null
[ -x "$work/venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$work/venv"
if command -v ccache >/dev/null; then
  export CC="ccache x86_64-linux-gnu-gcc" CXX="ccache x86_64-linux-gnu-g++" CCACHE_BASEDIR=$source_dir
fi
(cd "$source_dir" && LUMOS_PREFIX=$work/prefix "$work/venv/bin/pip" install --no-build-isolation --no-deps \
  --no-index --quiet --disable-pip-version-check .)
# From the work folder, `import lumos` is the installed package, not the sources in python/.
cd "$work"
export LUMOS_CLI=$build/lumos LUMOS_FIXTURES=$build/fixtures
export LUMOS_MODEL=$build/third_party/models/face_expression.onnx LUMOS_SAMPLES=$source_dir/samples/faces
export LUMOS_SOURCE_DIR=$source_dir
exec "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$source_dir/python/tests" "$@"
