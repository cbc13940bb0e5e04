"""Ultralytics' letterbox, bit for bit, written straight into a reusable batch buffer.

A YOLO model trained and exported by Ultralytics expects its input prepared exactly as
Ultralytics' `LetterBox` does it: scale by r = min(H/h, W/w) (optionally never up),
resize to (round(w*r), round(h*r)) with INTER_LINEAR, pad the rest with grey 114 split
in two with the `round(d - 0.1)` / `round(d + 0.1)` trick, then BGR->RGB, HWC->CHW, /255.
Any deviation (another interpolation, padding on one side only) shifts boxes by a pixel
or changes scores, so this module copies the arithmetic and not just the idea.

The work per frame is one `cv2.resize` whose destination is the image's own region of a
preallocated uint8 canvas (no intermediate image, no `copyMakeBorder` copy), a fill of the
pad strips, and one strided numpy pass per batch that swaps channels, transposes and
scales into a preallocated float buffer. Both buffers are reused across calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # Ultralytics' grey


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Where one source image landed inside the model input, and how to map boxes back."""

    src_h: int
    src_w: int
    scale: float  # r: model-input pixels per source pixel
    new_h: int  # size of the resized image inside the model input
    new_w: int
    top: int  # padding above / left of it
    left: int

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Maps xyxy boxes from model-input pixels to source pixels, clipped to the image.

        In place on a float (n, 4) array, which is also returned. This is the exact inverse of
        the forward transform (x * r + left): Ultralytics' `scale_boxes` uses the same gain and
        the same rounded pad (it recomputes both from the shapes; we kept them)."""
        boxes[:, 0::2] -= self.left
        boxes[:, 1::2] -= self.top
        boxes /= self.scale
        np.clip(boxes[:, 0::2], 0, self.src_w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, self.src_h, out=boxes[:, 1::2])
        return boxes


def letterbox_geometry(src_hw: tuple[int, int], dst_hw: tuple[int, int], scaleup: bool = True) -> Letterbox:
    """Ultralytics `LetterBox(new_shape=dst_hw, auto=False, scaleup=scaleup, center=True)` geometry."""
    h0, w0 = src_hw
    dst_h, dst_w = dst_hw
    r = min(dst_h / h0, dst_w / w0)
    if not scaleup:  # only ever shrink (Ultralytics' scaleup=False)
        r = min(r, 1.0)
    # Python's round (half to even) on purpose: Ultralytics uses it, and .5 cases do occur.
    # max(1, ...) only matters for absurd aspect ratios (a 1x5000 strip), where Ultralytics
    # itself would hand cv2.resize a zero size and fail.
    new_w = max(1, int(round(w0 * r)))
    new_h = max(1, int(round(h0 * r)))
    dw = (dst_w - new_w) / 2
    dh = (dst_h - new_h) / 2
    # The -0.1 / +0.1 puts the odd pixel of an odd padding on the bottom / right side.
    top = int(round(dh - 0.1))
    left = int(round(dw - 0.1))
    return Letterbox(src_h=h0, src_w=w0, scale=r, new_h=new_h, new_w=new_w, top=top, left=left)


def _check_image(image: object, index: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image {index}: expected an HxWx3 uint8 BGR array, got {got}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {index}: empty image of shape {image.shape}")
    return image


class BatchLetterboxer:
    """Letterboxes a batch of BGR images into one NCHW RGB float blob, reusing its buffers.

    Not thread-safe: the buffers are shared between calls, so each thread needs its own
    instance (the detector keeps one per thread)."""

    def __init__(self, size: tuple[int, int], dtype: type[np.floating] | np.dtype = np.float32, scaleup: bool = True):
        self.size = (int(size[0]), int(size[1]))
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError(f"blob dtype must be float32 or float16, not {self.dtype}")
        self.scaleup = scaleup
        # numpy's float32 -> float16 cast is slow (2.4 ms per 640x640 frame); a 256-entry table of
        # half(x / 255) gives the same values (torch's half division rounds the float32 quotient
        # once, as the table does) in 0.9 ms.
        self._half_lut = (
            (np.arange(256, dtype=np.float32) / np.float32(255)).astype(np.float16)
            if self.dtype == np.float16
            else None
        )
        h, w = self.size
        self._canvas = np.empty((0, h, w, 3), np.uint8)  # letterboxed BGR images, HWC
        self._blob = np.zeros((0, 3, h, w), self.dtype)  # what the model eats, NCHW RGB in [0, 1]

    def _reserve(self, n: int) -> None:
        if self._canvas.shape[0] >= n:
            return
        h, w = self.size
        self._canvas = np.empty((n, h, w, 3), np.uint8)
        # zeros, not empty: slots that only pad a static batch are fed to the model as they are,
        # and uninitialised memory could hold NaNs.
        self._blob = np.zeros((n, 3, h, w), self.dtype)

    def __call__(self, images: Sequence[np.ndarray], pad_to: int | None = None) -> tuple[np.ndarray, list[Letterbox]]:
        """Returns (blob, geometries): blob is [max(n, pad_to), 3, H, W], a view of the reused buffer,
        valid until the next call; geometries has one entry per image.

        pad_to is for models with a static batch size: the slots past n are left as they were."""
        n = len(images)
        total = max(n, pad_to or 0)
        self._reserve(total)
        h, w = self.size
        boxes: list[Letterbox] = []
        for i, image in enumerate(images):
            image = _check_image(image, i)
            g = letterbox_geometry((image.shape[0], image.shape[1]), self.size, self.scaleup)
            canvas = self._canvas[i]
            bottom, right = g.top + g.new_h, g.left + g.new_w
            roi = canvas[g.top : bottom, g.left : right]
            if (image.shape[0], image.shape[1]) == (g.new_h, g.new_w):
                roi[...] = image  # Ultralytics skips the resize when the size is already right
            else:
                out = cv2.resize(image, (g.new_w, g.new_h), dst=roi, interpolation=cv2.INTER_LINEAR)
                if not np.may_share_memory(out, roi):  # OpenCV declined to write in place
                    roi[...] = out
            # Only the pad strips need filling: the ROI was just overwritten.
            canvas[: g.top] = PAD_VALUE
            canvas[bottom:] = PAD_VALUE
            canvas[g.top : bottom, : g.left] = PAD_VALUE
            canvas[g.top : bottom, right:] = PAD_VALUE
            boxes.append(g)
        if n:
            # One strided pass: BGR->RGB (::-1), HWC->CHW (transpose) and /255 into the float buffer.
            pixels = self._canvas[:n, :, :, ::-1].transpose(0, 3, 1, 2)
            if self._half_lut is not None:
                np.take(self._half_lut, pixels, out=self._blob[:n])
            else:
                # Division, not multiplication by 1/255: the values equal Ultralytics' `im /= 255`.
                np.divide(pixels, np.float32(255), out=self._blob[:n])
        return self._blob[:total], boxes
