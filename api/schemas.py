"""Response and request schemas for OpenAPI.

Big responses are serialised with orjson from the services' frames (see
:mod:`api.responses`) and never pass through these models at run time; the models document
their shape (and carry an example) in ``/api/openapi.json``. Small request bodies (groups,
annotations) are validated by them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from api.guard import CleanStr


def _ex(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


def _example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The example a model's :func:`_ex` config holds (to nest it in another model's example)."""
    extra = cast(dict[str, Any], model.model_config["json_schema_extra"])
    return cast(dict[str, Any], extra["examples"][0])


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(description="not_found, invalid_parameter, conflict, not_authenticated, "
                      "permission_denied, payload_too_large, internal_error ...")
    message: str
    details: dict[str, Any] = {}


class ErrorBody(BaseModel):
    """The one error shape of the API."""

    model_config = _ex({"error": {
        "status": 404, "code": "not_found",
        "message": "indicator 'imm' has no values for period '1999-01'; periods with data "
                   "(latest first): 2024-12, 2024-11",
        "details": {"entity": "period", "key": "1999-01", "valid": ["2024-12", "2024-11"]}}})
    error: ErrorDetail


class Period(BaseModel):
    label: str
    period_type: str
    start_date: dt.date
    end_date: dt.date


class OrgBrief(BaseModel):
    code: str
    name: str
    org_type: str


class Peers(BaseModel):
    spec: str | None
    kind: Literal["all", "parent", "similar", "group"]
    label: str
    org_type: str | None
    focus: OrgBrief | None = None
    attributes: list[str] | None = None


class IndicatorMeta(BaseModel):
    id: str
    name: str
    description: str | None = None
    why_it_matters: str | None = None
    value_type: str
    multiplier: float
    polarity: str
    target: float | None = None
    target_label: str | None = None
    thresholds: list[Any] = []
    numerator_label: str | None = None
    denominator_label: str | None = None
    unit: str | None = None
    source: str | None = None
    source_url: str | None = None
    domain: str | None = None
    tags: list[Any] = []
    decimals: int
    frequency: str | None = None
    authored_by: str | None = None
    checked_by: str | None = None
    date_reviewed: dt.date | None = None


# organisations ------------------------------------------------------------------------------


class OrganisationItem(BaseModel):
    code: str
    name: str
    org_type: str
    parent_code: str | None
    parent_name: str | None
    is_active: bool


class OrganisationPage(BaseModel):
    model_config = _ex({"total": 1, "limit": 100, "offset": 0, "items": [
        {"code": "H82009", "name": "Park Surgery", "org_type": "practice",
         "parent_code": "U12345", "parent_name": "Central Worthing PCN", "is_active": True}]})
    total: int
    limit: int
    offset: int
    items: list[OrganisationItem]


class OrganisationChild(BaseModel):
    code: str
    name: str
    org_type: str
    is_active: bool


class OrganisationDetail(BaseModel):
    model_config = _ex({
        "code": "U12345", "name": "Central Worthing PCN", "org_type": "pcn", "is_active": True,
        "attributes": {}, "parent": {"code": "70F", "name": "West Sussex", "org_type": "sub_icb"},
        "ancestors": [{"code": "70F", "name": "West Sussex", "org_type": "sub_icb"}],
        "children": [{"code": "H82009", "name": "Park Surgery", "org_type": "practice",
                      "is_active": True}]})
    code: str
    name: str
    org_type: str
    is_active: bool
    attributes: dict[str, Any]
    parent: OrgBrief | None
    ancestors: list[OrgBrief] = Field(description="parents, nearest first")
    children: list[OrganisationChild]


# indicators ---------------------------------------------------------------------------------


class IndicatorItem(BaseModel):
    id: str
    name: str
    domain: str | None
    value_type: str
    multiplier: float
    polarity: str
    target: float | None
    unit: str | None
    decimals: int
    frequency: str | None
    source: str | None
    latest_period: str | None
    periods: int
    organisations: int


