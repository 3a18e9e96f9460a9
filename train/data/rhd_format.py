"""The on-disk format of the Rendered Hand Pose Dataset (RHD), read by the RHD loader and
written by handtrack-synth.

Layout: ROOT/{training,evaluation}/{color,depth,mask}/%05d.png and
ROOT/{split}/anno_{split}.pickle = {id: {'xyz': (42, 3) metres, 'uv_vis': (42, 3), 'K': (3, 3)}}.
Keypoints 0-20 are the left hand, 21-41 the right hand, each in RHD order (model.hand.from_rhd).
Depth PNG: 8-bit RGB, metres = (R * 256 + G) / 65535 * 5.0. Mask PNG: 0 background, 1 person,
2-17 left hand parts, 18-33 right hand parts.

Annotation files are Python pickles. They are read with AnnotationUnpickler, which builds only
what RHD's files hold (dicts, lists, numbers, numpy arrays) and refuses every other class or
function a pickle may name, so a hostile file cannot run code.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from pathlib import Path

import cv2
import numpy as np

SPLITS = ("training", "evaluation")
DEPTH_MAX_M = 5.0
LEFT_LABELS = (2, 17)  # inclusive range of left-hand part labels
RIGHT_LABELS = (18, 33)


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 RGB as RHD stores it (R high byte, G low byte, B 0).
    Depths are clipped to [0, 5] m; the quantisation step is 5 / 65535 m (0.076 mm)."""
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise ValueError(f"depth_m must have shape (H, W), got {depth_m.shape}")
    q = np.round(np.clip(depth_m, 0.0, DEPTH_MAX_M) / DEPTH_MAX_M * 65535.0).astype(np.uint16)
    out = np.zeros((*depth_m.shape, 3), np.uint8)
    out[..., 0] = q >> 8
    out[..., 1] = q & 0xFF
    return out


