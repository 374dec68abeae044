"""What every server-rendered page shares: rendering a template, redirecting after a
post, reading the submitted form, and the context a staff page works in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app import i18n
from app.config import Settings
from app.errors import InvalidInput, Message
from app.i18n import N_
from app.inputs import text_problem
from app.models import User
from app.services.audit import record as record_audit
from app.web.admission import LANGUAGE_COOKIE
from app.web.deps import (
    SESSION_COOKIE,
    AdminUser,
    Caller,
    CallerDep,
    SessionDep,
    SettingsDep,
    StaffUser,
    check_csrf,
)
from app.web.errors import browser_language


async def get_form(request: Request) -> FormData:
    """The submitted form; text no database can store is refused here, naming the field."""
    form = await request.form(max_files=1, max_fields=2000)
    for name, value in form.multi_items():
        problem = text_problem(name) or (text_problem(value) if isinstance(value, str) else None)
        if problem is not None:
            field = name.encode("unicode_escape").decode("ascii")
            raise InvalidInput(
                N_("%(field)s: %(problem)s"),
                field=field,
                values={"field": field, "problem": Message(problem)},
            )
    return form


FormDep = Annotated[FormData, Depends(get_form)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    caller: Caller | None = None,
    status: int = 200,
) -> HTMLResponse:
    user = caller.user if caller else None
    ctx: dict[str, Any] = {
        "csrf_token": caller.web_session.csrf_token if caller and caller.web_session else "",
        "user": user,
        "language": staff_language(request, user),
    }
    ctx.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    page = templates.TemplateResponse(request, template, ctx, status_code=status)
    if user is not None:
        # Replies made before the application runs (busy, too large) read it from here.
        remember_language(page, request, ctx["language"])
    return page


def remember_language(response: Response, request: Request, language: str) -> None:
    """Keep the language of the reader's pages in a cookie, for the replies that cannot
    ask the database (error pages, and the busy and too-large pages)."""
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )


def staff_language(request: Request, user: User | None) -> str:
    """The language of a staff page: the one the account chose, else the best the browser
    asks for (Accept-Language) of the interface's, else English."""
    if user is not None and user.language in i18n.INTERFACE_LANGUAGES:
        return str(user.language)
    return browser_language(request, i18n.INTERFACE_LANGUAGES) or i18n.SOURCE_LANGUAGE


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def form_error(exc: ValidationError) -> InvalidInput:
    """A form's first invalid field, in the words the page shows."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "form"
    return InvalidInput(f"{field.replace('_', ' ').capitalize()}: {first['msg']}", field=field)


@dataclass(frozen=True)
class Refused:
    """A posted form shown again: the message beside each field, what was typed (kept in
    the form) and the status to answer with."""

    errors: dict[str, str]
    typed: dict[str, str] = field(default_factory=dict)
    status: int = 422


@dataclass(frozen=True)
class StaffPage:
    """What a staff page's handler works with: the request, who is asking (signed in, with
    the role the route needs), their unit of work and the settings."""

    request: Request
    caller: Caller
    user: User
    session: Session
    settings: Settings

    @property
    def language(self) -> str:
        """The language of the staff member's pages."""
        return staff_language(self.request, self.user)

    def render(
        self, template: str, context: dict[str, Any] | None = None, *, status: int = 200
    ) -> HTMLResponse:
        return render(self.request, template, context, caller=self.caller, status=status)

    def refuse(
        self, errors: dict[str, str], typed: dict[str, str] | None = None, status: int = 422
    ) -> Refused:
        """The form is refused: its change is rolled back, to be shown again with these
        errors (see :meth:`render_form`)."""
        self.session.rollback()
        return Refused(errors, typed or {}, status)

    def render_form(
        self, template: str, context: dict[str, Any], refused: Refused | None = None
    ) -> HTMLResponse:
        """A page of forms, with the errors and what was typed when one was refused."""
        shown = refused or Refused({}, status=200)
        form = {"errors": shown.errors, "typed": shown.typed}
        return self.render(template, {**context, **form}, status=shown.status)

    def audit(
        self, action: str, target_type: str, target_id: object = None, **details: Any
    ) -> None:
        """One entry of the audit trail by this staff member, in the page's unit of work
        (``audit.record`` after its session and actor)."""
        record_audit(self.session, self.user.email, action, target_type, target_id, **details)


@dataclass(frozen=True)
class StaffForm(StaffPage):
    """A form a staff member posted, its CSRF token already checked."""

    form: FormData

    def text(self, name: str) -> str:
        """A text field of the form, "" when it was not sent (or was a file)."""
        value = self.form.get(name, "")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class AdminForm(StaffForm):
    """A form an admin posted, its CSRF token already checked."""


async def _staff_page(
    request: Request, user: StaffUser, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> StaffPage:
    # The error pages of this request are in the staff member's language.
    request.state.page_language = staff_language(request, user)
    return StaffPage(request, caller, user, session, settings)


async def _admin_page(
    request: Request, user: AdminUser, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> StaffPage:
    request.state.page_language = staff_language(request, user)
    return StaffPage(request, caller, user, session, settings)


#: A page for any signed-in staff member (admins and researchers).
StaffPageDep = Annotated[StaffPage, Depends(_staff_page)]
#: A page only admins may see.
AdminPageDep = Annotated[StaffPage, Depends(_admin_page)]

_Form = TypeVar("_Form", bound=StaffForm)


def _posted(kind: type[_Form], page: StaffPage, form: FormData) -> _Form:
    """The page with the form posted to it, once the form's CSRF token is checked."""
    check_csrf(page.request, page.caller, str(form.get("csrf_token", "")))
    return kind(page.request, page.caller, page.user, page.session, page.settings, form)


async def _staff_form(page: StaffPageDep, form: FormDep) -> StaffForm:
    return _posted(StaffForm, page, form)


async def _admin_form(page: AdminPageDep, form: FormDep) -> AdminForm:
    return _posted(AdminForm, page, form)


#: A form any signed-in staff member may post (their own account).
StaffFormDep = Annotated[StaffForm, Depends(_staff_form)]
#: A form only admins may post.
AdminFormDep = Annotated[AdminForm, Depends(_admin_form)]
