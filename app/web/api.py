"""The JSON API. Routes stay thin: dependencies, one service call, a response."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from app.db import begin_writing, end_transaction
from app.errors import NotAuthenticated
from app.inputs import InviteeCreate
from app.models import Round, User, id_of
from app.schemas import (
    DB_INT_MAX,
    AuditPagePublic,
    ErrorPublic,
    ExpertLanguage,
    InvitationIssued,
    InvitationPublic,
    InvitationsCreate,
    LanguageChoice,
    LoginPublic,
    LoginRequest,
    MailPreviewPublic,
    MailStatusPublic,
    NextRoundCreate,
    NextRoundPublic,
    PasswordChange,
    PasswordResetSent,
    PublishRequest,
    RatingChangePublic,
    RatingPublic,
    RatingsSave,
    RemindedPublic,
    RemindersQueued,
    ResponsePublic,
    RoundCreate,
    RoundProgress,
    RoundPublic,
    RoundSchedule,
    RoundSchedulePublic,
    RoundUpdate,
    RubricPublished,
    SensitivityInput,
    SensitivityPublic,
    StaffLanguage,
    SurveyLoad,
    SurveyVersionDetail,
    SurveyVersionLoaded,
    SurveyVersionPublic,
    UserAccount,
    UserCreate,
    UserPublic,
    UserUpdate,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPublic,
    WebhookPublic,
)
from app.security import new_password
from app.services import (
    audit,
    auth,
    delphi,
    exports,
    invitations,
    mail,
    reports,
    responses,
    rounds,
    rubrics,
    schedule,
    sensitivity,
    sessions,
    surveys,
    users,
    webhooks,
)
from app.services.answer_store import Saving
from app.services.exports import ExportFormat
from app.web.deps import (
    AdminUser,
    CallerDep,
    ComputeDep,
    Expert,
    SessionDep,
    SettingsDep,
    StaffUser,
    client_address,
)
from app.web.downloads import attachment, csv_route
from app.web.errors import content_security_policy
from app.web.params import (
    BootstrapCount,
    ExpertCode,
    InvitationId,
    Lang,
    RoundId,
    Seed,
    Slug,
    SurveyVersionNumber,
    WeightingChoice,
)

API_ERRORS = {
    400: {"model": ErrorPublic, "description": "The body cannot be parsed (not JSON, not UTF-8)"},
    401: {"model": ErrorPublic, "description": "Not signed in"},
    403: {"model": ErrorPublic, "description": "Role not allowed"},
    404: {"model": ErrorPublic, "description": "Not found"},
    409: {"model": ErrorPublic, "description": "Conflicts with the current state"},
    413: {"model": ErrorPublic, "description": "Body over 1 MiB"},
    422: {"model": ErrorPublic, "description": "Invalid input; `field` names the culprit"},
    429: {"model": ErrorPublic, "description": "Too many failed attempts; see Retry-After"},
    503: {"model": ErrorPublic, "description": "Busy or database unreachable; see Retry-After"},
}

router = APIRouter(prefix="/api", responses=API_ERRORS)  # type: ignore[arg-type]


# --- staff sign-in ----------------------------------------------------------------------


@router.post("/auth/login", tags=["auth"], response_model=LoginPublic)
def login(body: LoginRequest, request: Request, settings: SettingsDep) -> LoginPublic:
    """Exchange e-mail and password (and `code`, for an account with a second factor) for a
    bearer token. Repeated failures for one account or from one address, wrong codes
    included, are refused for a while (429 with Retry-After)."""
    signed = auth.sign_in(
        request.app.state.engine,
        email=body.email,
        password=body.password,
        address=client_address(request),
        rules=auth.SignInRules(
            settings.session_hours, settings.require_admin_totp, refuse_unenrolled_admin=True
        ),
        code=body.code,
    )
    if isinstance(signed, auth.CodeNeeded):
        raise NotAuthenticated(
            "this account has a second factor: send the current code from its app as `code`",
            field="code",
        )
    return LoginPublic(token=signed.token, role=signed.role, email=signed.email)  # type: ignore[arg-type]


@router.post("/auth/logout", tags=["auth"], status_code=204)
def logout(request: Request, session: SessionDep, user: StaffUser) -> Response:
    """End the session of the bearer token used."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    sessions.end_session(session, token=token or request.cookies.get("elicit_session", ""))
    return Response(status_code=204)


@router.get("/me", tags=["auth"], response_model=UserPublic)
def me(user: StaffUser) -> UserPublic:
    """The signed-in staff account."""
    return UserPublic.model_validate(user)


# --- surveys ---------------------------------------------------------------------------


