#!/usr/bin/env bash
# Makes the test fixtures (reference numbers from PyTorch, scikit-image, scikit-learn)
# in build/fixtures. Every script skips what it has already made.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch_models.sh build/third_party
mkdir -p build/fixtures
for script in tests/fixtures/make_*.py; do
  echo "lumos: fixtures: $script"
  /usr/bin/python3 "$script" build/fixtures
done
