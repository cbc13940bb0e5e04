"""/api/v1/cameras/{id}/detections and /api/v1/models."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from videohub.api.deps import Camera, Runtime
from videohub.api.schemas import (
    CameraDetectionsOut,
    DetectionOut,
    EngineStats,
    ErrorOut,
    ModelDetectionsOut,
    ModelOut,
)
from videohub.detect.engine import DetectionEngine

router = APIRouter(tags=["detections"])


@router.get(
    "/api/v1/cameras/{camera_id}/detections", response_model=CameraDetectionsOut, responses={404: {"model": ErrorOut}}
)
def camera_detections(camera: Camera, runtime: Runtime) -> CameraDetectionsOut:
    camera_id = camera.spec.id
    results = runtime.analytics.results(camera_id)
    return CameraDetectionsOut(
        camera_id=camera_id,
        analytics=runtime.analytics.settings(camera_id) is not None,
        models=[
            ModelDetectionsOut(
                model=r.model,
                frame_time=datetime.fromtimestamp(r.frame_time, UTC),
                seq=r.seq,
                latency_ms=round((r.done_at - r.frame_time) * 1000, 1),
                detections=[
                    DetectionOut(
                        label=d.label, class_id=d.class_id, score=round(d.score, 4), box=d.box, track_id=d.track_id
                    )
                    for d in r.detections
                ],
            )
            for r in sorted(results.values(), key=lambda r: r.model)
        ],
    )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def engine_stats(engine: DetectionEngine) -> EngineStats:
    return EngineStats(
        runs=engine.runs,
        batch_sizes=dict(sorted(engine.batch_sizes.items())),
        queue_wait_ms_p50=_ms(engine.queue_wait.percentile(50)),
        queue_wait_ms_p99=_ms(engine.queue_wait.percentile(99)),
        inference_ms_p50=_ms(engine.inference_time.percentile(50)),
        inference_ms_p99=_ms(engine.inference_time.percentile(99)),
        last_error=engine.last_error,
    )


@router.get("/api/v1/models", response_model=list[ModelOut])
def list_models(runtime: Runtime) -> list[ModelOut]:
    out = []
    for m in runtime.models.models.values():
        detector = m.engine.detector if m.engine else None
        out.append(
            ModelOut(
                name=m.name,
                kind=m.config.kind,
                path=m.config.path,
                status="ready" if m.engine else "error",
                error=m.error,
                layout=getattr(detector, "layout", None),
                classes=list(detector.labels) if detector else [],
                input_size=detector.input_size if detector else None,
                provider=detector.provider if detector else None,
                stats=engine_stats(m.engine) if m.engine else None,
            )
        )
    return out
