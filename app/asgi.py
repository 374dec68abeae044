"""ASGI entry point for servers: ``uvicorn --factory app.asgi:create`` (``elicit serve``
builds the app through it too)."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from app.main import create_app


def create() -> FastAPI:
    app = create_app()
    # Everything built so far (modules, routes, models, templates: hundreds of thousands of
    # objects) lives as long as the process. Frozen, the collector no longer walks it: a
    # full collection took 100-600 ms per worker under load, stalling every request of that
    # worker meanwhile; and forked workers keep sharing those memory pages with the parent.
    gc.freeze()
    return app
