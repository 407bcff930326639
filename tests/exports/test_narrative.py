"""The narrative generator: numbers to sentences, polarity-aware and honest about small data."""

from __future__ import annotations

import math

import pytest

from core import stats
from exports import narrative as nv


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (92.345, {}, "92.3%"),
        (12.44, {"value_type": "rate", "multiplier": 1000}, "12.4 per 1,000"),
        (1.049, {"value_type": "ratio", "multiplier": 1, "decimals": 2}, "1.05"),
        (5.0, {"unit": "days", "value_type": "mean", "multiplier": 1}, "5.0 days"),
        (80.0, {"unit": "%", "value_type": "mean", "multiplier": 1}, "80.0%"),
        (None, {}, "n/a"),
        (math.nan, {}, "n/a"),
    ],
)
def test_format_value(value, kwargs, expected):
    assert nv.format_value(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0.2, "fewer than 1"), (7.4, "7"), (19.6, "20"), (143, "about 140"), (2468, "about 2,500"),
     (9.97, "10"), (155, "about 160")],
)
def test_about_rounds_like_a_person(count, expected):
    assert nv.about(count) == expected


@pytest.mark.parametrize(
    ("value", "lower", "upper", "bench", "polarity", "expected"),
    [
        (90, 88, 92, 95, nv.HIGHER, "worse"),
        (90, 88, 92, 95, nv.LOWER, "better"),
        (90, 88, 92, 95, nv.NEUTRAL, "lower"),
        (97, 96, 98, 95, nv.HIGHER, "better"),
        (97, 96, 98, 95, nv.NEUTRAL, "higher"),
        (94, 90, 98, 95, nv.HIGHER, "similar"),
        (94, 90, 95, 95, nv.HIGHER, "similar"),  # benchmark on the limit: inside (Fingertips)
        (94, None, None, 95, nv.HIGHER, "not_compared"),
        (94, 90, 98, None, nv.HIGHER, "not_compared"),
    ],
)
def test_compare_with_benchmark_fingertips_rule(value, lower, upper, bench, polarity, expected):
    assert nv.compare_with_benchmark(value, lower, upper, bench, polarity) == expected


def test_comparison_sentence_words():
    s = nv.comparison_sentence("Riverside PCN", "88.1%", "worse", "England", "92.3%")
    assert s == "Riverside PCN (88.1%) is significantly lower than England (92.3%), which is worse."
    s = nv.comparison_sentence("X", "3.1 per 1,000", "better", "England", "4.0 per 1,000",
                               polarity=nv.LOWER)
    assert "significantly lower than England" in s
    assert s.endswith(", which is better.")
    s = nv.comparison_sentence("X", "12.0%", "higher", "England", "9.0%", polarity=nv.NEUTRAL)
    assert "significantly higher" in s
    assert "better" not in s
    assert "worse" not in s
    assert "could be chance" in nv.comparison_sentence("X", "1%", "similar", "E", "1%")
    assert "suppressed" in nv.comparison_sentence("X", "n/a", "not_compared", "E", "1%",
                                                  suppressed=True)
    assert "too few to judge" in nv.comparison_sentence("X", "50.0%", "not_compared", "E", "1%")


def test_funnel_sentence_counts_and_polarity():
    flags = ["below_95", "below_998", "below_95"] + ["within"] * 8 + ["above_95"]
    s = nv.funnel_sentence(flags, centre_label="the England value")
    assert s.startswith("3 of 12 practices are significantly below the England value (worse)")
    assert "and 1 is significantly above it (better)" in s
    assert "the other 8 are within the limits" in s
    # lower is better: the worse side (above) leads
    s = nv.funnel_sentence(["above_95"] * 2 + ["within"] * 3, polarity=nv.LOWER, noun="trusts")
    assert s.startswith("2 of 5 trusts are significantly above the average (worse)")
    # no polarity: no better/worse
    s = nv.funnel_sentence(["above_95"] + ["within"] * 4, polarity=nv.NEUTRAL)
    assert "(better)" not in s
    assert "(worse)" not in s
    assert "1 of 5" in s
    # missing values do not count as units
    s = nv.funnel_sentence(["within"] * 4 + [None, None])
    assert s.startswith("All 4 practices are within the limits")


def test_funnel_sentence_too_few():
    assert nv.funnel_sentence(["below_998", None, None]).startswith(
        "Too few practices with a value (1)")


def test_funnel_sentence_members_of_a_larger_funnel():
    # a PCN's two practices on a funnel drawn from 79 peers: the limits are there to judge them
    s = nv.funnel_sentence(["within", "within"], units=79, centre_label="the average")
    assert s.startswith("Both of its practices are within the limits expected by chance around "
                        "the average")
    s = nv.funnel_sentence(["below_95", "within"], units=79, centre_label="the average")
    assert s.startswith("1 of its 2 practices is significantly below the average (worse)")
    s = nv.funnel_sentence(["within", None], units=79)
    assert s.startswith("The only one of its practices with a value is within the limits")
    s = nv.funnel_sentence(["within"] * 5, units=79)
    assert s.startswith("All 5 of its practices are within the limits")
    # the whole funnel (flags for every unit): no "its"
    assert nv.funnel_sentence(["within"] * 5, units=5).startswith("All 5 practices are within")
    assert nv.funnel_sentence([None, None], units=79) == (
        "None of the practices has a value to place on the funnel plot.")
    # too few peers to draw limits at all: still too few, whatever the members
    assert nv.funnel_sentence(["within", "within"], units=2).startswith(
        "Too few practices with a value (2)")