class IndicatorList(BaseModel):
    model_config = _ex({"items": [{
        "id": "imm_mmr1_24m", "name": "MMR1 at 24 months", "domain": "Childhood immunisation",
        "value_type": "proportion", "multiplier": 100.0, "polarity": "higher_is_better",
        "target": 95.0, "unit": "%", "decimals": 1, "frequency": "financial_year",
        "source": "NHS England", "latest_period": "2022-23", "periods": 3,
        "organisations": 81}]})
    items: list[IndicatorItem]


class IndicatorDetail(IndicatorMeta):
    model_config = _ex({
        "id": "imm", "name": "Childhood immunisation", "value_type": "proportion",
        "multiplier": 100.0, "polarity": "higher_is_better", "target": 95.0,
        "target_label": "95% standard", "decimals": 1, "frequency": "month",
        "periods": [{"label": "2024-12", "period_type": "month", "start_date": "2024-12-01",
                     "end_date": "2024-12-31"}],
        "latest_period": "2024-12", "org_types": {"practice": 81}})
    periods: list[Period] = Field(description="periods with data, oldest first")
    latest_period: str | None
    org_types: dict[str, int] = Field(description="organisations with values, by type")


# comparison ---------------------------------------------------------------------------------


class Benchmark(BaseModel):
    kind: Literal["peers", "organisation", "target"]
    label: str
    value: float | None
    code: str | None = None


class ComparisonRow(BaseModel):
    org_code: str
    org_name: str
    numerator: float | None
    denominator: float | None
    value: float | None
    lower_ci: float | None
    upper_ci: float | None
    rank: int | None = Field(description="1 = best by polarity")
    percentile: float | None = Field(description="percent rank of the value, 0-100")
    quartile: int | None = Field(description="1 = best quartile")
    decile: int | None = Field(description="1 = best decile")
    comparison: Literal["better", "similar", "worse", "not_compared"]
    meets_target: bool | None


class Comparison(BaseModel):
    model_config = _ex({
        "indicator": {"id": "imm", "name": "Childhood immunisation", "value_type": "proportion",
                      "multiplier": 100, "polarity": "higher_is_better", "target": 95,
                      "decimals": 1},
        "period": {"label": "2024-12", "period_type": "month", "start_date": "2024-12-01",
                   "end_date": "2024-12-31"},
        "peers": {"spec": "parent:PCN1", "kind": "parent", "label": "practice organisations "
                  "in Network 1", "org_type": "practice"},
        "confidence": 95.0,
        "benchmark": {"kind": "peers", "label": "practice organisations in Network 1 (pooled)",
                      "value": 91.4, "code": None},
        "n": 3, "quartiles": {"q1": 89.6, "median": 92.1, "q3": 94.2},
        "deciles": [88.8, 89.2, 89.6, 90.4, 92.1, 92.9, 93.6, 94.2, 94.9],
        "rows": [{"org_code": "A81001", "org_name": "Practice A81001", "numerator": 40,
                  "denominator": 42, "value": 95.24, "lower_ci": 84.21, "upper_ci": 98.68,
                  "rank": 1, "percentile": 100.0, "quartile": 1, "decile": 1,
                  "comparison": "similar", "meets_target": True}]})
    indicator: IndicatorMeta
    period: Period
    peers: Peers
    confidence: float
    benchmark: Benchmark
    n: int = Field(description="organisations with a value")
    quartiles: dict[str, float | None]
    deciles: list[float | None]
    rows: list[ComparisonRow]


class FunnelLimit(BaseModel):
    denominator: float
    lower_95: float | None
    upper_95: float | None
    lower_998: float | None
    upper_998: float | None
    centre: float | None


class FunnelRow(BaseModel):
    org_code: str
    org_name: str
    numerator: float | None
    denominator: float | None
    value: float | None
    lower_95: float | None
    upper_95: float | None
    lower_998: float | None
    upper_998: float | None
    flag: Literal["above_998", "above_95", "within", "below_95", "below_998"] | None


