"""Under ``CI=true`` a missing tool fails the suite instead of skipping it (PostgreSQL and
Chromium alike); elsewhere the tests that need it are skipped with the reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import tests.conftest as root
from tests.conftest import REPO

#: a test that needs nothing but the ``chromium`` fixture of tests/exports
CHART_TEST = "tests/exports/test_render.py::test_png_at_the_requested_size"


def test_skip_unless_ci(monkeypatch):
    monkeypatch.setattr(root, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        root.skip_unless_ci("no chromium")
    monkeypatch.setattr(root, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception,
                       match=r"no chromium \(CI=true: a skipped browser suite is a failure\)"):
        root.skip_unless_ci("no chromium")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_chromium_fails_only_under_ci(tmp_path, ci, outcome):
    """The chart tests run in a child pytest with no Chromium to be found (an empty PATH
    and a configured path that does not exist)."""
    env = {**os.environ, "CI": ci, "PATH": str(tmp_path),
           "QIDASH_CHROMIUM_PATH": str(tmp_path / "no-chromium"), "BROWSER_PATH": ""}
    res = subprocess.run([sys.executable, "-m", "pytest", CHART_TEST, "-q", "-p",
                          "no:cacheprovider"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert outcome in res.stdout, res.stdout + res.stderr
    assert (res.returncode != 0) == bool(ci)
    if ci:
        assert "CI=true: a skipped chart suite is a failure" in res.stdout


def test_no_module_imports_a_dash_page_by_its_package_name():
    """Dash imports the pages itself (as ``pages.<name>``); importing one as
    ``dashboards.pages.<name>`` registers its path twice, and the app then answers 500 to
    every request in that process (it broke 12 tests of a merged suite). Use the tests'
    ``pages`` fixture, or move what is shared out of the page module."""
    import re

    pattern = re.compile(r"^\s*(from dashboards\.pages\.\w+ import|import dashboards\.pages\.\w+"
                         r"|from dashboards\.pages import)", re.M)
    offenders = [str(p.relative_to(REPO)) for d in ("tests", "dashboards", "api", "exports",
                                                    "qidash", "scripts", "bench")
                 for p in (REPO / d).rglob("*.py")
                 if p.name != "test_ci_rules.py" and pattern.search(p.read_text())]
    assert not offenders, offenders
