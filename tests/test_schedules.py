"""Round schedules: the worker opens a round, reminds those who have not submitted and closes
it on time, each step once however many workers run; the schedule is set from the command
line, the API and the round page (in the viewer's time zone). Time moves through the ``now``
the worker is given, never by sleeping."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from app.errors import Conflict, InvalidInput
from app.inputs import RatingInput
from app.models import OutboxMessage, Round, RoundEvent, utcnow
from app.services import mail, responses, rounds, schedule
from app.services.answer_store import Saving
from tests.factories import (
    form_token,
    full_ratings,
    login,
    make_invitations,
    make_response,
    make_round,
    make_user,
    sign_in_page,
)

SENDER = mail.Sender(base_url="http://panel.example.org", mail_from="panel@example.org")


def _at(**delta: float) -> datetime:
    """A time this far from now, to the minute (as a form or the CLI would give it)."""
    return (utcnow() + timedelta(**delta)).replace(second=0, microsecond=0)


def _fresh(session) -> None:
    """Forget what the test's session has read: see what the worker committed since."""
    session.rollback()
    session.expire_all()


def _events(session, round_id: int) -> dict[str, str]:
    _fresh(session)
    rows = session.exec(select(RoundEvent).where(RoundEvent.round_id == round_id)).all()
    return {row.kind: row.detail for row in rows}


def _reminders(session) -> list[str]:
    _fresh(session)
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.kind == "reminder")
        .order_by(col(OutboxMessage.to_address))
    ).all()
    return [row.to_address for row in rows]


def _submit(session, issued) -> None:
    response = make_response(session, issued)
    answers = [RatingInput.model_validate(r) for r in full_ratings()]
    responses.save_ratings(session, Saving(response.id), ratings=answers)
    responses.submit_response(session, response_id=response.id)
    session.commit()


def _scheduled(session, round_, **kw) -> Round:
    changed = schedule.set_schedule(session, round_id=round_.id, wanted=schedule.Schedule(**kw))
    session.commit()
    return changed


# --- setting a schedule --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kw", "field", "words"),
    [
        ("draft", {"opens_at": _at(days=5), "closes_at": _at(days=4)}, "closes_at", "after the"),
        ("draft", {"opens_at": _at(hours=-1)}, "opens_at", "future"),
        ("draft", {"closes_at": _at(hours=-1)}, "closes_at", "future"),
        ("open", {"opens_at": _at(days=1)}, "opens_at", "already open"),
        ("draft", {"reminder_days": [7]}, "reminder_days", "closing time too"),
        ("draft", {"closes_at": _at(days=9), "reminder_days": [0]}, "reminder_days", "1 to 365"),
        ("draft", {"closes_at": _at(days=9), "reminder_days": [400]}, "reminder_days", "1 to"),
        ("draft", {"closes_at": _at(days=9), "reminder_days": [2, 2]}, "reminder_days", "once"),
        (
            "draft",
            {"closes_at": _at(days=90), "reminder_days": list(range(1, 12))},
            "reminder_days",
            "at most 10",
        ),
        (
            "draft",
            {"opens_at": _at(days=5), "closes_at": _at(days=9), "reminder_days": [7]},
            "reminder_days",
            "before the round opens",
        ),
        ("open", {"closes_at": _at(days=3), "reminder_days": [7]}, "reminder_days", "has passed"),
        ("draft", {"closes_at": datetime(2099, 1, 1)}, "closes_at", "offset"),
    ],
)
def test_a_schedule_that_does_not_fit_is_refused_naming_the_field(
    session, status, kw, field, words
):
    round_ = make_round(session, status=status)
    arguments = {"opens_at": None, "closes_at": None, "reminder_days": [], **kw}
    with pytest.raises(InvalidInput) as refused:
        schedule.set_schedule(session, round_id=round_.id, wanted=schedule.Schedule(**arguments))
    assert refused.value.field == field and words in refused.value.message


def test_a_closed_round_has_no_schedule_to_set(session):
    round_ = make_round(session, status="closed")
    with pytest.raises(Conflict):
        wanted = schedule.Schedule(opens_at=None, closes_at=_at(days=3), reminder_days=[])
        schedule.set_schedule(session, round_id=round_.id, wanted=wanted)


