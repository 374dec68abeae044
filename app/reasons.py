"""The analysis' explanations of undefined statistics, in the reader's language.

The ``analysis`` package writes why a statistic is undefined as an English sentence (it
imports nothing from the app, so it knows no catalogue). Each sentence it can write is
listed here as a message id whose ``%(name)s`` placeholders stand for the numbers and
words it embeds; :func:`translate_reason` reads a sentence back through these patterns
and writes it in the reader's language, numbers the language's way. A sentence no
pattern knows is shown as written. ``tests/test_report_languages.py`` checks that the
reasons the analysis gives for small and degenerate panels are all known here.
"""

from __future__ import annotations

import functools
import re

from app import i18n
from app.i18n import N_

#: Every sentence the analysis writes for an undefined statistic (or a failed criterion),
#: as a message id; a placeholder matches the text the analysis put in its place.
REASONS = (
    # analysis/reliability.py: Krippendorff's alpha
    N_("values from %(n)s rater(s) only; alpha needs at least two raters"),
    N_("no item has values from two raters, so no pairable values"),
    N_("fewer than two items with two or more ratings; with one item alpha is 0 by construction"),
    N_("every pairable value is the same, so there is no variation to agree on"),
    N_("the coefficient is undefined in every bootstrap replicate"),
    N_("no bootstrap replicates were requested"),
    N_("alpha is 1: every resample of its coincidences is perfect agreement"),
    N_(
        "dimension %(dimension)s: the ratio level needs values >= 0 with a true zero, but "
        "the values reach %(value)s; use the interval level"
    ),
    N_(
        "dimension %(dimension)s: the %(level)s level treats each value as a category, and "
        "%(value)s is not a whole number; give the scale (the admissible values) or use the "
        "interval level"
    ),
    N_(
        "dimension %(dimension)s: this coefficient treats each value as a category, and "
        "%(value)s is not a whole number; give the scale (the admissible values) or use the "
        "interval level"
    ),
    N_("not computed for a nominal dimension"),
    # agreement coefficients (Fleiss, Gwet, Brennan-Prediger, percent agreement)
    N_("values from %(n)s rater(s) only; agreement needs at least two raters"),
    N_("no item has values from two raters"),
    N_("the scale has a single category"),
    N_("chance agreement is 1 (a single value was used), so the coefficient is 0/0"),
    N_(
        "fewer than two items with two or more ratings; with one item the chance agreement "
        "comes from that item alone"
    ),
    N_(
        "one item with two or more ratings: the spread over items, which the interval needs, "
        "cannot be estimated"
    ),
    # intraclass correlations
    N_("%(items)s item(s) rated by %(raters)s rater(s); ICC needs at least 2 items and 2 raters"),
    N_("no item was rated twice, so within-item variance is unknown"),
    N_("no residual degrees of freedom: every rating is needed to fit the item and rater effects"),
    N_("all values are equal (no variance)"),
    N_("zero variance between items and within items: 0/0"),
    N_("no residual variance, so the F test and interval are undefined"),
    N_("the residual variance is practically zero, so no large-sample interval"),
    N_(
        "the item variance is estimated at zero (the boundary), where the large-sample "
        "interval does not hold"
    ),
    N_(
        "the rater variance is estimated at zero (the boundary), where the large-sample "
        "interval does not hold"
    ),
    N_("the information matrix is singular, so no large-sample interval"),
    # Kendall's W
    N_("the complete block has %(items)s item(s) x %(raters)s rater(s); W needs 2 x 2"),
    N_("every rater gave all items the same value, so there is no ranking"),
    # analysis/consensus.py: the consensus criterion
    N_("no values"),
    N_("n = %(n)s < %(minimum)s"),
    N_("IQR = %(iqr)s > %(most)s"),
    N_("share within one point = %(share)s < %(least)s"),
    # analysis/raters.py
    N_("%(n)s value(s) with a panel mean to compare; Spearman needs at least 3"),
    N_("the rater's values or the panel means do not vary, so no rank correlation"),
    N_("Spearman's rho is undefined on every dimension"),
    N_("no item that other raters also rated"),
    N_("the rater gave no values on this dimension"),
    N_("alpha is undefined without this rater"),
    N_("fewer than two groups have two raters with a deviation"),
    N_("every rater has the same mean deviation"),
    # analysis/languages.py
    N_("fewer than two languages have %(n)s or more ratings"),
    N_("every rating is the same"),
    # analysis/reference.py
    N_("rated %(n)s calibration item; at least %(minimum)s are needed"),
    N_("rated %(n)s calibration items; at least %(minimum)s are needed"),
    # analysis/severity.py
    N_(
        "extreme score: every rating of this rater still in the model is the lowest value "
        "used, so its estimate is -infinite"
    ),
    N_(
        "extreme score: every rating of this rater still in the model is the highest value "
        "used, so its estimate is +infinite"
    ),
    N_(
        "extreme score: every rating of this item still in the model is the lowest value "
        "used, so its estimate is -infinite"
    ),
    N_(
        "extreme score: every rating of this item still in the model is the highest value "
        "used, so its estimate is +infinite"
    ),
    N_("every rating of this item comes from raters with an extreme score"),
    N_("the rater gave no value on the dimensions modelled"),
    N_("every item this rater rated has an extreme score"),
    N_("only the value %(value)s was used, so the dimension has no rating scale"),
    N_("every item or rater of this dimension has an extreme score"),
    N_("no values on the dimensions modelled"),
    N_("fewer than two raters without an extreme score, so there are no severities to compare"),
    N_(
        "the ratings fall into %(groups)s groups of raters and items that share no rating, "
        "so their severities cannot be put on one scale"
    ),
    N_("the reliability is 1, so the separation is infinite"),
    # analysis/stability.py
    N_("no expert rated in both rounds"),
    N_("no answer was given in both rounds by the same expert"),
    N_("fewer than two answers valued in both rounds"),
    N_("one value throughout both rounds, so no agreement beyond chance"),
    # analysis/cooke.py
    N_("no remaining expert reaches alpha %(alpha)s"),
    # analysis/calibration/
    N_("no holistic tiers"),
    N_("%(reason)s: the initial thresholds are kept"),
    N_("%(reason)s: thresholds stay as declared in every resample"),
    N_("no item has both a score on every rule dimension and a panel tier"),
    N_("0/0: the rule and the panel put every item in one and the same tier"),
    N_("0/0: predictions and panel put every item in one same tier"),
    N_("0/0: the rule and the panel put every item in one tier"),
    N_(
        "not identified: the panel puts every item with a score in %(tier)s, so the data "
        "place no threshold between tiers"
    ),
    N_("leave-one-out needs at least 2 items with a score and a panel tier"),
    N_(
        "not identified: without one of the items the others lie in one panel tier, so the "
        "refit places no threshold"
    ),
    N_("no holistic tier given, so not used in the fit"),
    N_("no bootstrap requested (n_bootstrap = 0)"),
    N_("no score in any resample for: %(items)s"),
    # app/services/reports.py and sensitivity.py (the seed questions, the factor question)
    N_("answered %(n)s of the %(total)s quantity questions"),
    N_("%(n)s expert answered every quantity question; the model needs at least two"),
    N_("%(n)s experts answered every quantity question; the model needs at least two"),
    N_("no expert answered for this item"),
)

