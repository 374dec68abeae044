"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.config import Settings, get_settings
from app.db import EngineLimits, make_engine
from app.templating import STATIC_DIR, make_environment
from app.web import (
    admin_pages,
    api,
    assets,
    context_api,
    context_pages,
    health,
    pages,
    public,
    quantity_api,
    quantity_pages,
    survey_pages,
)
from app.web.admission import HEAVY_LIMIT, SIGN_IN_LIMIT, AdmissionControl
from app.web.computing import ComputePool
from app.web.errors import BodySizeLimit, SecurityHeaders, install_error_handlers


def engine_limits(settings: Settings) -> EngineLimits:
    """The web app's database limits: a request never waits longer than its time-out, and
    every request admitted (see app.web.admission) finds a connection free."""
    return EngineLimits(
        pool_size=settings.db_pool_size + SIGN_IN_LIMIT + HEAVY_LIMIT,
        wait_seconds=settings.request_timeout,
        statement_seconds=max(60.0, settings.request_timeout * 6),
        idle_in_transaction_seconds=max(60.0, settings.request_timeout * 6),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; tests pass their own settings (and so their own database)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mailer = None
        if settings.mail_worker:  # in each worker after the fork: a thread per worker
            from app.services import mail

            mailer = mail.MailWorker.of(app.state.engine, settings)
            mailer.start()
        yield
        if mailer is not None:
            mailer.stop()
        app.state.compute.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="elicit",
        summary="Expert elicitation surveys, reliability and calibrated tier rubrics",
        version="0.1.0",
        # Served by app.web.assets from vendored files (no CDN, no inline script); no ReDoc.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "auth", "description": "Staff sign-in (admins and researchers)"},
            {"name": "surveys", "description": "Survey definitions and their versions"},
            {"name": "rounds", "description": "Rounds, progress and exports"},
            {"name": "invitations", "description": "Personal invitation links"},
            {"name": "reports", "description": "Reliability and consensus reports"},
            {"name": "calibration", "description": "Tier thresholds and published rubrics"},
            {"name": "rubrics", "description": "Public, read-only published rubric versions"},
            {"name": "health", "description": "Readiness of this worker and its database"},
            {
                "name": "expert",
                "description": "An invited expert's own response; authenticate with the "
                "invitation token as a bearer token",
            },
        ],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, limits=engine_limits(settings))
    app.state.compute = ComputePool(settings.compute_processes)
    templates = Jinja2Templates(env=make_environment())
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(context_api.router)
    app.include_router(quantity_api.router)
    app.include_router(pages.router)
    app.include_router(survey_pages.router)
    app.include_router(quantity_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(context_pages.router)
    app.include_router(public.feeds)  # ahead of public.router: see there
    app.include_router(public.router)
    app.include_router(health.router)
    app.include_router(assets.router)
    install_error_handlers(app)
    # Added innermost first: the body limit wraps admission, so queued bodies stay bounded.
    app.add_middleware(
        AdmissionControl,
        limit=settings.db_pool_size,
        max_queue=settings.max_queue,
        timeout=settings.request_timeout,
        queue_wait=min(settings.queue_wait, settings.request_timeout),
    )
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)

    app.add_middleware(SecurityHeaders)
    return app
