"""Content of the shipped surveys: nothing shown to experts may reveal the expected answer.

Experts are asked to place each item independently, so that their judgements can be compared
with the source paper's. An item description that says where the paper put the item (its
tier, "the paper places ...", "case by case") anchors them on that answer and defeats the
calibration. The paper's placement belongs in a YAML comment next to the item, not in text
the experts see.
"""

from __future__ import annotations

import re

import pytest

from app.survey_files import SurveyDefinition, builtin_surveys_dir, load_survey_file

SHIPPED = ["ai-safety-cooperation.yaml", "aisi-information-sharing.yaml"]

#: Phrases that report the source paper's own judgement, whatever the survey's tiers are.
PLACEMENT_PHRASES = [
    "case by case",
    "the paper places",
    "the paper names",
    "the paper lists",
    "the paper finds",
    "the paper judges",
    "particularly suitable",
    "should not share",
    "should not be shared",
    "safe to share",
]

#: Provenance markers of the survey authors; they belong in comments only.
PROVENANCE_MARKERS = ["[seed", "[added"]


def normalise(text: str) -> str:
    """Lower case, hyphens/underscores as spaces, runs of whitespace as one space."""
    return re.sub(r"\s+", " ", re.sub(r"[-_]", " ", text.lower())).strip()


def tier_phrases(survey: SurveyDefinition) -> list[str]:
    """Every tier's label and key, normalised (so ``no_brainer`` also catches "No-Brainer")."""
    phrases = {normalise(tier.label) for tier in survey.tiers}
    phrases |= {normalise(tier.key) for tier in survey.tiers}
    return sorted(phrases)


def item_phrases(survey: SurveyDefinition) -> list[str]:
    """Item labels, and item keys of two or more words, normalised."""
    phrases = {normalise(item.label) for item in survey.items}
    phrases |= {normalise(item.key) for item in survey.items if "_" in item.key}
    return sorted(phrases)


def contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", normalise(text)) is not None


@pytest.fixture(scope="module", params=SHIPPED)
def survey(request: pytest.FixtureRequest) -> SurveyDefinition:
    return load_survey_file(builtin_surveys_dir() / request.param)


def test_normalise_and_contains() -> None:
    assert contains("The paper places it among the No-Brainers.", "no brainer") is False
    assert contains("among the No-Brainer items", "no brainer")
    assert contains("placed for\n  case-by-case assessment", "case by case")
    assert contains("a high_trust item", normalise("High Trust"))
    assert not contains("higher trust", "high trust")


def test_item_descriptions_do_not_name_tiers(survey: SurveyDefinition) -> None:
    phrases = tier_phrases(survey)
    # The AISI survey's tiers are plural in running text ("among the No Brainers").
    phrases += [p + "s" for p in phrases]
    found = [
        (item.key, phrase)
        for item in survey.items
        for phrase in phrases
        if contains(item.description, phrase)
    ]
    assert found == [], f"{survey.slug}: item descriptions name a tier: {found}"


def test_item_descriptions_do_not_report_the_papers_placement(survey: SurveyDefinition) -> None:
    found = [
        (item.key, phrase)
        for item in survey.items
        for phrase in PLACEMENT_PHRASES
        if contains(item.description, phrase)
    ]
    assert found == [], f"{survey.slug}: item descriptions report a placement: {found}"


def test_item_descriptions_carry_no_provenance_markers(survey: SurveyDefinition) -> None:
    found = [
        (item.key, marker)
        for item in survey.items
        for marker in PROVENANCE_MARKERS
        if marker in item.description.lower()
    ]
    assert found == [], f"{survey.slug}: provenance markers in descriptions: {found}"


def test_scale_levels_and_tiers_do_not_use_items_as_examples(survey: SurveyDefinition) -> None:
    """A level or tier description that cites a rated item as its example hands out that
    item's rating (e.g. "Core trade secret, for example model weights")."""
    phrases = item_phrases(survey)
    texts = [
        (f"{dim.key}.{level}", text)
        for dim in survey.dimensions
        for level, text in dim.scale.levels.items()
    ]
    texts += [(f"tier {tier.key}", tier.description) for tier in survey.tiers]
    found = [
        (where, phrase) for where, text in texts for phrase in phrases if contains(text, phrase)
    ]
    assert found == [], f"{survey.slug}: level/tier descriptions cite items: {found}"


def test_every_item_keeps_the_papers_placement_in_comments() -> None:
    """The paper's placement lives in comments above each description, for traceability."""
    for name in SHIPPED:
        text = (builtin_surveys_dir() / name).read_text(encoding="utf-8")
        survey = load_survey_file(builtin_surveys_dir() / name)
        for item in survey.items:
            block = re.search(
                rf"^  - key: {item.key}\n((?:    (?!description:).*\n)*)    description:",
                text,
                re.MULTILINE,
            )
            assert block is not None, f"{name}: item {item.key} not found"
            comments = block.group(1)
            assert "    # source: " in comments, f"{name}: {item.key} has no '# source:' comment"
            assert "    # paper: " in comments, f"{name}: {item.key} has no '# paper:' comment"