class Funnel(BaseModel):
    model_config = _ex({
        "indicator": {"id": "imm"}, "period": {"label": "2024-12"}, "target": 88.5,
        "overdispersion": True, "phi": 2.23, "tau2": 0.0045,
        "method": "FunnelPlotR arcsine-sqrt, additive random effects",
        "limits": [{"denominator": 50, "lower_95": 76.1, "upper_95": 96.3, "lower_998": 70.2,
                    "upper_998": 98.4, "centre": 88.5}],
        "rows": [{"org_code": "A81001", "org_name": "Practice A81001", "numerator": 40,
                  "denominator": 42, "value": 95.2, "lower_95": 75.9, "upper_95": 97.1,
                  "lower_998": 68.4, "upper_998": 99.0, "flag": "within"}]})
    indicator: IndicatorMeta
    period: Period
    peers: Peers
    target: float | None = Field(description="the centre line (pooled value)")
    overdispersion: bool = Field(description="true when the limits are the adjusted ones")
    overdispersion_requested: bool
    phi: float | None
    tau2: float | None
    method: str
    limits: list[FunnelLimit]
    rows: list[FunnelRow]


class OpportunityRow(BaseModel):
    org_code: str
    org_name: str
    parent_code: str | None
    numerator: float | None
    denominator: float | None
    value: float | None
    level: float | None
    gap: float
    extra: float = Field(description="patients who would move if the organisation reached "
                         "the level")


class OpportunityParent(BaseModel):
    parent_code: str | None
    parent_name: str | None
    extra: float
    n_orgs: int
    orgs_for_half: int


class Opportunity(BaseModel):
    model_config = _ex({
        "indicator": {"id": "imm"}, "period": {"label": "2024-12"}, "level_name": "target",
        "level": 95.0, "total": 54.3, "orgs_for_half": 2, "n_below_level": 9,
        "by_parent": [{"parent_code": "PCN2", "parent_name": "Network 2", "extra": 36.6,
                       "n_orgs": 4, "orgs_for_half": 2}],
        "rows": [{"org_code": "A81005", "org_name": "Practice A81005", "parent_code": "PCN2",
                  "numerator": 97, "denominator": 118, "value": 82.2, "level": 95.0,
                  "gap": 12.8, "extra": 15.1}]})
    indicator: IndicatorMeta
    period: Period
    peers: Peers
    level_name: Literal["median", "upper_quartile", "best_decile", "target"]
    level: float | None
    total: float
    orgs_for_half: int = Field(description="fewest organisations holding half the total")
    n_below_level: int
    by_parent: list[OpportunityParent]
    rows: list[OpportunityRow]


# SPC and profile ----------------------------------------------------------------------------


class SPCPoint(BaseModel):
    period: str
    start_date: dt.date
    value: float | None
    numerator: float | None
    denominator: float | None
    mean: float | None
    lower_limit: float | None
    upper_limit: float | None
    near_lower: float | None
    near_upper: float | None
    special_cause: Literal["improvement", "concern", "neutral", "none"]
    rule: Literal["outside_limits", "trend", "two_of_three", "shift"] | None
    segment: int


class Annotation(BaseModel):
    model_config = _ex({"id": 1, "date": "2024-04-01", "text": "New recall system",
                        "author": "analyst-1", "created_at": "2024-05-02T10:00:00Z",
                        "org_code": "A81001", "indicator_id": "imm"})
    id: int
    date: dt.date
    text: str
    author: str | None
    created_at: dt.datetime | None = None
    org_code: str | None = None
    indicator_id: str | None = None


class RunChart(BaseModel):
    """Anhoej run-chart analysis of the series about its median (qicharts2 runs.analysis)."""

    centre: float | None
    n_useful: int
    longest_run: int
    longest_run_max: int
    n_crossings: int
    n_crossings_min: int
    runs_signal: bool
    sentence: str


class RebaseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "org": "RXX", "indicator": "ae", "period": "2021-01",
            "reason": "sustained shift after the triage nurse started", "action_id": 1}]},
    )
    org: CleanStr = Field(min_length=1, max_length=32)
    indicator: CleanStr = Field(min_length=1, max_length=100)
    period: CleanStr = Field(min_length=1, max_length=32,
                             description="the period the new limits start")
    period_type: Literal["month", "quarter", "financial_year", "year"] | None = Field(
        None, description="the series' period type (default: the finest it has)")
    reason: CleanStr | None = Field(None, max_length=500)
    action_id: int | None = Field(None, ge=1, le=2**31 - 1,
                                  description="the improvement action the change followed")


class RebaseRow(BaseModel):
    model_config = _ex({"id": 1, "org": "RXX", "indicator": "ae", "period_type": "month",
                        "period": "2021-01", "reason": "after the action: Triage nurse",
                        "action_id": 1, "accepted_by": "analyst-1",
                        "accepted_at": "2026-12-03T02:40:00Z", "withdrawn_by": None,
                        "withdrawn_at": None, "active": True})
    id: int
    org: str
    indicator: str
    period_type: str
    period: str
    reason: str | None
    action_id: int | None
    accepted_by: str | None
    accepted_at: dt.datetime
    withdrawn_by: str | None
    withdrawn_at: dt.datetime | None
    active: bool


class RebaseList(BaseModel):
    items: list[RebaseRow]


class SPC(BaseModel):
    model_config = _ex({
        "organisation": {"code": "A81001", "name": "Practice A81001", "org_type": "practice"},
        "indicator": {"id": "imm"}, "period_type": "month",
        "period_types": ["month", "financial_year"], "chart": "xmr",
        "improvement_direction": "increase", "screen_outliers": True, "fix_after": None,
        "rebase": [], "target": 95.0, "variation": "common_cause", "assurance": "hit_or_miss",
        "warnings": [], "n_points": 24, "limits_note": None,
        "run_chart": {"centre": 91.2, "n_useful": 24, "longest_run": 4, "longest_run_max": 8,
                      "n_crossings": 11, "n_crossings_min": 8, "runs_signal": False,
                      "sentence": "Run chart (median, Anhoej rules): longest run 4 (more than "
                                  "8 would signal), 11 crossings of the median (fewer than 8 "
                                  "would signal): no signal of change."},
        "annotations": [],
        "points": [{"period": "2024-12", "start_date": "2024-12-01", "value": 95.2,
                    "numerator": 40, "denominator": 42, "mean": 90.3, "lower_limit": 83.1,
                    "upper_limit": 97.5, "near_lower": 85.5, "near_upper": 95.1,
                    "special_cause": "none", "rule": None, "segment": 0}]})
    organisation: OrgBrief
    indicator: IndicatorMeta
    period_type: str
    period_types: list[str]
    chart: Literal["xmr", "p"]
    improvement_direction: Literal["increase", "decrease", "neutral"]
    screen_outliers: bool
    fix_after: int | None
    rebase: list[str]
    target: float | None
    variation: str | None = Field(description="improvement_high|low, concern_high|low, "
                                  "neutral_high|low, common_cause")
    assurance: Literal["pass", "fail", "hit_or_miss"] | None
    warnings: list[str]
    n_points: int = Field(description="values in the series (missing periods not counted)")
    limits_note: str | None = Field(description="set when the series is too short for process "
                                    "limits (fewer than 12 values): it is a run chart, with no "
                                    "limits, classes or icons")
    run_chart: RunChart | None
    annotations: list[Annotation]
    actions: list[dict[str, Any]] = Field(
        [], description="improvement actions with their effect (see /actions)")
    accepted_rebases: list[RebaseRow] = Field(
        [], description="the accepted rebases (see /rebases) applied to this chart, with who "
                        "accepted them and when")
    points: list[SPCPoint]


