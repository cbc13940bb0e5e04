"""Request and response models of the HTTP API: the OpenAPI schema is the contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from videohub.analytics.spec import RuleSpec
from videohub.codes import parse_device_code
from videohub.config import CameraSpec, DetectSettings, StreamOptions
from videohub.registry.service import RegisteredCamera
from videohub.secrets import mask_url
from videohub.streams.health import HealthSnapshot


class CameraCreate(CameraSpec):
    """A camera to register; the same fields as a `cameras:` entry of the config file."""


class CameraPatch(BaseModel):
    """Fields to change; anything left out stays as it is. `stream` merges field by field."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Human-readable name.")
    device_code: str | None = Field(None, description="20-digit GB/T 28181 device code.")
    region_code: str | None = Field(None, description="GB/T 2260 code with optional extension.")
    lat: float | None = Field(None, description="Latitude, WGS84.")
    lon: float | None = Field(None, description="Longitude, WGS84.")
    tags: list[str] | None = Field(None, description="Free labels.")
    stream_url: str | None = Field(None, description="Main stream URL.")
    sub_stream_url: str | None = Field(None, description="Analytics stream URL.")
    enabled: bool | None = Field(None, description="Pull the camera or not.")
    on_demand: bool | None = Field(None, description="Pull only while consumed.")
    stream: dict[str, Any] | None = Field(
        None, description="Overrides of the stream defaults, merged field by field; null removes an override."
    )
    detect: dict[str, Any] | None = Field(None, description="Detection settings (replaced whole).")
    rules: list[RuleSpec] | None = Field(
        None, description="Incident rules (replaced whole); applied at once, without reconnecting the camera."
    )


class DeviceCodeParts(BaseModel):
    centre: str
    industry: str
    type: str
    network: str
    serial: str


class CameraLinks(BaseModel):
    status: str
    snapshot: str
    mjpeg: str
    hls: str
    rtsp: str | None = Field(None, description="The hub's restream of this camera (no credentials needed).")


class CameraOut(BaseModel):
    id: str
    name: str
    device_code: str | None
    device: DeviceCodeParts | None = Field(None, description="The device code split into its GB/T 28181 parts.")
    region_code: str | None
    lat: float | None
    lon: float | None
    tags: list[str]
    stream_url: str = Field(..., description="Masked: credentials are never returned.")
    sub_stream_url: str | None
    enabled: bool
    on_demand: bool
    stream: StreamOptions = Field(..., description="Effective stream settings (defaults merged with overrides).")
    detect: DetectSettings | None = Field(None, description="Detection settings, if any.")
    rules: list[RuleSpec] = Field(default_factory=list, description="Incident rules of this camera.")
    origin: Literal["config", "api"] = Field(..., description="Config-file cameras are read-only through the API.")
    created_at: datetime | None
    updated_at: datetime | None
    links: CameraLinks

    @classmethod
    def build(cls, cam: RegisteredCamera, options: StreamOptions, rtsp_url: str | None) -> CameraOut:
        s = cam.spec
        base = f"/api/v1/cameras/{s.id}"
        device = None
        if s.device_code:
            p = parse_device_code(s.device_code)
            device = DeviceCodeParts(
                centre=p.centre, industry=p.industry, type=p.type, network=p.network, serial=p.serial
            )
        return cls(
            id=s.id,
            name=s.name,
            device_code=s.device_code,
            device=device,
            region_code=s.region_code,
            lat=s.lat,
            lon=s.lon,
            tags=s.tags,
            stream_url=mask_url(s.stream_url),
            sub_stream_url=mask_url(s.sub_stream_url) if s.sub_stream_url else None,
            enabled=s.enabled,
            on_demand=s.on_demand,
            stream=options,
            detect=s.detect,
            rules=s.rules,
            origin=cam.origin,
            created_at=cam.created_at,
            updated_at=cam.updated_at,
            links=CameraLinks(
                status=f"{base}/status",
                snapshot=f"{base}/snapshot.jpg",
                mjpeg=f"{base}/mjpeg",
                hls=f"{base}/hls/index.m3u8",
                rtsp=rtsp_url,
            ),
        )


