"""A synthetic city scene the built-in detectors can see: walkers and a burning window.

`PatternRenderer` draws a test pattern for the video path (stick figures on a dark
gradient); nothing in it looks like a person or a fire to a detector. `SceneRenderer`
draws what the weight-free detectors of `videohub.detect.classic` were made for:

* a light, slightly textured wall above a pavement (the texture is fixed per camera,
  so background models settle and only the walkers move);
* several filled dark person silhouettes (head, torso, swinging arms and legs) walking
  across at different speeds, 46-56 % of the frame height: at 16:9 and after HOG's
  shrink to 640 px wide they are 165-200 px tall, well inside what HOG finds;
* a window burning high up in the right corner: orange-to-yellow flame tongues whose
  heights, sway and colours change every frame, which is the flicker the fire rule
  looks for (the fire is above the walkers' heads, so neither hides the other);
* the camera name and wall clock.

Everything but the clock is a pure function of the seed and the frame index. Walker
sprites (one per gait phase) and the background are drawn once; a 1280x720 frame costs
about 1 ms (copying the background, pasting sprites, flames and text).
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from videohub.simulate.pattern import FrameRenderer, PatternFeed

Box = tuple[float, float, float, float]

_PHASES = 16  # sprites per gait cycle
_LEG_SWING = 20.0  # degrees either side of vertical at the widest stride
_ARM_SWING = 16.0
_TONGUES = 7  # flame tongues across the burning window
_HORIZON = 0.62  # wall above, pavement below, as a fraction of the frame height
# A sprite is drawn in a canvas this much wider/taller than the person (in person
# heights), so swinging limbs never touch its edges.
_SPRITE_HALF_WIDTH = 0.28
_SPRITE_PAD = 0.03


@dataclass(frozen=True)
class Walker:
    """One person crossing the scene; sizes and speeds are fractions of the frame."""

    height: float  # person height / frame height
    foot: float  # y of the soles / frame height
    speed: float  # frame widths per second
    direction: int  # +1 left to right, -1 right to left
    offset: float  # where on its loop the walker is at t = 0, 0..1
    coat: tuple[int, int, int]  # BGR, dark
    trousers: tuple[int, int, int]


# Farther people (smaller, feet higher) first, so nearer ones are drawn over them. They
# stroll (50-110 px/s at 1280 wide): an overlay that draws the newest detections on a
# newer frame, sampled at a few frames a second, still lands on them.
DEFAULT_WALKERS: tuple[Walker, ...] = (
    Walker(0.46, 0.82, 0.04, +1, 0.10, (62, 52, 44), (38, 34, 32)),
    Walker(0.51, 0.87, 0.06, -1, 0.55, (40, 46, 70), (30, 30, 36)),
    Walker(0.56, 0.93, 0.085, +1, 0.80, (54, 58, 50), (44, 40, 38)),
)


def _rotate(point: tuple[float, float], pivot: tuple[float, float], degrees: float) -> tuple[float, float]:
    a = math.radians(degrees)
    dx, dy = point[0] - pivot[0], point[1] - pivot[1]
    return (pivot[0] + dx * math.cos(a) - dy * math.sin(a), pivot[1] + dx * math.sin(a) + dy * math.cos(a))


def draw_walker(
    canvas: np.ndarray,
    cx: float,
    top: float,
    height: float,
    phase: float,
    coat: tuple[int, int, int],
    trousers: tuple[int, int, int],
    hair: tuple[int, int, int] = (30, 30, 34),
) -> Box:
    """A filled walking-person silhouette `height` px tall facing right; returns its box.

    Proportions in units of height/100 (those of the silhouette HOG is tested on):
    head 12 wide, shoulders 22, hips at 50. `phase` (0..1) is the gait cycle: legs
    swing in opposite directions from the hips and each arm swings against its leg.
    """
    s = height / 100.0
    swing = math.sin(2.0 * math.pi * phase)

    def p(x: float, y: float) -> tuple[int, int]:
        return (round(cx + x * s), round(top + y * s))

    def poly(points: list[tuple[float, float]], colour: tuple[int, int, int]) -> None:
        cv2.fillConvexPoly(canvas, np.array([p(x, y) for x, y in points], np.int32), colour, cv2.LINE_AA)

    xs: list[float] = []
    # Legs first (the far one a shade darker), then torso, arms and head over them.
    for side in (-1, 1):
        hx = side * 3.5
        hip = (hx, 50.0)
        angle = side * _LEG_SWING * swing
        pts = [_rotate(q, hip, angle) for q in ((hx - 4.5, 48.0), (hx + 4.5, 48.0), (hx + 3.0, 96.0), (hx - 3.0, 96.0))]
        shade = trousers if side > 0 else tuple(max(0, c - 8) for c in trousers)
        poly(pts, shade)  # type: ignore[arg-type]
        ankle = _rotate((hx, 96.5), hip, angle)
        foot = (ankle[0] + 2.5, ankle[1] + 1.5)  # shoe, pointing the way we walk
        cv2.ellipse(canvas, p(*foot), (round(5 * s), round(2.2 * s)), 0, 0, 360, shade, -1, cv2.LINE_AA)
        xs += [q[0] for q in pts] + [foot[0] - 5, foot[0] + 5]
    poly([(-2.5, 12), (2.5, 12), (2.5, 17), (-2.5, 17)], coat)  # neck
    poly([(-10, 16), (10, 16), (9, 53), (-9, 53)], coat)  # torso, coat down to the hips
    for side in (-1, 1):
        sx = side * 10.5
        shoulder = (sx, 18.0)
        angle = -side * _ARM_SWING * swing
        pts = [
            _rotate(q, shoulder, angle)
            for q in ((sx - 2.8, 16.5), (sx + 2.8, 16.5), (sx + 2.2, 48.0), (sx - 2.2, 48.0))
        ]
        poly(pts, coat)
        hand = _rotate((sx, 49.0), shoulder, angle)
        cv2.ellipse(canvas, p(*hand), (round(2.4 * s), round(3 * s)), 0, 0, 360, coat, -1, cv2.LINE_AA)
        xs += [q[0] for q in pts]
    cv2.ellipse(canvas, p(0, 7), (round(6 * s), round(7.5 * s)), 0, 0, 360, hair, -1, cv2.LINE_AA)  # head
    return (cx + min(xs) * s, top, cx + max(xs) * s, top + 100.0 * s)


def _tongue(x: float, base: float, height: float, half: float, sway: float, left: int, right: int) -> np.ndarray:
    """The polygon of one flame tongue: wide at the base, a swaying point at the top."""
    points = [
        (x - half, base),
        (x - half * 0.8 + sway * 0.3, base - height * 0.45),
        (x - half * 0.3 + sway * 0.7, base - height * 0.8),
        (x + sway, base - height),
        (x + half * 0.3 + sway * 0.7, base - height * 0.8),
        (x + half * 0.8 + sway * 0.3, base - height * 0.45),
        (x + half, base),
    ]
    return np.array([(min(max(px, left), right), py) for px, py in points], np.float64).round().astype(np.int32)


@dataclass
class _Sprite:
    image: np.ndarray  # h x w x 3 BGR
    mask: np.ndarray  # h x w uint8, 255 where the person is
    box: Box  # the person's box within the sprite


class SceneRenderer:
    """Draws the frames of a city scene camera (see the module docstring).

    `render(index, fps, wall_time)` matches `PatternRenderer`; `people(index, fps)` and
    `flame_box` give where the walkers and the flame are, for tests and demos. With
    `fire=False` the window stays dark (a still scene, for the motion-gate benchmark).
    """

    def __init__(
        self,
        width: int,
        height: int,
        name: str,
        seed: int = 0,
        walkers: tuple[Walker, ...] = DEFAULT_WALKERS,
        fire: bool = True,
    ) -> None:
        if width < 16 or height < 16:
            raise ValueError(f"scene size must be at least 16x16, got {width}x{height}")
        self.width = width
        self.height = height
        self.name = name
        self.seed = seed
        self.walkers = walkers
        self.fire = fire
        self._scale = height / 720.0
        # The fire: flames out of a window high up in the right corner, above the walkers'
        # heads and wider than tall, so nothing there looks like an upright person to HOG.
        self._window = (int(0.80 * width), int(0.11 * height), int(0.95 * width), int(0.27 * height))
        x1, _, x2, y2 = self._window
        self._flame_base = y2 - max(1, int(0.015 * height))
        self._flame_height = 0.22 * height
        # Where flame pixels can be (anti-aliased edges spill one pixel past the polygons).
        self.flame_box: Box = (
            float(max(0, x1 - 1)),
            max(0.0, self._flame_base - self._flame_height - 1),
            float(min(width, x2 + 1)),
            float(min(height, self._flame_base + 1)),
        )
        self._background = self._make_background()
        self._sprites = [self._make_sprites(w) for w in walkers]

    # ------------------------------------------------------------------ drawn once

    def _make_background(self) -> np.ndarray:
        """Light wall and pavement with fixed, slightly blurred grey noise (no colour noise,
        so nothing in it passes the fire-colour rule)."""
        h, w = self.height, self.width
        rng = np.random.default_rng([self.seed, 1])
        horizon = int(_HORIZON * h)
        base = np.empty((h, 1), np.float32)
        base[:horizon] = 204.0
        base[horizon:] = np.linspace(178.0, 168.0, h - horizon, dtype=np.float32)[:, None]
        grey = base + rng.normal(0.0, 7.0, (h, w)).astype(np.float32)
        # Faint horizontal courses of the wall and joints of the paving: texture, not objects.
        course = max(8, int(0.055 * h))
        grey[course:horizon:course] -= 14.0
        for y in range(horizon + course // 2, h, max(6, int(course * 1.3))):
            grey[y] -= 10.0
        grey[horizon : horizon + max(2, int(0.012 * h))] = 150.0  # the kerb
        wall = np.asarray(cv2.GaussianBlur(np.clip(grey, 0, 255).astype(np.uint8), (3, 3), 0))
        blue = np.minimum(wall.astype(np.uint16) + 6, 255).astype(np.uint8)  # a cool tint: far from flame colours
        bg = np.ascontiguousarray(np.dstack([blue, wall, wall]))
        x1, y1, x2, y2 = self._window
        sill = max(2, int(0.012 * h))
        cv2.rectangle(bg, (x1, y1), (x2, y2), (34, 34, 38), -1)  # the burnt-out window the flames come out of
        cv2.rectangle(bg, (x1 - sill, y2), (x2 + sill, y2 + sill), (150, 150, 156), -1)  # its sill
        return bg

    def _make_sprites(self, walker: Walker) -> list[_Sprite]:
        person_h = walker.height * self.height
        sprite_h = int(person_h * (1 + 2 * _SPRITE_PAD)) + 2
        sprite_w = int(person_h * 2 * _SPRITE_HALF_WIDTH) + 2
        top = person_h * _SPRITE_PAD
        sprites = []
        for k in range(_PHASES):
            image = np.zeros((sprite_h, sprite_w, 3), np.uint8)
            box = draw_walker(image, sprite_w / 2, top, person_h, k / _PHASES, walker.coat, walker.trousers)
            mask = np.zeros((sprite_h, sprite_w), np.uint8)
            white = (255, 255, 255)
            draw_walker(mask, sprite_w / 2, top, person_h, k / _PHASES, white, white, white)
            mask = np.where(mask >= 96, 255, 0).astype(np.uint8)  # hard edges: a plain copy per frame
            if walker.direction < 0:
                image, mask = image[:, ::-1].copy(), mask[:, ::-1].copy()
                box = (sprite_w - box[2], box[1], sprite_w - box[0], box[3])
            sprites.append(_Sprite(image, mask, box))
        return sprites

    # ------------------------------------------------------------------ per frame

    def _placement(self, index: int, fps: float, i: int) -> tuple[_Sprite, int, int]:
        """The sprite of walker `i` at frame `index` and where its top-left corner goes."""
        walker = self.walkers[i]
        sprites = self._sprites[i]
        sprite_h, sprite_w = sprites[0].mask.shape
        t = index / fps
        span = self.width + sprite_w  # the loop: enter at one edge, leave at the other
        travelled = (walker.offset + walker.speed * t * self.width / span) % 1.0 * span
        left = travelled - sprite_w if walker.direction > 0 else self.width - travelled
        # One gait cycle (two steps) covers about 0.75 of the person's height.
        distance = walker.speed * t * self.width
        phase = int(distance / (0.75 * walker.height * self.height) * _PHASES) % _PHASES
        top = walker.foot * self.height - (sprite_h - walker.height * self.height * _SPRITE_PAD)
        return sprites[phase], round(left), round(top)

    def people(self, index: int, fps: float) -> list[Box]:
        """Boxes of the walkers in frame `index`, clipped to the frame (off-frame ones left out)."""
        out: list[Box] = []
        for i in range(len(self.walkers)):
            sprite, left, top = self._placement(index, fps, i)
            x1, y1, x2, y2 = sprite.box
            box = (
                max(0.0, left + x1),
                max(0.0, top + y1),
                min(float(self.width), left + x2),
                min(float(self.height), top + y2),
            )
            if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                out.append(box)
        return out

    def render(self, index: int, fps: float, wall_time: float) -> np.ndarray:
        """The BGR image of frame `index`."""
        img = self._background.copy()
        for i in range(len(self.walkers)):
            sprite, left, top = self._placement(index, fps, i)
            self._paste(img, sprite, left, top)
        if self.fire:
            self._draw_fire(img, index)
        self._draw_text(img, wall_time)
        return img

    def _paste(self, img: np.ndarray, sprite: _Sprite, left: int, top: int) -> None:
        sh, sw = sprite.mask.shape
        x1, y1 = max(0, left), max(0, top)
        x2, y2 = min(self.width, left + sw), min(self.height, top + sh)
        if x2 <= x1 or y2 <= y1:
            return
        sx, sy = x1 - left, y1 - top
        roi = img[y1:y2, x1:x2]
        cv2.copyTo(
            sprite.image[sy : sy + y2 - y1, sx : sx + x2 - x1], sprite.mask[sy : sy + y2 - y1, sx : sx + x2 - x1], roi
        )

    def _draw_fire(self, img: np.ndarray, index: int) -> None:
        """Flame tongues out of the window, redrawn at random every frame (the flicker)."""
        x1, _, x2, _ = self._window
        rng = np.random.default_rng([self.seed, 2, index])
        n = _TONGUES
        step = (x2 - x1) / n
        half = step * 0.75
        xs = x1 + step * (np.arange(n) + 0.5) + rng.uniform(-0.15, 0.15, n) * step
        heights = self._flame_height * rng.uniform(0.45, 1.0, n)
        sways = rng.uniform(-0.6, 0.6, n) * step
        greens = rng.integers(80, 190, n)
        blues = rng.integers(0, 40, n)
        cores = rng.uniform(0.35, 0.7, n)
        base = self._flame_base
        for k in range(n):
            x, h = float(xs[k]), float(heights[k])
            outer = _tongue(x, base, h, half, float(sways[k]), x1, x2)
            cv2.fillPoly(img, [outer], (int(blues[k]), int(greens[k]), 255), cv2.LINE_AA)
        for k in range(n):  # yellow hearts, lower and narrower
            x, h = float(xs[k]), float(heights[k] * cores[k])
            inner = _tongue(x, base, h, half * 0.5, float(sways[k]) * 0.5, x1, x2)
            cv2.fillPoly(img, [inner], (int(blues[k]) + 60, 225, 255), cv2.LINE_AA)

    def _draw_text(self, img: np.ndarray, wall_time: float) -> None:
        s = max(self._scale, 0.3)
        font = cv2.FONT_HERSHEY_SIMPLEX
        th = max(1, int(2 * s))
        clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall_time)) + f".{int(wall_time * 1000) % 1000:03d}"
        for i, text in enumerate((self.name, clock)):
            org = (int(12 * s) + 2, int((40 + 38 * i) * s) + 8)
            cv2.putText(img, text, org, font, 1.0 * s, (0, 0, 0), th + 2, cv2.LINE_AA)
            cv2.putText(img, text, org, font, 1.0 * s, (255, 255, 255), th, cv2.LINE_AA)


def camera_seed(name: str) -> int:
    """A stable seed per camera name, so two scene cameras do not look the same."""
    return zlib.crc32(name.encode("utf-8"))


class SceneFeed(PatternFeed):
    """A simulated live camera showing the city scene, H.264 via libx264, paced in real time.

    Everything else (on-demand encoding, GOP cache, pause/resume, pacing) is `PatternFeed`'s.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: int = 25,
        gop: int | None = None,
        bitrate: int | None = None,
        name: str = "cam",
        seed: int | None = None,
    ) -> None:
        self.seed = camera_seed(name) if seed is None else seed
        super().__init__(width, height, fps, gop, bitrate, name)

    def _make_renderer(self) -> FrameRenderer:
        return SceneRenderer(self.width, self.height, self.name, self.seed)
