"""Checkpoint files (docs/contracts.md section 2).

A checkpoint is a `torch.save` dict readable with `torch.load(..., weights_only=True)`:
{"format": "handtrack-ckpt-1", "strategy": str, "config": asdict(NetConfig),
 "data": {"crop_size": int, "cloud_points": int, "heatmap_size": int, ...},
 "state_dict": {...}, "metrics": {...}} plus optional training keys ("train", "optimizer",
"step", ...) used by `handtrack-train --resume`.

The identity of a checkpoint's network is `checkpoint_weights_sha256(path)` (its weights, config
and data dict); exported artefacts (app/export.py) carry it so that the app never runs one made
from other weights. They also carry `file_sha256(path)`, the hash of the checkpoint file's bytes,
which needs no PyTorch: the same bytes are the same weights, so an artefact whose recorded file
hash matches is checked without reading the checkpoint as a torch file.

torch is imported inside the functions that read, write or build networks, so the artefact
descriptions (ModelInfo, the paths, file_sha256) are available without it (the onnxruntime
backend runs without PyTorch).

Exported artefacts sit next to the checkpoint: NAME.pt -> NAME.onnx (onnx_path_of), NAME.trt.ep
(tensorrt_path_of) and its JSON sidecar NAME.trt.ep.json (sidecar_path_of). Each describes its
network with a `ModelInfo` (ONNX: as JSON in the metadata entry ONNX_METADATA_KEY; TensorRT: the
sidecar), written by handtrack-export and read by every inference backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import warnings
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from model.net_config import NetConfig

if TYPE_CHECKING:
    import torch

    from model.pose_net import HandPoseNet

FORMAT = "handtrack-ckpt-1"
REQUIRED_KEYS = ("format", "strategy", "config", "data", "state_dict", "metrics")


class CheckpointError(ValueError):
    """A file that is not a usable handtrack checkpoint; the message names the problem."""


def save_checkpoint(path: str | Path, *, strategy: str, config: NetConfig | dict, data: dict,
                    state_dict: dict, metrics: dict | None = None, **extra) -> Path:
    """Write a checkpoint atomically (temporary file + rename, so an interrupted save never
    leaves a half-written file). `extra` keys (train config, optimizer state...) are stored too.
    Returns the path."""
    cfg = asdict(config) if isinstance(config, NetConfig) else dict(config)
    ckpt = {"format": FORMAT, "strategy": strategy, "config": cfg, "data": dict(data),
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
            "metrics": dict(metrics or {}), **extra}
    return save_atomic(path, ckpt)


def save_atomic(path: str | Path, obj: object) -> Path:
    """torch.save(obj) to a temporary file beside path, then rename it over path (an interrupted
    save never leaves a half-written file); the folder is created. Returns the path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def _load_error(path: Path, e: Exception) -> CheckpointError:
    """The one-line reason torch.load(weights_only=True) refused a file, and the fix. Never
    torch's own advice (to load with weights_only=False): that runs whatever code the file holds."""
    text = str(e)
    if isinstance(e, OSError) and e.strerror:
        return CheckpointError(f"checkpoint {path} cannot be read ({e.strerror}); check that "
                               "the file is readable")
    if isinstance(e, pickle.UnpicklingError) and re.search("global|allowlist", text, re.I):
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" ({found[1]})" if found else ""
        return CheckpointError(
            f"checkpoint {path} holds Python objects other than tensors and plain data{what}, "
            "refused for safety (loading them could run code); it is not a handtrack "
            "checkpoint: pass a .pt written by handtrack-train")
    reason = text.strip().split(". ")[0].splitlines()[0][:120] if text.strip() else ""
    if isinstance(e, pickle.UnpicklingError) or "weights" in reason.lower():
        reason = "not a torch file"
    elif isinstance(e, EOFError):
        reason = "the file ends early"
    return CheckpointError(f"checkpoint {path} is corrupt or not a handtrack checkpoint "
                           f"({reason or type(e).__name__}); copy it again from where it came "
                           "from, or train again with handtrack-train")


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the .pt file written "
                                "by handtrack-train (e.g. runs/NAME/last.pt)")


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    mmap: bool = False) -> dict:
    """Read and validate a checkpoint dict (torch.load with weights_only=True). mmap: map the
    tensors from the file instead of reading them (faster when only a few are used, or for
    hashing). Raises FileNotFoundError / CheckpointError with a one-line reason and the fix."""
    import torch

    path = Path(path)
    _check_exists(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. the unpickler's note on the pickle protocol
            ckpt = torch.load(path, map_location=map_location, weights_only=True,
                              mmap=mmap and zipfile.is_zipfile(path))
    except Exception as e:
        raise _load_error(path, e) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a handtrack checkpoint (format {found!r}, expected "
                              f"{FORMAT!r}); use a file written by handtrack-train")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks the keys {missing}; it is truncated or "
                              "from another tool, train again")
    if not isinstance(ckpt["state_dict"], dict):
        raise CheckpointError(f"checkpoint {path} has no weights (state_dict is a "
                              f"{type(ckpt['state_dict']).__name__}); train again")
    return ckpt