def test_reminder_days_as_typed():
    assert schedule.parse_reminder_days(" 7, 2 ") == [7, 2]
    assert schedule.parse_reminder_days("14 7;1") == [14, 7, 1]
    assert schedule.parse_reminder_days("") == []
    with pytest.raises(InvalidInput) as refused:
        schedule.parse_reminder_days("7, two")
    assert refused.value.field == "reminder_days"


# --- the worker's steps ----------------------------------------------------------------------


def test_a_draft_round_opens_at_its_time_once(session, engine):
    round_ = make_round(session, status="draft")
    make_invitations(session, round_, 2)
    opens_at, closes_at = _at(hours=1), _at(days=10)
    _scheduled(session, round_, opens_at=opens_at, closes_at=closes_at, reminder_days=[])

    assert schedule.run_due(engine, now=opens_at - timedelta(minutes=1), sender=SENDER) == []
    done = schedule.run_due(engine, now=opens_at + timedelta(minutes=1), sender=SENDER)
    assert [(s.kind, s.detail) for s in done] == [("open", "opened; 2 invited")]
    assert done[0].due_at == opens_at
    _fresh(session)
    assert session.get(Round, round_.id).status == "open"
    # Looked at again (by this worker or another): nothing more to do.
    assert schedule.run_due(engine, now=opens_at + timedelta(minutes=2), sender=SENDER) == []
    assert _events(session, round_.id) == {"open": "opened; 2 invited"}


def test_reminders_go_to_those_not_submitted_each_once_and_the_round_closes(session, engine):
    round_ = make_round(session)
    submitted, drafting, silent = make_invitations(session, round_, 3)
    _submit(session, submitted)
    make_response(session, drafting)
    closes_at = _at(days=10)
    _scheduled(session, round_, opens_at=None, closes_at=closes_at, reminder_days=[2, 7])
    seven, two = closes_at - timedelta(days=7), closes_at - timedelta(days=2)

    assert schedule.run_due(engine, now=seven - timedelta(seconds=1), sender=SENDER) == []
    done = schedule.run_due(engine, now=seven, sender=SENDER)
    assert [(s.kind, s.detail) for s in done] == [("remind:7", "reminded 2 experts")]
    assert _reminders(session) == [drafting.email, silent.email]
    assert schedule.run_due(engine, now=seven + timedelta(days=1), sender=SENDER) == []
    assert len(_reminders(session)) == 2

    done = schedule.run_due(engine, now=two + timedelta(hours=3), sender=SENDER)
    assert [s.kind for s in done] == ["remind:2"]
    assert _reminders(session) == sorted([drafting.email, silent.email] * 2)

    done = schedule.run_due(engine, now=closes_at, sender=SENDER)
    assert [(s.kind, s.detail) for s in done] == [("close", "closed; 1 of 3 submitted")]
    _fresh(session)
    assert session.get(Round, round_.id).status == "closed"
    assert set(_events(session, round_.id)) == {"remind:7", "remind:2", "close"}
    assert schedule.run_due(engine, now=closes_at + timedelta(days=1), sender=SENDER) == []


def test_a_reminder_with_nobody_left_to_remind_is_recorded_as_such(session, engine):
    round_ = make_round(session)
    (only,) = make_invitations(session, round_, 1)
    _submit(session, only)
    closes_at = _at(days=5)
    _scheduled(session, round_, opens_at=None, closes_at=closes_at, reminder_days=[2])
    done = schedule.run_due(engine, now=closes_at - timedelta(days=1), sender=SENDER)
    assert [(s.kind, s.detail) for s in done] == [("remind:2", schedule.NOBODY_TO_REMIND)]
    assert _reminders(session) == []


def test_missed_steps_are_done_when_the_worker_is_back_but_no_reminder_after_closing(
    session, engine
):
    # Away through the opening and the first reminder: both done when it is back.
    round_ = make_round(session, status="draft")
    make_invitations(session, round_, 2)
    opens_at, closes_at = _at(hours=1), _at(days=10)
    _scheduled(session, round_, opens_at=opens_at, closes_at=closes_at, reminder_days=[7, 2])
    done = schedule.run_due(engine, now=closes_at - timedelta(days=5), sender=SENDER)
    assert [s.kind for s in done] == ["open", "remind:7"]
    assert len(_reminders(session)) == 2
    # Away again past the closing time: the round closes, the 2-day reminder never goes.
    done = schedule.run_due(engine, now=closes_at + timedelta(hours=5), sender=SENDER)
    assert [s.kind for s in done] == ["close"]
    assert len(_reminders(session)) == 2
    assert set(_events(session, round_.id)) == {"open", "remind:7", "close"}