def test_one_person_is_singular():
    assert nv.opportunity_sentence(1.2, people="children vaccinated (MMR1) by 24 months") == (
        "Reaching the median would mean 1 more child vaccinated (MMR1) by 24 months.")
    assert nv.count_of(1, "patients with a review") == "1 patient with a review"
    assert nv.count_of(1, "emergency admissions") == "1 emergency admission"
    assert nv.count_of(1, "babies breastfed") == "1 baby breastfed"
    assert nv.count_of(3, "children vaccinated") == "3 children vaccinated"
    assert nv.singular_phrase("glass") == "glass"


def test_opportunity_sentence():
    s = nv.opportunity_sentence(143, people="children vaccinated")
    assert s == "Reaching the median would mean about 140 more children vaccinated."
    s = nv.opportunity_sentence(61, people="emergency admissions", polarity=nv.LOWER,
                                goal_label="the upper quartile")
    assert s == "Reaching the upper quartile would mean about 61 fewer emergency admissions."
    assert nv.opportunity_sentence(0.0, people="x").startswith("All practices already reach")
    assert nv.opportunity_sentence(50, people="x", polarity=nv.NEUTRAL) == ""
    assert "no values" in nv.opportunity_sentence(None, people="x")


def test_people_words():
    assert nv.people_words("children vaccinated", "children aged 1") == "children vaccinated"
    assert nv.people_words(None, "women aged 25-64") == "women aged 25-64 meeting the indicator"
    assert nv.people_words(None, None) == "patients"


def test_spc_sentence_too_few_and_signal():
    s = nv.spc_sentence(None, None, 3)
    assert s == "3 points: too few for limits; at least 12 needed."
    run = stats.run_chart_signals([80.0, 85.0, 90.0])
    s = nv.spc_sentence(None, None, 3, run_chart=run)
    assert s.startswith("3 points: too few for limits; at least 12 needed. Run chart (median")
    assert s.endswith("too few for the Anhoej run-chart tests: no signal can show yet.")
    s = nv.spc_sentence("concern_low", "fail", 24, latest_label="2019-03", target_text="95.0%")
    assert "(2019-03) shows special-cause concern" in s
    assert "will not be met unless the process changes" in s
    assert "provisional" not in s
    s = nv.spc_sentence("improvement_high", "hit_or_miss", 14, target_text="95%")
    assert "special-cause improvement" in s
    assert "may or may not be met" in s
    assert "provisional (14 points)" in s
    s = nv.spc_sentence("common_cause", None, 36)
    assert "common-cause variation only" in s
    assert "target" not in s


def test_engine_vocabulary_is_normalised():
    assert nv.normalise_variation("improvement_low") == "special_cause_improvement"
    assert nv.normalise_variation("concern_high") == "special_cause_concern"
    assert nv.normalise_variation("neutral_high") == "special_cause_neutral_high"
    assert nv.normalise_variation("common_cause") == "common_cause"
    assert nv.normalise_assurance("pass") == "consistent_pass"
    assert nv.variation_label("concern_low") == "Concern"
    assert nv.variation_label(None) == "Too few points"
    assert nv.assurance_label("fail") == "Will miss target"


def test_discussion_flags():
    flags = nv.discussion_flags(category="worse", variation="concern_low", assurance="fail",
                                n_points=20, below_target=True, funnel_worse_998=2)
    assert [f.code for f in flags] == ["worse", "spc_concern", "target_fail", "outliers"]
    assert flags[-1].text == "2 practices outside 99.8% limits (worse)"
    # too few points: no SPC flags, but the target shortfall still shows
    flags = nv.discussion_flags(category="similar", variation="concern_low", assurance="fail",
                                n_points=3, below_target=True)
    assert [f.code for f in flags] == ["below_target"]
    assert nv.discussion_flags(category="better", variation="common_cause", assurance="pass",
                               n_points=30, below_target=False) == []


def test_meets_target_polarity():
    assert nv.meets_target(96, 95, nv.HIGHER) is True
    assert nv.meets_target(96, 95, nv.LOWER) is False
    assert nv.meets_target(96, 95, nv.NEUTRAL) is None
    assert nv.meets_target(None, 95, nv.HIGHER) is None


def test_headline_reads_like_the_issue():
    story = nv.IndicatorStory(
        name="MMR1", org_name="Regis Healthcare PCN", value_text="89.0%",
        benchmark_label="the England value", benchmark_text="92.0%", category="worse",
        funnel_flags=["below_95"] * 3 + ["within"] * 9, funnel_centre_label="the England value",
        opportunity=143, people="children vaccinated", opportunity_goal="the median",
    )
    h = nv.headline(story)
    assert "3 of 12 practices are significantly below the England value" in h
    assert "Reaching the median would mean about 140 more children vaccinated." in h
    assert h.startswith("Regis Healthcare PCN (89.0%) is significantly lower")
    # no gap: the opportunity sentence is left out of the headline
    story.opportunity = 0.0
    assert "Reaching" not in nv.headline(story)


def test_method_notes_mention_methods_and_caveats():
    notes = nv.method_notes(value_type="proportion", polarity=nv.HIGHER,
                            benchmark_label="England", overdispersion=True, phi=2.5,
                            n_points=3, suppressed_count=2, small_count=1,
                            numerator_label="children vaccinated",
                            denominator_label="children aged 1")
    assert "Wilson" in notes
    assert "phi = 2.50" in notes
    assert "ratio of sums" in notes
    assert "3 points: too few for limits; at least 12 needed: the chart is a run chart" in notes
    assert "2 values suppressed" in notes
    assert "1 unit with small denominators" in notes


def test_org_noun():
    assert nv.org_noun("practice", 1) == "practice"
    assert nv.org_noun("pcn") == "PCNs"
    assert nv.org_noun("acute_trust") == "acute trusts"
    assert nv.org_noun(None, 1) == "organisation"
