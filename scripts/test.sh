#!/usr/bin/env bash
# Install everything the tests need (Python packages; Debian's chromium, LibreOffice and poppler
# when running as root) and run the whole suite: lint, unit, SQLite + PostgreSQL, browser.
source "$(dirname "$0")/_env.sh"
pip_install "${LOCK[@]}" -e '.[test]'
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v soffice >/dev/null || need+=(libreoffice-impress)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}" || true; fi
echo "== ruff"
.venv/bin/ruff check core etl api dashboards exports qidash tests bench
echo "== mypy (core)"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
exit $rc
