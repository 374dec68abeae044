"""The interface in the expert's language: catalogues complete and compiled, pages in
French and Arabic (right to left) with no English left, the language per invitation and
switchable, e-mails and dates in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlmodel import Session, select

from app import i18n
from app.errors import InvalidInput
from app.inputs import InviteeCreate
from app.models import Invitation, OutboxMessage, Rating, Round
from app.services import invitations, mail, surveys
from app.survey_files import (
    MAIL_VARIABLES,
    builtin_surveys_dir,
    load_survey_file,
    mail_environment,
)
from tests.factories import make_invitations, make_round

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "translate": (2,),
    "translate_plural": (2, 3),
    "_t": (2,),
}


def _extracted() -> set[str | tuple[str, ...]]:
    method_map = [("app/**.py", "python"), ("app/web/templates/*.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options, keywords=KEYWORDS):
        found.add(message)
    return found


def _catalogue(path: Path) -> dict[object, object]:
    with open(path, "rb") as stream:
        catalog = read_po(stream) if path.suffix in (".po", ".pot") else read_mo(stream)

    def frozen(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(m.id): frozen(m.string) for m in catalog if m.id}


def test_babel_cfg_names_what_the_test_extracts() -> None:
    config = (ROOT / "babel.cfg").read_text()
    for pattern in ("[python: app/**.py]", "[jinja2: app/web/templates/*.html]"):
        assert pattern in config


def test_the_catalogue_holds_every_text_of_the_sources() -> None:
    pot = _catalogue(ROOT / "app/locale/messages.pot")
    extracted = _extracted()
    assert len(extracted) > 100
    assert set(pot) == extracted, "run the pybabel extract/update commands in README.md"


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_each_language_is_complete_and_its_mo_matches_its_po(language: str) -> None:
    folder = ROOT / "app/locale" / language / "LC_MESSAGES"
    po = _catalogue(folder / "messages.po")
    pot = _catalogue(ROOT / "app/locale/messages.pot")
    assert set(po) == set(pot)
    untranslated = [k for k, v in po.items() if not v or (isinstance(v, tuple) and not all(v))]
    assert untranslated == []
    assert _catalogue(folder / "messages.mo") == po, "run pybabel compile (README.md)"
    for msgid, text in po.items():
        forms = text if isinstance(text, tuple) else (text,)
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        wanted = set(re.findall(r"%\(\w+\)[sd]", " ".join(ids)))
        for form in forms:
            # A placeholder lost or misspelt would fail at the moment a page is shown.
            assert set(re.findall(r"%\(\w+\)[sd]", form)) <= wanted, (msgid, form)
            assert set(re.findall(r"\{\{ \w+ \}\}", form)) <= set(
                re.findall(r"\{\{ \w+ \}\}", " ".join(ids))
            )


@pytest.mark.parametrize("language", ["en", "fr", "ar"])
@pytest.mark.parametrize("kind", ["invitation", "reminder", "receipt"])
def test_built_in_e_mails_render_in_each_language(language: str, kind: str) -> None:
    subject, body = mail._TEXTS[kind]
    values = dict.fromkeys(MAIL_VARIABLES[kind], "X")
    environment = mail_environment()
    for template in (i18n.translate(language, subject), i18n.translate(language, body)):
        text = environment.from_string(template).render(**values)
        assert text.strip()
    if language != "en":
        assert i18n.translate(language, body) != body


def test_dates_numbers_and_direction_follow_the_language() -> None:
    moment = datetime(2026, 12, 31, 18, 5, tzinfo=UTC)
    assert i18n.format_when(moment, "fr") == "31 décembre 2026, 18:05 UTC"
    assert i18n.format_when(moment, "ar") == "31 ديسمبر 2026، 18:05 UTC"
    assert i18n.format_number(3.5, "fr") == "3,5"
    assert i18n.format_number(3.5, "en") == "3.5"
    assert i18n.format_percent(0.42, "fr") == "42\xa0%"
    assert i18n.direction("ar") == "rtl"
    assert i18n.direction("fr") == "ltr"
    assert i18n.interface_language("de") == "en"


# --- invitations in a language ------------------------------------------------------------


def aisi_round(session: Session, status: str = "open") -> Round:
    """A round of the shipped AISI survey, given in English, French and Arabic."""
    path = builtin_surveys_dir() / "aisi-information-sharing.yaml"
    surveys.load_survey(session, definition=load_survey_file(path), source_name=path.name)
    # The round's name is the staff's, shown as they wrote it: a neutral one here.
    return make_round(session, slug="aisi-information-sharing", status=status, name="2026-12")


def test_an_invitation_carries_its_language_and_a_foreign_one_is_refused(session) -> None:
    round_ = aisi_round(session)
    issued = make_invitations(session, round_, 1)
    assert session.get(Invitation, issued[0].invitation_id).language is None  # the first: en
    people = [
        InviteeCreate(name="Amina", email="amina@example.org", language="ar"),
        InviteeCreate(name="Luc", email="luc@example.org"),
    ]
    two = invitations.invite_experts(session, round_id=round_.id, invitees=people, language="fr")
    assert [i.language for i in two] == ["ar", "fr"]
    with pytest.raises(InvalidInput) as info:
        invitations.invite_experts(
            session,
            round_id=round_.id,
            invitees=[InviteeCreate(name="D", email="d@example.org", language="de")],
        )
    assert info.value.field == "invitees[0].language"
    assert "its languages are en, fr, ar" in info.value.message
    changed = invitations.set_invitation_language(
        session, invitation_id=two[1].invitation_id, language="en"
    )
    assert changed.language is None
    with pytest.raises(InvalidInput):
        invitations.set_invitation_language(
            session, invitation_id=two[1].invitation_id, language="xx"
        )


def test_invitee_csv_reads_a_language_column() -> None:
    people = invitations.parse_invitees_csv("name,email,language\nAmina,a@example.org,ar\n")
    assert people[0].language == "ar"


def test_invitation_e_mails_are_in_the_expert_s_language(session) -> None:
    round_ = aisi_round(session)
    sender = mail.Sender("elicit@example.org", "https://elicit.example.org")
    issued = mail.invite(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name="Amina", email="amina@example.org", language="ar")],
        sender=sender,
    )
    message = session.exec(
        select(OutboxMessage).where(OutboxMessage.invitation_id == issued[0].invitation_id)
    ).one()
    assert message.subject.startswith("دعوة: تبادل المعلومات")
    assert "عزيزي/عزيزتي Amina" in message.body
    assert "Dear" not in message.body


# --- the pages ----------------------------------------------------------------------------

ENGLISH_WORDS = re.compile(
    r"\b(the|and|your|you|of|to|save|item|answer|answers|review|rubric|round|with|"
    r"submit|continue|confidence|rationale|judge|expertise|share|withdraw|data|link)\b",
    re.IGNORECASE,
)


def visible_text(html: str) -> str:
    """What a reader sees: text outside tags, scripts and attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


