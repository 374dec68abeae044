"""The baseline of bench/load.py: a bare endpoint doing the same inserts as a rating save.

No framework beyond Starlette's routing, no validation, no authentication, no round or
ownership checks: one transaction that finds the response by its invitation token's hash,
upserts each rating (revision + 1) and appends its history row, on the same engine
settings as the app (pool, SQLite pragmas). ``uvicorn --factory bench.bare_app:create``.

``PUT /save`` is synchronous in the threadpool, as the app's routes are; on PostgreSQL
``PUT /save-async`` does the same with psycopg's asyncio driver on the event loop, to
measure what async endpoints would gain.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.config import Settings
from app.db import EngineLimits, make_engine
from app.security import hash_token

UPSERT = text(
    "INSERT INTO ratings (response_id, item_key, dimension_key, status, value, rationale, "
    "share_rationale, revision, updated_at) VALUES (:response_id, :item, :dimension, 'value', "
    ":value, '', false, 1, CURRENT_TIMESTAMP) "
    "ON CONFLICT (response_id, item_key, dimension_key) DO UPDATE SET value = excluded.value, "
    "revision = ratings.revision + 1, updated_at = CURRENT_TIMESTAMP RETURNING id, revision"
)
HISTORY = text(
    "INSERT INTO rating_changes (rating_id, response_id, item_key, dimension_key, revision, "
    "status, value, rationale, share_rationale, changed_by, changed_at) VALUES (:rating_id, "
    ":response_id, :item, :dimension, :revision, 'value', :value, '', false, 'bench', "
    "CURRENT_TIMESTAMP)"
)
RESPONSE = text(
    "SELECT r.id FROM invitations i JOIN responses r ON r.round_id = i.round_id "
    "AND r.expert_id = i.expert_id WHERE i.token_hash = :token_hash"
)


def create() -> Starlette:
    settings = Settings(database_url=os.environ["DATABASE_URL"])
    engine = make_engine(
        settings.database_url,
        limits=EngineLimits(pool_size=settings.db_pool_size, wait_seconds=30),
    )

    def save(body: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        with engine.begin() as connection:
            response_id = connection.execute(
                RESPONSE, {"token_hash": hash_token(body["token"])}
            ).scalar_one()
            for r in body["ratings"]:
                params = {"response_id": response_id, "item": r["item"]}
                params.update(dimension=r["dimension"], value=r["value"])
                rating_id, revision = connection.execute(UPSERT, params).one()
                history = {**params, "rating_id": rating_id, "revision": revision}
                connection.execute(HISTORY, history)
                out.append({**r, "revision": revision})
        return out

    async def endpoint(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(await run_in_threadpool(save, body))

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [Route("/save", endpoint, methods=["PUT"]), Route("/healthz", healthz)]
    if settings.database_url.startswith("postgresql"):
        from sqlalchemy.ext.asyncio import create_async_engine

        async_engine = create_async_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=0
        )

        async def endpoint_async(request: Request) -> JSONResponse:
            body = await request.json()
            out = []
            async with async_engine.begin() as connection:
                found = await connection.execute(
                    RESPONSE, {"token_hash": hash_token(body["token"])}
                )
                response_id = found.scalar_one()
                for r in body["ratings"]:
                    params = {"response_id": response_id, "item": r["item"]}
                    params.update(dimension=r["dimension"], value=r["value"])
                    rating_id, revision = (await connection.execute(UPSERT, params)).one()
                    history = {**params, "rating_id": rating_id, "revision": revision}
                    await connection.execute(HISTORY, history)
                    out.append({**r, "revision": revision})
            return JSONResponse(out)

        routes.append(Route("/save-async", endpoint_async, methods=["PUT"]))
    return Starlette(routes=routes)
