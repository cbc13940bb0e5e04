"""Give an untrained network real signal, so that speed and parity measurements on it mean something.

A detector built from its architecture with the framework's random initialisation is degenerate:
every convolution shrinks its input (PyTorch's default init keeps about a third of the variance,
SiLU takes more), so the activations fade block after block and the network outputs the same
tensor for every frame (an untrained YOLOv8n at 320: mean difference ~1e-8 between two different
scenes). Parity between two runtimes, fp16 drift or NMS load measured on such a model prove
nothing. Here each convolution is rescaled, in execution order, so that its output channels have
unit variance on real-looking frames (LSUV-style, one forward pass); the class logits of a YOLO head
are then shifted so that a typical frame has a few dozen anchor x class scores above the confidence
threshold. Measured on unseen scenes (YOLOv8n / YOLO11n at 320 and 640, Ultralytics' predict at
conf 0.25, iou 0.7): a median of 30-60 boxes per frame after NMS, but from 0 to the 300 cap on
single frames - an untrained net reacts strongly to global scene statistics. Boxes and classes
mean nothing; the work they cause (NMS, drawing, events) is of a realistic order.

Frames come from `SceneRenderer`: a textured street-like background with moving figures, cars and
shapes, drawn with OpenCV from a seed, so everything here is deterministic and needs no downloads.

torch is imported inside the functions that need it: this module is importable (and the renderer
usable) without the optional Ultralytics/torch extra.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from videohub.detect.letterbox import BatchLetterboxer

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class _Mover:
    kind: str  # person | car | bike | shape
    x: float  # position at frame 0, pixels
    y: float
    vx: float  # pixels per frame
    wobble: float  # vertical sway frequency
    scale: float
    colour: tuple[int, int, int]


class SceneRenderer:
    """Renders frame `index` of a synthetic street scene, the same pixels for the same seed.

    The background (buildings with windows, a road with lane marks, trees, fine noise texture) is
    drawn once; moving objects (walking figures, cars, a bike-like pair of wheels, plain shapes)
    move along straight paths that wrap around, so consecutive frames differ the way video does.
    """

    def __init__(self, width: int = 640, height: int = 480, seed: int = 0, objects: int = 8) -> None:
        if width < 32 or height < 32:
            raise ValueError(f"scene size must be at least 32x32, got {width}x{height}")
        self.width = width
        self.height = height
        self.seed = seed
        rng = np.random.default_rng(seed)
        self._background = self._make_background(rng)
        self._objects = [self._make_object(rng, i) for i in range(objects)]

    def _make_background(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self.height, self.width
        # Multi-octave value noise: real scenes have texture at every scale, which a flat gradient lacks.
        texture = np.zeros((h, w), np.float32)
        for octave, weight in ((4, 60.0), (16, 30.0), (64, 15.0), (256, 8.0)):
            cells = rng.random((max(2, h * octave // max(h, w)), max(2, w * octave // max(h, w))), dtype=np.float32)
            texture += weight * cv2.resize(cells, (w, h), interpolation=cv2.INTER_CUBIC)
        base = np.clip(texture + 40.0, 0, 255)
        tint = rng.uniform(0.7, 1.1, size=3).astype(np.float32)
        img = np.clip(base[..., None] * tint, 0, 255).astype(np.uint8)
        horizon = int(h * rng.uniform(0.45, 0.6))
        # Buildings along the horizon, each with a grid of windows.
        x = 0
        while x < w:
            bw = int(rng.integers(w // 12, w // 5))
            bh = int(rng.integers(h // 6, int(horizon * 0.9)))
            colour = tuple(int(c) for c in rng.integers(60, 200, size=3))
            cv2.rectangle(img, (x, horizon - bh), (x + bw, horizon), colour, -1)
            step = max(6, bw // 6)
            for wy in range(horizon - bh + step // 2, horizon - step, step):
                for wx in range(x + step // 3, x + bw - step // 2, step):
                    lit = int(rng.integers(20, 255))
                    cv2.rectangle(img, (wx, wy), (wx + step // 3, wy + step // 2), (lit // 2, lit, lit), -1)
            x += bw + int(rng.integers(0, w // 20 + 1))
        # Road: dark asphalt below the horizon with dashed lane marks.
        road_noise = rng.normal(0.0, 8.0, size=(h - horizon, w, 1)).astype(np.float32)
        img[horizon:] = np.clip(np.full((h - horizon, w, 3), 70, np.float32) + road_noise, 0, 255).astype(np.uint8)
        for lane in (0.35, 0.7):
            y = int(horizon + (h - horizon) * lane)
            for lx in range(0, w, max(20, w // 12)):
                cv2.line(img, (lx, y), (lx + max(8, w // 30), y), (220, 220, 220), max(1, h // 160))
        # Trees: irregular green blobs on the horizon line.
        for _ in range(int(rng.integers(2, 6))):
            tx, r = int(rng.integers(0, w)), int(rng.integers(h // 30 + 2, h // 10 + 3))
            cv2.circle(img, (tx, horizon - r), r, (30, int(rng.integers(90, 160)), 40), -1, cv2.LINE_AA)
            cv2.line(img, (tx, horizon - r), (tx, horizon), (30, 50, 70), max(2, r // 4))
        return img

    def _make_object(self, rng: np.random.Generator, i: int) -> _Mover:
        scale = float(rng.uniform(0.6, 1.4)) * self.height / 480.0
        r, g, b = (int(c) for c in rng.integers(0, 256, size=3))
        return _Mover(
            kind=("person", "car", "person", "shape", "bike", "car", "person", "shape")[i % 8],
            x=float(rng.uniform(0, self.width)),
            y=float(rng.uniform(0.55, 0.95) * self.height),
            vx=float(rng.uniform(-6, 6)) * scale,
            wobble=float(rng.uniform(-1, 1)),
            scale=scale,
            colour=(r, g, b),
        )

    def render(self, index: int) -> np.ndarray:
        """The HxWx3 uint8 BGR image of frame `index`."""
        img = self._background.copy()
        for obj in self._objects:
            self._draw(img, obj, index)
        # A little per-frame sensor noise, seeded by the frame index so renders are reproducible.
        noise = np.random.default_rng((self.seed, index)).integers(-4, 5, size=img.shape, dtype=np.int16)
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)

    def frames(self, count: int, start: int = 0, step: int = 7) -> list[np.ndarray]:
        """`count` frames, `step` apart, so they differ visibly."""
        return [self.render(start + k * step) for k in range(count)]

    def _draw(self, img: np.ndarray, obj: _Mover, index: int) -> None:
        s, colour, kind = obj.scale, obj.colour, obj.kind
        # Straight paths that wrap around (with a margin, so objects enter and leave the frame).
        x = int((obj.x + obj.vx * index) % (self.width + 200) - 100)
        y = int(obj.y + 20 * s * math.sin(obj.wobble * index * 0.1))
        if kind == "person":
            height = 90 * s
            swing = math.sin(index * 0.6) * height * 0.2
            th = max(2, int(7 * s))
            hip, neck = (x, int(y - height * 0.45)), (x, int(y - height * 0.85))
            cv2.circle(img, (x, int(y - height * 0.94)), max(3, int(height * 0.08)), (60, 80, 150), -1, cv2.LINE_AA)
            cv2.line(img, neck, hip, colour, th + 3, cv2.LINE_AA)  # torso in the clothing colour
            cv2.line(img, hip, (int(x + swing), y), (40, 40, 40), th, cv2.LINE_AA)
            cv2.line(img, hip, (int(x - swing), y), (40, 40, 40), th, cv2.LINE_AA)
            arm_y = int(y - height * 0.75)
            cv2.line(img, (x, arm_y), (int(x - swing), int(arm_y + height * 0.3)), colour, th, cv2.LINE_AA)
            cv2.line(img, (x, arm_y), (int(x + swing), int(arm_y + height * 0.3)), colour, th, cv2.LINE_AA)
        elif kind == "car":
            cw, ch = int(110 * s), int(40 * s)
            cv2.rectangle(img, (x - cw // 2, y - ch), (x + cw // 2, y), colour, -1)
            cv2.rectangle(img, (x - cw // 4, y - int(ch * 1.7)), (x + cw // 4, y - ch), colour, -1)
            cv2.rectangle(img, (x - cw // 5, y - int(ch * 1.55)), (x + cw // 5, y - ch - 2), (200, 180, 150), -1)
            for wx in (x - cw // 3, x + cw // 3):
                cv2.circle(img, (wx, y), max(3, int(11 * s)), (20, 20, 20), -1, cv2.LINE_AA)
        elif kind == "bike":
            r = max(4, int(16 * s))
            for wx in (x - int(1.6 * r), x + int(1.6 * r)):
                cv2.circle(img, (wx, y - r), r, (30, 30, 30), max(2, int(3 * s)), cv2.LINE_AA)
            cv2.line(img, (x - int(1.6 * r), y - r), (x, y - 2 * r), colour, max(2, int(4 * s)), cv2.LINE_AA)
            cv2.line(img, (x, y - 2 * r), (x + int(1.6 * r), y - r), colour, max(2, int(4 * s)), cv2.LINE_AA)
        else:
            r = max(5, int(25 * s))
            pts = np.array(
                [
                    [x + r * math.cos(a + index * 0.05), y - r + r * math.sin(a + index * 0.05)]
                    for a in np.linspace(0, 2 * math.pi, 6, endpoint=False)
                ],
                np.int32,
            )
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)


# Aspect ratios of real cameras (and a square one): the calibration must see the letterbox padding
# that wide frames get, and scenes that differ from each other, not just frames of one scene.
_CALIBRATION_SIZES = ((640, 480), (1280, 720), (480, 480), (960, 540))


def calibration_frames(count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """`count` BGR frames from `count` different scenes and camera shapes; the same for the same seed.

    Variety matters: an untrained net's outputs swing with global scene statistics, so scales set
    on frames of a single scene would be far off on the next one.
    """
    return [
        SceneRenderer(*_CALIBRATION_SIZES[k % len(_CALIBRATION_SIZES)], seed=seed * 1000 + k).render(5 * k)
        for k in range(count)
    ]


def scene_batch(frames: Sequence[np.ndarray], imgsz: int) -> torch.Tensor:
    """BGR frames as a YOLO input batch, prepared as Ultralytics (and the hub's detector) do:
    letterboxed to imgsz x imgsz with grey padding, RGB, float in [0, 1], NCHW."""
    import torch

    blob, _ = BatchLetterboxer((imgsz, imgsz))(frames)
    return torch.from_numpy(blob.copy())  # the letterboxer reuses its buffer; the tensor must own its data


@dataclass(frozen=True)
class LayerScale:
    name: str
    std_before: float  # std of its output (without bias) on the calibration frames, mean over channels
    scale: float  # factor its weight was multiplied by, mean over channels


def calibrate_convs(
    model: torch.nn.Module,
    batch: torch.Tensor,
    *,
    skip: Iterable[torch.nn.Module] = (),
    class_logit_convs: Iterable[torch.nn.Module] = (),
    positives_per_frame: int = 30,
    conf: float = 0.25,
    box_logit_convs: Iterable[torch.nn.Module] = (),
    box_logit_std: float = 4.0,
) -> list[LayerScale]:
    """Rescale every `nn.Conv2d` of `model` (except `skip`) so its output has unit variance on `batch`
    (per output channel; per layer for the head convolutions named below).

    One forward pass does it: a hook on each convolution measures its output as it runs, rescales
    the weight in place and hands the rescaled output on, so every later layer is measured on
    already-calibrated inputs (which is what layer-by-layer LSUV would do with many passes).
    Biases are kept: they are the head's priors, not scale. For `class_logit_convs` (a YOLO head's
    last class convolutions) the bias is then set so that, in the median frame of `batch`, a share
    `positive_rate` of the anchor x class scores reaches `conf` - a real detector finds some objects
    per frame, not none (Ultralytics' initial bias) and not thousands (zero bias). The outputs of
    `box_logit_convs` (a YOLO head's DFL box logits) get std `box_logit_std` instead of 1.
    Deterministic for a given model and batch (bit for bit: it runs on one thread). Returns what
    was done, in execution order.
    """
    import torch

    skipped = {id(m) for m in skip}
    class_convs = {id(m) for m in class_logit_convs}
    box_convs = {id(m) for m in box_logit_convs}
    names = {id(m): n for n, m in model.named_modules()}
    report: list[LayerScale] = []
    target_logit = math.log(conf / (1.0 - conf))

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        assert isinstance(module, torch.nn.Conv2d)
        name = names.get(id(module), type(module).__name__)
        bias = module.bias
        weight_part = output if bias is None else output - bias.view(1, -1, 1, 1)
        head = id(module) in class_convs or id(module) in box_convs
        # Feature convolutions: every output channel gets unit variance, so no channel drowns the
        # others downstream. Head convolutions: one factor for the layer, which keeps the spread
        # between classes (or distance bins) that makes one class win over another.
        std = weight_part.float().std() if head else weight_part.float().std(dim=(0, 2, 3))
        if not bool(torch.isfinite(std).all()) or float(std.max()) <= 0.0:
            raise ValueError(f"cannot calibrate {name}: its output has std {std.max().item()}")
        std = std.clamp(min=1e-6 * float(std.max()))  # a dead channel stays dead instead of exploding
        if id(module) in box_convs:
            # DFL logits: a softmax over 16 distance bins. At unit variance it stays nearly flat, so
            # every box would be about the same size whatever the frame; a trained head is peaky.
            std = std / box_logit_std
        module.weight.mul_(1.0 / std.view(-1, 1, 1, 1) if std.ndim else 1.0 / std)
        weight_part = weight_part / (std.view(1, -1, 1, 1) if std.ndim else std)
        report.append(LayerScale(name, float(std.mean()), float((1.0 / std).mean())))
        if bias is None:
            return weight_part
        if id(module) in class_convs:
            # Per frame, the logit that its top `positives_per_frame` anchor x class scores reach
            # (split between the levels); the median frame then has that many candidates. Pooled
            # over the batch, a few "hot" frames would take them all: an untrained net's logits
            # swing with global scene statistics.
            per_frame = weight_part.flatten(1)
            k = min(per_frame.shape[1], max(1, round(positives_per_frame / len(class_convs))))
            threshold = float(torch.topk(per_frame, k, dim=1).values[:, -1].median())
            bias.fill_(target_logit - threshold)
        return weight_part + bias.view(1, -1, 1, 1)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d) and id(m) not in skipped
    ]
    was_training = model.training
    # Multi-threaded reductions round differently from run to run; one thread makes the rescaled
    # weights (and so the exported file) bit-for-bit reproducible. Restored afterwards.
    threads = torch.get_num_threads()
    try:
        model.eval()
        torch.set_num_threads(1)
        with torch.no_grad():
            model(batch)
    finally:
        torch.set_num_threads(threads)
        for h in handles:
            h.remove()
        model.train(was_training)
    return report
