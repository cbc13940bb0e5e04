"""The hub's configuration: strict pydantic models of the YAML file, and its loader.

Every model forbids unknown keys, so a typo fails at start-up with the key and the file
named instead of being silently ignored. Camera stream settings have global defaults
(`defaults:`) that each camera overrides field by field (`cameras[].stream:`).
`${NAME}` and `${NAME:-fallback}` in any string are replaced from the environment, so
credentials need not be written into the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from videohub.analytics.spec import RuleSpec
from videohub.codes import DeviceCodeStr, validate_region_code
from videohub.secrets import has_masked_secret

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def validate_stream_url(url: str) -> str:
    """Checks that a camera URL is one the hub can pull; the message never repeats the URL
    itself, since it may carry credentials."""
    if not url or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("stream URL must be non-empty and contain no whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError:
        # urlsplit's own message quotes what it took for the port, which can be part of a
        # password containing '#', '?' or '/': never repeat it.
        raise ValueError(
            "malformed stream URL: the port is not a number 1-65535 (a password containing "
            "'#', '?', '/' or '@' must be percent-encoded)"
        ) from None
    if parts.scheme.lower() not in STREAM_SCHEMES:
        raise ValueError(f"stream URL scheme must be one of {', '.join(STREAM_SCHEMES)}, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("stream URL has no host")
    if port == 0:
        raise ValueError("stream URL port must be 1-65535")
    if has_masked_secret(url):
        raise ValueError(
            "stream URL carries the masked credentials '***' the API shows; send the real ones, "
            "or leave stream_url out of the change to keep them"
        )
    return url


class StreamOptions(StrictModel):
    """How one camera is pulled and served. Set globally under `defaults:`; each camera may
    override any field under its own `stream:`."""

    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTP transport asked of RTSP cameras.")
    connect_timeout: float = Field(10.0, gt=0, le=300, description="Seconds to wait for a camera to answer.")
    read_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds without data after which a connection counts as stalled."
    )
    reconnect_initial: float = Field(1.0, gt=0, le=300, description="First reconnect delay in seconds.")
    reconnect_max: float = Field(30.0, gt=0, le=3600, description="Cap of the exponential reconnect delay.")
    idle_release: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="On-demand cameras: seconds after the last consumer leaves before disconnecting.",
    )
    snapshot_max_age: float = Field(
        5.0, gt=0, le=3600, description="A snapshot older than this many seconds is refused with 503."
    )
    snapshot_wait: float = Field(
        8.0,
        ge=0,
        le=60,
        description="Seconds a snapshot request waits for a fresh frame (on-demand start-up).",
    )
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality for snapshots and MJPEG.")
    decode_threads: int = Field(
        1,
        ge=0,
        le=16,
        description="Decoder threads per camera. One is the most efficient with many cameras (and adds no "
        "latency); raise it for a few very large streams; 0 lets FFmpeg choose.",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> StreamOptions:
        # Only when both are given at one level: a camera may override either one alone,
        # and the merged result caps the first delay at the maximum (see `merged`).
        both = {"reconnect_initial", "reconnect_max"} <= self.model_fields_set
        if both and self.reconnect_initial > self.reconnect_max:
            raise ValueError("reconnect_initial must not exceed reconnect_max")
        return self

    def merged(self, overrides: StreamOptions) -> StreamOptions:
        """These defaults with the fields a camera set explicitly laid over them."""
        update = {k: getattr(overrides, k) for k in overrides.model_fields_set}
        result = self.model_copy(update=update)
        if result.reconnect_initial > result.reconnect_max:
            result = result.model_copy(update={"reconnect_initial": result.reconnect_max})
        return result


class DetectSettings(StrictModel):
    """What a camera's analytics run: which models, how often, with which thresholds."""

    models: list[str] = Field(default_factory=list, description="Names of models under `models:` to run.")
    fps: float = Field(5.0, gt=0, le=60, description="Frames per second sent to the models (newest frame wins).")
    conf: float | None = Field(None, ge=0, le=1, description="Minimum score; default: the model's own.")
    labels: list[str] | None = Field(None, description="Keep only these labels (e.g. [person, car]).")
    motion_gate: bool = Field(False, description="Skip the models on frames without motion.")
    motion_threshold: float = Field(
        0.002, gt=0, le=1, description="Share of changed pixels that counts as motion for the gate."
    )