WEIGHTS_HASH_VERSION = "handtrack-weights-sha256-1"


def weights_sha256(state_dict: dict, config: dict | None = None, data: dict | None = None) -> str:
    """The identity of a network: sha256 (hex) over the sorted keys of its weights and, for
    each, the dtype, shape and raw bytes (C order) of its tensor; then the config (NetConfig
    dict) and data dict (crop size, heat-map size...) it is built and fed with, as JSON (two
    untrained nets can share weights yet take different crops). Independent of metrics,
    optimizer state and device. Reads every byte once: ~30 ms for the 26 MB bundled model."""
    import torch

    h = hashlib.sha256(WEIGHTS_HASH_VERSION.encode())
    for key in sorted(state_dict):
        v = state_dict[key]
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(json.dumps([key, str(t.dtype), list(t.shape)]).encode())
            h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
        else:  # plain data a module may keep in its state (extra state)
            h.update(json.dumps([key, "value", repr(v)]).encode())
    h.update(json.dumps([config or {}, data or {}], sort_keys=True, default=repr).encode())
    return h.hexdigest()


def checkpoint_weights_sha256(path: str | Path) -> str:
    """weights_sha256 of a checkpoint file (its state_dict, config and data), without building
    the network (the tensors are memory-mapped). Raises FileNotFoundError / CheckpointError
    like read_checkpoint."""
    ckpt = read_checkpoint(path, mmap=True)
    return weights_sha256(ckpt["state_dict"], ckpt["config"], ckpt["data"])


