#!/usr/bin/env bash
# Install everything the tests need (Python packages; Debian's chromium, LibreOffice and poppler
# when running as root; axe-core from npm for the accessibility checks) and run the whole suite:
# lint, unit, SQLite + PostgreSQL, browser.
source "$(dirname "$0")/_env.sh"
pip_install "${LOCK[@]}" -e '.[test]'
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v soffice >/dev/null || need+=(libreoffice-impress)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}" || true; fi
# axe-core (the engine FingertipsNext and GOV.UK use) for tests/browser/test_accessibility.py:
# npm's own package, not a Python wrapper, so the rules are exactly axe-core 4's. It goes in
# .cache/axe (git-ignored); the tests read QIDASH_AXE_JS. Under CI=true a missing axe fails them.
AXE_DIR="$ROOT/.cache/axe"
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ] && command -v npm >/dev/null; then
  npm install --prefix "$AXE_DIR" --no-audit --no-fund --loglevel=error axe-core@4 >/dev/null \
    || echo "note: npm could not install axe-core; the accessibility tests will not run" >&2
fi
export QIDASH_AXE_JS="$AXE_DIR/node_modules/axe-core/axe.min.js"
echo "== ruff"
.venv/bin/ruff check core etl api dashboards exports qidash tests bench
echo "== mypy (every package)"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
exit $rc
