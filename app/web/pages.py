"""Server-rendered pages outside the questionnaire and the admin console: the landing
page and staff sign-in. (The expert's pages are in ``survey_pages``, the admin console in
``admin_pages``, what they share in ``page_support``.)"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import NotAuthenticated, TooManyAttempts
from app.services import auth, sessions
from app.web.deps import (
    SESSION_COOKIE,
    CallerDep,
    SessionDep,
    SettingsDep,
    check_csrf,
    client_address,
)
from app.web.page_support import FormDep, redirect, render, set_session_cookie

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


# --- staff sign-in ----------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    token = request.cookies.get(_login_cookie(request)) or secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "error": ""})
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
                "error": "The form expired; please try again.",
            },
            status=403,
        )
    try:
        signed = auth.sign_in(
            request.app.state.engine,
            email=email,
            password=str(form.get("password", "")),
            address=client_address(request),
            hours=settings.session_hours,
        )
    except (NotAuthenticated, TooManyAttempts) as exc:
        page = render(
            request,
            "login.html",
            {"login_csrf": expected, "error": exc.message, "email": email},
            status=exc.status_code,
        )
        if isinstance(exc, TooManyAttempts):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = redirect("/admin")
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