@router.get("/surveys", tags=["surveys"], response_model=list[SurveyVersionPublic])
def list_surveys(session: SessionDep, user: StaffUser) -> list[SurveyVersionPublic]:
    """Every loaded survey version, newest first within each survey."""
    return [
        SurveyVersionPublic(slug=slug, **v.model_dump())
        for slug, v in surveys.list_survey_versions(session)
    ]


@router.post("/surveys", tags=["surveys"], response_model=SurveyVersionLoaded, status_code=201)
def load_survey(
    body: SurveyLoad, session: SessionDep, user: AdminUser, response: Response
) -> SurveyVersionLoaded:
    """Load a survey file's text. Changed content makes a new version; same content is a no-op
    (answered 200 with `created: false`)."""
    loaded = surveys.load_survey_text(
        session,
        content=body.content,
        filename=body.filename,
        accept_translations=body.accept_translations,
    )
    if not loaded.created:
        response.status_code = 200
    else:
        version = f"{loaded.slug} v{loaded.version.number}"
        audit.record(session, user.email, "survey.loaded", "survey", version, file=body.filename)
    warnings = [str(w) for w in surveys.translation_warnings(loaded.version)]
    return SurveyVersionLoaded(
        slug=loaded.slug, created=loaded.created, warnings=warnings, **loaded.version.model_dump()
    )


@router.get(
    "/surveys/{slug}/versions/{number}", tags=["surveys"], response_model=SurveyVersionDetail
)
def get_survey_version(
    slug: Slug, number: SurveyVersionNumber, session: SessionDep, user: StaffUser
) -> SurveyVersionDetail:
    """One survey version with its full definition."""
    version = surveys.get_survey_version(session, slug=slug, number=number)
    return SurveyVersionDetail(slug=slug, **version.model_dump())


# --- rounds ----------------------------------------------------------------------------


@router.get("/rounds", tags=["rounds"], response_model=list[RoundPublic])
def list_rounds(session: SessionDep, user: StaffUser) -> list[RoundPublic]:
    """Every round, newest first."""
    return [
        RoundPublic.model_validate(rounds.round_details(session, r))
        for r in rounds.list_rounds(session)
    ]


@router.post("/rounds", tags=["rounds"], response_model=RoundPublic, status_code=201)
def create_round(body: RoundCreate, session: SessionDep, user: AdminUser) -> RoundPublic:
    """Create a draft round on a survey version (the newest unless `version` is given)."""
    round_ = rounds.create_round(
        session, slug=body.survey, version=body.version, name=body.name, closes_at=body.closes_at
    )
    audit.record(session, user.email, "round.created", "round", round_.id, round_id=round_.id)
    return _round_out(session, round_)


@router.get("/rounds/{round_id}", tags=["rounds"], response_model=RoundPublic)
def get_round(round_id: RoundId, session: SessionDep, user: StaffUser) -> RoundPublic:
    """One round."""
    return RoundPublic.model_validate(rounds.get_round_details(session, round_id=round_id))


@router.patch("/rounds/{round_id}", tags=["rounds"], response_model=RoundPublic)
def update_round(
    round_id: RoundId, body: RoundUpdate, session: SessionDep, user: AdminUser
) -> RoundPublic:
    """Set or clear the round's closing time."""
    round_ = schedule.set_closing_time(
        session, round_id=round_id, closes_at=body.closes_at, actor=user.email
    )
    return _round_out(session, round_)


@router.get("/rounds/{round_id}/schedule", tags=["rounds"], response_model=RoundSchedulePublic)
def get_schedule(round_id: RoundId, session: SessionDep, user: StaffUser) -> RoundSchedulePublic:
    """The round with its schedule, the steps the worker has done and the next one."""
    return _scheduled_out(session, rounds.get_round(session, round_id=round_id))


@router.put("/rounds/{round_id}/schedule", tags=["rounds"], response_model=RoundSchedulePublic)
def set_schedule(
    round_id: RoundId, body: RoundSchedule, session: SessionDep, user: AdminUser
) -> RoundSchedulePublic:
    """Set the round's schedule: the worker opens the draft round at `opens_at`, reminds
    those who have not submitted `reminder_days` days before `closes_at`, and closes it at
    `closes_at`, each step once. Null times and no days clear it."""
    wanted = schedule.Schedule.of(body)
    round_ = schedule.set_schedule(session, round_id=round_id, wanted=wanted, actor=user.email)
    return _scheduled_out(session, round_)


@router.post("/rounds/{round_id}/open", tags=["rounds"], response_model=RoundPublic)
def open_round(round_id: RoundId, session: SessionDep, user: AdminUser) -> RoundPublic:
    """Open a round to its experts; the consensus criterion is frozen at the first opening."""
    round_ = rounds.open_round(session, round_id=round_id)
    audit.record(session, user.email, "round.opened", "round", round_id, round_id=round_id)
    return _round_out(session, round_)


