"""Round schedules: the worker opens a round, reminds those who have not submitted and
closes it on time, each step once.

A round's schedule is its opening time (``Round.opens_at``, for a draft round), its closing
time (``Round.closes_at``) and its reminder days (``Round.reminder_days``: days before the
closing time). Times are stored in UTC; pages show them in the viewer's time zone.

Each step the worker carries out is a row in ``round_events`` (unique per round and kind),
inserted in the transaction that does the step, with the round's row locked. Two workers
(threads, processes or replicas) that find the same step due both try: the second waits
for the lock, and then either finds the step no longer due (an opened round is no longer a
draft) or fails to insert the event row and rolls back. So a step happens once, and its
e-mails are queued once. A step missed while no worker ran is done when one runs again,
except a reminder whose closing time has passed (nobody could answer any more).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import session_scope
from app.errors import Conflict, DomainError, InvalidInput, Message
from app.i18n import N_
from app.models import Round, RoundEvent, id_of, utcnow
from app.services import ReadModel, audit, mail
from app.services.rounds import close_round, get_round, locked_round, open_round, round_progress
from app.services.rounds import set_closing_time as rounds_set_closing_time

_log = logging.getLogger("elicit.schedule")

#: At most this many reminders per round, each at most this many days before closing.
MAX_REMINDERS = 10
MAX_REMINDER_DAYS = 365

#: The ``detail`` of a reminder step that found everyone submitted.
NOBODY_TO_REMIND = "nobody to remind"


class Schedule(ReadModel):
    """When a round opens and closes (UTC), and the days before closing that remind."""

    opens_at: datetime | None
    closes_at: datetime | None
    reminder_days: list[int]


class Step(ReadModel):
    """A step of a round's schedule: ``open``, ``remind:N`` or ``close``, due at a time."""

    round_id: int
    kind: str
    due_at: datetime

    @property
    def label(self) -> str:
        return describe(self.kind)


class StepDone(Step):
    """A step the worker carried out, with what it did (``detail``)."""

    done_at: datetime
    detail: str


class ScheduleState(ReadModel):
    """A round's schedule, the steps done and those still to come (the next one first)."""

    round_id: int
    schedule: Schedule
    steps_done: list[StepDone]
    steps_planned: list[Step]
    next_step: Step | None


def describe(kind: str) -> str:
    """A step's kind in words: "opening", "reminder 7 days before closing", "closing"."""
    if kind.startswith("remind:"):
        days = int(kind.partition(":")[2])
        return f"reminder {days} day{'' if days == 1 else 's'} before closing"
    return {"open": "opening", "close": "closing"}.get(kind, kind)


# --- setting it ------------------------------------------------------------------------------


def parse_reminder_days(text: str) -> list[int]:
    """Reminder days as typed ("7, 2" or "7 2"); InvalidInput naming ``reminder_days``."""
    parts = [part for part in re.split(r"[,;\s]+", text.strip()) if part]
    if any(re.fullmatch(r"[0-9]{1,4}", part) is None for part in parts):
        raise InvalidInput(
            N_("give the reminder days as whole numbers of days before closing, like 7, 2"),
            field="reminder_days",
        )
    return [int(part) for part in parts]


def set_schedule(
    session: Session,
    *,
    round_id: int,
    wanted: Schedule,
    actor: str | None = None,
) -> Round:
    """Set (or clear, with None and no days) a round's opening time, closing time and
    reminder days; InvalidInput naming the field when one does not fit. With an
    ``actor``, the change goes into the audit trail with its before and after."""
    now = utcnow()
    round_ = locked_round(session, round_id)
    before = _audit_details(round_)
    if round_.status == "closed":
        raise Conflict(
            N_("round %(round)s is closed: its schedule is over"), values={"round": round_id}
        )
    opens_at = _aware(wanted.opens_at, "opens_at")
    closes_at = _aware(wanted.closes_at, "closes_at")
    days = _valid_days(wanted.reminder_days)
    _check_times(round_, opens_at, closes_at, now)
    if days:
        if closes_at is None:
            raise InvalidInput(
                N_("reminders are counted back from the closing time: set a closing time too"),
                field="reminder_days",
            )
        _check_reminders(session, round_, days, opens_at, closes_at, now)
    round_.opens_at, round_.closes_at = opens_at, closes_at
    round_.reminder_days = days or None
    session.add(round_)
    session.flush()
    if actor is not None:
        _record_change(session, actor, "round.scheduled", round_, before)
    return round_


def set_closing_time(
    session: Session, *, round_id: int, closes_at: datetime | None, actor: str
) -> Round:
    """``rounds.set_closing_time``, recorded in the audit trail with before and after."""
    before = _audit_details(get_round(session, round_id=round_id))
    round_ = rounds_set_closing_time(session, round_id=round_id, closes_at=closes_at)
    _record_change(session, actor, "round.deadline_set", round_, before)
    return round_


def _record_change(
    session: Session, actor: str, action: str, round_: Round, before: dict[str, str | None]
) -> None:
    round_id = id_of(round_)
    moved = audit.Change(before, _audit_details(round_))
    audit.record(session, actor, action, "round", round_id, round_id=round_id, changed=moved)


