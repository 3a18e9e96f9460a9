"""Inference backends behind one interface: RGB crops in, normalised pose (+ cloud) out.

Every backend takes `rgb` (B, 3, S, S) float32 in [0, 1] (RGB, B <= max_batch) and returns a
BackendOutput with pose (B, 21, 3) float32 (root-relative, divided by the middle MCP->PIP bone,
in the crop camera) and optionally cloud (B, N, 3); `close()` frees it.

A backend whose model has the 2D-keypoint expert (`has_heat`, strategy s4-2d) also takes `heat`
(B, 21, M, M) float32 (M = `heatmap_size`, model.heatmaps draws them), `heat_weight` and
`rgb_weight` (B,) float32 in {0, 1}: per hand RGB only (heat_weight 0), 2D only (rgb_weight 0)
or both. Without heat the result is the RGB expert's, as for every other model.

- torch: the checkpoint in eager PyTorch, CPU or CUDA.
- onnxruntime: the ONNX file written by handtrack-export, CPU execution provider, full graph
  optimisation, intra-op threads set to the machine's cores, no busy-waiting between runs.
- tensorrt: the torch-tensorrt ExportedProgram (.ep, fp16, batch max_batch) written by
  handtrack-export on a CUDA machine.

Artefacts sit next to the checkpoint: NAME.pt, NAME.onnx, NAME.trt.ep (model.checkpoint's
onnx_path_of / tensorrt_path_of). Each describes its network with a model.checkpoint.ModelInfo
(ONNX: the "handtrack" metadata entry, TensorRT: the JSON sidecar; the torch backend makes one
from the checkpoint), read here with ModelInfo.from_dict. When an artefact is opened it is
checked against the checkpoint (CheckpointIdentity, check_made_from): its checkpoint_sha256, the
hash of the bytes of the checkpoint file it was exported from, equal to the checkpoint's own
(hashlib, no PyTorch) accepts it at once; otherwise its weights_sha256, the hash of the weights
it was exported from, must equal the checkpoint's (this reads the checkpoint with PyTorch, e.g.
after the checkpoint was saved again with only its metrics changed). "auto" skips an artefact
made from other weights (or one without the hashes) with a warning, an explicit --backend
onnxruntime / tensorrt refuses it.

torch is imported only by the torch and TensorRT backends and by that second check: the
onnxruntime backend with a model exported from the checkpoint file as it is runs without
PyTorch.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from app.engine.errors import EngineError
from model.checkpoint import (
    ONNX_METADATA_KEY,
    CheckpointError,
    ModelInfo,
    checkpoint_weights_sha256,
    file_sha256,
    heat_graph_path_of,
    int8_path_of,
    load_inference,
    onnx_path_of,
    sidecar_path_of,
    tensorrt_path_of,
)
from model.config_flags import option
from model.machine import has_int8_dot

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
PRECISIONS = ("auto", "fp32", "int8")


@dataclass
class BackendConfig:
    """kind: one of BACKENDS ("auto": tensorrt if its artefact and CUDA exist, else onnxruntime
    if the .onnx exists, else torch; an artefact counts only if it was exported from the
    checkpoint's weights). checkpoint: the .pt file (its .onnx / .trt.ep siblings are
    found from it); None = the bundled default (app.engine.DEFAULT_CHECKPOINT). device: "cpu",
    "cuda" or "auto" (torch backend). threads: CPU threads, 0 = automatic (onnxruntime: all
    cores; torch: half of them). max_batch: hands per forward
    pass. with_cloud: also decode the point cloud (torch / onnx with a cloud output). spin: let
    onnxruntime's worker threads busy-wait between runs (slightly lower latency on an idle
    machine; off by default because the spinning threads take CPU from capture, tracking and the
    GUI, and on a busy machine a descheduled spinning thread doubles the run time). precision:
    the onnxruntime backend's graph (PRECISIONS): "auto" runs NAME.int8.onnx where it exists,
    was made from the checkpoint and the CPU has int8 dot products (model.machine.has_int8_dot),
    else NAME.onnx; "fp32" always NAME.onnx; "int8" NAME.int8.onnx or an error."""

    checkpoint: str | None = option(
        None, "model .pt (default: $HANDTRACK_CHECKPOINT or app/assets/default.pt)",
        what="a model .pt file", example="model.pt", metavar="PATH")
    kind: str = option("auto", "inference backend (auto: tensorrt > onnxruntime > torch, by what "
                               "handtrack-export wrote next to the checkpoint)",
                       flag="backend", choices=BACKENDS)
    device: str = option("auto", None, choices=("auto", "cpu", "cuda"))
    threads: int = option(0, "CPU threads (0 = automatic: onnxruntime all cores, torch half)",
                          what="a thread count (0 = automatic, or more)", ge=0, example=4)
    max_batch: int = 2
    with_cloud: bool = option(False, "also output the hand point cloud", flag="cloud")
    spin: bool = False
    precision: str = option("auto", "onnxruntime's network: auto = the int8 one (NAME.int8.onnx, "
                                    "handtrack-export --quantize) on a CPU with VNNI / AMX, else "
                                    "float32", choices=PRECISIONS)


@dataclass
class BackendOutput:
    """pose: (B, 21, 3) float32 normalised; cloud: (B, N, 3) float32 normalised, or None."""

    pose: np.ndarray
    cloud: np.ndarray | None = None


def tensorrt_meta(ep_file: Path) -> dict:
    """The JSON sidecar (NAME.trt.ep.json) of a TensorRT artefact; {} when missing or
    unreadable."""
    try:
        meta = json.loads(sidecar_path_of(ep_file).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def onnx_meta(session) -> dict:
    """The "handtrack" metadata entry of an onnxruntime session's model; {} when missing or
    unreadable."""
    text = session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY, "{}")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def read_info(artefact: Path, meta: dict) -> ModelInfo:
    """ModelInfo.from_dict of an artefact's metadata; a bad field is an EngineError."""
    try:
        return ModelInfo.from_dict(meta)
    except ValueError as e:
        raise EngineError(f"{artefact}: {e}") from None


