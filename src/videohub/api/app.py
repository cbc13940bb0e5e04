"""The FastAPI application: one router per resource over a `HubRuntime`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from videohub import __version__
from videohub.api.errors import (
    database_unavailable_handler,
    pool_timeout_handler,
    request_validation_handler,
    taxonomy_error_handler,
)
from videohub.api.limits import BodyLimit
from videohub.api.routers import cameras, detections, events, rules, subscriptions, system, taxonomy, video
from videohub.metrics import make_registry
from videohub.runtime import HubRuntime
from videohub.taxonomy import TaxonomyError


def create_app(runtime: HubRuntime, *, manage: bool = True) -> FastAPI:
    """Builds the app. With `manage`, the app starts the runtime on start-up and stops it on
    shutdown; tests that own the runtime pass False."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage:
            runtime.start()
        try:
            yield
        finally:
            if manage:
                runtime.stop()

    app = FastAPI(
        title="videohub",
        version=__version__,
        description="City video + AI hub: cameras, live video, detections and standard city events.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_mb=runtime.config.server.max_request_mb)
    app.state.runtime = runtime
    app.state.metrics = make_registry(runtime)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(OperationalError, database_unavailable_handler)
    app.add_exception_handler(PoolTimeout, pool_timeout_handler)
    app.add_exception_handler(TaxonomyError, taxonomy_error_handler)
    app.include_router(cameras.router)
    app.include_router(rules.router)
    app.include_router(video.router)
    app.include_router(detections.router)
    app.include_router(system.router)
    app.include_router(taxonomy.router)
    app.include_router(events.router)
    app.include_router(subscriptions.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