@router.post("/rounds/{round_id}/close", tags=["rounds"], response_model=RoundPublic)
def close_round(round_id: RoundId, session: SessionDep, user: AdminUser) -> RoundPublic:
    """Close a round: no more answers are accepted."""
    round_ = rounds.close_round(session, round_id=round_id)
    audit.record(session, user.email, "round.closed", "round", round_id, round_id=round_id)
    return _round_out(session, round_)


@router.post(
    "/rounds/{round_id}/next", tags=["rounds"], response_model=NextRoundPublic, status_code=201
)
def next_round(
    round_id: RoundId,
    body: NextRoundCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
) -> NextRoundPublic:
    """Create Delphi round N+1 from closed round N: the same panel gets new links (shown
    once), and each expert will see the panel's anonymous feedback from round N."""
    round_, issued = delphi.create_next_round(
        session, round_id=round_id, version=body.version, name=body.name
    )
    audit.record(
        session,
        user.email,
        "round.created",
        "round",
        round_.id,
        round_id=round_.id,
        follows=round_id,
    )
    return NextRoundPublic(
        round=RoundPublic.model_validate(rounds.round_details(session, round_)),
        invitations=[_issued(i, settings.base_url) for i in issued],
    )


@router.get("/rounds/{round_id}/progress", tags=["rounds"], response_model=RoundProgress)
def round_progress(round_id: RoundId, session: SessionDep, user: StaffUser) -> RoundProgress:
    """Invited / started / submitted, and each expert's completion (pseudonymous codes)."""
    return RoundProgress.model_validate(rounds.round_progress(session, round_id=round_id))


@csv_route(router, "/rounds/{round_id}/export.csv", tag="rounds", description="Long-format ratings")
def export_round(
    round_id: RoundId, session: SessionDep, user: StaffUser, include_drafts: bool = False
) -> Response:
    """The round's ratings as CSV: one row per rating, experts by pseudonymous code only.
    Submitted responses only unless `include_drafts=true`. (`/export?format=` has every
    format.)"""
    return export_round_as(round_id, session, user, "csv", include_drafts)


def _export_schema(name: str) -> dict[str, str]:
    """The OpenAPI schema of one export format's body."""
    if name == "json":
        return {"type": "object"}
    return {"type": "string"} if name.endswith("csv") else {"type": "string", "format": "binary"}


@router.get(
    "/rounds/{round_id}/export",
    tags=["rounds"],
    response_class=Response,
    responses={
        200: {
            "content": {
                f.media_type: {"schema": _export_schema(f.name)}
                for f in exports.EXPORT_FORMATS.values()
            },
            "description": "The round's ratings in the requested format",
        }
    },
)
def export_round_as(
    round_id: RoundId,
    session: SessionDep,
    user: StaffUser,
    format: ExportFormat = "csv",
    include_drafts: bool = False,
) -> Response:
    """The round's ratings as a file, experts by pseudonymous code only: `csv` (one row per
    rating), `wide-csv` (one row per expert and item, a column per dimension), `xlsx` (a
    ratings sheet and a codebook sheet), `sav` (SPSS) and `dta` (Stata) with variable and
    value labels, `json` (records and codebook). Submitted responses only unless
    `include_drafts=true`."""
    exported = exports.export_ratings(
        session, round_id=round_id, fmt=format, include_drafts=include_drafts
    )
    begin_writing(session)  # a download is recorded: who took the ratings, when
    audit.record(
        session,
        user.email,
        "export.downloaded",
        "round",
        round_id,
        round_id=round_id,
        format=format,
    )
    return attachment(exported.content, filename=exported.filename, media_type=exported.media_type)


@router.get(
    "/rounds/{round_id}/report",
    tags=["reports"],
    responses={
        200: {
            "content": {"application/json": {}, "text/html": {}, "text/csv": {}},
            "description": "The reliability report in the requested format",
        }
    },
)
def round_report(
    round_id: RoundId,
    session: SessionDep,
    user: StaffUser,
    compute: ComputeDep,
    format: Literal["json", "html", "csv"] = "json",
    n_bootstrap: BootstrapCount = 1000,
    seed: Seed = 0,
    group_by: Literal["organisation", "group"] | None = None,
    include_drafts: bool = False,
    alpha_interval: Literal["two-way", "hayes-krippendorff", "hk"] = "two-way",
    lang: Lang = None,
) -> Response:
    """Reliability, consensus and rater diagnostics of a round (admins and researchers).
    `format=html` is a self-contained page with plots, in `lang` (one of the survey's or
    the interface's languages: the survey's texts, headings, numbers and dates); `csv`
    has one row per statistic. `alpha_interval=hayes-krippendorff` (or `hk`) gives alpha
    the interval and q of the KALPHA macro instead of the two-way bootstrap of experts and
    items."""
    options = reports.ReportOptions(n_bootstrap, seed, group_by, include_drafts, alpha_interval)
    inputs = reports.report_inputs(session, round_id=round_id, options=options)
    language = reports.report_language(inputs.definition, lang)
    end_transaction(session)  # no connection held while the analysis runs
    document = compute.run(reports.report_document, inputs, format, language)
    headers = {}
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="round-{round_id}-report.csv"'
    if format == "html":  # its stylesheet is inline (it must work saved): allowed by hash
        headers["Content-Security-Policy"] = content_security_policy(
            style_sources=reports.inline_style_hashes(document), scripts=False
        )
    return Response(
        document,
        media_type=reports.MEDIA_TYPES[format],
        headers=headers,
    )


