#!/usr/bin/env bash
# Re-resolve requirements.lock: the exact versions both README commands install.
# Run after changing the dependency ranges in pyproject.toml (or to take newer releases), then run
# scripts/test.sh and commit the lock with the change. tests/test_lock.py fails while the lock
# does not satisfy pyproject.toml or the installed environment differs from it.
source "$(dirname "$0")/_env.sh"
.venv/bin/python -m pip install -q --disable-pip-version-check uv 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/uv pip compile pyproject.toml --extra test --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --upgrade --no-header -q -o requirements.lock "$@"
sed -i '1i # qidash: the exact versions scripts/demo.sh and scripts/test.sh install (a pip constraints file).\n# Regenerate with: bash scripts/lock.sh  (uv pip compile of pyproject.toml with the test extra)' requirements.lock
echo "requirements.lock updated: $(grep -c '^[a-zA-Z0-9]' requirements.lock) packages"
