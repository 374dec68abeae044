"""Comparing published rubric versions (page, JSON, CLI) shows every change, the context
assumptions and the justification included; and publishing a rubric identical to the newest
version is refused, naming that version, through the API, the admin page and the CLI."""

from __future__ import annotations

import re

import pytest

from app.services.demo import simulate_panel
from tests.factories import login, make_round, make_user, sign_in_page

CONTEXT = {"company_relations": "Voluntary access as of 2026", "legal_powers": "none"}


@pytest.fixture
def admin(session, client):
    make_user(session)
    return login(client)


@pytest.fixture
def closed_round(session, client, admin):
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=8, seed=1)
    session.commit()
    assert client.post(f"/api/rounds/{round_.id}/close", headers=admin).status_code == 200
    return round_


def _publish(client, admin, round_id, **body):
    body.setdefault("context", CONTEXT)
    body.setdefault("n_bootstrap", 100)
    body.setdefault("justification", "pilot panel")
    return client.post(f"/api/rounds/{round_id}/publish", headers=admin, json=body)


@pytest.fixture
def two_versions(client, admin, closed_round):
    """v1 and v2 of one round: the same calibration, other assumptions and justification."""
    assert _publish(client, admin, closed_round.id).status_code == 201
    changed = {"company_relations": "Access under a memorandum", "notes": "after new members"}
    v2 = _publish(client, admin, closed_round.id, context=changed, justification="second pilot")
    assert v2.status_code == 201, v2.text
    return closed_round


def test_diff_reports_context_and_justification_changes(client, two_versions):
    diff = client.get("/rubrics/small/diff/1/2?format=json").json()
    changes = {c["field"]: c for c in diff["context_changes"]}
    assert set(changes) == {"company_relations", "legal_powers", "notes"}
    assert changes["company_relations"]["label"] == "Relations with AI companies"
    assert changes["company_relations"]["from"] == "Voluntary access as of 2026"
    assert changes["company_relations"]["to"] == "Access under a memorandum"
    assert changes["legal_powers"]["to"] is None and changes["notes"]["from"] is None
    assert diff["justification"] == {"from": "pilot panel", "to": "second pilot", "changed": True}
    assert diff["tier_changes"] == []  # same round, same seed: only the assumptions moved

    page = client.get("/rubrics/small/diff/1/2")
    assert page.status_code == 200
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "Context assumed" in text
    assert "Relations with AI companies Voluntary access as of 2026 Access under a memorandum" in (
        text
    )
    assert "Legal powers none not recorded" in text
    assert "Other assumptions not recorded after new members" in text
    assert "pilot panel" in text and "second pilot" in text
    # Labels, not keys.
    assert "Gray Area" in text and "gray_area" not in text
    assert "Overall tier" in text


def test_diff_without_changes_says_so(client, admin, closed_round):
    assert _publish(client, admin, closed_round.id).status_code == 201
    assert _publish(client, admin, closed_round.id, n_bootstrap=101).status_code == 201
    diff = client.get("/rubrics/small/diff/1/2?format=json").json()
    assert diff["context_changes"] == [] and diff["justification"]["changed"] is False
    text = " ".join(re.sub(r"<[^>]+>", " ", client.get("/rubrics/small/diff/1/2").text).split())
    assert "The context assumptions did not change." in text
    assert "Unchanged: pilot panel" in text


def test_cli_diff_formats_numbers_and_shows_the_assumptions(elicit, two_versions):
    output = elicit("rubric", "diff", "small", "1", "2").output
    assert "small (A small survey): v1 -> v2" in output
    thresholds = re.findall(r"^  (Gray Area|High Trust): (\S+) -> (\S+)$", output, flags=re.M)
    assert len(thresholds) == 2
    for _, before, after in thresholds:
        assert re.fullmatch(r"\d+\.\d\d", before) and re.fullmatch(r"\d+\.\d\d", after)
    alphas = re.findall(r"^  .+: (\S+) -> (\S+) \((\S+)\)$", output, flags=re.M)
    assert alphas
    for before, after, change in alphas:
        assert re.fullmatch(r"-?\d\.\d{3}|n/a", before), output
        assert re.fullmatch(r"-?\d\.\d{3}|n/a", after), output
        assert re.fullmatch(r"[+-]\d\.\d{3}|n/a", change), output
    assert not re.search(r"\d\.\d{5,}", output), "raw floats"
    assert (
        'Relations with AI companies: "Voluntary access as of 2026" -> '
        '"Access under a memorandum"' in output
    )
    assert 'Legal powers: "none" -> (not recorded)' in output
    assert 'Justification: "pilot panel" -> "second pilot"' in output


# --- publishing the same rubric twice ----------------------------------------------------


def test_publishing_an_identical_rubric_again_is_refused(client, admin, closed_round):
    first = _publish(client, admin, closed_round.id)
    assert first.status_code == 201
    again = _publish(client, admin, closed_round.id)
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert "small v1" in detail and "same rubric" in detail
    versions = client.get("/rubrics/small/?format=json").json()["versions"]
    assert [v["number"] for v in versions] == [1]
    # Changed assumptions make a new version; then going back to v1's is a change too.
    assert _publish(client, admin, closed_round.id, context={"notes": "x"}).status_code == 201
    assert _publish(client, admin, closed_round.id).json()["number"] == 3
    repeated = _publish(client, admin, closed_round.id)
    assert repeated.status_code == 409 and "small v3" in repeated.json()["detail"]


def test_publishing_the_same_rubric_from_the_page_is_refused_with_the_form_kept(
    session, client, admin, closed_round
):
    assert _publish(client, admin, closed_round.id).status_code == 201
    sign_in_page(client)
    calibration = client.get(f"/admin/rounds/{closed_round.id}/calibration")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', calibration.text).group(1)
    # The page publishes with the default bootstrap: make v2 that way, then try again.
    form = {"csrf_token": csrf, **CONTEXT, "justification": "pilot panel"}
    done = client.post(f"/admin/rounds/{closed_round.id}/publish", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/rubrics/small/v2"
    refused = client.post(f"/admin/rounds/{closed_round.id}/publish", data=form)
    assert refused.status_code == 409
    text = " ".join(re.sub(r"<[^>]+>", " ", refused.text).split())
    assert "small v2" in text and "same rubric" in text
    assert "Voluntary access as of 2026" in refused.text  # what was typed is kept


def test_publishing_the_same_rubric_from_the_cli_is_refused(elicit, closed_round):
    args = ["publish", str(closed_round.id), "--publisher", "admin@example.org"]
    args += ["--bootstrap", "100", "--justification", "pilot", "--context", "legal_powers=none"]
    assert "published small v1" in elicit(*args).output
    refused = elicit(*args, ok=False)
    assert refused.exit_code == 1
    assert "small v1" in refused.output and "same rubric" in refused.output
    assert "small\tv2" not in elicit("rubric", "list").output
