"""/api/v1/cameras: the camera registry."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from pydantic import ValidationError

from videohub.analytics.rulebook import check_rule_codes
from videohub.api.deps import Camera, Channel, Runtime
from videohub.api.errors import validation_detail
from videohub.api.schemas import (
    AnalyticsStatus,
    CameraCreate,
    CameraOut,
    CameraPatch,
    CameraStatus,
    ErrorOut,
    ModelAnalyticsOut,
)
from videohub.registry.service import CameraExists, CameraNotFound, CameraReadOnly, RegisteredCamera
from videohub.runtime import HubRuntime

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


def _check_models(runtime: HubRuntime, names: list[str]) -> None:
    unknown = [n for n in names if n not in runtime.models.models]
    if unknown:
        known = ", ".join(sorted(runtime.models.models)) or "none configured"
        raise HTTPException(422, f"detect.models: unknown model(s) {', '.join(unknown)}; known: {known}")


def _out(runtime: HubRuntime, cam: RegisteredCamera) -> CameraOut:
    options = runtime.config.defaults.merged(cam.spec.stream)
    return CameraOut.build(cam, options, runtime.rtsp_url(cam.spec.id))


@router.get("", response_model=list[CameraOut])
def list_cameras(runtime: Runtime) -> list[CameraOut]:
    return [_out(runtime, cam) for cam in runtime.registry.all()]


@router.post("", response_model=CameraOut, status_code=201, responses={409: {"model": ErrorOut}})
def create_camera(body: CameraCreate, runtime: Runtime) -> CameraOut:
    _check_models(runtime, body.detect.models if body.detect else [])
    check_rule_codes(runtime.taxonomy, body.rules)
    try:
        cam = runtime.registry.create(body)
    except CameraExists:
        raise HTTPException(409, f"camera {body.id!r} already exists") from None
    return _out(runtime, cam)


@router.get("/{camera_id}", response_model=CameraOut, responses={404: {"model": ErrorOut}})
def get_camera(camera: Camera, runtime: Runtime) -> CameraOut:
    return _out(runtime, camera)


@router.patch("/{camera_id}", response_model=CameraOut, responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
def patch_camera(camera_id: str, body: CameraPatch, runtime: Runtime) -> CameraOut:
    _check_models(runtime, (body.detect or {}).get("models") or [])
    if body.rules is not None:
        check_rule_codes(runtime.taxonomy, body.rules)
    try:
        cam = runtime.registry.update(camera_id, body.model_dump(exclude_unset=True))
    except CameraNotFound:
        raise HTTPException(404, f"camera {camera_id!r} not found") from None
    except CameraReadOnly as exc:
        raise HTTPException(409, str(exc)) from None
    except ValidationError as exc:
        raise HTTPException(422, validation_detail(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return _out(runtime, cam)


@router.delete("/{camera_id}", status_code=204, responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
def delete_camera(camera_id: str, runtime: Runtime) -> Response:
    try:
        runtime.registry.delete(camera_id)
    except CameraNotFound:
        raise HTTPException(404, f"camera {camera_id!r} not found") from None
    except CameraReadOnly as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


@router.get("/{camera_id}/status", response_model=CameraStatus, responses={404: {"model": ErrorOut}})
def camera_status(channel: Channel, runtime: Runtime) -> CameraStatus:
    return CameraStatus.build(
        channel.camera_id, channel.snapshot_health(), _analytics_status(runtime, channel.camera_id)
    )


def _analytics_status(runtime: HubRuntime, camera_id: str) -> AnalyticsStatus | None:
    settings = runtime.analytics.settings(camera_id)
    if settings is None:
        return None
    sampled, gated = runtime.analytics.counters(camera_id)
    engines = runtime.models.engines
    models = []
    for name in settings.models:
        engine = engines.get(name)
        stats = engine.cameras.get(camera_id) if engine else None
        models.append(
            ModelAnalyticsOut(
                model=name,
                fps=round(stats.rate.rate(), 2) if stats else 0.0,
                submitted=stats.submitted if stats else 0,
                processed=stats.processed if stats else 0,
                dropped=stats.dropped if stats else 0,
                errors=stats.errors if stats else 0,
                latency_ms=round(stats.last_latency * 1000, 1) if stats and stats.last_latency else None,
            )
        )
    return AnalyticsStatus(target_fps=settings.fps, sampled=sampled, motion_gated=gated, models=models)
