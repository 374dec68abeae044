"""E-mail through the outbox: invitations reach a real SMTP server (aiosmtpd) with links that
work, are sent once by any number of workers, retried with backoff, given up on with the
reason, and exist exactly when their invitation does."""

from __future__ import annotations

import email
import threading
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from app.inputs import InviteeCreate
from app.models import OutboxMessage, utcnow
from app.services import invitations, mail, outbox
from tests.factories import make_round

FROM = "Panel team <panel@example.org>"


class Recorder:
    """A transport that records, or fails as told."""

    def __init__(self, fail: Exception | None = None, pause: float = 0.0) -> None:
        self.sent: list[EmailMessage] = []
        self.fail = fail
        self.pause = pause
        self.lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        time.sleep(self.pause)
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.sent.append(message)


def _invite(session, round_, n: int = 2):
    issued = invitations.invite_experts(
        session,
        round_id=round_.id,
        invitees=[InviteeCreate(name=f"Expert {i}", email=f"e{i}@example.org") for i in range(n)],
    )
    mail.queue_invitations(
        session,
        round_id=round_.id,
        issued=issued,
        sender=mail.Sender(base_url="http://testserver", mail_from=FROM),
    )
    session.commit()
    return issued


def _rows(session) -> list[OutboxMessage]:
    session.rollback()  # a new snapshot
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def _at(moment: datetime) -> outbox.Batch:
    """A worker's pass as if run at ``moment``."""
    return outbox.Batch(now=lambda: moment)


def test_invitations_reach_an_smtp_server_once_with_links_that_work(
    session, client, elicit, smtp_server, tmp_path, monkeypatch
):
    url, collector = smtp_server
    monkeypatch.setenv("ELICIT_SMTP_URL", url)
    monkeypatch.setenv("ELICIT_MAIL_FROM", FROM)
    round_ = make_round(session)
    people = tmp_path / "panel.csv"
    people.write_text(
        "name,email,organisation\nAda Lovelace,ada@example.org,Org A\n"
        "Alan Turing,alan@example.org,Org B\n"
    )
    invited = elicit("invite", str(round_.id), "--csv", str(people), "--send")
    assert "2 invitations; their e-mails are queued" in invited.output
    assert "/i/" not in invited.output  # the secret links went by e-mail only
    assert "queued" in elicit("mail", "status", str(round_.id)).output
    sent = elicit("worker", "--once")
    assert "sent 2, to retry 0, failed 0" in sent.output
    assert sorted(m["To"] for m in collector.messages) == ["ada@example.org", "alan@example.org"]
    message = next(m for m in collector.messages if m["To"] == "ada@example.org")
    assert message["From"] == FROM and message["Subject"] == "Invitation: A small survey"
    assert message["Message-ID"] and message["Auto-Submitted"] == "auto-generated"
    body = message.get_payload(decode=True).decode()
    assert body.startswith("Dear Ada Lovelace,")
    link = next(word for word in body.split() if "/i/" in word)
    assert client.get(link.replace("http://panel.example.org", "")).status_code == 303
    assert client.get("/survey").status_code == 200
    # Sent once: another pass of the worker finds nothing due.
    assert "sent 0" in elicit("worker", "--once").output
    assert len(collector.messages) == 2
    status = elicit("mail", "status", str(round_.id)).output
    assert status.count(" sent ") == 2


def test_without_smtp_mail_is_written_as_eml_files(session, engine, tmp_path):
    _invite(session, make_round(session), 2)
    transport = mail.transport_for(None, tmp_path / "mail")
    done = mail.deliver_due(engine, transport, mail_from=FROM)
    assert done.sent == 2
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "mail").glob("*.part"))
    parsed = email.message_from_bytes(files[0].read_bytes())
    assert parsed["To"].endswith("@example.org") and "/i/" in parsed.get_payload()


def test_failures_are_retried_later_each_time_then_given_up_with_the_reason(session, engine):
    _invite(session, make_round(session), 1)
    broken = Recorder(fail=ConnectionRefusedError("connection refused"))
    clock = [utcnow()]
    waits = []
    for _ in range(mail.QUEUE.retry.max_attempts):
        row = _rows(session)[0]
        clock[0] = max(clock[0], row.next_attempt_at)
        mail.deliver_due(engine, broken, mail_from=FROM, batch=_at(clock[0]))
        row = _rows(session)[0]
        if row.status == "queued":
            waits.append(row.next_attempt_at - clock[0])
    row = _rows(session)[0]
    assert row.status == "failed" and row.attempts == mail.QUEUE.retry.max_attempts
    assert "connection refused" in row.last_error
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert max(waits) <= mail.QUEUE.retry.backoff_max
    # Not due before its time: a pass in between sends nothing, one after it does.
    _invite(session, make_round(session, name="Round 2"), 1)
    failed_at = utcnow() + timedelta(seconds=1)
    mail.deliver_due(engine, broken, mail_from=FROM, batch=_at(failed_at))
    later = _rows(session)[1]
    assert later.status == "queued" and later.attempts == 1
    working = Recorder()
    soon = failed_at + timedelta(seconds=30)
    assert mail.deliver_due(engine, working, mail_from=FROM, batch=_at(soon)).sent == 0
    due = failed_at + timedelta(minutes=1)
    assert mail.deliver_due(engine, working, mail_from=FROM, batch=_at(due)).sent == 1


