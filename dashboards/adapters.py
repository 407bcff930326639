"""Turn the core services' results into the frames the figure builders and tables take.

Formatting only: which rows, which names, which words. Significance, limits and ranks all come
from ``core.stats`` through the services; nothing here computes a statistic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from core.db import session_scope
from core.errors import NotFound, QidashError
from dashboards import figures

log = logging.getLogger("qidash.dashboards")

T = TypeVar("T")

COMPARISON_WORDS = {
    "better": "Significantly better",
    "similar": "Similar",
    "worse": "Significantly worse",
    "higher": "Significantly higher",
    "lower": "Significantly lower",
    "not_compared": "Not compared",
}


class ViewError(Exception):
    """A message to show in place of a view (bad parameter, unknown code, no data), with
    ``links`` (label, page path) to go on from there, e.g. the codes the user may have
    meant."""

    def __init__(self, message: str, links: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.links = links or []


def _names(entity: str, keys: list[str]) -> dict[str, str]:
    """Names of indicators or organisations by id/code (for links in a message); empty when
    they cannot be read."""
    from sqlalchemy import select

    from core.models import Indicator, Organisation

    table = Indicator if entity == "indicator" else Organisation
    key = Indicator.id if entity == "indicator" else Organisation.code
    try:
        with session_scope() as s:
            return {str(k): str(n) for k, n in s.execute(
                select(key, table.name).where(key.in_(keys))).all()}
    except Exception:  # the message still stands without names
        log.exception("names for an error message")
        return {}


def _view_error(exc: QidashError) -> ViewError:
    """The service's error in the dashboards' words: an unknown indicator or organisation
    links to the pages of the ones that exist, by name (the API's message names API
    paths)."""
    if isinstance(exc, NotFound) and exc.entity in ("indicator", "organisation"):
        valid = [str(v) for v in exc.details.get("valid") or []]
        names = _names(exc.entity, valid) if valid else {}

        def label(v: str) -> str:
            return f"{names[v]} ({v})" if v in names else v

        if exc.entity == "indicator":
            return ViewError(
                f"There is no indicator {exc.key!r}. Choose one on the start page"
                + (", or one of these:" if valid else "."),
                [(label(v), f"/indicators/{v}") for v in valid])
        return ViewError(
            f"There is no organisation {exc.key!r}. Search by name or code on the start page"
            + (", or try one of these similar codes:" if valid else "."),
            [(label(v), f"/organisations/{v}") for v in valid])
    return ViewError(exc.message)


def read(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, ...)`` in one read transaction; expected errors become :class:`ViewError`.

    The Dash callback is the edge: it owns the session. An unexpected error is logged with its
    traceback and shown as a plain sentence (never a traceback in the page).
    """
    try:
        with session_scope() as s:
            return fn(s, *args, **kwargs)
    except QidashError as exc:
        raise _view_error(exc) from exc
    except ViewError:
        raise
    except Exception as exc:  # the page must still answer; the log keeps the detail
        log.exception("dashboard view failed")
        raise ViewError(
            "Something went wrong while reading the data for this view. The error has been "
            "logged; try another selection or tell your analyst."
        ) from exc


def comparison_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Comparison service rows -> :func:`dashboards.figures.comparison_figure` input."""
    return rows.rename(columns={"lower_ci": "lower", "upper_ci": "upper"})


def funnel_verdicts(flags: pd.Series, polarity: str, confidence: float) -> pd.Series:
    """Funnel flags (``above_998`` ... ``below_998``) -> better / similar / worse words.

    At 95% a point beyond either limit counts; at 99.8% only beyond the outer limit. For "no
    judgement" indicators the words are higher / lower.
    """
    outer = confidence >= 99
    above = flags.isin(["above_998"] if outer else ["above_95", "above_998"])
    below = flags.isin(["below_998"] if outer else ["below_95", "below_998"])
    hi, lo = {"higher_is_better": ("better", "worse"), "lower_is_better": ("worse", "better")}.get(
        polarity, ("higher", "lower"))
    out = pd.Series("similar", index=flags.index, dtype=object)
    out[above] = hi
    out[below] = lo
    out[flags.isna() | ~flags.isin(["above_998", "above_95", "within", "below_95",
                                    "below_998"])] = "not_compared"
    return out


def comparison_table(rows: pd.DataFrame, meta: Any) -> pd.DataFrame:
    """Readable table/CSV of a comparison (names first, numbers rounded to the decimals)."""
    d = int(getattr(meta, "decimals", 1) or 1)
    out = pd.DataFrame({
        "Rank": rows["rank"],
        "Organisation": rows["org_name"],
        "Code": rows["org_code"],
        "Value": rows["value"].round(d),
        "Lower CI": rows["lower_ci"].round(d),
        "Upper CI": rows["upper_ci"].round(d),
        "Numerator": rows["numerator"],
        "Denominator": rows["denominator"],
        "Compared with benchmark": rows["comparison"].map(COMPARISON_WORDS).fillna(
            "Not compared"),
        "Meets target": rows["meets_target"].map({True: "Yes", False: "No"}),
    })
    if "disclosure" in rows:  # disclosure control: why a row shows no value
        out["Note"] = rows["disclosure"].to_numpy()
    return out


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def summary_sentence(rows: pd.DataFrame, benchmark_label: str, benchmark: float,
                     meta: Any, confidence: float) -> str:
    """One plain-English sentence: how many are better, similar, worse than the benchmark,
    e.g. "Against the peer average (94.5%) at 95% confidence: 3 organisations are
    significantly better, 70 similar and 7 significantly worse." """
    counts = rows["comparison"].value_counts()
    bench = figures.format_value(benchmark, meta.decimals, meta.unit)
    found = [(int(counts.get(k, 0)), w) for k, w in
             (("better", "significantly better"), ("similar", "similar"),
              ("worse", "significantly worse"), ("higher", "significantly higher"),
              ("lower", "significantly lower")) if counts.get(k, 0)]
    nc = int(counts.get("not_compared", 0))
    head = f"Against {benchmark_label} ({bench}) at {confidence:g}% confidence: "
    if not found:
        body = "no organisation could be compared"
    elif len(found) == 1:
        k, w = found[0]
        body = (f"the one organisation is {w}" if k == 1 else
                f"all {k:,} organisations are {w}")
    else:
        k, w = found[0]
        first = f"{k:,} organisation{'' if k == 1 else 's'} {'is' if k == 1 else 'are'} {w}"
        body = _and([first] + [f"{k:,} {w}" for k, w in found[1:]])
    tail = (f"; {nc:,} {'is' if nc == 1 else 'are'} not compared (suppressed or no counts)"
            if nc and found else "")
    return head + body + tail + "."


