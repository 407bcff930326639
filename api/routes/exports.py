"""Slide pack downloads: ``GET /exports/pack.pptx`` (and ``pack.pdf`` where LibreOffice is
installed), the same pack as ``qidash export pack``.

The dashboards' "Export slides" buttons link here with the page's own parameters, so a pack
exports what is on screen. One contract for every page:

* the organisation: ``org``, or ``network`` (the network page), or ``highlight`` (the
  comparison page: the highlighted organisation); when several are given they must agree,
  except ``highlight`` next to ``org``/``network``, which the pack's own outlines replace;
* ``indicators`` (comma-separated) and/or a single ``indicator``;
* ``period``, ``peers``, ``confidence`` (95 or 99.8: intervals and comparisons);
* ``view`` (chart, funnel, table) is accepted and ignored: a pack always has every view.

Bad parameters get the API's one error shape (404 / 422); a chart that cannot be drawn
(no Chromium) is a 503 that says what to install, never a broken file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import ReaderDep, SessionDep
from api.errors import APIError
from core.errors import InvalidParameter

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from exports.pack import PackResult

router = APIRouter(tags=["exports"])

PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

OrgQuery = Annotated[str | None, Query(description="ODS code of the organisation (PCN, ICB, "
                                       "practice, trust); or give `network` or `highlight`",
                                       examples=["U08235"], max_length=32)]
NetworkQuery = Annotated[str | None, Query(description="The network's code (what the network "
                                           "page passes): the same as `org`", max_length=32)]
HighlightQuery = Annotated[str | None, Query(description="The highlighted organisation (what "
                                             "the comparison page passes): the pack's "
                                             "organisation when `org` is not given",
                                             max_length=32)]
ConfidenceQuery = Annotated[float, Query(description="95 (default) or 99.8: the intervals "
                                         "and the comparison with peers")]
ViewQuery = Annotated[str | None, Query(description="The comparison page's view (chart, "
                                        "funnel, table); accepted and ignored: a pack holds "
                                        "every view", max_length=20)]
PeriodQuery = Annotated[str | None, Query(description="Period label (default: each "
                                          "indicator's latest period with data)",
                                          examples=["2021-22"], max_length=32)]
IndicatorsQuery = Annotated[str | None, Query(description="Comma-separated indicator ids "
                                              "(default: every indicator with data)",
                                              max_length=4000)]
IndicatorQuery = Annotated[str | None, Query(description="One indicator id (what a single-"
                                             "indicator page passes); joins `indicators`",
                                             max_length=100)]
PerMemberQuery = Annotated[bool, Query(description="Add one profile slide per member")]
OdQuery = Annotated[bool, Query(description="Widen the funnel limits for overdispersion "
                                            "(default off, as on the dashboard)")]
PeersQuery = Annotated[str | None, Query(description="parent:CODE, similar:CODE or group:NAME "
                                         "(default: every organisation of the members' type)",
                                         max_length=300)]


def _indicator_list(indicators: str | None, indicator: str | None) -> str | None:
    parts = [p for p in (indicators, indicator) if p and p.strip()]
    if not parts:
        return None
    joined = ",".join(parts)
    if not any(x.strip() for x in joined.split(",")):
        raise InvalidParameter("indicators", "indicators is empty; give ids separated by commas")
    return joined


def pack_org(org: str | None, network: str | None, highlight: str | None) -> str:
    """The pack's organisation from what a page sends (see the module docstring)."""
    given = {k: v.strip() for k, v in (("org", org), ("network", network)) if v and v.strip()}
    if len({v.upper() for v in given.values()}) > 1:
        raise InvalidParameter("network", f"org {given['org']!r} and network "
                               f"{given['network']!r} disagree; give one of them")
    if given:
        return next(iter(given.values()))
    if highlight and highlight.strip():
        return highlight.strip()
    raise InvalidParameter("org", "say whose pack to make: org=CODE (or network=CODE, or "
                           "highlight=CODE from the comparison page)")


