"""Staff pages in the staff member's language: the choice kept with the account (the
account page, `PUT /api/account/language`), else the browser's; French and Arabic with no
English interface text left."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlmodel import Session, select

from app.models import User
from app.survey_files import builtin_surveys_dir, load_survey_file
from tests.factories import form_token, login, make_invitations, make_user, sign_in_page
from tests.test_i18n import aisi_round, english_left
from tests.test_i18n_public import _leaves


def survey_texts() -> list[str]:
    """The survey's own texts, which staff pages show as the file gives them."""
    source = load_survey_file(builtin_surveys_dir() / "aisi-information-sharing.yaml")
    texts = _leaves(source.model_dump(exclude={"translations"})).values()
    return sorted({t for t in texts if len(t) > 3}, key=len, reverse=True)


def interface_english(html: str) -> list[str]:
    for text in survey_texts():
        html = html.replace(str(escape(text)), " ")
    # The e-mail previewed is in the expert's language, not the staff member's.
    html = re.sub(r'<dl class="mail-preview">.*?</dl>', " ", html, flags=re.S)
    # Paths and addresses (the mail folder, API routes) are not words of the interface.
    return english_left(re.sub(r"(?<![\w<])/[\w./-]+", " ", html))


def _choose(client, language: str) -> None:
    page = client.get("/account").text
    reply = client.post(
        "/account/language",
        data={"csrf_token": form_token(page), "language": language},
        follow_redirects=False,
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/account?done=language"


@pytest.mark.parametrize(("language", "direction"), [("fr", "ltr"), ("ar", "rtl")])
def test_staff_pages_in_the_language_the_staff_member_chose(
    client, session: Session, language: str, direction: str
) -> None:
    make_user(session)
    round_ = aisi_round(session)
    experts = make_invitations(session, round_, 2)
    client.put(
        "/api/expert/ratings",
        headers={"Authorization": f"Bearer {experts[0].token}"},
        json={"ratings": [{"item": "model_weights", "dimension": "misuse", "value": 3}]},
    )
    sign_in_page(client)
    _choose(client, language)
    session.expire_all()
    assert session.exec(select(User)).one().language == language
    for path in (
        "/account?done=language",
        "/admin",
        f"/admin/rounds/{round_.id}",
        f"/admin/rounds/{round_.id}/history",
        f"/admin/rounds/{round_.id}/mail/invitation",
        "/admin/audit",
        "/admin/users",
        "/admin/people",
        "/admin/webhooks",
        "/admin/surveys/aisi-information-sharing/context",
    ):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert f'<html lang="{language}" dir="{direction}">' in page.text, path
        assert interface_english(page.text) == [], (path, interface_english(page.text))
    # The report link of the round page asks for the report in the same language.
    assert (
        f"report?format=html&amp;lang={language}" in client.get(f"/admin/rounds/{round_.id}").text
    )


def test_the_browser_s_language_until_one_is_chosen_and_the_api_sets_it(client, session) -> None:
    make_user(session)
    session.commit()
    signin = client.get("/login", headers={"accept-language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in signin.text and "Se connecter" in signin.text
    assert english_left(signin.text) == []
    sign_in_page(client)
    assert (
        '<html lang="ar" dir="rtl">' in client.get("/admin", headers={"accept-language": "ar"}).text
    )
    assert '<html lang="en" dir="ltr">' in client.get("/admin").text
    headers = login(client)
    chosen = client.put("/api/account/language", headers=headers, json={"language": "ar"})
    assert chosen.status_code == 200 and chosen.json() == {"language": "ar"}
    # The account's choice wins over the browser's.
    page = client.get("/admin", headers={"accept-language": "fr"})
    assert '<html lang="ar" dir="rtl">' in page.text and "الجولات" in page.text
    refused = client.put("/api/account/language", headers=headers, json={"language": "de"})
    assert refused.status_code == 422 and refused.json()["field"] == "language"
    # Back to the browser's: none chosen.
    account = client.get("/account").text
    assert '<option value="ar" lang="ar" selected>' in account  # the account's choice
    client.post("/account/language", data={"csrf_token": form_token(account), "language": ""})
    assert (
        '<html lang="fr" dir="ltr">' in client.get("/admin", headers={"accept-language": "fr"}).text
    )
    wrong = client.post(
        "/account/language", data={"csrf_token": form_token(account), "language": "xx"}
    )
    assert wrong.status_code == 422 and 'id="language-error"' in wrong.text
    no_csrf = client.post("/account/language", data={"language": "fr"})
    assert no_csrf.status_code == 403