def test_a_reminder_due_before_a_round_was_opened_by_hand_is_not_sent(session, engine):
    round_ = make_round(session, status="draft")
    make_invitations(session, round_, 1)
    closes_at = _at(days=10)
    _scheduled(session, round_, opens_at=None, closes_at=closes_at, reminder_days=[7])
    opened = session.get(Round, round_.id)
    rounds.open_round(session, round_id=round_.id)
    opened.opened_at = closes_at - timedelta(days=6)  # opened by hand after the reminder's day
    session.add(opened)
    session.commit()
    assert schedule.run_due(engine, now=closes_at - timedelta(days=5), sender=SENDER) == []
    assert _reminders(session) == []


@pytest.mark.parametrize("kind", ["open", "remind:7"])
def test_two_workers_at_once_do_a_step_once(session, engine, kind):
    round_ = make_round(session, status="draft" if kind == "open" else "open")
    make_invitations(session, round_, 3)
    opens_at, closes_at = _at(hours=1), _at(days=10)
    _scheduled(
        session,
        round_,
        opens_at=opens_at if kind == "open" else None,
        closes_at=closes_at,
        reminder_days=[] if kind == "open" else [7],
    )
    now = opens_at + timedelta(minutes=1) if kind == "open" else closes_at - timedelta(days=6)
    barrier = threading.Barrier(4)
    results: list[list[schedule.StepDone]] = []

    def work() -> None:
        barrier.wait()
        results.append(schedule.run_due(engine, now=now, sender=SENDER))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert list(_events(session, round_.id)) == [kind]
    assert len(_reminders(session)) == (3 if kind == "remind:7" else 0)


def test_a_second_worker_waiting_on_the_round_finds_the_step_done(
    session, engine, monkeypatch, caplog
):
    """Worker A is inside the step (round locked, event row written, not committed) when
    worker B, which saw the same step due, tries it: B waits, then its event row is refused
    by the unique constraint and it rolls back, queuing nothing."""
    round_ = make_round(session)
    make_invitations(session, round_, 2)
    closes_at = _at(days=10)
    _scheduled(session, round_, opens_at=None, closes_at=closes_at, reminder_days=[7])
    now = closes_at - timedelta(days=6)
    with schedule.session_scope(engine, read_only=True) as reading:
        (step,) = schedule.due_steps(reading, now=now)

    inside, go = threading.Event(), threading.Event()
    carry_out = schedule._carry_out

    def slow(session_, step_, sender_):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "A":
            inside.set()
            assert go.wait(30)
        return carry_out(session_, step_, sender_)

    monkeypatch.setattr(schedule, "_carry_out", slow)
    caplog.set_level("INFO", logger="elicit.schedule")
    outcome: dict[str, object] = {}

    def worker(name: str) -> None:
        outcome[name] = schedule.run_step(engine, step=step, now=now, sender=SENDER)

    first = threading.Thread(target=worker, args=("A",), name="A")
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=worker, args=("B",), name="B")
    second.start()
    go.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert isinstance(outcome["A"], schedule.StepDone) and outcome["B"] is None
    assert "reminder 7 days before closing was done by another worker" in caplog.text
    assert _events(session, round_.id) == {"remind:7": "reminded 2 experts"}
    assert len(_reminders(session)) == 2


def test_the_mail_worker_does_the_steps_and_sends_their_mail_in_one_pass(session, engine, tmp_path):
    round_ = make_round(session)
    make_invitations(session, round_, 2)
    stored = session.get(Round, round_.id)
    # Opened ten days ago, closing in three: the seven-day reminder is due now.
    stored.opened_at = utcnow() - timedelta(days=10)
    stored.closes_at, stored.reminder_days = utcnow() + timedelta(days=3), [7]
    session.add(stored)
    session.commit()
    worker = mail.MailWorker(
        engine,
        mail.FolderTransport(tmp_path),
        mail_from="panel@example.org",
        base_url="http://panel.example.org",
    )
    delivered = worker.run_once()
    assert delivered.sent == 2 and len(list(tmp_path.glob("*.eml"))) == 2
    assert "http://panel.example.org/i/" in next(tmp_path.glob("*.eml")).read_text()
    assert list(_events(session, round_.id)) == ["remind:7"]
    assert worker.run_once().sent == 0


