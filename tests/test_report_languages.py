"""A report read in French or Arabic gives the reasons why a statistic is undefined, and
its figures' axis labels, legends and notes, in that language (app/reasons.py,
analysis.plots.WORDS); every reason the analysis gives for a small panel is known."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import Session

from app import i18n, reasons
from app.reasons import translate_reason
from app.services import reports, responses
from app.services.answer_store import Saving
from tests.factories import make_invitations, make_response, rating
from tests.test_i18n import aisi_round

ITEM = "pre_deployment_evaluation_results"


def one_item_report(session: Session) -> reports.RoundReport:
    """Two experts rate one item: alpha and its kin are undefined (one item), W too."""
    round_ = aisi_round(session)
    for issued, value in zip(make_invitations(session, round_, 2), (2, 4), strict=True):
        response = make_response(session, issued)
        responses.save_ratings(
            session,
            Saving(response.id),
            ratings=[
                rating(item=ITEM, dimension="proprietary", value=value),
                rating(item=ITEM, dimension="misuse", value=6 - value),
            ],
        )
        responses.submit_response(session, response_id=response.id)
    session.commit()
    return reports.build_report(
        session, round_id=round_.id, options=reports.ReportOptions(n_bootstrap=0)
    )


def _reasons_of(report: reports.RoundReport) -> set[str]:
    found: set[str] = set()
    for dimension in report.analysis.dimensions.values():
        found.update(dimension.reasons().values())
    for item in report.analysis.items:
        if item.consensus_reason:
            found.add(item.consensus_reason)
    return found


def test_a_french_report_explains_undefined_statistics_in_french(session) -> None:
    report = one_item_report(session)
    english = _reasons_of(report)
    one_item = (
        "fewer than two items with two or more ratings; with one item alpha is 0 by construction"
    )
    assert one_item in english
    page = html.unescape(reports.report_html(report, generated_at="2026-12-31", language="fr"))
    assert '<html lang="fr"' in page
    assert (
        "moins de deux éléments avec deux notes ou plus ; avec un seul élément, alpha vaut 0 "
        "par construction"
    ) in page
    # Not one of the analysis' English explanations is left on the page.
    assert [reason for reason in english if reason in page] == []
    # The statistics they explain are named in French as well.
    assert "alpha de Krippendorff (ordinale)" in page


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_every_reason_of_a_small_panel_is_translated(session, language: str) -> None:
    report = one_item_report(session)
    found = _reasons_of(report)
    assert found
    for reason in found:
        assert reasons.translate_reason(language, reason) != reason, reason


@pytest.mark.parametrize(
    ("reason", "french"),
    [
        (
            "values from 1 rater(s) only; alpha needs at least two raters",
            "valeurs de 1 évaluateur(s) seulement ; alpha demande au moins deux évaluateurs",
        ),
        # Joined reasons of the consensus criterion, numbers in the French way.
        (
            "IQR = 1.5 > 1; share within one point = 0.50 < 0.7",
            "EIQ = 1,5 > 1\u00a0; part à un point près = 0,5 < 0,7",
        ),
        # A reason inside a reason.
        (
            "no holistic tiers: the initial thresholds are kept",
            "aucun niveau global : les seuils initiaux sont conservés",
        ),
        # Unknown: shown as written, never guessed.
        ("a reason no pattern knows", "a reason no pattern knows"),
    ],
)
def test_reasons_are_read_back_through_their_patterns(reason: str, french: str) -> None:
    assert reasons.translate_reason("fr", reason) == french
    assert reasons.translate_reason("en", reason) == reason


def test_the_figures_words_are_those_of_the_analysis() -> None:
    from analysis import plots

    # The decimal sign is not a word: it comes from the number format of the language.
    assert {**reports.FIGURE_WORDS, "decimal sign": "."} == plots.WORDS


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", ["note médiane", "médiane et EIQ", "consensus atteint", "pas de consensus"]),
        ("ar", ["التقييم الوسيط", "الوسيط والمدى الربيعي"]),
    ],
)
def test_the_figures_axis_labels_and_legends_are_in_the_report_s_language(
    session, language: str, words: list[str]
) -> None:
    report = one_item_report(session)
    figures = reports._report_figures(report, language)
    # Text drawn as paths: matplotlib keeps each text as a comment before its glyphs.
    drawn = html.unescape(figures["heatmap"] + figures["medians"])
    for word in words:
        assert f"<!-- {word} -->" in drawn, word
    for english in ("median rating", "median and IQR", "consensus reached"):
        assert f"<!-- {english} -->" not in drawn


@pytest.mark.parametrize(
    ("language", "joined"),
    [
        ("en", "no values; every rating is the same"),
        ("fr", "aucune valeur\u00a0; toutes les notes sont identiques"),
        ("ar", "لا قيم\u061b كل التقييمات متطابقة"),
    ],
)
def test_reasons_joined_are_joined_the_language_s_way(language: str, joined: str) -> None:
    # French sets a no-break space before the semicolon; Arabic writes its own (U+061B).
    assert translate_reason(language, "no values; every rating is the same") == joined


@pytest.mark.parametrize(("language", "sign"), [("en", "."), ("fr", ","), ("ar", ".")])
def test_numbers_in_figures_take_the_decimal_sign_of_the_pages(language: str, sign: str) -> None:
    from analysis import plots
    from analysis.datasets import krippendorff_2011
    from analysis.summary import analyze
    from app.services.reports import _figure_words

    words = _figure_words(language)
    # As the pages write a coefficient (the |fixed filter): Arabic pages use Latin digits
    # and the full stop, as Babel's Arabic locale does.
    assert words["decimal sign"] == sign == i18n.format_fixed(0.5, 1, language)[1]
    result = analyze(krippendorff_2011(), levels="interval", n_bootstrap=20)
    text = plots.FigureText(words=words)
    texts = re.findall(r"<!-- (.*?) -->", plots.plot_reliability_forest(result, text=text))
    alpha = result.dimensions["d"].primary_alpha.value
    assert f"{alpha:.3f}".replace(".", sign) + " " + words["acceptable"] in texts
    assert "0.667".replace(".", sign) in texts and "0.800".replace(".", sign) in texts
    ticks = [t for t in texts if re.fullmatch(r"[0-9][.,][0-9]", t)]
    assert ticks and all(sign in t for t in ticks)
    cells = re.findall(r"<!-- (.*?) -->", plots.plot_median_heatmap(result, text=text))
    assert "2.5".replace(".", sign) in cells
