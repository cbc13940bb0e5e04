"""The models a hub runs: a detector and its engine per configured model.

A model that cannot be loaded (missing or corrupt file, not a detection model) is kept
with its error, shown by the API, and simply not run: every other model and camera go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from videohub.config import ModelConfig
from videohub.detect.base import Detector, ModelError
from videohub.detect.engine import DetectionEngine

log = logging.getLogger("videohub.detect")

# Where one core set runs the model: batching frames of several cameras there only makes each
# frame wait for the others (measured: no more frames/s, twice the latency).
CPU_PROVIDERS = {"CPUExecutionProvider", "opencv"}


def build_detector(name: str, cfg: ModelConfig) -> Detector:
    """Makes the detector a model config describes; raises ModelError naming what is wrong."""
    if cfg.kind == "onnx":
        from videohub.detect.onnx_yolo import OnnxYoloDetector

        assert cfg.path is not None  # the config model requires it
        return OnnxYoloDetector(
            cfg.path,
            providers=cfg.providers,
            threads=cfg.threads,
            names=cfg.names,
            imgsz=cfg.imgsz,
            conf=cfg.conf,
            iou=cfg.iou,
            max_det=cfg.max_det,
        )
    # Built-ins have thresholds of their own scale; a `conf` set in the config overrides it.
    explicit = "conf" in cfg.model_fields_set
    if cfg.kind == "hog-people":
        from videohub.detect.classic.hog import HogPeopleDetector

        return HogPeopleDetector(min_score=cfg.conf) if explicit else HogPeopleDetector()
    if cfg.kind == "motion":
        from videohub.detect.classic.motion import MotionDetector

        return MotionDetector()
    if cfg.kind == "fire":
        from videohub.detect.classic.fire import FireDetector

        return FireDetector(min_score=cfg.conf) if explicit else FireDetector()
    raise ModelError(f"model {name!r}: unknown kind {cfg.kind!r}")


@dataclass
class LoadedModel:
    name: str
    config: ModelConfig
    engine: DetectionEngine | None
    error: str | None


class ModelSet:
    def __init__(self, configs: dict[str, ModelConfig]) -> None:
        self.models: dict[str, LoadedModel] = {}
        for name, cfg in configs.items():
            try:
                detector = build_detector(name, cfg)
            except ModelError as exc:
                log.error("model %s not loaded: %s", name, exc)
                self.models[name] = LoadedModel(name, cfg, None, str(exc))
                continue
            max_batch = cfg.max_batch or (1 if detector.provider in CPU_PROVIDERS else 8)
            engine = DetectionEngine(name, detector, max_batch, cfg.max_wait)
            log.info("model %s loaded (%s, %s)", name, cfg.kind, detector.provider)
            self.models[name] = LoadedModel(name, cfg, engine, None)

    @property
    def engines(self) -> dict[str, DetectionEngine]:
        return {name: m.engine for name, m in self.models.items() if m.engine is not None}

    def stop(self) -> None:
        for engine in self.engines.values():
            engine.stop()
