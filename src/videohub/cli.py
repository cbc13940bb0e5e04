"""The `videohub` command: serve | demo | simulate | bench."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from videohub import __version__
from videohub.config import DEMO_CONFIG, Config, ConfigError, load_config
from videohub.secrets import install_log_masking

log = logging.getLogger("videohub")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )
    install_log_masking()


def _serve(config: Config, source: str, banner: list[str] | None = None) -> int:
    import uvicorn

    from videohub.api.app import create_app
    from videohub.runtime import HubRuntime, StartupError

    try:
        runtime = HubRuntime(config, source)
    except StartupError as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 2
    try:
        runtime.start()
    except StartupError as exc:
        runtime.stop()
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(runtime, manage=False)
        for line in banner or []:
            print(line, flush=True)
        notifier = runtime.notifier

        class HubServer(uvicorn.Server):
            async def shutdown(self, sockets: list | None = None) -> None:
                # uvicorn waits for open responses before it stops; event streams only end
                # when told, so tell them first (else Ctrl+C hangs while a client listens).
                notifier.close()
                await super().shutdown(sockets)

        server = HubServer(
            uvicorn.Config(app, host=config.server.host, port=config.server.port, log_config=None, access_log=False)
        )
        server.run()
        if not server.started:
            return 3  # as uvicorn.run exits: it has logged why (e.g. the port is taken)
    finally:
        runtime.stop()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.host:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    return _serve(config, str(args.config))


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number 0-65535")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    from videohub.simulate.command import start_simulator

    # The demo config points its cameras at the simulator through this variable.
    os.environ["VIDEOHUB_SIM_PORT"] = str(args.sim_port)
    source = str(args.config or DEMO_CONFIG)
    try:
        config = load_config(source)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config.server.port = args.port
    config.server.rtsp_port = args.rtsp_port
    sim_cameras = config.simulator.cameras if config.simulator else {}
    try:
        simulator = start_simulator(sim_cameras, host="127.0.0.1", port=args.sim_port) if sim_cameras else None
    except OSError as exc:
        print(f"error: --sim-port {args.sim_port}: {exc}", file=sys.stderr)
        return 2
    host = config.server.public_host
    base = f"http://{host}:{config.server.port}"
    banner = [
        "",
        "videohub demo is starting. Open:",
        f"  API and docs      {base}/docs",
        f"  cameras           {base}/api/v1/cameras",
        f"  events            {base}/api/v1/events  (live: {base}/api/v1/events/stream)",
        f"  code tables       {base}/api/v1/taxonomy",
    ]
    for cam in config.cameras:
        banner += [
            f"  {cam.id}:",
            f"    live (MJPEG)    {base}/api/v1/cameras/{cam.id}/mjpeg",
            f"    snapshot        {base}/api/v1/cameras/{cam.id}/snapshot.jpg",
            f"    HLS             {base}/api/v1/cameras/{cam.id}/hls/index.m3u8",
            f"    status          {base}/api/v1/cameras/{cam.id}/status",
        ]
        if config.server.rtsp_port is not None:
            banner.append(f"    RTSP restream   rtsp://{host}:{config.server.rtsp_port}/{cam.id}")
    banner += [f"  metrics           {base}/metrics", "Press Ctrl-C to stop.", ""]
    try:
        return _serve(config, source, banner)
    finally:
        if simulator is not None:
            simulator.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videohub", description="City video + AI hub.")
    parser.add_argument("--version", action="version", version=f"videohub {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the hub with a config file")
    p.add_argument("--config", "-c", required=True, help="YAML config file")
    p.add_argument("--host", help="override server.host")
    p.add_argument("--port", type=port_number, help="override server.port")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="run simulated cameras and the hub on the embedded demo config")
    p.add_argument("--config", "-c", help="config file (default: the embedded configs/demo.yaml)")
    p.add_argument("--port", type=port_number, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--rtsp-port", type=port_number, default=8554, help="RTSP restream port (default 8554)")
    p.add_argument("--sim-port", type=port_number, default=8555, help="port of the simulated cameras (default 8555)")
    p.set_defaults(func=cmd_demo)

    from videohub.simulate import command as simulate

    p = sub.add_parser("simulate", help="serve simulated RTSP cameras (test pattern or video file)")
    simulate.add_arguments(p)
    p.set_defaults(func=simulate.run)

    from videohub.detect import command as models

    p = sub.add_parser("models", help="detection models: list, inspect, add")
    models.add_arguments(p)
    p.set_defaults(func=models.run)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    from videohub.bench import ingest

    p = bench.add_parser("ingest", help="how many H.264 streams this machine decodes in real time")
    ingest.add_arguments(p)
    p.set_defaults(func=ingest.run)
    from videohub.bench import model as model_bench
    from videohub.bench import pipeline as pipeline_bench

    p = bench.add_parser("model", help="hub detector vs bare session.run vs Ultralytics, per batch size")
    model_bench.add_arguments(p)
    p.set_defaults(func=model_bench.run)
    p = bench.add_parser("pipeline", help="N simulated cameras through the real hub, optionally vs Ultralytics")
    pipeline_bench.add_arguments(p)
    p.set_defaults(func=pipeline_bench.run)
    from videohub.bench import motion as motion_bench

    p = bench.add_parser("motion", help="motion gate on mostly-still scenes: model runs saved, objects missed")
    motion_bench.add_arguments(p)
    p.set_defaults(func=motion_bench.run)

    from videohub.bench import events as events_bench

    p = bench.add_parser(
        "events", help="event ingest rate through the API and list/filter latency, SQLite and PostgreSQL"
    )
    events_bench.add_arguments(p)
    p.set_defaults(func=events_bench.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
