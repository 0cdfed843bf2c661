#!/usr/bin/env bash
# The test command: installs what is missing, builds, makes the fixtures, runs every test,
# then runs each fuzzer briefly on its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
scripts/make_fixtures.sh
(cd build && ctest --output-on-failure --timeout 3000 -j2)  # two at a time (tests that time things run alone)
scripts/fuzz.sh smoke 20   # each fuzzer on its seed corpus for 20 s (clang ASan+UBSan build in build-fuzz/)
