"""Export YOLO architectures to ONNX with Ultralytics' own exporter, for speed and parity measurements.

No weights are downloaded (nothing may be at run time): the network is built from the model yaml
that ships inside the ultralytics package, with untrained weights. Untrained, it is degenerate
(its output hardly depends on the input), so by default every convolution is rescaled to carry
signal on rendered street scenes first (see `calibrate.py`). The file says what it is: "untrained"
in its name and a `videohub_note` metadata entry. Its boxes mean nothing; its speed, its output
layout and its metadata (`names`, `imgsz`, `stride`, `batch`, `task`, written by Ultralytics) are
those of the real model.

Ultralytics and torch are an optional extra (`videohub[ultralytics]`, installed with a
`torch==<cpu build>` constraint; see docs/ultralytics.md) and are imported only inside the
functions here. `prepare_ultralytics()` makes an environment where Ultralytics stays offline,
writes nothing to the home folder and can run its predict on CPU even beside a CUDA-only
torchvision build; `ultralytics_predict()` runs Ultralytics' own predict on an ONNX file, the
reference for parity tests and `bench --compare ultralytics`.
"""

from __future__ import annotations

import atexit
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Arch = Literal["yolov8n", "yolo11n"]
ARCHS: tuple[str, ...] = ("yolov8n", "yolo11n")

INSTALL_HINT = "pip install 'videohub[ultralytics]' with the torch==2.13.0 constraint; see docs/ultralytics.md"
NOTE_KEY = "videohub_note"
NOTE_CALIBRATED = "untrained weights, rescaled for signal; for speed measurements only"
NOTE_RAW = "untrained weights, not rescaled (outputs barely depend on the input); for speed measurements only"

CALIBRATION_SEED = 0
CALIBRATION_FRAMES = 16


class UltralyticsMissing(ImportError):
    """The optional Ultralytics/torch extra is not installed; the message says how to install it."""


def _missing(*modules: str) -> list[str]:
    # find_spec looks the packages up without importing them (importing torch takes seconds).
    return [name for name in modules if importlib.util.find_spec(name) is None]


def ultralytics_available() -> bool:
    """True when the extra is installed: ultralytics, torch and onnx can be imported."""
    return not _missing("torch", "ultralytics", "onnx")


def _require(*modules: str) -> None:
    missing = _missing(*modules)
    if missing:
        raise UltralyticsMissing(f"{', '.join(missing)} not installed: {INSTALL_HINT}")


# --- environment -----------------------------------------------------------------------------------

_prepare_lock = threading.Lock()
_prepared = False
# The torch.library registrations below are undone when their Library object is garbage collected,
# so it must live as long as the process.
_nms_library: Any = None


def prepare_ultralytics() -> None:
    """Make this process safe for Ultralytics. Idempotent, thread-safe; call it before importing ultralytics.

    - `YOLO_OFFLINE=1`: no downloads, no online checks, no usage events (Ultralytics reads its
      `ONLINE` flag once, at import).
    - `YOLO_AUTOINSTALL=false`: Ultralytics must never `pip install` a missing requirement by itself.
    - `YOLO_CONFIG_DIR`: a private temp dir (removed at exit) instead of ~/.config/Ultralytics.
    - `YOLO_VERBOSE=false`: the hub logs through its own loggers.
    Variables the caller has already set are kept. Then, if torchvision's compiled operators cannot
    load (PyPI's torchvision is a CUDA build that needs a CUDA torch), `torchvision::nms` is given
    a pure-torch CPU kernel so that `import torchvision` and Ultralytics' NMS work.
    """
    global _prepared
    with _prepare_lock:
        if _prepared:
            return
        _require("torch", "ultralytics")
        if "ultralytics" in sys.modules:
            # Its settings and ONLINE flag were fixed at import; ours may come too late for them.
            logger.warning("ultralytics was imported before prepare_ultralytics(); its environment may be unsafe")
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        os.environ.setdefault("YOLO_VERBOSE", "false")
        if "YOLO_CONFIG_DIR" not in os.environ:
            config_dir = tempfile.mkdtemp(prefix="videohub-yolo-")
            atexit.register(shutil.rmtree, config_dir, ignore_errors=True)
            os.environ["YOLO_CONFIG_DIR"] = config_dir
        _ensure_torchvision_nms()
        _prepared = True


def _torchvision_extension() -> Path | None:
    """The path of torchvision's compiled `_C` extension, found without importing torchvision."""
    spec = importlib.util.find_spec("torchvision")
    for location in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            candidate = Path(location) / f"_C{suffix}"
            if candidate.exists():
                return candidate
    return None


