"""Published rubric pages and the round report in the reader's language: French and
Arabic (right to left) with no English interface text left, the survey's own texts
translated, the signed JSON record unchanged."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlmodel import Session

from app.services import rounds, rubrics
from app.services.demo import simulate_panel
from app.services.rubrics import verify_record
from app.survey_files import builtin_surveys_dir, load_survey_file
from tests.factories import login, make_round, make_user
from tests.test_i18n import aisi_round, english_left

LANGUAGES = [("fr", "ltr"), ("ar", "rtl")]


def _leaves(value: object, path: tuple[object, ...] = ()) -> dict[tuple[object, ...], str]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _leaves(sub, (*path, key)).items()}
    if isinstance(value, list):
        return {k: v for i, sub in enumerate(value) for k, v in _leaves(sub, (*path, i)).items()}
    return {path: value} if isinstance(value, str) else {}


def untranslated(language: str) -> list[str]:
    """The survey's texts its file does not translate yet (its decisions, categories and
    context factors may be in the source language only): the page shows them as given."""
    source = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
    parts = ("decisions", "categories", "context")
    before = _leaves(source.model_dump(include=set(parts)))
    after = _leaves(source.localized(language).model_dump(include=set(parts)))
    same = {text for path, text in after.items() if before.get(path) == text and len(text) > 3}
    return sorted(same, key=len, reverse=True)


def english_interface_left(html: str, language: str) -> list[str]:
    """English words left once the survey's untranslated texts are set aside."""
    for text in untranslated(language):
        html = html.replace(str(escape(text)), " ")
    return english_left(html)


@pytest.fixture
def published(session: Session, client):
    """Version 1 and 2 of the AISI survey's rubric (given in English, French and Arabic)."""
    user = make_user(session)
    round_ = aisi_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=5, seed=3)
    rounds.close_round(session, round_id=round_.id)
    for justification in ("pilot panel", "second pilot"):
        rubrics.publish_rubric(
            session, round_id=round_.id, publisher=user, justification=justification, n_bootstrap=20
        )
    session.commit()
    return round_


@pytest.mark.slow
def test_public_rubric_pages_in_the_reader_s_language(client, published) -> None:
    slug = "aisi-information-sharing"
    for language, direction in LANGUAGES:
        for path in (
            "/rubrics/",
            f"/rubrics/{slug}/",
            f"/rubrics/{slug}/v1",
            f"/rubrics/{slug}/diff/1/2",
        ):
            page = client.get(path, params={"lang": language})
            assert page.status_code == 200, (path, page.text)
            assert f'<html lang="{language}" dir="{direction}">' in page.text, path
            assert english_interface_left(page.text, language) == [], path
            assert '<select id="lang-choice" name="lang">' in page.text
        # The browser's language when the page names none; links keep an explicit choice.
        asked = client.get(
            f"/rubrics/{slug}/v1", headers={"accept-language": f"{language},en;q=0.5"}
        )
        assert f'<html lang="{language}" dir="{direction}">' in asked.text
        assert (
            f'href="/rubrics/{slug}/v2"'
            in client.get(f"/rubrics/{slug}/", headers={"accept-language": language}).text
        )
        chosen = client.get(f"/rubrics/{slug}/", params={"lang": language})
        assert f'href="/rubrics/{slug}/v2?lang={language}"' in chosen.text
    # No language asked for: the survey's own.
    assert '<html lang="en" dir="ltr">' in client.get(f"/rubrics/{slug}/v1").text
    # An error page follows the browser's language.
    missing = client.get("/rubrics/nothing-here/", headers={"accept-language": "ar"})
    assert missing.status_code == 404 and '<html lang="ar" dir="rtl">' in missing.text
    refused = client.get(f"/rubrics/{slug}/v1", params={"lang": "de"})
    assert refused.status_code == 422
    assert "the page is not given in &#39;de&#39;; its languages are en, fr, ar" in refused.text
    # The signed record stays as published; the reader's language comes beside it.
    plain = client.get(f"/rubrics/{slug}/v1.json").json()
    for language in ("fr", "ar"):
        reading = client.get(f"/rubrics/{slug}/v1.json", params={"lang": language}).json()
        assert reading["record"] == plain["record"] and reading["digest"] == plain["digest"]
        assert verify_record({"record": reading["record"], "digest": reading["digest"]})
        localized = reading["localized"]
        assert localized["language"] == language
        assert localized["record"]["survey"]["title"] != plain["record"]["survey"]["title"]
        assert localized["record"]["rule"] == plain["record"]["rule"]
    assert "localized" not in plain
    assert plain["record"]["survey"]["title"].startswith("Information sharing in the")


