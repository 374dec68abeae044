"""Survey files in several languages: translations, every missing one reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.survey_files import (
    SurveyDefinition,
    SurveyFileError,
    builtin_surveys_dir,
    load_survey_file,
    parse_survey_text,
)

DATA = Path(__file__).parent / "data" / "surveys"
MINIMAL = (DATA / "minimal.yaml").read_text(encoding="utf-8")

FRENCH = """\
translations:
  fr:
    title: Enquête minimale
    dimensions:
      proprietary:
        label: Propriétaire
        question: À quel point est-ce propriétaire ?
        scale: {levels: {1: Faible, 2: Moyen, 3: Élevé}}
      misuse:
        label: Mésusage
        question: Quelle utilité pour un mésusage en cas de fuite ?
        scale: {levels: {1: Faible, 2: Moyen, 3: Élevé}}
    items:
      weights: {label: Poids du modèle, description: Les paramètres entraînés.}
      learnings:
        label: Enseignements institutionnels
        description: Comment un institut a été créé.
    tiers:
      no_brainer: {label: Évidence, description: Partager par défaut.}
      gray_area: {label: Zone grise, description: Au cas par cas.}
      high_trust: {label: Haute confiance, description: Bilatéral seulement.}
"""


def survey(text: str, languages: str = "[en, fr]") -> SurveyDefinition:
    return parse_survey_text(f"{MINIMAL}languages: {languages}\n{text}", filename="x.yaml")


def problems(text: str, languages: str = "[en, fr]") -> list[str]:
    with pytest.raises(SurveyFileError) as info:
        survey(text, languages)
    return [str(p) for p in info.value.errors]


def line_of(fragment: str, text: str) -> int:
    """1-based line of the only line of ``text`` containing ``fragment``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(found) == 1, fragment
    return found[0]


def test_a_complete_translation_loads_and_localizes() -> None:
    definition = survey(FRENCH)
    assert definition.languages == ["en", "fr"]
    assert definition.source_language == "en"
    french = definition.localized("fr")
    assert french.title == "Enquête minimale"
    assert french.dimension("misuse").scale.levels[3] == "Élevé"
    assert french.item("weights").label == "Poids du modèle"
    assert [t.label for t in french.tiers] == ["Évidence", "Zone grise", "Haute confiance"]
    # Keys, scales and the rule do not change with the language.
    assert french.tier_keys == definition.tier_keys
    assert french.tier_rule == definition.tier_rule
    assert definition.localized("en") is definition
    assert definition.localized("de") is definition  # not given in German: the source
    assert definition.localized("fr") is french  # made once
    assert definition.language_or_source("fr") == "fr"
    assert definition.language_or_source("de") == "en"
    # The definition survives its stored JSON form.
    again = SurveyDefinition.model_validate(definition.model_dump(mode="json"))
    assert again.localized("fr").dimension("proprietary").scale.levels[1] == "Faible"
    assert again.content_sha256() == definition.content_sha256()


def test_an_english_only_survey_keeps_its_content_hash() -> None:
    plain = parse_survey_text(MINIMAL, filename="x.yaml")
    declared = parse_survey_text(f"{MINIMAL}languages: [en]\n", filename="x.yaml")
    assert '"languages"' not in plain.canonical_json()
    assert plain.content_sha256() == declared.content_sha256()
    assert survey(FRENCH).content_sha256() != plain.content_sha256()


MISSING = "missing translation into fr (French): add translations.fr."


def test_every_missing_translation_is_reported_at_once_with_its_line() -> None:
    text = FRENCH.replace("        label: Mésusage\n", "").replace(
        "      learnings:\n        label: Enseignements institutionnels\n"
        "        description: Comment un institut a été créé.\n",
        "",
    )
    levels = "scale: {levels: {1: Faible, 2: Moyen, 3: Élevé}}"
    text = text.replace(levels, "scale: {levels: {1: Faible}}", 1)
    found = problems(text)
    full = f"{MINIMAL}languages: [en, fr]\n{text}"
    expected = [
        f"x.yaml:{line_of('{1: Low, 2: Medium, 3: High}', full)} dimensions[0].scale.levels[2]: "
        f"{MISSING}dimensions.proprietary.scale.levels[2]",
        f"x.yaml:{line_of('{1: Low, 2: Medium, 3: High}', full)} dimensions[0].scale.levels[3]: "
        f"{MISSING}dimensions.proprietary.scale.levels[3]",
        f"x.yaml:{line_of('label: Misuse', full)} dimensions[1].label: "
        f"{MISSING}dimensions.misuse.label",
        f"x.yaml:{line_of('label: Institutional learnings', full)} items[1].label: "
        f"{MISSING}items.learnings.label",
        f"x.yaml:{line_of('description: How an institute', full)} items[1].description: "
        f"{MISSING}items.learnings.description",
    ]
    assert found == expected


