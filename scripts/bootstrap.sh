# Sourced by scripts/run and scripts/test: make .venv and install the project into it.
# Usage: bootstrap_venv [extras]   (extras e.g. "dev")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EVALSITE_VENV:-$ROOT/.venv}"

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "evalsite needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

bootstrap_venv() {
  local extras="${1:-}"
  local python
  python="$(pick_python)"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv in $VENV"
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      local minor
      minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      echo "==> python venv support missing; installing python${minor}-venv"
      apt_install "python${minor}-venv" || {
        echo "Could not create a virtualenv: install python${minor}-venv and retry." >&2
        return 1
      }
      "$python" -m venv "$VENV"
    fi
  fi
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  local stamp="$VENV/.evalsite-installed-${extras:-base}"
  local digest
  digest="$(cat "$ROOT/pyproject.toml" | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "==> installing evalsite$( [ -n "$extras" ] && echo " with [$extras]") into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    (cd "$ROOT" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec")
    echo "$digest" >"$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
