#!/usr/bin/env bash
# Installs the peer tus servers that bench/peers.py compares tuslog with, in the
# benchmark's own environments (never project dependencies):
#   bench/.peers-venv   tuspyserver 4.x (FastAPI) + uvicorn[standard] (httptools, uvloop), and py-spy for bench/patch_cost.py
#   bench/.peers-node   @tus/server 2.x + @tus/file-store (Node.js >= 20.19)
# Both folders are git-ignored. Run it again to refresh; it is idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

venv="$here/.peers-venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade 'tuspyserver>=4.4,<5' 'uvicorn[standard]>=0.30' 'py-spy>=0.3.14'
"$venv/bin/python" -c 'import importlib.metadata as m; print("tuspyserver", m.version("tuspyserver"), "fastapi", m.version("fastapi"), "uvicorn", m.version("uvicorn"))'

node_dir="$here/.peers-node"
mkdir -p "$node_dir"
command -v node >/dev/null || { echo "node is missing (apt-get install nodejs npm)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("@tus/server 2.x needs Node >= 20.19, this is "+process.version); process.exit(1) }'
if [ ! -f "$node_dir/package.json" ]; then
  printf '{"name":"tuslog-bench-peers","private":true,"type":"module"}\n' >"$node_dir/package.json"
fi
(cd "$node_dir" && npm install --silent --no-audit --no-fund '@tus/server@^2.4' '@tus/file-store@^2')
for pkg in @tus/server @tus/file-store; do
  node -p "'$pkg ' + require('$node_dir/node_modules/$pkg/package.json').version"
done
