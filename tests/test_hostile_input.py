"""Hostile input gets a 4xx that says what is wrong, never a 500 (both backends).

Each case here once crashed the server: ids beyond the database's integer range, a
negative bootstrap seed, NUL characters (PostgreSQL refuses them in text), and invitation
CSV files with a stray CR, a huge field, the wrong encoding or nothing in them.
"""

from __future__ import annotations

import codecs

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.schemas import DB_INT_MAX, LoginRequest, text_problem
from app.services import rounds, rubrics, sessions
from app.services.demo import simulate_panel
from tests.factories import bearer, make_invitations, make_round, make_user

BEYOND = (DB_INT_MAX + 1, 2**63, 10**20)


@pytest.fixture
def admin_user(session):
    return make_user(session)


@pytest.fixture
def admin(session, admin_user):
    token, _ = sessions.start_session(session, user_id=admin_user.id, hours=1)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_cookie(session, client, admin_user):
    """The admin signed in to the pages: a session cookie, and the session's CSRF token."""
    token, row = sessions.start_session(session, user_id=admin_user.id, hours=1)
    session.commit()
    client.cookies.set("elicit_session", token)
    return row.csrf_token


@pytest.fixture
def open_round(session):
    return make_round(session)


@pytest.fixture
def analysed_round(session, admin_user):
    """A closed round with submitted answers and a published rubric (v1 of 'small')."""
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=4, seed=3)
    rounds.close_round(session, round_id=round_.id)
    rubrics.publish_rubric(
        session, round_id=round_.id, publisher=admin_user, justification="test", n_bootstrap=100
    )
    session.commit()
    return round_


# --- ids beyond the database's range are unknown ids: 404, same words -------------------

ROUND_ROUTES = [
    ("GET", "/api/rounds/{n}"),
    ("PATCH", "/api/rounds/{n}"),
    ("POST", "/api/rounds/{n}/open"),
    ("POST", "/api/rounds/{n}/close"),
    ("POST", "/api/rounds/{n}/next"),
    ("GET", "/api/rounds/{n}/progress"),
    ("GET", "/api/rounds/{n}/export.csv"),
    ("GET", "/api/rounds/{n}/export"),
    ("GET", "/api/rounds/{n}/report"),
    ("GET", "/api/rounds/{n}/stability"),
    ("POST", "/api/rounds/{n}/calibration"),
    ("POST", "/api/rounds/{n}/publish"),
    ("POST", "/api/rounds/{n}/responses/E-AAAAAA/reopen"),
    ("GET", "/api/rounds/{n}/invitations"),
    ("POST", "/api/rounds/{n}/invitations"),
    ("POST", "/api/rounds/{n}/invitations.csv"),
]


def test_round_ids_beyond_the_database_range_are_not_found(client, admin):
    bodies = {
        "PATCH": {"closes_at": None},
        "POST": {"invitees": [{"name": "Ada", "email": "ada@example.org"}]},
    }
    for method, path in ROUND_ROUTES:
        for n in (12345, *BEYOND):
            body = {} if path.endswith(("/next", "/publish")) else bodies.get(method)
            if path.endswith(".csv") and method == "POST":
                reply = client.post(path.format(n=n), headers=admin, content=GOOD.encode())
            else:
                reply = client.request(method, path.format(n=n), headers=admin, json=body)
            assert reply.status_code == 404, (method, path, n, reply.text)
            if n != 12345 or not path.endswith("/reopen"):  # that one names the expert
                assert reply.json()["detail"] == f"round {n} does not exist", (method, path)


def test_other_ids_beyond_the_range_are_not_found(client, admin, open_round):
    for n in (12345, *BEYOND):
        for action in ("revoke", "reissue"):
            reply = client.post(f"/api/invitations/{n}/{action}", headers=admin)
            assert reply.status_code == 404
            assert reply.json()["detail"] == f"invitation {n} does not exist"
        reply = client.get(f"/api/surveys/small/versions/{n}", headers=admin)
        assert reply.status_code == 404
        assert reply.json()["detail"] == (
            f"survey 'small' version {n} does not exist; load its file first"
        )
    # Ids in a body are checked by the schema: the field is named.
    for body in ({"survey": "small", "name": "R", "version": 2**31}, {"version": 2**63}):
        path = "/api/rounds" if "survey" in body else f"/api/rounds/{open_round.id}/next"
        reply = client.post(path, headers=admin, json=body)
        assert reply.status_code == 422 and reply.json()["field"] == "version", reply.text


