"""Admin forms keep what was typed after a mistake, with the message beside the field."""

from __future__ import annotations

import html
import re

from sqlmodel import func, select

from app.models import Invitation
from tests.factories import form_token, make_round, make_user, sign_in_page


def test_a_pasted_invitation_list_with_a_mistake_is_kept_with_the_message(session, client):
    make_user(session)
    sign_in_page(client)
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
        data={"csrf_token": form_token(page), "csv": pasted, "delivery": "email"},
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
    sign_in_page(client)
    round_ = make_round(session)
    page = client.get(f"/admin/rounds/{round_.id}").text
    reply = client.post(
        f"/admin/rounds/{round_.id}/deadline",
        data={"csrf_token": form_token(page), "closes_at": "next tuesday"},
    )
    assert reply.status_code == 422
    assert 'value="next tuesday"' in reply.text
    assert re.search(r'id="closes_at-error">[^<]*closing time', reply.text)