def test_the_schedule_state_shows_steps_done_and_the_next_one(session, engine):
    round_ = make_round(session, status="draft")
    opens_at, closes_at = _at(hours=1), _at(days=10)
    _scheduled(session, round_, opens_at=opens_at, closes_at=closes_at, reminder_days=[2, 7])
    state = schedule.schedule_state(session, round_id=round_.id)
    assert state.schedule.reminder_days == [7, 2]
    assert [s.kind for s in state.steps_planned] == ["open", "remind:7", "remind:2", "close"]
    assert state.next_step is not None and state.next_step.label == "opening"
    schedule.run_due(engine, now=opens_at, sender=SENDER)
    _fresh(session)
    state = schedule.schedule_state(session, round_id=round_.id)
    assert [s.kind for s in state.steps_done] == ["open"]
    assert state.next_step is not None
    assert state.next_step.label == "reminder 7 days before closing"


# --- the command line, the API, the page ------------------------------------------------------


def test_the_command_line_sets_shows_and_clears_a_schedule(session, elicit):
    round_ = make_round(session, status="draft")
    rid = str(round_.id)
    opens, closes = _at(days=1), _at(days=12)
    local_opening = opens.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
    out = elicit(
        "round",
        "schedule",
        rid,
        "--opens-at",
        local_opening,
        "--closes-at",
        closes.replace(tzinfo=None).isoformat(),  # no offset: UTC
        "--remind-days",
        "7,2",
    ).output
    assert f"opens:      {opens:%Y-%m-%d %H:%M} UTC" in out
    assert f"closes:     {closes:%Y-%m-%d %H:%M} UTC" in out
    assert "7, 2 days before closing" in out and "next:       opening" in out
    _fresh(session)
    stored = session.get(Round, round_.id)
    assert stored.opens_at == opens and stored.closes_at == closes
    assert stored.reminder_days == [7, 2]

    shown = elicit("round", "show", rid).output
    assert "status:     draft" in shown and "7, 2 days before closing" in shown
    listing = elicit("round", "list").output
    assert f"closes {closes:%Y-%m-%d %H:%M} UTC" in listing and "reminders 7,2 days" in listing

    kept = elicit("round", "schedule", rid, "--remind-days", "none").output
    assert "reminders:  none" in kept and f"closes:     {closes:%Y-%m-%d %H:%M}" in kept
    refused = elicit("round", "schedule", rid, "--remind-days", "0", ok=False)
    assert refused.exit_code == 1 and "reminder_days: each reminder day" in refused.output
    refused = elicit("round", "schedule", rid, "--closes-at", "soon", ok=False)
    assert refused.exit_code == 1 and "--closes-at: 'soon' is not a time" in refused.output
    cleared = elicit("round", "schedule", rid, "--clear").output
    assert "when an admin opens it" in cleared and "no closing time" in cleared
    assert "--opens-at" in elicit("round", "schedule", "--help").output
    assert "without one" in elicit("round", "schedule", "--help").output


def test_the_worker_command_does_the_steps_once(session, elicit):
    round_ = make_round(session)
    make_invitations(session, round_, 1)
    stored = session.get(Round, round_.id)
    stored.opened_at = utcnow() - timedelta(days=10)
    stored.closes_at, stored.reminder_days = utcnow() + timedelta(days=1), [2]
    session.add(stored)
    session.commit()
    out = elicit("worker", "--once").output
    assert f"round {round_.id}: reminder 2 days before closing: reminded 1 expert" in out
    assert "sent 1," in out
    assert "reminder" not in elicit("worker", "--once").output.replace("(invitations, ", "")
    assert (
        "reminder 2 days before closing: reminded 1 expert"
        in elicit("round", "show", str(round_.id)).output
    )


