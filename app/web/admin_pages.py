"""The admin console: rounds, their panel and e-mail, calibration and publishing.

Each form posts to a route of its own (``/admin/rounds/{id}/open`` ...), so FastAPI checks
the path and the role, and an unknown action is an ordinary 404. A form with typed input
shows the page again on a mistake, with what was typed kept and the message beside the
field, rather than an error page that loses the input.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.db import end_transaction
from app.errors import Conflict, InvalidInput
from app.models import id_of, utcnow
from app.schemas import RoundCreate
from app.services import (
    delphi,
    exports,
    invitations,
    mail,
    responses,
    rounds,
    rubrics,
    schedule,
    surveys,
)
from app.web.deps import ComputeDep, SessionDep, StaffUser
from app.web.page_support import (
    AdminForm,
    AdminFormDep,
    StaffPage,
    StaffPageDep,
    form_error,
    redirect,
)
from app.web.params import InvitationId, RoundId, in_id_range

router = APIRouter(include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
def admin_home(page: StaffPageDep) -> Response:
    session = page.session
    all_rounds = [
        (rounds.round_details(session, r), rounds.round_progress(session, round_id=id_of(r)))
        for r in rounds.list_rounds(session)
    ]
    versions = surveys.list_survey_versions(session)
    return page.render("admin_home.html", {"rounds": all_rounds, "versions": versions})


@router.post("/admin/rounds")
def admin_create_round(page: AdminFormDep) -> Response:
    slug, _, number = page.text("survey_version").partition("@")
    if re.fullmatch(r"[0-9]{1,10}", number) is None or not in_id_range(int(number)):
        raise InvalidInput("choose a survey version", field="survey_version")
    try:
        body = RoundCreate(
            survey=slug, version=int(number), name=page.text("name").strip() or "Round"
        )
    except ValidationError as exc:
        raise form_error(exc) from exc
    created = rounds.create_round(
        page.session, slug=body.survey, version=body.version, name=body.name
    )
    return redirect(f"/admin/rounds/{created.id}")


# --- one round --------------------------------------------------------------------------


@router.get("/admin/rounds/{round_id}", response_class=HTMLResponse)
def admin_round(
    round_id: RoundId,
    page: StaffPageDep,
    queued: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    kind: Literal["invitation", "reminder"] = "invitation",
) -> Response:
    context = _round_context(page, round_id)
    # After e-mail was queued (post, redirect, get): how many, said once on the page.
    context["queued"] = (queued, kind) if queued is not None else None
    return page.render("admin_round.html", context)


def _round_context(page: StaffPage, round_id: int) -> dict[str, Any]:
    session, admin = page.session, page.user.role == "admin"
    round_ = rounds.get_round(session, round_id=round_id)
    previous = round_.previous_round_id
    return {
        "previous_round": rounds.get_round(session, round_id=previous) if previous else None,
        "next_round": rounds.next_round_of(session, round_id=round_id),
        "round": rounds.round_details(session, round_),
        "progress": rounds.round_progress(session, round_id=round_id),
        "invitations": invitations.list_invitations(session, round_id=round_id) if admin else [],
        "mail": mail.mail_status(session, round_id=round_id) if admin else [],
        "mail_goes": mail.where_mail_goes(page.settings.smtp_url, page.settings.mail_dir),
        "schedule": schedule.schedule_state(session, round_id=round_id),
        "now": utcnow(),
    }


def _round_page_with_error(
    page: AdminForm, round_id: int, exc: InvalidInput, where: str
) -> Response:
    """The round page again after a form mistake: what was typed kept, the message beside
    the field ``where``."""
    page.session.rollback()
    context = _round_context(page, round_id)
    typed = {
        "csv": page.text("csv"),
        "delivery": page.text("delivery") or "show",
        "closes_at": page.text("closes_at"),
    }
    # The schedule form's fields, as typed (local times and the offsets the script sent).
    typed.update({name: page.text(name) for name in _SCHEDULE_FIELDS if name in page.form})
    context.update({"form": typed, "errors": {where: exc.message}, "queued": None})
    return page.render("admin_round.html", context, status=422)


@router.post("/admin/rounds/{round_id}/open")
def admin_open_round(round_id: RoundId, page: AdminFormDep) -> Response:
    rounds.open_round(page.session, round_id=round_id)
    return redirect(f"/admin/rounds/{round_id}")


@router.post("/admin/rounds/{round_id}/close")
def admin_close_round(round_id: RoundId, page: AdminFormDep) -> Response:
    rounds.close_round(page.session, round_id=round_id)
    return redirect(f"/admin/rounds/{round_id}")


@router.post("/admin/rounds/{round_id}/deadline")
def admin_set_deadline(round_id: RoundId, page: AdminFormDep) -> Response:
    text = page.text("closes_at").strip()
    try:
        when = _utc_time(text, field="closes_at") if text else None
        rounds.set_closing_time(page.session, round_id=round_id, closes_at=when)
    except InvalidInput as exc:
        return _round_page_with_error(page, round_id, exc, "closes_at")
    return redirect(f"/admin/rounds/{round_id}")


_SCHEDULE_FIELDS = ("opens_at", "opens_at_offset", "closes_at_offset", "reminder_days")


@router.post("/admin/rounds/{round_id}/schedule")
def admin_set_schedule(round_id: RoundId, page: AdminFormDep) -> Response:
    # An open round's form has no opening time: the one it had is kept.
    kept = rounds.get_round(page.session, round_id=round_id).opens_at
    try:
        opens_at = _form_time(page, "opens_at") if "opens_at" in page.form else kept
        schedule.set_schedule(
            page.session,
            round_id=round_id,
            opens_at=opens_at,
            closes_at=_form_time(page, "closes_at"),
            reminder_days=schedule.parse_reminder_days(page.text("reminder_days")),
        )
    except InvalidInput as exc:
        where = exc.field if exc.field in ("opens_at", "closes_at") else "reminder_days"
        return _round_page_with_error(page, round_id, exc, where)
    return redirect(f"/admin/rounds/{round_id}#schedule")


def _form_time(page: AdminForm, name: str) -> datetime | None:
    """A date-and-time field in UTC. ``<name>_offset`` is the browser's offset from UTC at
    that time, in minutes (static/localtime.js sends it); without it the time is UTC."""
    text, offset = page.text(name).strip(), page.text(f"{name}_offset").strip()
    if not text:
        return None
    minutes = 0
    if offset:
        if re.fullmatch(r"[+-]?[0-9]{1,4}", offset) is None or abs(int(offset)) > 18 * 60:
            raise InvalidInput("the time zone sent with the time is not valid", field=name)
        minutes = int(offset)
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput("give the time as a date and a time of day", field=name) from exc


def _utc_time(text: str, *, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput("give the closing time as a date and time (UTC)", field=field) from exc


@router.post("/admin/rounds/{round_id}/invite")
def admin_invite(round_id: RoundId, page: AdminFormDep) -> Response:
    upload = page.form.get("file")
    send = page.text("delivery") == "email"  # then the links go by e-mail only
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            people = invitations.read_invitees_csv(
                upload.file.read(), filename=upload.filename, field="file"
            )
        else:
            people = invitations.parse_invitees_csv(page.text("csv"), filename="pasted list")
        sender = mail.Sender.of(page.settings) if send else None
        issued = mail.invite(page.session, round_id=round_id, invitees=people, sender=sender)
    except InvalidInput as exc:
        # The field the message belongs to: the uploaded file or the pasted list.
        return _round_page_with_error(page, round_id, exc, "file" if exc.field == "file" else "csv")
    if send:
        return redirect(f"/admin/rounds/{round_id}?queued={len(issued)}&kind=invitation")
    return _links_page(page, round_id, issued)


@router.post("/admin/rounds/{round_id}/remind")
def admin_remind(round_id: RoundId, page: AdminFormDep) -> Response:
    sender = mail.Sender.of(page.settings)
    reminded = mail.queue_reminders(page.session, round_id=round_id, sender=sender)
    return redirect(f"/admin/rounds/{round_id}?queued={len(reminded)}&kind=reminder")


@router.post("/admin/rounds/{round_id}/reopen")
def admin_reopen_response(round_id: RoundId, page: AdminFormDep) -> Response:
    response = responses.find_response(
        page.session, round_id=round_id, expert_code=page.text("expert_code")
    )
    responses.reopen_response(page.session, response_id=id_of(response))
    return redirect(f"/admin/rounds/{round_id}")


@router.post("/admin/rounds/{round_id}/next")
def admin_next_round(round_id: RoundId, page: AdminFormDep) -> Response:
    new_round, issued = delphi.create_next_round(page.session, round_id=round_id)
    return _links_page(page, id_of(new_round), issued)


def _links_page(
    page: StaffPage, round_id: int, issued: list[invitations.IssuedInvitation]
) -> Response:
    base_url = page.settings.base_url
    csv_text = invitations.issued_as_csv(issued, base_url=base_url)
    data_url = "data:text/csv;base64," + base64.b64encode(csv_text.encode()).decode()
    return page.render(
        "admin_invited.html",
        {"round_id": round_id, "issued": issued, "base_url": base_url, "csv_data_url": data_url},
    )


# --- invitations ------------------------------------------------------------------------


@router.post("/admin/invitations/{invitation_id}/revoke")
def admin_revoke(invitation_id: InvitationId, page: AdminFormDep) -> Response:
    invitation = invitations.revoke_invitation(page.session, invitation_id=invitation_id)
    return redirect(f"/admin/rounds/{invitation.round_id}")


@router.post("/admin/invitations/{invitation_id}/reissue")
def admin_reissue(invitation_id: InvitationId, page: AdminFormDep) -> Response:
    issued = invitations.reissue_invitation(page.session, invitation_id=invitation_id)
    return _links_page(page, issued.round_id, [issued])


# --- calibration, publishing, export ----------------------------------------------------


@router.get("/admin/rounds/{round_id}/calibration", response_class=HTMLResponse)
def admin_calibration(round_id: RoundId, page: StaffPageDep, compute: ComputeDep) -> Response:
    return _calibration_page(page, compute, round_id)


def _calibration_page(
    page: StaffPage,
    compute: ComputeDep,
    round_id: int,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    session = page.session
    shown = rounds.round_details(session, rounds.get_round(session, round_id=round_id))
    inputs = rubrics.calibration_inputs(session, round_id=round_id, n_bootstrap=500)
    end_transaction(session)  # no connection held while the bootstrap runs
    return page.render(
        "admin_calibration.html",
        {
            "round": shown,
            "cal": compute.run(rubrics.compute_calibration, inputs),
            "context_fields": rubrics.CONTEXT_FIELDS,
            "error": error,
            "form": form or {},
        },
        status=status,
    )


@router.post("/admin/rounds/{round_id}/publish")
def admin_publish(round_id: RoundId, page: AdminFormDep, compute: ComputeDep) -> Response:
    fields = {k: page.text(k) for k in [*rubrics.CONTEXT_FIELDS, "justification"]}
    try:
        version = rubrics.publish_rubric(
            page.session,
            round_id=round_id,
            publisher=page.user,
            context={k: fields[k] for k in rubrics.CONTEXT_FIELDS},
            justification=fields["justification"],
        )
    except Conflict as exc:
        page.session.rollback()
        return _calibration_page(
            page, compute, round_id, error=exc.message, form=fields, status=409
        )
    return redirect(f"/rubrics/{version.record['survey']['slug']}/v{version.number}")


@router.get("/admin/rounds/{round_id}/export.csv")
def admin_export(
    round_id: RoundId, user: StaffUser, session: SessionDep, include_drafts: bool = False
) -> Response:
    text = exports.export_ratings_csv(session, round_id=round_id, include_drafts=include_drafts)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="round-{round_id}-ratings.csv"'},
    )