@router.get("/rounds/{round_id}/stability", tags=["reports"])
def stability(round_id: RoundId, session: SessionDep, user: StaffUser) -> JSONResponse:
    """Between a Delphi round and the one before it: who changed, by how much, how the IQR
    and alpha moved, and whether to stop (consensus reached or answers stable)."""
    return JSONResponse(delphi.round_stability(session, round_id=round_id).to_dict())


def _calibration_options(
    n_bootstrap: BootstrapCount = 1000, seed: Seed = 0, weighting: WeightingChoice = "equal"
) -> rubrics.CalibrationOptions:
    return rubrics.CalibrationOptions(n_bootstrap=n_bootstrap, seed=seed, weighting=weighting)


#: ``?n_bootstrap=&seed=&weighting=``: how to calibrate.
CalibrationQuery = Annotated[rubrics.CalibrationOptions, Depends(_calibration_options)]


@router.post("/rounds/{round_id}/calibration", tags=["calibration"])
def calibrate(
    round_id: RoundId,
    session: SessionDep,
    user: StaffUser,
    compute: ComputeDep,
    options: CalibrationQuery,
) -> JSONResponse:
    """Fit the tier thresholds to the panel's holistic tiers (quadratic-weighted kappa), with
    leave-one-item-out agreement and bootstrap tier probabilities (admins and researchers;
    nothing is stored). ``weighting`` says how the experts count, as in publishing; 409
    when its weights cannot be computed (no seed answers, no severity model)."""
    inputs = rubrics.calibration_inputs(session, round_id=round_id, options=options)
    end_transaction(session)  # nothing to write: no lock or connection while computing
    return JSONResponse(compute.run(rubrics.compute_calibration, inputs))


@router.post(
    "/rounds/{round_id}/publish",
    tags=["calibration"],
    response_model=RubricPublished,
    status_code=201,
)
def publish(
    round_id: RoundId,
    body: PublishRequest,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
) -> RubricPublished:
    """Publish the closed round's calibration as the next immutable rubric version."""
    version = rubrics.publish_rubric(
        session,
        round_id=round_id,
        publisher=user,
        context=dict(body.context),
        justification=body.justification,
        n_bootstrap=body.n_bootstrap,
        seed=body.seed,
        weighting=body.weighting,
    )
    slug = version.record["survey"]["slug"]
    audit.record(
        session,
        user.email,
        "rubric.published",
        "rubric",
        f"{slug} v{version.number}",
        round_id=round_id,
    )
    return RubricPublished(
        survey=slug,
        number=version.number,
        digest=version.digest,
        url=f"{settings.base_url}/rubrics/{slug}/v{version.number}",
    )


@router.post(
    "/rounds/{round_id}/responses/{expert_code}/reopen",
    tags=["rounds"],
    response_model=ResponsePublic,
)
def reopen_response(
    round_id: RoundId, expert_code: ExpertCode, session: SessionDep, user: AdminUser
) -> ResponsePublic:
    """Unlock a submitted response while its round is open."""
    response = responses.find_response(session, round_id=round_id, expert_code=expert_code)
    responses.reopen_response(session, response_id=id_of(response))
    audit.record(session, user.email, "response.reopened", "expert", expert_code, round_id=round_id)
    state = responses.load_response_state(session, response_id=id_of(response))
    return _response_out(state)


# --- invitations -----------------------------------------------------------------------


@router.get(
    "/rounds/{round_id}/invitations", tags=["invitations"], response_model=list[InvitationPublic]
)
def list_invitations(
    round_id: RoundId, session: SessionDep, user: AdminUser
) -> list[InvitationPublic]:
    """Invitations of a round with names and e-mails (admin only; tokens are never shown)."""
    return [
        InvitationPublic.model_validate(row)
        for row in invitations.list_invitations(session, round_id=round_id)
    ]


@router.post(
    "/rounds/{round_id}/invitations",
    tags=["invitations"],
    response_model=list[InvitationIssued],
    status_code=201,
)
def invite(
    round_id: RoundId,
    body: InvitationsCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
) -> list[InvitationIssued]:
    """Invite experts; the answer carries each one's secret link, shown this once only."""
    return _invite(session, user, round_id, body.invitees, settings.base_url)


