#!/usr/bin/env bash
# Idempotent first-use setup shared by scripts/serve and scripts/test:
# a .venv in the checkout, the Python packages, and the pinned sandbox-agent binary.
# The caller names the pyproject extras it needs in `setup_extras` (scripts/test: "test"; scripts/serve:
# none), so serving never installs the test tools. The stamp records the extras installed: a later call
# that needs one more installs again, one that needs fewer does not.
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
# The stamp's one line, "extras: a b", names the extras installed with the package ("extras:" for none).
# Packages are installed again when one wanted is missing, or when pyproject.toml is newer than the stamp
# (then with every extra recorded too, so none is left stale). An empty stamp (from before extras were
# tracked) records nothing.
recorded=()
if [[ -f "$stamp" ]] && read -r line < "$stamp" && [[ "$line" == extras:* ]]; then
  read -r -a recorded <<< "${line#extras:}"
fi
read -r -a wanted <<< "${setup_extras:-}"
install=0
[[ -f "$stamp" && ! "$root/pyproject.toml" -nt "$stamp" ]] || install=1
for extra in "${wanted[@]}"; do
  [[ " ${recorded[*]} " == *" $extra "* ]] || install=1
done
if (( install )); then
  extras=()
  for extra in "${recorded[@]}" "${wanted[@]}"; do
    [[ " ${extras[*]} " == *" $extra "* ]] || extras+=("$extra")
  done
  target="$root"
  if (( ${#extras[@]} )); then target="$root[$(IFS=,; echo "${extras[*]}")]"; fi
  echo "setup: installing Python packages${extras[*]:+ with extras: ${extras[*]}}" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -e "$target" >&2
  echo "extras: ${extras[*]}" > "$stamp"
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

# The dashboard's browser test drives Debian's Chromium with Playwright (from the test extra); only
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