_EXPLAINING = {"reason", "reasons", "warnings", "method", "consensus_reason"}


def _explanations(data: object, explaining: bool = False) -> list[str]:
    """The analysis' explanations in a report's data (why a figure is undefined, how an
    ICC was estimated), longest first."""
    found: set[str] = set()

    def walk(value: object, inside: bool) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, inside or key in _EXPLAINING)
        elif isinstance(value, list):
            for sub in value:
                walk(sub, inside)
        elif isinstance(value, str) and inside and len(value) > 3:
            found.add(value)

    walk(data, explaining)
    return sorted(found, key=len, reverse=True)


@pytest.mark.slow
def test_the_report_in_the_reader_s_language(session, monkeypatch) -> None:
    from app.services import reports

    round_ = aisi_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=3, seed=5)
    report = reports.build_report(
        session, round_id=round_.id, options=reports.ReportOptions(n_bootstrap=10)
    )
    # The figures' titles are translated too, but drawing them takes seconds: left out.
    monkeypatch.setattr(reports, "_report_figures", lambda report, language="en": {})
    # The analysis explains an undefined figure in its own words (English, documented).
    explanations = _explanations(report.to_dict())
    for language, direction in LANGUAGES:
        page = reports.render_report(report, "html", language)
        assert f'<html lang="{language}" dir="{direction}">' in page
        for text in explanations:
            page = page.replace(str(escape(text)), " ")
        assert english_interface_left(page, language) == [], english_interface_left(page, language)
    french = reports.render_report(report, "html", "fr")
    assert "Fiabilité par dimension" in french and "Partage d&#39;informations" in french
    assert re.search(r"produit le \d{1,2} [a-zéû]+ \d{4}, \d\d:\d\d UTC", french)
    assert re.search(r">-?\d,\d{3}<", french)  # a coefficient with the French decimal sign
    assert "Reliability per dimension" in reports.render_report(report, "html")


@pytest.mark.slow
def test_the_report_s_language_through_the_api_and_the_command_line(
    session, client, elicit, tmp_path
) -> None:
    make_user(session)
    round_ = make_round(session)  # a survey in English alone: the interface is translated
    simulate_panel(session, round_id=round_.id, n_experts=4, seed=2)
    session.commit()
    url = f"/api/rounds/{round_.id}/report"
    params = {"format": "html", "n_bootstrap": 20, "lang": "ar"}
    headers = login(client)
    arabic = client.get(url, params=params, headers=headers)
    assert arabic.status_code == 200 and '<html lang="ar" dir="rtl">' in arabic.text
    assert "الموثوقية لكل بُعد" in arabic.text
    refused = client.get(url, params={**params, "lang": "de"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["field"] == "lang"
    assert "its languages are en, fr, ar" in refused.json()["detail"]
    out = tmp_path / "report.html"
    elicit("report", str(round_.id), "--bootstrap", "20", "--language", "fr", "-o", str(out))
    assert "Fiabilité par dimension" in out.read_text(encoding="utf-8")
    wrong = elicit("report", str(round_.id), "--language", "xx", ok=False)
    assert wrong.exit_code == 1 and "--language: the report is not given in 'xx'" in wrong.output
