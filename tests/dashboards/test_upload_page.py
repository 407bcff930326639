"""The upload page speaks the page's language (issue 15) and never shows an exception raw
(issue 19): callbacks called as the signed-in analyst against the real sample."""

from __future__ import annotations

import base64
import json

import pytest

from tests.dashboards.test_pages import as_user, triggered

GOOD = (b"org_code,indicator_id,period,numerator,denominator\n"
        b"H82006,imm_6in1_12m,2021-22,12,40\n"
        b"H82006,imm_mmr1_24m,2035-36,5,10\n")
BAD = GOOD + b"H82006,no_such_indicator,2021-22,1,2\n"


def _url(data: bytes) -> str:
    return "data:text/csv;base64," + base64.b64encode(data).decode()


def _text(component) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(component.to_plotly_json(), default=str)


@pytest.fixture
def analyst(sample) -> str:  # type: ignore[no-untyped-def]
    from core.auth import create_token
    from core.db import session_scope

    with session_scope() as s:
        return create_token(s, "ana", "analyst")[1]


def test_page_words_have_no_command_line_flags(pages) -> None:
    up = pages["upload"]
    said = up.page_words("3 of 10 rows are invalid; nothing was loaded (correct them, or load "
                         "with --skip-invalid)")
    assert said.endswith('(correct them, or tick "Load the valid rows, skip the rest")')
    assert "--" not in up.page_words("x.csv: looks like a workbook; name it .xlsx (with "
                                     "--sheet)")
    assert "--" not in up.page_words("unknown layout; use --format canonical or --mapping "
                                     "map.yaml")
    assert "--" not in up.page_words("something odd (see --some-flag value)")


def test_dry_run_counts_skip_option_and_load(pages, dash_app, analyst, sample) -> None:
    up = pages["upload"]
    with as_user(dash_app, analyst):
        report, disabled, _h = triggered("up-file.contents", up.check_or_load, _url(BAD), None,
                                         False, "fix.csv", "values")
        text = _text(report)
        assert "3 rows read, 1 rejected" in text
        assert "cannot be loaded as it is" in text
        assert "Load the valid rows, skip the rest" in text
        assert "--" not in text
        assert disabled is True
        # with the option ticked, the dry run says what loading the valid rows would do
        report, disabled, _h = triggered("up-skip.value", up.check_or_load, _url(BAD), None,
                                         True, "fix.csv", "values")
        text = _text(report)
        assert "would add 1 values, change 1 and leave 0 as they are" in text
        assert disabled is False
        report, _d, history = triggered("up-commit.n_clicks", up.check_or_load, _url(BAD), 1,
                                        True, "fix.csv", "values")
        assert "1 values added, 1 changed" in _text(report)
        assert history[0]["By"] == "ana"
        assert history[0]["File"] == "fix.csv"


def test_problems_are_messages_not_exceptions(pages, dash_app, analyst, sample,
                                              monkeypatch) -> None:
    up = pages["upload"]
    with as_user(dash_app, analyst):
        # not a data URL at all: the browser's upload is unreadable
        report, _d, _h = triggered("up-file.contents", up.check_or_load, "not-a-data-url",
                                   None, False, "x.csv", "values")
        assert "could not be read" in _text(report)
        # an unexpected failure inside the pipeline: a message, the traceback only in the log
        from etl import pipeline

        def boom(*_a, **_k):  # type: ignore[no-untyped-def]
            raise RuntimeError("psycopg.OperationalError: secret internals")

        monkeypatch.setattr(pipeline, "run_load", boom)
        report, _d, _h = triggered("up-file.contents", up.check_or_load, _url(GOOD), None,
                                   False, "x.csv", "values")
        text = _text(report)
        assert "problem on the server" in text
        assert "secret internals" not in text
        assert "RuntimeError" not in text


def test_file_problems_quote_no_library_errors(pages, dash_app, analyst, sample) -> None:
    """A CSV the tokenizer cannot split and YAML the parser rejects: the page says what to fix
    where, without pandas' "C error" or PyYAML's marks and context lines (issue 19)."""
    up = pages["upload"]
    ragged = GOOD + b"1,2,3,4,5,6,7\n"  # line 4: 7 fields under a 5-column header
    unclosed = GOOD + b'H82006,"imm_6in1_12m,2021-22,12,40\n'  # the quote opens on line 4
    cases = [
        (ragged, "ragged.csv", "values", "line 4 has 7 fields where the header has 5"),
        (unclosed, "unclosed.csv", "values",
         "a quoted value that starts on line 4 is never closed"),
        (b"- id: x\n  name: [\n", "flow.yaml", "indicators",
         "not valid YAML at line 3: check the indentation, colons, quotes and brackets there"),
        (b"id: x\n\tname: y\n", "tabs.yaml", "indicators",
         "not valid YAML at line 2: a tab indents a line; indent with spaces"),
    ]
    with as_user(dash_app, analyst):
        for data, name, kind, words in cases:
            report, disabled, _h = triggered("up-file.contents", up.check_or_load, _url(data),
                                             None, False, name, kind)
            text = _text(report)
            assert words in text, (name, text)
            assert text.count(name) == 1, text  # named once, at the start
            for raw in ("C error", "tokenizing", "<unicode string>", "while parsing",
                        "while scanning", "\\n", "^"):
                assert raw not in text, (name, raw, text)
            assert disabled is True


def test_file_problem_keeps_other_messages(pages) -> None:
    """Messages that quote no library error pass through (flags still translated). The page
    module comes from the app's registry: importing ``dashboards.pages.upload`` by name would
    register the page twice ('pages.upload' and 'dashboards.pages.upload') and break the app
    for every later test in the process."""
    file_problem = pages["upload"].file_problem

    said = "x.csv: the file is empty; it needs a header row and data rows"
    assert file_problem(said) == said
    assert "--" not in file_problem("x.csv: unknown layout; use --format canonical or "
                                    "--mapping map.yaml")


def test_revert_asks_first_and_records_who(pages, dash_app, analyst, sample) -> None:
    up = pages["upload"]
    with as_user(dash_app, analyst):
        _r, _d, history = triggered("up-commit.n_clicks", up.check_or_load, _url(GOOD), 1,
                                    False, "fix.csv", "values")
        row = history[0]
        shown, message, pending, _msg = triggered("up-revert.n_clicks", up.ask_revert, 1, [row])
        assert shown is True
        assert message.startswith(f"Revert load {row['Load']} (fix.csv)?")
        msg, history = triggered("up-revert-confirm.submit_n_clicks", up.revert, 1, pending)
        assert f"Load {row['Load']} reverted by ana." in _text(msg)
        assert history[0]["Status"] == "reverted"
        # reverting it again: the reason, in the page's words
        msg, _h = triggered("up-revert-confirm.submit_n_clicks", up.revert, 2, pending)
        assert "already reverted" in _text(msg)