def english_left(html: str) -> list[str]:
    # Proper names and acronyms of the survey and the product stay as they are.
    text = visible_text(html)
    for name in ("elicit", "JSON", "AISI", "arXiv", "Inspect", "Thurnherr", "UTC"):
        text = text.replace(name, " ")
    return ENGLISH_WORDS.findall(text)


def sign_in(client, token: str) -> None:
    assert client.get(f"/i/{token}", follow_redirects=False).status_code == 303


def expert_signed_in(client, session: Session, language: str) -> Round:
    """An open round of the shipped survey, with one expert invited in ``language`` and
    signed in on ``client`` through their link."""
    round_ = aisi_round(session)
    issued = invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name="E", email="e@example.org", language=language)],
    )
    session.commit()
    sign_in(client, issued[0].token)
    return round_


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_an_expert_invited_in_another_language_sees_no_english(
    client, session, language: str
) -> None:
    expert_signed_in(client, session, language)
    welcome = client.get("/survey")
    assert welcome.status_code == 200
    direction = "rtl" if language == "ar" else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in welcome.text
    assert english_left(welcome.text) == []
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', welcome.text).group(1)
    assert client.post("/survey/consent", data={"csrf_token": csrf}).status_code == 422
    refused = client.post("/survey/consent", data={"csrf_token": csrf})
    assert english_left(refused.text) == []
    client.post("/survey/consent", data={"csrf_token": csrf, "consent": "yes"})
    item = client.get("/survey/items/1")
    assert english_left(item.text) == []
    # A note without a level: the message is in the expert's language too.
    bad = client.post(
        "/survey/items/1",
        data={"csrf_token": csrf, "proprietary__rationale": "x", "action": "stay"},
    )
    assert bad.status_code == 422
    assert english_left(bad.text) == []
    saved = client.post(
        "/survey/items/1",
        data={"csrf_token": csrf, "proprietary__answer": "3", "action": "stay"},
        follow_redirects=True,
    )
    assert english_left(saved.text) == []
    rating = session.exec(select(Rating).where(Rating.dimension_key == "proprietary")).one()
    assert rating.language == language
    review = client.get("/survey/review")
    assert english_left(review.text) == []
    client.post("/survey/submit", data={"csrf_token": csrf})
    thanks = client.get("/survey/thanks")
    assert english_left(thanks.text) == []
    missing = client.get("/survey/items/99")
    assert missing.status_code == 404
    assert english_left(missing.text) == []
    withdraw = client.get("/survey/withdraw")
    assert english_left(withdraw.text) == []
    # The privacy notice the consent statement points to, in the same language.
    notice = client.get("/privacy/aisi-information-sharing")
    assert f'<html lang="{language}" dir="{direction}">' in notice.text
    assert english_left(notice.text) == []
    general = client.get("/privacy")
    assert english_left(general.text) == []


