"""Delphi rounds through the API: feedback, reasons outside the IQR, settled items."""

from __future__ import annotations

import numpy as np
import pytest

from tests.factories import login, make_round, make_user, survey_dict, survey_yaml

ITEMS = ("weights", "evals", "methods")
DIMS = ("sensitivity", "misuse")


@pytest.fixture
def admin(session, client):
    make_user(session)
    return login(client)


def _answers(rng, centre, spread, *, own=None, pull=0.0):
    """Simulated answers: each expert starts near ``centre``; later rounds move ``pull`` of
    the way toward the panel median."""
    out = {}
    for item in ITEMS:
        for dim in DIMS:
            if own is None:
                value = centre[(item, dim)] + rng.normal(0, spread)
            else:
                value = own[(item, dim)] + pull * (centre[(item, dim)] - own[(item, dim)])
            out[(item, dim)] = int(np.clip(np.rint(value), 1, 5))
    return out


def _run_round(client, links, answers_by_expert, feedback=None):
    for link, answers in zip(links, answers_by_expert, strict=True):
        headers = {"Authorization": "Bearer " + link["url"].rsplit("/", 1)[1]}
        client.post("/api/expert/consent", headers=headers)
        ratings = []
        for (item, dim), value in answers.items():
            rationale = ""
            cell = (feedback or {}).get(item, {}).get(dim)
            if cell and not cell["q1"] <= value <= cell["q3"]:
                rationale = f"I hold {value} because of X"
            ratings.append(
                {
                    "item": item,
                    "dimension": dim,
                    "value": value,
                    "rationale": rationale,
                    "share_rationale": bool(rationale),
                }
            )
        for item in ITEMS:
            ratings.append({"item": item, "dimension": "tier", "value": 1})
        reply = client.put("/api/expert/ratings", headers=headers, json={"ratings": ratings})
        assert reply.status_code == 200, reply.text
        assert client.post("/api/expert/submit", headers=headers).status_code == 200


def _iqr(answers_by_expert, cell):
    values = [a[cell] for a in answers_by_expert]
    q1, q3 = np.percentile(values, [25, 75])
    return q3 - q1


def test_three_round_delphi_narrows_the_iqr(session, client, admin):
    client.post(
        "/api/surveys", headers=admin, json={"filename": "s.yaml", "content": survey_yaml()}
    )
    round_id = client.post(
        "/api/rounds", headers=admin, json={"survey": "small", "name": "R1"}
    ).json()["id"]
    client.post(f"/api/rounds/{round_id}/open", headers=admin)
    people = [
        {"name": f"P{i}", "email": f"p{i}@example.org", "organisation": "X"} for i in range(9)
    ]
    links = client.post(
        f"/api/rounds/{round_id}/invitations", headers=admin, json={"invitees": people}
    ).json()
    rng = np.random.default_rng(5)
    centre = {(i, d): rng.uniform(1.5, 4.5) for i in ITEMS for d in DIMS}
    answers = [_answers(rng, centre, 1.3) for _ in people]
    _run_round(client, links, answers)
    iqrs = [np.mean([_iqr(answers, (i, d)) for i in ITEMS for d in DIMS])]
    for sequence in (2, 3):
        client.post(f"/api/rounds/{round_id}/close", headers=admin)
        made = client.post(f"/api/rounds/{round_id}/next", headers=admin, json={})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["round"]["sequence"] == sequence
        assert body["round"]["criteria"]["consensus"]["max_iqr"] == 1.0
        new_links = body["invitations"]
        assert sorted(x["email"] for x in new_links) == sorted(p["email"] for p in people)
        round_id = body["round"]["id"]
        client.post(f"/api/rounds/{round_id}/open", headers=admin)
        by_email = {x["email"]: x for x in new_links}
        new_links = [by_email[p["email"]] for p in people]
        # Each expert sees their own previous answers and the panel's feedback.
        medians = {}
        for link, own in zip(new_links, answers, strict=True):
            headers = {"Authorization": "Bearer " + link["url"].rsplit("/", 1)[1]}
            assert client.get("/api/expert/response", headers=headers).json()["ratings"] == []
            seen = client.get("/api/expert/survey", headers=headers).json()
            previous = {(a["item"], a["dimension"]): a["value"] for a in seen["previous_answers"]}
            assert {k: v for k, v in previous.items() if k[1] != "tier"} == own
        feedback = seen["feedback"]
        for item in ITEMS:
            for dim in DIMS:
                medians[(item, dim)] = feedback[item][dim]["median"]
                values = sorted(a[(item, dim)] for a in answers)
                assert feedback[item][dim]["median"] == float(np.median(values))
                assert sum(feedback[item][dim]["histogram"].values()) == len(people)
        before = answers
        answers = [_answers(rng, medians, 0, own=own, pull=0.6) for own in answers]
        _run_round(client, new_links, answers, feedback=feedback)
        iqrs.append(np.mean([_iqr(answers, (i, d)) for i in ITEMS for d in DIMS]))
        # Stability between the rounds, checked against the answers we simulated.
        stable = client.get(f"/api/rounds/{round_id}/stability", headers=admin).json()
        changed = [a[c] != b[c] for a, b in zip(answers, before, strict=True) for c in a]
        assert stable["share_cells_changed"] == pytest.approx(np.mean(changed))
        movers = [any(a[c] != b[c] for c in a) for a, b in zip(answers, before, strict=True)]
        assert stable["share_raters_changed"] == pytest.approx(np.mean(movers))
        for dim in DIMS:
            moves = [
                abs(a[(i, dim)] - b[(i, dim)])
                for a, b in zip(answers, before, strict=True)
                for i in ITEMS
            ]
            assert stable["dimensions"][dim]["mean_absolute_change"] == pytest.approx(
                np.mean(moves)
            )
        assert stable["suggestion"] in {"consensus reached", "stable", "continue"}
        assert stable["explanation"]
        assert stable["settings"]["stable_change"] == 0.15  # the survey's frozen stopping rule
    assert iqrs[0] > iqrs[1] >= iqrs[2]


