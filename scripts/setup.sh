#!/usr/bin/env bash
# Idempotent first-use setup shared by scripts/serve and scripts/test:
# a .venv in the checkout, the Python packages, and the pinned sandbox-agent binary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
agent_pkg="@sandbox-agent/cli-linux-x64@0.4.2"
agent_dir="$root/.tools/sandbox-agent"
stamp="$venv/.crucible-installed"

python_bin="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating $venv" >&2
  "$python_bin" -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$root/pyproject.toml" -nt "$stamp" ]]; then
  echo "setup: installing Python packages" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -e "$root[test]" >&2
  touch "$stamp"
fi

agent_bin="$agent_dir/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent"
if [[ ! -f "$agent_bin" ]]; then
  echo "setup: installing $agent_pkg" >&2
  mkdir -p "$agent_dir"
  (cd "$agent_dir" && { [[ -f package.json ]] || echo '{"private":true}' > package.json; } \
    && npm install --silent --no-audit --no-fund "$agent_pkg" >&2)
fi
chmod +x "$agent_bin"
"$agent_bin" install-agent mock >/dev/null 2>&1 || "$agent_bin" install-agent mock >&2
export CRUCIBLE_SANDBOX_AGENT_BIN="${CRUCIBLE_SANDBOX_AGENT_BIN:-$agent_bin}"
export PATH="$venv/bin:$PATH"

# The dashboard's browser test drives Debian's Chromium with Playwright (from the test extra above); only
# scripts/test asks for it (setup_browser=1), never scripts/serve. Playwright's own browser download (a
# CDN) is never used. Without root or passwordless sudo nothing is installed: the test then fails, saying why.
chromium_bin="$(command -v chromium || true)"
if [[ "${setup_browser:-0}" == 1 && -z "$chromium_bin" ]]; then
  as_root=()
  [[ $EUID -eq 0 ]] || as_root=(sudo -n)
  if command -v apt-get >/dev/null && { [[ $EUID -eq 0 ]] || sudo -n true 2>/dev/null; }; then
    echo "setup: installing chromium (Debian package) for the dashboard's browser test" >&2
    if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2; then
      echo "setup: could not install chromium; the browser test will fail" >&2
    fi
  else
    echo "setup: chromium is missing and cannot be installed here (needs apt-get as root or with sudo);" \
      "the browser test will fail" >&2
  fi
fi
