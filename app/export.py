"""`handtrack-export`: write the deployable forms of a checkpoint next to it.

    handtrack-export --checkpoint runs/s4/last.pt     # -> last.onnx (+ last.trt.ep on CUDA)

- NAME.onnx: opset 17, input "rgb" (B, 3, S, S) float32 in [0, 1], outputs "z_mu" (B, D),
  "pose" (B, 21, 3) (and "cloud" (B, N, 3) with --cloud), dynamic batch; the model's metadata
  (crop size, strategy...) is stored as the JSON metadata entry "handtrack". The export is checked
  against PyTorch with ONNX Runtime and the largest difference printed.
  A checkpoint with the 2D-keypoint expert (strategy s4-2d) gives the fused graph: three more
  inputs "heat" (B, 21, M, M) float32 (MediaPipe's landmarks as heat maps in the crop,
  model.heatmaps.landmarks_to_heatmaps), "heat_weight" (B,) and "rgb_weight" (B,) float32 in
  {0, 1} that switch each expert per sample (RGB only: 1, 0 -> heat_weight 0; 2D only:
  rgb_weight 0; both: 1, 1), so one graph serves --fuse rgb, 2d and rgb+2d.
- NAME.2d.onnx (fused checkpoints): the 2D expert's graph alone (model.pose_net.HeatExpertNet:
  inputs "heat" and "heat_weight", outputs "z_mu" and "pose"), the fused graph's answer with
  rgb_weight 0 without running the RGB encoder; the onnxruntime backend runs it when no hand of a
  batch uses the RGB expert (--fuse 2d).
- NAME.int8.onnx (--quantize int8, or auto on a CPU with VNNI / AMX): the graph with the RGB
  encoder's convolutions quantised to int8 (app/quantize.py, calibrated on the demo generator's
  crops); the onnxruntime backend prefers it on CPUs with int8 dot products (--precision).
- Weight storage (--weights): "fp16" stores the large float32 tensors as float16 with a Cast node
  in front, which ONNX Runtime folds away when it loads the graph: half the file, float32
  compute, results within ~1e-4 of float32 storage (the exporter folds BatchNorm into the conv
  weights, so even an fp16 checkpoint's tensors are rounded once more). "auto" = fp16 for a
  checkpoint whose weights are float16 already (train.shrink_fp16), else "fp32".
- NAME.trt.ep (+ NAME.trt.ep.json): a torch-tensorrt ExportedProgram, fp16, for a fixed batch of
  --batch crops (fused checkpoints: the same four inputs as the ONNX graph); built only where
  CUDA and torch-tensorrt exist (TensorRT engines are specific to the GPU they were built on, so
  build it on the machine that runs it).
Both carry "weights_sha256", the hash of the checkpoint's weights, and "checkpoint_sha256", the
hash of the checkpoint file's bytes (model/checkpoint.py), in the "handtrack" metadata entry /
the sidecar: the app (`--backend auto`) loads what it finds next to the checkpoint only when it
was made from that checkpoint (the file hash matches, checked without PyTorch; or else the
weights hash does).
Every file is written to a temporary file in its folder and renamed over the old one once
complete, so a failed export (disk full, Ctrl-C) leaves the previous file or none, never half a
file.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import numpy as np

from app.engine.backends import checkpoint_errors
from app.engine.errors import EngineError
from app.quantize import QUANTIZE_MODES
from model.checkpoint import (
    ONNX_METADATA_KEY,
    ModelInfo,
    file_sha256,
    heat_graph_path_of,
    int8_path_of,
    load_inference,
    onnx_path_of,
    sidecar_path_of,
    tensorrt_path_of,
)
from model.machine import has_int8_dot


def _load(checkpoint: Path, with_cloud: bool):
    """(net, meta, ModelInfo) of a checkpoint (load_inference; the info with the file's
    checkpoint_sha256); a missing or unusable file is an EngineError."""
    with checkpoint_errors(checkpoint):
        # hashed before it is read: should the file change in between, the recorded file hash
        # is that of another file than the weights came from, and the app then compares the
        # weights hash (never the reverse, a new file's hash on the old weights)
        file_hash = file_sha256(checkpoint)
        net, meta = load_inference(checkpoint, with_cloud=with_cloud)
    return net, meta, replace(ModelInfo.from_meta(meta, checkpoint), checkpoint_sha256=file_hash)


WEIGHT_MODES = ("auto", "fp32", "fp16")
OPSETS = range(11, 21)  # what the TorchScript exporter writes for these networks (tested)


def _where(flag: str | None) -> str:
    """The fix for a folder one cannot write in."""
    if flag:
        return f"pass {flag} PATH in a writable folder"
    return "copy the checkpoint to a writable folder and export it there"


def _prepare_out(out: Path, what: str, flag: str | None, example: str) -> None:
    """Refuse an output path that cannot be a file (a folder, or under a file) before the
    export starts, and create its folder. flag: the option that sets the path (None: none
    does); example: a file name to suggest. Raises EngineError with the fix."""
    if out.is_dir():
        fix = (f"pass a file path such as {out / example} to {flag}" if flag else
               "move that folder away")
        raise EngineError(f"the {what} path {out} is a folder; {fix}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        above = next((p for p in out.parents if p.exists() and not p.is_dir()), out.parent)
        raise EngineError(f"cannot write the {what} {out}: {above} is a file, not a folder; "
                          f"{_where(flag)}") from None
    except OSError as e:
        raise _write_error(out, what, e, flag) from None


def _write_error(out: Path, what: str, e: OSError, flag: str | None) -> EngineError:
    fix = _where(flag)
    if e.errno == errno.ENOSPC:
        fix = "free some space, or " + fix.replace("a writable folder", "a folder on another disk")
    return EngineError(f"cannot write the {what} {out} ({e.strerror or type(e).__name__}); {fix}")


def write_atomic(out: Path, write: Callable[[Path], None], what: str = "file",
                 flag: str | None = None) -> Path:
    """Call write(tmp) for a temporary path in out's folder (same suffix), then rename it over
    out: a failure leaves out as it was and no temporary file. An OSError (no space, no
    permission) becomes an EngineError with the fix (flag: the option that sets the path, if
    any). Returns out."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp{out.suffix}")
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as e:
        raise _write_error(out, what, e, flag) from None
    finally:
        with contextlib.suppress(OSError):  # on a read-only disk even a missing file raises
            tmp.unlink(missing_ok=True)
    return out


