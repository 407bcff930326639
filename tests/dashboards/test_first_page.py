"""The first page built into Dash's layout request (dashboards/app.py ``_first_page``),
against the real sample (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest


def _layout_json(dash_app, referrer: str | None) -> dict:
    client = dash_app.server.test_client()
    headers = {"Referer": referrer} if referrer is not None else {}
    resp = client.get("/_dash-layout", headers=headers, base_url="http://qidash.test")
    assert resp.status_code == 200
    return resp.get_json()


def _by_id(node, cid):
    if isinstance(node, dict):
        props = node.get("props", {})
        if props.get("id") == cid:
            return props
        return _by_id(props.get("children"), cid)
    if isinstance(node, list):
        for child in node:
            hit = _by_id(child, cid)
            if hit is not None:
                return hit
    return None


def test_first_page_comes_in_the_layout(sample, dash_app):
    """The page at the layout request's Referer is built into the layout (no routing round
    trip), its location already set so that dcc.Location reports nothing new."""
    lay = _layout_json(dash_app, "http://qidash.test/indicators/imm_6in1_12m?peers=parent:U33593"
                                 "&confidence=99.8")
    location = _by_id(lay, "_pages_location")
    assert location["pathname"] == "/indicators/imm_6in1_12m"
    assert location["search"] == "?peers=parent:U33593&confidence=99.8"
    content = _by_id(lay, "_pages_content")
    assert _by_id(content["children"], "ind-peers")["value"] == "parent:U33593"
    assert _by_id(content["children"], "ind-confidence")["value"] == 99.8
    assert _by_id(content["children"], "ind-graph")["figure"]["data"]
    assert _by_id(lay, "_pages_store")["data"] == {"title": "Peer comparison - qidash"}
    # the trend page, which the profile's template matches first (as the routing callback does)
    lay = _layout_json(dash_app, "http://qidash.test/organisations/RF4/indicators/ae_4hr")
    assert _by_id(_by_id(lay, "_pages_content")["children"], "trend-graph") is not None


@pytest.mark.parametrize("referrer", [None, "http://elsewhere.example/indicators/ae_4hr",
                                      "http://qidash.test/no/such/page"])
def test_layout_without_a_usable_referrer_leaves_the_page_to_the_router(sample, dash_app,
                                                                         referrer):
    lay = _layout_json(dash_app, referrer)
    assert _by_id(lay, "_pages_content").get("children") is None
    assert "pathname" not in _by_id(lay, "_pages_location")
