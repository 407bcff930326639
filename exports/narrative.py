"""Plain-English sentences and speaker notes from the numbers: pure functions, no database.

A meeting needs words it can use: "3 of 12 practices are significantly below the England
value; reaching the median would mean about 140 more children vaccinated". Every function here
takes numbers and labels and returns text, so that each rule can be unit-tested.

Rules the sentences follow (and why):

* **Polarity.** "Higher" and "lower" become "better" and "worse" only for indicators with a
  polarity; prevalence-like indicators (``no_judgement``) are only "higher" or "lower".
* **The Fingertips rule for a benchmark** (OHID, Fingertips technical guidance): a unit is
  "similar" when the benchmark lies inside its 95% interval; otherwise significantly
  higher/lower. No interval (suppressed, no denominator) means "not compared", never a guess.
* **Too few to judge.** Funnels need several units, SPC needs enough points (Making Data Count:
  at least 12 for trial limits, ideally 20); fewer and the sentence says so instead of reading
  noise as signal.
* **Opportunity** is said in the indicator's own words ("about 140 more children vaccinated"),
  rounded as a person would say it, and "fewer" for lower-is-better indicators.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.services.spc import MIN_POINTS, run_chart_sentence, too_few_for_limits

HIGHER = "higher_is_better"
LOWER = "lower_is_better"
NEUTRAL = "no_judgement"

#: SPC: fewer points than this and no limits or special-cause judgement are offered, only a run
#: chart (the SPC service's rule, :data:`core.services.spc.MIN_POINTS`: NHSRplotthedots warns
#: below 12 points that limits are "trial limits"; Making Data Count asks for 15-20).
SPC_MIN_POINTS = MIN_POINTS
SPC_GOOD_POINTS = 20
#: Funnel/peer statements need at least this many units with a value.
MIN_UNITS = 3

_ORG_NOUNS = {
    "practice": ("practice", "practices"),
    "gp_practice": ("practice", "practices"),
    "pcn": ("PCN", "PCNs"),
    "network": ("network", "networks"),
    "trust": ("trust", "trusts"),
    "sub_icb": ("sub-ICB area", "sub-ICB areas"),
    "ccg": ("CCG", "CCGs"),
    "icb": ("ICB", "ICBs"),
    "region": ("region", "regions"),
    "nation": ("nation", "nations"),
    "country": ("country", "countries"),
}


def is_missing(x: float | None) -> bool:
    """True for None and NaN (a value that is not there)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def org_noun(org_type: str | None, count: int = 2) -> str:
    """The word for a kind of organisation: ``org_noun("practice", 1) == "practice"``."""
    key = (org_type or "").strip().lower().replace("-", "_").replace(" ", "_")
    singular, plural = _ORG_NOUNS.get(
        key, (key.replace("_", " ") or "organisation", (key.replace("_", " ") or "organisation")
              + "s")
    )
    return singular if count == 1 else plural


def format_number(x: float | None, decimals: int = 0) -> str:
    """Thousands separators and fixed decimals: ``format_number(12345.6) == "12,346"``."""
    if is_missing(x):
        return "n/a"
    return f"{x:,.{max(decimals, 0)}f}"


def format_value(
    value: float | None,
    *,
    value_type: str = "proportion",
    multiplier: float = 100.0,
    decimals: int = 1,
    unit: str | None = None,
) -> str:
    """A value in display units as a reader says it: ``92.3%``, ``12.4 per 1,000``, ``1.05``.

    Proportions with multiplier 100 get ``%``; rates get "per <multiplier>"; an explicit
    ``unit`` (other than ``%``) is appended as given.
    """
    if is_missing(value):
        return "n/a"
    text = format_number(value, decimals)
    if unit and unit.strip() not in ("%", "percent", "per cent"):
        return f"{text} {unit.strip()}"
    if unit and unit.strip() in ("%", "percent", "per cent"):
        return f"{text}%"
    if value_type == "proportion" and multiplier == 100:
        return f"{text}%"
    if value_type == "rate" and multiplier and multiplier != 1:
        return f"{text} per {format_number(multiplier)}"
    return text