class ProfileRow(BaseModel):
    indicator_id: str
    indicator_name: str
    domain: str | None
    polarity: str
    unit: str | None
    decimals: int
    period: str
    period_type: str
    numerator: float | None
    denominator: float | None
    value: float | None
    lower_ci: float | None
    upper_ci: float | None
    benchmark: float | None
    comparison: str
    rank: int | None
    n_peers: int
    percentile: float | None
    peer_min: float | None
    peer_q1: float | None
    peer_median: float | None
    peer_q3: float | None
    peer_max: float | None
    target: float | None
    meets_target: bool | None
    spc_variation: str | None
    spc_assurance: str | None
    opportunity_level: str | None
    opportunity: float | None


class Profile(BaseModel):
    model_config = _ex({
        "organisation": {"code": "A81001", "name": "Practice A81001", "org_type": "practice"},
        "peers": "all practice organisations", "confidence": 95.0, "level": "median",
        "rows": [{"indicator_id": "imm", "indicator_name": "Childhood immunisation",
                  "domain": "Children", "polarity": "higher_is_better", "unit": "%",
                  "decimals": 1, "period": "2024-12", "period_type": "month",
                  "numerator": 40, "denominator": 42, "value": 95.2, "lower_ci": 84.2,
                  "upper_ci": 98.7, "benchmark": 88.5, "comparison": "similar", "rank": 1,
                  "n_peers": 10, "percentile": 100.0, "peer_min": 71.2, "peer_q1": 83.4,
                  "peer_median": 90.4, "peer_q3": 93.4, "peer_max": 95.2, "target": 95.0,
                  "meets_target": True, "spc_variation": "common_cause",
                  "spc_assurance": "hit_or_miss", "opportunity_level": "median",
                  "opportunity": 0.0}]})
    organisation: OrgBrief
    peers: str
    confidence: float
    level: str
    rows: list[ProfileRow]


class TriageRow(BaseModel):
    indicator_id: str
    indicator_name: str
    period: str
    org_code: str
    org_name: str
    value: float | None
    lower_ci: float | None
    upper_ci: float | None
    benchmark: float | None
    comparison: str
    spc_variation: str | None
    spc_special_cause: str | None
    spc_assurance: str | None
    meets_target: bool | None
    significantly_worse: bool
    special_cause_concern: bool
    failing_target: bool
    flags: list[str]


class TriageSummary(BaseModel):
    indicator_id: str
    indicator_name: str
    period: str
    network_value: float | None
    benchmark: float | None
    target: float | None
    members: int
    significantly_worse: int
    special_cause_concern: int
    failing_target: int
    flagged: int


class Triage(BaseModel):
    model_config = _ex({
        "network": {"code": "PCN2", "name": "Network 2", "org_type": "pcn"},
        "member_type": "practice",
        "members": [{"code": "A81004", "name": "Practice A81004"}],
        "summary": [{"indicator_id": "imm", "indicator_name": "Childhood immunisation",
                     "period": "2024-12", "network_value": 83.1, "benchmark": 88.5,
                     "target": 95.0, "members": 4, "significantly_worse": 2,
                     "special_cause_concern": 0, "failing_target": 4, "flagged": 6}],
        "rows": [{"indicator_id": "imm", "indicator_name": "Childhood immunisation",
                  "period": "2024-12", "org_code": "A81005", "org_name": "Practice A81005",
                  "value": 82.2, "lower_ci": 74.3, "upper_ci": 88.1, "benchmark": 88.5,
                  "comparison": "worse", "spc_variation": "common_cause",
                  "spc_special_cause": "none", "meets_target": False,
                  "significantly_worse": True, "special_cause_concern": False,
                  "failing_target": True,
                  "flags": ["significantly_worse", "failing_target"]}]})
    network: OrgBrief
    member_type: str
    members: list[dict[str, str]]
    summary: list[TriageSummary]
    rows: list[TriageRow]