@router.post(
    "/rounds/{round_id}/invitations.csv",
    tags=["invitations"],
    response_model=list[InvitationIssued],
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"example": "name,email,organisation\nAda,ada@example.org,UK AISI\n"}
            },
            "required": True,
        }
    },
)
def invite_csv(
    round_id: RoundId,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
    body: Annotated[bytes, Body(media_type="text/csv")] = b"",
) -> list[InvitationIssued]:
    """Invite experts from a CSV body with columns `name,email,organisation` (and optionally
    `stakeholder_group`), as UTF-8 (or UTF-16 with a byte-order mark); a problem is answered
    with the line it is on."""
    people = invitations.read_invitees_csv(body, filename="request body", field="body")
    return _invite(session, user, round_id, people, settings.base_url)


@router.post("/invitations/{invitation_id}/revoke", tags=["invitations"], status_code=204)
def revoke(invitation_id: InvitationId, session: SessionDep, user: AdminUser) -> Response:
    """Revoke a link: it stops working at once, and so do sessions opened with it."""
    revoked = invitations.revoke_invitation(session, invitation_id=invitation_id)
    audit.record(
        session,
        user.email,
        "invitation.revoked",
        "invitation",
        invitation_id,
        round_id=revoked.round_id,
    )
    return Response(status_code=204)


@router.post(
    "/invitations/{invitation_id}/reissue", tags=["invitations"], response_model=InvitationIssued
)
def reissue(
    invitation_id: InvitationId, session: SessionDep, settings: SettingsDep, user: AdminUser
) -> InvitationIssued:
    """Replace a link with a new one (for a lost or leaked link)."""
    issued = invitations.reissue_invitation(session, invitation_id=invitation_id)
    audit.record(
        session,
        user.email,
        "invitation.reissued",
        "invitation",
        invitation_id,
        round_id=issued.round_id,
    )
    return _issued(issued, settings.base_url)


# --- e-mail to the panel ------------------------------------------------------------------


@router.post("/rounds/{round_id}/remind", tags=["invitations"], response_model=RemindersQueued)
def remind(
    round_id: RoundId, session: SessionDep, settings: SettingsDep, user: AdminUser
) -> RemindersQueued:
    """E-mail a reminder to every invited expert of an open round who has not submitted.
    Each gets a new link, which replaces the earlier one; signed-in experts stay signed in."""
    reminded = mail.queue_reminders(session, round_id=round_id, sender=mail.Sender.of(settings))
    audit.record(
        session,
        user.email,
        "reminders.queued",
        "round",
        round_id,
        round_id=round_id,
        count=len(reminded),
    )
    return RemindersQueued(
        round_id=round_id,
        queued=len(reminded),
        reminded=[RemindedPublic.model_validate(one) for one in reminded],
    )


@router.get("/rounds/{round_id}/mail", tags=["invitations"], response_model=list[MailStatusPublic])
def mail_status(round_id: RoundId, session: SessionDep, user: AdminUser) -> list[MailStatusPublic]:
    """Per invitation, its latest e-mail: queued, sending, sent (when) or failed (why)."""
    return [
        MailStatusPublic.model_validate(row) for row in mail.mail_status(session, round_id=round_id)
    ]


@router.get(
    "/rounds/{round_id}/mail/preview", tags=["invitations"], response_model=MailPreviewPublic
)
def mail_preview(
    round_id: RoundId,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
    kind: Literal["invitation", "reminder", "receipt"] = "invitation",
) -> MailPreviewPublic:
    """An e-mail of the round as its first invited expert would read it (the survey file's
    wording or the built-in one; a sample in place of the personal link)."""
    shown = mail.preview(session, round_id=round_id, kind=kind, sender=mail.Sender.of(settings))
    return MailPreviewPublic.model_validate(shown)


# --- staff accounts ----------------------------------------------------------------------

UserId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="Account id")]


@router.get("/users", tags=["users"], response_model=list[UserAccount])
def list_users(session: SessionDep, user: AdminUser) -> list[UserAccount]:
    """Every staff account: role, active or not, second factor, newest sign-in if known."""
    return [UserAccount.model_validate(one) for one in users.list_accounts(session)]


@router.post("/users", tags=["users"], response_model=UserAccount, status_code=201)
def create_user(
    body: UserCreate, session: SessionDep, settings: SettingsDep, user: AdminUser
) -> UserAccount:
    """Create a staff account. Without a `password` the new colleague is e-mailed a
    one-time link to set their own."""
    created = users.create_user(
        session, email=body.email, password=body.password or new_password(), role=body.role
    )
    audit.record(session, user.email, "user.created", "user", created.email, role=body.role)
    if body.password is None:
        sender = mail.Sender.of(settings)
        users.request_password_reset(session, email=created.email, sender=sender)
        audit.record(session, user.email, "user.reset_sent", "user", created.email)
    return UserAccount.model_validate(users.account_of(created))


