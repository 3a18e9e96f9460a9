"""A session recorded by --record, replayed frame by frame with its recorded results."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.engine.errors import EngineError
from app.engine.sources.base import Source, SourceConfig, SourceFrame
from app.results import FrameOrigin, FrameResult
from app.session import SessionError, VideoFrame, read_session


class ReplaySource(Source):
    """A session written by the recorder (format: app.session): every recorded frame in order,
    with its recorded FrameResult attached (SourceFrame.recorded), so the engine can pass the
    results through or recompute them (--reprocess). A frame whose video is missing (cut by a
    crash, dropped by the encoder, or recorded without video) comes with rgb None and replays
    without a picture (frames_without_video counts them); a video frame whose result did not
    reach the disk comes with recorded None. Frames keep their recorded capture times; pictures
    are stored as delivered (already mirrored when mirroring was on). A frame's origin is the
    recorded one (image file, video frame) when the session kept it, else kind "replay" with the
    recorded frame id, capture time and the original source's file name (meta.json camera path)."""

    def __init__(self, config: SourceConfig, path: str | Path | None = None):
        self.path = Path(path if path is not None else config.path or "")
        if not self.path.is_dir():
            raise EngineError(f"session {self.path} does not exist; pass a folder written by "
                              "--record DIR")
        try:
            self.session = read_session(self.path)
        except (OSError, ValueError, KeyError) as e:  # SessionError is a ValueError
            raise EngineError(f"session {self.path} cannot be read ({e})") from None
        self.description = f"replay {self.path}"
        meta = self.session.meta
        self.fps = float((meta.get("video") or {}).get("fps") or 30.0)
        self.mirrored = bool((meta.get("camera") or {}).get("mirror", False))
        recorded_path = (meta.get("camera") or {}).get("path")
        self._origin_name = Path(recorded_path).name if recorded_path else None
        K = (meta.get("intrinsics") or {}).get("K")
        self.intrinsics = np.asarray(K, dtype=np.float64) if K is not None else None
        self._recorded = self.session.frames  # in frame id order
        self._next = 0
        video_ids = {f for f, _, _, _ in self.session.video_index}
        recorded_ids = {f.frame_id for f in self._recorded}
        self.video_frames = len(video_ids)
        self.frames_without_video = len(recorded_ids - video_ids)
        self.frames_total = len(recorded_ids | video_ids)
        self._video = self.session.iter_video() if video_ids else iter(())
        self._pending = self._next_video()  # the first picture now: a bad segment fails early
        if self._pending is not None:
            self._size = (self._pending.rgb.shape[1], self._pending.rgb.shape[0])
        elif self._recorded:
            self._size = (self._recorded[0].width, self._recorded[0].height)
        else:
            raise EngineError(f"session {self.path} holds no frames to replay")

    def _next_video(self) -> VideoFrame | None:
        try:
            return next(self._video, None)
        except SessionError as e:
            raise EngineError(f"replay stopped: {e}") from None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _origin(self, frame_id: int, capture_time: float,
                rec: FrameResult | None = None) -> FrameOrigin:
        if rec is not None and rec.origin is not None:
            return rec.origin
        return FrameOrigin("replay", int(frame_id), self._origin_name, float(capture_time))

    def read(self) -> SourceFrame | None:
        rec = self._recorded[self._next] if self._next < len(self._recorded) else None
        vf = self._pending
        if vf is not None and (rec is None or vf.frame_id < rec.frame_id):
            self._pending = self._next_video()  # a picture whose result was not recorded
            return SourceFrame(vf.rgb, float(vf.capture_time),
                               origin=self._origin(vf.frame_id, vf.capture_time))
        if rec is None:
            return None
        self._next += 1
        origin = self._origin(rec.frame_id, rec.capture_time, rec)
        if vf is None or vf.frame_id != rec.frame_id:  # no picture
            return SourceFrame(None, float(rec.capture_time), recorded=rec, origin=origin)
        self._pending = self._next_video()
        return SourceFrame(vf.rgb, float(vf.capture_time), recorded=rec, origin=origin)
