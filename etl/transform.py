"""Validation and derivation: pure functions from canonical frames to clean frames and errors.

Validation is complete (every rule, every row) and vectorised: a rule is a boolean mask over the
frame, and only the rows it flags become :class:`RowError` objects. Rules for values:

- ``org_code``/``indicator_id``/``period`` empty, or an organisation/indicator not in the
  database (load organisations and indicators first);
- a period that does not parse, or parses as two periods (``2011-12``): the indicator's declared
  ``frequency`` decides, else the load's ``--period-type``, else the ambiguity is an error;
  a period of another type than the indicator's ``frequency`` (a quarter for a monthly
  indicator); an indicator that declares no frequency takes the one type of its values already
  in the database, if they have one (see :func:`etl.lookups.indicator_info`);
- a negative numerator or denominator, a numerator above the denominator for a proportion,
  a ``lower_ci`` above the ``upper_ci``;
- a count above :data:`MAX_COUNT`; a count with a fraction for a ``proportion`` or ``count``
  indicator (rates, ratios and means may have fractional counts: person-years, standardised
  populations); a value or interval bound beyond :data:`MAX_VALUE`, given or derived (a tiny
  denominator);
- no value: a row needs ``numerator`` and ``denominator``, or ``value``, or a suppression marker;
- the same organisation, indicator and period twice in one file (every copy is reported, with
  the line of the first).

Derivation: ``value = numerator / denominator x multiplier`` when both counts are present and no
value is given. A published ``value`` is kept as published (Fingertips' directly standardised
rates are not crude ratios). A denominator of 0 with a numerator of 0 gives no value (nothing to
compare, not an error); a numerator above 0 over a denominator of 0 is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from core.models import POLARITIES, VALUE_TYPES
from core.periods import PERIOD_TYPES, PeriodError, parse_period
from etl.extract import RowError

# a 0-d object array holding None: np.where/np.append fill values typed for numpy's stubs
_NONE = np.array(None, dtype=object)


#: the clean frame's columns and their numpy dtypes (None: any, an object column), in the
#: order of :class:`etl.contract.CleanValues`; the non-nullable text columns
CLEAN_COLUMNS: dict[str, str | None] = {
    "org_id": "int64", "indicator_id": None, "period_label": None, "period_type": None,
    "numerator": "float64", "denominator": "float64", "value": "float64",
    "lower_ci": "float64", "upper_ci": "float64", "suppressed": "bool", "note": None,
    "ref": None, "period_pos": "int64",
}


def __getattr__(name: str) -> Any:
    # ``transform.CleanValues`` without importing pandera with this module
    if name == "CleanValues":
        from etl.contract import CleanValues

        return CleanValues
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: the largest count accepted (a million times England's population: anything above is a unit
#: or export mistake, and doubles stop holding whole numbers exactly not far beyond it)
MAX_COUNT = 1e12
#: the largest magnitude of a value or interval bound
MAX_VALUE = 1e15
#: the smallest positive count accepted: a count above 0 but below this is an export or unit
#: mistake (``4.9e-324``), never people or events. Fractional counts above it are accepted for
#: every value type: published estimates and weighted counts have them (PHEindicatormethods'
#: own proportion test data, some Fingertips exports), and refusing them would refuse the data.
MIN_POSITIVE_COUNT = 1e-6


@dataclass
class ValidatedValues:
    """Clean rows to load, every error found, and which input rows were rejected."""

    clean: pd.DataFrame
    errors: list[RowError]
    rejected: int
    #: parsed periods used by the clean rows: label, period_type, start, end
    periods: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class IndicatorInfo:
    """What validation needs to know about the indicators in the database."""

    frame: pd.DataFrame  # index: indicator id; columns value_type, multiplier, frequency
    #: indicators whose frequency is not declared but taken from their values in the database
    inferred: set[str] = field(default_factory=set)

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str, float, str | None]],
                  inferred: set[str] | None = None) -> IndicatorInfo:
        frame = pd.DataFrame(rows, columns=["id", "value_type", "multiplier", "frequency"])
        return cls(frame.set_index("id"), set(inferred or ()))


def _str_series(a: Any, n: int) -> pd.Series:
    """A text column as a Series with NaN for blanks (kept in its own string dtype: fast)."""
    if a is None:
        return pd.Series(np.full(n, None, dtype=object), dtype=object)
    if isinstance(a, pd.Series):
        return a.reset_index(drop=True)
    return pd.Series(a, dtype=object)


def _codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Factorize a text column: codes (-1 for blank) and the distinct values."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return np.asarray(codes), np.asarray(uniques, dtype=object)


def _err(mask: np.ndarray, refs: np.ndarray, column: str, values: np.ndarray,
         message: str | np.ndarray) -> list[RowError]:
    """RowErrors for the rows where ``mask`` is true.

    A ``str`` message is this module's own template: ``{value}`` / ``{value!r}`` in it become
    the cell. An array holds each row's finished message, which may quote the file's text
    (a period such as ``2018{05`` or ``{value.__class__}``): it is used as it is, never
    formatted, so user text is never read as a template.
    """
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    out = []
    for i in idx:
        v = values[i]
        v = None if v is None or (isinstance(v, float) and np.isnan(v)) else _fmt(v)
        msg = str(message[i]) if isinstance(message, np.ndarray) else message.format(value=v)
        out.append(RowError(str(refs[i]), column, v, msg))
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer() and abs(float(v)) < 1e15:
        return str(int(v))
    return str(v)


def parse_periods(
    labels: pd.Series, types: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Parse each distinct (label, declared type) once.

    Returns the distinct parsed periods (period_label, period_type, start, end, or None where
    not parsed), the index of each row's period in that frame, and each row's error message
    (None when parsed).
    """
    n = len(labels)
    lab_codes, lab_uniques = _codes(labels)
    type_names = [None, *PERIOD_TYPES]
    type_codes = np.zeros(n, dtype=np.int64)
    for i, t in enumerate(PERIOD_TYPES, start=1):
        type_codes[types == t] = i
    width = len(type_names) + 1
    combined = (lab_codes.astype(np.int64) + 1) * width + type_codes
    uniq, inverse = np.unique(combined, return_inverse=True)
    rows: list[tuple[Any, ...]] = []
    for c in uniq:
        lab_code, type_code = divmod(int(c), width)
        label = None if lab_code == 0 else lab_uniques[lab_code - 1]
        ptype = type_names[type_code] if 0 <= type_code < len(type_names) else None
        try:
            p = parse_period(label, ptype)
        except PeriodError as exc:
            rows.append((None, None, None, None, str(exc)))
            continue
        rows.append((p.label, p.period_type, p.start, p.end, None))
    frame = pd.DataFrame(rows, columns=["period_label", "period_type", "start", "end", "msg"])
    msgs = frame["msg"].to_numpy(dtype=object)[inverse] if n else np.array([], dtype=object)
    return frame.drop(columns="msg"), np.asarray(inverse, dtype=np.int64), msgs


def validate_values(
    frame: pd.DataFrame,
    *,
    org_ids: dict[str, int],
    indicators: IndicatorInfo,
    period_type: str | None = None,
    reader_errors: list[RowError] | None = None,
) -> ValidatedValues:
    """Check every rule on every row of a canonical values frame; derive values.

    The steps, in this order: the rows the reader already rejected, organisations
    (:func:`_check_orgs`), indicators (:func:`_resolve_indicators`), periods
    (:func:`_check_periods`), numbers (:func:`_check_numbers`, :func:`_check_presence`), derived
    values (:func:`_derive_values`), repeated keys (:func:`_duplicate_keys`), then the clean
    rows (:func:`_clean_rows`). Each step is a few numpy operations on the whole frame and
    turns only the rows it flags into errors; the errors are sorted by line at the end.
    """
    n = len(frame)
    refs = _refs(frame["_ref"]) if n else np.array([], dtype=object)
    errors: list[RowError] = list(reader_errors or [])
    reader_bad = _reader_rejected(refs, reader_errors, n)
    bad = reader_bad.copy()  # a cell that is not a number is not also "missing"

    org_code = _str_series(frame.get("org_code"), n)
    ind_id = _str_series(frame.get("indicator_id"), n)
    period = _str_series(frame.get("period"), n)

    org_blank, org_unknown, org_pos, org_id, org_errors = _check_orgs(org_code, org_ids, refs)
    errors += org_errors
    bad |= org_blank | org_unknown

    ind = _resolve_indicators(ind_id, indicators, period_type, refs)
    errors += ind.errors
    bad |= ind.blank | ind.unknown

    periods, period_pos, period_bad, period_errors = _check_periods(
        period, ind.frequency, ind_id, indicators, refs)
    errors += period_errors
    bad |= period_bad

    nums = _number_columns(frame, n)
    numbers_bad, number_errors = _check_numbers(nums.num, nums.den, nums.val, nums.lci,
                                                nums.uci, ind.value_type, refs)
    errors += number_errors
    no_value, presence_errors = _check_presence(nums, reader_bad, refs)
    errors += presence_errors
    bad |= numbers_bad | no_value

    value, wild, derive_errors = _derive_values(nums, ind.multiplier, bad, refs)
    errors += derive_errors
    bad |= wild

    # duplicates among rows whose key is valid: one integer per (org, indicator, period)
    key_ok = ~(org_blank | org_unknown | ind.blank | ind.unknown | period_bad)
    dup_s, dup_errors = _duplicate_keys(key_ok, org_pos, ind.pos, len(indicators.frame), periods,
                                        period_pos, refs, org_code, ind_id, period)
    errors += dup_errors
    bad |= dup_s

    clean, used = _clean_rows(frame, ~bad, org_id, ind_id, periods, period_pos, nums, value, refs)
    errors.sort(key=_error_order)
    return ValidatedValues(clean=clean, errors=errors, rejected=int(bad.sum()), periods=used)


def _reader_rejected(refs: np.ndarray, reader_errors: list[RowError] | None,
                     n: int) -> np.ndarray:
    """The rows the reader already reported (a cell that is not a number, say)."""
    rejected = np.zeros(n, bool)
    if reader_errors:
        rejected |= pd.Series(refs).isin(_row_refs(reader_errors)).to_numpy()
    return rejected


class _Indicators(NamedTuple):
    """Each row's indicator looked up: blank, unknown, position in the definitions (-1 when
    not found), its value type, multiplier and period type, and the errors."""

    blank: np.ndarray
    unknown: np.ndarray
    pos: np.ndarray
    value_type: np.ndarray
    multiplier: np.ndarray
    frequency: np.ndarray
    errors: list[RowError]


def _resolve_indicators(ind_id: pd.Series, indicators: IndicatorInfo, period_type: str | None,
                        refs: np.ndarray) -> _Indicators:
    """Look each row's indicator up (:func:`_check_indicator_ids`) and give every row its
    indicator's value type, multiplier and frequency; a row whose indicator declares no
    frequency takes the load's ``period_type``, if given."""
    info = indicators.frame
    blank, unknown, pos, errors = _check_indicator_ids(ind_id, info, refs)
    # a sentinel last row answers for unknown indicators (position -1)
    value_type = np.append(info["value_type"].to_numpy(dtype=object), _NONE)[pos]
    multiplier = np.append(info["multiplier"].to_numpy(dtype="float64"), np.nan)[pos]
    freq = np.append(info["frequency"].to_numpy(dtype=object), _NONE)[pos]
    if period_type is not None:
        freq = np.where(pd.isna(freq), period_type, freq)
    return _Indicators(blank, unknown, pos, value_type, multiplier, freq, errors)


def _check_periods(period: pd.Series, freq: np.ndarray, ind_id: pd.Series,
                   indicators: IndicatorInfo, refs: np.ndarray
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[RowError]]:
    """Parse each row's period with its indicator's frequency (:func:`parse_periods`):
    ``(distinct periods, each row's position in them, rows whose period does not parse,
    errors)``. For an indicator whose frequency is taken from its values in the database
    (``indicators.inferred``) the message says so."""
    n = len(period)
    periods, period_pos, period_msgs = parse_periods(period, freq)
    period_bad = pd.notna(period_msgs) if n else np.zeros(0, bool)
    if period_bad.any() and indicators.inferred:
        period_msgs = period_msgs.copy()
        for i in np.flatnonzero(period_bad & ind_id.isin(indicators.inferred).to_numpy()):
            period_msgs[i] = str(period_msgs[i]).replace(
                "but this indicator is declared",
                "but this indicator declares no frequency and its values in the database are "
                "all") + "; keep one period type per indicator, or declare its frequency"
    errors: list[RowError] = []
    if period_bad.any():
        errors += _err(period_bad, refs, "period", period.to_numpy(dtype=object), period_msgs)
    return periods, period_pos, period_bad, errors


class _Numbers(NamedTuple):
    """A frame's number columns as float arrays (NaN: empty), its suppression flags, and which
    of numerator, denominator and value each row gives."""

    num: np.ndarray
    den: np.ndarray
    val: np.ndarray
    lci: np.ndarray
    uci: np.ndarray
    suppressed: np.ndarray
    has_num: np.ndarray
    has_den: np.ndarray
    has_val: np.ndarray


def _number_columns(frame: pd.DataFrame, n: int) -> _Numbers:
    """The number columns of a canonical values frame of ``n`` rows, as numpy arrays."""
    num = frame["numerator"].to_numpy(dtype="float64") if n else np.zeros(0)
    den = frame["denominator"].to_numpy(dtype="float64") if n else np.zeros(0)
    val = frame["value"].to_numpy(dtype="float64") if n else np.zeros(0)
    lci = frame["lower_ci"].to_numpy(dtype="float64") if n else np.zeros(0)
    uci = frame["upper_ci"].to_numpy(dtype="float64") if n else np.zeros(0)
    suppressed = frame["suppressed"].to_numpy(dtype=bool) if n else np.zeros(0, bool)
    return _Numbers(num, den, val, lci, uci, suppressed,
                    ~np.isnan(num), ~np.isnan(den), ~np.isnan(val))


def _check_presence(nums: _Numbers, reader_bad: np.ndarray, refs: np.ndarray
                    ) -> tuple[np.ndarray, list[RowError]]:
    """Rows with no value: neither numerator and denominator nor a value, and not suppressed
    (a row the reader rejected is not also reported as missing one). Returns the rows and the
    errors, which name the missing count when only one of the two is given."""
    has_num, has_den = nums.has_num, nums.has_den
    no_value = ~nums.has_val & ~(has_num & has_den) & ~nums.suppressed & ~reader_bad
    only_one = no_value & (has_num ^ has_den)
    none = no_value & ~only_one
    errors: list[RowError] = []
    errors += _err(only_one & has_num, refs, "denominator", nums.den,
                   "numerator without a denominator; give the denominator, or a value")
    errors += _err(only_one & has_den, refs, "numerator", nums.num,
                   "denominator without a numerator; give the numerator, or a value")
    errors += _err(none, refs, "value", nums.val,
                   "no value: give numerator and denominator, or value, or mark the row "
                   "suppressed (*)")
    return no_value, errors


def _derive_values(nums: _Numbers, multiplier: np.ndarray, bad: np.ndarray, refs: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, list[RowError]]:
    """Each row's value: the published value, else numerator / denominator x multiplier (when
    the denominator is above 0). Returns the values, the rows not yet ``bad`` whose derived
    value is beyond +/- MAX_VALUE, and their errors."""
    num, den, has_val = nums.num, nums.den, nums.has_val
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        derived = np.where(nums.has_num & nums.has_den & (den > 0), num / den * multiplier,
                           np.nan)
        # a tiny denominator of a rate (4.9e-324) makes an infinite or absurd value
        wild = ~has_val & ~bad & (np.abs(derived) > MAX_VALUE)
    errors = _err(wild, refs, "denominator", den,
                  f"denominator {{value}} makes the value numerator / denominator x multiplier "
                  f"beyond +/-{MAX_VALUE:,.0f}; check the counts")
    value = np.where(has_val, nums.val, derived)
    return value, wild, errors


def _clean_rows(frame: pd.DataFrame, good: np.ndarray, org_id: np.ndarray, ind_id: pd.Series,
                periods: pd.DataFrame, period_pos: np.ndarray, nums: _Numbers,
                value: np.ndarray, refs: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``good`` rows as the clean frame (held to the contract, :func:`_check_contract`),
    and the distinct periods they use with their positions (``period_pos``)."""
    pl = periods["period_label"].to_numpy(dtype=object)
    pt = periods["period_type"].to_numpy(dtype=object)
    gp = period_pos[good]
    clean = pd.DataFrame({
        "org_id": org_id[good].astype("int64"),
        # text columns are wrapped as they are: pandas would otherwise convert object arrays
        # of text to its Arrow string type, a copy of every string
        "indicator_id": ind_id[good].reset_index(drop=True),
        "period_label": _obj(pl[gp] if len(gp) else np.zeros(0, dtype=object)),
        "period_type": _obj(pt[gp] if len(gp) else np.zeros(0, dtype=object)),
        "numerator": nums.num[good],
        "denominator": nums.den[good],
        "value": value[good],
        "lower_ci": nums.lci[good],
        "upper_ci": nums.uci[good],
        "suppressed": nums.suppressed[good],
        "note": _obj(frame["note"].to_numpy(dtype=object)[good] if "note" in frame else np.full(
            int(good.sum()), None, dtype=object)),
        "ref": _obj(refs[good]),
        "period_pos": gp,
    })
    used_pos = np.unique(gp)
    clean = _check_contract(clean, pl[used_pos], pt[used_pos])
    used = periods.iloc[used_pos].assign(period_pos=used_pos) if len(gp) else \
        periods.iloc[0:0].assign(period_pos=np.zeros(0, np.int64))
    return clean, used


def _check_contract(clean: pd.DataFrame, period_labels: np.ndarray,
                    period_types: np.ndarray) -> pd.DataFrame:
    """Hold the clean rows to :class:`etl.contract.CleanValues` at numpy speed.

    The model's every rule, on every row: its columns (and no others) with their dtypes, no
    null indicator or reference, counts not below 0, and the distinct periods the rows take
    their label and type from (``period_labels``, ``period_types``) named and of a known type.
    Any breach runs pandera on the whole frame, whose error names it (and pandera is imported
    only then). For 1M rows: pandera on a 1,000-row sample of each chunk plus numpy took about
    0.3 s, 0.23 s of it registering pandera's backends on the first call; this about 20 ms.
    """
    ok = list(clean.columns) == list(CLEAN_COLUMNS) and all(
        dtype is None or clean[col].dtype == np.dtype(dtype)
        for col, dtype in CLEAN_COLUMNS.items())
    if ok:
        with np.errstate(invalid="ignore"):
            ok = not (clean["numerator"].to_numpy() < 0).any() \
                and not (clean["denominator"].to_numpy() < 0).any()
        ok = ok and not pd.isna(period_labels).any() and set(period_types) <= set(PERIOD_TYPES)
        ok = ok and not clean["indicator_id"].isna().any() and not clean["ref"].isna().any()
    if ok:
        return clean
    from etl.contract import CleanValues

    return CleanValues.validate(clean)


def _obj(a: np.ndarray) -> pd.Series:
    return pd.Series(a, dtype=object, copy=False)


def _look_up(codes: pd.Series, index: pd.Index, refs: np.ndarray, column: str, empty: str,
             unknown: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[RowError]]:
    """Codes looked up in ``index`` (vectorised): ``(blank, unknown, position or -1,
    errors)``, the errors saying ``empty`` or ``unknown`` (with ``{value!r}``)."""
    blank = codes.isna().to_numpy()
    # each distinct code is looked up once (a chunk has thousands, not a Python string a row)
    found, uniques = pd.factorize(codes, use_na_sentinel=True)
    pos = np.append(index.get_indexer(np.asarray(uniques, dtype=object)), -1)[found] \
        if len(codes) else np.zeros(0, np.int64)
    missing = ~blank & (pos < 0)
    errors: list[RowError] = []
    if blank.any() or missing.any():
        text = codes.to_numpy(dtype=object)
        errors += _err(blank, refs, column, text, empty)
        errors += _err(missing, refs, column, text, unknown)
    return blank, missing, pos, errors


def _check_orgs(org_code: pd.Series, org_ids: dict[str, int], refs: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[RowError]]:
    """Organisation codes looked up: ``(blank, unknown, position in org_ids or -1, database
    id or -1, errors)``."""
    org_blank, org_unknown, org_pos, errors = _look_up(
        org_code, pd.Index(list(org_ids.keys()), dtype=object), refs, "org_code",
        "org_code is empty; give the organisation's code",
        "unknown organisation {value!r}; load it first (qidash load organisations) or correct "
        "the code")
    org_values = np.fromiter(org_ids.values(), dtype=np.int64, count=len(org_ids))
    org_id = np.where(org_pos >= 0, org_values[np.maximum(org_pos, 0)] if len(org_values)
                      else 0, -1)
    return org_blank, org_unknown, org_pos, org_id, errors


def _check_indicator_ids(ind_id: pd.Series, info: pd.DataFrame, refs: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[RowError]]:
    """Indicator ids looked up in the definitions: ``(blank, unknown, position in info or
    -1, errors)``."""
    return _look_up(ind_id, info.index, refs, "indicator_id",
                    "indicator_id is empty; give the indicator's id",
                    "unknown indicator {value!r}; load its definition first (qidash load "
                    "indicators) or correct the id")


def _check_numbers(num: np.ndarray, den: np.ndarray, val: np.ndarray, lci: np.ndarray,
                   uci: np.ndarray, value_type: np.ndarray, refs: np.ndarray
                   ) -> tuple[np.ndarray, list[RowError]]:
    """The rules on the numbers themselves: no negative counts, a proportion's numerator
    within its denominator, no positive numerator over a zero denominator, intervals in
    order, counts within bounds, values and intervals within +/- MAX_VALUE. Returns the rows
    that break one, and the errors."""
    n = len(num)
    errors: list[RowError] = []
    with np.errstate(invalid="ignore"):
        neg_num = num < 0
        neg_den = den < 0
        errors += _err(neg_num, refs, "numerator", num,
                       "numerator {value} is negative; counts cannot be below 0")
        errors += _err(neg_den, refs, "denominator", den,
                       "denominator {value} is negative; counts cannot be below 0")
        is_prop = value_type == "proportion"
        over = is_prop & (num > den)
        over_msg = np.empty(n, dtype=object)
        for i in np.flatnonzero(over):
            over_msg[i] = (f"numerator {_fmt(num[i])} is above the denominator {_fmt(den[i])}: "
                           "a proportion's numerator must be part of its denominator")
        errors += _err(over, refs, "numerator", num, over_msg)
        zero_den = (den == 0) & (num > 0) & ~is_prop
        errors += _err(zero_den, refs, "denominator", den,
                       "denominator is 0 but the numerator is above 0; correct the counts")
        ci_order = lci > uci
        errors += _err(ci_order, refs, "lower_ci", lci,
                       "lower_ci {value} is above upper_ci; swap or correct the interval")
        # counts: bounded above, and no vanishing positive counts
        count_bad = np.zeros(n, bool)
        for col, x in (("numerator", num), ("denominator", den)):
            huge = x > MAX_COUNT
            errors += _err(huge, refs, col, x,
                           f"{col} {{value}} is above {MAX_COUNT:,.0f}: not a count (check "
                           "the units or the export)")
            part = (x > 0) & (x < MIN_POSITIVE_COUNT)
            errors += _err(part, refs, col, x,
                           f"{col} {{value}} is above 0 but below {MIN_POSITIVE_COUNT:g}: not a "
                           "count of people or events (check the units or the export)")
            count_bad |= huge | part
        big = np.abs(val) > MAX_VALUE
        for col, x in (("lower_ci", lci), ("upper_ci", uci)):
            big_ci = np.abs(x) > MAX_VALUE
            errors += _err(big_ci, refs, col, x, f"{col} {{value}} is beyond +/-{MAX_VALUE:,.0f}; "
                           "check the units or the export")
            big |= big_ci
        errors += _err(np.abs(val) > MAX_VALUE, refs, "value", val,
                       f"value {{value}} is beyond +/-{MAX_VALUE:,.0f}; check the units or the "
                       "export")
    return neg_num | neg_den | over | zero_den | ci_order | count_bad | big, errors


def _duplicate_keys(key_ok: np.ndarray, org_pos: np.ndarray, ind_pos: np.ndarray,
                    n_indicators: int, periods: pd.DataFrame, period_pos: np.ndarray,
                    refs: np.ndarray, org_code: pd.Series, ind_id: pd.Series,
                    period: pd.Series) -> tuple[np.ndarray, list[RowError]]:
    """Rows whose valid (organisation, indicator, period) key another row repeats (two labels
    of one period are one key), each naming the first copy's line; and the errors."""
    n = len(key_ok)
    errors: list[RowError] = []
    dup_s = np.zeros(n, bool)
    if key_ok.any():
        # two labels of one period ("2019/20", "2019-20") are one key
        canon_pos, _ = pd.factorize(periods["period_label"].astype(str) + "|"
                                    + periods["period_type"].astype(str))
        key = (org_pos.astype(np.int64) * (n_indicators + 1) + ind_pos) * (len(periods) + 1) \
            + np.asarray(canon_pos)[period_pos]
        key = np.where(key_ok, key, -1 - np.arange(n))  # invalid keys never collide
        dup_s = pd.Series(key).duplicated(keep=False).to_numpy()
        if dup_s.any():
            dup_idx = np.flatnonzero(dup_s)
            first = pd.Series(refs[dup_idx]).groupby(key[dup_idx]).transform("first").to_numpy()
            msgs = np.empty(n, dtype=object)
            labels = periods["period_label"].to_numpy(dtype=object)
            for j, i in enumerate(dup_idx):
                fr = first[j]
                msgs[i] = (
                    f"duplicate: {org_code.iloc[i]}, {ind_id.iloc[i]}, "
                    f"{labels[period_pos[i]]} appears more than once in the file "
                    + (f"(first at line {fr})" if fr != refs[i] else "(this is the first; see "
                       "the later copies)")
                    + "; keep one row per organisation, indicator and period"
                )
            errors += _err(dup_s, refs, "period", period.to_numpy(dtype=object), msgs)
    return dup_s, errors


def _refs(s: pd.Series) -> np.ndarray:
    """Row references as an object array of text (no conversion when they already are)."""
    a = s.to_numpy(dtype=object)
    return a if pd.api.types.infer_dtype(a, skipna=False) == "string" else \
        s.astype(str).to_numpy(dtype=object)


def _row_refs(errors: list[RowError]) -> set[str]:
    """The row references of errors: ``Sheet!C12`` names the row ``Sheet:12``."""
    out = set()
    for e in errors:
        if e.ref is None:
            continue
        out.add(e.ref)
        if "!" in e.ref:
            sheet, _, cell = e.ref.rpartition("!")
            out.add(f"{sheet}:{''.join(ch for ch in cell if ch.isdigit())}")
    return out


def _error_order(e: RowError) -> tuple[int, str]:
    if e.ref is None:
        return (-1, "")
    line = e.line
    return (line if line is not None else 0, e.ref)


# organisations ---------------------------------------------------------------------------------
@dataclass
class ValidatedOrganisations:
    clean: pd.DataFrame
    errors: list[RowError]
    rejected: int


def validate_organisations(
    frame: pd.DataFrame, existing_parents: dict[str, str | None]
) -> ValidatedOrganisations:
    """Check organisations: codes, names, types, duplicates, parents known, no cycles.

    ``existing_parents`` maps every code in the database to its parent's code.
    """
    n = len(frame)
    refs = frame["_ref"].astype(str).to_numpy()
    errors: list[RowError] = []
    bad = np.zeros(n, bool)
    code = _str_series(frame["org_code"], n)
    for col, what in (("org_code", "the organisation's code"), ("name", "its name"),
                      ("org_type", "its type (practice, pcn, sub_icb, icb, region, nation, "
                                   "trust...)")):
        blank = _str_series(frame[col], n).isna().to_numpy()
        errors += _err(blank, refs, col, np.full(n, None, dtype=object),
                       f"{col} is empty; give {what}")
        bad |= blank
    # the database's column lengths (PostgreSQL enforces them; SQLite would not)
    for col, limit in (("org_code", 32), ("name", 300), ("org_type", 32), ("parent_name", 300),
                       ("parent_type", 32)):
        if col not in frame:
            continue
        text = _str_series(frame[col], n)
        too_long = text.str.len().gt(limit).fillna(False).to_numpy(dtype=bool)
        errors += _err(too_long, refs, col, text.to_numpy(),
                       f"{col} {{value!r}} is longer than {limit} characters; shorten it")
        bad |= too_long
    dup = code.notna().to_numpy() & code.duplicated(keep=False).to_numpy()
    if dup.any():
        first = pd.Series(refs).groupby(code.to_numpy()).transform("first").to_numpy()
        msgs = np.empty(n, dtype=object)
        for i in np.flatnonzero(dup).tolist():
            msgs[i] = (f"organisation {code.iloc[i]} appears more than once in the file (first "
                       f"at {first[i]}); keep one row per organisation")
        errors += _err(dup, refs, "org_code", code.to_numpy(), msgs)
        bad |= dup
    parent = _str_series(frame["parent_code"], n)
    parent_name = _str_series(frame.get("parent_name"), n)
    parent_type = _str_series(frame.get("parent_type"), n)
    in_file = set(code.dropna())
    creatable = parent_name.notna() & parent_type.notna()
    unknown = (parent.notna() & ~parent.isin(in_file) & ~parent.isin(existing_parents.keys())
               & ~creatable).to_numpy()
    errors += _err(unknown, refs, "parent_code", parent.to_numpy(),
                   "unknown parent {value!r}: it is neither in this file nor in the database; "
                   "add it as a row, or give parent_name and parent_type to create it")
    bad |= unknown
    # cycles: follow each chain with the file's parents overriding the database's
    graph: dict[str, str | None] = dict(existing_parents)
    for c, p in zip(code, parent, strict=True):
        if c is not None:
            graph[c] = p
    cyc = np.zeros(n, bool)
    cycle_msg = np.empty(n, dtype=object)
    for i, c in enumerate(code):
        if c is None:
            continue
        seen = [c]
        cur = graph.get(c)
        while cur is not None and cur not in seen and len(seen) < 10_000:
            seen.append(cur)
            cur = graph.get(cur)
        if cur is not None and cur == c:
            cyc[i] = True
            cycle_msg[i] = ("parent_code makes a cycle: " + " -> ".join([*seen, c])
                            + "; an organisation cannot be its own ancestor")
    errors += _err(cyc, refs, "parent_code", parent.to_numpy(), cycle_msg)
    bad |= cyc
    clean = frame.loc[~bad].reset_index(drop=True)
    errors.sort(key=_error_order)
    return ValidatedOrganisations(clean=clean, errors=errors, rejected=int(bad.sum()))


# indicators ------------------------------------------------------------------------------------
@dataclass
class ValidatedIndicators:
    clean: list[dict[str, Any]]
    errors: list[RowError]
    rejected: int


_TEXT_FIELDS = ("name", "description", "why_it_matters", "target_label", "numerator_label",
                "denominator_label", "unit", "source", "source_url", "domain", "authored_by",
                "checked_by")
_LIMITS = {"indicator_id": 100, "name": 300, "target_label": 200, "numerator_label": 300,
           "denominator_label": 300, "unit": 50, "domain": 200, "authored_by": 200,
           "checked_by": 200}


def validate_indicators(frame: pd.DataFrame) -> ValidatedIndicators:
    """Check and type indicator definitions (one dict per valid indicator)."""
    errors: list[RowError] = []
    clean: list[dict[str, Any]] = []
    rejected = 0
    seen: dict[str, str] = {}
    for row in frame.to_dict("records"):
        ref = str(row["_ref"])
        row_errors: list[RowError] = []

        def fail(col: str, value: Any, msg: str, ref: str = ref,
                 row_errors: list[RowError] = row_errors) -> None:
            row_errors.append(RowError(ref, col, None if _blank(value) else str(value), msg))

        out: dict[str, Any] = {}
        ind = None if _blank(row.get("indicator_id")) else str(row["indicator_id"]).strip()
        if ind is None:
            fail("indicator_id", None, "indicator_id is empty; give a short id such as "
                 "mmr1_24m")
        elif ind in seen:
            fail("indicator_id", ind, f"indicator {ind} appears more than once (first at "
                 f"{seen[ind]}); keep one definition per indicator")
        else:
            seen[ind] = ref
        out["id"] = ind
        for col in _TEXT_FIELDS:
            v = row.get(col)
            out[col] = None if _blank(v) else str(v).strip()
        if out["name"] is None:
            fail("name", None, "name is empty; give the indicator's title")
        for col, limit in _LIMITS.items():
            v = ind if col == "indicator_id" else out.get(col)
            if v is not None and len(v) > limit:
                fail(col, v, f"{col} is longer than {limit} characters; shorten it")
        vt = _lower(row.get("value_type"))
        if vt not in VALUE_TYPES:
            fail("value_type", row.get("value_type"),
                 f"value_type must be one of {', '.join(VALUE_TYPES)}")
        out["value_type"] = vt
        pol = _lower(row.get("polarity"))
        if pol not in POLARITIES:
            fail("polarity", row.get("polarity"),
                 f"polarity must be one of {', '.join(POLARITIES)}")
        out["polarity"] = pol
        out["multiplier"] = _number(row, "multiplier", fail, required=True, positive=True)
        out["target"] = _number(row, "target", fail)
        dec = _number(row, "decimals", fail)
        if dec is not None and (dec < 0 or dec > 6 or not float(dec).is_integer()):
            fail("decimals", row.get("decimals"), "decimals must be a whole number 0 to 6")
        out["decimals"] = 1 if dec is None else int(dec)
        freq = _lower(row.get("frequency"))
        if freq is not None:
            freq = freq.replace(" ", "_").replace("-", "_")
            freq = {"monthly": "month", "quarterly": "quarter", "annual": "year",
                    "yearly": "year", "financial": "financial_year"}.get(freq, freq)
            if freq not in PERIOD_TYPES:
                fail("frequency", row.get("frequency"),
                     f"frequency must be one of {', '.join(PERIOD_TYPES)}")
        out["frequency"] = freq
        out["thresholds"] = _list(row, "thresholds", fail, numbers=True)
        out["tags"] = _list(row, "tags", fail, numbers=False)
        out["date_reviewed"] = _date(row, fail)
        if row_errors:
            errors += row_errors
            rejected += 1
        else:
            clean.append(out)
    return ValidatedIndicators(clean=clean, errors=errors, rejected=rejected)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (
        isinstance(v, str) and not v.strip())


def _lower(v: Any) -> str | None:
    return None if _blank(v) else str(v).strip().lower()


def _number(row: dict[str, Any], col: str, fail: Any, *, required: bool = False,
            positive: bool = False) -> float | None:
    v = row.get(col)
    if _blank(v):
        if required:
            fail(col, None, f"{col} is empty; give a number (100 for a percentage)")
        return None
    try:
        x = float(str(v).replace(",", "").strip())
    except ValueError:
        fail(col, v, f"{col} {v!r} is not a number")
        return None
    if not np.isfinite(x) or (positive and x <= 0):
        fail(col, v, f"{col} must be a number above 0")
        return None
    return x


def _list(row: dict[str, Any], col: str, fail: Any, *, numbers: bool) -> list[Any]:
    v = row.get(col)
    if _blank(v):
        return []
    if isinstance(v, str):
        text = v.strip().strip("[]")
        items: list[Any] = [p.strip() for p in text.replace("|", ";").replace(",", ";").split(";")
                            if p.strip()]
    elif isinstance(v, list | tuple):
        items = list(v)
    else:
        items = [v]
    if not numbers:
        return [str(i) for i in items]
    out = []
    for i in items:
        try:
            out.append(float(i))
        except (TypeError, ValueError):
            fail(col, v, f"{col} must be numbers (e.g. 90;95), not {i!r}")
            return []
    return sorted(out)


def _date(row: dict[str, Any], fail: Any) -> Any:
    import datetime as dt

    v = row.get("date_reviewed")
    if _blank(v):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v).strip()[:10])
    except ValueError:
        fail("date_reviewed", v, "date_reviewed must be a date like 2024-03-31")
        return None