class PackParams:
    """The query parameters both pack routes take (one list, so pptx and pdf cannot drift),
    checked and resolved: ``org`` is the pack's organisation, ``indicators`` the joined list."""

    def __init__(
        self,
        org: OrgQuery = None,
        network: NetworkQuery = None,
        highlight: HighlightQuery = None,
        period: PeriodQuery = None,
        indicators: IndicatorsQuery = None,
        indicator: IndicatorQuery = None,
        per_member: PerMemberQuery = False,
        peers: PeersQuery = None,
        confidence: ConfidenceQuery = 95.0,
        view: ViewQuery = None,
        od: OdQuery = False,
    ) -> None:
        self.org = pack_org(org, network, highlight)
        self.period = period
        self.indicators = _indicator_list(indicators, indicator)
        self.per_member = per_member
        self.peers = peers
        self.confidence = confidence
        self.overdispersion = od


PackDep = Annotated[PackParams, Depends()]


def chart_renderer() -> Callable[..., bytes]:
    """The packs' chart renderer: headless Chromium (:func:`exports.render.render_png`).
    A dependency, so that tests override it (``app.dependency_overrides``) with a stub."""
    from exports.render import render_png

    return render_png


RendererDep = Annotated[Callable[..., bytes], Depends(chart_renderer)]


def _make(session: Session, pack: PackParams, render: Callable[..., bytes]) -> PackResult:
    from exports.pack import build_pack
    from exports.render import RenderError

    try:
        return build_pack(session, org_code=pack.org, period=pack.period,
                          indicators=pack.indicators, per_member=pack.per_member,
                          peers=pack.peers, confidence=pack.confidence,
                          overdispersion=pack.overdispersion, render=render)
    except RenderError as exc:
        raise APIError(503, str(exc), code="render_unavailable") from exc


def _download(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=data, media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                 "Cache-Control": "no-store"},
    )


@router.get(
    "/exports/pack.pptx",
    summary="PowerPoint slide pack for an organisation",
    response_class=Response,
    responses={200: {"content": {PPTX_TYPE: {}}, "description": "The .pptx file"}},
)
def pack_pptx(
    session: SessionDep,
    _caller: ReaderDep,
    pack: PackDep,
    render: RendererDep,
) -> Response:
    """A 16:9 pack: title, summary table, per indicator the peer comparison, funnel and SPC
    charts with a plain-English message and speaker notes, optional member profiles, and the
    methods and loads behind every number."""
    from exports.pack import default_filename

    result = _make(session, pack, render)
    assert result.data is not None
    return _download(result.data, PPTX_TYPE, default_filename(pack.org, pack.period, "pptx"))


@router.get(
    "/exports/pack.pdf",
    summary="The same slide pack as PDF (needs LibreOffice on the server)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF file"}},
)
def pack_pdf(
    session: SessionDep,
    _caller: ReaderDep,
    pack: PackDep,
    render: RendererDep,
) -> Response:
    """The pack converted with LibreOffice; 503 with what to install when it is missing."""
    from exports.pack import default_filename
    from exports.pdf import PdfError, convert_to_pdf, find_soffice

    if find_soffice() is None:
        raise APIError(503, "PDF export needs LibreOffice on the server; download "
                       "pack.pptx instead", code="pdf_unavailable")
    result = _make(session, pack, render)
    assert result.data is not None
    with tempfile.TemporaryDirectory(prefix="qidash-pack-") as tmp:
        src = Path(tmp) / "pack.pptx"
        src.write_bytes(result.data)
        try:
            out = convert_to_pdf(src, Path(tmp) / "pack.pdf")
        except PdfError as exc:
            raise APIError(503, str(exc), code="pdf_unavailable") from exc
        data = out.read_bytes()
    return _download(data, "application/pdf", default_filename(pack.org, pack.period, "pdf"))
