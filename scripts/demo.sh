#!/usr/bin/env bash
# The first command: installs what is missing, builds lumos, prepares the bundled default
# model (face expressions, from npm @vladmandic/face-api) and explains the sample faces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh lumos_cli
scripts/fetch_models.sh build/third_party
build/lumos predict -m build/third_party/models/face_expression.onnx -i samples/faces/*.png --top 3