def funnel_summary_sentence(verdicts: pd.Series, centre: float, meta: Any, confidence: float,
                            widened: bool) -> str:
    """The funnel view's sentence: its own verdicts (limits around the pooled value), which
    are not the ranked bars' (each interval against the benchmark): with overdispersion the
    two can differ a lot, so the funnel view never shows the bars' counts."""
    counts = verdicts.value_counts()
    n = int(len(verdicts) - counts.get("not_compared", 0))
    limits = "99.8%" if confidence >= 99 else "95%"
    parts = [f"{int(counts.get(k, 0))} {w}" for k, w in
             (("better", "above them (significantly better)" if meta.polarity
               == "higher_is_better" else "below them (significantly better)"),
              ("worse", "below them (significantly worse)" if meta.polarity
               == "higher_is_better" else "above them (significantly worse)"),
              ("higher", "above them"), ("lower", "below them")) if counts.get(k, 0)]
    within = int(counts.get("similar", 0))
    centre_text = figures.format_value(centre, meta.decimals, meta.unit)
    text = (f"Of {n:,} organisations on the funnel, {within:,} lie within the {limits} limits "
            f"around the peer average ({centre_text}), where differences could be chance")
    text += ("; " + ", ".join(parts)) if parts else "; none lies outside them"
    return text + (". Limits widened for overdispersion." if widened else ".")


VARIATION_WORDS = {
    "improvement_high": ("Improving (special cause, high)", "improvement"),
    "improvement_low": ("Improving (special cause, low)", "improvement"),
    "concern_high": ("Concern (special cause, high)", "concern"),
    "concern_low": ("Concern (special cause, low)", "concern"),
    "neutral_high": ("Special cause, higher", "neutral"),
    "neutral_low": ("Special cause, lower", "neutral"),
    "common_cause": ("No significant change", "common"),
}
ASSURANCE_WORDS = {
    "pass": ("Target consistently met", "pass"),
    "fail": ("Target consistently missed", "fail"),
    "hit_or_miss": ("Target hit and miss", "common"),
}
POINT_TYPES = {
    "improvement": "special_cause_improvement",
    "concern": "special_cause_concern",
    "neutral": "special_cause_neutral",
}


def variation_words(code: Any) -> tuple[str, str]:
    """Plain words and badge kind for an SPC variation code. No code means the engine judged
    the series too short for an icon (fewer points than the shortest run rule)."""
    if not isinstance(code, str) or not code:
        return ("Too few points to judge", "common")
    return VARIATION_WORDS.get(code, (code.replace("_", " "), "common"))


def assurance_words(code: Any) -> tuple[str, str]:
    """Plain words and badge kind for an SPC assurance code (``("", "")`` when none)."""
    if not isinstance(code, str) or not code:
        return ("", "")
    return ASSURANCE_WORDS.get(code, (code.replace("_", " "), "common"))


def spc_frame(points: pd.DataFrame) -> pd.DataFrame:
    """SPC service points -> :func:`dashboards.figures.spc_figure` input."""
    return pd.DataFrame({
        "x": pd.to_datetime(points["start_date"]),
        "period": points["period"],
        "value": points["value"],
        "mean": points["mean"],
        "lpl": points["lower_limit"],
        "upl": points["upper_limit"],
        "segment": points["segment"],
        "point_type": points["special_cause"].map(POINT_TYPES).fillna("common_cause"),
    })


def spine_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Profile service rows -> :func:`dashboards.figures.spine_figure` input."""
    return rows.rename(columns={"peer_min": "lowest", "peer_q1": "q1", "peer_median": "median",
                                "peer_q3": "q3", "peer_max": "highest"})