@router.patch("/users/{user_id}", tags=["users"], response_model=UserAccount)
def update_user(
    user_id: UserId, body: UserUpdate, session: SessionDep, user: AdminUser
) -> UserAccount:
    """Change an account's role or deactivate (every session ends) / re-activate it. The
    last active admin can be neither demoted nor deactivated (409)."""
    target = users.get_user(session, user_id=user_id)
    if body.role is not None and body.role != target.role:
        moved = audit.Change({"role": target.role}, {"role": body.role})
        users.set_role(session, email=target.email, role=body.role)
        audit.record(session, user.email, "user.role_changed", "user", target.email, changed=moved)
    if body.is_active is not None and body.is_active != target.is_active:
        change = users.activate_user if body.is_active else users.deactivate_user
        change(session, email=target.email)
        action = "user.activated" if body.is_active else "user.deactivated"
        audit.record(session, user.email, action, "user", target.email)
    return UserAccount.model_validate(users.account_of(target))


@router.post("/users/{user_id}/password-reset", tags=["users"], response_model=PasswordResetSent)
def send_password_reset(
    user_id: UserId, session: SessionDep, settings: SettingsDep, user: AdminUser
) -> PasswordResetSent:
    """E-mail the account a one-time link to set a new password (it works for two hours;
    an earlier unused link stops working; using it ends every session of the account)."""
    target = users.get_user(session, user_id=user_id)
    sent = users.request_password_reset(
        session, email=target.email, sender=mail.Sender.of(settings)
    )
    audit.record(session, user.email, "user.reset_sent", "user", target.email)
    return PasswordResetSent.model_validate(sent)


@router.post("/account/password", tags=["auth"], status_code=204)
def change_password(body: PasswordChange, session: SessionDep, user: StaffUser) -> Response:
    """Change your own password, giving the current one; every session of your account ends
    (the token used here too)."""
    users.change_own_password(
        session,
        user_id=id_of(user),
        current_password=body.current_password,
        new_password=body.new_password,
    )
    audit.record(session, user.email, "user.password_changed", "user", user.email)
    return Response(status_code=204)


@router.put("/account/language", tags=["auth"], response_model=StaffLanguage)
def choose_language(body: StaffLanguage, session: SessionDep, user: StaffUser) -> StaffLanguage:
    """The language of your staff pages: `en`, `fr` or `ar`, or null to follow the
    browser's (Accept-Language)."""
    users.set_language(session, user_id=id_of(user), language=body.language)
    return body


# --- audit trail and rating history ------------------------------------------------------


@router.get("/audit", tags=["audit"], response_model=AuditPagePublic)
def audit_trail(
    session: SessionDep,
    user: AdminUser,
    round_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
    before: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
) -> AuditPagePublic:
    """What staff did, newest first (of one round if `round_id` is given); pass
    `next_before` as `before` for older entries."""
    found = audit.entries(session, round_id=round_id, limit=limit, before=before)
    return AuditPagePublic.model_validate(found)


HistoryFilter = Annotated[str | None, Query(max_length=64)]


def _history_scope(
    round_id: RoundId, expert: HistoryFilter = None, item: HistoryFilter = None
) -> audit.HistoryScope:
    """The round's rating history, of one expert (code) and/or one item when given."""
    return audit.HistoryScope(round_id, expert_code=expert, item=item)


HistoryScopeDep = Annotated[audit.HistoryScope, Depends(_history_scope)]


@router.get("/rounds/{round_id}/history", tags=["audit"], response_model=list[RatingChangePublic])
def rating_history(
    scope: HistoryScopeDep, session: SessionDep, user: StaffUser
) -> list[RatingChangePublic]:
    """Every saved state of the round's ratings, of one expert (code) and/or one item if
    given, by expert, item, dimension and revision (admins and researchers: codes, never
    names)."""
    history = audit.rating_history(session, scope=scope)
    return [RatingChangePublic.model_validate(h) for h in history]


@csv_route(router, "/rounds/{round_id}/history.csv", tag="audit", description="History")
def rating_history_csv(scope: HistoryScopeDep, session: SessionDep, user: StaffUser) -> Response:
    """The rating history as CSV (the download is recorded in the audit trail)."""
    begin_writing(session)
    text = audit.export_history(session, actor=user.email, scope=scope)
    return attachment(text, filename=f"round-{scope.round_id}-history.csv")


# --- the expert's own response (bearer: the invitation token) ---------------------------


