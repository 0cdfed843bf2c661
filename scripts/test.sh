#!/usr/bin/env bash
# The test command: installs what is missing, builds, makes the fixtures, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
scripts/make_fixtures.sh
cd build
ctest --output-on-failure --timeout 3000