def about(count: float) -> str:
    """A count rounded as a person would say it: 7 -> "7", 143 -> "about 140", 2,468 -> "about
    2,500", 0.4 -> "fewer than 1"."""
    n = abs(float(count))
    if n < 0.5:
        return "fewer than 1"
    if n < 20:
        return str(round(n))
    digits = int(math.floor(math.log10(n)))
    step = 10 ** max(digits - 1, 0)  # two significant figures
    rounded = int(round(n / step) * step)
    return f"about {rounded:,}"


_SINGULAR = {"children": "child", "people": "person", "women": "woman", "men": "man",
             "babies": "baby", "persons": "person"}


def singular_phrase(phrase: str) -> str:
    """The phrase for one: its head noun made singular ("children vaccinated" -> "child
    vaccinated", "emergency admissions" -> "emergency admission", "patients with a review"
    -> "patient with a review"). The head is the first plural-looking word before a
    preposition or a qualifier; a phrase with none is returned as it is."""
    words = phrase.split(" ")
    for i, word in enumerate(words):
        low = word.lower()
        if low in _STOP:
            break
        if low in _SINGULAR:
            one = _SINGULAR[low]
            words[i] = one.capitalize() if word[:1].isupper() else one
            return " ".join(words)
        if low.endswith("ies") and len(low) > 4:
            words[i] = word[:-3] + "y"
            return " ".join(words)
        if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(low) > 3:
            words[i] = word[:-1]
            return " ".join(words)
    return phrase


_STOP = {"with", "without", "aged", "who", "in", "on", "of", "by", "at", "for", "from", "to",
         "under", "over", "whose", "that", "receiving", "having"}


def count_of(count: float, people: str) -> str:
    """``about(count)`` followed by the people, singular for one: "1 child vaccinated",
    "about 140 children vaccinated"."""
    text = about(count)
    return f"{text} {singular_phrase(people) if text == '1' else people}"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``plural(1, "practice") == "1 practice"``; ``plural(3, "practice") == "3 practices"``."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"


# ----------------------------------------------------------------------------- comparison


def compare_with_benchmark(
    value: float | None,
    lower: float | None,
    upper: float | None,
    benchmark: float | None,
    polarity: str = HIGHER,
) -> str:
    """Fingertips' rule: ``better``/``worse``/``similar`` (or ``higher``/``lower`` without a
    polarity); ``not_compared`` when the value, its interval or the benchmark is missing."""
    if any(is_missing(x) for x in (value, lower, upper, benchmark)):
        return "not_compared"
    if lower <= benchmark <= upper:  # type: ignore[operator]
        return "similar"
    higher = lower > benchmark  # type: ignore[operator]
    if polarity == HIGHER:
        return "better" if higher else "worse"
    if polarity == LOWER:
        return "worse" if higher else "better"
    return "higher" if higher else "lower"


def direction_word(category: str, polarity: str = HIGHER) -> str:
    """``higher`` or ``lower`` for a comparison category, whatever the polarity."""
    if category in ("higher", "lower"):
        return category
    if category == "better":
        return "lower" if polarity == LOWER else "higher"
    if category == "worse":
        return "higher" if polarity == LOWER else "lower"
    return ""


def comparison_sentence(
    org_name: str,
    value_text: str,
    category: str,
    benchmark_label: str,
    benchmark_text: str,
    *,
    polarity: str = HIGHER,
    denominator: float | None = None,
    suppressed: bool = False,
) -> str:
    """One sentence on where the organisation stands against the benchmark.

    >>> comparison_sentence("Riverside PCN", "88.1%", "worse", "England", "92.3%")
    'Riverside PCN (88.1%) is significantly lower than England (92.3%), which is worse.'
    """
    if suppressed:
        return (f"{org_name}'s value is suppressed to protect confidentiality, so it is not "
                f"compared with {benchmark_label}.")
    if category == "not_compared":
        if value_text == "n/a":
            return f"{org_name} has no value for this period."
        if denominator is not None and not is_missing(denominator) and denominator < 1:
            return f"{org_name} has no eligible patients this period, so it is not compared."
        return (f"{org_name} ({value_text}) is not compared with {benchmark_label}: too few to "
                f"judge, or no interval.")
    if category == "similar":
        return (f"{org_name} ({value_text}) is similar to {benchmark_label} ({benchmark_text}): "
                f"the difference could be chance.")
    word = direction_word(category, polarity)
    tail = f", which is {category}." if category in ("better", "worse") else "."
    return (f"{org_name} ({value_text}) is significantly {word} than {benchmark_label} "
            f"({benchmark_text}){tail}")


