"""One visual theme for the dashboards and the slide packs: colours, fonts, a plotly template.

Colours
-------
* NHS identity blue ``#005EB8`` and the NHS dark/light greys for the page chrome
  (NHS identity guidelines, "Colours").
* SPC points in the Making Data Count colours exactly as NHSRplotthedots ships them
  (nhs-r-community/NHSRplotthedots ``R/ptd_spc_colours.R``: ``common_cause = "#7b7d7d"``,
  ``special_cause_improvement = "#289de0"``, ``special_cause_neutral = "#361475"``,
  ``special_cause_concern = "#fab428"``, mean line black, process limits ``#7b7d7d``, target
  ``#de1b1b``).
* Peer comparison (better / similar / worse) in a colour-blind-safe pair from the Okabe-Ito
  palette (blue ``#0072B2`` against orange ``#E69F00``; distinguishable under deuteranopia,
  protanopia and tritanopia) plus a neutral grey, never red/green. Blue = better and orange =
  worse, so the comparison reads the same way as the SPC colours. Every chart also says it in
  words (legend, hover) because colour alone must not carry meaning.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#E8EDEE"
NHS_BLACK = "#231F20"
NHS_WHITE = "#FFFFFF"
NHS_WARM_YELLOW = "#FFB81C"

FONT_FAMILY = "Frutiger, Arial, 'Helvetica Neue', Helvetica, sans-serif"

#: Making Data Count SPC colours (NHSRplotthedots ``ptd_spc_colours`` defaults).
SPC_COLOURS = {
    "common_cause": "#7B7D7D",
    "special_cause_improvement": "#289DE0",
    "special_cause_neutral": "#361475",
    "special_cause_concern": "#FAB428",
    "value_line": "#7B7D7D",
    "mean_line": "#000000",
    "limits": "#7B7D7D",
    "target": "#DE1B1B",
    "trajectory": "#361475",
}

#: SPC point classes also differ in shape, so colour is never the only cue (WCAG 1.4.1).
SPC_SYMBOLS = {
    "common_cause": "circle",
    "special_cause_improvement": "diamond",
    "special_cause_concern": "square",
    "special_cause_neutral": "triangle-up",
}

#: Outline of points and bars: 3:1 or more against white (WCAG 1.4.11), whatever their fill
#: (the pale grey and orange fills are 1.9:1 and 2.3:1 on their own).
MARK_OUTLINE = NHS_DARK_GREY

#: Peer comparison categories: colour-blind safe (Okabe-Ito) and always labelled in words.
COMPARISON_COLOURS = {
    "better": "#0072B2",
    "similar": "#BDBDBD",
    "worse": "#E69F00",
    "higher": "#56B4E9",  # "no judgement" indicators: different, but not better or worse
    "lower": "#56B4E9",
    "not_compared": "#FFFFFF",
}

COMPARISON_LABELS = {
    "better": "Significantly better",
    "similar": "Similar (difference could be chance)",
    "worse": "Significantly worse",
    "higher": "Significantly higher",
    "lower": "Significantly lower",
    "not_compared": "Not compared (too few or suppressed)",
}

#: Lines drawn on comparison and funnel charts.
BENCHMARK_COLOUR = NHS_BLACK
TARGET_COLOUR = SPC_COLOURS["target"]
HIGHLIGHT_COLOUR = NHS_DARK_BLUE
LIMIT_95_COLOUR = "#5E6A71"
LIMIT_998_COLOUR = "#231F20"

#: Sizes: the screen, and slides rendered at 1600x900 and shown on a projector.
SCREEN = {"font": 13, "title": 17, "tick": 12, "width": None, "height": 480}
SLIDES = {"font": 20, "title": 26, "tick": 18, "width": 1600, "height": 900}


def _template(sizes: dict) -> go.layout.Template:
    return go.layout.Template(
        layout={
            "font": {"family": FONT_FAMILY, "size": sizes["font"], "color": NHS_BLACK},
            "title": {"font": {"size": sizes["title"], "color": NHS_BLACK}, "x": 0.0,
                      "xanchor": "left"},
            "paper_bgcolor": NHS_WHITE,
            "plot_bgcolor": NHS_WHITE,
            "colorway": [NHS_BLUE, "#E69F00", "#009E73", "#CC79A7", "#56B4E9", NHS_DARK_GREY],
            "xaxis": {"showgrid": False, "linecolor": NHS_MID_GREY, "ticks": "outside",
                      "tickcolor": NHS_MID_GREY, "tickfont": {"size": sizes["tick"]},
                      "zeroline": False, "automargin": True},
            "yaxis": {"showgrid": True, "gridcolor": NHS_PALE_GREY, "linecolor": NHS_MID_GREY,
                      "tickfont": {"size": sizes["tick"]}, "zeroline": False,
                      "automargin": True},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left",
                       "x": 0.0, "font": {"size": sizes["tick"]}},
            "hoverlabel": {"font": {"family": FONT_FAMILY}},
            # toolbar icons at 3:1 or more against white (plotly's default grey is 1.7:1)
            "modebar": {"color": NHS_DARK_GREY, "activecolor": NHS_BLUE,
                        "bgcolor": "rgba(255,255,255,0.9)"},
            "margin": {"l": 60, "r": 30, "t": 70, "b": 50},
        }
    )


pio.templates["qidash"] = _template(SCREEN)
pio.templates["qidash_slides"] = _template(SLIDES)


def apply_theme(
    fig: go.Figure,
    *,
    for_slides: bool = False,
    width: int | None = None,
    height: int | None = None,
) -> go.Figure:
    """Apply the qidash template and size: the screen size, or 1600x900 slides by default."""
    sizes = SLIDES if for_slides else SCREEN
    fig.update_layout(
        template="qidash_slides" if for_slides else "qidash",
        width=width or sizes["width"],
        height=height or sizes["height"],
    )
    return fig


def sizes(for_slides: bool = False) -> dict:
    """Font sizes in force for the screen or for slides (for builders that add annotations)."""
    return SLIDES if for_slides else SCREEN


#: Dash/Bootstrap page chrome.
PAGE_CSS_VARS = {
    "--qidash-blue": NHS_BLUE,
    "--qidash-dark-blue": NHS_DARK_BLUE,
    "--qidash-grey": NHS_DARK_GREY,
    "--qidash-pale": NHS_PALE_GREY,
}
