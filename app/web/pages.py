"""Server-rendered pages outside the questionnaire and the admin console: the landing
page, the privacy page, staff sign-in (with its second step when the account has a second
factor), one's own account and password-reset links. (The expert's pages are in
``survey_pages``, the admin console in ``admin_pages``, what they share in ``page_support``.)"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from app import i18n
from app.config import Settings
from app.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyAttempts
from app.i18n import N_
from app.models import id_of
from app.services import audit, auth, sessions, surveys, users
from app.survey_files import SurveyDefinition
from app.web.deps import (
    SESSION_COOKIE,
    Caller,
    CallerDep,
    SessionDep,
    SettingsDep,
    check_csrf,
    client_address,
)
from app.web.errors import http_status, reader_language
from app.web.page_support import (
    FormDep,
    Refused,
    StaffFormDep,
    StaffPage,
    StaffPageDep,
    redirect,
    render,
    set_session_cookie,
)
from app.web.params import Slug

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "elicit_login_csrf"
# Over HTTPS the __Host- prefix stops a sibling subdomain from planting its own token.
SECURE_LOGIN_CSRF_COOKIE = "__Host-elicit_login_csrf"


def _login_cookie(request: Request) -> str:
    secure = request.app.state.settings.secure_cookies
    return SECURE_LOGIN_CSRF_COOKIE if secure else LOGIN_CSRF_COOKIE


# --- landing ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: CallerDep) -> Response:
    if caller.invitation is not None:
        return redirect("/survey")
    if caller.user is not None:
        return redirect("/admin")
    return render(request, "home.html", caller=caller)


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, caller: CallerDep, settings: SettingsDep) -> Response:
    """What is stored about the panel, why, for how long, who sees it, and the rights."""
    return _privacy(request, caller, settings, None)


@router.get("/privacy/{slug}", response_class=HTMLResponse)
def survey_privacy_page(
    slug: Slug, request: Request, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """The privacy notice of one survey: the general page with what this survey asks (its
    dimensions, rationales, overall tiers), whether rationales are shown to the panel in
    later rounds, and whether receipts are e-mailed, from its newest version's file."""
    version = surveys.get_survey_version(session, slug=slug)
    return _privacy(request, caller, settings, surveys.definition_of(version))


def _privacy(
    request: Request, caller: Caller, settings: Settings, definition: SurveyDefinition | None
) -> Response:
    # Experts read it in their language (the one their questionnaire last used, else their
    # browser's); staff pages are in English.
    language = "en" if caller.user is not None else reader_language(request)
    if definition is not None:
        definition = definition.localized(definition.language_or_source(language))
    context = {
        "retention_days": settings.retention_days,
        "privacy_contact": settings.privacy_contact,
        "survey": definition,
        "language": language,
    }
    return render(request, "privacy.html", context, caller=caller)


# --- staff sign-in ----------------------------------------------------------------------


#: What the sign-in page says after a password was set (the sessions ended with it).
_DONE = {
    "password": N_("Your password was changed. Please sign in with the new one."),
    "reset": N_("Your new password is set. Please sign in with it."),
}


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, done: Literal["password", "reset"] | None = None) -> Response:
    token = request.cookies.get(_login_cookie(request)) or secrets.token_urlsafe(24)
    notice = _DONE[done] if done else ""
    response = render(request, "login.html", {"login_csrf": token, "error": "", "notice": notice})
    response.set_cookie(
        _login_cookie(request),
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, settings: SettingsDep, form: FormDep) -> Response:
    sent = str(form.get("csrf_token", ""))
    expected = request.cookies.get(_login_cookie(request), "")
    email = str(form.get("email", ""))
    # Login CSRF: a form whose Origin (or Referer) names another site is refused; when the
    # browser hides it ("null", no header) the double-submit cookie decides: SameSite=Strict,
    # HttpOnly, and __Host- over HTTPS, so no other site can send or plant it.
    if not _same_origin(request, settings.base_url) or (
        not expected or not secrets.compare_digest(sent, expected)
    ):
        return render(
            request,
            "login.html",
            {
                "login_csrf": expected or secrets.token_urlsafe(24),
                "error": N_("The form expired; please try again."),
            },
            status=403,
        )
    pending = str(form.get("pending", ""))
    address, engine = client_address(request), request.app.state.engine
    try:
        if pending:
            signed: auth.SignedIn | auth.CodeNeeded = auth.continue_sign_in(
                engine,
                pending=pending,
                code=str(form.get("code", "")),
                address=address,
                hours=settings.session_hours,
            )
        else:
            signed = auth.sign_in(
                engine,
                email=email,
                password=str(form.get("password", "")),
                address=address,
                rules=auth.SignInRules(settings.session_hours, settings.require_admin_totp),
            )
    except (NotAuthenticated, TooManyAttempts) as exc:
        # A wrong code keeps the second step; anything else starts again.
        again = pending if exc.field == "code" or isinstance(exc, TooManyAttempts) else ""
        page = render(
            request,
            "login.html",
            {"login_csrf": expected, "error": exc.message, "email": email, "pending": again},
            status=http_status(exc),
        )
        if isinstance(exc, TooManyAttempts):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if isinstance(signed, auth.CodeNeeded):
        context = {"login_csrf": expected, "error": "", "email": signed.email}
        return render(request, "login.html", context | {"pending": signed.pending})
    response = redirect("/account" if signed.must_enrol else "/admin")
    set_session_cookie(response, signed.token, request)
    response.delete_cookie(_login_cookie(request))
    return response


