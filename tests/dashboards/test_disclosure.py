"""Disclosure control in the dashboards: page layouts, callback outputs (charts with their
hover text, tables) and CSV downloads, on the real sample with small counts (SQLite and
PostgreSQL).

Every output is serialised as the browser would get it and searched for counts from 1 to 7:
count fields of tables and CSVs, "n / N" and "Denominator: N" in hover text, "N more
patients" in tables. Suppressed rows must not be drawn (no point or bar names them) and their
table rows say 'suppressed: small numbers'.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import plotly.utils
import pytest

from core.settings import Settings, override_settings
from tests.disclosure_data import PERIOD, TINY_PCN, load_disclosure_sample

NOTE = "suppressed: small numbers"
COUNT_FIELDS = {"numerator", "denominator", "extra", "opportunity", "Numerator", "Denominator"}
_TEXT_COUNTS = (
    re.compile(r"(?<![\d.,])(\d[\d,]*) / (\d[\d,]*)(?![\d.,])"),  # hover "num / den"
    re.compile(r"Denominator: (\d[\d,]*)(?![\d.,])"),
    re.compile(r"(?<![\d.,])(\d[\d,]*) more patients?"),
)


@pytest.fixture
def small(engine, database_url):  # type: ignore[no-untyped-def]
    """The sample with small counts; settings with disclosure control on."""
    load_disclosure_sample(engine)
    override_settings(Settings(database_url=database_url, disclosure_control=True))
    return engine


def _plain(obj: Any) -> Any:
    """What the browser receives: the component or figure as JSON."""
    if hasattr(obj, "to_plotly_json"):
        obj = obj.to_plotly_json()
    return json.loads(json.dumps(obj, cls=plotly.utils.PlotlyJSONEncoder))


def leaks(obj: Any, path: str = "") -> list[str]:
    """Counts from 1 to 7 in count fields and in text, anywhere in ``obj``."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in COUNT_FIELDS and isinstance(v, int | float) and not isinstance(v, bool) \
                    and 1 <= v <= 7:
                out.append(f"{path}/{k}={v}")
            out += leaks(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += leaks(v, f"{path}[{i}]")
    elif isinstance(obj, str):
        for pat in _TEXT_COUNTS:
            for m in pat.finditer(obj):
                if any(1 <= int(g.replace(",", "")) <= 7 for g in m.groups()):
                    out.append(f"{path}: {m.group(0)!r}")
    return out


def _csv_leaks(content: str) -> list[str]:
    out = []
    for i, row in enumerate(csv.DictReader(io.StringIO(content))):
        for k, v in row.items():
            if k in COUNT_FIELDS and v not in ("", None) and 1 <= float(v) <= 7:
                out.append(f"row {i} {k}={v}")
    return out


def _drawn_codes(fig: Any) -> str:
    """Every hover text of a figure (what names a drawn point or bar)."""
    data = _plain(fig)["data"]
    return json.dumps([t.get("hovertext") or t.get("text") or "" for t in data])


def test_comparison_page_every_view(small, pages) -> None:  # type: ignore[no-untyped-def]
    page = pages["indicator"]
    lay = page.layout(indicator_id="imm_6in1_12m", period=PERIOD, highlight="H82010")
    assert not leaks(_plain(lay))
    for view in ("chart", "funnel", "table"):
        for od in (False, True):
            out = page.update(PERIOD, "", "H82010", 95.0, view, od, None, "imm_6in1_12m")
            assert not leaks(_plain([o for o in out if o is not page.no_update])), view
            fig = out[0]
            if view != "table":
                drawn = _drawn_codes(fig)
                assert "H82006" in drawn  # a practice with large counts is drawn
                for code in ("H82010", "H82621", "TINY1"):
                    assert code not in drawn, (view, code)  # suppressed: no bar, no point
                # hovers show rounded counts: every count is a multiple of 5
                counts = [int(x.replace(",", "")) for pat in _TEXT_COUNTS[:2]
                          for m in pat.finditer(drawn) for x in m.groups()]
                assert counts
                assert all(c % 5 == 0 for c in counts)
    grid = page.update(PERIOD, "", None, 95.0, "table", False, None, "imm_6in1_12m")[2]
    rows = grid.rowData
    hidden = next(r for r in rows if r["Code"] == "H82010")
    assert hidden["Note"] == NOTE
    assert hidden["Value"] is None or hidden["Value"] != hidden["Value"]
    assert any(c.get("field") == "Note" for c in grid.columnDefs)
    sent = page.download_csv(1, PERIOD, "", 95.0, "imm_6in1_12m")
    assert not _csv_leaks(sent["content"])
    assert NOTE in sent["content"]
    # a peer set of two small practices: nothing drawn, and their pooled value (5 of 7,
    # 71.4%) shown nowhere, not as a benchmark line nor as the funnel's centre
    for view in ("chart", "funnel", "table"):
        out = page.update(PERIOD, f"parent:{TINY_PCN}", None, 95.0, view, False, None,
                          "imm_6in1_12m")
        text = json.dumps(_plain([o for o in out if o is not page.no_update]))
        assert "71.4" not in text, view
        assert not leaks(json.loads(text)), view


def test_profile_trend_network_pages(small, pages) -> None:  # type: ignore[no-untyped-def]
    org = pages["organisation"]
    lay = org.layout(code="H82029")
    assert not leaks(_plain(lay))
    text = json.dumps(_plain(lay))
    assert NOTE in text  # the MMR2 row says why it has no value
    sent = org.download_csv(1, {"code": "H82029"})
    assert not _csv_leaks(sent["content"])
    row = next(r for r in csv.DictReader(io.StringIO(sent["content"]))
               if r["indicator_id"] == "imm_mmr2_5y")
    assert row["value"] == ""
    assert row["disclosure"] == NOTE

    trend = pages["trend"]
    lay = trend.layout(code="H82010", indicator_id="imm_6in1_12m")
    plain = _plain(lay)
    assert not leaks(plain)
    # the suppressed 2021-22 point is not drawn, and the centre line leaves it out: a centre
    # of three with two shown would give the third away (three points are too few for
    # limits, so the chart is a run chart and its centre the median)
    fig = next(v for v in _walk_figures(plain))
    hover = json.dumps([t.get("hovertext") for t in fig["data"]])
    assert "<b>2021-22</b><br>n/a" in hover
    assert "<b>2020-21</b><br>97.3%" in hover
    assert not any(t.get("name") == "Mean" for t in fig["data"])
    centre = next(t for t in fig["data"] if t.get("name") == "Median")["y"][0]
    from core.db import session_scope
    from core.services.spc import spc

    with session_scope() as s:
        shown = spc(s, "H82010", "imm_6in1_12m").points["value"]
    assert shown.isna().tolist() == [False, False, True]
    assert centre == pytest.approx(shown.median())
    from core.services.disclosure import undisclosed

    with session_scope() as s, undisclosed():
        true = spc(s, "H82010", "imm_6in1_12m").points["value"]
    assert true.notna().all()
    assert centre != pytest.approx(true.median())  # the hidden point would move it

    net = pages["network"]
    for code in (TINY_PCN, "U80779"):
        lay = net.layout(code=code)
        assert not leaks(_plain(lay)), code
        sent = net.download_csv(1, {"code": code})
        assert not _csv_leaks(sent["content"]), code
    lay = net.layout(code=TINY_PCN)
    assert NOTE in json.dumps(_plain(lay))  # the members' cells say why they are empty
    # the Making Data Count matrix: suppressed members' cells have no icon, and say why
    from dashboards import mdc

    tri_rows = net.adapters.read(net.compute_triage, TINY_PCN)["triage"]
    matrix = json.dumps(_plain(mdc.matrix(tri_rows.rows, tri_rows.members)))
    assert f": {NOTE}" in matrix
    assert not leaks(json.loads(matrix))
    fig = net.update("imm_6in1_12m", 1190,  # the chart's width on the page (px)
                     {"members": ["TINY1", "TINY2"], "name": "Tiny PCN"})
    assert not leaks(_plain(fig))
    assert "TINY1" not in _drawn_codes(fig)


def _walk_figures(obj: Any):  # type: ignore[no-untyped-def]
    if isinstance(obj, dict):
        if "data" in obj and "layout" in obj and isinstance(obj["data"], list):
            yield obj
        for v in obj.values():
            yield from _walk_figures(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_figures(v)


def test_the_same_pages_show_the_counts_without_the_control(engine, database_url, pages
                                                            ) -> None:  # type: ignore[no-untyped-def]
    # the search above can fail: without the control the small counts are there to be found
    load_disclosure_sample(engine)
    out = pages["indicator"].update(PERIOD, "", "H82010", 95.0, "chart", False, None,
                                    "imm_6in1_12m")
    assert leaks(_plain(out[0]))
    assert "H82010" in _drawn_codes(out[0])
    sent = pages["indicator"].download_csv(1, PERIOD, "", 95.0, "imm_6in1_12m")
    assert _csv_leaks(sent["content"])
