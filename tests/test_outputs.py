"""What the app writes for other programs to read: CSV cells that a spreadsheet cannot run as
formulas (OWASP "CSV Injection"), and terminal output that user text cannot take over
(ESC sequences, C1 controls, bidi overrides: "Trojan Source", CVE-2021-42574)."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app.cli import terminal_safe
from app.models import ExpertContact, Round, SurveyVersion
from app.schemas import InviteeCreate
from app.services import exports, invitations, reports, responses, rubrics
from app.services.answer_store import Saving
from app.services.csv_out import csv_cell, neutralise, write_csv
from app.services.demo import simulate_panel
from tests.factories import SMALL_SURVEY, make_round, make_survey, make_user, rating

runner = CliRunner()

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _assert_no_formula(text: str) -> None:
    """No cell of the CSV can start a formula: text is neutralised, numbers are plain."""
    for row in _cells(text):
        for cell in row:
            assert not cell.startswith(FORMULA_START) or PLAIN_NUMBER.fullmatch(cell), cell


# --- the shared writer ---------------------------------------------------------------------


def test_write_csv_neutralises_text_and_keeps_numbers():
    text = write_csv(
        [
            ["=1+1", -0.25, -3, "-0.25", "-1+2", True, None, np.float64(-0.5), np.int64(-2)],
            ["\tx", float("nan"), 0, "+44 20 7946 0000", "@home", False, "", "a=b", "ok"],
        ],
        ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
    )
    first, second = _cells(text)[1:]
    assert first == ["'=1+1", "-0.25", "-3", "-0.25", "'-1+2", "true", "", "-0.5", "-2"]
    assert second == ["'\tx", "", "0", "'+44 20 7946 0000", "'@home", "false", "", "a=b", "ok"]
    assert write_csv([{"b": "=x", "a": 1}], ["a", "b"]) == "a,b\n1,'=x\n"
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        write_csv([[1, 2]], ["a", "b", "c"])


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=cmd", "'=cmd"), ("\rx", "'\rx"), ("1e-3", "1e-3"), ("-.5", "-.5"), ("-inf", "'-inf")],
)
def test_neutralise(value, cell):
    assert neutralise(value) == cell == csv_cell(value)


# --- every writer, on a real round -------------------------------------------------------


def _hostile_round(session):
    """A submitted round whose experts disagree (negative alpha) and whose organisations,
    groups and rationales start like formulas."""
    round_ = make_round(session)
    people = [
        InviteeCreate(
            name=HOSTILE[i],
            email=f"person{i}@example.org",
            organisation=HOSTILE[i],
            stakeholder_group=HOSTILE[(i + 1) % 4],
        )
        for i in range(4)
    ]
    issued = invitations.invite_experts(session, round_id=round_.id, invitees=people)
    for k, link in enumerate(issued):
        response = responses.start_response(
            session, invitation=invitations.find_invitation(session, token=link.token)
        )
        responses.give_consent(session, response_id=response.id)
        answers = []
        for item in ("weights", "evals", "methods"):
            for dimension in ("sensitivity", "misuse"):
                value = (k * 2 + len(item)) % 5 + 1
                answers.append(rating(item, dimension, value, rationale=HOSTILE[k]))
            answers.append(rating(item, "tier", k % 3))
        answers[0] = rating("weights", "sensitivity", answers[0].value, rationale="-0.25")
        responses.save_ratings(session, Saving(response.id), ratings=answers)
        responses.submit_response(session, response_id=response.id)
    session.commit()
    return round_, issued


def test_ratings_export_csv(session, backend):
    round_, _ = _hostile_round(session)
    text = exports.export_ratings_csv(session, round_id=round_.id)
    _assert_no_formula(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["organisation"] for r in rows} == {"'" + h for h in HOSTILE}
    assert {r["stakeholder_group"] for r in rows} == {"'" + h for h in HOSTILE}
    assert {r["rationale"] for r in rows} == {"'" + h for h in HOSTILE} | {"-0.25", ""}
    assert all(r["value"] == "" or r["value"].isdigit() for r in rows)


def test_report_csv_statistic_subject_and_value(session, backend):
    round_, _ = _hostile_round(session)
    report = reports.build_report(
        session,
        round_id=round_.id,
        options=reports.ReportOptions(n_bootstrap=20, group_by="organisation"),
    )
    text = reports.report_csv(report)
    _assert_no_formula(text)
    rows = _cells(text)[1:]
    # Subgroup statistics are named after the organisations: user text in `statistic`.
    statistics = {r[2] for r in rows if r[0] == "subgroups"}
    assert any(s.startswith("'=HYPERLINK") for s in statistics)
    assert any(s.startswith("'+1+cmd") for s in statistics)
    assert any(s.startswith("'-2+3") for s in statistics)
    assert any(s.startswith("'@SUM") for s in statistics)
    attributes = {r[3] for r in rows if r[2] == "attributes.organisation"}
    assert attributes == {"'" + h for h in HOSTILE}
    # The panel disagrees: its alphas are negative numbers, written as numbers.
    alpha = next(
        r[3] for r in rows if r[:3] == ["dimensions", "misuse", "krippendorff_alpha.ordinal"]
    )
    assert float(alpha) < 0 and not alpha.startswith("'")
    assert report.to_dict()["dimensions"]["misuse"]["krippendorff_alpha"]["ordinal"] == (
        pytest.approx(float(alpha), abs=1e-6)
    )


def test_invitation_links_csv(session, backend):
    _, issued = _hostile_round(session)
    text = invitations.issued_as_csv(issued, base_url="http://testserver")
    _assert_no_formula(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["name"] for r in rows) == sorted("'" + h for h in HOSTILE)
    assert all(r["url"].startswith("http://testserver/i/") for r in rows)


def test_public_rubric_csv(session, client, backend):
    items = [dict(item) for item in SMALL_SURVEY["items"]]
    items[0]["label"] = '=HYPERLINK("http://evil.example","weights")'
    items[1]["group"] = "@group"
    items[2]["label"] = "-methods"
    make_survey(session, items=items)
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=10, seed=1)
    session.commit()
    from app.services import rounds

    rounds.close_round(session, round_id=round_.id)
    admin = make_user(session)
    rubrics.publish_rubric(
        session, round_id=round_.id, publisher=admin, justification="test", n_bootstrap=50
    )
    session.commit()
    reply = client.get("/rubrics/small/v1.csv")
    assert reply.status_code == 200
    _assert_no_formula(reply.text)
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(reply.text))}
    assert rows["weights"]["label"] == "'" + items[0]["label"]
    assert rows["evals"]["group"] == "'@group"
    assert rows["methods"]["label"] == "'-methods"
    assert all(float(r["score"]) >= 1 for r in rows.values())
    assert all(r["borderline"] in ("true", "false") for r in rows.values())


# --- the terminal --------------------------------------------------------------------------

EVIL = "\x1b[31mred\x1b[0m \u202eevil\u202c \x9b2J"


def test_terminal_safe_shows_controls_as_escapes():
    assert terminal_safe(EVIL) == "\\x1b[31mred\\x1b[0m \\u202eevil\\u202c \\x9b2J"
    assert terminal_safe("two\nlines\tand\rmore") == "two\nlines\tand\\x0dmore"
    assert terminal_safe("a\nb\tc", one_line=True) == "a\\x0ab\\x09c"
    assert terminal_safe("Zoë \u2067x\u2069 ok") == "Zoë \\u2067x\\u2069 ok"


def _raw(text: str) -> list[str]:
    return re.findall(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


def test_cli_escapes_user_text(session, elicit, tmp_path, monkeypatch, backend):
    round_ = make_round(session)
    simulate_panel(session, round_id=round_.id, n_experts=6, seed=2)
    people = tmp_path / "people.csv"
    people.write_text("name,email,organisation\nAda,ada@example.org,X\n", encoding="utf-8")
    session.commit()
    # The text as if it were stored by an older version or another tool: what the CLI
    # prints must be safe whatever the input checks let through.
    version = session.exec(select(SurveyVersion)).one()
    definition = dict(version.definition)
    definition["items"] = [dict(i) for i in definition["items"]]
    definition["items"][0]["label"] = "Weights " + EVIL
    version.definition = definition
    version.content_sha256 = "e" * 64  # parsed definitions are cached by digest
    version.title = "Title " + EVIL
    stored = session.get(Round, round_.id)
    stored.name = "Round " + EVIL
    session.add_all([version, stored])
    session.commit()

    outputs = [
        elicit("survey", "list").output,
        elicit("round", "list").output,
        elicit("calibrate", str(round_.id), "--bootstrap", "20").output,
    ]
    assert "Title \\x1b[31mred" in outputs[0] and "\\u202eevil" in outputs[0]
    assert "Round \\x1b[31mred" in outputs[1]
    assert "Weights \\x1b[31mred" in outputs[2]

    draft = make_round(session, status="draft", name="Second")
    invited = elicit("invite", str(draft.id), "--csv", str(people)).output
    contact = session.exec(select(ExpertContact).where(ExpertContact.email == "ada@example.org"))
    row = contact.one()
    row.name = "Ada " + EVIL
    session.add(row)
    session.commit()
    elicit("round", "open", str(draft.id))
    elicit("round", "close", str(draft.id))
    following = elicit("round", "next", str(draft.id)).output
    assert "Ada \\x1b[31mred" in following
    outputs += [invited, following]

    progress = elicit("progress", str(round_.id), "--json").output
    assert json.loads(progress)["round_id"] == round_.id
    outputs.append(progress)

    # Errors carry user text too.
    failed = elicit("round", "create", "no\x1b[2Jsuch\u202e", ok=False)
    assert failed.exit_code == 1 and "no\\x1b[2Jsuch\\u202e" in failed.output
    outputs.append(failed.output)

    for output in outputs:
        assert _raw(output) == [], output


def test_cli_json_stays_the_same_data(session, elicit, backend):
    round_ = make_round(session)
    people = [InviteeCreate(name="N", email="n@example.org", organisation="Org " + EVIL)]
    invitations.invite_experts(session, round_id=round_.id, invitees=people)
    session.commit()
    output = elicit("progress", str(round_.id), "--json").output
    assert _raw(output) == []
    assert json.loads(output)["experts"][0]["organisation"] == "Org " + EVIL


def test_cli_documents_escaped_on_a_terminal_exact_when_redirected(
    session, elicit, monkeypatch, tmp_path, backend
):
    round_, _ = _hostile_round(session)
    response = responses.start_response(
        session,
        invitation=invitations.find_invitation(
            session,
            token=invitations.invite_experts(
                session,
                round_id=round_.id,
                invitees=[InviteeCreate(name="Z", email="z@example.org", organisation=EVIL)],
            )[0].token,
        ),
    )
    responses.give_consent(session, response_id=response.id)
    responses.save_ratings(session, Saving(response.id), ratings=[rating(rationale="why " + EVIL)])
    session.commit()
    args = ("export", str(round_.id), "--include-drafts")
    exact = elicit(*args).output
    assert "why " + EVIL in exact  # piped or redirected: the data as stored
    written = tmp_path / "export.csv"
    elicit(*args, "-o", str(written))
    assert written.read_text(encoding="utf-8") == exact
    monkeypatch.setattr("app.cli._stdout_is_terminal", lambda: True)
    shown = elicit(*args).output
    assert _raw(shown) == [] and "why \\x1b[31mred" in shown
    report = elicit("report", str(round_.id), "--format", "json", "--bootstrap", "0").output
    assert _raw(report) == [] and json.loads(report)["round"]["id"] == round_.id


# --- one writer each, so none can forget ---------------------------------------------------


def test_only_the_formats_module_writes_csv_and_spreadsheets():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    writers = [
        str(path.relative_to(root))
        for folder in ("app", "analysis")
        for path in (root / folder).rglob("*.py")
        if re.search(
            r"csv\.(writer|DictWriter)\(|\bWorkbook\(|\.to_(csv|excel)\(",
            path.read_text(encoding="utf-8"),
        )
    ]
    assert writers == ["analysis/formats.py"]


def test_the_cli_prints_only_through_its_escaping_helpers():
    import inspect

    import app.cli

    source = inspect.getsource(app.cli)
    printers = re.findall(r"typer\.s?echo\(|\bprint\(|sys\.std(?:out|err)\.write\(", source)
    assert printers == ["typer.secho(", "sys.stdout.write("]