class CameraSpec(StrictModel):
    """One camera as an operator declares it (config file or API)."""

    id: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Slug: lowercase letters, digits, '-' and '_'.",
    )
    name: str = Field("", max_length=200, description="Human-readable name; defaults to the id.")
    device_code: DeviceCodeStr | None = Field(None, description="20-digit GB/T 28181 device code.")
    region_code: str | None = Field(
        None, description="GB/T 2260 6-digit division code, optionally extended by town/village/grid digits."
    )
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, WGS84.")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, WGS84.")
    tags: list[str] = Field(default_factory=list, description="Free labels for grouping and filtering.")
    stream_url: str = Field(..., description="Main stream URL; credentials allowed, never shown back.")
    sub_stream_url: str | None = Field(None, description="Optional low-resolution stream, used for analytics.")
    enabled: bool = Field(True, description="A disabled camera is kept in the registry but not pulled.")
    on_demand: bool = Field(False, description="Pull only while a viewer or other consumer needs it.")
    stream: StreamOptions = Field(
        default_factory=StreamOptions, description="Per-camera overrides of the global `defaults:`."
    )
    detect: DetectSettings | None = Field(None, description="Detection on this camera; absent: none.")
    rules: list[RuleSpec] = Field(
        default_factory=list,
        description="Rules turning this camera's detections into incidents (zones, counts, dwell, lines); "
        "changing them never reconnects the camera.",
    )

    @field_validator("region_code")
    @classmethod
    def _region_code(cls, v: str | None) -> str | None:
        return None if v is None else validate_region_code(v)

    @field_validator("stream_url")
    @classmethod
    def _stream_url(cls, v: str) -> str:
        return validate_stream_url(v)

    @field_validator("sub_stream_url")
    @classmethod
    def _sub_stream_url(cls, v: str | None) -> str | None:
        return None if v is None else validate_stream_url(v)

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: list[RuleSpec]) -> list[RuleSpec]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    @model_validator(mode="after")
    def _default_name(self) -> CameraSpec:
        if not self.name:
            self.name = self.id
        return self

    @model_validator(mode="after")
    def _rules_have_a_model(self) -> CameraSpec:
        # A rule looks at detections: without a model to make them it would silently never fire.
        models = self.detect.models if self.detect else []
        for rule in self.rules:
            if not models and rule.enabled:
                raise ValueError(f"rule {rule.id!r} needs detections: give the camera detect.models")
            if rule.model is not None and rule.model not in models:
                raise ValueError(
                    f"rule {rule.id!r} looks at model {rule.model!r}, which is not one of the camera's "
                    f"detect.models ({', '.join(models) or 'none'})"
                )
        return self

    def to_json(self) -> dict[str, Any]:
        """Plain data for storage; `stream` keeps only the explicitly overridden fields so
        that later changes to the global defaults still reach this camera."""
        data = self.model_dump(mode="json", exclude={"stream"})
        data["stream"] = self.stream.model_dump(mode="json", exclude_unset=True)
        return data


ModelKind = Literal["onnx", "hog-people", "motion", "fire"]


class ModelConfig(StrictModel):
    """A detection model the hub can run: an ONNX YOLO file, or a built-in detector."""

    kind: ModelKind = Field("onnx", description="onnx (a YOLO export) or a built-in: hog-people, motion, fire.")
    path: str | None = Field(None, description="The ONNX file (kind onnx).")
    providers: list[str] = Field(
        default_factory=lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        description="onnxruntime execution providers in order of preference; unavailable ones are skipped.",
    )
    threads: int | None = Field(None, ge=1, le=256, description="onnxruntime intra-op threads; default: all cores.")
    names: list[str] | None = Field(None, description="Class names, for models whose metadata has none.")
    imgsz: int | tuple[int, int] | None = Field(
        None, description="Input size (n or [height, width]) for models with a dynamic input size."
    )
    conf: float = Field(0.25, ge=0, le=1, description="Default minimum score.")
    iou: float = Field(0.45, gt=0, le=1, description="IoU threshold of non-maximum suppression.")
    max_det: int = Field(300, ge=1, le=10000, description="Most detections kept per frame.")
    max_batch: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Most frames (of different cameras) run in one batch. Default: 1 on the CPU, where batching "
        "adds latency and no throughput, 8 on a GPU.",
    )
    max_wait: float = Field(0.01, ge=0, le=1, description="Seconds to wait for a batch to fill.")

    @field_validator("imgsz")
    @classmethod
    def _imgsz(cls, v: int | tuple[int, int] | None) -> int | tuple[int, int] | None:
        sizes = (v,) if isinstance(v, int) else v or ()
        if any(not 32 <= s <= 4096 for s in sizes):
            raise ValueError("imgsz must be 32-4096 (a number, or [height, width])")
        return v

    @model_validator(mode="after")
    def _path_for_onnx(self) -> ModelConfig:
        if self.kind == "onnx" and not self.path:
            raise ValueError("an onnx model needs a path")
        return self


