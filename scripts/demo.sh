#!/usr/bin/env bash
# The first command: installs what is missing, builds lumos, prepares the bundled default
# model (face expressions, from npm @vladmandic/face-api) and explains the sample faces
# with Grad-CAM, Grad-CAM++ and LIME, writing lumos-out/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh lumos_cli
scripts/fetch_models.sh build/third_party
build/lumos explain -o lumos-out