def decode_depth(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 metres = (R * 256 + G) / 65535 * 5."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 2 or rgb.dtype != np.uint8:
        raise ValueError(f"an RHD depth image is (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    v = rgb[..., 0].astype(np.float32) * 256.0 + rgb[..., 1].astype(np.float32)
    return v / 65535.0 * DEPTH_MAX_M


def read_depth_png(path: Path) -> np.ndarray:
    """Read an RHD depth PNG -> (H, W) float32 metres, with a clear error on a wrong file."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read depth image {path}: missing or not a PNG")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(
            f"depth image {path} is {img.dtype} with shape {img.shape}; RHD depth must be an "
            f"8-bit RGB PNG with metres = (R*256 + G) / 65535 * 5 (saved as 16-bit or grey?)")
    return decode_depth(img[..., 2::-1])  # BGR -> RGB


def read_color_png(path: Path) -> np.ndarray:
    """Read an RGB image -> (H, W, 3) uint8 RGB, with a clear error on a wrong file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read colour image {path}: missing or not an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask_png(path: Path) -> np.ndarray:
    """Read an RHD mask PNG -> (H, W) uint8 labels 0..33."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read mask image {path}: missing or not a PNG")
    if img.dtype != np.uint8:
        raise ValueError(f"mask image {path} is {img.dtype}; RHD masks are 8-bit label images")
    if img.ndim == 3:
        img = img[..., 0]
    if img.max() > RIGHT_LABELS[1]:
        raise ValueError(f"mask image {path} has label {img.max()} > {RIGHT_LABELS[1]}; "
                         f"RHD masks hold 0 bg, 1 person, 2-33 hand parts")
    return img


class UnsafePickleError(ValueError):
    """An annotation pickle names a class or function that no RHD annotation file holds."""


# The globals RHD-style pickles name, by protocol: numpy arrays (_reconstruct + ndarray + dtype,
# or _frombuffer for protocol 5), numpy scalars, and bytes (_codecs.encode, protocols 0-2).
# numpy 2 writes numpy._core where numpy 1 writes numpy.core. Dicts, lists, tuples, str and
# numbers need no lookup.
SAFE_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core")
      for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
})


NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """_codecs.encode as pickle protocols 0-2 use it for bytes: latin-1 only (another codec
    name could import a module)."""
    if encoding != "latin1":
        raise UnsafePickleError(f"it encodes bytes with {encoding!r}; pickle itself only uses "
                                "'latin1'")
    return codecs.encode(text, "latin1")


class AnnotationUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only SAFE_GLOBALS; anything else raises UnsafePickleError
    before it is imported or called."""

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise UnsafePickleError(
                f"it asks for {module}.{name}, which an RHD annotation file never holds (only "
                f"dicts, lists, numbers and numpy arrays); the file is not a genuine RHD "
                f"annotation and could run code")
        if module == "_codecs":
            return _latin1_encode
        if module.startswith(("numpy.core.", "numpy._core.")):  # this numpy's spelling
            module = NUMPY_CORE + module[module.index(".", len("numpy.")):]
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            raise UnsafePickleError(f"it asks for {module}.{name}, which this numpy "
                                    f"({np.__version__}) does not provide") from None


def split_dir(root: Path, split: str) -> Path:
    return Path(root) / split


def anno_path(root: Path, split: str) -> Path:
    return Path(root) / split / f"anno_{split}.pickle"


def image_path(root: Path, split: str, kind: str, sample_id: int) -> Path:
    return Path(root) / split / kind / f"{sample_id:05d}.png"


def check_annotation(entry, sample_id, path: Path) -> dict[str, np.ndarray]:
    """Validate one annotation entry -> {'xyz': (42, 3), 'uv_vis': (42, 3), 'K': (3, 3)} float."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: entry {sample_id!r} is {type(entry).__name__}, expected a dict "
                         f"with 'xyz', 'uv_vis', 'K'")
    out = {}
    for key, shape in (("xyz", (42, 3)), ("uv_vis", (42, 3)), ("K", (3, 3))):
        if key not in entry:
            raise ValueError(f"{path}: entry {sample_id!r} has no '{key}' (expected keys "
                             f"'xyz' (42, 3), 'uv_vis' (42, 3), 'K' (3, 3))")
        arr = np.asarray(entry[key], dtype=np.float64)
        if arr.shape != shape:
            raise ValueError(f"{path}: entry {sample_id!r} '{key}' has shape {arr.shape}, "
                             f"expected {shape} (is this an RHD annotation file?)")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: entry {sample_id!r} '{key}' contains NaN or inf")
        out[key] = arr
    return out


def load_annotations(path: Path) -> dict[int, dict[str, np.ndarray]]:
    """Load and validate anno_{split}.pickle with AnnotationUnpickler (a hostile pickle raises
    UnsafePickleError and runs nothing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} not found; expected the RHD layout "
                                f"ROOT/{{training,evaluation}}/anno_{{split}}.pickle")
    try:
        with open(path, "rb") as fh:
            data = AnnotationUnpickler(fh).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"refusing to load {path}: {exc}; re-download RHD_published_v2 "
                                f"or regenerate the set with handtrack-synth") from None
    except Exception as exc:  # corrupt or truncated pickle
        raise ValueError(f"cannot unpickle {path} ({type(exc).__name__}: {exc}); the file is "
                         f"corrupt or not an RHD annotation pickle") from exc
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path} holds {type(data).__name__}, expected a non-empty dict "
                         f"id -> {{'xyz', 'uv_vis', 'K'}}")
    return {int(k): check_annotation(v, k, path) for k, v in sorted(data.items())}


def make_annotation(joints_m: np.ndarray, uv_px: np.ndarray, vis: np.ndarray, K: np.ndarray,
                    side: int) -> dict[str, np.ndarray]:
    """One RHD annotation entry from one hand in RHD order: joints_m (21, 3), uv_px (21, 2),
    vis (21,), side 0 left (slots 0-20) / 1 right (slots 21-41). The other hand's slots are
    zeros with visibility 0."""
    xyz = np.zeros((42, 3), np.float32)
    uv_vis = np.zeros((42, 3), np.float32)
    sl = slice(21 * side, 21 * side + 21)
    xyz[sl] = joints_m
    uv_vis[sl, :2] = uv_px
    uv_vis[sl, 2] = vis
    return {"xyz": xyz, "uv_vis": uv_vis, "K": np.asarray(K, np.float32)}


def write_annotations(path: Path, annos: dict[int, dict[str, np.ndarray]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(annos, fh, protocol=pickle.HIGHEST_PROTOCOL)