# groups, annotations, loads, health ---------------------------------------------------------


class GroupIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Worthing locality",
                                         "description": "Practices in Worthing",
                                         "members": ["A81001", "A81002", "A81004"]}]},
    )
    name: CleanStr = Field(min_length=1, max_length=200)
    description: CleanStr | None = Field(None, max_length=2000)
    members: list[CleanStr] = Field(min_length=1, max_length=10000,
                                    description="organisation codes")


class Group(BaseModel):
    model_config = _ex({"name": "Worthing locality", "description": "Practices in Worthing",
                        "created_by": "analyst-1", "created_at": "2024-05-02T10:00:00Z",
                        "size": 1, "members": [{"code": "A81001", "name": "Practice A81001",
                                                "org_type": "practice"}]})
    name: str
    description: str | None
    created_by: str | None
    created_at: dt.datetime | None
    size: int
    members: list[OrgBrief]


class GroupList(BaseModel):
    model_config = _ex({"items": [_example_of(Group)]})
    items: list[Group]


class AnnotationIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"org": "A81001", "indicator": "imm",
                                         "date": "2024-04-01", "text": "New recall system"}]},
    )
    org: CleanStr | None = Field(None, description="organisation code (omit for every "
                                 "organisation)")
    indicator: CleanStr | None = Field(None, description="indicator id (omit for every "
                                       "indicator)")
    date: dt.date
    text: CleanStr = Field(min_length=1, max_length=2000)


class AnnotationList(BaseModel):
    model_config = _ex({"items": [_example_of(Annotation)]})
    items: list[Annotation]


class LoadRow(BaseModel):
    model_config = _ex({"id": 3, "file_name": "values.csv", "sha256": "9f2c...",
                        "kind": "values", "format": "canonical", "user": "analyst-1",
                        "started_at": "2024-05-02T10:00:00Z",
                        "finished_at": "2024-05-02T10:00:02Z", "status": "loaded",
                        "rows_read": 1200, "rows_inserted": 1180, "rows_updated": 20,
                        "rows_unchanged": 0, "rows_rejected": 0, "message": None,
                        "reverted_at": None})
    id: int
    file_name: str
    sha256: str
    kind: str
    format: str
    user: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    status: str
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_rejected: int
    message: str | None
    reverted_at: dt.datetime | None


class LoadList(BaseModel):
    model_config = _ex({"items": [_example_of(LoadRow)]})
    items: list[LoadRow]


class RejectedRow(BaseModel):
    line: int | str | None
    sheet: str | None = None
    column: str | None
    value: str | None
    message: str


class LoadDetail(LoadRow):
    model_config = _ex({**_example_of(LoadRow),
                        "status": "loaded", "rows_rejected": 1, "errors_total": 1,
                        "errors": [{"line": 3, "sheet": None, "column": "org_code",
                                    "value": "ZZZ99", "message": "unknown organisation "
                                    "'ZZZ99'; load it first or correct the code"}]})
    errors_total: int
    errors: list[RejectedRow]


class LoadResult(BaseModel):
    model_config = _ex({"load_id": 4, "status": "rejected", "dry_run": False, "rows_read": 3,
                        "rows_inserted": 0, "rows_updated": 0, "rows_unchanged": 0,
                        "rows_rejected": 1, "errors": [{
                            "line": 3, "column": "denominator", "value": "-4",
                            "message": "denominator must be 0 or more"}],
                        "preview": {}, "message": "1 invalid row: nothing was loaded"})
    load_id: int | None
    status: str = Field(description="loaded, unchanged or rejected")
    dry_run: bool
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_rejected: int
    errors: list[RejectedRow]
    preview: dict[str, Any] = {}
    message: str | None = None


