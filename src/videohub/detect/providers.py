"""Choosing onnxruntime execution providers and session options.

The same config runs on a GPU box (TensorRT / CUDA), an Intel box (OpenVINO) and a laptop
(CPU): the operator lists providers in order of preference and we keep those this
onnxruntime build has, always ending with the CPU so a model never fails to load for
want of an accelerator. Falling back is logged, and what actually runs the model is read
back from the session (onnxruntime-gpu can list CUDA and still fall back to the CPU when
the CUDA libraries are missing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import onnxruntime as ort

log = logging.getLogger("videohub.detect")

CPU = "CPUExecutionProvider"
DEFAULT_PROVIDERS: tuple[str, ...] = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    CPU,
)

# A provider name, or (name, options) as onnxruntime itself accepts, e.g.
# ("TensorrtExecutionProvider", {"trt_fp16_enable": True, "trt_engine_cache_enable": True}).
ProviderSpec = str | tuple[str, Mapping[str, Any]]


def provider_name(spec: ProviderSpec) -> str:
    return spec if isinstance(spec, str) else spec[0]


def select_providers(
    preferred: Sequence[ProviderSpec] | None = None,
    available: Sequence[str] | None = None,
    what: str = "model",
) -> list[ProviderSpec]:
    """The preferred providers this onnxruntime has, in order, ending with the CPU.

    Logs (logger "videohub.detect") when the first choice is not available: at info level
    when what runs instead is one the list names too (a list ending in the CPU says the CPU is
    acceptable, and a CPU-only machine should not warn about TensorRT on every model load), as
    a warning when the CPU had to be added as a last resort nobody listed."""
    wanted: Sequence[ProviderSpec] = DEFAULT_PROVIDERS if preferred is None else preferred
    have = list(ort.get_available_providers() if available is None else available)
    chosen: list[ProviderSpec] = []
    missing: list[str] = []
    for spec in wanted:
        name = provider_name(spec)
        if name in have:
            if name not in (provider_name(c) for c in chosen):
                chosen.append(spec if isinstance(spec, str) else (spec[0], dict(spec[1])))
        else:
            missing.append(name)
    if CPU not in (provider_name(c) for c in chosen):
        chosen.append(CPU)
    if wanted and provider_name(wanted[0]) != provider_name(chosen[0]):
        listed = provider_name(chosen[0]) in (provider_name(w) for w in wanted)
        log.log(
            logging.INFO if listed else logging.WARNING,
            "%s: %s not available in this onnxruntime (has %s); using %s",
            what,
            ", ".join(missing) or provider_name(wanted[0]),
            ", ".join(have),
            provider_name(chosen[0]),
        )
    return chosen


def session_options(threads: int | None = None, spin: bool = False) -> ort.SessionOptions:
    """Graph optimisation all; `threads` intra-op threads (None: onnxruntime's default, one per
    physical core); no busy-waiting unless `spin`.

    onnxruntime's intra-op pool spins between parallel sections by default, keeping every core
    it owns at 100% while the hub's decoder and post-processing threads want them; with
    spinning off, throughput of a single model drops slightly but a busy hub gains."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, not {threads}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        opts.intra_op_num_threads = threads
    flag = "1" if spin else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", flag)
    opts.add_session_config_entry("session.inter_op.allow_spinning", flag)
    return opts


def session_provider(session: ort.InferenceSession) -> str:
    """The provider that runs the model: the first one onnxruntime actually registered."""
    providers = session.get_providers()
    return providers[0] if providers else CPU