# ----------------------------------------------------------------------------- funnel / peers


def funnel_counts(flags: Iterable[str | None]) -> dict[str, int]:
    """Count funnel flags (``above_998``, ``above_95``, ``within``, ``below_95``,
    ``below_998``; None = no value) into ``above``, ``below``, ``within``, ``no_value``,
    ``above_998``, ``below_998`` and ``total`` (units with a value)."""
    c = {"above": 0, "below": 0, "within": 0, "no_value": 0, "above_998": 0, "below_998": 0}
    for f in flags:
        if f is None or f == "" or (isinstance(f, float) and math.isnan(f)):
            c["no_value"] += 1
        elif f.startswith("above"):
            c["above"] += 1
            c["above_998"] += f == "above_998"
        elif f.startswith("below"):
            c["below"] += 1
            c["below_998"] += f == "below_998"
        else:
            c["within"] += 1
    c["total"] = c["above"] + c["below"] + c["within"]
    return c


def funnel_sentence(
    flags: Sequence[str | None],
    *,
    centre_label: str = "the average",
    noun: str = "practices",
    polarity: str = HIGHER,
    units: int | None = None,
) -> str:
    """How many units lie outside the funnel's 95% limits, in the polarity's words.

    ``flags`` are the units the sentence is about (a network's members); ``units`` is how many
    units the funnel was drawn from (every peer), when that is more than ``flags``: the limits
    need enough units, not the members.

    >>> funnel_sentence(["below_95"] * 3 + ["within"] * 9, centre_label="England")[:55]
    '3 of 12 practices are significantly below England (wors'
    >>> funnel_sentence(["within", "within"], centre_label="the average", units=79)[:42]
    'Both of its practices are within the limit'
    """
    c = funnel_counts(flags)
    n = c["total"]
    drawn = max(n, units or 0)
    its = "its " if drawn > n else ""  # the flags are a network's members among more units
    if drawn < MIN_UNITS:
        return (f"Too few {noun} with a value ({drawn}) to judge variation with a funnel plot.")
    if n == 0:
        return f"None of the {noun} has a value to place on the funnel plot."
    below, above = c["below"], c["above"]
    if below == 0 and above == 0:
        who = (f"The only one of {its or 'the '}{noun} with a value is" if n == 1 else
               f"Both of {its}{noun} are" if n == 2 and its else
               f"All {n} of {its}{noun} are" if its else f"All {n} {noun} are")
        return (f"{who} within the limits expected by chance around {centre_label}:"
                + (" the difference could be noise." if n == 1 else
                   " the differences between them could be noise."))

    def part(k: int, word: str, centre: str = centre_label) -> str:
        verb = "is" if k == 1 else "are"
        judged = ""
        if polarity in (HIGHER, LOWER):
            good = (word == "above") == (polarity == HIGHER)
            judged = " (better)" if good else " (worse)"
        return f"{verb} significantly {word} {centre}{judged}"

    # Lead with the side that matters for the meeting: the worse side when there is a polarity.
    sides = [("below", below), ("above", above)]
    if polarity == LOWER:
        sides.reverse()
    sides = [(w, k) for w, k in sides if k > 0]
    first_word, first_k = sides[0]
    text = f"{first_k} of {its}{n} {noun} {part(first_k, first_word)}"
    if len(sides) > 1:
        w2, k2 = sides[1]
        text += f" and {k2} {part(k2, w2, 'it')}"  # the centre named once
    within = c["within"]
    if within:
        text += f"; the other {within} {'is' if within == 1 else 'are'} within the limits " \
                "expected by chance"
    return text + "."


# ----------------------------------------------------------------------------- opportunity


