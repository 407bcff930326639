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
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
