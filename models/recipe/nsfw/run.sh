#!/bin/sh
# npm run export:nsfw: converts nsfwjs 4.4.0's MobileNetV2 (the npm devDependency, which carries the
# TF.js model and its weights) to models/nsfw-mobilenet-v2/model.onnx. Python packages are pinned in
# requirements.txt and installed into $NSFW_VENV (default recipe/nsfw/.venv, git-ignored). The parity
# references are made separately: node --import tsx models/recipe/nsfw/references.ts
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv="${NSFW_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node "$here/extract.cjs" "$work"
"$venv/bin/python" "$here/convert.py" "$work" "$root/models/nsfw-mobilenet-v2/model.onnx"
