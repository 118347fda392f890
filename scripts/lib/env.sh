# Shared setup for scripts/run-engine and scripts/test (sourced, not run).
#
#   need_apt PKG:CMD...   install Debian packages whose command (or file) is missing; sudo only if not root
#   apt_install PKG...    install Debian packages unconditionally
#   ensure_venv           create .venv with Python 3.11 (installing python3-venv when ensurepip is missing)
#   pip_install_once TAG SPEC...   pip install SPEC... into .venv, skipped while pyproject.toml is unchanged
#   ensure_tool_venv NAME SPEC...  a virtualenv of its own, .venv-NAME, holding SPEC... (tools whose
#                         dependencies conflict with the project's, e.g. checkov); skipped while SPEC is unchanged
#
# Environment: PYTHON (interpreter for the venv, default python3.11 or python3), VENV (default .venv),
# PIP_INDEX_URL etc. are honoured by pip as usual.

set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${VENV:-$REPO/.venv}

log() { echo "[$(basename "$0")] $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root for: $*  (no sudo available)"; return 1
  fi
}

# need_apt pkg:command ... : a package is needed when its command is not on PATH (or /usr/sbin).
need_apt() {
  local missing=() spec pkg cmd
  for spec in "$@"; do
    pkg=${spec%%:*}; cmd=${spec#*:}
    if [ "${cmd#/}" != "$cmd" ]; then [ -e "$cmd" ] && continue
    else command -v "$cmd" >/dev/null 2>&1 && continue; [ -x "/usr/sbin/$cmd" ] && continue
    fi
    missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install "${missing[@]}"
}

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing $* and no apt-get: install them by hand"; return 1
  fi
  log "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for p in python3.11 python3.12 python3.13 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,14)))'; then
      echo "$p"; return
    fi
  done
  log "Python 3.11-3.13 is needed (apt-get install python3)"; return 1
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then return 0; fi
  make_venv "$VENV"
}

# make_venv DIR : a fresh virtualenv in DIR with a current pip.
make_venv() {
  local dir=$1 py; py=$(pick_python)
  log "creating $dir with $py"
  rm -rf "$dir"
  if ! "$py" -m venv "$dir" >/dev/null 2>&1; then
    # Debian ships venv's pip bootstrap separately (python3.X-venv).
    local ver; ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${ver}-venv" || apt_install python3-venv
    rm -rf "$dir"
    "$py" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install -q --upgrade "pip>=24" >&2
}

# ensure_tool_venv NAME SPEC... : .venv-NAME holding exactly SPEC..., (re)built only when SPEC changed or a
# previous install did not finish. Returns non-zero (leaving no half-built venv behind) when pip fails.
ensure_tool_venv() {
  local name=$1; shift
  local dir="$REPO/.venv-$name" want
  want=$(echo "$*" | sha256sum | cut -d' ' -f1)
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then return 0; fi
  make_venv "$dir" || { rm -rf "$dir"; return 1; }
  log "pip install $* into $dir (once)"
  if ! "$dir/bin/python" -m pip install -q "$@" >&2; then
    rm -rf "$dir"; return 1
  fi
  echo "$want" > "$dir/.installed"
}

# pip_install_once TAG SPEC... : install into the venv unless the same TAG + pyproject were installed last time.
pip_install_once() {
  local tag=$1; shift
  local stamp="$VENV/.installed-$tag"
  local want; want=$( { echo "$*"; cat "$REPO/pyproject.toml"; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "pip install $*"
  (cd "$REPO" && "$VENV/bin/python" -m pip install -q "$@") >&2
  echo "$want" > "$stamp"
}