def test_an_address_refused_for_good_fails_at_once(session, engine):
    _invite(session, make_round(session), 1)
    refused = Recorder(fail=mail.PermanentFailure("address refused: 550 no such user"))
    assert mail.deliver_due(engine, refused, mail_from=FROM).failed == 1
    row = _rows(session)[0]
    assert row.status == "failed" and row.attempts == 1 and "550" in row.last_error


def test_a_worker_stopped_after_claiming_leaves_the_message_to_another(session, engine):
    from app.db import session_scope

    _invite(session, make_round(session), 1)
    start = utcnow()
    with session_scope(engine) as claiming:  # a worker claims, then stops before sending
        (claimed,) = outbox.claim_due(
            claiming, OutboxMessage, now=start, limit=10, lease=mail.QUEUE.lease
        )
    other = Recorder()
    assert mail.deliver_due(engine, other, mail_from=FROM, batch=_at(start)).sent == 0
    after_lease = start + mail.QUEUE.lease + timedelta(seconds=1)
    assert mail.deliver_due(engine, other, mail_from=FROM, batch=_at(after_lease)).sent == 1
    # The stopped worker's late report cannot undo the other's record.
    mail._record(engine, claimed[0], claimed[1], outcome="retry", error="late", now=after_lease)
    row = _rows(session)[0]
    assert row.status == "sent" and len(other.sent) == 1 and row.attempts == 2


def test_two_workers_at_once_send_each_message_exactly_once(session, engine):
    _invite(session, make_round(session), 12)
    shared = Recorder(pause=0.02)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                mail.deliver_due(engine, shared, mail_from=FROM, batch=outbox.Batch(limit=3))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = [m["Message-ID"] for m in shared.sent]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {r.status for r in _rows(session)} == {"sent"}


def test_queued_mail_exists_exactly_when_its_invitation_does(session):
    round_ = make_round(session)
    session.commit()
    issued = invitations.invite_experts(
        session, round_id=round_.id, invitees=[InviteeCreate(name="A", email="a@example.org")]
    )
    mail.queue_invitations(
        session, round_id=round_.id, issued=issued, sender=mail.Sender("http://x", FROM)
    )
    session.rollback()  # the invitation is undone: so is its e-mail
    assert _rows(session) == []


def test_smtp_urls_are_checked(tmp_path: Path):
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="smtp:// or smtps://"):
        mail.transport_for("http://mail.example.org", tmp_path)
    assert isinstance(
        mail.transport_for("smtps://u:p@mail.example.org", tmp_path), mail.SmtpTransport
    )


def test_the_smtp_user_and_password_may_come_apart_from_the_url(monkeypatch, tmp_path):
    from pydantic import SecretStr

    logins: list[tuple[str, str]] = []

    class FakeSmtp:
        def __init__(self, host, port, timeout):
            self.host, self.port = host, port

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ehlo(self):
            pass

        def has_extn(self, name):
            return False  # a local relay: no STARTTLS needed

        def login(self, user, password):
            logins.append((user, password))

        def send_message(self, message):
            pass

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSmtp)
    message = EmailMessage()
    message["To"] = "a@example.org"
    apart = mail.transport_for(
        "smtp://localhost:2525", tmp_path, user="relay", password=SecretStr("p@ss:word/")
    )
    apart.send(message)
    assert logins == [("relay", "p@ss:word/")] and "p@ss" not in repr(apart)
    # Credentials in the URL win; no user at all: no login.
    mail.transport_for("smtp://u:pw@localhost:2525", tmp_path, user="relay").send(message)
    mail.transport_for("smtp://localhost:2525", tmp_path).send(message)
    assert logins == [("relay", "p@ss:word/"), ("u", "pw")]


def test_a_worker_pass_with_the_database_away_logs_one_line_not_a_traceback(tmp_path, caplog):
    # A database restart or a network blip is expected now and then: each step of the
    # pass says so in one warning and the next pass tries again; a real fault in a step
    # still gets its traceback, and neither stops the worker's thread.
    from sqlalchemy import create_engine

    away = create_engine(f"sqlite:///{tmp_path / 'no such folder' / 'elicit.db'}")
    worker = mail.MailWorker(away, mail.FolderTransport(tmp_path), mail_from="p@example.org")
    worker.interval = 0.01
    caplog.set_level("WARNING", logger=mail._log.name)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
        "sending queued e-mail failed" in record.getMessage() for record in caplog.records
    ):
        time.sleep(0.01)
    worker.stop()
    thread.join(timeout=20)
    assert not thread.is_alive()
    records = [record for record in caplog.records if record.name == mail._log.name]
    said = [record.getMessage() for record in records]
    assert any("scheduled steps failed" in text for text in said), said
    assert any("sending queued e-mail failed" in text for text in said), said
    assert all("the database could not answer" in text for text in said), said
    assert all(record.levelname == "WARNING" and not record.exc_info for record in records)

    caplog.clear()
    worker = mail.MailWorker(away, mail.FolderTransport(tmp_path), mail_from="p@example.org")

    def broken() -> list[object]:
        raise RuntimeError("a bug in a step")

    worker.run_schedule = broken  # type: ignore[method-assign]
    with mail._failed("carrying out the rounds' scheduled steps failed; trying again"):
        worker.run_schedule()
    (record,) = [r for r in caplog.records if r.name == mail._log.name]
    assert record.levelname == "ERROR" and record.exc_info is not None
