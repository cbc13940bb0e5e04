"""FastAPI dependencies: the running hub and the camera a path names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from videohub.registry.service import CameraNotFound, RegisteredCamera
from videohub.runtime import HubRuntime
from videohub.streams.channel import CameraChannel


def get_runtime(request: Request) -> HubRuntime:
    runtime: HubRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[HubRuntime, Depends(get_runtime)]


def get_camera(camera_id: str, runtime: Runtime) -> RegisteredCamera:
    try:
        return runtime.registry.get(camera_id)
    except CameraNotFound:
        raise HTTPException(404, f"camera {camera_id!r} not found") from None


Camera = Annotated[RegisteredCamera, Depends(get_camera)]


def get_channel(camera: Camera, runtime: Runtime) -> CameraChannel:
    try:
        return runtime.hub.channel(camera.spec.id)
    except KeyError:
        raise HTTPException(404, f"camera {camera.spec.id!r} not found") from None


Channel = Annotated[CameraChannel, Depends(get_channel)]