def test_the_expert_switches_language_and_keeps_it(client, session) -> None:
    round_ = aisi_round(session)
    issued = make_invitations(session, round_, 1)
    session.commit()
    sign_in(client, issued[0].token)
    page = client.get("/survey/items/1")
    assert '<html lang="en" dir="ltr">' in page.text
    assert '<select id="language-choice" name="language">' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    switched = client.post(
        "/survey/language",
        data={"csrf_token": csrf, "language": "ar", "next": "/survey/items/1"},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/survey/items/1"
    again = client.get("/survey/items/1")
    assert '<html lang="ar" dir="rtl">' in again.text
    session.expire_all()
    assert session.get(Invitation, issued[0].invitation_id).language == "ar"
    # A language the survey is not given in is refused, naming the field; no open redirect.
    refused = client.post(
        "/survey/language", data={"csrf_token": csrf, "language": "de", "next": "/survey"}
    )
    assert refused.status_code == 422
    # ... in the page's language (the expert reads Arabic now).
    assert "الاستبيان غير متاح باللغة &#39;de&#39;؛ لغاته هي en, fr, ar" in refused.text
    elsewhere = client.post(
        "/survey/language",
        data={"csrf_token": csrf, "language": "fr", "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/survey"
    no_csrf = client.post("/survey/language", data={"language": "fr"})
    assert no_csrf.status_code == 403


def test_consent_given_in_one_language_holds_in_another(client, session) -> None:
    round_ = aisi_round(session)
    issued = make_invitations(session, round_, 1)
    session.commit()
    sign_in(client, issued[0].token)
    page = client.get("/survey")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/survey/consent", data={"csrf_token": csrf, "consent": "yes"})
    client.post("/survey/language", data={"csrf_token": csrf, "language": "fr", "next": "/survey"})
    welcome = client.get("/survey")
    assert "Bon retour" in welcome.text  # welcome back: not asked to agree again
    assert 'name="consent"' not in welcome.text


def test_an_expert_error_page_follows_the_browser_language(client) -> None:
    page = client.get("/survey", headers={"accept-language": "ar,en;q=0.5"})
    assert page.status_code == 401
    assert '<html lang="ar" dir="rtl">' in page.text
    assert "يُرجى فتح رابط دعوتك" in page.text
    bad_link = client.get("/i/not-a-token", headers={"accept-language": "fr"})
    assert "Ce lien d&#39;invitation n&#39;est pas valide" in bad_link.text


def test_the_receipt_is_in_the_language_the_expert_last_chose(client, session) -> None:
    round_ = aisi_round(session)
    issued = invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name="Luc", email="luc@example.org", language="ar")],
    )
    session.commit()
    sign_in(client, issued[0].token)
    page = client.get("/survey")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/survey/language", data={"csrf_token": csrf, "language": "fr", "next": "/survey"})
    client.post("/survey/consent", data={"csrf_token": csrf, "consent": "yes"})
    client.post("/survey/submit", data={"csrf_token": csrf})
    session.expire_all()
    receipt = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "receipt")).one()
    assert receipt.subject.startswith("Reçu : vos réponses à Partage d'informations")
    assert receipt.body.startswith("Bonjour Luc,")
    # The date as French writes it: "2 décembre 2026, 21:30 UTC".
    assert re.search(r"\d{1,2} [a-zéû]+ \d{4}, \d\d:\d\d UTC", receipt.body), receipt.body


