#!/usr/bin/env bash
# Install qidash, load the bundled real demo data into the embedded SQLite database, and start it.
source "$(dirname "$0")/_env.sh"
pip_install "${LOCK[@]}" -e .
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  apt_install chromium || echo "note: chromium not installed: slide exports will be unavailable" >&2
fi
.venv/bin/qidash demo
echo "Reading needs no sign-in. To upload data or add notes, create an analyst token and paste it"
echo "on the sign-in page (top right):  .venv/bin/qidash tokens create --role analyst --name you"
exec .venv/bin/qidash serve "$@"