def people_words(
    numerator_label: str | None, denominator_label: str | None, polarity: str = HIGHER
) -> str:
    """The words an opportunity is counted in: the numerator's label ("children vaccinated"),
    else "<denominator> reaching the standard", else "patients"."""
    if numerator_label and numerator_label.strip():
        return numerator_label.strip()
    if denominator_label and denominator_label.strip():
        return f"{denominator_label.strip()} meeting the indicator"
    return "patients" if polarity != LOWER else "events"


def opportunity_sentence(
    extra: float | None,
    *,
    people: str,
    goal_label: str = "the median",
    polarity: str = HIGHER,
    noun: str = "practices",
) -> str:
    """What closing the gap would mean, in people ("" for indicators without a polarity).

    >>> opportunity_sentence(143, people="children vaccinated")
    'Reaching the median would mean about 140 more children vaccinated.'
    """
    if polarity == NEUTRAL:
        return ""
    if extra is None or is_missing(extra):
        return f"No opportunity is estimated against {goal_label} (no values to compare)."
    if extra < 0.5:
        return f"All {noun} already reach {goal_label}: no opportunity against it."
    more = "fewer" if polarity == LOWER else "more"
    return f"Reaching {goal_label} would mean {count_of(extra, f'{more} {people}')}."


# ----------------------------------------------------------------------------- SPC

_VARIATION_TEXT = {
    "common_cause": "common-cause variation only: no signal of change",
    "special_cause_improvement": "special-cause improvement",
    "special_cause_concern": "special-cause concern",
    "special_cause_neutral": "special-cause variation (neither better nor worse)",
    "special_cause_neutral_high": "special-cause variation, higher (neither better nor worse)",
    "special_cause_neutral_low": "special-cause variation, lower (neither better nor worse)",
}

_ASSURANCE_TEXT = {
    "consistent_pass": "the target will be met consistently if nothing changes",
    "consistent_fail": "the target will not be met unless the process changes",
    "inconsistent": "the target may or may not be met: it lies within the process limits",
}


def normalise_variation(variation: str | None) -> str | None:
    """Map the statistics engine's icon words ("improvement_high", "concern_low",
    "neutral_high", "common_cause") onto Making Data Count's names used here
    ("special_cause_improvement", ...); names already in that form pass through."""
    if not variation:
        return None
    v = variation.strip().lower()
    if v.startswith("special_cause") or v == "common_cause":
        return v
    if v.startswith("improvement"):
        return "special_cause_improvement"
    if v.startswith("concern"):
        return "special_cause_concern"
    if v.startswith("neutral"):
        return "special_cause_" + v
    return v


def normalise_assurance(assurance: str | None) -> str | None:
    """Map the engine's "pass" / "fail" / "hit_or_miss" onto "consistent_pass",
    "consistent_fail", "inconsistent" (other names pass through)."""
    if not assurance:
        return None
    a = assurance.strip().lower()
    return {"pass": "consistent_pass", "fail": "consistent_fail",
            "hit_or_miss": "inconsistent"}.get(a, a)


def variation_label(variation: str | None) -> str:
    """Short words for a Making Data Count variation icon (for tables)."""
    return {
        "common_cause": "Common cause",
        "special_cause_improvement": "Improvement",
        "special_cause_concern": "Concern",
        "special_cause_neutral": "Special cause",
        "special_cause_neutral_high": "Special cause (high)",
        "special_cause_neutral_low": "Special cause (low)",
    }.get(normalise_variation(variation) or "", "Too few points")


def assurance_label(assurance: str | None) -> str:
    """Short words for a Making Data Count assurance icon (for tables)."""
    return {
        "consistent_pass": "Will meet target",
        "consistent_fail": "Will miss target",
        "inconsistent": "Hit and miss",
    }.get(normalise_assurance(assurance) or "", "No target")


