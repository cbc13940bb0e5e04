import asyncio
import threading

import numpy as np

from videohub.streams.frame import Frame, LatestFrameSlot
from videohub.streams.health import RateMeter
from videohub.streams.jpeg import SharedJpeg
from videohub.streams.source import backoff_delay


def frame(seq: int) -> Frame:
    return Frame("cam", 0.0, seq, image=np.zeros((4, 6, 3), np.uint8))


def test_slot_keeps_only_the_newest_and_counts_unread_drops():
    slot = LatestFrameSlot()
    slot.put(frame(1))
    slot.put(frame(2))  # 1 was never read
    assert slot.dropped == 1
    assert slot.latest().seq == 2
    slot.put(frame(3))  # 2 was read
    assert slot.dropped == 1
    slot.put(frame(4), count_drops=False)
    assert slot.dropped == 1


def test_slot_wakes_threads_and_coroutines():
    slot = LatestFrameSlot()
    threading.Timer(0.05, slot.put, args=(frame(7),)).start()
    assert slot.wait_newer(0, 2).seq == 7
    assert slot.wait_newer(7, 0.05) is None

    async def waiter():
        asyncio.get_running_loop().call_later(0.05, lambda: threading.Thread(target=slot.put, args=(frame(8),)).start())
        return await slot.wait_newer_async(7, 2)

    assert asyncio.run(waiter()).seq == 8


def test_backoff_grows_caps_and_jitters():
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 30.0, rng) for n in range(10)]
    assert delays[0] <= 1.0 and delays[3] >= 4.0 and max(delays) <= 30.0
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jittered, not all equal at the cap
    assert backoff_delay(5000, 1.0, 30.0) <= 30.0  # a camera down for days still gets retried


def test_rate_meter():
    meter = RateMeter(window=2.0)
    for i in range(51):
        meter.tick(now=100 + i * 0.04)
    assert abs(meter.rate(now=102.0) - 25) < 1


def test_shared_jpeg_encodes_each_frame_once_per_size():
    jpeg = SharedJpeg()
    f = Frame("cam", 0.0, 1, image=np.full((240, 320, 3), 128, np.uint8))
    a = jpeg.encode(f)
    assert jpeg.encode(f) is a
    small = jpeg.encode(f, width=160)
    assert small != a and jpeg.encodes == 2
    import cv2

    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