#: The names of the statistics a dimension's reasons are keyed by (``krippendorff_alpha.
#: ordinal``, ``icc_ci.ICC2``, ...), as the report's tables head them.
STATISTICS = {
    "fleiss_kappa": N_("Fleiss κ"),
    "gwet_ac1": N_("Gwet AC1"),
    "gwet_ac2_quadratic": N_("AC2 (quadratic)"),
    "gwet_ac2_ordinal": N_("AC2 (ordinal)"),
    "brennan_prediger": N_("Brennan–Prediger"),
    "percent_agreement": N_("percent agreement"),
    "kendall_w": N_("Kendall's W"),
}

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each message id as a regular expression matching the English it stands for."""
    found = []
    for message in REASONS:
        parts = _PLACEHOLDER.split(message.replace("%%", "%"))
        # split gives text, name, text, name, ..., text
        pattern = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^;]+?)"
            for index, part in enumerate(parts)
        )
        found.append((re.compile(pattern + r"\Z"), message))
    return tuple(found)


def translate_reason(language: str, reason: str | None) -> str:
    """``reason``, an explanation the analysis wrote in English, in ``language``: through
    the pattern it matches, its numbers the language's way (and a nested reason, or the
    parts of a reason joined by "; ", translated in turn and joined the language's way);
    unchanged when none matches."""
    if not reason:
        return ""
    interface = i18n.interface_language(language)
    if interface == i18n.SOURCE_LANGUAGE:
        return reason
    for pattern, message in _patterns():
        match = pattern.match(reason)
        if match is not None:
            values = {name: _value(language, text) for name, text in match.groupdict().items()}
            return i18n.translate(interface, message, **values)
    if "; " in reason:
        parts = [translate_reason(language, part) for part in reason.split("; ")]
        return i18n.semicolon(language).join(parts)
    return reason


def statistic_name(language: str, key: str) -> str:
    """The name of the statistic a reason is keyed by, in ``language`` (the key itself when
    it is not one the report shows)."""
    interface = i18n.interface_language(language)
    family, _, detail = key.partition(".")
    if family == "krippendorff_alpha":
        level = i18n.translate(interface, detail)
        return i18n.translate(interface, "Krippendorff's alpha (%(level)s)", level=level)
    if family == "krippendorff_alpha_ci":
        level = i18n.translate(interface, detail)
        return i18n.translate(
            interface, "the interval of Krippendorff's alpha (%(level)s)", level=level
        )
    if family == "icc":
        return detail
    if family == "icc_ci":
        return i18n.translate(interface, "the interval of %(statistic)s", statistic=detail)
    return i18n.translate(interface, STATISTICS[key]) if key in STATISTICS else key


def _value(language: str, text: str) -> str:
    """A value read out of a reason, written for ``language``: a number the language's
    way, a reason translated, other words as the catalogue has them."""
    if _NUMBER.fullmatch(text):
        number = float(text)
        shown = int(number) if number.is_integer() and "." not in text else number
        return i18n.format_number(shown, language)
    translated = translate_reason(language, text)
    if translated != text:
        return translated
    return i18n.translate(i18n.interface_language(language), text)