def test_the_expert_api_answers_in_the_invitation_s_language(client, session) -> None:
    round_ = aisi_round(session)
    issued = invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name="Amina", email="amina@example.org", language="ar")],
    )
    session.commit()
    headers = {"Authorization": f"Bearer {issued[0].token}"}
    survey = client.get("/api/expert/survey", headers=headers).json()
    assert survey["language"] == "ar"
    assert survey["survey"]["items"][0]["label"] == "نتائج التقييم قبل النشر"
    assert survey["survey"]["languages"] == ["en", "fr", "ar"]
    client.post("/api/expert/consent", headers=headers)
    saved = client.put(
        "/api/expert/ratings",
        headers=headers,
        json={"ratings": [{"item": "model_weights", "dimension": "misuse", "value": 5}]},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()[0]["language"] == "ar"
    switched = client.put("/api/expert/language", headers=headers, json={"language": "fr"})
    assert switched.json() == {"language": "fr", "languages": ["en", "fr", "ar"]}
    again = client.get("/api/expert/survey", headers=headers).json()
    assert again["survey"]["items"][0]["label"] == "Résultats d'évaluation avant déploiement"
    refused = client.put("/api/expert/language", headers=headers, json={"language": "de"})
    assert refused.status_code == 422
    assert refused.json()["field"] == "language"
    malformed = client.put("/api/expert/language", headers=headers, json={"language": "x y"})
    assert malformed.status_code == 422


def test_the_next_delphi_round_keeps_each_expert_s_language(session) -> None:
    from app.services import delphi, rounds

    round_ = aisi_round(session)
    first = invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[
            InviteeCreate(name="Amina", email="amina@example.org", language="ar"),
            InviteeCreate(name="Ada", email="ada@example.org"),
        ],
    )
    invitations.set_invitation_language(
        session, invitation_id=first[1].invitation_id, language="fr"
    )
    rounds.close_round(session, round_id=round_.id)
    _, issued = delphi.create_next_round(session, round_id=round_.id)
    assert {i.email: i.language for i in issued} == {
        "amina@example.org": "ar",
        "ada@example.org": "fr",
    }


def test_reminders_are_in_the_expert_s_language(session) -> None:
    round_ = aisi_round(session)
    invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name="Luc", email="luc@example.org", language="fr")],
    )
    sender = mail.Sender("elicit@example.org", "https://elicit.example.org")
    mail.queue_reminders(session, round_id=round_.id, sender=sender)
    reminder = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).one()
    assert reminder.subject.startswith("Rappel : Partage d'informations")
    assert "vous avez\nrépondu jusqu'ici à 0 questions sur 39" in reminder.body


def test_the_admin_invites_in_a_language_from_the_round_page(client, session) -> None:
    from tests.factories import make_user, sign_in_page

    make_user(session)
    sign_in_page(client)
    round_ = aisi_round(session)
    page = client.get(f"/admin/rounds/{round_.id}")
    assert '<select id="language" name="language"' in page.text
    assert '<option value="ar" >العربية (ar)</option>' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf, "csv": "name,email\nLuc,luc@example.org\n", "language": "fr"}
    done = client.post(f"/admin/rounds/{round_.id}/invite", data=form)
    assert done.status_code == 200, done.text
    session.expire_all()
    invitation = session.exec(select(Invitation).where(Invitation.round_id == round_.id)).one()
    assert invitation.language == "fr"
    listed = client.get(f"/admin/rounds/{round_.id}")
    assert "<td>fr</td>" in listed.text
    bad = {**form, "csv": "name,email\nDe,de@example.org\n", "language": "de"}
    refused = client.post(f"/admin/rounds/{round_.id}/invite", data=bad)
    assert refused.status_code == 422
    assert 'id="language-error"' in refused.text
    assert "the survey is not given in &#39;de&#39;" in refused.text


def test_the_rating_history_shows_the_language_of_each_change(client, session, elicit) -> None:
    from tests.factories import login, make_user, sign_in_page

    round_ = aisi_round(session)
    issued = invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name="Amina", email="amina@example.org", language="fr")],
    )
    session.commit()
    headers = {"Authorization": f"Bearer {issued[0].token}"}
    rating = {"item": "model_weights", "dimension": "misuse"}
    client.put("/api/expert/ratings", headers=headers, json={"ratings": [{**rating, "value": 3}]})
    client.put("/api/expert/language", headers=headers, json={"language": "ar"})
    client.put("/api/expert/ratings", headers=headers, json={"ratings": [{**rating, "value": 4}]})
    make_user(session)
    session.commit()
    api = client.get(f"/api/rounds/{round_.id}/history", headers=login(client)).json()
    assert [(h["revision"], h["language"]) for h in api] == [(1, "fr"), (2, "ar")]
    sign_in_page(client)
    page = client.get(f"/admin/rounds/{round_.id}/history")
    assert "<td>French (fr)</td>" in page.text and "<td>Arabic (ar)</td>" in page.text
    exported = client.get(f"/admin/rounds/{round_.id}/history.csv").text
    header, first, second = exported.splitlines()[:3]
    assert "language" in header.split(",")
    assert first.split(",")[header.split(",").index("language")] == "fr"
    assert second.split(",")[header.split(",").index("language")] == "ar"
    printed = elicit("round", "history", str(round_.id)).output.splitlines()
    assert [line.split("\t")[6] for line in printed] == ["fr", "ar"]
