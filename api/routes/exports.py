"""Slide pack downloads: ``GET /exports/pack.pptx`` (and ``pack.pdf`` where LibreOffice is
installed), the same pack as ``qidash export pack``.

The dashboards' "Export slides" buttons link here with the page's own parameters (``org``,
``period``, ``indicators`` or a single ``indicator``, ``peers``), so a pack exports what is on
screen. Bad parameters get the API's one error shape (404 / 422); a chart that cannot be drawn
(no Chromium) is a 503 that says what to install, never a broken file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import ReaderDep, SessionDep
from api.errors import APIError
from core.errors import InvalidParameter

router = APIRouter(tags=["exports"])

PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

OrgQuery = Annotated[str, Query(description="ODS code of the organisation (PCN, ICB, "
                                "practice, trust)", examples=["U08235"], min_length=1,
                                max_length=32)]
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


def _make(session, org, period, indicators, per_member, peers):  # type: ignore[no-untyped-def]
    from exports.pack import build_pack
    from exports.render import RenderError

    try:
        return build_pack(session, org_code=org, period=period, indicators=indicators,
                          per_member=per_member, peers=peers)
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
    org: OrgQuery,
    period: PeriodQuery = None,
    indicators: IndicatorsQuery = None,
    indicator: IndicatorQuery = None,
    per_member: PerMemberQuery = False,
    peers: PeersQuery = None,
) -> Response:
    """A 16:9 pack: title, summary table, per indicator the peer comparison, funnel and SPC
    charts with a plain-English message and speaker notes, optional member profiles, and the
    methods and loads behind every number."""
    from exports.pack import default_filename

    result = _make(session, org, period, _indicator_list(indicators, indicator), per_member,
                   peers)
    assert result.data is not None
    return _download(result.data, PPTX_TYPE, default_filename(org, period, "pptx"))


@router.get(
    "/exports/pack.pdf",
    summary="The same slide pack as PDF (needs LibreOffice on the server)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF file"}},
)
def pack_pdf(
    session: SessionDep,
    _caller: ReaderDep,
    org: OrgQuery,
    period: PeriodQuery = None,
    indicators: IndicatorsQuery = None,
    indicator: IndicatorQuery = None,
    per_member: PerMemberQuery = False,
    peers: PeersQuery = None,
) -> Response:
    """The pack converted with LibreOffice; 503 with what to install when it is missing."""
    from exports.pack import default_filename
    from exports.pdf import PdfError, convert_to_pdf, find_soffice

    if find_soffice() is None:
        raise APIError(503, "PDF export needs LibreOffice on the server; download "
                       "pack.pptx instead", code="pdf_unavailable")
    result = _make(session, org, period, _indicator_list(indicators, indicator), per_member,
                   peers)
    assert result.data is not None
    with tempfile.TemporaryDirectory(prefix="qidash-pack-") as tmp:
        src = Path(tmp) / "pack.pptx"
        src.write_bytes(result.data)
        try:
            out = convert_to_pdf(src, Path(tmp) / "pack.pdf")
        except PdfError as exc:
            raise APIError(503, str(exc), code="pdf_unavailable") from exc
        data = out.read_bytes()
    return _download(data, "application/pdf", default_filename(org, period, "pdf"))