FILE_HASH_CHUNK_BYTES = 1 << 20


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a checkpoint file's bytes (hashlib, no PyTorch; ~50 ms for the 26 MB
    bundled model). Any change to the file (weights, metrics, optimizer state) changes it, so
    it identifies the exact file an artefact was exported from. Raises FileNotFoundError /
    CheckpointError like read_checkpoint."""
    path = Path(path)
    _check_exists(path)
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(FILE_HASH_CHUNK_BYTES):
                h.update(chunk)
    except OSError as e:
        raise _load_error(path, e) from None
    return h.hexdigest()


def sub_state_dict(state: dict, prefix: str) -> dict:
    """The entries of a state dict under module `prefix` ("rgb_encoder.trunk"), named as that
    module's own state dict names them; floating-point tensors in float32 (a shipped checkpoint
    stores float16), the others (BN counters) as they are."""
    start = prefix + "."
    return {k[len(start):]: v.float() if v.is_floating_point() else v
            for k, v in state.items() if isinstance(k, str) and k.startswith(start)}


def net_config_of(ckpt: dict, path: str | Path = "checkpoint") -> NetConfig:
    try:
        return NetConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad network config ({e})") from None


def load_inference(path: str | Path, with_cloud: bool = False,
                   map_location: str | torch.device = "cpu") -> tuple[HandPoseNet, dict]:
    """Rebuild the RGB -> pose (-> cloud) network of a training checkpoint, in eval mode.

    The 2D-keypoint expert (heat-map encoder, strategy s4-2d) is loaded whenever the checkpoint
    has one; older checkpoints simply give a network without it.
    Returns (net, meta) with meta keys crop_size, strategy, latent_dim, cloud_points,
    heatmap_size, has_cloud_decoder, has_heat_encoder, fp16_weights (stored as float16, as
    train.shrink_fp16 writes them), weights_sha256 (checkpoint_weights_sha256: the file's whole
    state_dict, config and data), metrics, config, data."""
    import torch

    from model.pose_net import HandPoseNet

    ckpt = read_checkpoint(path, map_location)
    config = net_config_of(ckpt, path)
    state = ckpt["state_dict"]
    has_cloud = any(k.startswith("cloud_decoder.") for k in state)
    if with_cloud and not has_cloud:
        raise CheckpointError(f"checkpoint {path} (strategy {ckpt['strategy']}) has no "
                              "point-cloud decoder; load it with with_cloud=False or train "
                              "with s2-c/s2-ch/s3/s4")
    has_heat = any(k.startswith("heat_encoder.") for k in state)
    net = HandPoseNet(config, with_cloud=with_cloud, with_heat=has_heat)
    wanted = net.state_dict().keys()
    sub = {k: v for k, v in state.items() if k in wanted}
    missing = sorted(set(wanted) - set(sub))
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks weights {missing[:3]}...; it does not "
                              "match this version's networks, train again")
    try:
        net.load_state_dict(sub, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} has weights of the wrong shape "
                              f"({str(e).splitlines()[-1].strip()})") from None
    data = dict(ckpt["data"])
    meta = {
        "crop_size": int(data.get("crop_size", config.crop_size)),
        "strategy": ckpt["strategy"],
        "latent_dim": config.latent_dim,
        "cloud_points": int(data.get("cloud_points", config.cloud_points)),
        "heatmap_size": config.heatmap_size,
        "has_cloud_decoder": has_cloud,
        "has_heat_encoder": has_heat,
        "fp16_weights": all(v.dtype == torch.float16 for v in sub.values()
                            if v.is_floating_point()),
        "weights_sha256": weights_sha256(state, ckpt["config"], ckpt["data"]),
        "metrics": dict(ckpt["metrics"]),
        "config": dict(ckpt["config"]),
        "data": data,
    }
    return net.eval(), meta


def save_inference_checkpoint(path: str | Path, net: HandPoseNet, strategy: str = "untrained",
                              metrics: dict | None = None) -> Path:
    """Write a HandPoseNet (e.g. a fresh one from build_hand_pose_net, for tests and benchmarks)
    as a checkpoint that load_inference reads."""
    c = net.config
    data = {"crop_size": c.crop_size, "cloud_points": c.cloud_points,
            "heatmap_size": c.heatmap_size}
    return save_checkpoint(path, strategy=strategy, config=c, data=data,
                           state_dict=net.state_dict(), metrics=metrics)


def onnx_path_of(checkpoint: str | Path) -> Path:
    """NAME.pt -> NAME.onnx, the ONNX artefact handtrack-export writes next to a checkpoint."""
    return Path(checkpoint).with_suffix(".onnx")


def int8_path_of(onnx_file: str | Path) -> Path:
    """NAME.onnx -> NAME.int8.onnx, the same graph with its RGB encoder quantised to int8."""
    p = Path(onnx_file)
    return p.with_name(p.stem + ".int8.onnx")


def heat_graph_path_of(onnx_file: str | Path) -> Path:
    """NAME.onnx -> NAME.2d.onnx, the 2D expert's graph (no RGB encoder) of a fused model."""
    p = Path(onnx_file)
    return p.with_name(p.stem + ".2d.onnx")


