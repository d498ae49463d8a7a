#!/usr/bin/env bash
# npm run conformance:make — rebuilds the conformance folders and diffusers' references.
# Makes the virtual environment from requirements.txt the first time (torch from PyPI: a large
# download). Never run by npm test or .ci/run: the committed fixtures are what the tests read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --upgrade pip
  "$venv/bin/pip" install -r "$here/requirements.txt"
fi
# `npm run conformance:make -- loras [folder…]`: the LoRA fixtures and their diffusers references.
if [ "${1:-}" = "loras" ]; then
  shift
  exec "$venv/bin/python" "$here/make_loras.py" "$@"
fi
# `npm run conformance:make -- peers`: the full-size SD 1.5 folder of `npm run bench -- peers` instead.
if [ "${1:-}" = "peers" ]; then
  shift
  exec "$venv/bin/python" "$here/make_peers.py" "$@"
fi
exec "$venv/bin/python" "$here/make_conformance.py" "$@"
