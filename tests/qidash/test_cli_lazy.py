"""``qidash --help`` answers without importing the heavy libraries, and lists the real commands."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from qidash.cli import LAZY_COMMANDS, app, load_command

HEAVY = ("pandas", "sqlalchemy", "plotly", "dash", "numpy", "etl.pipeline", "core.db")


def test_help_imports_no_heavy_library() -> None:
    code = ("import sys\nfrom qidash.cli import main\nsys.argv = ['qidash', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "LOADED []" in out
    for name in LAZY_COMMANDS:
        assert f" {name} " in out


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_listed_help_is_the_commands_own(name: str) -> None:
    real = load_command(name)
    assert real.name == name
    assert " ".join((real.short_help or real.help or "").split()) == LAZY_COMMANDS[name][2]


def test_subcommand_runs_and_unknown_is_refused() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["loads", "--help"])
    assert result.exit_code == 0
    assert "revert" in result.output
    result = runner.invoke(app, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.output
