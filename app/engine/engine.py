"""The real-time engine: source thread -> detection & tracking -> hand estimation (crops ->
backend -> root fit -> kinematic fit) -> One Euro filter -> FrameResult. Qt-free; the GUI and
the headless CLI both drive it.

    with Engine(EngineConfig(...)) as engine:          # opens source, detector, backend
        for result, frame_rgb in engine.run():         # blocks; run it in a worker thread
            ...
    engine.stop()                                      # from any thread
    engine.set_smoothing(False); engine.set_num_hands(1); ...   # any thread, applied next frame

`Engine.process(rgb, ...)` runs the pipeline on one frame synchronously (tests, benchmarks).
The stages live in their own modules: tracking (Tracker), estimate (HandEstimator), filters
(HandFilters), truth (the demo's ground truth), notices (what on_message receives).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from app import detector_prestart
from app.engine.backends import Backend, BackendConfig, open_backend
from app.engine.capture import FrameGrabber
from app.engine.detect import DetectorConfig, MediaPipeDetector
from app.engine.detect_process import DetectorProcess
from app.engine.errors import EngineError
from app.engine.estimate import HandEstimator, resolve_fuse
from app.engine.filters import FilterConfig, HandFilters
from app.engine.gestures import GestureConfig, GestureTracker
from app.engine.intrinsics import Intrinsics, load_camera_intrinsics
from app.engine.landmarks3d import LandmarkFusionConfig
from app.engine.notices import Notice, info, print_problems, warning, warning_channel
from app.engine.pending import PendingChanges
from app.engine.prefetch import DetectAhead
from app.engine.rigging import TrackRigs
from app.engine.rootfit import MetricConfig
from app.engine.sources import Source, SourceConfig, SourceFrame, TruthHand, open_source
from app.engine.stats import EngineStats
from app.engine.threads import limit_helper_pools
from app.engine.tracking import Track, Tracker, TrackerConfig
from app.engine.truth import match_truth
from app.results import FrameResult, HandResult
from model.anatomy import FitConfig
from model.anatomy_fast import REALTIME_FIT_FAST, warm_up_in_background
from model.inference import FUSE_MODES

__all__ = ["CHECKPOINT_ENV", "DEFAULT_CHECKPOINT", "REALTIME_FIT", "Engine", "EngineConfig",
           "anatomy_config", "load_camera_intrinsics", "resolve_checkpoint"]

# The bundled model: a checkpoint and, next to it, its exports (default.onnx, default.trt.ep).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "default.pt"
CHECKPOINT_ENV = "HANDTRACK_CHECKPOINT"
# The kinematic fit per frame (compiled, model.anatomy_fast): converged from the previous frame's
# hand in at most 20 evaluations, the mean hand's bone ratios, the size free.
REALTIME_FIT = REALTIME_FIT_FAST


def anatomy_config(enabled: bool, current: FitConfig | None = None) -> FitConfig | None:
    """EngineConfig.anatomy for the fit on/off: `current` (or REALTIME_FIT) when on."""
    return (current or REALTIME_FIT) if enabled else None


def resolve_checkpoint(path: str | Path | None) -> Path:
    """The checkpoint to use: `path`, else $HANDTRACK_CHECKPOINT, else DEFAULT_CHECKPOINT.
    Raises EngineError with the fix when the file is missing."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise EngineError(f"checkpoint {p} does not exist; pass the .pt file written by "
                              "handtrack-train to --checkpoint")
        return p
    env = os.environ.get(CHECKPOINT_ENV)
    if env:
        return resolve_checkpoint(env)
    if not DEFAULT_CHECKPOINT.is_file():
        raise EngineError(f"no model: the bundled checkpoint {DEFAULT_CHECKPOINT} is missing; "
                          "train one (handtrack-train) and pass it with --checkpoint PATH, or "
                          f"copy it to {DEFAULT_CHECKPOINT} and run handtrack-export once")
    return DEFAULT_CHECKPOINT


