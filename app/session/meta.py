"""meta.json of a session folder: what the recorder writes at the start ("complete": false) and
at a clean close, always atomically (a crash never leaves it half-written)."""

from __future__ import annotations

import datetime
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

from app.session.layout import CSV_COLUMNS, CSV_NAME, FORMAT, INDEX_NAME, META_NAME, VIDEO_DIR
from model.hand import JOINT_NAMES


def software() -> dict:
    """The versions of handtrack and the libraries that shape a recording."""
    try:
        version = metadata.version("handtrack")
    except metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    return {"handtrack": version, "python": platform.python_version(), "opencv": cv2.__version__,
            "numpy": np.__version__}


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write JSON to a temporary file, fsync it and rename it over `path` (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_meta(folder: Path, meta: dict) -> None:
    """Replace folder/meta.json atomically. Raises OSError."""
    write_json_atomic(folder / META_NAME, meta)


def start_meta(start_time: float, *, K, dist, intrinsics_source: str, model: str, backend: str,
               camera: dict, extra: dict, video: bool, fourcc: str, fps: float,
               segment_s: float) -> dict:
    """meta.json while recording ("complete": false). K: (3, 3) or None; dist: (5,) or None."""
    K = None if K is None else np.asarray(K, np.float64).reshape(3, 3).tolist()
    dist = None if dist is None else np.asarray(dist, np.float64).reshape(-1).tolist()
    return {
        "format": FORMAT,
        "complete": False,
        "start_time": start_time,
        "start_time_utc": datetime.datetime.fromtimestamp(start_time, datetime.UTC).isoformat(),
        "software": software(),
        "joints": {"order": "model.hand.Joint (MediaPipe order)", "names": list(JOINT_NAMES)},
        "units": {"joints": "metres", "uv": "pixels", "time": "seconds since the Unix epoch",
                  "confidence": "0..1"},
        "axes": "camera frame, OpenCV convention: x right, y down, z forward; pixel (0, 0) "
                "is the centre of the top-left pixel",
        "sides": {"0": "left", "1": "right"},
        "intrinsics": {"K": K, "dist": dist, "source": intrinsics_source},
        "model": model,
        "backend": backend,
        "camera": dict(camera),
        "extra": dict(extra),
        "files": {"frames": CSV_NAME, "video_dir": VIDEO_DIR if video else None,
                  "video_index": f"{VIDEO_DIR}/{INDEX_NAME}" if video else None},
        "csv": {"columns": list(CSV_COLUMNS),
                "no_hand_rows": "a frame without hands has one row with hands = 0 and empty "
                                "hand fields"},
        "video": {"enabled": video, "codec": fourcc, "fps": fps, "segment_s": segment_s,
                  "colour": "RGB frames stored as BGR by OpenCV"},
    }


def end_meta(meta: dict, end_time: float, error: str | None, frames: int, rows: int,
             video_frames: int, segments: int, video_dropped: int) -> dict:
    """meta.json at the close: "complete" (and the frame count) only when error is None."""
    out = dict(meta)
    out.update({
        "complete": error is None,
        "end_time": end_time,
        "frames": frames if error is None else None,
        "rows": rows,
        "error": error,
    })
    out["video"] = dict(out["video"], frames=video_frames, segments=segments,
                        dropped=video_dropped)
    return out