def test_public_rubric_numbers_beyond_the_range_are_not_found(client, analysed_round):
    assert client.get("/rubrics/small/v1").status_code == 200
    for n in (12345, *BEYOND):
        for name in (f"v{n}", f"v{n}.json", f"v{n}.csv"):
            reply = client.get(f"/rubrics/small/{name}")
            assert reply.status_code == 404, (name, reply.status_code)
            assert f"rubric small v{n} has not been published" in reply.text
        for a, b in ((n, 1), (1, n)):
            reply = client.get(f"/rubrics/small/diff/{a}/{b}")
            assert reply.status_code == 404, (a, b)
            assert f"rubric small v{n} has not been published" in reply.text
    # Digits that are not ASCII, and numbers too long to be one, are not versions either.
    for name in ("v\u00b2", "v\u0663", "v" + "9" * 5000, "v1.pdf", "1"):
        reply = client.get(f"/rubrics/small/{name}")
        assert reply.status_code == 404 and "Rubric versions are at" in reply.text, name


def test_admin_pages_with_ids_beyond_the_range_are_not_found(client, admin_cookie):
    for n in BEYOND:
        for path in (f"/admin/rounds/{n}", f"/admin/rounds/{n}/calibration"):
            reply = client.get(path)
            assert reply.status_code == 404 and f"round {n} does not exist" in reply.text
        assert client.get(f"/admin/rounds/{n}/export.csv").status_code == 404
        assert client.get(f"/admin/rounds/{n}/export?format=sav").status_code == 404
        form = {"csrf_token": admin_cookie}
        reply = client.post(f"/admin/rounds/{n}/close", data=form)
        assert reply.status_code == 404 and f"round {n} does not exist" in reply.text
        reply = client.post(f"/admin/invitations/{n}/revoke", data=form)
        assert reply.status_code == 404 and f"invitation {n} does not exist" in reply.text
    for number in ("2147483648", "99999999999999999999", "\u00b2"):
        reply = client.post(
            "/admin/rounds", data={**form, "survey_version": f"small@{number}", "name": "R"}
        )
        assert reply.status_code == 422 and "choose a survey version" in reply.text, number


def test_survey_item_numbers_beyond_the_range_are_not_found(session, client, open_round):
    issued = make_invitations(session, open_round, 1)[0]
    assert client.get(f"/i/{issued.token}").status_code == 303
    for n in (0, 4, *BEYOND):
        reply = client.get(f"/survey/items/{n}")
        assert reply.status_code == 404 and "items 1 to 3" in reply.text


# --- query parameters ---------------------------------------------------------------------


def test_report_and_calibration_parameters_are_validated(client, admin, analysed_round):
    base = f"/api/rounds/{analysed_round.id}"
    bad = {
        "seed=-1": "seed",
        f"seed={2**32}": "seed",
        "seed=x": "seed",
        "n_bootstrap=-1": "n_bootstrap",
        "n_bootstrap=10001": "n_bootstrap",
        "format=pdf": "format",
        "group_by=name": "group_by",
        "include_drafts=maybe": "include_drafts",
    }
    for query, field in bad.items():
        reply = client.get(f"{base}/report?{query}", headers=admin)
        assert reply.status_code == 422, (query, reply.text)
        assert reply.json()["field"] == field
        if "seed" in query or "n_bootstrap" in query:
            reply = client.post(f"{base}/calibration?{query}", headers=admin)
            assert reply.status_code == 422 and reply.json()["field"] == field, query
    for query in (f"seed={2**32 - 1}&n_bootstrap=20", "seed=0&n_bootstrap=0"):
        assert client.get(f"{base}/report?{query}", headers=admin).status_code == 200, query
        assert client.post(f"{base}/calibration?{query}", headers=admin).status_code == 200
    reply = client.post(
        f"{base}/publish", headers=admin, json={"seed": -1, "justification": "negative"}
    )
    assert reply.status_code == 422 and reply.json()["field"] == "seed"


