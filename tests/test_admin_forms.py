"""Admin forms keep what was typed after a mistake, with the message beside the field."""

from __future__ import annotations

import html
import re

from sqlmodel import func, select

from app.models import Invitation
from tests.factories import PASSWORD, make_round, make_user


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in(client) -> None:
    page = client.get("/login").text
    reply = client.post(
        "/login",
        data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": _csrf(page)},
    )
    assert reply.status_code == 303, reply.text


def test_a_pasted_invitation_list_with_a_mistake_is_kept_with_the_message(session, client):
    make_user(session)
    _sign_in(client)
    round_ = make_round(session)
    page = client.get(f"/admin/rounds/{round_.id}").text
    pasted = (
        "name,email,organisation\n"
        "Ada Lovelace,ada@example.org,UK AISI\n"
        "Alan Turing,not-an-address,US CAISI\n"
        "Grace Hopper,grace@example.org,Navy <lab>\n"
    )
    reply = client.post(
        f"/admin/rounds/{round_.id}/invite",
        data={"csrf_token": _csrf(page), "csv": pasted, "delivery": "email"},
    )
    assert reply.status_code == 422
    body = reply.text
    # Every character kept (escaped), the e-mail choice kept, the message beside the list.
    assert html.escape(pasted, quote=False) in body
    assert 'id="delivery-email" name="delivery" value="email" checked' in body
    error = re.search(r'id="csv-error">([^<]+)<', body).group(1)
    assert error.startswith("pasted list:3: email") and 'aria-describedby="csv-error"' in body
    session.rollback()
    assert session.exec(select(func.count()).select_from(Invitation)).one() == 0


def test_a_wrong_closing_time_is_kept_with_the_message(session, client):
    make_user(session)
    _sign_in(client)
    round_ = make_round(session)
    page = client.get(f"/admin/rounds/{round_.id}").text
    reply = client.post(
        f"/admin/rounds/{round_.id}/deadline",
        data={"csrf_token": _csrf(page), "closes_at": "next tuesday"},
    )
    assert reply.status_code == 422
    assert 'value="next tuesday"' in reply.text
    assert re.search(r'id="closes_at-error">[^<]*closing time', reply.text)