@router.get("/expert/survey", tags=["expert"])
def expert_survey(expert: Expert, session: SessionDep) -> dict:  # type: ignore[type-arg]
    """The survey definition and round this invitation is for, its texts in the invitation's
    language (``language``; every language's texts are under ``survey.translations``); in a
    later Delphi round also the panel's anonymous feedback from the previous round and your
    own earlier answers."""
    state = responses.load_response_state(
        session, response_id=id_of(expert.response), language=expert.invitation.language
    )
    return {
        "language": state.language,
        "round": {
            "id": state.round.id,
            "name": state.round.name,
            "sequence": state.round.sequence,
            "status": state.round.status,
            "closes_at": state.round.closes_at,
            "items": [item.key for item in state.items],
        },
        # Never the answers the panel is scored against: calibration items' references,
        # seed questions' realisations.
        "survey": state.definition.model_dump(
            mode="json",
            exclude={
                "items": {"__all__": {"reference"}},
                "quantities": {"__all__": {"realisation"}},
            },
        ),
        # Delphi rounds: the panel's anonymous feedback and your own previous answers.
        "feedback": (state.round.feedback or {}).get("items"),
        "previous_answers": [
            {
                "item": i,
                "dimension": d,
                "status": r.status,
                "value": r.value,
                "rationale": r.rationale,
            }
            for (i, d), r in sorted(state.previous.items())
        ],
    }


@router.put("/expert/language", tags=["expert"], response_model=ExpertLanguage)
def expert_language(body: LanguageChoice, expert: Expert, session: SessionDep) -> ExpertLanguage:
    """Read the survey in another of its languages from now on: its texts here, the pages,
    the e-mails; your answers record it. A language the survey is not given in is refused."""
    invitation = invitations.set_invitation_language(
        session, invitation_id=id_of(expert.invitation), language=body.language
    )
    state = responses.load_response_state(
        session, response_id=id_of(expert.response), language=invitation.language
    )
    source = state.source or state.definition
    return ExpertLanguage(language=state.language, languages=list(source.languages))


@router.get("/expert/response", tags=["expert"], response_model=ResponsePublic)
def expert_response(expert: Expert, session: SessionDep) -> ResponsePublic:
    """Your own answers so far, what is still missing, and the response status."""
    state = responses.load_response_state(session, response_id=id_of(expert.response))
    return _response_out(state)


@router.post("/expert/consent", tags=["expert"], response_model=ResponsePublic)
def expert_consent(expert: Expert, session: SessionDep) -> ResponsePublic:
    """Record consent to take part (needed before submitting)."""
    responses.give_consent(
        session, response_id=id_of(expert.response), language=expert.invitation.language
    )
    state = responses.load_response_state(session, response_id=id_of(expert.response))
    return _response_out(state)


@router.put("/expert/ratings", tags=["expert"], response_model=list[RatingPublic])
def expert_save(body: RatingsSave, expert: Expert, session: SessionDep) -> list[RatingPublic]:
    """Save ratings (all or nothing). Answers are kept as drafts until you submit; every
    change is kept in the history."""
    saving = Saving(id_of(expert.response), language=expert.invitation.language)
    saved = responses.save_ratings(session, saving, ratings=body.ratings)
    return [
        RatingPublic(
            item=r.item_key,
            dimension=r.dimension_key,
            **r.model_dump(exclude={"item_key", "dimension_key"}),
        )
        for r in saved
    ]


@router.put("/expert/factors", tags=["expert"], response_model=SensitivityPublic | None)
def expert_factors(
    body: SensitivityInput, expert: Expert, session: SessionDep
) -> SensitivityPublic | None:
    """Say which of the survey's context factors would change your rating of an item if they
    changed (when the survey asks: ``survey.context.sensitivity_question``): ``factors`` []
    for none of them, null to take the answer back (then the reply is null)."""
    saved = sensitivity.save_sensitivity(
        session,
        response_id=id_of(expert.response),
        answer=body,
        language=expert.invitation.language,
    )
    return None if saved is None else SensitivityPublic.of(saved)


@router.post("/expert/submit", tags=["expert"], response_model=ResponsePublic)
def expert_submit(expert: Expert, session: SessionDep, settings: SettingsDep) -> ResponsePublic:
    """Submit and lock your response (a receipt is e-mailed unless the survey turns it off)."""
    responses.submit_response(session, response_id=id_of(expert.response))
    mail.queue_receipt(session, response_id=id_of(expert.response), sender=mail.Sender.of(settings))
    state = responses.load_response_state(session, response_id=id_of(expert.response))
    return _response_out(state)