class Freshness(BaseModel):
    model_config = _ex({
        "last_load": None, "indicators": 3, "values": 600,
        "periods": [{"period_type": "month", "first": "2023-01", "last": "2024-12",
                     "count": 24}],
        "last_values_load": None, "changes": [{"indicator_id": "imm", "inserted": 240,
                                               "updated": 0}]})
    last_load: LoadRow | None
    indicators: int
    values: int
    periods: list[dict[str, Any]]
    last_values_load: LoadRow | None
    changes: list[dict[str, Any]]


# alerts, subscriptions, actions (the improvement loop) -----------------------------------------
class AlertRow(BaseModel):
    model_config = _ex({
        "id": 1, "load_id": 7, "org_code": "RXX", "org_name": "Trust X", "indicator_id": "ae",
        "period": "2019-03", "kind": "special_cause_concern", "rule": "outside_limits",
        "value": 18.2, "message": "4-hour breaches, 2019-03: special cause of concern on the "
        "SPC chart (a point outside the process limits)",
        "url": "http://127.0.0.1:8000/organisations/RXX/indicators/ae?period_type=month"})
    id: int
    load_id: int
    org_code: str
    org_name: str
    indicator_id: str
    period: str
    kind: str
    rule: str | None
    value: float | None
    message: str
    url: str


class AlertList(BaseModel):
    model_config = _ex({"alerts": [_example_of(AlertRow)],
                        "total": 1})
    alerts: list[AlertRow]
    total: int


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "lead@nhs.net", "network": "QRL",
                                         "kinds": ["special_cause_concern"]}]},
    )
    email: CleanStr = Field(min_length=3, max_length=320)
    network: CleanStr = Field(min_length=1, max_length=32,
                              description="organisation code: alerts of those below it")
    kinds: list[CleanStr] | None = Field(None, description="alert kinds (omit for all)")


class SubscriptionRow(BaseModel):
    model_config = _ex({"id": 1, "email": "lead@nhs.net", "network": "QRL",
                        "network_name": "Hampshire and Isle of Wight ICB",
                        "kinds": None, "created_by": "analyst-1",
                        "created_at": "2024-05-02T10:00:00Z"})
    id: int
    email: str
    network: str
    network_name: str
    kinds: list[str] | None
    created_by: str | None
    created_at: dt.datetime


class SubscriptionList(BaseModel):
    items: list[SubscriptionRow]


class ActionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "org": "RXX", "indicator": "ae", "date": "2018-06-01", "title": "Triage nurse",
            "owner": "ED lead", "review_date": "2018-12-01", "status": "in_progress"}]},
    )
    org: CleanStr = Field(min_length=1, max_length=32)
    indicator: CleanStr = Field(min_length=1, max_length=100)
    date: dt.date
    title: CleanStr = Field(min_length=1, max_length=300)
    owner: CleanStr | None = Field(None, max_length=200)
    review_date: dt.date | None = None
    status: Literal["planned", "in_progress", "done", "abandoned"] = "planned"


class ActionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "done"}]})
    org: CleanStr | None = Field(None, min_length=1, max_length=32)
    indicator: CleanStr | None = Field(None, min_length=1, max_length=100)
    date: dt.date | None = None
    title: CleanStr | None = Field(None, min_length=1, max_length=300)
    owner: CleanStr | None = Field(None, max_length=200)
    review_date: dt.date | None = None
    status: Literal["planned", "in_progress", "done", "abandoned"] | None = None


class ActionRow(BaseModel):
    model_config = _ex({"id": 1, "org": "RXX", "indicator": "ae", "date": "2018-06-01",
                        "title": "Triage nurse", "owner": "ED lead",
                        "review_date": "2018-12-01", "status": "in_progress",
                        "created_by": "analyst-1", "created_at": "2018-06-02T10:00:00Z",
                        "updated_at": "2018-06-02T10:00:00Z"})
    id: int
    org: str
    indicator: str
    date: dt.date
    title: str
    owner: str | None
    review_date: dt.date | None
    status: str
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ActionList(BaseModel):
    items: list[ActionRow]
