#!/bin/sh
# npm run train:v3 (in models/): flowbot-emoji v3 from v2, after `npm run data:build`.
#   1. a copy of v2's folder in checkpoints/v2 and its weights recovered with Debian's python3-torch
#      (the exporter that wrote v2; apt-get install -y python3-torch python3-onnx libopenblas0-pthread);
#   2. recipe/v3.py in recipe/.venv-v3 (requirements-v3.txt): captions, teacher, pairs, student, export.
# Arguments go to v3.py (for example --phase teacher). Each phase resumes from checkpoints/v3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
models=$(dirname "$here")
venv="$here/.venv-v3"
if [ ! -f "$models/checkpoints/v2/v2-weights.pt" ]; then
  if [ ! -f "$models/checkpoints/v2/model.json" ]; then
    # v2 as it shipped, from the repository's history (99c6699 is the last commit with v2).
    mkdir -p "$models/checkpoints/v2"
    git -C "$models" archive 99c6699 flowbot-emoji | tar -x --strip-components=1 -C "$models/checkpoints/v2"
  fi
  /usr/bin/python3 "$here/recover_v2.py" "$models/checkpoints/v2"
fi
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements-v3.txt"
fi
cd "$models"
exec "$venv/bin/python" "$here/v3.py" "$@"
