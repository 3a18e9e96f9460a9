"""Record a session to disk: frames.csv (results), segmented mp4 video and meta.json.

Crash safety: rows are written by a background thread and flushed + fsync'ed every
`flush_interval_s` (0.5 s); after SIGKILL every frame up to the last flush is on disk and
read_session reads it (a partial last line is dropped with a warning). OpenCV's mp4 is
unreadable until released, so the video is cut into segments of `segment_s` seconds, each
released, fsync'ed and only then listed in video/index.csv: a crash loses at most the segment
being written. meta.json is written at the start with "complete": false and replaced
atomically at a clean close with "complete": true and the frame counts.

Errors (disk full, folder deleted or unmounted) stop the recording, never the tracking: `write`
never raises; the problem is kept in `error` and logged once.
"""

from __future__ import annotations

import csv
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app.results import FrameResult
from app.session.interactions import interaction_rows
from app.session.layout import (
    CSV_COLUMNS,
    CSV_NAME,
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
from app.session.meta import end_meta, start_meta, write_meta
from app.session.origins import origin_row
from app.session.rigs import rig_rows
from app.session.rows import csv_rows
from app.sinks.errors import SinkConfigError

log = logging.getLogger(__name__)
_STOP = object()


@dataclass
class RecorderConfig:
    path: str | Path  # session folder; created, must not hold a recording yet
    video: bool = True  # record the camera frames
    fps: float = 30.0  # nominal rate written into the mp4 headers (exact times: index.csv)
    segment_s: float = 2.0  # video segment length; a crash loses at most one segment
    flush_interval_s: float = 0.5  # CSV flush + fsync period
    video_queue: int = 8  # frames waiting for the encoder; more are dropped (counted)
    wait_for_video: bool = False  # write() waits for the encoder instead of dropping (offline)
    fourcc: str = "mp4v"
    # metadata written into meta.json
    K: list | np.ndarray | None = None  # (3, 3) intrinsics used for the metric fit
    dist: list | np.ndarray | None = None  # (5,) distortion coefficients or None
    intrinsics_source: str = ""  # e.g. "calibration file ..." or "60 deg FOV guess"
    model: str = ""  # checkpoint / model name
    backend: str = ""  # torch / onnxruntime / tensorrt
    camera: dict = field(default_factory=dict)  # camera settings (index, size, fps, ...)
    extra: dict = field(default_factory=dict)  # anything else worth keeping


def recorder_config(engine, path: str | Path, **fields) -> RecorderConfig:
    """The RecorderConfig for recording what an opened app.engine.Engine delivers (the same for
    the command line and the window): the source's size, rate and settings (meta.json "camera"),
    the intrinsics in use and where they come from, the model and the backend. An offline
    source, where nothing needs dropping, waits for the video encoder (wait_for_video) instead
    of dropping frames. fields: other RecorderConfig fields (video, segment_s...)."""
    src, kind = engine.source, engine.config.source
    w, h = src.size
    K = engine.intrinsics((w, h))  # also sets engine.intrinsics_source
    camera = {"source": kind.kind, "description": src.description,
              "index": kind.camera if kind.kind == "camera" else None, "path": kind.path,
              "width": w, "height": h, "fps": src.fps, "mirror": bool(src.mirrored)}
    return RecorderConfig(path=path, fps=src.fps or 30.0, K=K,
                          intrinsics_source=engine.intrinsics_source,
                          model=str(getattr(engine, "checkpoint", None) or ""),
                          backend=engine.backend_name, camera=camera,
                          wait_for_video=not engine.drops_frames, **fields)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Recorder:
    """Sink that records a session folder (layout in app.session.layout).

    write(result, frame_rgb (H, W, 3) uint8 RGB or None) queues the rows and a copy of the frame
    and returns; two background threads write the CSV and encode the video. When the encoder
    falls behind, a live source's frames are dropped (counted in video_dropped); with
    wait_for_video (an offline source, where nothing needs dropping) write() waits for it
    instead. Raises SinkConfigError at construction when the folder cannot be used.
    """

    def __init__(self, config: RecorderConfig) -> None:
        self.config = config
        self.path = Path(config.path).expanduser()
        if config.segment_s <= 0 or config.flush_interval_s <= 0 or config.fps <= 0:
            raise SinkConfigError("recorder: segment_s, flush_interval_s and fps must be > 0")
        if self.path.exists() and not self.path.is_dir():
            raise SinkConfigError(f"--record {self.path}: this is a file, not a folder; "
                                  "give a new folder name")
        if (self.path / META_NAME).exists():
            raise SinkConfigError(f"--record {self.path}: this folder already holds a recording; "
                                  "give a new folder name (nothing is overwritten)")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if config.video:
                (self.path / VIDEO_DIR).mkdir(exist_ok=True)
            self.start_time = time.time()
            self._meta = self._initial_meta()
            write_meta(self.path, self._meta)
            self._csv_file = open(self.path / CSV_NAME, "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._csv_file, lineterminator="\n")
            self._csv.writerow(CSV_COLUMNS)
            self._csv_file.flush()
            self._source_file = open(self.path / SOURCE_NAME, "w", newline="", encoding="utf-8")
            self._source_csv = csv.writer(self._source_file, lineterminator="\n")
            self._source_csv.writerow(SOURCE_COLUMNS)
            self._source_file.flush()
            self._inter_file = open(self.path / INTERACTION_NAME, "w", newline="",
                                    encoding="utf-8")
            self._inter_csv = csv.writer(self._inter_file, lineterminator="\n")
            self._inter_csv.writerow(INTERACTION_COLUMNS)
            self._inter_file.flush()
            self._rig_file = open(self.path / RIG_NAME, "w", newline="", encoding="utf-8")
            self._rig_csv = csv.writer(self._rig_file, lineterminator="\n")
            self._rig_csv.writerow(RIG_COLUMNS)
            self._rig_file.flush()
        except OSError as e:
            raise SinkConfigError(f"--record {self.path}: cannot write there ({e}); choose a "
                                  "folder you can write to with free space") from None
        self.error: str | None = None
        self.frames = 0  # frames handed to write()
        self.rows = 0  # CSV rows written
        self.flushed_frame_id: int | None = None  # last frame id known to be on disk
        self.video_frames = 0  # frames in closed (safe) segments
        self.video_dropped = 0  # frames the encoder could not keep up with
        self.wait_for_video = config.wait_for_video  # may be changed between two writes
        self.segments = 0
        self._failed = threading.Event()
        self._closed = False
        self._rows_q: queue.SimpleQueue = queue.SimpleQueue()
        self._video_q: queue.Queue = queue.Queue(maxsize=max(1, config.video_queue))
        self._csv_thread = threading.Thread(target=self._csv_loop, name="recorder-csv",
                                            daemon=True)
        self._csv_thread.start()
        self._video_thread = None
        if config.video:
            self._index_file = open(self.path / VIDEO_DIR / INDEX_NAME, "w", newline="",
                                    encoding="utf-8")
            self._index = csv.writer(self._index_file, lineterminator="\n")
            self._index.writerow(INDEX_COLUMNS)
            self._index_file.flush()
            self._video_thread = threading.Thread(target=self._video_loop,
                                                  name="recorder-video", daemon=True)
            self._video_thread.start()

    # ------------------------------------------------------------------ metadata
    def _initial_meta(self) -> dict:
        c = self.config
        return start_meta(self.start_time, K=c.K, dist=c.dist,
                          intrinsics_source=c.intrinsics_source, model=c.model, backend=c.backend,
                          camera=c.camera, extra=c.extra, video=c.video, fourcc=c.fourcc,
                          fps=c.fps, segment_s=c.segment_s)

    # ------------------------------------------------------------------ pipeline side
    def write(self, result: FrameResult, frame_rgb: np.ndarray | None = None) -> None:
        """Queue one frame; returns at once (copies frame_rgb). Never raises."""
        if self._closed or self._failed.is_set():
            return
        try:
            self.frames += 1
            self._rows_q.put(result)
            if self._video_thread is not None and frame_rgb is not None:
                self._queue_video((int(result.frame_id), float(result.capture_time),
                                   np.array(frame_rgb, dtype=np.uint8, copy=True)))
        except Exception as e:  # never into the pipeline
            self._fail(f"recording stopped: cannot queue frame {result.frame_id} ({e})")

    def _queue_video(self, item: tuple[int, float, np.ndarray]) -> None:
        """Hand a frame to the encoder: at once or dropped, or (wait_for_video) once it has
        room; a failed or dead encoder thread never blocks the pipeline."""
        try:
            self._video_q.put_nowait(item)
            return
        except queue.Full:
            pass
        while self.wait_for_video and self._video_thread.is_alive() and \
                not self._failed.is_set():
            try:
                self._video_q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        self.video_dropped += 1

    def _fail(self, msg: str) -> None:
        if self.error is None:
            self.error = msg
            log.error(msg)
        self._failed.set()

    def _disk_error(self, what: Path, e: OSError) -> None:
        if not self.path.is_dir():
            self._fail(f"recording stopped: the folder {self.path} vanished (deleted or "
                       "unmounted); tracking continues - record again to a folder that exists")
        else:
            self._fail(f"recording stopped: cannot write {what} ({e}); tracking continues - "
                       "free disk space or record to another folder")

    # ------------------------------------------------------------------ CSV thread
    def _csv_loop(self) -> None:
        last_flush = time.monotonic()
        last_id = None
        dirty = False
        while True:
            try:
                item = self._rows_q.get(timeout=self.config.flush_interval_s)
            except queue.Empty:
                item = None
            stop = item is _STOP
            if self._failed.is_set():
                if stop:
                    return
                continue
            try:
                if item is not None and not stop:
                    rows = csv_rows(item)
                    self._csv.writerows(rows)
                    self.rows += len(rows)
                    if (source_row := origin_row(item)) is not None:
                        self._source_csv.writerow(source_row)
                    self._inter_csv.writerows(interaction_rows(item))
                    self._rig_csv.writerows(rig_rows(item))
                    last_id, dirty = int(item.frame_id), True
                now = time.monotonic()
                if dirty and (stop or now - last_flush >= self.config.flush_interval_s):
                    for f in (self._source_file, self._inter_file, self._rig_file, self._csv_file):
                        f.flush()
                        os.fsync(f.fileno())
                    if os.fstat(self._csv_file.fileno()).st_nlink == 0:
                        raise FileNotFoundError("the file was deleted")
                    self.flushed_frame_id, dirty, last_flush = last_id, False, now
            except OSError as e:
                self._disk_error(self.path / CSV_NAME, e)
            if stop:
                return

    # ------------------------------------------------------------------ video thread
    def _video_loop(self) -> None:
        writer, seg_rows, seg_start, seg_size, seg_path = None, [], 0.0, None, None
        fourcc = cv2.VideoWriter_fourcc(*self.config.fourcc)
        while True:
            item = self._video_q.get()
            if item is _STOP or self._failed.is_set():
                if writer is not None:
                    self._close_segment(writer, seg_path, seg_rows)
                    writer = None
                if item is _STOP:
                    return
                continue
            frame_id, t, rgb = item  # rgb: (H, W, 3) uint8
            size = (rgb.shape[1], rgb.shape[0])
            try:
                if writer is None or t - seg_start >= self.config.segment_s or size != seg_size:
                    if writer is not None:
                        self._close_segment(writer, seg_path, seg_rows)
                    seg_path = self.path / VIDEO_DIR / segment_name(self.segments)
                    writer = cv2.VideoWriter(str(seg_path), fourcc, self.config.fps, size)
                    if not writer.isOpened():
                        writer = None
                        raise OSError(f"OpenCV cannot open a {self.config.fourcc} video writer")
                    self.segments += 1
                    seg_rows, seg_start, seg_size = [], t, size
                writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                seg_rows.append((frame_id, t))
            except (OSError, cv2.error) as e:
                self._disk_error(seg_path, e if isinstance(e, OSError) else OSError(str(e)))

    def _close_segment(self, writer, seg_path: Path, rows: list[tuple[int, float]]) -> None:
        """Release a segment, fsync it, then list its frames in index.csv (and fsync)."""
        writer.release()
        if self._failed.is_set():
            return
        try:
            _fsync_path(seg_path)
            n = int(seg_path.stem.split("_")[1])
            self._index.writerows([str(f), repr(t), str(n), str(i)]
                                  for i, (f, t) in enumerate(rows))
            self._index_file.flush()
            os.fsync(self._index_file.fileno())
            self.video_frames += len(rows)
        except OSError as e:
            self._disk_error(seg_path, e)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Drain the queues, close the files and mark meta.json complete (only if no error)."""
        if self._closed:
            return
        self._closed = True
        self._rows_q.put(_STOP)
        self._csv_thread.join()
        if self._video_thread is not None:
            self._video_q.put(_STOP)
            self._video_thread.join()
        for f in (self._csv_file, self._source_file, self._inter_file, self._rig_file,
                  getattr(self, "_index_file", None)):
            if f is None:
                continue
            try:
                f.close()
            except OSError as e:
                self._disk_error(Path(f.name), e)
        meta = end_meta(self._meta, time.time(), self.error, self.frames, self.rows,
                        self.video_frames, self.segments, self.video_dropped)
        try:
            write_meta(self.path, meta)
        except OSError as e:
            self._disk_error(self.path / META_NAME, e)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
