"""Invitation links the panel can open: `serve` refuses links to this machine while it
listens for others, says where links point, and invitations are found by e-mail or code."""

from __future__ import annotations

import pytest

import app.server
from app.cli import unreachable_links
from app.config import get_settings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(app.server, "serve", lambda **kwargs: calls.append(kwargs))
    return calls


@pytest.mark.parametrize(
    ("host", "base_url", "refused"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000", True),
        ("::", "http://localhost:8000", True),
        ("192.0.2.10", "http://[::1]:8000", True),
        ("0.0.0.0", "https://survey.example.org", False),
        ("127.0.0.1", "http://127.0.0.1:8000", False),
        ("localhost", "http://localhost:8000", False),
        ("::1", "http://[::1]:8000", False),
    ],
)
def test_links_to_this_machine_are_refused_only_when_others_are_served(host, base_url, refused):
    assert (unreachable_links(host, base_url) is not None) is refused


def test_serve_on_all_interfaces_without_base_url_refuses(elicit, started, monkeypatch):
    monkeypatch.delenv("BASE_URL")
    get_settings.cache_clear()
    result = elicit("serve", "--no-upgrade", "--host", "0.0.0.0", ok=False)
    assert result.exit_code != 0 and not started
    assert "invitation links would point to http://127.0.0.1:8000" in result.output
    assert "Set BASE_URL" in result.output and "ALLOW_LOCAL_LINKS=true" in result.output


def test_serve_says_where_links_point(elicit, started, monkeypatch):
    monkeypatch.setenv("BASE_URL", "https://survey.example.org")
    get_settings.cache_clear()
    result = elicit("serve", "--no-upgrade", "--host", "0.0.0.0")
    assert "invitation links point to https://survey.example.org" in result.output
    assert started and started[0]["host"] == "0.0.0.0"


def test_local_links_may_be_allowed_for_a_trial(elicit, started, monkeypatch):
    monkeypatch.delenv("BASE_URL")
    get_settings.cache_clear()
    elicit("serve", "--no-upgrade", "--host", "0.0.0.0", "--allow-local-links")
    monkeypatch.setenv("ALLOW_LOCAL_LINKS", "true")
    monkeypatch.delenv("BASE_URL")
    get_settings.cache_clear()
    elicit("serve", "--no-upgrade", "--host", "0.0.0.0")
    assert len(started) == 2


def test_serve_on_this_machine_needs_no_base_url(elicit, started, monkeypatch):
    monkeypatch.delenv("BASE_URL")
    get_settings.cache_clear()
    result = elicit("serve", "--no-upgrade", "--port", "8123")
    assert "invitation links point to http://127.0.0.1:8123" in result.output and started


def test_revoke_and_reissue_by_email_or_code(session, elicit, client):
    from app.services import invitations
    from tests.factories import make_invitations, make_round

    round_ = make_round(session)
    ada, bob = make_invitations(session, round_, n=2)
    session.commit()
    revoked = elicit("revoke", str(round_.id), "--email", ada.email.upper())
    assert f"the link of {ada.email.upper()} to round {round_.id} is revoked" in revoked.output
    assert client.get(f"/i/{ada.token}").status_code == 404
    assert client.get(f"/i/{bob.token}", follow_redirects=False).status_code == 303

    reissued = elicit("reissue", str(round_.id), "--code", bob.expert_code)
    assert bob.expert_code in reissued.output and "http://panel.example.org/i/" in reissued.output
    new_link = reissued.output.strip().splitlines()[-1].split(",")[-1]
    assert client.get(f"/i/{bob.token}").status_code == 404
    token = new_link.rsplit("/", 1)[-1]
    assert client.get(f"/i/{token}", follow_redirects=False).status_code == 303

    missing = elicit("revoke", str(round_.id), "--email", "nobody@example.org", ok=False)
    assert missing.exit_code != 0
    assert (
        f"no expert with the e-mail address 'nobody@example.org' is invited to round {round_.id}"
        in missing.output
    )
    neither = elicit("revoke", str(round_.id), ok=False)
    assert neither.exit_code != 0 and "e-mail address or code" in neither.output
    with pytest.raises(Exception, match="one of them"):
        invitations.find_in_round(session, round_id=round_.id, email=ada.email, code="E-1")
