# Shared by scripts/demo.sh and scripts/test.sh: make .venv and install qidash into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
as_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
  # Debian packages (only when running as root; otherwise say what is missing).
  if as_root && command -v apt-get >/dev/null; then
    if [ ! -f /tmp/.qidash-apt-updated ]; then apt-get update -qq && touch /tmp/.qidash-apt-updated; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "note: please install these Debian packages: $*" >&2
  fi
}
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv
    "$PY" -m venv .venv
  fi
fi
pip_install() {
  # pip install into .venv; a failed install stops the script and shows pip's output; a good one prints nothing.
  local out
  if ! out=$(.venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1); then
    printf '%s\n' "$out" | grep -v "^WARNING: Location" >&2
    return 1
  fi
}
# pip itself pinned too (the version the suite last passed with), so that a new pip release
# cannot change how a fresh clone installs
pip_install "pip==26.3"
# requirements.lock pins every package (and the test extra) to the versions the suite passed with;
# pyproject.toml keeps the ranges for people who install qidash as a library.
LOCK=(-c requirements.lock)
