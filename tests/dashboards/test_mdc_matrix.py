"""The Making Data Count summary matrix of the network page (issue 16): icons drawn by qidash
as SVG with words, most concerning first, each cell a link to the trend chart, a limit with a
note for a network of many members."""

from __future__ import annotations

from urllib.parse import unquote

import pandas as pd

from dashboards import mdc


def _rows(n_members: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    members = pd.DataFrame({"code": [f"M{i:03d}" for i in range(n_members)],
                            "name": [f"Member {i}" for i in range(n_members)]})
    rows = []
    for ind, name in (("calm", "Calm indicator"), ("hot", "Hot indicator")):
        for i, code in enumerate(members["code"]):
            concern = ind == "hot" and i % 3 == 1
            rows.append({"indicator_id": ind, "indicator_name": name, "org_code": code,
                         "spc_variation": "concern_low" if concern else (
                             "improvement_high" if i == 0 else "common_cause"),
                         "spc_assurance": "fail" if concern else "hit_or_miss",
                         "significantly_worse": False})
    return pd.DataFrame(rows), members


def _texts(component) -> str:  # type: ignore[no-untyped-def]
    return str(component.to_plotly_json())


def test_icons_are_svg_with_words() -> None:
    for code in ("common_cause", "improvement_high", "concern_low", "neutral_high"):
        uri = mdc.variation_svg(code)
        assert uri is not None
        assert uri.startswith("data:image/svg+xml;utf8,")
        assert "<svg" in unquote(uri)
    assert "H</text>" in unquote(mdc.variation_svg("improvement_high") or "")
    assert "L</text>" in unquote(mdc.variation_svg("concern_low") or "")
    assert "</text>" not in unquote(mdc.variation_svg("common_cause") or "")
    assert mdc.variation_svg(None) is None
    assert mdc.assurance_svg(None) is None
    assert ">F</text>" in unquote(mdc.assurance_svg("fail") or "")
    assert mdc.cell_words("A", "Ind", "concern_low", "fail") == (
        "A, Ind: Concern (special cause, low); Target consistently missed")
    assert mdc.cell_words("A", "Ind", None, None) == "A, Ind: Too few points to judge"


def test_most_concerning_first_and_links() -> None:
    rows, members = _rows(4)
    text = _texts(mdc.matrix(rows, members))
    # the indicator with concerns comes first, and the member with one (M001) first
    assert text.index("Hot indicator") < text.index("Calm indicator")
    assert text.index("Member 1 (M001)") < text.index("Member 0 (M000)")
    # the improving member (M000) last: an improvement counts against concern
    assert text.index("Member 0 (M000)") > text.index("Member 3 (M003)")
    assert "/organisations/M001/indicators/hot" in text
    assert "Member 1, Hot indicator: Concern (special cause, low); Target consistently missed" \
        in text
    assert "visually-hidden" in text
    assert "Showing the" not in text
    assert "no SPC icons" not in text
    # a network whose series are all too short: no icons, and a sentence saying why
    short = rows.assign(spc_variation=None, spc_assurance=None)
    text = _texts(mdc.matrix(short, members))
    assert "there are no SPC icons (Making Data Count)" in text
    assert text.count("data:image/svg+xml") == 6  # only the key's six icons


def test_a_large_network_is_limited_with_a_note() -> None:
    rows, members = _rows(130)
    text = _texts(mdc.matrix(rows, members))
    assert f"Showing the {mdc.MAX_MEMBERS} members with the most concerning icons of 130" in text
    assert text.count("scope='col'") == mdc.MAX_MEMBERS + 1
    # the members shown are the first 30 of those with a concern (every third from M001)
    assert "Member 88 (M088)" in text
    assert "Member 91 (M091)" not in text
    assert "Member 2 (M002)" not in text