class ServerConfig(StrictModel):
    host: str = Field("0.0.0.0", description="Address the HTTP API listens on.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP API port.")
    rtsp_port: int | None = Field(
        8554,
        ge=0,
        le=65535,
        description="Port of the RTSP restream (rtsp://hub:PORT/<camera-id>); null disables it.",
    )
    public_host: str = Field("127.0.0.1", description="Host name put into the URLs the hub prints.")
    max_request_mb: float = Field(
        64.0,
        gt=0,
        le=4096,
        description="Largest request body in MiB (a batch of events with base64 snapshots); larger ones get 413.",
    )


class DatabaseConfig(StrictModel):
    url: str = Field("sqlite:///var/videohub.db", description="SQLAlchemy URL: SQLite file or PostgreSQL.")


class HlsConfig(StrictModel):
    segment_seconds: float = Field(1.0, gt=0, le=10, description="Target HLS segment length (cut at key frames).")
    list_size: int = Field(6, ge=2, le=60, description="Segments kept in the live playlist.")
    idle_timeout: float = Field(30.0, gt=0, le=3600, description="Stop remuxing after this long without requests.")


class TaxonomyConfig(StrictModel):
    """Where a city keeps its own code tables."""

    dir: str | None = Field(
        None,
        description="Folder of the city's own tables (categories.yaml, levels.yaml, sources.yaml, statuses.yaml, "
        "regions.yaml); each file present replaces the shipped table of the same name whole.",
    )