def _cpu_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    # Ultralytics' own pure-torch NMS, the one it runs when torchvision is not imported (same contract
    # as torchvision's: indices of the kept boxes by decreasing score, IoU > threshold suppressed).
    # So predict gives here what Ultralytics gives on its torchvision-free path.
    from ultralytics.utils.nms import TorchNMS

    return TorchNMS.nms(boxes.float(), scores, iou_threshold)


def _ensure_torchvision_nms() -> None:
    """Let torchvision be imported, and its NMS run on CPU, when its compiled operators cannot load.

    PyPI's torchvision for Linux is a CUDA build: next to the CPU torch wheel its `_C` extension
    does not load (it links libc10_cuda.so), and then `import torchvision` itself fails - its
    Python side registers a fake kernel for `torchvision::nms`, an operator only `_C` defines.
    Ultralytics imports torchvision in every predict (model warm-up) and, once it is imported,
    runs NMS through `torchvision.ops.nms`. So, before torchvision is imported:
    1. define `torchvision::nms` (and `qnms`, whose fake kernel is registered the same way) with
       a CPU kernel through torch.library, the supported way to add operators; the kernel is
       Ultralytics' own pure-torch `TorchNMS`;
    2. after importing torchvision, point `torchvision.ops.nms` at that operator, because the
       Python wrapper checks for `_C` first (`_assert_has_ops`) and would refuse to run.
    Where `_C` loads (a torchvision that matches torch, CPU or CUDA), nothing is changed.
    """
    global _nms_library
    import torch

    if importlib.util.find_spec("torchvision") is None:
        return  # Ultralytics requires it and will say so itself
    if "torchvision" in sys.modules:
        return  # already imported, so its import got past the nms registration: its ops are there
    extension = _torchvision_extension()
    try:
        if extension is None:
            raise OSError("torchvision has no compiled _C extension")
        torch.ops.load_library(str(extension))  # what torchvision's own import does first
        return
    except OSError as exc:
        logger.info("torchvision's compiled ops do not load (%s); torchvision::nms runs on Ultralytics' TorchNMS", exc)

    if _nms_library is None:
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.impl("nms", _cpu_nms, "CPU")
        # qnms gets quantized boxes as their integer representation: the same greedy loop applies.
        library.impl("qnms", _cpu_nms, "CPU")
        _nms_library = library

    import torchvision
    import torchvision.ops.boxes

    def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        return torch.ops.torchvision.nms(boxes, scores, iou_threshold)

    nms.__doc__ = torchvision.ops.boxes.nms.__doc__
    # batched_nms looks `nms` up in torchvision.ops.boxes; Ultralytics calls torchvision.ops.nms.
    torchvision.ops.boxes.nms = nms
    torchvision.ops.nms = nms


# --- export ------------------------------------------------------------------------------------------


def model_file_name(
    arch: str, imgsz: int, dynamic: bool = False, half: bool = False, batch: int = 1, calibrate: bool = True
) -> str:
    """e.g. "yolov8n-untrained-640.onnx": the name says the weights are not a trained model's
    ("untrained-raw" when they were not rescaled for signal either)."""
    parts = [arch, "untrained" if calibrate else "untrained-raw", str(imgsz)]
    if batch != 1:
        parts.append(f"b{batch}")
    if dynamic:
        parts.append("dynamic")
    if half:
        parts.append("fp16")
    return "-".join(parts) + ".onnx"