def _iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class CameraStatus(BaseModel):
    id: str
    state: Literal["connecting", "online", "offline", "disabled", "idle"] = Field(
        ..., description="idle: an on-demand camera nobody is using, so it is not pulled."
    )
    fps: float = Field(..., description="Measured input frames per second (last few seconds).")
    frames_received: int
    frames_decoded: int
    frames_dropped: int = Field(..., description="Decoded frames replaced before any consumer read them.")
    decode_errors: int
    reconnects: int
    last_frame_time: datetime | None
    last_error: str | None = Field(None, description="Masked: never contains credentials.")
    connected_since: datetime | None
    codec: str | None
    width: int | None
    height: int | None
    bytes_received: int
    viewers: int = Field(..., description="Consumers of decoded frames (MJPEG, snapshots, analytics).")
    packet_consumers: int = Field(..., description="Restream and HLS consumers.")
    upstream_connected: bool
    analytics: AnalyticsStatus | None = Field(None, description="Detection on this camera, if any.")

    @classmethod
    def build(cls, camera_id: str, h: HealthSnapshot, analytics: AnalyticsStatus | None = None) -> CameraStatus:
        data = dict(h.__dict__)
        for key in ("last_frame_time", "connected_since"):
            data[key] = _iso(data[key])
        return cls(id=camera_id, analytics=analytics, **data)


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    cameras: dict[str, int] = Field(..., description="Number of cameras per state, and the total.")
    upstream_connections: int
    restream_sessions: int
    hls_sessions: int
    database: Literal["ok", "error"]


class ErrorOut(BaseModel):
    detail: str


class DetectionOut(BaseModel):
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float] = Field(..., description="x1, y1, x2, y2 in source-frame pixels.")
    track_id: int | None = None


class ModelDetectionsOut(BaseModel):
    model: str
    frame_time: datetime = Field(..., description="When the analysed frame was received, not when the model finished.")
    seq: int = Field(..., description="The frame's number in the camera's stream.")
    latency_ms: float = Field(..., description="From the frame's arrival to the model's result.")
    detections: list[DetectionOut]


class CameraDetectionsOut(BaseModel):
    camera_id: str
    analytics: bool = Field(..., description="Whether any model runs on this camera.")
    models: list[ModelDetectionsOut]


class EngineStats(BaseModel):
    runs: int
    batch_sizes: dict[int, int] = Field(..., description="How many runs had each batch size.")
    queue_wait_ms_p50: float | None
    queue_wait_ms_p99: float | None
    inference_ms_p50: float | None = Field(None, description="Per batch, pre- and post-processing included.")
    inference_ms_p99: float | None
    last_error: str | None


class ModelOut(BaseModel):
    name: str
    kind: str
    path: str | None
    status: Literal["ready", "error"]
    error: str | None = Field(None, description="Why the model could not be loaded.")
    layout: str | None = Field(None, description="yolov5, yolov8 or end2end for ONNX YOLO models.")
    classes: list[str]
    input_size: tuple[int, int] | None = Field(None, description="(height, width) the model runs at.")
    provider: str | None = Field(None, description="The execution provider in use.")
    stats: EngineStats | None


class ModelAnalyticsOut(BaseModel):
    model: str
    fps: float = Field(..., description="Frames of this camera analysed per second by the model.")
    submitted: int
    processed: int
    dropped: int = Field(..., description="Frames replaced while waiting for the model (it was busy).")
    errors: int
    latency_ms: float | None


class AnalyticsStatus(BaseModel):
    target_fps: float
    sampled: int
    motion_gated: int = Field(..., description="Frames the motion gate kept from the models.")
    models: list[ModelAnalyticsOut]
