"""The admin console: rounds, their panel and e-mail, calibration and publishing.

Each form posts to a route of its own (``/admin/rounds/{id}/open`` ...), so FastAPI checks
the path and the role, and an unknown action is an ordinary 404. A form with typed input
shows the page again on a mistake, with what was typed kept and the message beside the
field, rather than an error page that loses the input.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app import i18n
from app.db import begin_writing, end_transaction
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n import N_
from app.models import id_of, utcnow
from app.schemas import DB_INT_MAX, RoundCreate
from app.security import new_password
from app.services import (
    audit,
    delphi,
    exports,
    invitations,
    mail,
    privacy,
    responses,
    reviews,
    rounds,
    rubrics,
    schedule,
    surveys,
    users,
    webhooks,
)
from app.services.exports import ExportFormat
from app.survey_files import language_name
from app.web.deps import ComputeDep
from app.web.downloads import attachment
from app.web.errors import http_status
from app.web.page_support import (
    AdminForm,
    AdminFormDep,
    AdminPageDep,
    Refused,
    StaffPage,
    StaffPageDep,
    form_error,
    redirect,
)
from app.web.params import InvitationId, RoundId, WeightingChoice, in_id_range

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
        raise InvalidInput(N_("choose a survey version"), field="survey_version")
    try:
        body = RoundCreate(
            survey=slug, version=int(number), name=page.text("name").strip() or "Round"
        )
    except ValidationError as exc:
        raise form_error(exc) from exc
    created = rounds.create_round(
        page.session, slug=body.survey, version=body.version, name=body.name
    )
    page.audit("round.created", "round", created.id, round_id=created.id)
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
        "reopen_refusal": (
            rounds.reopen_refusal(session, round_) if admin and round_.status == "closed" else None
        ),
        "round": rounds.round_details(session, round_),
        "progress": rounds.round_progress(session, round_id=round_id),
        "invitations": invitations.list_invitations(session, round_id=round_id) if admin else [],
        "mail": mail.mail_status(session, round_id=round_id) if admin else [],
        "mail_log": mail.mail_log(session, round_id=round_id) if admin else [],
        "mail_goes": mail.where_mail_goes(
            page.settings.smtp_url, page.settings.mail_dir, page.language
        ),
        "schedule": schedule.schedule_state(session, round_id=round_id),
        "now": utcnow(),
        "export_formats": list(exports.EXPORT_FORMATS.values()),
        "languages": [
            (code, language_name(code))
            for code in rounds.round_definition(session, round_).languages
        ],
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
        "language": page.text("language"),
        "closes_at": page.text("closes_at"),
    }
    # The schedule form's fields, as typed (local times and the offsets the script sent).
    typed.update({name: page.text(name) for name in _SCHEDULE_FIELDS if name in page.form})
    context.update({"form": typed, "errors": {where: exc.message}, "queued": None})
    return page.render("admin_round.html", context, status=422)


@router.post("/admin/rounds/{round_id}/open")
def admin_open_round(round_id: RoundId, page: AdminFormDep) -> Response:
    rounds.open_round(page.session, round_id=round_id)
    page.audit("round.opened", "round", round_id, round_id=round_id)
    return redirect(f"/admin/rounds/{round_id}")


@router.post("/admin/rounds/{round_id}/close")
def admin_close_round(round_id: RoundId, page: AdminFormDep) -> Response:
    rounds.close_round(page.session, round_id=round_id)
    page.audit("round.closed", "round", round_id, round_id=round_id)
    return redirect(f"/admin/rounds/{round_id}")


@router.post("/admin/rounds/{round_id}/deadline")
def admin_set_deadline(round_id: RoundId, page: AdminFormDep) -> Response:
    text = page.text("closes_at").strip()
    try:
        when = _utc_time(text, field="closes_at") if text else None
        schedule.set_closing_time(
            page.session, round_id=round_id, closes_at=when, actor=page.user.email
        )
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
        wanted = schedule.Schedule(
            opens_at=opens_at,
            closes_at=_form_time(page, "closes_at"),
            reminder_days=schedule.parse_reminder_days(page.text("reminder_days")),
        )
        schedule.set_schedule(page.session, round_id=round_id, wanted=wanted, actor=page.user.email)
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
            raise InvalidInput(N_("the time zone sent with the time is not valid"), field=name)
        minutes = int(offset)
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(N_("give the time as a date and a time of day"), field=name) from exc


def _utc_time(text: str, *, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(
            N_("give the closing time as a date and time (UTC)"), field=field
        ) from exc


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
        issued = mail.invite(
            page.session,
            round_id=round_id,
            invitees=people,
            sender=sender,
            language=page.text("language") or None,
        )
    except InvalidInput as exc:
        # The field the message belongs to: the language, the uploaded file or the list.
        where = exc.field if exc.field in ("file", "language") else "csv"
        return _round_page_with_error(page, round_id, exc, where)
    page.audit("invitations.created", "round", round_id, round_id=round_id, count=len(issued))
    if send:
        return redirect(f"/admin/rounds/{round_id}?queued={len(issued)}&kind=invitation")
    return _links_page(page, round_id, issued)


@router.post("/admin/rounds/{round_id}/remind")
def admin_remind(round_id: RoundId, page: AdminFormDep) -> Response:
    sender = mail.Sender.of(page.settings)
    reminded = mail.queue_reminders(page.session, round_id=round_id, sender=sender)
    page.audit("reminders.queued", "round", round_id, round_id=round_id, count=len(reminded))
    return redirect(f"/admin/rounds/{round_id}?queued={len(reminded)}&kind=reminder")


@router.post("/admin/rounds/{round_id}/reopen")
def admin_reopen_response(round_id: RoundId, page: AdminFormDep) -> Response:
    response = responses.find_response(
        page.session, round_id=round_id, expert_code=page.text("expert_code")
    )
    responses.reopen_response(page.session, response_id=id_of(response))
    page.audit("response.reopened", "expert", page.text("expert_code"), round_id=round_id)
    return redirect(f"/admin/rounds/{round_id}")


@router.post("/admin/rounds/{round_id}/next")
def admin_next_round(round_id: RoundId, page: AdminFormDep) -> Response:
    new_round, issued = delphi.create_next_round(page.session, round_id=round_id)
    page.audit("round.created", "round", new_round.id, round_id=new_round.id, follows=round_id)
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


@router.get("/admin/rounds/{round_id}/mail/{kind}", response_class=HTMLResponse)
def admin_mail_preview(
    round_id: RoundId, kind: Literal["invitation", "reminder", "receipt"], page: AdminPageDep
) -> Response:
    """An e-mail of the round as its first invited expert would read it."""
    shown = mail.preview(
        page.session, round_id=round_id, kind=kind, sender=mail.Sender.of(page.settings)
    )
    details = rounds.get_round_details(page.session, round_id=round_id)
    return page.render("admin_mail_preview.html", {"round": details, "mail": shown})


# --- invitations ------------------------------------------------------------------------


@router.post("/admin/invitations/{invitation_id}/revoke")
def admin_revoke(invitation_id: InvitationId, page: AdminFormDep) -> Response:
    invitation = invitations.revoke_invitation(page.session, invitation_id=invitation_id)
    page.audit("invitation.revoked", "invitation", invitation_id, round_id=invitation.round_id)
    return redirect(f"/admin/rounds/{invitation.round_id}")


@router.post("/admin/invitations/{invitation_id}/reissue")
def admin_reissue(invitation_id: InvitationId, page: AdminFormDep) -> Response:
    issued = invitations.reissue_invitation(page.session, invitation_id=invitation_id)
    page.audit("invitation.reissued", "invitation", invitation_id, round_id=issued.round_id)
    return _links_page(page, issued.round_id, [issued])


# --- calibration, publishing, export ----------------------------------------------------


@router.get("/admin/rounds/{round_id}/calibration", response_class=HTMLResponse)
def admin_calibration(
    round_id: RoundId,
    page: StaffPageDep,
    compute: ComputeDep,
    weighting: WeightingChoice = "equal",
) -> Response:
    return _calibration_page(page, compute, round_id, weighting=weighting)


def _calibration_page(
    page: StaffPage,
    compute: ComputeDep,
    round_id: int,
    *,
    weighting: str = "equal",
    error: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    session = page.session
    shown = rounds.get_round_details(session, round_id=round_id)
    options = rubrics.CalibrationOptions(n_bootstrap=500, weighting=weighting)
    inputs = rubrics.calibration_inputs(session, round_id=round_id, options=options)
    fields = reviews.context_fields(session, round_id=round_id)
    end_transaction(session)  # no connection held while the bootstrap runs
    refused = ""
    try:
        cal = compute.run(rubrics.compute_calibration, inputs)
    except Conflict as exc:  # the weights cannot be computed: say why, show equal weights
        if weighting == "equal":
            raise
        refused, status = exc.message, 409 if status == 200 else status
        cal = compute.run(rubrics.compute_calibration, rubrics.with_equal_weights(inputs))
    return page.render(
        "admin_calibration.html",
        {
            "round": shown,
            "cal": cal,
            "weighting": cal["weighting"],
            "refused": refused,
            "context_fields": fields,
            "error": error,
            "form": form or {},
        },
        status=status,
    )


@router.post("/admin/rounds/{round_id}/publish")
def admin_publish(round_id: RoundId, page: AdminFormDep, compute: ComputeDep) -> Response:
    keys = [f.key for f in reviews.context_fields(page.session, round_id=round_id)]
    fields = {k: page.text(k) for k in [*keys, "notes", "justification", "weighting"]}
    try:
        version = rubrics.publish_rubric(
            page.session,
            round_id=round_id,
            publisher=page.user,
            context={k: fields[k] for k in [*keys, "notes"]},
            justification=fields["justification"],
            weighting=fields["weighting"] or "equal",
        )
    except (Conflict, InvalidInput) as exc:
        page.session.rollback()
        # The calibration is shown with the weighting asked for, unless it was the problem.
        chosen = fields["weighting"] if exc.field != "weighting" else "equal"
        return _calibration_page(
            page,
            compute,
            round_id,
            weighting=chosen or "equal",
            error=exc.message,
            form=fields,
            status=http_status(exc),
        )
    slug = version.record["survey"]["slug"]
    page.audit("rubric.published", "rubric", f"{slug} v{version.number}", round_id=round_id)
    return redirect(f"/rubrics/{slug}/v{version.number}")


@router.get("/admin/rounds/{round_id}/export.csv")
def admin_export(round_id: RoundId, page: StaffPageDep, include_drafts: bool = False) -> Response:
    return admin_export_as(round_id, page, "csv", include_drafts)


@router.get("/admin/rounds/{round_id}/export")
def admin_export_as(
    round_id: RoundId,
    page: StaffPageDep,
    format: ExportFormat = "csv",
    include_drafts: bool = False,
) -> Response:
    exported = exports.export_ratings(
        page.session, round_id=round_id, fmt=format, include_drafts=include_drafts
    )
    begin_writing(page.session)  # a download is recorded: who took the ratings, when
    page.audit("export.downloaded", "round", round_id, round_id=round_id, format=format)
    return attachment(exported.content, filename=exported.filename, media_type=exported.media_type)


# --- staff accounts ---------------------------------------------------------------------

UserId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="Account id")]


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(
    page: AdminPageDep,
    sent: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    created: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
) -> Response:
    notice = ""
    for user_id, what in (
        (created, N_("Account created; a link to set a password was queued for %(email)s.")),
        (sent, N_("A link to set a password was queued for %(email)s.")),
    ):
        if user_id is not None:
            email = users.get_user(page.session, user_id=user_id).email
            notice = i18n.translate(page.language, what, email=email)
    return _users_page(page, notice=notice)


def _users_page(page: StaffPage, *, notice: str = "", refused: Refused | None = None) -> Response:
    context = {
        "accounts": users.list_accounts(page.session),
        "notice": notice,
        "mail_goes": mail.where_mail_goes(
            page.settings.smtp_url, page.settings.mail_dir, page.language
        ),
        "totp_required": page.settings.require_admin_totp,
    }
    return page.render_form("admin_users.html", context, refused)


@router.post("/admin/users")
def admin_create_user(page: AdminFormDep) -> Response:
    email, role = page.text("email"), page.text("role")
    try:
        user = users.create_user(page.session, email=email, password=new_password(), role=role)
        users.request_password_reset(
            page.session, email=user.email, sender=mail.Sender.of(page.settings)
        )
    except (InvalidInput, Conflict) as exc:
        errors = {exc.field or "email": exc.message}
        typed = {"email": email, "role": role}
        return _users_page(page, refused=page.refuse(errors, typed, http_status(exc)))
    page.audit("user.created", "user", user.email, role=role)
    page.audit("user.reset_sent", "user", user.email)
    return redirect(f"/admin/users?created={id_of(user)}")


@router.post("/admin/users/{user_id}/role")
def admin_set_role(user_id: UserId, page: AdminFormDep) -> Response:
    role = page.text("role")
    return _account_change(page, user_id, "user.role_changed", users.set_role, role=role)


@router.post("/admin/users/{user_id}/deactivate")
def admin_deactivate_user(user_id: UserId, page: AdminFormDep) -> Response:
    return _account_change(page, user_id, "user.deactivated", users.deactivate_user)


@router.post("/admin/users/{user_id}/activate")
def admin_activate_user(user_id: UserId, page: AdminFormDep) -> Response:
    return _account_change(page, user_id, "user.activated", users.activate_user)


@router.post("/admin/users/{user_id}/reset")
def admin_send_reset(user_id: UserId, page: AdminFormDep) -> Response:
    sender = mail.Sender.of(page.settings)
    done = _account_change(
        page, user_id, "user.reset_sent", users.request_password_reset, sender=sender
    )
    return redirect(f"/admin/users?sent={user_id}") if done.status_code == 303 else done


def _account_change(
    page: AdminForm, user_id: int, action: str, change: Callable[..., object], **kw: Any
) -> Response:
    """One change to an account from its row's form; a refusal (the last admin, a bad
    role) is shown in that row."""
    account = users.get_user(page.session, user_id=user_id)
    email, role_before = account.email, account.role
    try:
        change(page.session, email=email, **kw)
    except (InvalidInput, Conflict) as exc:
        refused = page.refuse({f"row-{user_id}": exc.message}, status=http_status(exc))
        return _users_page(page, refused=refused)
    moved = audit.Change({"role": role_before}, {"role": kw["role"]}) if "role" in kw else None
    page.audit(action, "user", email, changed=moved)
    return redirect(f"/admin/users#user-{user_id}")


# --- audit trail and rating history -------------------------------------------------------


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(
    page: AdminPageDep,
    round_id: Annotated[int | None, Query(alias="round", ge=1, le=DB_INT_MAX)] = None,
    before: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
) -> Response:
    found = audit.entries(page.session, round_id=round_id, limit=50, before=before)
    all_rounds = rounds.list_rounds(page.session)
    return page.render(
        "admin_audit.html", {"page": found, "round_id": round_id, "rounds": all_rounds}
    )


@router.get("/admin/audit.csv")
def admin_audit_csv(
    page: AdminPageDep,
    round_id: Annotated[int | None, Query(alias="round", ge=1, le=DB_INT_MAX)] = None,
) -> Response:
    """The audit trail (of one round if chosen) as CSV, oldest first."""
    name = f"audit-round-{round_id}.csv" if round_id else "audit.csv"
    return attachment(audit.entries_csv(page.session, round_id=round_id), filename=name)


HistoryFilter = Annotated[str | None, Query(max_length=64)]


@router.get("/admin/rounds/{round_id}/history", response_class=HTMLResponse)
def admin_history(
    round_id: RoundId, page: StaffPageDep, expert: HistoryFilter = None, item: HistoryFilter = None
) -> Response:
    """A round's rating history under the experts' codes (researchers too: no names)."""
    scope = audit.HistoryScope(round_id, expert_code=expert or None, item=item or None)
    history = audit.rating_history(page.session, scope=scope)
    round_ = rounds.get_round_details(page.session, round_id=round_id)
    context = {"round": round_, "history": history, "expert": expert or "", "item": item or ""}
    return page.render("admin_history.html", context)


@router.get("/admin/rounds/{round_id}/history.csv")
def admin_history_csv(
    round_id: RoundId, page: StaffPageDep, expert: HistoryFilter = None, item: HistoryFilter = None
) -> Response:
    begin_writing(page.session)
    scope = audit.HistoryScope(round_id, expert_code=expert or None, item=item or None)
    text = audit.export_history(page.session, actor=page.user.email, scope=scope)
    return attachment(text, filename=f"round-{round_id}-history.csv")


# --- personal data of the panel ---------------------------------------------------------
# E-mail addresses travel in posted forms only, never in a page address (which logs keep).


@router.get("/admin/people", response_class=HTMLResponse)
def admin_people(page: AdminPageDep) -> Response:
    return _people_page(page)


def _people_page(
    page: StaffPage,
    *,
    person: privacy.PersonSummary | None = None,
    erased: privacy.Erasure | None = None,
    refused: Refused | None = None,
) -> Response:
    context = {"person": person, "erased": erased}
    return page.render_form("admin_people.html", context, refused)


def _no_such_person(page: StaffPage, email: str, exc: NotFound) -> Response:
    return _people_page(page, refused=page.refuse({"email": exc.message}, {"email": email}, 404))


@router.post("/admin/people/find", response_class=HTMLResponse)
def admin_find_person(page: AdminFormDep) -> Response:
    email = page.text("email")
    try:
        person = privacy.person_summary(page.session, email=email)
    except NotFound as exc:
        return _no_such_person(page, email, exc)
    return _people_page(page, person=person)


@router.post("/admin/people/export")
def admin_export_person(page: AdminFormDep) -> Response:
    email = page.text("email")
    try:
        data = privacy.export_person(page.session, email=email, actor=page.user.email)
    except NotFound as exc:
        return _no_such_person(page, email, exc)
    return attachment(
        data.model_dump_json(indent=2),
        filename=f"personal-data-{data.expert_code}.json",
        media_type="application/json",
        no_store=True,
    )


@router.post("/admin/people/erase", response_class=HTMLResponse)
def admin_erase_person(page: AdminFormDep) -> Response:
    email = page.text("email")
    try:
        if page.text("confirm_email").strip().lower() != email.strip().lower():
            person = privacy.person_summary(page.session, email=email)
            again = page.refuse({"confirm_email": N_("type the same address again to confirm")})
            return _people_page(page, person=person, refused=again)
        erasing = privacy.Erasing(
            page.user.email,
            keep_ratings=page.text("ratings") != "delete",
            mail_dir=privacy.mail_copies(page.settings.smtp_url, page.settings.mail_dir),
        )
        erased = privacy.erase_person(page.session, email=email, erasing=erasing)
    except NotFound as exc:
        return _no_such_person(page, email, exc)
    return _people_page(page, erased=erased)


# --- webhook subscriptions ----------------------------------------------------------------

SubscriptionId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="Subscription id")]


@router.get("/admin/webhooks", response_class=HTMLResponse)
def admin_webhooks(page: AdminPageDep) -> Response:
    return _webhooks_page(page)


def _webhooks_page(
    page: StaffPage,
    *,
    created: webhooks.CreatedSubscription | None = None,
    refused: Refused | None = None,
) -> Response:
    slugs = list(dict.fromkeys(slug for slug, _ in surveys.list_survey_versions(page.session)))
    context = {
        "subscriptions": webhooks.list_subscriptions(page.session),
        "deliveries": webhooks.list_deliveries(page.session, limit=50),
        "slugs": slugs,
        "created": created,
        "allow_private": page.settings.webhook_allow_private,
    }
    shown = page.render_form("admin_webhooks.html", context, refused)
    if created is not None:  # the secret is on this page, once: keep it out of caches
        shown.headers["Cache-Control"] = "no-store"
    return shown


@router.post("/admin/webhooks", response_class=HTMLResponse)
def admin_create_webhook(page: AdminFormDep) -> Response:
    url, survey = page.text("url"), page.text("survey")
    allowed = page.settings.webhook_allow_private
    end_transaction(page.session)  # no lock held while the address's name is looked up
    try:
        created = webhooks.create_subscription(
            page.session,
            url=webhooks.checked_url(url, allow_private=allowed),
            survey=survey or None,
            actor=page.user.email,
            allow_private=allowed,
        )
    except (InvalidInput, NotFound) as exc:
        errors = {exc.field or "url": exc.message}
        typed = {"url": url, "survey": survey}
        return _webhooks_page(page, refused=page.refuse(errors, typed, http_status(exc)))
    return _webhooks_page(page, created=created)


@router.post("/admin/webhooks/{subscription_id}/deactivate")
def admin_deactivate_webhook(subscription_id: SubscriptionId, page: AdminFormDep) -> Response:
    webhooks.deactivate_subscription(
        page.session, subscription_id=subscription_id, actor=page.user.email
    )
    return redirect(f"/admin/webhooks#webhook-{subscription_id}")


@router.post("/admin/webhooks/{subscription_id}/delete")
def admin_delete_webhook(subscription_id: SubscriptionId, page: AdminFormDep) -> Response:
    webhooks.delete_subscription(
        page.session, subscription_id=subscription_id, actor=page.user.email
    )
    return redirect("/admin/webhooks")