def _same_origin(request: Request, base_url: str) -> bool:
    """False when the browser says the request came from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":  # a no-referrer policy hides it: the cookie check decides
        return True
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    base = urlsplit(base_url)
    own.add(f"{base.scheme}://{base.netloc}")
    return origin.rstrip("/") in own


@router.post("/logout")
def logout(request: Request, caller: CallerDep, session: SessionDep, form: FormDep) -> Response:
    check_csrf(request, caller, str(form.get("csrf_token", "")))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions.end_session(session, token=token)
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- one's own account ------------------------------------------------------------------


@router.get("/account", response_class=HTMLResponse)
def account_page(
    page: StaffPageDep, done: Literal["totp-on", "totp-off", "language"] | None = None
) -> Response:
    notice = {
        "totp-on": N_("The second factor is on."),
        "totp-off": N_("The second factor is off."),
        "language": N_("Your pages are now shown in the language you chose."),
    }
    return _account(page, notice=notice[done] if done else "")


def _account(
    page: StaffPage,
    *,
    notice: str = "",
    refused: Refused | None = None,
    enrolment: users.TotpEnrolment | None = None,
) -> Response:
    required = page.settings.require_admin_totp and page.user.role == "admin"
    context = {
        "notice": notice,
        "enrolment": enrolment,
        "totp_enabled": page.user.totp_secret is not None,
        "totp_required": required,
        "interface_languages": [
            (code, i18n.language_name(code)) for code in i18n.INTERFACE_LANGUAGES
        ],
    }
    return page.render_form("account.html", context, refused)


@router.post("/account/language")
def account_language(page: StaffFormDep) -> Response:
    """The staff member's pages in the language they choose ("" follows the browser)."""
    try:
        users.set_language(
            page.session, user_id=id_of(page.user), language=page.text("language") or None
        )
    except InvalidInput as exc:
        return _account(page, refused=page.refuse({"language": exc.message}))
    return redirect("/account?done=language")


@router.post("/account/password")
def account_password(page: StaffFormDep) -> Response:
    new = page.text("new_password")
    if new != page.text("new_password_again"):
        errors = {"new_password_again": N_("the two new passwords differ")}
        return _account(page, refused=page.refuse(errors))
    try:
        users.change_own_password(
            page.session,
            user_id=id_of(page.user),
            current_password=page.text("current_password"),
            new_password=new,
        )
    except InvalidInput as exc:
        return _account(page, refused=page.refuse({exc.field or "new_password": exc.message}))
    _audit(page, "user.password_changed")
    response = redirect("/login?done=password")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/account/totp/begin", response_class=HTMLResponse)
def account_totp_begin(page: StaffFormDep) -> Response:
    return _account(page, enrolment=users.begin_totp(page.user))


@router.post("/account/totp/confirm")
def account_totp_confirm(page: StaffFormDep) -> Response:
    secret = page.text("secret")
    try:
        users.confirm_totp(
            page.session, user_id=id_of(page.user), secret=secret, code=page.text("code")
        )
    except InvalidInput as exc:
        again = users.TotpEnrolment(secret, users.totp_uri(page.user, secret))
        return _account(page, refused=page.refuse({"code": exc.message}), enrolment=again)
    _audit(page, "user.totp_enabled")
    return redirect("/account?done=totp-on")


@router.post("/account/totp/disable")
def account_totp_disable(page: StaffFormDep) -> Response:
    try:
        users.disable_totp(
            page.session,
            user_id=id_of(page.user),
            code=page.text("code"),
            required_for_admins=page.settings.require_admin_totp,
        )
    except (InvalidInput, Conflict) as exc:
        refused = page.refuse({"disable_code": exc.message}, status=http_status(exc))
        return _account(page, refused=refused)
    _audit(page, "user.totp_disabled")
    return redirect("/account?done=totp-off")


def _audit(page: StaffPage, action: str) -> None:
    actor = page.user.email
    audit.record(page.session, actor=actor, action=action, target_type="user", target_id=actor)


# --- password-reset links ---------------------------------------------------------------

ResetToken = Annotated[str, Path(max_length=64)]


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_page(token: ResetToken, request: Request, session: SessionDep) -> Response:
    """The form to set a new password; showing it does not use the link up."""
    try:
        email = users.check_reset_link(session, token=token)
    except NotFound as exc:
        return render(request, "reset.html", {"invalid": exc.message}, status=404)
    return render(request, "reset.html", {"email": email, "errors": {}})


@router.post("/reset/{token}", response_class=HTMLResponse)
def reset_submit(
    token: ResetToken, request: Request, session: SessionDep, form: FormDep
) -> Response:
    # No CSRF token: the link's own secret, in the address, is one no other site knows.
    password = str(form.get("password", ""))
    try:
        email = users.check_reset_link(session, token=token)
        if password != str(form.get("password_again", "")):
            raise InvalidInput(N_("the two passwords differ"), field="password_again")
        user = users.reset_password(session, token=token, password=password)
    except NotFound as exc:
        session.rollback()
        return render(request, "reset.html", {"invalid": exc.message}, status=404)
    except InvalidInput as exc:
        session.rollback()
        errors = {exc.field or "password": exc.message}
        return render(request, "reset.html", {"email": email, "errors": errors}, status=422)
    audit.record(
        session,
        actor=user.email,
        action="user.password_reset",
        target_type="user",
        target_id=user.email,
    )
    response = redirect("/login?done=reset")
    response.delete_cookie(SESSION_COOKIE)
    return response