def test_a_language_without_translations_is_one_problem() -> None:
    found = problems(FRENCH, "[en, fr, ar]")
    assert found == [
        f"x.yaml:{MINIMAL.count(chr(10)) + 1} languages[2]: no translations into ar (Arabic): "
        "add `translations: ar:` with the 21 texts of the survey"
    ]


def test_stale_unknown_and_misplaced_translations_are_refused() -> None:
    text = (
        FRENCH.replace(
            "      weights: {label:", "      wieghts: {label: Poids}\n      weights: {label:"
        )
        + "  de:\n    title: Minimale Umfrage\n  en:\n    title: Minimal\n"
    )
    full = f"{MINIMAL}languages: [en, fr, xx]\n{text}"
    found = problems(text, "[en, fr, xx]")
    assert (
        f"x.yaml:{line_of('wieghts', full)} translations.fr.items.wieghts.label: the survey "
        "has no such text to translate (a key renamed or removed? a holistic tier or e-mail "
        "not enabled?)"
    ) in found
    assert (
        f"x.yaml:{line_of('  de:', full)} translations.de: 'de' is not in `languages` "
        "(en, fr, xx); add it there or remove these translations"
    ) in found
    assert (
        f"x.yaml:{line_of('  en:', full)} translations.en: 'en' is the source language (the "
        "first of `languages`): its texts are the survey's own fields"
    ) in found
    assert f"x.yaml:{line_of('languages:', full)} languages[2]: unknown language 'xx'" in found


def test_empty_and_misshapen_translations_name_their_field() -> None:
    text = FRENCH.replace("title: Enquête minimale", 'title: ""').replace(
        "      weights: {label: Poids du modèle,", "      weights: {lable: Poids du modèle,"
    )
    full = f"{MINIMAL}languages: [en, fr]\n{text}"
    found = problems(text)
    empty_title = line_of('title: ""', full)
    assert any(
        p.startswith(f"x.yaml:{empty_title} translations.fr.title: string should have at least 1")
        for p in found
    ), found
    assert (
        f"x.yaml:{line_of('lable', full)} translations.fr.items.weights.lable: unknown field "
        "(not part of the survey format; see surveys/README.md)"
    ) in found


MAIL = """\
mail:
  invitation:
    subject: "{{ survey_title }}"
    body: "Dear {{ name }}, {{ link }}"
"""


def test_translated_e_mail_templates_are_checked_like_the_source() -> None:
    base = MINIMAL + MAIL + "languages: [en, fr]\n" + FRENCH
    mail = '    mail:\n      invitation:\n        subject: "{{ survey_title }}"\n'
    ok = base + mail + '        body: "Bonjour {{ name }}, {{ link }}"\n'
    french = parse_survey_text(ok, filename="x.yaml").localized("fr")
    assert french.mail.invitation is not None
    assert french.mail.invitation.body == "Bonjour {{ name }}, {{ link }}"
    bad = base + mail + '        body: "Bonjour {{ nom }}"\n'
    with pytest.raises(SurveyFileError) as info:
        parse_survey_text(bad, filename="x.yaml")
    assert [str(p) for p in info.value.errors] == [
        f"x.yaml:{line_of('Bonjour', bad)} translations.fr.mail.invitation.body: body uses nom, "
        "which the invitation e-mail does not have; it may use closes_at, link, name, "
        "round_name, survey_title"
    ]
    missing = base
    with pytest.raises(SurveyFileError) as info:
        parse_survey_text(missing, filename="x.yaml")
    paths = [p.path for p in info.value.errors]
    assert paths == ["mail.invitation.subject", "mail.invitation.body"]