def spc_sentence(
    variation: str | None,
    assurance: str | None,
    n_points: int,
    *,
    latest_label: str | None = None,
    target_text: str | None = None,
    run_chart: Any = None,
) -> str:
    """The SPC message: too few points for limits (the same words as the trend page, with the
    run chart's signals when given: a :class:`core.stats.RunChartSignals`), or the latest
    point's variation and the assurance."""
    variation, assurance = normalise_variation(variation), normalise_assurance(assurance)
    if n_points < SPC_MIN_POINTS:
        text = f"{too_few_for_limits(n_points)}."
        return text if run_chart is None else f"{text} {run_chart_sentence(run_chart)}"
    when = f" ({latest_label})" if latest_label else ""
    text = f"The latest point{when} shows {_VARIATION_TEXT.get(variation or '', 'no signal')}"
    if assurance in _ASSURANCE_TEXT and target_text:
        text += f"; against the target of {target_text}, {_ASSURANCE_TEXT[assurance]}"
    text += "."
    if n_points < SPC_GOOD_POINTS:
        text += f" Limits are provisional ({n_points} points)."
    return text


# ----------------------------------------------------------------------------- flags


@dataclass(frozen=True)
class Flag:
    """A reason an indicator needs discussion, for the summary table and the headline."""

    code: str
    text: str


def discussion_flags(
    *,
    category: str,
    variation: str | None,
    assurance: str | None,
    n_points: int,
    below_target: bool | None,
    funnel_worse_998: int = 0,
    noun: str = "practice",
    nouns: str = "practices",
) -> list[Flag]:
    """The flags a meeting should discuss: worse than benchmark, SPC concern, a target the
    process will not meet (or a value on the wrong side of it), units beyond 99.8% limits."""
    variation, assurance = normalise_variation(variation), normalise_assurance(assurance)
    flags: list[Flag] = []
    if category == "worse":
        flags.append(Flag("worse", "worse than benchmark"))
    if n_points >= SPC_MIN_POINTS and variation == "special_cause_concern":
        flags.append(Flag("spc_concern", "SPC concern"))
    if n_points >= SPC_MIN_POINTS and assurance == "consistent_fail":
        flags.append(Flag("target_fail", "will miss target (SPC)"))
    elif below_target:
        flags.append(Flag("below_target", "below target"))
    if funnel_worse_998:
        flags.append(Flag(
            "outliers",
            f"{plural(funnel_worse_998, noun, nouns)} outside 99.8% limits (worse)",
        ))
    return flags


def meets_target(value: float | None, target: float | None, polarity: str) -> bool | None:
    """True/False when a value meets a target (polarity-aware); None without both or polarity."""
    if is_missing(value) or is_missing(target) or polarity == NEUTRAL:
        return None
    return value >= target if polarity == HIGHER else value <= target  # type: ignore[operator]


# ----------------------------------------------------------------------------- slide words


@dataclass
class IndicatorStory:
    """The numbers behind one indicator's slides, gathered by the pack from core services."""

    name: str
    org_name: str
    polarity: str = HIGHER
    value_text: str = "n/a"
    benchmark_label: str = "England"
    benchmark_text: str = "n/a"
    category: str = "not_compared"
    suppressed: bool = False
    denominator: float | None = None
    funnel_flags: Sequence[str | None] = field(default_factory=list)
    #: how many units the funnel was drawn from (all peers; the flags may be members only)
    funnel_units: int | None = None
    funnel_centre_label: str = "the average"
    member_noun: str = "practices"
    opportunity: float | None = None
    opportunity_goal: str = "the median"
    people: str = "patients"
    variation: str | None = None
    assurance: str | None = None
    n_points: int = 0
    latest_label: str | None = None
    target_text: str | None = None
    below_target: bool | None = None


def headline(story: IndicatorStory) -> str:
    """The slide's message: at most three short sentences, the most important first."""
    parts = [
        comparison_sentence(
            story.org_name, story.value_text, story.category, story.benchmark_label,
            story.benchmark_text, polarity=story.polarity, denominator=story.denominator,
            suppressed=story.suppressed,
        )
    ]
    if story.funnel_flags:
        parts.append(funnel_sentence(
            story.funnel_flags, centre_label=story.funnel_centre_label, noun=story.member_noun,
            polarity=story.polarity, units=story.funnel_units,
        ))
    if story.polarity != NEUTRAL and not is_missing(story.opportunity) \
            and story.opportunity >= 0.5:  # type: ignore[operator]
        # Only a real gap earns a place in the headline; "no opportunity" is in the notes.
        parts.append(opportunity_sentence(
            story.opportunity, people=story.people, goal_label=story.opportunity_goal,
            polarity=story.polarity, noun=story.member_noun,
        ))
    return " ".join(parts)