@contextlib.contextmanager
def checkpoint_errors(path: Path) -> Iterator[None]:
    """Reading the checkpoint `path` inside: a missing or unusable file becomes an EngineError
    with the fix (the one-line reasons of model.checkpoint)."""
    try:
        yield
    except FileNotFoundError:
        raise EngineError(f"checkpoint {path} does not exist; pass --checkpoint PATH (a .pt "
                          "from handtrack-train)") from None
    except CheckpointError as e:
        raise EngineError(str(e)) from None


def _threads(n: int) -> int:
    return n if n > 0 else max(1, os.cpu_count() or 1)


class StaleArtefactError(EngineError):
    """An exported artefact that was not made from the checkpoint's weights (or carries no
    weights hash). found / expected: the artefact's and the checkpoint's weights_sha256
    (expected None: the checkpoint's weights could not be read because PyTorch is missing).
    reason: what is wrong; fix: how to fix it."""

    def __init__(self, artefact: Path, found: str | None, checkpoint: Path,
                 expected: str | None):
        if not found:
            self.reason = (f"{artefact} carries no weights hash (exported by an older "
                           f"handtrack-export), so nothing shows it was made from {checkpoint}")
        elif expected is None:
            self.reason = (f"{artefact} was exported from another file than {checkpoint}, and "
                           "without PyTorch the weights of the two cannot be compared")
        else:
            self.reason = (f"{artefact} was exported from other weights than {checkpoint} "
                           f"(weights hash {found[:12]}, checkpoint {expected[:12]})")
        self.fix = f"re-export it with `handtrack-export --checkpoint {checkpoint}`"
        super().__init__(f"{self.reason}; {self.fix}, or use --backend torch")


