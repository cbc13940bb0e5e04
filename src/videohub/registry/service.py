"""The camera registry: the cameras of the config file plus those added through the API.

API-made cameras persist in the database; config-file cameras are owned by the file and
cannot be changed through the API (the file would put them back at the next start).
Listeners (the stream hub) hear of every change at once, so a camera added, changed or
removed starts, restarts or stops its reader without a restart of the hub.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from videohub.config import CameraSpec
from videohub.registry.models import CameraRow

Origin = Literal["config", "api"]


@dataclass(frozen=True)
class RegisteredCamera:
    spec: CameraSpec
    origin: Origin
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CameraExists(Exception):
    pass


class CameraNotFound(Exception):
    pass


class CameraReadOnly(Exception):
    pass


ChangeListener = Callable[[str, CameraSpec | None], None]
"""Called with (camera_id, new spec) on add/change and (camera_id, None) on removal."""


class CameraRegistry:
    def __init__(self, sessions: sessionmaker, config_cameras: list[CameraSpec], config_source: str) -> None:
        self._sessions = sessions
        self._config_source = config_source
        self._lock = threading.RLock()
        self._listeners: list[ChangeListener] = []
        self._cameras: dict[str, RegisteredCamera] = {}
        for spec in config_cameras:
            self._cameras[spec.id] = RegisteredCamera(spec, "config")
        with sessions() as s:
            for row in s.scalars(select(CameraRow)):
                if row.id in self._cameras:
                    # The file wins: an operator who moved a camera into the file meant it.
                    continue
                spec = CameraSpec.model_validate(row.spec)
                self._cameras[row.id] = RegisteredCamera(spec, "api", row.created_at, row.updated_at)

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _notify(self, camera_id: str, spec: CameraSpec | None) -> None:
        for listener in self._listeners:
            listener(camera_id, spec)

    def all(self) -> list[RegisteredCamera]:
        with self._lock:
            return sorted(self._cameras.values(), key=lambda c: c.spec.id)

    def get(self, camera_id: str) -> RegisteredCamera:
        with self._lock:
            try:
                return self._cameras[camera_id]
            except KeyError:
                raise CameraNotFound(camera_id) from None

    def _writable(self, camera_id: str) -> RegisteredCamera:
        cam = self.get(camera_id)
        if cam.origin == "config":
            raise CameraReadOnly(
                f"camera {camera_id!r} is defined in the config file {self._config_source}; change it there"
            )
        return cam

    def create(self, spec: CameraSpec) -> RegisteredCamera:
        now = datetime.now(UTC)
        with self._lock:
            if spec.id in self._cameras:
                raise CameraExists(spec.id)
            with self._sessions.begin() as s:
                s.add(
                    CameraRow(
                        id=spec.id,
                        spec=spec.to_json(),
                        region_code=spec.region_code,
                        device_code=spec.device_code,
                        enabled=spec.enabled,
                        created_at=now,
                        updated_at=now,
                    )
                )
            cam = self._cameras[spec.id] = RegisteredCamera(spec, "api", now, now)
        self._notify(spec.id, spec)
        return cam

    def update(self, camera_id: str, changes: dict[str, Any]) -> RegisteredCamera:
        """Applies a partial change; raises ValidationError if the result is not a valid camera."""
        with self._lock:
            old = self._writable(camera_id)
            if "id" in changes and changes["id"] != camera_id:
                raise ValueError("id cannot be changed; create a new camera instead")
            data = old.spec.to_json()
            # Stream overrides merge field by field (null removes one, back to the default);
            # the rest replaces whole values.
            for key, value in (changes.get("stream") or {}).items():
                if value is None:
                    data["stream"].pop(key, None)
                else:
                    data["stream"][key] = value
            data.update({k: v for k, v in changes.items() if k != "stream"})
            spec = CameraSpec.model_validate(data)
            now = datetime.now(UTC)
            with self._sessions.begin() as s:
                row = s.get(CameraRow, camera_id)
                if row is None:
                    raise CameraNotFound(camera_id)
                row.spec = spec.to_json()
                row.region_code, row.device_code, row.enabled = (
                    spec.region_code,
                    spec.device_code,
                    spec.enabled,
                )
                row.updated_at = now
            cam = self._cameras[camera_id] = RegisteredCamera(spec, "api", old.created_at, now)
        self._notify(camera_id, spec)
        return cam

    def delete(self, camera_id: str) -> None:
        with self._lock:
            self._writable(camera_id)
            with self._sessions.begin() as s:
                row = s.get(CameraRow, camera_id)
                if row is not None:
                    s.delete(row)
            del self._cameras[camera_id]
        self._notify(camera_id, None)


__all__ = [
    "CameraExists",
    "CameraNotFound",
    "CameraReadOnly",
    "CameraRegistry",
    "RegisteredCamera",
    "ValidationError",
]
