"""Readiness check for load balancers, orchestrators and the load benchmark."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from app.web.deps import SessionDep

router = APIRouter()


@router.get("/healthz", tags=["health"], responses={503: {"description": "Database unreachable"}})
def healthz(session: SessionDep) -> dict[str, str]:
    """``{"status": "ok"}`` when this worker can reach the database (no sign-in needed);
    503 with Retry-After when it cannot or is overloaded."""
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok"}
