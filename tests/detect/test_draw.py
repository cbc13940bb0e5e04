import cv2
import numpy as np

from videohub.detect.base import Detection
from videohub.detect.draw import draw_detections
from videohub.streams.frame import Frame
from videohub.streams.jpeg import SharedJpeg


def test_boxes_are_drawn_on_a_copy():
    image = np.zeros((120, 160, 3), np.uint8)
    out = draw_detections(image, [Detection("person", 0, 0.9, (20, 30, 80, 100))])
    assert image.max() == 0  # the frame every viewer shares is untouched
    assert out[100, 50].any() and out[65, 20].any()  # bottom edge, left edge
    assert not out[65, 50].any()  # inside the box stays as it was


def test_overlay_encodings_are_shared_and_distinct_from_plain():
    jpeg = SharedJpeg()
    frame = Frame("cam", 0.0, 1, image=np.full((120, 160, 3), 90, np.uint8))
    dets = [Detection("fire", 0, 0.8, (10, 10, 60, 60))]
    plain = jpeg.encode(frame)
    drawn = jpeg.encode(frame, overlay_key=("overlay", ("fire", 1)), overlay=lambda im: draw_detections(im, dets))
    again = jpeg.cached(frame, overlay_key=("overlay", ("fire", 1)))
    assert again is drawn and plain != drawn and jpeg.encodes == 2
    decoded = cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    assert abs(int(decoded[60, 35].astype(int).sum()) - 270) > 60  # the box edge is visible in the JPEG
