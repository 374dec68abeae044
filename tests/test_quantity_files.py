"""The `quantities:` section of survey files: seed and target questions, checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.survey_files import SurveyFileError, load_survey_directory, parse_survey_text

MINIMAL = (Path(__file__).parent / "data" / "surveys" / "minimal.yaml").read_text(encoding="utf-8")

QUANTITIES = """\
quantities:
  - key: evals_2025
    label: Evaluations in 2025
    question: How many pre-deployment evaluations did the institutes run in 2025?
    unit: evaluations
    lower: 0
    realisation: 42
  - key: evals_2027
    label: Evaluations in 2027
    question: How many will they run in 2027?
    lower: 0
    upper: 10000
"""


def parsed(extra: str = QUANTITIES):  # type: ignore[no-untyped-def]
    return parse_survey_text(MINIMAL + extra, filename="x.yaml")


def errors(extra: str) -> list[str]:
    with pytest.raises(SurveyFileError) as info:
        parsed(extra)
    return str(info.value).splitlines()


def line_of(text: str, fragment: str) -> int:
    """The line of the last occurrence of ``fragment`` (a duplicate is reported there)."""
    return max(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_seed_and_target_questions_load() -> None:
    definition = parsed()
    assert [q.key for q in definition.quantities] == ["evals_2025", "evals_2027"]
    assert [q.key for q in definition.seed_questions] == ["evals_2025"]
    seed, target = definition.quantities
    assert (seed.realisation, seed.lower, seed.upper, seed.unit) == (42, 0, None, "evaluations")
    assert target.realisation is None and target.is_seed is False
    assert definition.quantity("evals_2027").upper == 10000


def test_a_survey_without_quantities_keeps_its_digest() -> None:
    without = parse_survey_text(MINIMAL, filename="x.yaml")
    assert "quantities" not in without.canonical_json()
    assert parsed().content_sha256() != without.content_sha256()
    # The shipped surveys (with translations) hash as if the section did not exist.
    for shipped in load_survey_directory("surveys"):
        assert '"quantities"' not in shipped.canonical_json(), shipped.slug


@pytest.mark.parametrize(
    ("old", "new", "fragment", "message"),
    [
        (
            "    upper: 10000\n",
            "    upper: -1\n",
            "upper: -1",
            "upper (-1) must be greater than lower (0)",
        ),
        (
            "    realisation: 42\n",
            "    realisation: -3\n",
            "realisation: -3",
            "realisation -3 lies below lower (0)",
        ),
        (
            "    realisation: 42\n",
            "    realisation: .nan\n",
            "realisation: .nan",
            "realisation must be a finite number",
        ),
        (
            "  - key: evals_2027\n",
            "  - key: evals_2025\n",
            "- key: evals_2025",
            "duplicate key 'evals_2025'",
        ),
        (
            "    unit: evaluations\n",
            "    unit: evaluations\n    colour: red\n",
            "colour: red",
            "colour",
        ),
        ("    label: Evaluations in 2027\n", "", "- key: evals_2027", "label"),
    ],
)
def test_mistakes_name_file_line_and_field(old: str, new: str, fragment: str, message: str) -> None:
    extra = QUANTITIES.replace(old, new, 1)
    assert extra != QUANTITIES
    found = errors(extra)
    text = MINIMAL + extra
    assert any(
        line.startswith(f"x.yaml:{line_of(text, fragment)} quantities[") and message in line
        for line in found
    ), found


TRANSLATED = """\
languages: [en, fr]
translations:
  fr:
    title: Enquête minimale
    dimensions:
      proprietary:
        {label: Propriétaire, question: "Propriétaire ?", scale: {levels: {1: B, 2: M, 3: H}}}
      misuse:
        {label: Mésusage, question: "Utile pour un mésusage ?", scale: {levels: {1: B, 2: M, 3: H}}}
    items:
      weights: {label: Poids, description: Les paramètres.}
      learnings: {label: Leçons, description: Comment un institut a été créé.}
    tiers:
      no_brainer: {label: Évident, description: Partager.}
      gray_area: {label: Zone grise, description: Au cas par cas.}
      high_trust: {label: Haute confiance, description: Bilatéral.}
"""
FRENCH_QUANTITIES = """\
    quantities:
      evals_2025:
        {label: Évaluations en 2025, question: "Combien en 2025 ?", unit: évaluations}
      evals_2027: {label: Évaluations en 2027, question: "Combien en 2027 ?"}
"""


def test_quantity_texts_are_translated() -> None:
    definition = parsed(QUANTITIES + TRANSLATED + FRENCH_QUANTITIES)
    french = definition.localized("fr")
    assert [q.label for q in french.quantities] == ["Évaluations en 2025", "Évaluations en 2027"]
    assert french.quantities[0].unit == "évaluations"
    assert french.quantities[0].realisation == 42  # numbers are the same in every language


def test_missing_and_stale_quantity_translations_are_named() -> None:
    found = errors(QUANTITIES + TRANSLATED)
    assert any(
        "quantities[0].label: missing translation into fr (French): add "
        "translations.fr.quantities.evals_2025.label" in line
        for line in found
    ), found
    stale = FRENCH_QUANTITIES + "      gone: {label: Disparu}\n"
    found = errors(QUANTITIES + TRANSLATED + stale)
    assert any("translations.fr.quantities.gone.label" in line for line in found), found
