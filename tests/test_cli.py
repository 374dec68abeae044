"""The ``elicit`` command line, on the same service layer (both backends)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.factories import survey_yaml

runner = CliRunner()


def test_full_round_from_the_command_line(elicit, tmp_path: Path):
    survey = tmp_path / "small.yaml"
    survey.write_text(survey_yaml(), encoding="utf-8")
    assert "loaded as version 1" in elicit("survey", "load", str(survey)).output
    assert "unchanged, version 1" in elicit("survey", "load", str(survey)).output
    survey.write_text(survey_yaml(title="Changed"), encoding="utf-8")
    assert "loaded as version 2" in elicit("survey", "load", str(survey)).output
    created = elicit("round", "create", "small", "--name", "Pilot").output
    round_id = re.search(r"round (\d+)", created).group(1)
    assert "is open" in elicit("round", "open", round_id).output
    assert (
        "closes at 2099-06-01 18:00 UTC"
        in elicit("round", "deadline", round_id, "2099-06-01T18:00").output
    )
    assert "no closing time" in elicit("round", "deadline", round_id, "none").output
    bad = elicit("round", "deadline", round_id, "tomorrow", ok=False)
    assert bad.exit_code == 1 and "not a time" in bad.output
    people = tmp_path / "people.csv"
    people.write_text("name,email,organisation\nAda,ada@example.org,X\nBo,bo@example.org,Y\n")
    links = tmp_path / "links.csv"
    out = elicit("invite", round_id, "--csv", str(people), "--out", str(links)).output
    assert "2 invitations" in out
    rows = list(csv.DictReader(io.StringIO(links.read_text())))
    assert [r["email"] for r in rows] == ["ada@example.org", "bo@example.org"]
    assert all(r["url"].startswith("http://panel.example.org/i/") for r in rows)
    assert oct(links.stat().st_mode & 0o777) == "0o600"
    progress = elicit("progress", round_id).output
    assert "invited 2, started 0, submitted 0" in progress
    assert "Ada" not in progress
    exported = elicit("export", round_id, "--format", "csv").output
    assert exported.startswith("round_id,survey,survey_version,rater,")
    assert "is closed" in elicit("round", "close", round_id).output
    listing = elicit("round", "list").output
    assert "closed" in listing and "Pilot" in listing


def test_errors_are_messages_with_exit_status_1(elicit, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("slug: bad\n", encoding="utf-8")
    result = elicit("survey", "load", str(bad), ok=False)
    assert result.exit_code == 1 and "bad.yaml:" in result.output
    result = elicit("round", "open", "999", ok=False)
    assert result.exit_code == 1 and "round 999 does not exist" in result.output
    result = elicit("export", "1", "--format", "pdf", ok=False)
    assert result.exit_code == 1 and "not supported" in result.output


def test_demo_prints_login_and_working_links(elicit, client_for_url):
    output = elicit("demo", "--no-serve", "--port", "8123").output
    password = re.search(r"admin@example.org\s+password: (\S+)", output).group(1)
    links = re.findall(r"http://panel\.example\.org/i/(\S+)", output)
    assert len(links) == 5
    client = client_for_url()
    assert (
        client.post(
            "/api/auth/login", json={"email": "admin@example.org", "password": password}
        ).status_code
        == 200
    )
    assert client.get(f"/i/{links[0]}").status_code == 303
    # Running it again resets the password and re-issues the links; nothing is duplicated.
    again = elicit("demo", "--no-serve").output
    new_links = re.findall(r"http://panel\.example\.org/i/(\S+)", again)
    assert len(new_links) == 5 and not set(new_links) & set(links)
    assert client.get(f"/i/{links[1]}").status_code == 404
    assert "aisi-information-sharing v1" in again and "ai-safety-cooperation v1" in again


def test_user_create(elicit):
    result = elicit(
        "user",
        "create",
        "r@example.org",
        "--role",
        "researcher",
        "--password",
        "a long enough password",
    )
    assert "created researcher r@example.org" in result.output
    again = elicit("user", "create", "r@example.org", "--password", "another password!", ok=False)
    assert "already exists" in again.output


def test_survey_check_validates_without_a_database(tmp_path: Path):
    from tests.factories import survey_dict  # noqa: F401

    good = tmp_path / "ok.yaml"
    good.write_text(survey_yaml(), encoding="utf-8")
    assert "ok (small, 3 items" in runner.invoke(cli, ["survey", "check", str(good)]).output


@pytest.fixture
def client_for_url(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    clients = []

    def make():
        client = TestClient(create_app(settings), follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.app.state.engine.dispose()


def test_the_command_spares_the_collector_its_imports_and_the_exit(monkeypatch):
    # Run as the process's command, the objects of the analysis stack's imports are
    # frozen (never walked again by the collector), and so is everything at the end,
    # where CPython would otherwise walk every object once more before exiting. Run
    # inside another program (the tests call the commands), nothing is frozen.
    import gc

    import app.cli as cli_module

    frozen = gc.get_freeze_count()
    with cli_module._lasting_imports():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == frozen

    def command() -> None:
        with cli_module._lasting_imports():
            pass
        assert gc.get_freeze_count() > 0
        raise SystemExit(0)

    monkeypatch.setattr(cli_module, "cli", command)
    monkeypatch.setitem(cli_module._COMMAND, "running", True)
    try:
        with pytest.raises(SystemExit):
            cli_module.main()
        assert gc.get_freeze_count() > 0 and gc.isenabled()
    finally:
        gc.unfreeze()