class CheckpointIdentity:
    """The checkpoint an artefact has to be made from, hashed only as far as a check needs:
    file_sha256, the sha256 of its bytes (hashlib; read on creation, so a missing or unreadable
    checkpoint is an EngineError at once), and weights_sha256, its checkpoint_weights_sha256
    (read with PyTorch on first use; None when PyTorch is not installed)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with checkpoint_errors(self.path):
            self.file_sha256 = file_sha256(self.path)

    @cached_property
    def weights_sha256(self) -> str | None:
        with checkpoint_errors(self.path):
            try:
                return checkpoint_weights_sha256(self.path)
            except ImportError:  # no torch to read the checkpoint file with
                return None


def check_made_from(artefact: Path, info: ModelInfo,
                    made_from: CheckpointIdentity | None) -> None:
    """Raise StaleArtefactError unless the artefact that `info` describes was exported from the
    checkpoint: the same file bytes (info.checkpoint_sha256), or else the same weights
    (info.weights_sha256; this reads the checkpoint with PyTorch). None = no check."""
    if made_from is None or info.checkpoint_sha256 == made_from.file_sha256:
        return
    if not info.weights_sha256:
        raise StaleArtefactError(artefact, None, made_from.path, None)
    expected = made_from.weights_sha256
    if info.weights_sha256 != expected:
        raise StaleArtefactError(artefact, info.weights_sha256, made_from.path, expected)


class Backend:
    """Interface. name: "torch", "onnxruntime" or "tensorrt"; crop_size: S; device: text."""

    name = "backend"
    crop_size = 128
    device = "cpu"
    has_cloud = False
    has_heat = False  # the model has the 2D-keypoint expert (takes heat maps)
    heatmap_size = 0  # M of its heat-map input
    heatmap_sigma_px = 2.0  # the Gaussian sigma it was trained with (heat-map pixels)
    canonical_side = False  # right hands only: a left hand's crop is mirrored (model/canonical.py)
    weights_sha256: str | None = None  # identity of the weights it runs (None: unknown)

    def infer(self, rgb: np.ndarray, heat: np.ndarray | None = None,
              heat_weight: np.ndarray | None = None,
              rgb_weight: np.ndarray | None = None) -> BackendOutput:
        raise NotImplementedError

    def _check_heat(self, heat: np.ndarray | None) -> None:
        if heat is not None and not self.has_heat:
            raise EngineError("this model has no 2D-keypoint expert; use --fuse rgb or a "
                              "checkpoint trained with --strategy s4-2d")

    def _fused_inputs(self, b: int, heat: np.ndarray | None, heat_weight: np.ndarray | None,
                      rgb_weight: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """(heat (b, 21, M, M), heat_weight (b,), rgb_weight (b,)) float32 for a fused graph,
        which always takes all inputs: no heat = the RGB expert alone (heat weight 0)."""
        m, ones = self.heatmap_size, np.ones(b, np.float32)
        if heat is None:
            return np.zeros((b, 21, m, m), np.float32), np.zeros(b, np.float32), ones
        return (np.asarray(heat, np.float32),
                ones if heat_weight is None else np.asarray(heat_weight, np.float32),
                ones if rgb_weight is None else np.asarray(rgb_weight, np.float32))

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.device}, crop {self.crop_size} px)"

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TorchBackend(Backend):
    """Eager PyTorch on CPU or CUDA."""

    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str = "auto", threads: int = 0,
                 with_cloud: bool = False):
        try:
            import torch
        except ImportError as e:
            raise EngineError(f"PyTorch is not installed ({e}); run `pip install torch "
                              "torchvision`, or use --backend onnxruntime with a model written "
                              "by handtrack-export") from None

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise EngineError("--device cuda was asked for but PyTorch sees no CUDA GPU; use "
                              "--device cpu")
        self._torch = torch
        self.device = device
        if device == "cpu":
            # PyTorch's OpenMP workers busy-wait between operators: with one per core they
            # starve MediaPipe, capture and the GUI (and each other on a busy machine), so the
            # default is half the cores.
            torch.set_num_threads(threads if threads > 0 else max(1, (os.cpu_count() or 2) // 2))
        with checkpoint_errors(Path(checkpoint)):
            self.net, meta = load_inference(checkpoint, with_cloud=with_cloud,
                                            map_location=device)
        self.net.to(device)
        self.info = ModelInfo.from_meta(meta, checkpoint)
        self.crop_size = self.info.crop_size
        self.has_cloud = with_cloud
        self.has_heat = self.info.fused
        self.heatmap_size = self.info.heatmap_size
        self.heatmap_sigma_px = self.info.heatmap_sigma_px
        self.weights_sha256 = self.info.weights_sha256
        self.canonical_side = bool(self.info.canonical_side)
        if self.has_heat:
            from model.inference import HeatExpertNet

            self._heat_net = HeatExpertNet(self.net).eval()

    def infer(self, rgb: np.ndarray, heat: np.ndarray | None = None,
              heat_weight: np.ndarray | None = None,
              rgb_weight: np.ndarray | None = None) -> BackendOutput:
        self._check_heat(heat)
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(rgb).to(self.device, non_blocking=True)
            if heat is None:
                out = self.net(x)
            elif rgb_weight is not None and not np.any(rgb_weight) and not self.has_cloud:
                # no hand uses the RGB expert: its encoder is skipped (same result)
                w_h = np.ones(rgb.shape[0], np.float32) if heat_weight is None else heat_weight
                out = self._heat_net(*(torch.from_numpy(np.asarray(a, np.float32))
                                       .to(self.device) for a in (heat, w_h)))
            else:
                b = rgb.shape[0]
                w_h = np.ones(b, np.float32) if heat_weight is None else heat_weight
                w_x = np.ones(b, np.float32) if rgb_weight is None else rgb_weight
                out = self.net(x, *(torch.from_numpy(np.asarray(a, np.float32)).to(self.device)
                                    for a in (heat, w_h, w_x)))
        pose = out[1].float().cpu().numpy()
        cloud = out[2].float().cpu().numpy() if len(out) > 2 else None
        return BackendOutput(pose, cloud)


class OnnxBackend(Backend):
    """ONNX Runtime on the CPU with full graph optimisation. made_from: the checkpoint it must
    have been exported from (check_made_from): refuse (StaleArtefactError) a file exported from
    other weights. precision (PRECISIONS): which graph runs, NAME.onnx or its int8 sibling
    NAME.int8.onnx (BackendConfig.precision). A fused model's NAME.2d.onnx, when it exists and
    was made from the same checkpoint, runs instead of the whole graph on a batch where no hand
    uses the RGB expert (rgb_weight all 0: --fuse 2d), which skips the RGB encoder."""

    name = "onnxruntime"

    def __init__(self, onnx_file: str | Path, threads: int = 0, with_cloud: bool = False,
                 spin: bool = False, made_from: CheckpointIdentity | None = None,
                 precision: str = "fp32", warn: Callable[[str], None] | None = None):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise EngineError(f"onnxruntime is not installed ({e}); run `pip install "
                              "onnxruntime` or use --backend torch") from None
        if precision not in PRECISIONS:
            raise EngineError(f"unknown precision {precision!r}; use one of "
                              f"{', '.join(PRECISIONS)}")
        self._ort = ort
        path = Path(onnx_file)
        if not path.is_file():
            raise EngineError(f"ONNX model {path} does not exist; write it with "
                              f"`handtrack-export --checkpoint {path.with_suffix('.pt')}` or use "
                              "--backend torch")
        self._threads, self._spin = _threads(threads), spin
        self.precision = "float32"
        int8 = int8_path_of(path)
        if precision == "int8" and not int8.is_file():
            raise EngineError(f"--precision int8 needs {int8}; write it with `handtrack-export "
                              f"--checkpoint {path.with_suffix('.pt')} --quantize int8`, or use "
                              "--precision auto")
        opened = None
        if precision == "int8" or (precision == "auto" and int8.is_file() and has_int8_dot()):
            try:
                opened, self.precision = self._open(int8, made_from), "int8"
            except StaleArtefactError as e:
                if precision == "int8":
                    raise
                (warn or _warn)(f"{e.reason}; running {path.name} (float32) instead; {e.fix}")
        self.session, self.info = opened or self._open(path, made_from)
        self.weights_sha256 = self.info.weights_sha256
        self.canonical_side = bool(self.info.canonical_side)
        shape = self.session.get_inputs()[0].shape
        self.crop_size = int(self.info.crop_size or shape[-1])
        self._input = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        self.has_cloud = with_cloud and "cloud" in names
        self._outputs = ["pose"] + (["cloud"] if self.has_cloud else [])
        if "pose" not in names:
            raise EngineError(f"ONNX model {path} has no 'pose' output (outputs {names}); export "
                              "it again with handtrack-export")
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.has_heat = {"heat", "heat_weight", "rgb_weight"} <= set(inputs)
        self._heat_session = None
        if self.has_heat:
            self.heatmap_size = int(self.info.heatmap_size or inputs["heat"].shape[-1])
            self.heatmap_sigma_px = self.info.heatmap_sigma_px
            heat = heat_graph_path_of(path)
            if heat.is_file() and not self.has_cloud:
                try:
                    self._heat_session, _ = self._open(heat, made_from)
                except (StaleArtefactError, EngineError) as e:
                    (warn or _warn)(f"{heat.name} not used ({e}); --fuse 2d runs the whole "
                                    "graph")

    def _open(self, path: Path, made_from: CheckpointIdentity | None):
        """(InferenceSession, ModelInfo) of one ONNX file, checked against the checkpoint."""
        ort = self._ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning",
                                      "1" if self._spin else "0")
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            reason = str(e).strip().splitlines()[0][:200]
            raise EngineError(f"ONNX model {path} cannot be loaded ({reason}); export it again "
                              "with handtrack-export") from None
        info = read_info(path, onnx_meta(session))
        check_made_from(path, info, made_from)
        return session, info

    def describe(self) -> str:
        extra = ", 2D-expert graph for --fuse 2d" if self._heat_session is not None else ""
        return f"{self.name} ({self.device}, crop {self.crop_size} px, {self.precision}{extra})"

    def infer(self, rgb: np.ndarray, heat: np.ndarray | None = None,
              heat_weight: np.ndarray | None = None,
              rgb_weight: np.ndarray | None = None) -> BackendOutput:
        self._check_heat(heat)
        if (heat is not None and self._heat_session is not None and rgb_weight is not None
                and not np.any(rgb_weight)):
            _, w_h, _ = self._fused_inputs(rgb.shape[0], heat, heat_weight, rgb_weight)
            pose = self._heat_session.run(["pose"], {"heat": np.asarray(heat, np.float32),
                                                     "heat_weight": w_h})[0]
            return BackendOutput(pose, None)
        feeds = {self._input: rgb}
        if self.has_heat:
            feeds["heat"], feeds["heat_weight"], feeds["rgb_weight"] = self._fused_inputs(
                rgb.shape[0], heat, heat_weight, rgb_weight)
        out = self.session.run(self._outputs, feeds)
        return BackendOutput(out[0], out[1] if self.has_cloud else None)


class TensorRTBackend(Backend):
    """torch-tensorrt ExportedProgram (fp16) on CUDA. The engine was built for a fixed batch of
    max_batch crops; smaller batches are padded. A fused artefact (sidecar "fused": true, from
    an s4-2d checkpoint) takes the same four inputs as the fused ONNX graph. made_from: as for
    OnnxBackend, checked against the sidecar before the engine is loaded."""

    name = "tensorrt"

    def __init__(self, ep_file: str | Path, max_batch: int = 2,
                 made_from: CheckpointIdentity | None = None):
        try:
            import torch
            import torch_tensorrt
        except ImportError as e:
            raise EngineError(f"torch-tensorrt is not installed ({e}); run `pip install "
                              "'handtrack[tensorrt]'` on a CUDA machine, or use --backend "
                              "onnxruntime") from None
        if not torch.cuda.is_available():
            raise EngineError("--backend tensorrt needs a CUDA GPU; use --backend onnxruntime")
        path = Path(ep_file)
        if not path.is_file():
            raise EngineError(f"TensorRT model {path} does not exist; build it on this machine "
                              f"with `handtrack-export --tensorrt --checkpoint "
                              f"{path.with_name(path.name.removesuffix('.trt.ep') + '.pt')}`")
        self._torch = torch
        self.device = "cuda"
        self.info = read_info(path, tensorrt_meta(path))
        self.weights_sha256 = self.info.weights_sha256
        self.canonical_side = bool(self.info.canonical_side)
        check_made_from(path, self.info, made_from)
        if self.info.fused and self.info.heatmap_size is None:
            raise EngineError(f"the sidecar {sidecar_path_of(path)} of a fused TensorRT model "
                              "lacks heatmap_size; build it again with handtrack-export "
                              "--tensorrt")
        self.module = torch_tensorrt.load(str(path)).module()
        self.crop_size = self.info.crop_size or 128  # a sidecar without it: the real-time crop
        self.max_batch = self.info.batch or max_batch
        n, s = self.max_batch, self.crop_size
        self._bufs = [torch.zeros((n, 3, s, s), device="cuda", dtype=torch.float32)]
        self.has_heat = self.info.fused
        if self.has_heat:
            self.heatmap_size = m = self.info.heatmap_size
            self.heatmap_sigma_px = self.info.heatmap_sigma_px
            self._bufs += [torch.zeros((n, 21, m, m), device="cuda", dtype=torch.float32),
                           torch.zeros(n, device="cuda", dtype=torch.float32),  # heat weight
                           torch.ones(n, device="cuda", dtype=torch.float32)]  # rgb weight

    def infer(self, rgb: np.ndarray, heat: np.ndarray | None = None,
              heat_weight: np.ndarray | None = None,
              rgb_weight: np.ndarray | None = None) -> BackendOutput:
        self._check_heat(heat)
        torch = self._torch
        b = rgb.shape[0]
        arrays = [rgb]
        if self.has_heat:
            arrays += self._fused_inputs(b, heat, heat_weight, rgb_weight)
        with torch.inference_mode():
            for buf, a in zip(self._bufs, arrays):
                buf[:b].copy_(torch.from_numpy(np.ascontiguousarray(a)), non_blocking=True)
            out = self.module(*self._bufs)
        pose = out[1][:b].float().cpu().numpy()
        return BackendOutput(pose, None)


def _tensorrt_usable(config: BackendConfig, checkpoint: Path) -> bool:
    if not tensorrt_path_of(checkpoint).is_file() or config.device == "cpu":
        return False
    try:
        import torch
        import torch_tensorrt  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def open_backend(config: BackendConfig, checkpoint: Path,
                 warn: Callable[[str], None] | None = None) -> Backend:
    """Open the backend config.kind names for this checkpoint. "auto" picks the fastest one
    whose artefact exists and was exported from the checkpoint's weights; a stale artefact (or
    one without the weights hash) is skipped with a one-line notice to `warn` (default: a
    `warning: ...` line on stderr); when the torch backend then cannot open either, the
    EngineError names both reasons. An explicit onnxruntime / tensorrt refuses a stale
    artefact (StaleArtefactError). Raises EngineError with the fix."""
    kind = config.kind
    if kind not in BACKENDS:
        raise EngineError(f"unknown backend {kind!r}; use one of {', '.join(BACKENDS)}")
    candidates = [kind]
    if kind == "auto":
        candidates = [k for k, ok in (
            ("tensorrt", _tensorrt_usable(config, checkpoint)),
            ("onnxruntime", onnx_path_of(checkpoint).is_file() and config.device != "cuda"),
            ("torch", True)) if ok]
    made_from = None
    stale: list[StaleArtefactError] = []
    for kind in candidates:
        if kind == "torch":
            try:
                backend = TorchBackend(checkpoint, config.device, config.threads,
                                       config.with_cloud)
            except EngineError as e:
                if not stale:
                    raise
                # why the artefact was skipped, and why torch cannot stand in (e.g. not installed)
                raise EngineError(f"{stale[0].reason}; {stale[0].fix} (the torch backend cannot "
                                  f"run instead: {e})") from None
            break
        path = (onnx_path_of if kind == "onnxruntime" else tensorrt_path_of)(checkpoint)
        if made_from is None and path.is_file():  # read once, only when there is a file
            made_from = CheckpointIdentity(checkpoint)
        try:
            if kind == "onnxruntime":
                backend = OnnxBackend(path, config.threads, config.with_cloud, config.spin,
                                      made_from=made_from, precision=config.precision,
                                      warn=warn)
            else:
                backend = TensorRTBackend(path, config.max_batch, made_from=made_from)
            break
        except StaleArtefactError as e:
            if config.kind != "auto":
                raise
            stale.append(e)
    for e in stale:
        (warn or _warn)(f"{e.reason}; running the {backend.name} backend instead; {e.fix}")
    return backend
