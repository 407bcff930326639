"""Chart images for slides: plotly figures to PNG through kaleido 1.x and a local Chromium.

Why it is built this way (measured on the project machine, see ../shared/STACK.md):

* kaleido 1.x drives a Chrome/Chromium it finds on ``PATH`` (Debian's ``/usr/bin/chromium``) or
  at ``BROWSER_PATH``; its download helper needs the internet, so we never call it. The browser
  can also be named with ``QIDASH_CHROMIUM_PATH``.
* Starting Chromium costs about 3 s, so **one browser per process** is started on first use
  and reused for every chart, driven by kaleido's asyncio API on an event loop in a daemon
  thread (:class:`_Renderer`); any thread may submit a chart and wait for its image.
* kaleido reloads its page (and so re-parses plotly.js) after every image: about 0.45 s per
  chart on this machine, more than most charts take to draw. :class:`_ReusingKaleido` puts the
  tab back without that reload and reloads it every :data:`RELOAD_EVERY` images, and after a
  failed one, instead: a 30-chart pack's images went from 20.3 s to 5.6 s, byte for byte
  identical (all 30 compared).
* MathJax is turned off: by default kaleido's page fetches it from a CDN, which fails offline
  and doubles render time.
* Images are 1600x900 px (16:9, the slide's chart area at projector resolution); a chart that
  does not render raises :class:`RenderError` with a message that says what to do, and callers
  write nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import threading
from concurrent.futures import Future
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Default image size in CSS pixels: 16:9, crisp on a 1080p projector once placed on a slide.
WIDTH = 1600
HEIGHT = 900

#: a tab is reloaded (plotly.js parsed afresh) after this many images, to bound its memory
RELOAD_EVERY = 50
#: seconds one image may take before it is given up
RENDER_TIMEOUT = 90.0

_lock = threading.RLock()
_renderer: _Renderer | None = None


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


def _reusing_kaleido_class() -> type:
    """kaleido's ``Kaleido`` with tabs reused between images (see the module docstring)."""
    import kaleido

    class _ReusingKaleido(kaleido.Kaleido):
        _uses: dict[int, int]  # images drawn per tab since its last reload

        async def _return_kaleido_tab(self, tab: Any) -> None:
            uses = self.__dict__.setdefault("_uses", {})
            uses[id(tab)] = uses.get(id(tab), 0) + 1
            if uses[id(tab)] < RELOAD_EVERY:
                await self.tabs_ready.put(tab)
                return
            uses[id(tab)] = 0
            await super()._return_kaleido_tab(tab)  # reloads, then puts it back

        async def reload_all(self) -> None:
            """Reload every idle tab (after a failed image: its page may be broken)."""
            for _ in range(self.tabs_ready.qsize()):
                tab = await self.tabs_ready.get()
                try:
                    await tab.reload()
                finally:
                    await self.tabs_ready.put(tab)

    if not hasattr(kaleido.Kaleido, "_return_kaleido_tab"):  # a kaleido that works otherwise
        return kaleido.Kaleido
    return _ReusingKaleido


class _Renderer:
    """One Chromium (through kaleido) on an asyncio loop in a daemon thread."""

    def __init__(self, browser: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.kaleido: Any = None
        self.thread = threading.Thread(target=self._run, args=(browser,), daemon=True,
                                       name="qidash-renderer")
        self.thread.start()
        if not self._ready.wait(timeout=120):
            raise RuntimeError("Chromium did not start within 120 s")
        if self._error is not None:
            raise self._error

    def _run(self, browser: str) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve(browser))
        finally:
            self.loop.close()

    async def _serve(self, browser: str) -> None:
        try:
            cls = _reusing_kaleido_class()
            async with cls(n=1, path=browser, mathjax=False, timeout=RENDER_TIMEOUT) as k:
                self.kaleido = k
                self._stop = asyncio.Event()
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # reported to the thread that started us
            self._error = exc
            self._ready.set()

    async def _calc(self, figure: Any, opts: dict[str, Any]) -> bytes:
        try:
            return bytes(await self.kaleido.calc_fig(figure, opts=opts))
        except BaseException:
            if hasattr(self.kaleido, "reload_all"):
                await self.kaleido.reload_all()
            raise

    def submit(self, figure: Any, opts: dict[str, Any]) -> Future[bytes]:
        return asyncio.run_coroutine_threadsafe(self._calc(figure, opts), self.loop)

    def close(self) -> None:
        if self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)


def start_renderer() -> None:
    """Start the one browser this process renders with (idempotent, thread-safe)."""
    global _renderer
    with _lock:
        if _renderer is not None:
            return
        browser = find_browser()
        if browser is None:
            raise RenderError(_no_browser_message())
        # choreographer reads BROWSER_PATH; pass the path explicitly as well.
        os.environ.setdefault("BROWSER_PATH", browser)
        try:
            _renderer = _Renderer(browser)
        except Exception as exc:  # a broken browser install: say which and what to do
            raise RenderError(
                f"cannot start Chromium at {browser} for chart images: {exc}. "
                "Check that it runs (`chromium --headless --version`); no slide pack was written."
            ) from exc
        atexit.register(stop_renderer)


def stop_renderer() -> None:
    """Stop the browser (tests and benchmarks; the process exit also stops it)."""
    global _renderer
    with _lock:
        if _renderer is None:
            return
        _renderer.close()
        _renderer = None


def render_png(
    fig: Any, *, width: int = WIDTH, height: int = HEIGHT, scale: float = 1.0, name: str = "chart"
) -> bytes:
    """Render one plotly figure (``go.Figure`` or its dict) as PNG bytes.

    ``name`` is used in the error message ("the funnel plot for imm_mmr1 ...") so that a failed
    export says which chart failed. Safe to call from several threads at once.
    """
    start_renderer()
    figure = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig
    opts = {"format": "png", "width": width, "height": height, "scale": scale}
    with _lock:
        renderer = _renderer
    if renderer is None:
        raise RenderError(f"could not draw {name}: the renderer was stopped")
    try:
        data = renderer.submit(figure, opts).result(timeout=RENDER_TIMEOUT + 30)
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