def test_a_value_outside_the_panel_range_needs_a_reason(session, client, admin):
    round_ = make_round(session)
    from tests.factories import make_invitations

    issued = make_invitations(session, round_, 4)
    for n, link in enumerate(issued):
        headers = {"Authorization": f"Bearer {link.token}"}
        client.post("/api/expert/consent", headers=headers)
        value = 5 if n == 0 else 2
        client.put(
            "/api/expert/ratings",
            headers=headers,
            json={
                "ratings": [
                    {
                        "item": "weights",
                        "dimension": "sensitivity",
                        "value": value,
                        "rationale": f"reason {n}",
                        "share_rationale": n == 0,
                    }
                ]
            },
        )
        client.post("/api/expert/submit", headers=headers)
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    body = client.post(f"/api/rounds/{round_.id}/next", headers=admin, json={}).json()
    new_id = body["round"]["id"]
    client.post(f"/api/rounds/{new_id}/open", headers=admin)
    link = next(x for x in body["invitations"] if x["email"] == "expert0@example.org")
    headers = {"Authorization": "Bearer " + link["url"].rsplit("/", 1)[1]}
    refused = client.put(
        "/api/expert/ratings",
        headers=headers,
        json={"ratings": [{"item": "weights", "dimension": "sensitivity", "value": 5}]},
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "ratings[0].rationale"
    assert "outside the panel's range" in refused.json()["detail"]
    inside = client.put(
        "/api/expert/ratings",
        headers=headers,
        json={"ratings": [{"item": "weights", "dimension": "sensitivity", "value": 2}]},
    )
    assert inside.status_code == 200
    # The item page shows the feedback, the expert's own earlier answer, and only the
    # rationale its author agreed to share, without any code.
    client.get(link["url"].replace("http://testserver", ""))
    page = client.get("/survey/items/1").text
    assert "Panel in round 1" in page and "Your answer then: <strong>5" in page
    assert "reason 0" in page and "reason 1" not in page
    assert issued[0].expert_code not in page.split("your code")[-1].split("</p>")[1]


def test_next_round_rules(session, client, admin):
    round_ = make_round(session)
    url = f"/api/rounds/{round_.id}/next"
    assert client.post(url, headers=admin, json={}).status_code == 409  # still open
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    revised = survey_dict(consensus={"max_iqr": 2.0})
    import yaml

    client.post(
        "/api/surveys",
        headers=admin,
        json={"filename": "s.yaml", "content": yaml.safe_dump(revised)},
    )
    moved = client.post(url, headers=admin, json={"version": 2})
    assert moved.status_code == 422 and "consensus criterion" in moved.json()["detail"]
    stop_later = survey_dict(delphi={"stable_max_share_changed": 0.05})
    loaded = client.post(
        "/api/surveys",
        headers=admin,
        json={"filename": "s.yaml", "content": yaml.safe_dump(stop_later)},
    )
    assert loaded.status_code == 201, loaded.text
    moved = client.post(url, headers=admin, json={"version": loaded.json()["number"]})
    assert moved.status_code == 422 and "stopping rule" in moved.json()["detail"]
    first = client.post(url, headers=admin, json={})
    assert first.status_code == 201
    assert client.post(url, headers=admin, json={}).status_code == 409


def test_settled_items_can_be_left_out(session, client, admin):
    import yaml

    client.post(
        "/api/surveys",
        headers=admin,
        json={
            "filename": "s.yaml",
            "content": yaml.safe_dump(survey_dict(delphi={"drop_items_with_consensus": True})),
        },
    )
    round_id = client.post(
        "/api/rounds", headers=admin, json={"survey": "small", "name": "R1"}
    ).json()["id"]
    client.post(f"/api/rounds/{round_id}/open", headers=admin)
    links = client.post(
        f"/api/rounds/{round_id}/invitations",
        headers=admin,
        json={"invitees": [{"name": f"P{i}", "email": f"p{i}@example.org"} for i in range(4)]},
    ).json()
    for n, link in enumerate(links):
        headers = {"Authorization": "Bearer " + link["url"].rsplit("/", 1)[1]}
        client.post("/api/expert/consent", headers=headers)
        ratings = [{"item": "weights", "dimension": d, "value": 3} for d in DIMS]
        ratings += [
            {"item": i, "dimension": d, "value": 1 + 4 * (n % 2)}
            for i in ("evals", "methods")
            for d in DIMS
        ]
        client.put("/api/expert/ratings", headers=headers, json={"ratings": ratings})
        client.post("/api/expert/submit", headers=headers)
    client.post(f"/api/rounds/{round_id}/close", headers=admin)
    body = client.post(f"/api/rounds/{round_id}/next", headers=admin, json={}).json()
    new_id = body["round"]["id"]
    client.post(f"/api/rounds/{new_id}/open", headers=admin)
    headers = {"Authorization": "Bearer " + body["invitations"][0]["url"].rsplit("/", 1)[1]}
    state = client.get("/api/expert/response", headers=headers).json()
    assert state["expected"] == 2 * 3  # two unsettled items x (2 dimensions + tier)
    refused = client.put(
        "/api/expert/ratings",
        headers=headers,
        json={"ratings": [{"item": "weights", "dimension": "misuse", "value": 3}]},
    )
    assert refused.status_code == 422 and "not asked" in refused.json()["detail"]


def test_the_whole_cycle_from_the_command_line(
    session, client, database_url, monkeypatch, tmp_path
):
    """Round 1, feedback, round 2, calibrate, publish v1, round 3, publish v2, diff."""
    import csv as csv_module
    import json
    import re

    from typer.testing import CliRunner

    from app.cli import cli
    from app.config import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BASE_URL", "http://testserver")
    get_settings.cache_clear()
    runner = CliRunner()

    def elicit(*args):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    try:
        make_user(session)
        survey = tmp_path / "s.yaml"
        survey.write_text(survey_yaml())
        elicit("survey", "load", str(survey))
        round_id = re.search(r"round (\d+)", elicit("round", "create", "small", "--open")).group(1)
        people = tmp_path / "people.csv"
        people.write_text(
            "name,email,organisation\n"
            + "".join(f"P{i},p{i}@example.org,Org {i % 2}\n" for i in range(6))
        )
        links = tmp_path / "links.csv"
        elicit("invite", round_id, "--csv", str(people), "--out", str(links))
        rng = np.random.default_rng(11)
        centre = {(i, d): rng.uniform(1.5, 4.5) for i in ITEMS for d in DIMS}
        answers = [_answers(rng, centre, 1.0) for _ in range(6)]
        published = []
        for step in range(3):
            rows = list(csv_module.DictReader(links.open()))
            rows.sort(key=lambda r: r["email"])
            feedback = None
            if step:
                token = rows[0]["url"].rsplit("/", 1)[1]
                seen = client.get(
                    "/api/expert/survey", headers={"Authorization": f"Bearer {token}"}
                ).json()
                feedback = seen["feedback"]
                medians = {(i, d): feedback[i][d]["median"] for i in ITEMS for d in DIMS}
                answers = [_answers(rng, medians, 0, own=own, pull=0.5) for own in answers]
            _run_round(client, [{"url": r["url"]} for r in rows], answers, feedback=feedback)
            assert "submitted 6" in elicit("progress", round_id)
            elicit("round", "close", round_id)
            if step:
                stability = elicit("round", "stability", round_id)
                assert (
                    "suggestion:" in stability and "quadratic-weighted kappa): median" in stability
                )
                calibration = json.loads(
                    elicit("calibrate", round_id, "--json", "--bootstrap", "100")
                )
                assert calibration["round_id"] == int(round_id)
                out = elicit(
                    "publish",
                    round_id,
                    "--publisher",
                    "admin@example.org",
                    "--bootstrap",
                    "100",
                    "--justification",
                    "test panel",
                    "--context",
                    f"company_relations=state {step}",
                )
                published.append(re.search(r"published small v(\d+)", out).group(1))
            if step < 2:
                out = elicit("round", "next", round_id, "--out", str(links), "--open")
                round_id = re.search(r"round (\d+) \(open\)", out).group(1)
        assert published == ["1", "2"]
        diff = json.loads(elicit("rubric", "diff", "small", "1", "2", "--json"))
        assert diff["context"]["to"]["company_relations"] == "state 2"
        assert "v1 -> v2" in elicit("rubric", "diff", "small", "1", "2")
        page = client.get("/rubrics/small/diff/1/2")
        assert page.status_code == 200 and "Changes from" in page.text
        record = client.get("/rubrics/small/v2.json").json()["record"]
        assert [r["sequence"] for r in record["rounds"]] == [1, 2, 3]
    finally:
        get_settings.cache_clear()


def test_criteria_frozen_by_older_software_do_not_block_the_next_round(session, client, admin):
    # A series opened before a setting existed froze fewer keys; the same survey version
    # (or one that keeps the frozen values) may still continue it.
    from app.models import Round

    round_ = make_round(session)
    stored = session.get(Round, round_.id)
    frozen = dict(stored.criteria)
    frozen["delphi"] = {"require_reason_outside_iqr": True}
    stored.criteria = frozen
    session.add(stored)
    session.commit()
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    made = client.post(f"/api/rounds/{round_.id}/next", headers=admin, json={})
    assert made.status_code == 201, made.text
    assert made.json()["round"]["criteria"]["delphi"] == {"require_reason_outside_iqr": True}


def test_the_item_page_asks_for_the_missing_reason_next_to_the_question(session, client, admin):
    import re

    from tests.factories import make_invitations

    round_ = make_round(session)
    issued = make_invitations(session, round_, 3)
    for n, link in enumerate(issued):
        headers = {"Authorization": f"Bearer {link.token}"}
        client.post("/api/expert/consent", headers=headers)
        client.put(
            "/api/expert/ratings",
            headers=headers,
            json={
                "ratings": [{"item": "weights", "dimension": "sensitivity", "value": 2 + (n == 2)}]
            },
        )
        client.post("/api/expert/submit", headers=headers)
    client.post(f"/api/rounds/{round_.id}/close", headers=admin)
    body = client.post(f"/api/rounds/{round_.id}/next", headers=admin, json={}).json()
    client.post(f"/api/rounds/{body['round']['id']}/open", headers=admin)
    client.get(body["invitations"][0]["url"].replace("http://testserver", ""))
    page = client.get("/survey/items/1").text
    assert "needed if your answer lies outside" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    reply = client.post(
        "/survey/items/1",
        data={
            "csrf_token": token,
            "action": "stay",
            "sensitivity__answer": "5",
            "sensitivity__rationale": "",
        },
    )
    assert reply.status_code == 422
    assert 'id="sensitivity__error"' in reply.text and "outside the panel" in reply.text