def test_the_api_sets_and_shows_the_schedule(session, client):
    make_user(session)
    make_user(session, email="researcher@example.org", role="researcher")
    round_ = make_round(session, status="draft")
    admin, researcher = login(client), login(client, "researcher@example.org")
    opens, closes = _at(days=1), _at(days=12)
    body = {
        "opens_at": opens.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00",
        "closes_at": closes.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: UTC
        "reminder_days": [2, 7],
    }
    url = f"/api/rounds/{round_.id}/schedule"
    assert client.put(url, json=body, headers=researcher).status_code == 403
    reply = client.put(url, json=body, headers=admin)
    assert reply.status_code == 200, reply.text
    shown = reply.json()
    assert shown["id"] == round_.id and shown["status"] == "draft"
    assert shown["reminder_days"] == [7, 2] and shown["schedule"]["reminder_days"] == [7, 2]
    assert datetime.fromisoformat(shown["schedule"]["closes_at"]) == closes
    assert datetime.fromisoformat(shown["opens_at"]) == opens
    assert shown["steps_done"] == [] and shown["next_step"]["kind"] == "open"

    seen = client.get(url, headers=researcher)
    assert seen.status_code == 200 and seen.json()["schedule"] == shown["schedule"]
    assert client.get(f"/api/rounds/{round_.id}", headers=researcher).json()["reminder_days"] == [
        7,
        2,
    ]
    refused = client.put(url, json={**body, "reminder_days": [7, 7]}, headers=admin)
    assert refused.status_code == 422 and refused.json()["field"] == "reminder_days"
    refused = client.put(url, json={**body, "reminder_days": [True]}, headers=admin)
    assert refused.status_code == 422
    refused = client.put(url, json={**body, "when": "now"}, headers=admin)
    assert refused.status_code == 422
    cleared = client.put(url, json={}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["schedule"]["closes_at"] is None


def test_the_round_page_sets_the_schedule_in_the_viewers_time_zone(session, client):
    make_user(session)
    sign_in_page(client)
    round_ = make_round(session, status="draft")
    make_invitations(session, round_, 2)
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert '<script src="/static/localtime.js" defer></script>' in page
    assert "data-zone-note>Times are in UTC." in page
    opens = _at(days=2)
    # What the browser sends from Berlin in winter or summer: local time, its offset (+60/+120).
    offset = 60
    local = (opens + timedelta(minutes=offset)).replace(tzinfo=None)
    reply = client.post(
        f"/admin/rounds/{round_.id}/schedule",
        data={
            "csrf_token": form_token(page),
            "opens_at": local.strftime("%Y-%m-%dT%H:%M"),
            "opens_at_offset": str(offset),
            "closes_at": (opens + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"),
            "closes_at_offset": "",  # no script: UTC
            "reminder_days": "7, 2",
        },
    )
    assert reply.status_code == 303 and reply.headers["location"].endswith("#schedule")
    _fresh(session)
    stored = session.get(Round, round_.id)
    assert stored.opens_at == opens and stored.closes_at == opens + timedelta(days=9)
    assert stored.reminder_days == [7, 2]
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert f'<time datetime="{opens.isoformat()}">{opens:%Y-%m-%d %H:%M} UTC</time>' in page
    assert f'value="{opens:%Y-%m-%dT%H:%M}"' in page  # in UTC; the script shows it locally
    assert 'data-local-times="utc"' in page
    assert "Next: opening at" in page

    # A mistake: what was typed stays, the message is beside the field it is about.
    reply = client.post(
        f"/admin/rounds/{round_.id}/schedule",
        data={
            "csrf_token": form_token(page),
            "opens_at": local.strftime("%Y-%m-%dT%H:%M"),
            "opens_at_offset": str(offset),
            "closes_at": (opens + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"),
            "closes_at_offset": "0",
            "reminder_days": "7, seven",
        },
    )
    assert reply.status_code == 422
    body = reply.text
    assert 'value="7, seven"' in body and 'data-local-times="typed"' in body
    assert f'value="{local:%Y-%m-%dT%H:%M}"' in body and f'value="{offset}"' in body
    error = re.search(r'id="reminder_days-error">([^<]+)<', body)
    assert error is not None and "whole numbers" in error.group(1)
    assert 'aria-describedby="reminder_days-help reminder_days-error"' in body
    # The opening time after the closing time: the message beside the closing time.
    reply = client.post(
        f"/admin/rounds/{round_.id}/schedule",
        data={
            "csrf_token": form_token(page),
            "opens_at": local.strftime("%Y-%m-%dT%H:%M"),
            "opens_at_offset": str(offset),
            "closes_at": (opens - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "reminder_days": "",
        },
    )
    assert reply.status_code == 422
    assert re.search(r'id="closes_at-error">[^<]*after the opening time', reply.text)
    _fresh(session)
    assert session.get(Round, round_.id).reminder_days == [7, 2]  # nothing changed


def test_the_round_page_shows_the_steps_done(session, client, engine):
    make_user(session, role="researcher", email="researcher@example.org")
    round_ = make_round(session)
    make_invitations(session, round_, 2)
    closes_at = _at(days=10)
    _scheduled(session, round_, opens_at=None, closes_at=closes_at, reminder_days=[7])
    schedule.run_due(engine, now=closes_at - timedelta(days=6), sender=SENDER)
    sign_in_page(client, "researcher@example.org")
    page = client.get(f"/admin/rounds/{round_.id}").text
    assert "reminded 2 experts" in page and "(reminder 7 days before closing)" in page
    assert "Next: closing at" in page
    assert "/schedule" not in page  # a researcher sees the schedule, not the form
    _fresh(session)
    assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2


# --- in a browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_an_admin_in_new_york_sets_the_schedule_with_the_keyboard(tmp_path):
    """The form shows and takes New York time (the browser's zone); the database holds UTC,
    and the times on the page read in New York time again."""
    from sqlmodel import Session

    from app.db import make_engine
    from app.migrate import upgrade_database
    from tests.browser_support import chromium, sign_in, watch
    from tests.factories import PASSWORD
    from tests.live_server import live_server

    url = f"sqlite:///{tmp_path / 'site.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as setup:
        make_user(setup)
        round_id = make_round(setup, status="draft").id
    # Seven in the evening in New York, on the 15th of January next year (UTC-5: midnight UTC).
    year = utcnow().year + 1
    with live_server(url, log_dir=tmp_path) as server, chromium() as browser:
        context = browser.new_context(timezone_id="America/New_York", locale="en-US")
        watched = watch(context)
        page = context.new_page()
        sign_in(page, server.url, "admin@example.org", PASSWORD)
        page.goto(f"{server.url}/admin/rounds/{round_id}")
        note = page.locator("[data-zone-note]")
        assert "America/New_York" in note.inner_text()

        def tab_to(element_id: str) -> None:
            # Tab also steps through the parts of a date-and-time field.
            for _ in range(60):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == element_id:
                    return
            raise AssertionError(f"Tab never reached #{element_id}")

        tab_to("opens_at")
        page.keyboard.type(f"0115{year}")  # month, day, year
        page.keyboard.press("ArrowRight")
        page.keyboard.type("0700PM")
        tab_to("closes_at")
        page.keyboard.type(f"0125{year}")
        page.keyboard.press("ArrowRight")
        page.keyboard.type("0700PM")
        tab_to("reminder_days")
        page.keyboard.type("7, 2")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Save schedule"
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/admin/rounds/{round_id}#schedule")

        with Session(engine) as check:
            stored = check.get(Round, round_id)
            assert stored.opens_at == datetime(year, 1, 16, 0, 0, tzinfo=UTC)
            assert stored.closes_at == datetime(year, 1, 26, 0, 0, tzinfo=UTC)
            assert stored.reminder_days == [7, 2]
        assert page.locator("#opens_at").input_value() == f"{year}-01-15T19:00"
        opening = page.locator("#schedule ~ p time").first
        assert opening.inner_text() == f"{year}-01-15 19:00 America/New_York"
        assert opening.get_attribute("title") == f"{year}-01-16 00:00 UTC"
        assert page.get_by_text("Next: opening at").is_visible()
        assert watched.console_errors == [] and watched.violations(page) == []
        context.close()
    engine.dispose()


def test_schedules_and_the_workers_steps_are_in_the_audit_trail(session, client, engine):
    from app.models import AuditEntry

    make_user(session)
    admin = login(client)
    round_ = make_round(session, status="draft")
    make_invitations(session, round_, 2)
    opens, closes = _at(days=1), _at(days=12)
    body = {"opens_at": opens.isoformat(), "closes_at": closes.isoformat(), "reminder_days": [7]}
    assert client.put(f"/api/rounds/{round_.id}/schedule", json=body, headers=admin).is_success
    schedule.run_due(engine, now=opens + timedelta(minutes=1), sender=SENDER)
    _fresh(session)
    entries = session.exec(
        select(AuditEntry).where(AuditEntry.round_id == round_.id).order_by(col(AuditEntry.id))
    ).all()
    scheduled, opened = entries[-2], entries[-1]
    assert (scheduled.actor, scheduled.action) == ("admin@example.org", "round.scheduled")
    assert scheduled.details["reminder_days"] == "7" and scheduled.details["closes_at"]
    assert (opened.actor, opened.action) == ("worker", "round.opened")
    assert opened.details == {
        "step": "open",
        "due_at": opened.details["due_at"],
        "result": "opened; 2 invited",
    }
