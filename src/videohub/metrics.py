"""Prometheus metrics, read from the hub's own counters at scrape time (nothing to keep in
step on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from videohub.runtime import HubRuntime

_STATES = ("connecting", "online", "offline", "disabled", "idle")


class HubCollector(Collector):
    def __init__(self, runtime: HubRuntime) -> None:
        self._rt = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["camera"]
        fps = GaugeMetricFamily("videohub_camera_fps", "Measured input frames per second", labels=labels)
        received = CounterMetricFamily("videohub_camera_frames_received", "Video frames received", labels=labels)
        decoded = CounterMetricFamily("videohub_camera_frames_decoded", "Frames decoded", labels=labels)
        dropped = CounterMetricFamily(
            "videohub_camera_frames_dropped", "Decoded frames replaced before any consumer read them", labels=labels
        )
        errors = CounterMetricFamily("videohub_camera_decode_errors", "Packets that failed to decode", labels=labels)
        reconnects = CounterMetricFamily("videohub_camera_reconnects", "Reconnect attempts", labels=labels)
        bytes_in = CounterMetricFamily("videohub_camera_bytes_received", "Bytes received", labels=labels)
        viewers = GaugeMetricFamily("videohub_camera_viewers", "Consumers of decoded frames", labels=labels)
        packet_consumers = GaugeMetricFamily(
            "videohub_camera_packet_consumers", "Restream and HLS consumers", labels=labels
        )
        upstream = GaugeMetricFamily(
            "videohub_camera_upstream_connections", "Open upstream connections (0 or 1)", labels=labels
        )
        state = GaugeMetricFamily(
            "videohub_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        encodes = CounterMetricFamily(
            "videohub_camera_jpeg_encodes", "JPEG encodings (shared by viewers)", labels=labels
        )
        for ch in self._rt.hub.channels():
            h = ch.snapshot_health()
            cid = [ch.camera_id]
            fps.add_metric(cid, h.fps)
            received.add_metric(cid, h.frames_received)
            decoded.add_metric(cid, h.frames_decoded)
            dropped.add_metric(cid, h.frames_dropped)
            errors.add_metric(cid, h.decode_errors)
            reconnects.add_metric(cid, h.reconnects)
            bytes_in.add_metric(cid, h.bytes_received)
            viewers.add_metric(cid, h.viewers)
            packet_consumers.add_metric(cid, h.packet_consumers)
            upstream.add_metric(cid, 1 if h.upstream_connected else 0)
            encodes.add_metric(cid, ch.jpeg.encodes)
            for s in _STATES:
                state.add_metric([ch.camera_id, s], 1 if h.state == s else 0)
        total = GaugeMetricFamily("videohub_upstream_connections", "Open upstream camera connections, all cameras")
        total.add_metric([], self._rt.hub.upstream_connections())
        rtsp = GaugeMetricFamily("videohub_restream_sessions", "RTSP restream client sessions")
        rtsp.add_metric([], self._rt.rtsp.session_count() if self._rt.rtsp else 0)
        hls = GaugeMetricFamily("videohub_hls_sessions", "Cameras being remuxed to HLS")
        hls.add_metric([], self._rt.hls.active())
        yield from (fps, received, decoded, dropped, errors, reconnects, bytes_in, viewers, packet_consumers)
        yield from (upstream, state, encodes, total, rtsp, hls)
        yield from self._analytics()
        yield from self._subscriptions()

    def _analytics(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        model_labels = ["model"]
        runs = CounterMetricFamily("videohub_engine_runs", "Model runs (batches)", labels=model_labels)
        batches = CounterMetricFamily(
            "videohub_engine_batches", "Model runs by batch size", labels=["model", "batch_size"]
        )
        infer = GaugeMetricFamily(
            "videohub_engine_inference_seconds",
            "Time per batch, pre/post-processing included",
            labels=["model", "quantile"],
        )
        wait = GaugeMetricFamily(
            "videohub_engine_queue_wait_seconds", "Time a frame waited for the model", labels=["model", "quantile"]
        )
        loaded = GaugeMetricFamily(
            "videohub_model_loaded", "1 if the model loaded, 0 if it failed", labels=model_labels
        )
        cam_labels = ["camera", "model"]
        cam_fps = GaugeMetricFamily("videohub_analytics_fps", "Frames analysed per second", labels=cam_labels)
        cam_drops = CounterMetricFamily(
            "videohub_analytics_dropped", "Frames replaced while waiting for the model", labels=cam_labels
        )
        cam_latency = GaugeMetricFamily(
            "videohub_analytics_latency_seconds", "Frame arrival to detections, last frame", labels=cam_labels
        )
        gated = CounterMetricFamily(
            "videohub_analytics_motion_gated", "Frames the motion gate kept from the models", labels=["camera"]
        )
        for name, model in self._rt.models.models.items():
            loaded.add_metric([name], 1 if model.engine else 0)
            engine = model.engine
            if engine is None:
                continue
            runs.add_metric([name], engine.runs)
            for size, count in sorted(engine.batch_sizes.items()):
                batches.add_metric([name, str(size)], count)
            for q in (50, 99):
                if (value := engine.inference_time.percentile(q)) is not None:
                    infer.add_metric([name, f"0.{q}"], value)
                if (value := engine.queue_wait.percentile(q)) is not None:
                    wait.add_metric([name, f"0.{q}"], value)
            for camera_id, stats in list(engine.cameras.items()):
                cam_fps.add_metric([camera_id, name], stats.rate.rate())
                cam_drops.add_metric([camera_id, name], stats.dropped)
                if stats.last_latency is not None:
                    cam_latency.add_metric([camera_id, name], stats.last_latency)
        for ch in self._rt.hub.channels():
            if self._rt.analytics.settings(ch.camera_id) is not None:
                gated.add_metric([ch.camera_id], self._rt.analytics.counters(ch.camera_id)[1])
        yield from (runs, batches, infer, wait, loaded, cam_fps, cam_drops, cam_latency, gated)

    def _subscriptions(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        queue = GaugeMetricFamily(
            "videohub_webhook_deliveries",
            "Webhook deliveries waiting (pending) or given up (failed)",
            labels=["subscription", "status"],
        )
        for (sub_id, status), n in sorted(self._rt.subscriptions.queue_counts().items()):
            queue.add_metric([sub_id, status], n)
        yield queue
        publisher = self._rt.nats
        if publisher is not None:
            connected = GaugeMetricFamily("videohub_nats_connected", "1 while the NATS publisher is connected")
            connected.add_metric([], 1 if publisher.connected else 0)
            cursor = GaugeMetricFamily("videohub_nats_published_seq", "Outbox seq the NATS publisher has reached")
            cursor.add_metric([], publisher.cursor)
            yield from (connected, cursor)


def make_registry(runtime: HubRuntime) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(HubCollector(runtime))
    return registry
