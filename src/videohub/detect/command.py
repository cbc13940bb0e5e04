"""`videohub models list | inspect PATH | add PATH | export ARCH`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from videohub.config import DEMO_CONFIG, ConfigError, ModelConfig, load_config
from videohub.detect.base import ModelError


def _inspect(path: str) -> dict[str, Any]:
    from videohub.detect.onnx_yolo import inspect_model

    return inspect_model(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    p = sub.add_parser("list", help="the models a config would run, and whether each loads")
    p.add_argument("--config", "-c", help="config file (default: the embedded demo config)")
    p.set_defaults(models_func=cmd_list)
    p = sub.add_parser("inspect", help="layout, classes, input size and provider of an ONNX model")
    p.add_argument("path")
    p.set_defaults(models_func=cmd_inspect)
    p = sub.add_parser("add", help="check an ONNX model and copy it into the models folder")
    p.add_argument("path")
    p.add_argument("--name", help="model name (default: the file name without .onnx)")
    p.add_argument("--dir", default="models", help="models folder, the config's models_dir (default: models)")
    p.add_argument("--force", action="store_true", help="replace a model of the same name")
    p.set_defaults(models_func=cmd_add)
    p = sub.add_parser("quantize", help="a static INT8 (QDQ) copy, calibrated on your frames, with a drift report")
    p.add_argument("path", help="fp32 ONNX model")
    p.add_argument("--calibration", required=True, help="a folder of images or a video file from your cameras")
    p.add_argument("--frames", type=int, default=64, help="calibration frames to use (default 64)")
    p.add_argument("--out", help="output file (default: <model>.int8.onnx beside the model)")
    p.add_argument("--conf", type=float, default=0.25, help="score threshold for the drift report")
    p.set_defaults(models_func=cmd_quantize)
    p = sub.add_parser(
        "export", help="build yolov8n or yolo11n from Ultralytics' definition, UNTRAINED, for speed measurements"
    )
    p.add_argument("arch", choices=["yolov8n", "yolo11n"])
    p.add_argument("--out", default="models", help="folder for the .onnx file (default: models)")
    p.add_argument("--imgsz", type=int, default=640, help="input size, a multiple of 32 (default 640)")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch and image size")
    p.add_argument("--half", action="store_true", help="fp16 weights")
    p.add_argument("--batch", type=int, default=1, help="static batch size (default 1)")
    p.set_defaults(models_func=cmd_export)


def run(args: argparse.Namespace) -> int:
    return int(args.models_func(args))


def _describe(name: str, cfg: ModelConfig) -> dict[str, Any]:
    if cfg.kind != "onnx":
        return {"name": name, "kind": cfg.kind, "status": "ready (built in)"}
    assert cfg.path is not None
    try:
        info = _inspect(cfg.path)
    except ModelError as exc:
        return {"name": name, "kind": "onnx", "path": cfg.path, "status": f"error: {exc}"}
    return {"name": name, "kind": "onnx", "path": cfg.path, "status": "ready", **info}


def cmd_list(args: argparse.Namespace) -> int:
    source = args.config or DEMO_CONFIG
    try:
        config = load_config(source)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [_describe(name, cfg) for name, cfg in sorted(config.all_models().items())]
    if not rows:
        print(f"{source}: no models (none under `models:`, no *.onnx in models_dir {config.models_dir!r})")
        return 0
    for row in rows:
        classes = row.get("names") or []
        extra = f" {row.get('layout')} {len(classes)} classes input {row.get('input_size')}" if "layout" in row else ""
        print(f"{row['name']:20} {row['kind']:10} {row['status']}{extra}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        info = _inspect(args.path)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    try:
        info = _inspect(args.path)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = args.name or Path(args.path).stem
    target = Path(args.dir) / f"{name}.onnx"
    if target.exists() and not args.force:
        print(f"error: {target} exists; use --force to replace it or --name to pick another name", file=sys.stderr)
        return 2
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.path, target)
    print(f"added {name}: {info.get('layout')} {len(info.get('names') or [])} classes -> {target}")
    print(f"use it on a camera with `detect: {{models: [{name}]}}`; the hub loads it at its next start")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from videohub.detect.quantize import compare, load_frames, quantize_model

    source = Path(args.path)
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}.int8.onnx")
    try:
        frames = load_frames(args.calibration, args.frames)
        quantize_model(source, out, frames)
        report = compare(source, out, frames, conf=args.conf)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model": str(source), "int8": str(out), **report}, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from videohub.detect.export import UltralyticsMissing, export_model

    try:
        path = export_model(
            args.arch, args.out, imgsz=args.imgsz, dynamic=args.dynamic, half=args.half, batch=args.batch
        )
    except UltralyticsMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {path}")
    print("untrained weights, rescaled so outputs carry signal: for speed measurements only, it detects nothing real")
    return 0
