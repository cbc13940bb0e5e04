"""The letterbox must equal Ultralytics' pixel for pixel, and its inverse must be exact.

`reference_letterbox` is Ultralytics' LetterBox (auto=False, center=True) and its predictor's
preprocessing, written from the documented algorithm (Ultralytics is not installed here):
resize to round(w*r) x round(h*r) with INTER_LINEAR unless the size is already right, pad
round(d - 0.1) / round(d + 0.1) with 114, then BGR->RGB, HWC->CHW, /255.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from videohub.detect.letterbox import BatchLetterboxer, letterbox_geometry


def reference_letterbox(img: np.ndarray, new_shape: tuple[int, int], scaleup: bool = True) -> np.ndarray:
    shape = img.shape[:2]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2  # padding split in two
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def reference_blob(images: list[np.ndarray], new_shape: tuple[int, int], half: bool = False, scaleup: bool = True):
    im = np.stack([reference_letterbox(x, new_shape, scaleup) for x in images])
    im = np.ascontiguousarray(im[..., ::-1].transpose((0, 3, 1, 2)))
    im = im.astype(np.float16) if half else im.astype(np.float32)
    return im / (np.float16(255) if half else np.float32(255))


def frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


SHAPES = [(720, 1280), (1080, 1920), (480, 640), (333, 500), (500, 333), (640, 640), (100, 75), (37, 1001), (1, 1)]


@pytest.mark.parametrize("size", [(640, 640), (384, 640), (320, 256)])
def test_blob_equals_ultralytics_preprocessing(size: tuple[int, int]) -> None:
    images = [frame(h, w, i) for i, (h, w) in enumerate(SHAPES)]
    blob, geoms = BatchLetterboxer(size)(images)
    assert blob.dtype == np.float32 and blob.shape == (len(images), 3, *size)
    np.testing.assert_array_equal(blob, reference_blob(images, size))
    assert [(g.src_h, g.src_w) for g in geoms] == SHAPES


def test_fp16_blob_and_no_upscaling() -> None:
    images = [frame(200, 300), frame(720, 1280, 1)]
    blob, _ = BatchLetterboxer((320, 320), np.float16)(images)
    assert blob.dtype == np.float16
    np.testing.assert_array_equal(blob, reference_blob(images, (320, 320), half=True))
    blob, geoms = BatchLetterboxer((640, 640), scaleup=False)(images)
    np.testing.assert_array_equal(blob, reference_blob(images, (640, 640), scaleup=False))
    assert geoms[0].scale == 1.0 and (geoms[0].new_h, geoms[0].new_w) == (200, 300)


def test_buffers_are_reused_without_stale_pixels() -> None:
    lb = BatchLetterboxer((160, 160))
    first, _ = lb([frame(100, 300, 1), frame(300, 100, 2), frame(160, 160, 3)])
    first_ptr = first.__array_interface__["data"][0]
    # A smaller batch of differently shaped frames: same memory, and none of the old pixels.
    images = [frame(300, 100, 4), frame(90, 170, 5)]
    second, _ = lb(images)
    assert second.__array_interface__["data"][0] == first_ptr
    np.testing.assert_array_equal(second, reference_blob(images, (160, 160)))


def test_pad_to_static_batch() -> None:
    blob, geoms = BatchLetterboxer((64, 64))([frame(48, 64)], pad_to=4)
    assert blob.shape == (4, 3, 64, 64) and len(geoms) == 1
    assert np.isfinite(blob).all()


@pytest.mark.parametrize("src", SHAPES)
@pytest.mark.parametrize("dst", [(640, 640), (384, 640)])
def test_inverse_maps_forward_boxes_back_exactly(src: tuple[int, int], dst: tuple[int, int]) -> None:
    g = letterbox_geometry(src, dst)
    h, w = src
    source = np.array([[0.1 * w, 0.2 * h, 0.6 * w, 0.9 * h], [0, 0, w, h]], np.float64)
    forward = source * g.scale + [g.left, g.top, g.left, g.top]
    # The forward map puts the image where the letterbox drew it...
    assert g.left >= 0 and g.left + g.new_w <= dst[1] and g.top >= 0 and g.top + g.new_h <= dst[0]
    np.testing.assert_allclose(g.to_source(forward.copy()), source, atol=1e-9)


def test_inverse_clips_to_the_image() -> None:
    g = letterbox_geometry((720, 1280), (640, 640))  # r = 0.5, 140 px bands above and below
    boxes = np.array([[-10.0, 100.0, 700.0, 600.0]])  # sticks into the padding on every side
    np.testing.assert_allclose(g.to_source(boxes), [[0, 0, 1280, 720]])


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float32), "frame"],
)
def test_refuses_what_is_not_a_bgr_frame(bad: object) -> None:
    with pytest.raises(ValueError, match="image 1"):
        BatchLetterboxer((64, 64))([frame(10, 10), bad])
