#!/usr/bin/env bash
# The Python package's test (ctest python_package): installs the build and the package into
# BUILD_DIR/python_test (scripts/python_package.sh), then runs pytest there.
#   python/tests/run.sh BUILD_DIR [pytest arguments]
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
shift
python=$("$source_dir/scripts/python_package.sh" "$build")
# From the work folder, `import lumos` is the installed package, not the sources in python/.
cd "$build/python_test"
export LUMOS_CLI=$build/lumos LUMOS_FIXTURES=$build/fixtures LUMOS_SOURCE_DIR=$source_dir
export LUMOS_MODEL=$build/third_party/models/face_expression.onnx LUMOS_SAMPLES=$source_dir/samples/faces
exec "$python" -m pytest -q -p no:cacheprovider "$source_dir/python/tests" "$@"