def export_model(
    arch: Arch,
    out_dir: str | Path,
    imgsz: int = 640,
    dynamic: bool = False,
    half: bool = False,
    calibrate: bool = True,
    *,
    batch: int = 1,
    seed: int = CALIBRATION_SEED,
) -> Path:
    """Build `arch` from Ultralytics' own yaml with untrained weights and export it to ONNX in `out_dir`.

    `calibrate` rescales the convolutions for signal first (deterministic for a given `seed`).
    `dynamic` makes batch and image size dynamic; `half` stores the graph in fp16 (inputs and
    outputs stay fp32, as Ultralytics does for a CPU export); `batch` is the static batch size.
    Returns the path of the .onnx file. Raises UltralyticsMissing without the extra.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if imgsz <= 0 or imgsz % 32:
        raise ValueError(f"imgsz must be a positive multiple of 32 (the model's largest stride), got {imgsz}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    _require("torch", "ultralytics", "onnx")
    prepare_ultralytics()
    import onnx
    import torch
    from ultralytics import YOLO
    from ultralytics.cfg import DEFAULT_CFG_DICT
    from ultralytics.nn.modules import Detect
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    from videohub.detect.calibrate import calibrate_convs, calibration_frames, scene_batch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / model_file_name(arch, imgsz, dynamic, half, batch, calibrate)
    started = time.perf_counter()

    # Random init draws from torch's global generator: seed it for reproducible files without
    # disturbing the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # "yolov8n.yaml" resolves to the packaged yolov8.yaml at scale n: a graph, no weights.
        yolo = YOLO(f"{arch}.yaml", task="detect")
    net = yolo.model
    assert isinstance(net, torch.nn.Module)
    # A yaml-built model is named "0".."79"; a real COCO model carries COCO's names, and consumers
    # of the file (our detector, Ultralytics' predict) read them from its metadata.
    coco = YAML.load(check_yaml("coco.yaml"))["names"]
    net.names = {int(k): str(v) for k, v in coco.items()}
    head = net.model[-1]
    assert isinstance(head, Detect), f"{arch}: expected a Detect head, got {type(head).__name__}"

    if calibrate:
        frames = calibration_frames(CALIBRATION_FRAMES, seed=seed)
        calibrate_convs(
            net,
            scene_batch(frames, imgsz),
            # DFL's convolution is a fixed integral over the 16 distance bins, not a learned layer.
            skip=[head.dfl.conv] if hasattr(head.dfl, "conv") else [],
            class_logit_convs=[branch[-1] for branch in head.cv3],
            box_logit_convs=[branch[-1] for branch in head.cv2],
        )

    # The exporter names its output after `pt_path` (else the yaml, in the working directory).
    net.pt_path = str(target.with_suffix(".pt"))
    precision: dict[str, Any] = {"quantize": 16 if half else None} if "quantize" in DEFAULT_CFG_DICT else {"half": half}
    with warnings.catch_warnings():
        # torch's notes on its legacy ONNX exporter and tracer, which Ultralytics chooses: not ours to act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        exported_name = yolo.export(
            format="onnx",
            imgsz=imgsz,
            dynamic=dynamic,
            batch=batch,
            device="cpu",
            simplify=True,
            nms=False,  # raw (1, 84, anchors) output: the layout the hub's YOLO decoder and parity tests use
            **precision,
        )
    exported = Path(exported_name)

    model_proto = onnx.load(str(exported))
    note = model_proto.metadata_props.add()
    note.key, note.value = NOTE_KEY, NOTE_CALIBRATED if calibrate else NOTE_RAW
    onnx.save(model_proto, str(target))
    if exported.resolve() != target.resolve():
        exported.unlink(missing_ok=True)
    logger.info("exported %s in %.1f s", target, time.perf_counter() - started)
    return target


# --- Ultralytics' own predict, the reference -------------------------------------------------------------

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (N, 4) xyxy float32, scores (N,), class ids (N,) int


class UltralyticsPredictor:
    """Ultralytics' predict on an ONNX file (onnxruntime on CPU by default), loaded once.

    Images are HxWx3 uint8 BGR (as OpenCV reads them); boxes come back in their pixels. Ultralytics
    letterboxes to `imgsz`, runs the model and its own NMS (class-aware, at most `max_det` boxes).
    """

    def __init__(
        self,
        model_path: str | Path,
        imgsz: int,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        device: str = "cpu",
    ) -> None:
        _require("torch", "ultralytics", "onnxruntime")
        prepare_ultralytics()
        from ultralytics import YOLO

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"model file not found: {self.model_path}")
        self.imgsz = imgsz
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.device = device
        self._model = YOLO(str(self.model_path), task="detect")

    def __call__(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        if not images:
            return []
        results = self._model.predict(
            source=list(images),
            imgsz=self.imgsz,
            conf=self.conf,
            iou=self.iou,
            max_det=self.max_det,
            device=self.device,
            verbose=False,
            save=False,
        )
        out: list[Prediction] = []
        for r in results:
            boxes = getattr(r, "boxes", None)
            if boxes is None:  # a detect model always has boxes (maybe zero of them)
                raise RuntimeError(f"{self.model_path}: Ultralytics returned no boxes; is it a detection model?")
            out.append(
                (
                    _numpy(boxes.xyxy).astype(np.float32).reshape(-1, 4),
                    _numpy(boxes.conf).astype(np.float32).reshape(-1),
                    _numpy(boxes.cls).astype(np.int64).reshape(-1),
                )
            )
        return out


def _numpy(x: Any) -> np.ndarray:
    """Ultralytics' Boxes hold torch tensors (numpy arrays after `.numpy()`): a numpy array either way."""
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


def ultralytics_predict(
    model_path: str | Path,
    images: Sequence[np.ndarray],
    imgsz: int,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
) -> list[Prediction]:
    """One (boxes xyxy, scores, class ids) per BGR image, from Ultralytics' own predict on CPU."""
    return UltralyticsPredictor(model_path, imgsz, conf=conf, iou=iou, max_det=max_det)(images)