@dataclass
class EngineConfig:
    """Everything the engine needs, one config per component.

    calibration: intrinsics file (calibration/); None = the camera's saved calibration
    (handtrack-calibrate) for a camera, else a field-of-view model with hfov_deg; a source
    with its own camera (the demo, a recorded session) uses that. reprocess: for a replayed session,
    recompute the results instead of passing the recorded ones through.
    fuse: which experts of a fused model (strategy s4-2d) run, model.inference.FUSE_MODES:
    "rgb", "2d" or "rgb+2d" (the 2D expert takes MediaPipe's landmarks, so it joins on every
    frame with landmarks tracking, on the detector's frames with flow tracking); None = "rgb+2d"
    when the model has the 2D expert, else "rgb".
    anatomy: the kinematic fit (model.anatomy) that turns each decoded pose into a plausible
    hand (joint limits and bone proportions of the generator's hand), warm-started from the
    track's previous frame; None shows the network's pose as decoded. landmarks: how
    MediaPipe's world landmarks join the network's pose, and the experts' weights.
    overlap: with "landmarks" tracking, run() detects the next frame while it estimates this one
    (app/engine/prefetch.py: two cores work at once; the fps of the slower stage instead of the
    sum of both); False runs the stages one after the other.
    """

    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    metric: MetricConfig = field(default_factory=MetricConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    gestures: GestureConfig = field(default_factory=GestureConfig)
    landmarks: LandmarkFusionConfig = field(default_factory=LandmarkFusionConfig)
    calibration: str | None = None
    hfov_deg: float = 60.0
    reprocess: bool = False
    fuse: str | None = None
    anatomy: FitConfig | None = field(default_factory=lambda: REALTIME_FIT)
    overlap: bool = True


class Engine:
    """Real-time hand tracker (docs/contracts.md section 3). Thread-safe controls: stop() and
    set_*() may be called from any thread while run() iterates in another.

    source / backend / detector may be given ready-made (tests, benchmarks); otherwise they are
    opened from the config. estimator: builds the HandEstimator from (backend, metric=,
    anatomy=, fuse=, box_margin=); tests and benchmarks pass app.engine.truth.OracleEstimator.
    on_message receives Notices (app/engine/notices.py: backend chosen, camera lost, a stale
    model file, a truncated video, a setting refused); None prints warnings and errors.
    """

    def __init__(self, config: EngineConfig | None = None, *, source: Source | None = None,
                 backend: Backend | None = None, detector: MediaPipeDetector | None = None,
                 estimator: Callable[..., HandEstimator] = HandEstimator,
                 on_message: Callable[[Notice], None] | None = None):
        self.config = config or EngineConfig()
        self.on_message = on_message or print_problems
        self._pending = PendingChanges()
        self._stop = threading.Event()
        self._grabber: FrameGrabber | None = None
        self._detector_lock = threading.Lock()  # the detector may run in DetectAhead's thread
        self._owned: list = []
        limit_helper_pools()  # app/engine/threads.py
        if self.config.anatomy is not None:  # the compiled fit loads while the rest opens
            warm_up_in_background()
        try:
            self.source = self._open_source(source)
            # first the detector: its process (overlap) starts while the network loads
            self.detector = detector if detector is not None else \
                self._own(self._open_detector(self.config.tracker.max_hands))
            if backend is None:
                self.checkpoint = resolve_checkpoint(self.config.backend.checkpoint)
                backend = self._own(open_backend(self._threads_for(self.config.backend),
                                                 self.checkpoint,
                                                 warn=warning_channel(self.on_message)))
            fuse = resolve_fuse(self.config.fuse, backend, getattr(self, "checkpoint", None))
        except BaseException:
            self.close()
            raise
        self.on_message(info(f"backend: {backend.describe()}", topic="backend"))
        self.tracker = Tracker(replace(self.config.tracker))
        self.filters = HandFilters(replace(self.config.filter))
        self.rigs = TrackRigs()
        self.gestures = GestureTracker(replace(self.config.gestures))
        self.estimator = estimator(backend, metric=replace(self.config.metric),
                                   anatomy=self.config.anatomy, fuse=fuse,
                                   box_margin=self.tracker.config.box_margin,
                                   landmarks=replace(self.config.landmarks))
        c = self.config
        target = c.calibration or (c.source.camera if c.source.kind == "camera" else None)
        self._intrinsics = Intrinsics(self.source, target, c.hfov_deg,
                                      lambda text: self.on_message(info(f"intrinsics: {text}")))
        self.stats = EngineStats()

    def _open_source(self, source: Source | None) -> Source:
        source = source if source is not None else self._own(open_source(self.config.source))
        if source.on_message is None:  # its warnings (a truncated file) become notices
            source.on_message = warning_channel(self.on_message, topic="source")
        if self.config.reprocess and getattr(source, "video_frames", None) == 0:
            raise EngineError(f"{source.description}: the session has no video, so it cannot "
                              "be reprocessed; replay it without --reprocess")
        return source

    def _open_detector(self, max_hands: int) -> MediaPipeDetector | DetectorProcess:
        """MediaPipe for this source and tracking mode: its video (tracking) mode for the
        frames of one stream with "landmarks" tracking, static images otherwise; in a process
        of its own when it works ahead of the network (EngineConfig.overlap, "landmarks":
        app/engine/detect_process.py), else in this one."""
        landmarks = self.config.tracker.mode == "landmarks"
        video = landmarks and not getattr(self.source, "independent_frames", False)
        if self.config.overlap and landmarks:
            return DetectorProcess(self.config.detector, max_hands, video=video)
        detector_prestart.discard()  # a child started ahead by `handtrack` is not needed
        return MediaPipeDetector(self.config.detector, max_hands, video=video)

    def _threads_for(self, cfg: BackendConfig) -> BackendConfig:
        """cfg with the automatic thread count (threads 0) made explicit where the detector runs
        in its own process beside the network: all cores but one (the detector's), so that
        the network's threads do not wait for a core the detector holds."""
        if cfg.threads == 0 and isinstance(getattr(self, "detector", None), DetectorProcess):
            return replace(cfg, threads=max(1, (os.cpu_count() or 1) - 1))
        return cfg

    def _reopen_detector(self, max_hands: int) -> None:
        """A fresh detector of our own (its tracking state forgotten); one given from outside
        stays."""
        if isinstance(self.detector, (MediaPipeDetector, DetectorProcess)) and \
                self.detector in self._owned:
            with self._detector_lock:
                old = self.detector
                self._owned.remove(old)
                if isinstance(old, DetectorProcess):
                    old.close_when_idle()  # after DetectAhead took its frames in flight
                else:
                    old.close()
                self.detector = self._own(self._open_detector(max_hands))

    def _submit(self, rgb: np.ndarray) -> Callable[[], list]:
        """Hand one frame to the detector (DetectAhead's thread); returns the call that waits for
        its detections. A detector in its own process works on it while this returns; another
        one detects it now."""
        with self._detector_lock:
            det = self.detector
            if isinstance(det, DetectorProcess):
                det.submit(rgb, self.source.mirrored)
                return det.collect
            dets = det.detect(rgb, self.source.mirrored)
        return lambda: dets

    def _own(self, obj):
        self._owned.append(obj)
        return obj

    # ------------------------------------------------------------------ what is running
    @property
    def backend(self) -> Backend:
        return self.estimator.backend

    @property
    def backend_name(self) -> str:
        return self.backend.describe()

    @property
    def fuse(self) -> str:
        """The experts that run: "rgb" | "2d" | "rgb+2d"."""
        return self.estimator.fuse

    @property
    def metric(self) -> MetricConfig:
        return self.estimator.metric

    @property
    def anatomy(self) -> FitConfig | None:
        return self.estimator.anatomy

    def intrinsics(self, size: tuple[int, int]) -> np.ndarray:
        """K (3, 3) of the delivered frames of size (w, h): the source's own camera, a
        calibration file, or a field-of-view model; mirrored frames get a mirrored principal
        point."""
        return self._intrinsics(size)

    def reset_intrinsics(self) -> None:
        """Take K anew from the source at the next frame (a source whose camera changed)."""
        self._intrinsics.reset()

    @property
    def intrinsics_source(self) -> str:
        return self._intrinsics.source_text

    # ------------------------------------------------------------------ settings (any thread)
    def set_smoothing(self, enabled: bool, min_cutoff_hz: float | None = None,
                      beta: float | None = None) -> None:
        """One Euro filter on/off and its 3D parameters (Hz, 1/m)."""
        self._pending.put(self._apply_smoothing, bool(enabled), min_cutoff_hz, beta)

    def set_num_hands(self, n: int) -> None:
        """Track at most n hands (1 or 2)."""
        if n not in (1, 2):
            raise ValueError(f"number of hands must be 1 or 2, got {n}")
        self._pending.put(self._apply_num_hands, int(n))

    def set_mirror(self, mirrored: bool) -> None:
        """Mirror the frames (selfie view); tracks restart, sides stay the person's hands."""
        self._pending.put(self._apply_mirror, bool(mirrored))

    def set_hand_size(self, bone_m: float) -> None:
        """Middle MCP->PIP bone length in metres (scales the whole 3D hand)."""
        MetricConfig(hand_size_m=bone_m)  # validates
        self._pending.put(self._apply_hand_size, float(bone_m))

    def set_backend(self, kind: str) -> None:
        """Switch to another backend ("torch", "onnxruntime", "tensorrt", "auto") at the next
        frame; on failure the current one stays and on_message says why."""
        self._pending.put(self._apply_backend_kind, kind)

    def set_fuse(self, mode: str | None) -> None:
        """Choose the experts that form z at the next frame: "rgb", "2d", "rgb+2d", or None /
        "auto" (rgb+2d when the model has the 2D-keypoint expert, else rgb). A mode the model
        cannot run leaves the current one and on_message says why."""
        mode = None if mode in (None, "auto") else mode
        if mode is not None and mode not in FUSE_MODES:
            raise ValueError(f"unknown fuse mode {mode!r}; use auto or one of "
                             f"{', '.join(FUSE_MODES)}")
        self._pending.put(self._apply_fuse, mode)

    def set_anatomy(self, enabled: bool) -> None:
        """Kinematic fit of each decoded pose on/off (EngineConfig.anatomy; on uses its config,
        or REALTIME_FIT when the engine started without one)."""
        self._pending.put(self._apply_anatomy, bool(enabled))

    def set_cloud(self, enabled: bool) -> None:
        """Decode the hand point cloud (reopens the backend; needs a cloud decoder)."""
        self._pending.put(self._apply_cloud, bool(enabled))

    def apply_settings(self) -> None:
        """Apply the settings changed since the last frame (process() does it first)."""
        self._pending.apply()

    def stop(self) -> None:
        """End run() (from any thread); the current frame finishes first."""
        self._stop.set()
        if self._grabber is not None:
            self._grabber.stop()

    # ------------------------------------------------------------------ settings (engine thread)
    def _apply_smoothing(self, enabled: bool, min_cutoff_hz: float | None,
                         beta: float | None) -> None:
        c = self.filters.config
        c.enabled = enabled
        c.min_cutoff_hz = min_cutoff_hz if min_cutoff_hz is not None else c.min_cutoff_hz
        c.beta = beta if beta is not None else c.beta
        self.filters.reset()

    def _apply_num_hands(self, n: int) -> None:
        self.tracker.set_max_hands(n)
        self._reopen_detector(n)

    def _apply_mirror(self, mirrored: bool) -> None:
        self.source.mirrored = mirrored
        if getattr(self.detector, "video", False):  # its tracking state is of the old view
            self._reopen_detector(self.tracker.config.max_hands)
        self.tracker.reset()
        self.filters.reset()
        self._intrinsics.reset()

    def _apply_hand_size(self, bone_m: float) -> None:
        self.estimator.metric = replace(self.estimator.metric, hand_size_m=bone_m)
        self.rigs.reset()  # the live tracks take their new size as their rest skeleton

    def _apply_anatomy(self, enabled: bool) -> None:
        if enabled:
            warm_up_in_background()
        self.estimator.set_anatomy(anatomy_config(enabled, self.config.anatomy))

    def _apply_fuse(self, mode: str | None) -> None:
        try:
            fuse = resolve_fuse(mode, self.backend, getattr(self, "checkpoint", None))
        except EngineError as e:
            self.on_message(warning(f"experts unchanged: {e}"))
            return
        self.config.fuse = mode
        self.estimator.fuse = fuse
        self.on_message(info(f"experts: {fuse}"))

    def _apply_backend_kind(self, kind: str) -> None:
        self._swap_backend(replace(self.config.backend, kind=kind))

    def _apply_cloud(self, enabled: bool) -> None:
        self._swap_backend(replace(self.config.backend, with_cloud=enabled))

    def _swap_backend(self, cfg: BackendConfig) -> None:
        """Open the backend cfg describes and put it in place of the current one, which is
        closed if this engine opened it; on failure the current one stays."""
        try:
            new = open_backend(self._threads_for(cfg), resolve_checkpoint(cfg.checkpoint),
                               warn=warning_channel(self.on_message))
        except EngineError as e:
            self.on_message(warning(f"backend unchanged: {e}"))
            return
        try:
            fuse = resolve_fuse(self.config.fuse, new, getattr(self, "checkpoint", None))
        except EngineError as e:
            new.close()
            self.on_message(warning(f"backend unchanged: {e}"))
            return
        old = self.backend
        if old in self._owned:
            self._owned.remove(old)
            old.close()
        self.estimator.set_backend(self._own(new), fuse)
        self.config.backend = cfg
        self.on_message(info(f"backend: {new.describe()}", topic="backend"))

    # ------------------------------------------------------------------ one frame
    def process(self, rgb: np.ndarray, capture_time: float | None = None, frame_id: int = 0,
                truth: list[TruthHand] | None = None, clock_s: float | None = None,
                detected: tuple[list, float] | None = None) -> FrameResult:
        """Run detection/tracking, the hand estimation and the filter on one frame, and with
        the demo's ground truth (truth) score the result against it. rgb: (H, W, 3) uint8.
        clock_s: the frame's time in its source (a video's timestamp), the clock of the filter
        and the gestures; None = capture_time (a camera's frames). detected: (detections, ms)
        of this frame computed ahead (DetectAhead), used when the tracker asks for the
        detector. Returns the FrameResult (timings in ms per stage; "total" is this thread's
        work, without a detection done ahead)."""
        self.apply_settings()
        t_start = time.perf_counter()
        capture_time = time.time() if capture_time is None else capture_time
        clock = capture_time if clock_s is None else clock_s
        h, w = rgb.shape[:2]
        K = self.intrinsics((w, h))
        timings: dict[str, float] = {}
        tracks = self._track(rgb, (w, h), timings, detected)
        estimates = self.estimator.estimate(
            SourceFrame(rgb, capture_time, truth), K, tracks,
            keep=lambda track, uv, residual: self.tracker.finish(track, uv, residual, (w, h)),
            mirrored=self.source.mirrored, timings=timings)
        hands = [e.result() for e in estimates]

        t0 = time.perf_counter()
        self.tracker.remember(rgb)  # the flow window for the next frame
        timings["track"] += (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        self._smooth(hands, clock)
        timings["filter"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        self.rigs.apply(hands)  # joint rotations; joints_m becomes their forward kinematics
        timings["rig"] = (time.perf_counter() - t0) * 1e3
        if self.gestures.config.enabled:
            t0 = time.perf_counter()
            self.gestures.update(hands, clock, self.source.mirrored)
            timings["gestures"] = (time.perf_counter() - t0) * 1e3
        timings["total"] = (time.perf_counter() - t_start) * 1e3

        result = FrameResult(frame_id, capture_time, w, h, hands, timings)
        if truth is not None:
            match = match_truth(hands, truth)
            result.ground_truth_m = match.ground_truth_m
            self.stats.add_truth(match)
        self.stats.frames += 1
        self.stats.hands += len(hands)
        self.stats.add_timings(timings)
        return result

    def _track(self, rgb: np.ndarray, size: tuple[int, int], timings: dict[str, float],
               detected: tuple[list, float] | None = None) -> list[Track]:
        """Move the tracks into this frame and run the detector when the tracker asks for it
        (or take `detected`, its output computed ahead). Returns this frame's tracks (a copy of
        the list: finish() may drop some)."""
        t0 = time.perf_counter()
        if getattr(self.source, "independent_frames", False):
            self.tracker.reset()
            self.filters.reset()
            self.gestures.reset()
            self.rigs.reset()
        self.tracker.propagate(rgb)
        timings["track"] = (time.perf_counter() - t0) * 1e3
        if self.tracker.needs_detection():
            t0 = time.perf_counter()
            dets = self._submit(rgb)() if detected is None else detected[0]
            self.tracker.update(dets, size)
            self.stats.detections += 1
            timings["detect"] = ((time.perf_counter() - t0) * 1e3 if detected is None
                                 else detected[1])
        return list(self.tracker.tracks)

    def _smooth(self, hands: list[HandResult], capture_time: float) -> None:
        """The One Euro filter on each hand's joints and keypoints (float32 afterwards); the
        hands end sorted by id."""
        self.filters.keep_only(h.hand_id for h in hands)
        for hand in hands:
            hand.joints_m, hand.uv_px = (np.asarray(a, dtype=np.float32) for a in
                                         self.filters.apply(hand.hand_id, hand.joints_m,
                                                            hand.uv_px, capture_time))
        hands.sort(key=lambda hr: hr.hand_id)

    # ------------------------------------------------------------------ the stream
    @property
    def drops_frames(self) -> bool:
        """True when frames are dropped rather than waited for: a live camera, or a file or
        the demo played in real time. Otherwise every frame is processed and sinks may wait
        (the recorder waits for its video encoder)."""
        return bool(self.source.live or self.config.source.realtime)

    def run(self, max_frames: int | None = None) -> Iterator[tuple[FrameResult,
                                                                   np.ndarray | None]]:
        """Process the source until it ends, stop() is called or max_frames frames are done.
        Yields (FrameResult, frame_rgb (H, W, 3) uint8). A recorded session without
        config.reprocess yields its recorded results unchanged, frame_rgb None for frames
        whose video is missing; with config.reprocess those frames are skipped (counted)."""
        self._stop.clear()
        self._grabber = FrameGrabber(self.source, drop=self.drops_frames,
                                     on_message=self.on_message)
        self.stats = EngineStats()
        passthrough = self.config.source.kind == "replay" and not self.config.reprocess
        self._report_missing_video(passthrough)
        n = 0
        with self._grabber:
            ahead = self._detect_ahead(passthrough)
            try:
                while not self._stop.is_set() and (max_frames is None or n < max_frames):
                    got = ahead.get() if ahead is not None else self._grabber.get()
                    if got is None:
                        break
                    item, detected = (got[0], got[1:]) if ahead is not None else (got, None)
                    if detected is not None and detected[0] is None:
                        detected = None
                    self.stats.dropped = self._grabber.dropped
                    result = self._result(item.frame, item.frame_id, passthrough, detected)
                    if result is None:
                        continue
                    n += 1
                    yield result, item.frame.rgb
            finally:
                if ahead is not None:
                    self._grabber.stop()
                    ahead.close()
            self.stats.dropped = self._grabber.dropped
        self._grabber = None

    def _detect_ahead(self, passthrough: bool) -> DetectAhead | None:
        """The detector working one frame ahead (EngineConfig.overlap) when it runs on every
        frame ("landmarks" tracking), else None."""
        if not self.config.overlap or self.tracker.config.mode != "landmarks":
            return None

        def wants(item) -> bool:
            f = item.frame
            return f.rgb is not None and not (passthrough and f.recorded is not None)

        depth = 2 if isinstance(self.detector, DetectorProcess) else 1
        return DetectAhead(self._grabber, self._submit, self._stop, wants, depth).start()

    def _result(self, frame: SourceFrame, frame_id: int, passthrough: bool,
                detected: tuple[list, float] | None = None) -> FrameResult | None:
        """The result of one frame from the stream: processed, or the recorded one of a replay
        passed through; None (counted as skipped) when there is nothing to compute it from."""
        if passthrough and frame.recorded is not None:
            frame.recorded.origin = frame.origin  # the recorded one, or the replay's
            self.stats.frames += 1
            self.stats.hands += len(frame.recorded.hands)
            self.stats.no_picture += frame.rgb is None
            return frame.recorded
        if frame.rgb is None:
            self.stats.skipped += 1
            return None
        # a file's own timestamps pace the filter, whatever the processing speed
        clock = frame.origin.time_s if frame.origin is not None else None
        result = self.process(frame.rgb, frame.capture_time, frame_id, frame.truth, clock,
                              detected)
        result.origin = frame.origin
        if self.config.source.kind != "replay":  # replay keeps recorded times
            result.timings_ms["latency"] = (time.time() - frame.capture_time) * 1e3
            self.stats.add_timings({"latency": result.timings_ms["latency"]})
        return result

    def _report_missing_video(self, passthrough: bool) -> None:
        missing = int(getattr(self.source, "frames_without_video", 0))
        if missing:
            total = int(getattr(self.source, "frames_total", missing))
            what = "they replay without a picture" if passthrough else \
                "they cannot be reprocessed and are skipped"
            self.on_message(info(f"replay: {missing} of {total} recorded frames have no video "
                                 f"(the recording was interrupted or recorded without it); "
                                 f"{what}"))

    def close(self) -> None:
        """Stop and release everything this engine opened (idempotent)."""
        self.stop()
        for obj in reversed(self._owned):
            try:
                obj.close()
            except Exception as e:  # closing must not hide the original error
                self.on_message(warning(f"while closing {type(obj).__name__}: {e}"))
        self._owned.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