def test_public_format_parameter_is_validated(client, analysed_round):
    for path in ("/rubrics/", "/rubrics/small/", "/rubrics/small/v1", "/rubrics/small/diff/1/1"):
        assert client.get(f"{path}?format=json").headers["content-type"] == "application/json"
        reply = client.get(f"{path}?format=xml")
        assert reply.status_code == 422 and "format" in reply.text, path


# --- text no database can store: NUL and lone surrogates ----------------------------------


def test_nul_in_json_bodies_is_refused_naming_the_field(session, client, admin, open_round):
    cases = [
        ("/api/auth/login", {"email": "a\x00b@example.org", "password": "x"}, "email", None),
        ("/api/rounds", {"survey": "small", "name": "R\x00"}, "name", admin),
        ("/api/rounds", {"survey": "sma\x00ll", "name": "R"}, "survey", admin),
        (
            f"/api/rounds/{open_round.id}/invitations",
            {"invitees": [{"name": "Ada\x00", "email": "ada@example.org"}]},
            "invitees[0].name",
            admin,
        ),
        ("/api/surveys", {"filename": "a\x00.yaml", "content": "slug: x"}, "filename", admin),
    ]
    for path, body, field, headers in cases:
        reply = client.post(path, json=body, headers=headers)
        assert reply.status_code == 422, (path, reply.text)
        assert reply.json()["field"] == field
        assert "NUL" in reply.json()["detail"]
    issued = make_invitations(session, open_round, 1)[0]
    rating = {"item": "weights", "dimension": "sensitivity", "value": 3, "rationale": "a\x00"}
    reply = client.put("/api/expert/ratings", json={"ratings": [rating]}, headers=bearer(issued))
    assert reply.status_code == 422 and reply.json()["field"] == "ratings[0].rationale"


def test_nul_in_path_parameters_is_refused(client, admin, open_round):
    for path, field in (
        ("/api/surveys/sm%00all/versions/1", "slug"),
        (f"/api/rounds/{open_round.id}/responses/E-%00/reopen", "expert_code"),
    ):
        method = "POST" if path.endswith("reopen") else "GET"
        reply = client.request(method, path, headers=admin)
        assert reply.status_code == 422 and reply.json()["field"] == field, reply.text
    assert client.get("/rubrics/sm%00all/v1").status_code == 422
    assert client.get("/rubrics/sm%00all/").status_code == 422


def test_nul_in_forms_is_refused_naming_the_field(session, client, open_round):
    # The sign-in form is anonymous: the field is refused before anything else happens.
    reply = client.post("/login", data={"email": "a\x00b", "password": "x", "csrf_token": "t"})
    assert reply.status_code == 422 and "email: must not contain the NUL character" in reply.text
    issued = make_invitations(session, open_round, 1)[0]
    client.get(f"/i/{issued.token}")
    reply = client.post(
        "/survey/items/1", data={"sensitivity__answer": "3", "sensitivity__rationale": "x\x00"}
    )
    assert reply.status_code == 422 and "sensitivity__rationale" in reply.text


def test_lone_surrogates_are_refused():
    assert text_problem("fine \u00e9 \U0001f642") is None
    assert "NUL" in (text_problem("\x00") or "")
    assert "surrogate" in (text_problem("a\ud800") or "")
    with pytest.raises(ValueError, match="email"):
        LoginRequest(email="a\udc00@example.org", password="x")


