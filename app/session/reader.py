"""Read a session folder written by app.sinks.Recorder (layout in app.session.layout).

read_session(dir) -> Session with .meta (dict), .frames (list of FrameResult), .video_path (the
video folder or None), .video_segments and .iter_video() (recorded frames with their frame ids
and capture times, for replay and --reprocess). An interrupted recording reads up to its last
flush: a partial last CSV line, an unfinished last frame and an unclosed video segment are
dropped and reported in .warnings (and logged). Missing or corrupt files raise SessionError
naming the file and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app.results import FrameResult
from app.session.errors import SessionError
from app.session.interactions import interactions_from_rows
from app.session.layout import (
    CSV_COLUMNS,
    CSV_NAME,
    FORMAT,
    INDEX_COLUMNS,
    INDEX_NAME,
    INTERACTION_COLUMNS,
    INTERACTION_NAME,
    META_NAME,
    RIG_COLUMNS,
    RIG_NAME,
    SOURCE_COLUMNS,
    SOURCE_NAME,
    VIDEO_DIR,
    segment_name,
)
from app.session.origins import origins_from_rows
from app.session.rigs import rigs_from_rows
from app.session.rows import frames_from_rows, read_csv, warn


@dataclass
class VideoFrame:
    frame_id: int
    capture_time: float  # seconds since the epoch
    rgb: np.ndarray  # (H, W, 3) uint8


@dataclass
class Session:
    path: Path
    meta: dict
    frames: list[FrameResult]
    complete: bool  # closed cleanly
    video_index: list[tuple[int, float, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def video_path(self) -> Path | None:
        """The folder of mp4 segments, or None when no video was recorded."""
        return self.path / VIDEO_DIR if self.video_index else None

    @property
    def video_segments(self) -> list[Path]:
        """The complete mp4 segments in order."""
        seen = dict.fromkeys(seg for _, _, seg, _ in self.video_index)
        return [self.path / VIDEO_DIR / segment_name(s) for s in seen]

    def iter_video(self) -> Iterator[VideoFrame]:
        """Yield every recorded video frame (RGB) with its frame id and capture time, in order.
        Raises SessionError when there is no video or a segment ends early."""
        if not self.video_index:
            raise SessionError(f"{self.path}: no video was recorded in this session, so it "
                               "cannot be replayed or reprocessed from images")
        cap, current = None, None
        try:
            for frame_id, t, seg, _ in self.video_index:
                if seg != current:
                    if cap is not None:
                        cap.release()
                    path = self.path / VIDEO_DIR / segment_name(seg)
                    cap, current = cv2.VideoCapture(str(path)), seg
                    if not cap.isOpened():
                        raise SessionError(f"{path}: OpenCV cannot open this video segment "
                                           "(truncated or corrupt)")
                ok, bgr = cap.read()
                if not ok:
                    raise SessionError(f"{path}: the video ends before frame {frame_id} "
                                       "(truncated); re-copy the session folder")
                yield VideoFrame(frame_id, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            if cap is not None:
                cap.release()


def _read_video_index(root: Path, meta: dict, complete: bool, check_video: bool,
                      warnings: list[str]) -> list[tuple[int, float, int, int]]:
    video_meta = meta.get("video") or {}
    if not video_meta.get("enabled"):
        return []
    index_path = root / VIDEO_DIR / INDEX_NAME
    if not index_path.is_file():
        if complete and video_meta.get("frames"):
            raise SessionError(f"{index_path} is missing although meta.json lists "
                               f"{video_meta['frames']} video frames; re-copy the whole folder")
        return []
    try:
        index = [(int(f), float(t), int(s), int(i))
                 for f, t, s, i in read_csv(index_path, INDEX_COLUMNS, warnings)]
    except ValueError as e:
        raise SessionError(f"{index_path}: cannot be read ({e}); the file is corrupt") from None
    if complete and video_meta.get("frames") is not None and len(index) != video_meta["frames"]:
        raise SessionError(f"{index_path} lists {len(index)} video frames but meta.json records "
                           f"{video_meta['frames']}; the file was truncated or edited")
    counts: dict[int, int] = {}
    for _, _, s, _ in index:
        counts[s] = counts.get(s, 0) + 1
    for s, count in counts.items():
        seg = root / VIDEO_DIR / segment_name(s)
        if not seg.is_file():
            raise SessionError(f"{seg} is missing ({count} recorded frames); re-copy the whole "
                               "session folder")
        if check_video:
            cap = cv2.VideoCapture(str(seg))
            try:
                n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
            finally:
                cap.release()
            if n < count:
                what = "cannot be opened" if n < 0 else f"holds {n} of {count} frames"
                raise SessionError(f"{seg} {what}: the video is truncated or corrupt; re-copy "
                                   "the session folder")
    for seg in sorted((root / VIDEO_DIR).glob("segment_*.mp4")):
        try:
            s = int(seg.stem.split("_")[1])
        except (IndexError, ValueError):
            continue
        if s not in counts:
            warn(warnings, f"{VIDEO_DIR}/{seg.name} was never closed (recording interrupted); "
                           "its frames are skipped")
    return index


def read_session(path: str | Path, check_video: bool = True) -> Session:
    """Read a recorded session folder. check_video opens every mp4 segment to verify it.
    Raises SessionError for a missing folder, missing/corrupt files or a truncated video."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise SessionError(f"{root}: no such folder; give a folder written by --record")
    meta_path = root / META_NAME
    if not meta_path.is_file():
        raise SessionError(f"{meta_path} is missing: {root} is not a handtrack session folder "
                           "(record one with --record DIR)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SessionError(f"{meta_path} cannot be read ({e}); the folder is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SessionError(f"{meta_path}: not a {FORMAT} file (format "
                           f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    csv_path = root / CSV_NAME
    if not csv_path.is_file():
        raise SessionError(f"{csv_path} is missing; re-copy the whole session folder")
    warnings: list[str] = []
    complete = bool(meta.get("complete"))
    frames = frames_from_rows(read_csv(csv_path, CSV_COLUMNS, warnings), csv_path, warnings)
    if complete and meta.get("frames") != len(frames):
        raise SessionError(f"{csv_path} holds {len(frames)} frames but meta.json records "
                           f"{meta.get('frames')}; the file was truncated or edited")
    if not complete:
        why = f" ({meta['error']})" if meta.get("error") else ""
        warn(warnings, f"{root}: the recording was not closed cleanly{why}; read {len(frames)} "
                       "frames up to the last flush")
    source_path = root / SOURCE_NAME  # absent in older sessions: origins stay None
    if source_path.is_file():
        origins = origins_from_rows(read_csv(source_path, SOURCE_COLUMNS, warnings), source_path)
        for f in frames:
            f.origin = origins.get(f.frame_id)
    inter_path = root / INTERACTION_NAME  # absent in older sessions: interactions stay None
    if inter_path.is_file():
        inters = interactions_from_rows(read_csv(inter_path, INTERACTION_COLUMNS, warnings),
                                        inter_path)
        for f in frames:
            for h in f.hands:
                h.interaction = inters.get((f.frame_id, h.hand_id))
    rig_path = root / RIG_NAME  # absent in older sessions: every hand's rig stays None
    if rig_path.is_file():
        rigs = rigs_from_rows(read_csv(rig_path, RIG_COLUMNS, warnings), rig_path)
        for f in frames:
            for h in f.hands:
                h.rig = rigs.get((f.frame_id, h.hand_id))
    index = _read_video_index(root, meta, complete, check_video, warnings)
    return Session(root, meta, frames, complete, index, warnings)