def method_notes(
    *,
    value_type: str,
    polarity: str,
    benchmark_label: str,
    funnel_method: str | None = None,
    overdispersion: bool = False,
    phi: float | None = None,
    n_points: int = 0,
    opportunity_goal: str = "the median",
    numerator_label: str | None = None,
    denominator_label: str | None = None,
    suppressed_count: int = 0,
    small_count: int = 0,
    noun: str = "practices",
) -> str:
    """Speaker notes: how each number was made and what to be careful about."""
    interval = {
        "proportion": "Wilson score 95% intervals (no continuity correction), as Fingertips "
                      "publishes",
        "rate": "95% intervals from Byar's approximation (exact Poisson below 10 events)",
        "ratio": "95% intervals from Byar's approximation (exact Poisson below 10 events)",
        "count": "95% intervals from Byar's approximation (exact Poisson below 10 events)",
        "mean": "Student-t 95% intervals",
    }.get(value_type, "95% intervals")
    lines = [
        f"Method. Values carry {interval}. Compared with {benchmark_label} by the Fingertips "
        "rule: if the benchmark lies inside the interval the difference could be chance "
        "('similar').",
    ]
    if numerator_label or denominator_label:
        lines.append(f"Definition. Numerator: {numerator_label or 'not stated'}; denominator: "
                     f"{denominator_label or 'not stated'}. Network and peer values are a ratio "
                     "of sums (total numerator over total denominator), not an average of "
                     "percentages.")
    funnel = funnel_method or "95% and 99.8% control limits around the pooled value"
    if overdispersion and phi is not None and not is_missing(phi):
        funnel += (f"; limits widened for overdispersion (phi = {phi:.2f}, Spiegelhalter "
                   "random-effects), because real units vary more than chance alone predicts")
    lines.append(f"Funnel plot. Each dot is one of the {noun}; {funnel}. Small units vary more "
                 "by chance, so a dot outside the limits is more than noise; inside, do not "
                 "rank.")
    spc = ("SPC chart (Making Data Count XmR): mean and process limits at mean +/- 2.66 x the "
           "average moving range; special cause = a point outside the limits, 7 points in a row "
           "on one side of the mean or rising/falling, or 2 of 3 points near a limit; a run "
           "rising or falling is read by its direction, wherever it lies against the mean.")
    if n_points < SPC_MIN_POINTS:
        spc += (f" {too_few_for_limits(n_points)}: the chart is a run chart around the median, "
                "read with the Anhoej rules (an unusually long run on one side of the median, "
                "or too few crossings of it).")
    lines.append(spc)
    if polarity != NEUTRAL:
        lines.append(f"Opportunity: the extra people if every unit below {opportunity_goal} "
                     "reached it, at its own denominator; an estimate of scale, not a target.")
    else:
        lines.append("No polarity: higher is neither better nor worse, so no opportunity is "
                     "counted.")
    cav = []
    if suppressed_count:
        cav.append(f"{plural(suppressed_count, 'value')} suppressed for confidentiality "
                   "(not zeros; left out)")
    if small_count:
        cav.append(f"{plural(small_count, 'unit')} with small denominators: wide intervals, "
                   "too few to judge")
    if cav:
        lines.append("Caveats: " + "; ".join(cav) + ".")
    return "\n\n".join(lines)


__all__ = [
    "HIGHER",
    "LOWER",
    "MIN_UNITS",
    "NEUTRAL",
    "SPC_GOOD_POINTS",
    "SPC_MIN_POINTS",
    "Flag",
    "IndicatorStory",
    "about",
    "assurance_label",
    "compare_with_benchmark",
    "comparison_sentence",
    "direction_word",
    "discussion_flags",
    "format_number",
    "format_value",
    "funnel_counts",
    "funnel_sentence",
    "headline",
    "is_missing",
    "meets_target",
    "method_notes",
    "normalise_assurance",
    "normalise_variation",
    "opportunity_sentence",
    "org_noun",
    "people_words",
    "plural",
    "spc_sentence",
    "variation_label",
]