def store_weights_fp16(model, min_elements: int = 1024) -> int:
    """Store the float32 initializers of an onnx.ModelProto with >= min_elements values as
    float16 behind a Cast back to float32 (in place). Returns the number of tensors converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_elements:
            continue
        half = arr.astype(np.float16)
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(half, f"{init.name}__fp16"))
        casts.append(helper.make_node("Cast", [f"{init.name}__fp16"], [init.name],
                                      to=TensorProto.FLOAT, name=f"{init.name}__cast"))
    for i, node in enumerate(casts):  # before every consumer: the graph stays sorted
        graph.node.insert(i, node)
    return len(casts)


def _onnx_graph(module, args: tuple, inputs: list[str], names: list[str], opset: int, info):
    """torch.onnx.export of module(*args) -> onnx.ModelProto with the "handtrack" metadata."""
    import onnx
    import torch

    axes = {n: {0: "batch"} for n in [*inputs, *names]}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, args, buf, dynamo=False, input_names=inputs,
                          output_names=names, dynamic_axes=axes, opset_version=opset)
    model = onnx.load_from_string(buf.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(info.to_dict())
    return model


def _example_inputs(info, batch: int = 2) -> tuple[tuple, list[str]]:
    """(args, input names) of the network's graph: a random batch of 2; a fused network with
    both experts on the first sample and RGB only on the second."""
    import torch

    S, M = info.crop_size, info.heatmap_size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, S, S, generator=g)
    if not info.fused:
        return (x,), ["rgb"]
    return ((x, torch.rand(batch, 21, M, M, generator=g), torch.tensor([1.0, 0.0]),
             torch.tensor([1.0, 1.0])), ["rgb", "heat", "heat_weight", "rgb_weight"])


def _ort_pose(path: Path, feeds: dict) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["pose"], feeds)[0]


def export_onnx(checkpoint: str | Path, out: str | Path | None = None, with_cloud: bool = False,
                opset: int = 17, weights: str = "auto") -> tuple[Path, float]:
    """Write the ONNX model of a checkpoint and check it with ONNX Runtime; weights: how float32
    tensors are stored (WEIGHT_MODES, see the module doc). A fused checkpoint also gets its 2D
    expert's graph NAME.2d.onnx (export_heat_graph).
    Returns (path, largest |onnx - torch| of the pose on a random batch of 2)."""
    if weights not in WEIGHT_MODES:
        raise EngineError(f"unknown weight storage {weights!r}; use one of "
                          f"{', '.join(WEIGHT_MODES)}")
    import onnx
    import torch

    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else onnx_path_of(checkpoint)
    _prepare_out(out, "ONNX model", "--onnx-out", onnx_path_of(checkpoint).name)
    net, meta, info = _load(checkpoint, with_cloud)
    args, inputs = _example_inputs(info)
    names = ["z_mu", "pose"] + (["cloud"] if with_cloud else [])
    if not with_cloud:
        info = replace(info, cloud_points=0)  # 0: the graph has no cloud output
    model = _onnx_graph(net, args, inputs, names, opset, info)
    if weights == "auto":
        weights = "fp16" if meta["fp16_weights"] else "fp32"
    if weights == "fp16":
        store_weights_fp16(model)
    write_atomic(out, lambda tmp: onnx.save(model, str(tmp)), "ONNX model", "--onnx-out")
    got = _ort_pose(out, {k: a.numpy() for k, a in zip(inputs, args)})
    with torch.inference_mode():
        want = net(*args)[1].numpy()
    if info.fused:
        export_heat_graph(checkpoint, out, opset, weights, loaded=(net, info))
    return out, float(np.abs(got - want).max())


def export_heat_graph(checkpoint: str | Path, onnx_out: str | Path, opset: int = 17,
                      weights: str = "fp32", loaded: tuple | None = None) -> tuple[Path, float]:
    """Write NAME.2d.onnx beside onnx_out for a fused checkpoint: model.pose_net.HeatExpertNet,
    inputs "heat" (B, 21, M, M) and "heat_weight" (B,), outputs "z_mu" and "pose": the fused
    graph's answer with rgb_weight 0 without the RGB encoder (what --fuse 2d runs). Returns
    (path, largest |this graph - the fused network at rgb_weight 0| of the pose). loaded: the
    checkpoint's (net, ModelInfo) when the caller has read it already."""
    import onnx
    import torch

    from model.inference import HeatExpertNet

    net, info = loaded if loaded is not None else _load(Path(checkpoint), False)[::2]
    heat_net = HeatExpertNet(net).eval()
    (x, heat, _, _), _ = _example_inputs(info)
    w_h = torch.tensor([1.0, 0.5])
    out = heat_graph_path_of(onnx_out)
    model = _onnx_graph(heat_net, (heat, w_h), ["heat", "heat_weight"], ["z_mu", "pose"], opset,
                        replace(info, cloud_points=0))
    if weights == "fp16":
        store_weights_fp16(model)
    write_atomic(out, lambda tmp: onnx.save(model, str(tmp)), "2D-expert ONNX model")
    got = _ort_pose(out, {"heat": heat.numpy(), "heat_weight": w_h.numpy()})
    with torch.inference_mode():
        want = net(x, heat, w_h, torch.zeros(2))[1].numpy()
    return out, float(np.abs(got - want).max())