def _check_times(
    round_: Round, opens_at: datetime | None, closes_at: datetime | None, now: datetime
) -> None:
    """An opening time only for a draft round and in the future; a changed closing time in
    the future and after the opening."""
    if opens_at is not None and opens_at != round_.opens_at:
        if round_.status != "draft":
            raise InvalidInput(
                N_("round %(round)s is already %(status)s: an opening time is for a draft round"),
                field="opens_at",
                values={"round": round_.id, "status": Message(round_.status)},
            )
        if opens_at <= now:
            raise InvalidInput(N_("the opening time must lie in the future"), field="opens_at")
    if closes_at is not None and closes_at != round_.closes_at and closes_at <= now:
        raise InvalidInput(N_("the closing time must lie in the future"), field="closes_at")
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise InvalidInput(
            N_("the closing time must come after the opening time"), field="closes_at"
        )


def _check_reminders(
    session: Session,
    round_: Round,
    days: Sequence[int],
    opens_at: datetime | None,
    closes_at: datetime,
    now: datetime,
) -> None:
    """Each reminder after the opening, and a new one (or one moved with the closing
    time) not already in the past unless it was sent."""
    done = _kinds_done(session, id_of(round_))
    earlier = set(round_.reminder_days or [])
    closing_changed = closes_at != round_.closes_at
    for n in days:
        at = closes_at - timedelta(days=n)
        if opens_at is not None and at <= opens_at:
            raise InvalidInput(
                N_(
                    "a reminder %(days)s days before closing (%(when)s) would come before the "
                    "round opens"
                ),
                field="reminder_days",
                values={"days": n, "when": at},
            )
        new = closing_changed or n not in earlier
        if new and at <= now and f"remind:{n}" not in done:
            raise InvalidInput(
                N_(
                    "a reminder %(days)s days before closing would be at %(when)s, which has passed"
                ),
                field="reminder_days",
                values={"days": n, "when": at},
            )


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(N_("give the time with its offset from UTC (or Z)"), field=field)
    return value.astimezone(UTC)


def _valid_days(days: Sequence[int]) -> list[int]:
    if len(days) > MAX_REMINDERS:
        raise InvalidInput(
            N_("at most %(most)s reminders"), field="reminder_days", values={"most": MAX_REMINDERS}
        )
    for n in days:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_REMINDER_DAYS:
            raise InvalidInput(
                N_("each reminder day must be a whole number from 1 to %(most)s"),
                field="reminder_days",
                values={"most": MAX_REMINDER_DAYS},
            )
    if len(set(days)) != len(days):
        raise InvalidInput(N_("each reminder day only once"), field="reminder_days")
    return sorted(days, reverse=True)


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _kinds_done(session: Session, round_id: int) -> set[str]:
    return set(session.exec(select(RoundEvent.kind).where(RoundEvent.round_id == round_id)).all())


# --- what is due --------------------------------------------------------------------------


def _schedule_of(round_: Round) -> Schedule:
    return Schedule(
        opens_at=round_.opens_at,
        closes_at=round_.closes_at,
        reminder_days=sorted(round_.reminder_days or [], reverse=True),
    )


def _steps_of(round_: Round) -> list[Step]:
    """Every step the round's schedule still has in its present state, due or not."""
    round_id, steps = id_of(round_), []
    if round_.status == "closed":
        return []
    if round_.status == "draft" and round_.opens_at is not None:
        steps.append(Step(round_id=round_id, kind="open", due_at=round_.opens_at))
    if round_.closes_at is not None:
        # A reminder that fell due before the round opened (opened by hand, late) is not
        # sent: those invited have just been asked.
        start = round_.opens_at or round_.opened_at
        if round_.opens_at is not None and round_.opened_at is not None:
            start = min(round_.opens_at, round_.opened_at)
        for n in sorted(round_.reminder_days or [], reverse=True):
            at = round_.closes_at - timedelta(days=n)
            if start is None or at >= start:
                steps.append(Step(round_id=round_id, kind=f"remind:{n}", due_at=at))
        steps.append(Step(round_id=round_id, kind="close", due_at=round_.closes_at))
    return steps


def _due(round_: Round, now: datetime) -> list[Step]:
    """The steps of the round due at ``now`` (done or not)."""
    closes_at = round_.closes_at
    due = []
    for step in _steps_of(round_):
        if step.due_at > now:
            continue
        if step.kind == "open":
            # Opening a round whose closing time has passed would fail; an admin decides.
            if closes_at is None or now < closes_at:
                due.append(step)
        elif round_.status != "open":
            continue
        elif step.kind == "close" or (closes_at is not None and now < closes_at):
            due.append(step)
    return due


def due_steps(session: Session, *, now: datetime) -> list[Step]:
    """The steps of every round that are due at ``now`` and not yet done, oldest first."""
    candidates = session.exec(
        select(Round).where(
            or_(
                and_(col(Round.status) == "draft", col(Round.opens_at).is_not(None)),
                and_(col(Round.status) == "open", col(Round.closes_at).is_not(None)),
            )
        )
    ).all()
    if not candidates:
        return []
    done = set(
        session.exec(
            select(RoundEvent.round_id, RoundEvent.kind).where(
                col(RoundEvent.round_id).in_([id_of(r) for r in candidates])
            )
        ).all()
    )
    steps = [
        step
        for round_ in candidates
        for step in _due(round_, now)
        if (step.round_id, step.kind) not in done
    ]
    return sorted(steps, key=lambda step: (step.due_at, step.round_id))


