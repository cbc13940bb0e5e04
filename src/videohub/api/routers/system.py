"""/api/v1/health and /metrics."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from videohub import __version__
from videohub.api.deps import Runtime
from videohub.api.schemas import HealthOut

router = APIRouter(tags=["system"])


@router.get("/api/v1/health", response_model=HealthOut)
def health(runtime: Runtime) -> HealthOut:
    states = Counter(ch.health.state for ch in runtime.hub.channels())
    cameras = {s: states.get(s, 0) for s in ("online", "connecting", "offline", "idle", "disabled")}
    cameras["total"] = sum(states.values())
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "error"
    return HealthOut(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        cameras=cameras,
        upstream_connections=runtime.hub.upstream_connections(),
        restream_sessions=runtime.rtsp.session_count() if runtime.rtsp else 0,
        hls_sessions=runtime.hls.active(),
        database=database,
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