@pytest.mark.parametrize("name", ["ai-safety-cooperation.yaml", "aisi-information-sharing.yaml"])
def test_shipped_surveys_are_complete_in_french_and_arabic(name: str) -> None:
    definition = load_survey_file(builtin_surveys_dir() / name)
    assert definition.languages == ["en", "fr", "ar"]
    english = definition
    for language in ("fr", "ar"):
        local = definition.localized(language)
        assert local is not definition
        # Every text differs from the English one but a few proper names and acronyms.
        same = [
            (item.key, item.label)
            for item, source in zip(local.items, english.items, strict=True)
            if item.label == source.label or item.description == source.description
        ]
        assert same == []
        for dim, source_dim in zip(local.dimensions, english.dimensions, strict=True):
            assert dim.question != source_dim.question
            for level in dim.scale.values:
                assert dim.scale.levels[level] != source_dim.scale.levels[level]
        assert local.introduction != english.introduction
        assert local.holistic_tier.question != english.holistic_tier.question


def test_groups_categories_and_decisions_are_localized_with_their_descriptions() -> None:
    definition = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
    french = definition.localized("fr")
    assert french.decisions["no_brainer"].label == "Partager par défaut"
    assert french.decisions["no_brainer"].description.startswith("Partager avec tout le Réseau")
    evaluation = next(c for c in french.categories if c.key == "evaluation")
    assert (evaluation.label, evaluation.description[:9]) == ("Évaluation", "Résultats")
    # Keys and the rest of each record stay as the source has them.
    assert [c.key for c in french.categories] == [c.key for c in definition.categories]
    assert [c.model_dump(exclude={"label", "description"}) for c in french.categories] == [
        c.model_dump(exclude={"label", "description"}) for c in definition.categories
    ]
    assert list(french.decisions) == list(definition.decisions)
    grouped = [(a.group, b.group) for a, b in zip(french.items, definition.items, strict=True)]
    assert all((a is None) == (b is None) for a, b in grouped)
    assert any(a is not None and a != b for a, b in grouped)


# --- translations a changed source text leaves behind --------------------------------------


def test_a_source_change_with_its_translation_unchanged_is_a_warning(
    session, client, elicit, tmp_path
) -> None:
    from app.services import surveys
    from tests.factories import make_user, sign_in_page

    first = f"{MINIMAL}languages: [en, fr]\n{FRENCH}"
    changed = first.replace("label: Model weights", "label: Trained model weights").replace(
        'version: "1.0"', 'version: "1.1"'
    )
    path = tmp_path / "minimal.yaml"
    path.write_text(first, encoding="utf-8")
    assert "warning" not in elicit("survey", "load", str(path)).output
    path.write_text(changed, encoding="utf-8")
    printed = elicit("survey", "load", str(path)).output
    line = line_of("weights: {label: Poids du modèle", changed)
    assert (
        f"warning: {path}:{line} translations.fr.items.weights.label: source changed, "
        "translation unchanged: check translations.fr.items.weights.label"
    ) in printed
    assert printed.count("warning") == 1  # the description did not change
    make_user(session)
    session.commit()
    sign_in_page(client)
    home = client.get("/admin")
    assert "check translations.fr.items.weights.label" in home.text
    # Confirmed by loading the same file again with --accept-translations.
    confirmed = elicit("survey", "load", str(path), "--accept-translations").output
    assert "unchanged, version 2" in confirmed and "warning" not in confirmed
    assert "check translations" not in client.get("/admin").text
    # A translation updated with its source is no warning; through the API too.
    third = changed.replace("Poids du modèle", "Poids entraînés du modèle").replace(
        "label: Trained model weights", "label: All trained model weights"
    )
    third = third.replace('version: "1.1"', 'version: "1.2"')
    loaded = surveys.load_survey_text(session, content=third, filename="m.yaml")
    assert loaded.created and surveys.translation_warnings(loaded.version) == []
    fourth = third.replace("label: All trained model weights", "label: Weights")
    loaded = surveys.load_survey_text(session, content=fourth, filename="m.yaml")
    assert [w.path for w in surveys.translation_warnings(loaded.version)] == [
        "translations.fr.items.weights.label"
    ]
