"""Every refusal an expert can meet on the questionnaire's pages is in their language: the
pages' own checks, the services' refusals (validation, round closed, already submitted,
consent, the factors question, withdrawal) and the error pages. Oracle: the English
message ids of the catalogue, none of which may be left on a French or Arabic page."""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlmodel import Session

from app import i18n
from app.errors import InvalidInput, Message
from app.models import Round
from tests.test_i18n import english_left, expert_signed_in, visible_text

ROOT = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}|%%")


@cache
def english_fragments() -> tuple[str, ...]:
    """The longest placeholder-free piece of every English message id long enough to be
    told apart from a name (at least 20 characters)."""
    with open(ROOT / "app/locale/messages.pot", "rb") as stream:
        catalogue = read_po(stream)
    found = []
    for message in catalogue:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in ids:
            longest = max(_PLACEHOLDER.split(text), key=len).strip()
            if len(longest) >= 20:
                found.append(longest)
    return tuple(found)


def english_messages_left(page: str) -> list[str]:
    text = html.unescape(visible_text(page))
    text = re.sub(r"\s+", " ", text)
    return [fragment for fragment in english_fragments() if fragment in text]


def assert_translated(page: str) -> None:
    assert english_messages_left(page) == []
    assert english_left(page) == []


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_every_refusal_on_the_expert_s_pages_is_in_their_language(
    client, session: Session, language: str
) -> None:
    round_ = expert_signed_in(client, session, language)
    welcome = client.get("/survey")
    csrf = _csrf(welcome.text)
    shown: dict[str, object] = {}

    def seen(name: str, response, status: int) -> str:
        assert response.status_code == status, (name, response.status_code)
        assert f'<html lang="{language}"' in response.text, name
        shown[name] = response
        return response.text

    # Submitting before consenting: the service refuses (409).
    seen("submit before consent", client.post("/survey/submit", data={"csrf_token": csrf}), 409)
    seen("no consent ticked", client.post("/survey/consent", data={"csrf_token": csrf}), 422)
    client.post("/survey/consent", data={"csrf_token": csrf, "consent": "yes"})
    item = client.get("/survey/items/1").text
    factors = re.findall(r'name="sensitive__(\w+)"', item)
    assert factors, "the survey asks the factors question on item 1"

    def save(**fields: str) -> object:
        return client.post("/survey/items/1", data={"csrf_token": csrf, "action": "stay", **fields})

    seen("note without a level", save(proprietary__rationale="x"), 422)
    seen("not a level", save(proprietary__answer="abc"), 422)
    seen("off the scale", save(proprietary__answer="9"), 422)
    seen("unknown confidence", save(proprietary__answer="3", proprietary__confidence="sure"), 422)
    too_long = "x" * 10_001
    seen("rationale too long", save(proprietary__answer="3", proprietary__rationale=too_long), 422)
    both = {
        "sensitive_asked": "yes",
        "sensitive_none": "yes",
        f"sensitive__{factors[0]}": "yes",
    }
    seen("factors and none", save(**both), 422)
    nul = save(proprietary__answer="3", proprietary__rationale="a\x00b")
    seen("NUL in a field", nul, 422)
    seen("expired form", client.post("/survey/items/1", data={"csrf_token": "x"}), 403)
    seen("no such item", client.get("/survey/items/99"), 404)
    seen("not an item number", client.get("/survey/items/first"), 422)
    seen("no such page", client.get("/survey/nowhere"), 404)
    language_refused = client.post("/survey/language", data={"csrf_token": csrf, "language": "de"})
    seen("language not offered", language_refused, 422)
    seen("withdrawal unconfirmed", client.post("/survey/withdraw", data={"csrf_token": csrf}), 422)
    # Submitted: a save and a second submission are refused.
    assert client.post("/survey/submit", data={"csrf_token": csrf}).status_code in (200, 303)
    seen("save after submission", save(proprietary__answer="2"), 409)
    seen("submitted twice", client.post("/survey/submit", data={"csrf_token": csrf}), 409)
    # The round closes: the pages say so, and a save is refused.
    round_row = session.get(Round, round_.id)
    assert round_row is not None
    round_row.status = "closed"
    session.add(round_row)
    session.commit()
    seen("item page of a closed round", client.get("/survey/items/1"), 200)
    seen("save in a closed round", save(proprietary__answer="2"), 409)

    for name, response in shown.items():
        text = response.text  # type: ignore[attr-defined]
        assert english_messages_left(text) == [], name
        assert english_left(text) == [], name


def test_the_check_against_the_catalogue_catches_an_english_message() -> None:
    page = "<p class='error'>This round is closed: answers can no longer be changed.</p>"
    assert english_messages_left(page) != []
    assert english_messages_left("<p>Ce tour est fermé.</p>") == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "value 9 is off the scale: give a whole number from 1 to 5"),
        ("fr", "la valeur 9 est hors de l’échelle : donnez un nombre entier de 1 à 5"),
        ("ar", "القيمة 9 خارج المقياس: أعطِ عددًا صحيحًا من 1 إلى 5"),
    ],
)
def test_a_service_refusal_keeps_its_message_id_and_values(language: str, expected: str) -> None:
    refusal = InvalidInput(
        "value %(value)s is off the scale: give a whole number from %(low)s to %(high)s",
        values={"value": 9, "low": 1, "high": 5},
    )
    # The API sends the English; a page says it in the reader's language.
    assert refusal.message == "value 9 is off the scale: give a whole number from 1 to 5"
    assert isinstance(refusal.message, Message)
    assert i18n.translate_message(language, refusal.message) == expected


def test_numbers_in_a_refusal_are_written_the_language_s_way() -> None:
    refusal = InvalidInput(
        "the 5%% quantile (%(low)s) must be smaller than the median (%(median)s)",
        values={"low": 2.5, "median": 1.25},
    )
    assert refusal.message == "the 5% quantile (2.5) must be smaller than the median (1.25)"
    french = i18n.translate_message("fr", refusal.message)
    assert french == "le quantile à 5 % (2,5) doit être inférieur à la médiane (1,25)"
