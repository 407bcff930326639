"""Chart images for slides: plotly figures to PNG through kaleido 1.x and a local Chromium.

Why it is built this way (measured on the project machine, see ../shared/STACK.md):

* kaleido 1.x drives a Chrome/Chromium it finds on ``PATH`` (Debian's ``/usr/bin/chromium``) or
  at ``BROWSER_PATH``; its download helper needs the internet, so we never call it. The browser
  can also be named with ``QIDASH_CHROMIUM_PATH``.
* Starting Chromium costs about 3 s, so **one browser per process** is started on first use
  (``kaleido.start_sync_server``) and reused for every chart; each chart then takes 0.1-0.5 s.
* MathJax is turned off: by default kaleido's page fetches it from a CDN, which fails offline
  and doubles render time.
* kaleido's sync server is one queue with one result slot, so calls from several threads (API
  worker threads) could collect each other's images; a lock makes calls one at a time.
* Images are 1600x900 px (16:9, the slide's chart area at projector resolution); a chart that
  does not render raises :class:`RenderError` with a message that says what to do, and callers
  write nothing.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Default image size in CSS pixels: 16:9, crisp on a 1080p projector once placed on a slide.
WIDTH = 1600
HEIGHT = 900

_lock = threading.RLock()
_started = False


class RenderError(RuntimeError):
    """A chart could not be turned into an image; the message says why and what to do."""


def find_browser() -> str | None:
    """The Chromium/Chrome executable kaleido will use, or None when there is none.

    Order: ``QIDASH_CHROMIUM_PATH`` (settings), ``BROWSER_PATH``, then ``chromium``,
    ``chromium-browser``, ``google-chrome`` on ``PATH``.
    """
    from core.settings import get_settings

    configured = get_settings().chromium_path or os.environ.get("BROWSER_PATH")
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


def _no_browser_message() -> str:
    from core.settings import get_settings

    configured = get_settings().chromium_path or os.environ.get("BROWSER_PATH")
    where = f" (configured path {configured!r} is not an executable)" if configured else ""
    return (
        "cannot draw the charts: no Chromium browser found" + where + ". Install it with "
        "`apt-get install -y chromium` or set QIDASH_CHROMIUM_PATH to a Chrome/Chromium "
        "executable; no slide pack was written."
    )


def start_renderer() -> None:
    """Start the one browser this process renders with (idempotent, thread-safe)."""
    global _started
    with _lock:
        if _started:
            return
        browser = find_browser()
        if browser is None:
            raise RenderError(_no_browser_message())
        import kaleido

        # choreographer reads BROWSER_PATH; pass the path explicitly as well.
        os.environ.setdefault("BROWSER_PATH", browser)
        try:
            kaleido.start_sync_server(mathjax=False, path=browser, silence_warnings=True)
        except Exception as exc:  # a broken browser install: say which and what to do
            raise RenderError(
                f"cannot start Chromium at {browser} for chart images: {exc}. "
                "Check that it runs (`chromium --headless --version`); no slide pack was written."
            ) from exc
        _started = True


def stop_renderer() -> None:
    """Stop the browser (tests and benchmarks; the process exit also stops it)."""
    global _started
    with _lock:
        if not _started:
            return
        import kaleido

        kaleido.stop_sync_server(silence_warnings=True)
        _started = False


def render_png(
    fig: Any, *, width: int = WIDTH, height: int = HEIGHT, scale: float = 1.0, name: str = "chart"
) -> bytes:
    """Render one plotly figure (``go.Figure`` or its dict) as PNG bytes.

    ``name`` is used in the error message ("the funnel plot for imm_mmr1 ...") so that a failed
    export says which chart failed.
    """
    start_renderer()
    import kaleido

    figure = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    opts = {"format": "png", "width": width, "height": height, "scale": scale}
    with _lock:
        try:
            data = kaleido.calc_fig_sync(figure, opts=opts)
        except Exception as exc:
            raise RenderError(
                f"could not draw {name}: {type(exc).__name__}: {exc}; no slide pack was written."
            ) from exc
    if not isinstance(data, bytes | bytearray) or not bytes(data).startswith(PNG_MAGIC):
        raise RenderError(f"could not draw {name}: the renderer returned no PNG image")
    return bytes(data)


__all__ = [
    "HEIGHT",
    "WIDTH",
    "RenderError",
    "find_browser",
    "render_png",
    "start_renderer",
    "stop_renderer",
]