def test_lone_surrogate_escapes_in_json_are_422(client):
    reply = client.post(
        "/api/auth/login",
        content=b'{"email": "a\\ud800@example.org", "password": "x"}',
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == 422 and reply.json()["field"] == "email"


# --- invitation CSV files -----------------------------------------------------------------

GOOD = "name,email,organisation\nAda Lovelace,ada@example.org,UK AISI\n"


def _post_csv(client, admin, round_id, body: bytes):
    return client.post(f"/api/rounds/{round_id}/invitations.csv", headers=admin, content=body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"", "request body:1: the file is empty", id="empty"),
        pytest.param(b"\n\n", "request body:1: the file is empty", id="blank"),
        pytest.param(b"name,email\n", "request body:2: no invitees below the header", id="header"),
        pytest.param(
            b"nom,courriel\nAda,a@example.org\n", "request body:1: the first line", id="hdr"
        ),
        pytest.param(
            b"name,email\nAda\rLovelace,ada@example.org\n",
            "request body:2: email: value is not a valid email address",
            id="cr-in-field",
        ),
        pytest.param(
            b'name,email\nAda,ada@example.org\n"' + b"x" * 140_000 + b",b@example.org\n",
            "request body:3: a field is longer than 131072 characters",
            id="huge-field",
        ),
        pytest.param(
            "name,email\nAda,ada@example.org\nJosé,jose@example.org\n".encode("latin-1"),
            "request body:3: the file is not UTF-8 text (byte 0xE9",
            id="latin-1",
        ),
        pytest.param(
            GOOD.encode("utf-16-le"),
            "request body:1: the file contains NUL bytes",
            id="utf-16-without-bom",
        ),
        pytest.param(
            b"name,email\nAda\x00,ada@example.org\n",
            "request body:2: the file contains NUL bytes",
            id="nul",
        ),
        pytest.param(
            b"name,email\n,ada@example.org\n",
            "request body:2: name: String should have at least 1 character",
            id="no-name",
        ),
    ],
)
def test_bad_invitation_csv_is_422_naming_the_line(client, admin, open_round, body, expected):
    reply = _post_csv(client, admin, open_round.id, body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"].startswith(expected), reply.json()["detail"]
    assert reply.json()["field"] == "body"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(codecs.BOM_UTF8 + GOOD.encode(), id="utf-8-bom"),
        pytest.param(GOOD.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(GOOD.replace("\n", "\r").encode(), id="cr"),
        pytest.param(GOOD.encode("utf-16"), id="utf-16-with-bom"),
        pytest.param(b'name,email\n"Lovelace, Ada",ada@example.org\n', id="quoted"),
    ],
)
def test_readable_invitation_csv_is_accepted(client, admin, open_round, body):
    reply = _post_csv(client, admin, open_round.id, body)
    assert reply.status_code == 201, reply.text
    assert reply.json()[0]["email"] == "ada@example.org"


def test_invitation_csv_upload_on_the_admin_page(client, admin_cookie, open_round):
    latin = "name,email\nJosé,jose@example.org\n".encode("latin-1")
    reply = client.post(
        f"/admin/rounds/{open_round.id}/invite",
        data={"csrf_token": admin_cookie},
        files={"file": ("panel.csv", latin, "text/csv")},
    )
    assert reply.status_code == 422
    assert "panel.csv:2: the file is not UTF-8 text" in reply.text
    reply = client.post(
        f"/admin/rounds/{open_round.id}/invite",
        data={"csrf_token": admin_cookie, "csv": "name,email\n"},
    )
    assert reply.status_code == 422 and "pasted list:2: no invitees" in reply.text
    reply = client.post(
        f"/admin/rounds/{open_round.id}/invite",
        data={"csrf_token": admin_cookie},
        files={"file": ("panel.csv", GOOD.encode("utf-16"), "text/csv")},
    )
    assert reply.status_code == 200 and "ada@example.org" in reply.text


def test_invitation_csv_from_the_command_line(database_url, monkeypatch, tmp_path, open_round):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        bad = tmp_path / "panel.csv"
        bad.write_bytes("name,email\nJosé,jose@example.org\n".encode("cp1252"))
        result = CliRunner().invoke(cli, ["invite", str(open_round.id), "--csv", str(bad)])
        assert result.exit_code == 1
        assert f"{bad}:2: the file is not UTF-8 text" in result.output
        assert "Traceback" not in result.output
        empty = tmp_path / "empty.csv"
        empty.write_bytes(b"")
        result = CliRunner().invoke(cli, ["invite", str(open_round.id), "--csv", str(empty)])
        assert result.exit_code == 1 and f"{empty}:1: the file is empty" in result.output
        good = tmp_path / "good.csv"
        good.write_bytes(codecs.BOM_UTF8 + GOOD.encode())
        result = CliRunner().invoke(cli, ["invite", str(open_round.id), "--csv", str(good)])
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "args",
    [
        ["revoke", "99999999999999999999"],
        ["round", "open", "2147483648"],
        ["progress", "0"],
        ["report", "-1", "--format", "json"],
    ],
)
def test_cli_ids_beyond_the_database_range_are_a_usage_error(args):
    from typer.testing import CliRunner

    from app.cli import cli

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