def _inline_identities(model) -> int:
    """Remove the Identity nodes that pass an initializer on (the exporter writes them for
    weights shared by several nodes, e.g. the equal convolutions of untrained networks): the
    quantiser quantises only weights it sees as initializers. In place; returns the count."""
    inits = {i.name for i in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    alias = {n.output[0]: n.input[0] for n in model.graph.node
             if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in outputs}
    keep = [n for n in model.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for n in keep:
        for k, name in enumerate(n.input):
            if name in alias:
                n.input[k] = alias[name]
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return len(alias)


def export_int8(checkpoint: str | Path, onnx_out: str | Path, opset: int = 17,
                calibration_frames: int = 48) -> tuple[Path, float]:
    """Write NAME.int8.onnx beside onnx_out: the checkpoint's graph with the RGB encoder's
    convolutions quantised to int8 (app/quantize.py, calibrated on the demo generator's crops).
    Returns (path, mean |int8 - float32| pose distance over the calibration crops, in scale
    bones)."""
    import onnx
    import torch

    from app.quantize import calibration_feeds, quantize_onnx

    checkpoint = Path(checkpoint)
    net, _, info = _load(checkpoint, False)
    args, inputs = _example_inputs(info)
    model = _onnx_graph(net, args, inputs, ["z_mu", "pose"], opset, replace(info, cloud_points=0))
    _inline_identities(model)
    feeds = calibration_feeds(info, calibration_frames)
    out = int8_path_of(onnx_out)
    fp32 = out.with_name(f".{out.name}.{os.getpid()}.fp32.onnx")
    try:
        write_atomic(fp32, lambda tmp: onnx.save(model, str(tmp)), "ONNX model")
        write_atomic(out, lambda tmp: quantize_onnx(fp32, tmp, feeds), "int8 ONNX model")
    finally:
        with contextlib.suppress(OSError):
            fp32.unlink(missing_ok=True)
    batch = {k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}
    got = _ort_pose(out, batch)
    with torch.inference_mode():
        want = net(*(torch.from_numpy(batch[k]) for k in inputs))[1].numpy()
    return out, float(np.linalg.norm(got - want, axis=-1).mean())


def export_tensorrt(checkpoint: str | Path, out: str | Path | None = None,
                    batch: int = 2) -> Path:
    """Compile the checkpoint's network with torch-tensorrt (dynamo, fp16) for a fixed batch and
    save it as an ExportedProgram with a JSON sidecar. Needs CUDA and torch-tensorrt."""
    import torch

    try:
        import torch_tensorrt
    except ImportError as e:
        raise EngineError(f"torch-tensorrt is not installed ({e}); `pip install "
                          "'handtrack[tensorrt]'` on a CUDA machine") from None
    if not torch.cuda.is_available():
        raise EngineError("TensorRT export needs a CUDA GPU; this machine has none")
    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else tensorrt_path_of(checkpoint)
    _prepare_out(out, "TensorRT model", None, tensorrt_path_of(checkpoint).name)
    net, _, info = _load(checkpoint, with_cloud=False)
    S, M, fused = info.crop_size, info.heatmap_size, info.fused
    net = net.cuda().eval()
    inputs = [torch.rand(batch, 3, S, S, device="cuda")]
    if fused:  # the same four inputs as the fused ONNX graph (module doc)
        inputs += [torch.rand(batch, 21, M, M, device="cuda"),
                   torch.ones(batch, device="cuda"), torch.ones(batch, device="cuda")]
    trt_gm = torch_tensorrt.compile(net, ir="dynamo", arg_inputs=inputs,
                                    enabled_precisions={torch.float16})
    # the sidecar's fields: the engine's batch and precision, no latent size, cloud or metrics
    sidecar = replace(info, batch=batch, precision="fp16", latent_dim=None, cloud_points=None,
                      metrics=None)
    return write_tensorrt_artefact(
        out, lambda tmp: torch_tensorrt.save(trt_gm, str(tmp), arg_inputs=inputs), sidecar)


def write_tensorrt_artefact(out: Path, save: Callable[[Path], None], sidecar: ModelInfo) -> Path:
    """Write the engine (save(path)) and then its JSON sidecar (ModelInfo.to_dict), each
    atomically: an interrupted export leaves at worst the new engine beside the old sidecar,
    whose weights hash then no longer matches the checkpoint (unless the weights are the
    same), so it is not used."""
    text = json.dumps(sidecar.to_dict())
    write_atomic(out, save, "TensorRT model")
    write_atomic(sidecar_path_of(out), lambda tmp: tmp.write_text(text), "TensorRT sidecar")
    return out


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one `error: ...` line (exit status 2), like the app's."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def _int_in(lo: int, hi: int, example: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi], checked when the options are parsed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected a whole number from {lo} to {hi}, got "
                                             f"{text!r} (e.g. {example})")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="handtrack-export", description="Write NAME.onnx (a fused model: also "
                "NAME.2d.onnx; a CPU with VNNI / AMX: also NAME.int8.onnx; a CUDA machine with "
                "torch-tensorrt: NAME.trt.ep) next to a checkpoint, for the app's onnxruntime / "
                "tensorrt backends.")
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="the .pt checkpoint")
    p.add_argument("--onnx-out", metavar="PATH", help="ONNX path (default: next to the .pt)")
    p.add_argument("--cloud", action="store_true", help="include the point-cloud output")
    p.add_argument("--opset", type=_int_in(OPSETS[0], OPSETS[-1], 17), default=17,
                   help=f"ONNX opset ({OPSETS[0]}-{OPSETS[-1]})")
    p.add_argument("--weights", choices=WEIGHT_MODES, default="auto",
                   help="storage of the weights: fp16 = half the file, float32 compute, "
                        "results within ~1e-4; auto = fp16 for an fp16 checkpoint "
                        "(train.shrink_fp16), else fp32")
    p.add_argument("--quantize", choices=QUANTIZE_MODES, default="auto",
                   help="also write NAME.int8.onnx, the RGB encoder quantised to int8 (about "
                        "2.4x faster on a CPU with VNNI / AMX, within ~1 mm): int8 = always, "
                        "auto = when this CPU has int8 dot products (VNNI / AMX), none = not")
    p.add_argument("--tensorrt", action=argparse.BooleanOptionalAction, default=None,
                   help="build the TensorRT artefact (default: when CUDA and torch-tensorrt "
                        "exist)")
    p.add_argument("--batch", type=_int_in(1, 64, 2), default=2,
                   help="TensorRT batch (hands per pass, 1-64)")
    args = p.parse_args(argv)
    try:
        path, diff = export_onnx(args.checkpoint, args.onnx_out, args.cloud, args.opset,
                                 args.weights)
        print(f"wrote {path} (largest |onnxruntime - torch| pose difference {diff:.2e})")
        heat = heat_graph_path_of(path)
        if heat.is_file() and heat.stat().st_mtime >= path.stat().st_mtime:
            print(f"wrote {heat} (the 2D expert alone, for --fuse 2d)")
        int8 = args.quantize == "int8" or (args.quantize == "auto" and has_int8_dot())
        if int8:
            q, err = export_int8(args.checkpoint, path, args.opset)
            print(f"wrote {q} (int8 RGB encoder; mean |int8 - float32| pose distance "
                  f"{err:.4f} scale bones on the calibration crops)")
        elif args.quantize == "auto":
            print("int8 model skipped: this CPU has no int8 dot products (VNNI / AMX), where "
                  "float32 is as fast; --quantize int8 writes it anyway")
        want_trt = args.tensorrt
        if want_trt is None:
            import importlib.util

            import torch

            want_trt = torch.cuda.is_available() and importlib.util.find_spec(
                "torch_tensorrt") is not None
            if not want_trt:
                print("TensorRT artefact skipped: needs a CUDA GPU and torch-tensorrt")
        if want_trt:
            print(f"wrote {export_tensorrt(args.checkpoint, batch=args.batch)}")
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # nothing half-written is left (write_atomic)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
