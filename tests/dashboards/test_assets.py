"""What the browser downloads: the plotly.js basic bundle, cached assets (no database)."""

from __future__ import annotations

import re
from pathlib import Path

import dashboards

ASSETS = Path(dashboards.__file__).parent / "assets"


def _bundle() -> Path:
    (bundle,) = ASSETS.glob("plotly-basic-*.min.js")
    return bundle


def test_plotly_basic_bundle_matches_plotly_py():
    """The vendored bundle is the plotly.js version plotly.py builds figures for."""
    from plotly.offline import get_plotlyjs_version

    head = _bundle().read_text(encoding="utf-8")[:300]
    m = re.search(r"plotly\.js \(basic - minified\) v(\d+\.\d+\.\d+)", head)
    assert m, "not plotly.js's basic bundle"
    assert m.group(1) == get_plotlyjs_version(), (
        "plotly was upgraded: replace the bundle with plotly.js-basic-dist-min@"
        f"{get_plotlyjs_version()} (npm pack) so figures and renderer agree")


def test_index_loads_the_basic_bundle_and_assets_are_cached(dash_app):
    """The basic bundle is preloaded (assets/qidash.js runs it once the renderer has asked for
    the layout), not a parser-blocking script; the full 4.8 MB bundle is not loaded at all."""
    client = dash_app.server.test_client()
    html = client.get("/").get_data(as_text=True)
    src = re.search(r'<link rel="preload" as="script" id="qidash-plotly" '
                    r'href="(/assets/plotly-basic-[^"]+)"', html)
    assert src, "the basic bundle is not preloaded"
    assert not re.search(r'<script src="[^"]*plotly-basic', html)
    assert "package_data/plotly.min.js" not in html  # the 4.8 MB bundle is not eager
    resp = client.get(src.group(1))
    assert resp.status_code == 200
    assert "max-age=31536000" in resp.headers["Cache-Control"]
    assert "?m=" in src.group(1)  # the URL changes with the file, so the long cache is safe


def test_ag_grid_loads_only_where_a_grid_is_shown(dash_app):
    """Every page carries the small loader, not ag-grid's 1.3 MB bundle; the bundle is still
    served, fingerprinted and cached, at the URL the loader reads from the page."""
    client = dash_app.server.test_client()
    html = client.get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert not [s for s in scripts if "dash_ag_grid" in s], "ag-grid is loaded eagerly"
    assert [s for s in scripts if "/assets/qidash-grid.js" in s]
    src = re.search(r'<meta name="qidash-ag-grid" content="([^"]+)"', html)
    assert src
    assert re.search(r"dash_ag_grid\.v[\w]+m\d+\.min\.js$", src.group(1))
    resp = client.get(src.group(1))
    assert resp.status_code == 200
    assert len(resp.data) > 100_000
    assert "max-age=31536000" in resp.headers["Cache-Control"]


def test_no_babel_polyfill_but_the_regenerator_runtime_before_the_renderer(dash_app):
    """@babel/polyfill is left out (slow, and it replaces native parseInt and trim); the
    regeneratorRuntime global Dash's bundles use comes before the renderer starts them."""
    html = dash_app.server.test_client().get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert not [s for s in scripts if "polyfill" in s]
    names = [s.rsplit("/", 1)[-1] for s in scripts]
    runtime = next(i for i, s in enumerate(names) if s.startswith("regenerator-runtime-"))
    renderer = next(i for i, s in enumerate(names) if s.startswith("dash_renderer."))
    assert runtime < renderer
    assert "react@18" in scripts[0]  # the rest of Dash's dependencies are still first
