#!/usr/bin/env bash
# A fresh install, as on a new machine: copies this checkout (tracked and untracked files, nothing git
# ignores, so no node_modules) to a temporary folder, installs it there with the given npm command (plain
# `npm` by default) and runs test/smoke/playground.ts, which starts flowbot with that command and makes one
# image. .ci/run runs it with npm 12, which runs no dependency install script package.json's allowScripts
# does not allow:
#
#   test/smoke/fresh-install.sh npx -y npm@12
#
# --strict-allow-scripts fails the install when a dependency's install script is neither allowed nor
# denied there. The copy is removed on exit, whatever happened; any failure exits non-zero.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
npm_command=("$@")
[ ${#npm_command[@]} -gt 0 ] || npm_command=(npm)

copy="$(mktemp -d "${TMPDIR:-/tmp}/flowbot-fresh-install-XXXXXX")"
trap 'rm -rf "$copy"' EXIT

git -C "$repo" ls-files -z --cached --others --exclude-standard |
  tar -C "$repo" --null --files-from=- --ignore-failed-read -cf - |
  tar -C "$copy" -xf -
cd "$copy"

echo "fresh-install: node $(node --version), ${npm_command[*]} $("${npm_command[@]}" --version), in $copy"
started=$SECONDS
"${npm_command[@]}" ci --no-audit --no-fund --strict-allow-scripts
echo "fresh-install: ${npm_command[*]} ci took $((SECONDS - started)) s"

started=$SECONDS
node --import tsx test/smoke/playground.ts "${npm_command[@]}"
echo "fresh-install: the smoke test took $((SECONDS - started)) s"