def schedule_state(session: Session, *, round_id: int) -> ScheduleState:
    """A round's schedule, the steps the worker did and those still to come."""
    round_ = get_round(session, round_id=round_id)
    events = session.exec(
        select(RoundEvent)
        .where(RoundEvent.round_id == round_id)
        .order_by(col(RoundEvent.done_at), col(RoundEvent.id))
    ).all()
    done = [
        StepDone(
            round_id=round_id,
            kind=event.kind,
            due_at=event.due_at,
            done_at=event.done_at,
            detail=event.detail,
        )
        for event in events
    ]
    kinds = {event.kind for event in events}
    planned = [step for step in _steps_of(round_) if step.kind not in kinds]
    if round_.status == "open" and round_.closes_at is not None:
        # A reminder can no longer go out once the round has closed.
        planned = [s for s in planned if s.kind == "close" or s.due_at < round_.closes_at]
    planned.sort(key=lambda step: step.due_at)
    return ScheduleState(
        round_id=round_id,
        schedule=_schedule_of(round_),
        steps_done=done,
        steps_planned=planned,
        next_step=planned[0] if planned else None,
    )


# --- doing it ---------------------------------------------------------------------------------


def run_due(engine: Engine, *, now: datetime, sender: mail.Sender) -> list[StepDone]:
    """Carry out every step due at ``now``, each in a transaction of its own; safe to run in
    any number of workers at once (each step happens once)."""
    done: list[StepDone] = []
    tried: set[tuple[int, str]] = set()
    # Opening a round whose worker was away may make its missed reminders due: look again.
    for _ in range(3):
        with session_scope(engine, read_only=True) as session:
            steps = [s for s in due_steps(session, now=now) if (s.round_id, s.kind) not in tried]
        if not steps:
            break
        for step in steps:
            tried.add((step.round_id, step.kind))
            try:
                result = run_step(engine, step=step, now=now, sender=sender)
            except DomainError as exc:
                _log.warning(
                    "round %s: %s not done: %s", step.round_id, describe(step.kind), exc.message
                )
                continue
            if result is not None:
                done.append(result)
    return done


def run_step(engine: Engine, *, step: Step, now: datetime, sender: mail.Sender) -> StepDone | None:
    """Carry out one step unless it is no longer due or another worker has done it (None)."""
    try:
        with session_scope(engine) as session:
            round_ = locked_round(session, step.round_id)
            if step.kind not in {s.kind for s in _due(round_, now)}:
                return None  # done meanwhile (an opened round is no draft), or rescheduled
            event = RoundEvent(
                round_id=step.round_id, kind=step.kind, due_at=step.due_at, done_at=now
            )
            session.add(event)
            session.flush()  # IntegrityError here: another worker did this step
            event.detail = _carry_out(session, step, sender)
            session.add(event)
            audit.record(
                session,
                actor="worker",
                action=f"round.{_AUDIT_ACTIONS.get(step.kind, 'reminded')}",
                target_type="round",
                target_id=step.round_id,
                round_id=step.round_id,
                step=step.kind,
                due_at=_utc(step.due_at),
                result=event.detail,
            )
            result = StepDone(
                round_id=step.round_id,
                kind=step.kind,
                due_at=step.due_at,
                done_at=now,
                detail=event.detail,
            )
    except IntegrityError:
        _log.info("round %s: %s was done by another worker", step.round_id, describe(step.kind))
        return None
    _log.info("round %s: %s done: %s", step.round_id, describe(step.kind), result.detail)
    return result


#: The audit trail's word for each step the worker carries out ("remind:N": reminded).
_AUDIT_ACTIONS = {"open": "opened", "close": "closed"}


def _audit_details(round_: Round) -> dict[str, str | None]:
    """A round's schedule as the audit trail records it (times in UTC)."""
    return {
        "opens_at": _utc(round_.opens_at) if round_.opens_at else None,
        "closes_at": _utc(round_.closes_at) if round_.closes_at else None,
        "reminder_days": ",".join(map(str, round_.reminder_days or [])) or None,
    }


def _carry_out(session: Session, step: Step, sender: mail.Sender) -> str:
    if step.kind == "open":
        open_round(session, round_id=step.round_id)
        invited = round_progress(session, round_id=step.round_id).invited
        return f"opened; {invited} invited"
    if step.kind == "close":
        close_round(session, round_id=step.round_id)
        progress = round_progress(session, round_id=step.round_id)
        return f"closed; {progress.submitted} of {progress.invited} submitted"
    reminded = mail.queue_reminders(session, round_id=step.round_id, sender=sender)
    if not reminded:
        return NOBODY_TO_REMIND
    return f"reminded {len(reminded)} expert{'' if len(reminded) == 1 else 's'}"