def _response_out(state: responses.ResponseState) -> ResponsePublic:
    """An expert's own response as the API shows it (never anyone else's)."""
    return ResponsePublic(
        round_id=id_of(state.round),
        expert_code=state.expert_code,
        status=state.response.status,  # type: ignore[arg-type]  # checked by the table
        consent_given=state.consented,
        submitted_at=state.response.submitted_at,
        answered=state.answered,
        expected=len(state.expected),
        missing=[{"item": i, "dimension": d} for i, d in state.missing],
        ratings=[
            RatingPublic(
                item=r.item_key,
                dimension=r.dimension_key,
                status=r.status,  # type: ignore[arg-type]  # a CHECK constraint keeps it to these
                value=r.value,
                confidence=r.confidence,  # type: ignore[arg-type]  # likewise
                rationale=r.rationale,
                share_rationale=r.share_rationale,
                revision=r.revision,
                updated_at=r.updated_at,
            )
            for r in state.ratings_in_order()
        ],
        factor_sensitivities=[SensitivityPublic.of(row) for row in state.sensitivity_rows],
    )


def _round_out(session: Session, round_: Round) -> RoundPublic:
    return RoundPublic.model_validate(rounds.round_details(session, round_))


def _scheduled_out(session: Session, round_: Round) -> RoundSchedulePublic:
    shown = _round_out(session, round_).model_dump()
    state = schedule.schedule_state(session, round_id=id_of(round_))
    steps = state.model_dump(include={"schedule", "steps_done", "next_step"})
    return RoundSchedulePublic.model_validate({**shown, **steps})


def _invite(
    session: Session, user: User, round_id: int, people: list[InviteeCreate], base_url: str
) -> list[InvitationIssued]:
    """Invite the experts, record it, and answer with each one's link."""
    issued = invitations.invite_experts(session, round_id=round_id, invitees=people)
    audit.record(
        session,
        user.email,
        "invitations.created",
        "round",
        round_id,
        round_id=round_id,
        count=len(issued),
    )
    return [_issued(i, base_url) for i in issued]


def _issued(i: invitations.IssuedInvitation, base_url: str) -> InvitationIssued:
    return InvitationIssued(
        invitation_id=i.invitation_id,
        expert_code=i.expert_code,
        name=i.name,
        email=i.email,
        url=i.url(base_url),
    )


# --- webhook subscriptions ------------------------------------------------------------------

SubscriptionId = Annotated[
    int, Path(ge=1, le=DB_INT_MAX, description="Webhook subscription id", examples=[1])
]


@router.get("/webhooks", tags=["webhooks"], response_model=list[WebhookPublic])
def list_webhooks(session: SessionDep, user: AdminUser) -> list[WebhookPublic]:
    """Every webhook subscription, newest first (never a secret)."""
    return [WebhookPublic.model_validate(s) for s in webhooks.list_subscriptions(session)]


@router.post("/webhooks", tags=["webhooks"], response_model=WebhookCreated, status_code=201)
def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
    response: Response,
) -> WebhookCreated:
    """Tell a public http(s) address of one survey's rubric events (or every survey's):
    versions published, reviews opened and closed, each POSTed as JSON and signed with
    HMAC-SHA256 under the `secret` returned here, this once."""
    end_transaction(session)  # no lock held while the address's name is looked up
    url = webhooks.checked_url(body.url, allow_private=settings.webhook_allow_private)
    created = webhooks.create_subscription(
        session,
        url=url,
        survey=body.survey,
        actor=user.email,
        allow_private=settings.webhook_allow_private,
    )
    response.headers["Cache-Control"] = "no-store"
    return WebhookCreated.model_validate(created)


@router.post(
    "/webhooks/{subscription_id}/deactivate", tags=["webhooks"], response_model=WebhookPublic
)
def deactivate_webhook(
    subscription_id: SubscriptionId, session: SessionDep, user: AdminUser
) -> WebhookPublic:
    """Stop telling the subscriber: nothing more is queued for it, and what is queued is not
    sent."""
    done = webhooks.deactivate_subscription(
        session, subscription_id=subscription_id, actor=user.email
    )
    return WebhookPublic.model_validate(done)


@router.delete("/webhooks/{subscription_id}", tags=["webhooks"], status_code=204)
def delete_webhook(
    subscription_id: SubscriptionId, session: SessionDep, user: AdminUser
) -> Response:
    """Delete a subscription and the record of its deliveries."""
    webhooks.delete_subscription(session, subscription_id=subscription_id, actor=user.email)
    return Response(status_code=204)


@router.get("/webhooks/deliveries", tags=["webhooks"], response_model=list[WebhookDeliveryPublic])
def webhook_deliveries(
    session: SessionDep,
    user: AdminUser,
    subscription: Annotated[
        int | None, Query(ge=1, le=DB_INT_MAX, description="Only this subscription's")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WebhookDeliveryPublic]:
    """The newest deliveries: queued, sending, sent or failed, with the number of attempts,
    the subscriber's HTTP status and the last error."""
    shown = webhooks.list_deliveries(session, subscription_id=subscription, limit=limit)
    return [WebhookDeliveryPublic.model_validate(d) for d in shown]


__all__ = ["CallerDep", "router"]
