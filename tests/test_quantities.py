"""Quantile answers to quantity questions: validation, history, withdrawal, export, API."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from sqlmodel import select

from analysis.cooke import read_quantiles_csv
from app.errors import InvalidInput, ResponseLocked
from app.inputs import QuantileInput
from app.models import QuantileAnswerChange
from app.services import privacy, quantities, responses
from app.services.answer_store import Saving
from tests.factories import (
    bearer,
    form_token,
    full_ratings,
    login,
    make_invitations,
    make_response,
    make_round,
    make_survey,
    make_user,
)

#: Two seed questions (realisations known) and one target question.
QUANTITY_QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "evals_2025",
        "label": "Evaluations in 2025",
        "question": "How many pre-deployment evaluations were run in 2025?",
        "unit": "evaluations",
        "lower": 0,
        "realisation": 42,
    },
    {
        "key": "share_open",
        "label": "Open share",
        "question": "What share of evaluation tools is open source?",
        "unit": "%",
        "lower": 0,
        "upper": 100,
        "realisation": 30,
    },
    {
        "key": "evals_2027",
        "label": "Evaluations in 2027",
        "question": "How many will be run in 2027?",
        "lower": 0,
    },
]


@pytest.fixture
def quantity_round(session):  # type: ignore[no-untyped-def]
    make_survey(session, quantities=QUANTITY_QUESTIONS)
    return make_round(session)


def answer(question: str = "evals_2025", q05: float = 10, q50: float = 40, q95: float = 90):
    return QuantileInput(question=question, q05=q05, q50=q50, q95=q95)


def _response(session, round_):  # type: ignore[no-untyped-def]
    return make_response(session, make_invitations(session, round_, 1)[0])


def test_saves_answers_and_keeps_every_change(session, quantity_round) -> None:
    response = _response(session, quantity_round)
    saved = quantities.save_quantiles(session, Saving(response.id), answers=[answer()])
    assert [(a.question_key, a.q05, a.q50, a.q95, a.revision) for a in saved] == [
        ("evals_2025", 10, 40, 90, 1)
    ]
    quantities.save_quantiles(session, Saving(response.id), answers=[answer()])  # same
    quantities.save_quantiles(session, Saving(response.id), answers=[answer(q50=50)])
    session.commit()
    history = quantities.quantile_history(session, response_id=response.id)
    assert [(c.revision, c.q50, c.changed_by) for c in history] == [
        (1, 40, "expert"),
        (2, 50, "expert"),
    ]
    current = quantities.quantile_answers(session, response_id=response.id)
    assert current["evals_2025"].q50 == 50 and current["evals_2025"].revision == 2


@pytest.mark.parametrize(
    ("given", "field", "words"),
    [
        (answer(q05=40, q50=40), "answers[0].q05", "must be smaller than the median"),
        (answer(q95=30), "answers[0].q95", "must be greater than the median"),
        (answer(q05=float("nan")), "answers[0].q05", "finite"),
        (answer(q95=float("inf")), "answers[0].q95", "finite"),
        (answer(q05=-1), "answers[0].q05", "below the question's lower bound (0)"),
        (answer("share_open", 10, 50, 101), "answers[0].q95", "above the question's upper bound"),
        (answer("nothing"), "answers[0].question", "unknown quantity question 'nothing'"),
    ],
)
def test_refuses_answers_the_model_cannot_use(session, quantity_round, given, field, words) -> None:
    response = _response(session, quantity_round)
    with pytest.raises(InvalidInput) as info:
        quantities.save_quantiles(session, Saving(response.id), answers=[given])
    assert info.value.field == field
    assert words in info.value.message
    assert quantities.quantile_answers(session, response_id=response.id) == {}


def test_all_or_nothing_and_no_question_twice(session, quantity_round) -> None:
    response = _response(session, quantity_round)
    with pytest.raises(InvalidInput, match="appears twice"):
        quantities.save_quantiles(session, Saving(response.id), answers=[answer(), answer(q50=41)])
    with pytest.raises(InvalidInput):
        quantities.save_quantiles(session, Saving(response.id), answers=[answer(), answer(q05=99)])
    assert quantities.quantile_answers(session, response_id=response.id) == {}


def test_a_submitted_response_is_locked(session, quantity_round) -> None:
    response = _response(session, quantity_round)
    responses.submit_response(session, response_id=response.id)
    with pytest.raises(ResponseLocked):
        quantities.save_quantiles(session, Saving(response.id), answers=[answer()])


def test_withdrawal_deletes_answers_and_history_and_export_lists_them(
    session, quantity_round
) -> None:
    response = _response(session, quantity_round)
    quantities.save_quantiles(session, Saving(response.id), answers=[answer()])
    session.commit()
    data = privacy.personal_data(session, expert_id=response.expert_id)
    (shown,) = data.responses
    assert [(q.question_key, q.q50) for q in shown.quantiles] == [("evals_2025", 40)]
    assert [c.revision for c in shown.quantile_history] == [1]
    privacy.withdraw_from_round(session, response_id=response.id)
    session.commit()
    assert quantities.quantile_answers(session, response_id=response.id) == {}
    assert session.exec(select(QuantileAnswerChange)).all() == []


def test_the_history_cannot_be_edited(session, quantity_round) -> None:
    response = _response(session, quantity_round)
    quantities.save_quantiles(session, Saving(response.id), answers=[answer()])
    session.commit()
    change = session.exec(select(QuantileAnswerChange)).one()
    change.q50 = 1.0
    session.add(change)
    with pytest.raises(Exception, match="append-only"):
        session.commit()
    session.rollback()


# --- API ---------------------------------------------------------------------------------


def test_expert_api_saves_and_reads_own_quantiles(session, client, quantity_round) -> None:
    issued = make_invitations(session, quantity_round, 2)
    reply = client.get("/api/expert/quantities", headers=bearer(issued[0]))
    assert reply.status_code == 200
    shown = reply.json()
    assert [q["key"] for q in shown] == ["evals_2025", "share_open", "evals_2027"]
    assert all("realisation" not in q for q in shown)  # never shown to experts
    body = {"answers": [{"question": "evals_2025", "q05": 5, "q50": 20, "q95": 50}]}
    reply = client.put("/api/expert/quantities", json=body, headers=bearer(issued[0]))
    assert reply.status_code == 200, reply.text
    assert reply.json()[0]["q50"] == 20
    mine = client.get("/api/expert/quantities", headers=bearer(issued[0])).json()
    assert mine[0]["answer"]["q95"] == 50
    other = client.get("/api/expert/quantities", headers=bearer(issued[1])).json()
    assert other[0]["answer"] is None  # experts never see each other's answers
    survey = client.get("/api/expert/survey", headers=bearer(issued[0])).json()["survey"]
    assert all("realisation" not in q for q in survey["quantities"])


def test_expert_api_refusals_are_precise(session, client, quantity_round) -> None:
    issued = make_invitations(session, quantity_round, 1)[0]
    body = {"answers": [{"question": "evals_2025", "q05": 50, "q50": 20, "q95": 60}]}
    reply = client.put("/api/expert/quantities", json=body, headers=bearer(issued))
    assert reply.status_code == 422
    assert "smaller than the median" in reply.json()["detail"]
    reply = client.put("/api/expert/quantities", json={"answers": []}, headers=bearer(issued))
    assert reply.status_code == 422
    reply = client.put(
        "/api/expert/quantities",
        json={"answers": [{"question": "evals_2025", "q05": "x", "q50": 1, "q95": 2}]},
        headers=bearer(issued),
    )
    assert reply.status_code == 422
    assert client.put("/api/expert/quantities", json=body).status_code == 401


def test_round_quantiles_export_is_what_cooke_reads(
    session, client, quantity_round, tmp_path, elicit
) -> None:
    issued = make_invitations(session, quantity_round, 2)
    for number, person in enumerate(issued):
        headers = bearer(person)
        client.post("/api/expert/consent", headers=headers)
        client.put("/api/expert/ratings", json={"ratings": full_ratings()}, headers=headers)
        answers = [
            {"question": key, "q05": 1 + number, "q50": 20 + number, "q95": 60 + number}
            for key in ("evals_2025", "share_open", "evals_2027")
        ]
        assert (
            client.put(
                "/api/expert/quantities", json={"answers": answers}, headers=headers
            ).status_code
            == 200
        )
        assert client.post("/api/expert/submit", headers=headers).status_code == 200
    make_user(session)
    reply = client.get(f"/api/rounds/{quantity_round.id}/quantiles.csv", headers=login(client))
    assert reply.status_code == 200
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) == 6
    assert {r["question"]: r["realisation"] for r in rows} == {
        "evals_2025": "42.0",
        "share_open": "30.0",
        "evals_2027": "",
    }
    assert list(rows[0])[:6] == ["expert", "question", "q05", "q50", "q95", "realisation"]
    (tmp_path / "q.csv").write_text(reply.text, encoding="utf-8")
    read = read_quantiles_csv(tmp_path / "q.csv")
    assert sorted(read["question"].unique()) == ["evals_2025", "evals_2027", "share_open"]
    # The command line writes the same file, and elicit cooke reads it.
    out = tmp_path / "cli.csv"
    elicit("export", str(quantity_round.id), "--quantiles", "-o", str(out))
    assert out.read_text(encoding="utf-8").splitlines() == reply.text.splitlines()
    model = json.loads(elicit("cooke", str(out), "--json").output)
    assert model["method"].startswith("Cooke's classical model")
    refused = elicit("export", str(quantity_round.id), "--quantiles", "--format", "xlsx", ok=False)
    assert refused.exit_code != 0 and "CSV only" in refused.output


# --- the expert's pages --------------------------------------------------------------------


def _open_link(client, token: str) -> None:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    assert client.get(f"/i/{token}").status_code == 303


def _post(client, number: int, **fields: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/survey/quantities/{number}").text
    return client.post(
        f"/survey/quantities/{number}", data={"csrf_token": form_token(page), **fields}
    )


def test_quantity_page_saves_shows_a_preview_and_leads_on(session, client, quantity_round) -> None:
    link = make_invitations(session, quantity_round, 1)[0]
    _open_link(client, link.token)
    page = client.get("/survey/quantities/1")
    assert page.status_code == 200
    for name in ("q05", "q50", "q95"):
        assert f'<label for="{name}">' in page.text
    assert 'id="preview"' in page.text and 'class="empty"' in page.text  # nothing yet
    assert "42" not in page.text  # the realisation is never shown
    reply = _post(client, 1, q05="10", q50="25,5", q95="60", action="next")
    assert reply.status_code == 303 and reply.headers["location"] == "/survey/quantities/2"
    page = client.get("/survey/quantities/1").text
    assert 'value="25.5"' in page and 'class="empty"' not in page
    bars = re.findall(
        r'<rect class="bin" data-bin="\d" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', page
    )
    widths = [float(w) for _, w in bars]
    assert len(widths) == 4 and abs(sum(widths) - 320) < 0.1  # the bins tile the frame
    last = _post(client, 3, q05="1", q50="2", q95="3", action="review")
    assert last.headers["location"] == "/survey/review"
    review = client.get("/survey/review").text
    assert "Your estimates of quantities" in review and "/survey/quantities/2" in review


def test_quantity_page_refusals_sit_next_to_the_field(session, client, quantity_round) -> None:
    link = make_invitations(session, quantity_round, 1)[0]
    _open_link(client, link.token)
    reply = _post(client, 1, q05="50", q50="20", q95="60", action="stay")
    assert reply.status_code == 422
    assert re.search(
        r'<p class="error" id="q05__error"\s*>The low estimate must be smaller than the median',
        reply.text,
    )
    assert 'value="50"' in reply.text  # what was typed is kept
    reply = _post(client, 2, q05="10", q50="50", q95="abc", action="stay")
    assert reply.status_code == 422 and "Enter a number, like 12 or 0.5." in reply.text
    reply = _post(client, 2, q05="10", q50="50", q95="120", action="stay")
    assert "This must be at most 100." in reply.text
    assert quantities.quantile_answers(session, response_id=_response_id(session)) == {}
    assert client.get("/survey/quantities/9").status_code == 404


def _response_id(session) -> int:  # type: ignore[no-untyped-def]
    from app.models import Response

    return session.exec(select(Response)).one().id


def test_the_last_item_leads_to_the_quantity_questions(session, client, quantity_round) -> None:
    link = make_invitations(session, quantity_round, 1)[0]
    _open_link(client, link.token)
    page = client.get("/survey/items/3").text
    reply = client.post(
        "/survey/items/3", data={"csrf_token": form_token(page), "action": "review"}
    )
    assert reply.headers["location"] == "/survey/quantities/1"