def tensorrt_path_of(checkpoint: str | Path) -> Path:
    """NAME.pt -> NAME.trt.ep, the TensorRT artefact (ExportedProgram) next to a checkpoint."""
    return Path(checkpoint).with_suffix(".trt.ep")


def sidecar_path_of(artefact: str | Path) -> Path:
    """NAME.trt.ep -> NAME.trt.ep.json, the JSON ModelInfo beside a TensorRT artefact."""
    return Path(str(artefact) + ".json")


ONNX_METADATA_KEY = "handtrack"  # the ONNX metadata entry holding ModelInfo.to_dict() as JSON


def _as_dict(value: object) -> dict:
    if not isinstance(value, dict):
        raise TypeError("not a dict")
    return dict(value)


_FIELD_TYPES = {"crop_size": int, "batch": int, "precision": str, "strategy": str,
                "latent_dim": int, "cloud_points": int, "checkpoint": str, "metrics": _as_dict,
                "heatmap_size": int, "fused": bool, "heatmap_sigma_px": float,
                "weights_sha256": str, "checkpoint_sha256": str, "canonical_side": bool}


@dataclass
class ModelInfo:
    """What an exported artefact says about the network inside it.

    crop_size: S of the RGB input; strategy: the training strategy; checkpoint: file name of the
    checkpoint it was exported from; heatmap_size: M of the heat-map input; fused: the graph has
    the 2D expert's inputs (heat, heat_weight, rgb_weight); heatmap_sigma_px: the Gaussian sigma
    the 2D expert was trained with; weights_sha256: checkpoint_weights_sha256 of that checkpoint
    (None: exported before artefacts carried it); checkpoint_sha256: file_sha256 of that
    checkpoint file (None: likewise); canonical_side: the network has seen right hands only, a
    left hand's inputs are mirrored and its outputs mirrored back (model/canonical.py;
    None: not recorded, as False).
    ONNX only: latent_dim, cloud_points (0: no cloud output), metrics. TensorRT only: batch (the
    engine's fixed batch), precision.

    None = not recorded: left out of to_dict, so each artefact keeps its own keys. The field
    order is the key order of the written JSON."""

    crop_size: int | None = None
    batch: int | None = None
    precision: str | None = None
    strategy: str | None = None
    latent_dim: int | None = None
    cloud_points: int | None = None
    checkpoint: str | None = None
    metrics: dict | None = None
    heatmap_size: int | None = None
    fused: bool = False
    heatmap_sigma_px: float = 2.0
    weights_sha256: str | None = None
    checkpoint_sha256: str | None = None
    canonical_side: bool | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the recorded fields."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, d: object) -> ModelInfo:
        """Read what an artefact holds: unknown keys are ignored, missing ones take the
        defaults (a non-dict, e.g. unreadable metadata, gives all defaults). Raises ValueError
        naming a field whose value has the wrong type."""
        d = d if isinstance(d, dict) else {}
        out = cls()
        for f in fields(cls):
            value = d.get(f.name)
            if value is None:
                continue
            try:
                setattr(out, f.name, _FIELD_TYPES[f.name](value))
            except (TypeError, ValueError):
                raise ValueError(f"model info field {f.name!r} has the bad value {value!r}; "
                                 "export the model again with handtrack-export") from None
        return out

    @classmethod
    def from_meta(cls, meta: dict, checkpoint: str | Path) -> ModelInfo:
        """The info of the network load_inference(checkpoint) returned with `meta`."""
        return cls.from_dict({
            "crop_size": meta["crop_size"], "strategy": meta["strategy"],
            "latent_dim": meta["latent_dim"], "cloud_points": meta["cloud_points"],
            "checkpoint": Path(checkpoint).name, "metrics": meta["metrics"],
            "heatmap_size": meta["heatmap_size"], "fused": meta["has_heat_encoder"],
            "heatmap_sigma_px": meta["data"].get("heatmap_sigma_px"),
            "weights_sha256": meta["weights_sha256"],
            "canonical_side": True if meta["config"].get("canonical_side") else None})
