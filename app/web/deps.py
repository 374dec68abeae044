"""Request dependencies: the database session, who is asking, CSRF. Written once, used by
every route, so no route can forget a permission check."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.config import Settings
from app.db import begin_writing, session_scope
from app.errors import Forbidden, NotAuthenticated, NotFound
from app.i18n import N_
from app.models import Invitation, Response, User, WebSession, utcnow
from app.security import constant_time_equal
from app.services import auth, responses, sessions
from app.web.computing import ComputePool

SESSION_COOKIE = "elicit_session"
CSRF_HEADER = "x-csrf-token"


# Dependencies that do no I/O are async: FastAPI runs a sync one in the threadpool, one
# thread hop (and a wait for a free thread under load) per dependency per request.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    # scope="function" below: the commit happens before the response is sent, so an
    # acknowledged save is durable. GET and HEAD only read: they take no write lock, and
    # the few that must write (an expert's first visit) call begin_writing.
    read_only = request.method in ("GET", "HEAD")
    with session_scope(request.app.state.engine, read_only=read_only) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_compute(request: Request) -> ComputePool:
    compute: ComputePool = request.app.state.compute
    return compute


ComputeDep = Annotated[ComputePool, Depends(get_compute)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Caller:
    """Who is making the request, and how they authenticated."""

    web_session: WebSession | None
    via_cookie: bool
    user: User | None = None
    invitation: Invitation | None = None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_address(request: Request) -> str:
    """The client's address (behind a proxy, as the server's forwarded-header rules give it)."""
    return request.client.host if request.client else "unknown"


def get_caller(request: Request, session: SessionDep) -> Caller:
    token = _bearer(request)
    via_cookie = token is None
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return Caller(None, via_cookie)
    row = sessions.resolve_session(session, token=token)
    if row is not None:
        user = session.get(User, row.user_id) if row.user_id else None
        invitation = session.get(Invitation, row.invitation_id) if row.invitation_id else None
        return Caller(row, via_cookie, user, invitation)
    if not via_cookie:
        # The expert API also takes the invitation token itself as a bearer token; guessing
        # it is throttled per client address like the invitation link.
        try:
            invitation = auth.find_invitation_guarded(
                session, token=token, address=client_address(request)
            )
        except NotFound:
            return Caller(None, via_cookie)
        return Caller(None, False, None, invitation)
    return Caller(None, via_cookie)


CallerDep = Annotated[Caller, Depends(get_caller)]


def check_csrf(request: Request, caller: Caller, form_token: str | None = None) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (form field or header)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not caller.via_cookie:
        return
    if caller.web_session is None:
        return
    sent = form_token or request.headers.get(CSRF_HEADER) or ""
    if not constant_time_equal(sent, caller.web_session.csrf_token):
        raise Forbidden(
            N_("the form has expired or did not come from this site; reload the page and try again")
        )


async def _staff(request: Request, caller: CallerDep) -> User:
    if caller.user is None:
        raise NotAuthenticated(N_("sign in first (POST /api/auth/login, or the /login page)"))
    if request.url.path.startswith("/api/"):
        check_csrf(request, caller)
    _check_enrolled(request, caller.user)
    return caller.user


#: Where an admin without the second factor the server requires may still go: the pages
#: and the API call that set it up or change the password.
_ENROLMENT_PATHS = ("/account", "/api/account/")


def _check_enrolled(request: Request, user: User) -> None:
    """With REQUIRE_ADMIN_TOTP an admin without a second factor may use only the account
    page (where it is set up) until they have one: on every page and API route, whatever
    the session or token was issued before the setting was switched on."""
    settings: Settings = request.app.state.settings
    if not settings.require_admin_totp or user.role != "admin" or user.totp_secret is not None:
        return
    path = request.url.path
    if path == "/account" or path.startswith(_ENROLMENT_PATHS):
        return
    raise Forbidden(
        N_(
            "admins need a second factor on this server: set it up on your account page "
            "(/account) before anything else"
        )
    )


async def require_staff(user: Annotated[User, Depends(_staff)]) -> User:
    return user


async def require_admin(user: Annotated[User, Depends(_staff)]) -> User:
    if user.role != "admin":
        raise Forbidden(N_("this needs the admin role"))
    return user


StaffUser = Annotated[User, Depends(require_staff)]
AdminUser = Annotated[User, Depends(require_admin)]


@dataclass(frozen=True)
class ExpertContext:
    invitation: Invitation
    response: Response
    caller: Caller


def require_expert(request: Request, caller: CallerDep, session: SessionDep) -> ExpertContext:
    """The invited expert making this request, with their (possibly new) response."""
    if caller.invitation is None:
        raise NotAuthenticated(
            N_("open your personal invitation link first, or send its token as a bearer token")
        )
    if request.url.path.startswith("/api/"):
        check_csrf(request, caller)
    invitation = caller.invitation
    now = utcnow()
    # Note use at most once a minute: a write on every page view would contend for nothing.
    stale = invitation.last_used_at is None or (now - invitation.last_used_at).total_seconds() > 60
    response = responses.invitation_response(session, invitation=invitation)
    if response is None or stale:
        begin_writing(session)
        response = responses.start_response(session, invitation=invitation)
        if stale:
            invitation.last_used_at = now
            session.add(invitation)
    return ExpertContext(invitation, response, caller)


Expert = Annotated[ExpertContext, Depends(require_expert)]