class WebhooksConfig(StrictModel):
    """How the hub delivers events to webhook subscriptions (`/api/v1/subscriptions`)."""

    timeout: float = Field(10.0, gt=0, le=300, description="Seconds one delivery attempt may take, end to end.")
    max_attempts: int = Field(
        10,
        ge=1,
        le=100,
        description="Attempts per delivery before it is marked failed (any non-2xx answer, connection error or "
        "timeout counts as a failed attempt).",
    )
    backoff_initial: float = Field(
        2.0, gt=0, le=3600, description="Delay before the second attempt, in seconds; doubles with every failure."
    )
    backoff_max: float = Field(600.0, gt=0, le=86400, description="Cap of the exponential retry delay, in seconds.")
    concurrency: int = Field(
        4, ge=1, le=64, description="Subscriptions delivered to at the same time (each one strictly in order)."
    )
    poll_interval: float = Field(
        5.0,
        gt=0,
        le=600,
        description="Seconds between reads of the change outbox without a wake-up (changes made by other "
        "processes sharing the database).",
    )
    keep_delivered_hours: float = Field(
        168.0, gt=0, le=87600, description="Delivered attempts are kept this long for GET .../deliveries."
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> WebhooksConfig:
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial must not exceed backoff_max")
        return self


_NATS_TOKEN = r"[A-Za-z0-9_-]+"


class NatsConfig(StrictModel):
    """Publishing every event change to NATS JetStream; without a `url` nothing NATS-related runs."""

    url: str | None = Field(
        None,
        description="NATS server URL (nats://[user:password@]host:4222, or several comma-separated); "
        "empty or absent: no publishing.",
    )
    stream: str = Field(
        "VIDEOHUB_EVENTS",
        pattern=f"^{_NATS_TOKEN}$",
        max_length=64,
        description="JetStream stream the changes go to; created (subjects `<subject_prefix>.>`) if missing.",
    )
    subject_prefix: str = Field(
        "events",
        pattern=rf"^{_NATS_TOKEN}(\.{_NATS_TOKEN})*$",
        max_length=128,
        description="Subjects are `<subject_prefix>.<region_code>.<category_code>` ('_' for a missing value).",
    )
    connect_timeout: float = Field(5.0, gt=0, le=300, description="Seconds to wait for the server to answer.")
    publish_timeout: float = Field(5.0, gt=0, le=300, description="Seconds to wait for JetStream's ack.")
    reconnect_initial: float = Field(1.0, gt=0, le=300, description="First retry delay after a failure, seconds.")
    reconnect_max: float = Field(30.0, gt=0, le=3600, description="Cap of the exponential retry delay, seconds.")
    poll_interval: float = Field(
        5.0, gt=0, le=600, description="Seconds between outbox reads without a wake-up (other processes' changes)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None  # `${NATS_URL:-}` in a shared config file turns publishing off
        for one in v.split(","):
            parts = urlsplit(one.strip())
            if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
                # Never repeat the URL: it may carry a password.
                raise ValueError("must be nats://host[:port] (or tls://, ws://, wss://), comma-separated for several")
        return v

    @model_validator(mode="after")
    def _backoff_order(self) -> NatsConfig:
        if self.reconnect_initial > self.reconnect_max:
            raise ValueError("reconnect_initial must not exceed reconnect_max")
        return self


class SimulatorConfig(StrictModel):
    """Simulated RTSP cameras started beside the hub by `videohub demo`."""

    port: int = Field(8555, ge=0, le=65535, description="Port of the simulated cameras' RTSP server.")
    cameras: dict[str, str] = Field(
        default_factory=dict,
        description="name -> 'pattern' or 'scene' (optionally ':WxH@FPS'; a scene has walkers and a fire the "
        "built-in detectors find), or a video file path.",
    )


class Config(StrictModel):
    server: ServerConfig = Field(default_factory=ServerConfig, description="Listening addresses.")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Where the registry is kept.")
    defaults: StreamOptions = Field(default_factory=StreamOptions, description="Stream settings for every camera.")
    hls: HlsConfig = Field(default_factory=HlsConfig, description="HLS remux settings.")
    models: dict[str, ModelConfig] = Field(default_factory=dict, description="Detection models by name.")
    models_dir: str | None = Field(
        "models",
        description="Every *.onnx file here is a model named by its file name (`videohub models add` copies "
        "into it); `models:` entries of the same name win.",
    )
    cameras: list[CameraSpec] = Field(default_factory=list, description="Cameras declared in the file.")
    simulator: SimulatorConfig | None = Field(None, description="Simulated cameras (demo only).")
    taxonomy: TaxonomyConfig = Field(
        default_factory=TaxonomyConfig, description="The code tables of events (categories, regions, ...)."
    )
    webhooks: WebhooksConfig = Field(
        default_factory=WebhooksConfig, description="Delivery of events to webhook subscriptions."
    )
    nats: NatsConfig = Field(
        default_factory=NatsConfig, description="Optional NATS JetStream publisher of every event change."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> Config:
        seen: set[str] = set()
        known_models = set(self.models) | set(dir_models(self.models_dir))
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is declared twice")
            seen.add(cam.id)
            for model in cam.detect.models if cam.detect else []:
                if model not in known_models:
                    known = ", ".join(sorted(known_models)) or "none"
                    raise ValueError(
                        f"camera {cam.id!r} uses model {model!r}, which `models:` does not define ({known})"
                    )
        return self

    def stream_options(self, camera: CameraSpec) -> StreamOptions:
        return self.defaults.merged(camera.stream)

    def all_models(self) -> dict[str, ModelConfig]:
        """`models:` plus one ONNX model per file in `models_dir`."""
        found = {name: ModelConfig(kind="onnx", path=str(path)) for name, path in dir_models(self.models_dir).items()}
        return found | self.models


def dir_models(folder: str | None) -> dict[str, Path]:
    """The *.onnx files of a models folder by file stem (none if the folder is absent)."""
    if not folder or not Path(folder).is_dir():
        return {}
    return {p.stem: p for p in sorted(Path(folder).glob("*.onnx"))}


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the field."""


_ENV = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _substitute(value: Any, path: str, where: str) -> Any:
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group("name"), m.group("default")
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: {where or '<root>'}: environment variable ${{{name}}} is not set")

        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, path, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, path, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{source}: {loc or '<root>'}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    data = _substitute(data, source, "")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: str | Path) -> Config:
    """Reads and validates a YAML config file; raises ConfigError naming the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # PyYAML's message quotes the offending line, which may hold a password: give the
        # problem and the position only.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path))


DEMO_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"
