"""The real-time engine: source thread -> detection & tracking -> crops -> backend -> metric 3D
-> One Euro filter -> FrameResult. Qt-free; the GUI and the headless CLI both drive it.

    with Engine(EngineConfig(...)) as engine:          # opens source, detector, backend
        for result, frame_rgb in engine.run():         # blocks; run it in a worker thread
            ...
    engine.stop()                                      # from any thread
    engine.set_smoothing(False); engine.set_num_hands(1); ...   # any thread, applied next frame

`Engine.process(rgb, ...)` runs the pipeline on one frame synchronously (tests, benchmarks).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from app.engine.backends import Backend, BackendConfig, open_backend
from app.engine.capture import FrameGrabber
from app.engine.crops import fast_crop_camera, k_inverse
from app.engine.detect import DetectorConfig, MediaPipeDetector
from app.engine.errors import EngineError
from app.engine.filters import FilterConfig, HandFilters
from app.engine.metric import MetricConfig, fit_root, project_px
from app.engine.sources import Source, SourceConfig, SourceFrame, TruthHand, open_source
from app.engine.stats import EngineStats
from app.engine.tracking import Tracker, TrackerConfig
from app.results import FrameResult, HandResult
from model.anatomy import FitConfig, HandFit, fit_hand
from model.geometry import normalise_pose, transform_points
from model.hand import ROOT
from model.heatmaps import landmarks_to_heatmaps
from model.inference import FUSE_MODES, expert_weights

# The bundled model: a checkpoint and, next to it, its exports (default.onnx, default.trt.ep).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "default.pt"
CHECKPOINT_ENV = "HANDTRACK_CHECKPOINT"
# The kinematic fit per frame: few iterations, as each starts from the previous frame's hand.
REALTIME_FIT = FitConfig(max_nfev=5)


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
    fuse: which experts of a fused model (strategy s4-2d) run, app/engine/fusion.FUSE_MODES:
    "rgb", "2d" or "rgb+2d" (the 2D expert takes the detector's landmarks, so it joins on frames
    where the detector ran); None = "rgb+2d" when the model has the 2D expert, else "rgb".
    anatomy: the kinematic fit (model.anatomy) that turns each decoded pose into a plausible
    hand (joint limits and bone proportions of the generator's hand), warm-started from the
    track's previous frame; None shows the network's pose as decoded.
    """

    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    metric: MetricConfig = field(default_factory=MetricConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    calibration: str | None = None
    hfov_deg: float = 60.0
    reprocess: bool = False
    fuse: str | None = None
    anatomy: FitConfig | None = field(default_factory=lambda: REALTIME_FIT)


def load_camera_intrinsics(target: int | str | None, size: tuple[int, int],
                           hfov_deg: float) -> tuple[np.ndarray, str, str]:
    """K (3, 3) for frames of size (w, h) through calibration.load_intrinsics: target is a
    calibration file, a camera index (its saved calibration, if any) or None (a field-of-view
    model). Returns (K, source text, one-line message)."""
    from calibration import CalibrationError, load_intrinsics

    try:
        intr = load_intrinsics(target, size[0], size[1], hfov_deg)
    except (CalibrationError, OSError) as e:
        raise EngineError(f"calibration {target}: {e}; calibrate again with handtrack-calibrate "
                          "or drop --calibration") from None
    return np.asarray(intr.K, dtype=np.float64), intr.source, intr.message


class Engine:
    """Real-time hand tracker (docs/contracts.md section 3). Thread-safe controls: stop() and
    set_*() may be called from any thread while run() iterates in another.

    source / backend / detector may be given ready-made (tests, benchmarks); otherwise they are
    opened from the config. on_message receives one-line notices (backend chosen, camera lost).
    """

    def __init__(self, config: EngineConfig | None = None, *, source: Source | None = None,
                 backend: Backend | None = None, detector: MediaPipeDetector | None = None,
                 on_message: Callable[[str], None] | None = None):
        self.config = config or EngineConfig()
        self.on_message = on_message or (lambda msg: None)
        self._lock = threading.Lock()
        self._pending: dict[str, object] = {}
        self._stop = threading.Event()
        self._grabber: FrameGrabber | None = None
        self._owned: list = []
        try:
            self.source = source if source is not None else self._own(open_source(
                self.config.source))
            if self.config.reprocess and getattr(self.source, "video_frames", None) == 0:
                raise EngineError(f"{self.source.description}: the session has no video, so "
                                  "it cannot be reprocessed; replay it without --reprocess")
            if backend is None:
                self.checkpoint = resolve_checkpoint(self.config.backend.checkpoint)
                backend = self._own(open_backend(self.config.backend, self.checkpoint))
            self.backend = backend
            self.fuse = self._fuse_mode(backend)  # "rgb" | "2d" | "rgb+2d"
            self.detector = detector if detector is not None else self._own(MediaPipeDetector(
                self.config.detector, self.config.tracker.max_hands))
        except BaseException:
            self.close()
            raise
        self.on_message(f"backend: {self.backend.describe()}")
        self.tracker = Tracker(replace(self.config.tracker))
        self.filters = HandFilters(replace(self.config.filter))
        self.metric = replace(self.config.metric)
        self.anatomy = self.config.anatomy
        self._fits: dict[int, HandFit] = {}  # hand_id -> last kinematic fit (warm start)
        self.stats = EngineStats()
        self._K: np.ndarray | None = None
        self.intrinsics_source = ""
        self._K_size: tuple[int, int] | None = None
        self._alloc_buffer(self.backend.crop_size)

    def _fuse_mode(self, backend: Backend) -> str:
        """The --fuse mode for this backend; EngineError when it asks for a 2D expert the model
        does not have."""
        fuse = self.config.fuse
        has_heat = getattr(backend, "has_heat", False)
        if fuse is None:
            return "rgb+2d" if has_heat else "rgb"
        if fuse not in FUSE_MODES:
            raise EngineError(f"unknown --fuse {fuse!r}; use one of {', '.join(FUSE_MODES)}")
        if fuse != "rgb" and not has_heat:
            ckpt = getattr(self, "checkpoint", None)
            where = f"checkpoint {ckpt}" if ckpt else "this model"
            raise EngineError(f"--fuse {fuse} needs the 2D-keypoint expert but {where} "
                              f"({backend.name}) has no heat-map encoder; use --fuse rgb, or "
                              "train with --strategy s4-2d and run handtrack-export again")
        return fuse

    def _own(self, obj):
        self._owned.append(obj)
        return obj

    def _alloc_buffer(self, crop_size: int) -> None:
        n = max(1, self.tracker.config.max_hands)
        self._buf = np.zeros((n, 3, crop_size, crop_size), dtype=np.float32)  # (B, 3, S, S)
        m = max(1, int(getattr(self.backend, "heatmap_size", 0)))
        self._heat = np.zeros((n, 21, m, m), dtype=np.float32)  # (B, 21, M, M)
        self._fusion: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ settings (any thread)
    def _set(self, key: str, value) -> None:
        with self._lock:
            self._pending[key] = value

    def set_smoothing(self, enabled: bool, min_cutoff_hz: float | None = None,
                      beta: float | None = None) -> None:
        """One Euro filter on/off and its 3D parameters (Hz, 1/m)."""
        self._set("smoothing", (bool(enabled), min_cutoff_hz, beta))

    def set_num_hands(self, n: int) -> None:
        """Track at most n hands (1 or 2)."""
        if n not in (1, 2):
            raise ValueError(f"number of hands must be 1 or 2, got {n}")
        self._set("num_hands", int(n))

    def set_mirror(self, mirrored: bool) -> None:
        """Mirror the frames (selfie view); tracks restart, sides stay the person's hands."""
        self._set("mirror", bool(mirrored))

    def set_hand_size(self, bone_m: float) -> None:
        """Middle MCP->PIP bone length in metres (scales the whole 3D hand)."""
        MetricConfig(hand_size_m=bone_m)  # validates
        self._set("hand_size", float(bone_m))

    def set_backend(self, kind: str) -> None:
        """Switch to another backend ("torch", "onnxruntime", "tensorrt", "auto") at the next
        frame; on failure the current one stays and on_message says why."""
        self._set("backend", kind)

    def set_fuse(self, mode: str | None) -> None:
        """Choose the experts that form z at the next frame: "rgb", "2d", "rgb+2d", or None /
        "auto" (rgb+2d when the model has the 2D-keypoint expert, else rgb). A mode the model
        cannot run leaves the current one and on_message says why."""
        mode = None if mode in (None, "auto") else mode
        if mode is not None and mode not in FUSE_MODES:
            raise ValueError(f"unknown fuse mode {mode!r}; use auto or one of "
                             f"{', '.join(FUSE_MODES)}")
        self._set("fuse", mode)

    def set_anatomy(self, enabled: bool) -> None:
        """Kinematic fit of each decoded pose on/off (EngineConfig.anatomy; on uses its config,
        or REALTIME_FIT when the engine started without one)."""
        self._set("anatomy", bool(enabled))

    def set_cloud(self, enabled: bool) -> None:
        """Decode the hand point cloud (reopens the backend; needs a cloud decoder)."""
        self._set("cloud", bool(enabled))

    def stop(self) -> None:
        """End run() (from any thread); the current frame finishes first."""
        self._stop.set()
        if self._grabber is not None:
            self._grabber.stop()

    @property
    def backend_name(self) -> str:
        return self.backend.describe()

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for key, value in pending.items():
            if key == "smoothing":
                enabled, mc, beta = value
                c = self.filters.config
                c.enabled = enabled
                c.min_cutoff_hz = mc if mc is not None else c.min_cutoff_hz
                c.beta = beta if beta is not None else c.beta
                self.filters.reset()
            elif key == "num_hands":
                self.tracker.set_max_hands(value)
                self._alloc_buffer(self.backend.crop_size)
                if isinstance(self.detector, MediaPipeDetector) and self.detector in self._owned:
                    self._owned.remove(self.detector)
                    self.detector.close()
                    self.detector = self._own(MediaPipeDetector(self.config.detector, value))
            elif key == "mirror":
                self.source.mirrored = value
                self.tracker.reset()
                self.filters.reset()
                self._K = None
            elif key == "anatomy":
                self.anatomy = anatomy_config(value, self.config.anatomy)
                self._fits.clear()
            elif key == "hand_size":
                self.metric = replace(self.metric, hand_size_m=value)
            elif key == "fuse":
                old = self.config.fuse
                self.config.fuse = value
                try:
                    self.fuse = self._fuse_mode(self.backend)
                except EngineError as e:
                    self.config.fuse = old
                    self.on_message(f"experts unchanged: {e}")
                else:
                    self.on_message(f"experts: {self.fuse}")
            elif key in ("backend", "cloud"):
                cfg = self.config.backend
                cfg = replace(cfg, kind=value) if key == "backend" else replace(
                    cfg, with_cloud=value)
                self._reopen_backend(cfg)

    def _reopen_backend(self, cfg: BackendConfig) -> None:
        try:
            ckpt = resolve_checkpoint(cfg.checkpoint)
            new = open_backend(cfg, ckpt)
        except EngineError as e:
            self.on_message(f"backend unchanged: {e}")
            return
        try:
            fuse = self._fuse_mode(new)
        except EngineError as e:
            new.close()
            self.on_message(f"backend unchanged: {e}")
            return
        self.fuse = fuse
        old = self.backend
        if old in self._owned:
            self._owned.remove(old)
            old.close()
        self.backend = self._own(new)
        self.config.backend = cfg
        self._alloc_buffer(new.crop_size)
        self.on_message(f"backend: {new.describe()}")

    # ------------------------------------------------------------------ geometry
    def intrinsics(self, size: tuple[int, int]) -> np.ndarray:
        """K (3, 3) of the delivered frames: the source's own camera, a calibration file, or a
        field-of-view model; mirrored frames get a mirrored principal point."""
        if self._K is not None and self._K_size == size:
            return self._K
        if self.source.intrinsics is not None:
            K = np.asarray(self.source.intrinsics, dtype=np.float64)
            self.intrinsics_source = f"{self.source.description} camera"
        else:
            c = self.config
            target = c.calibration or (c.source.camera if c.source.kind == "camera" else None)
            K, self.intrinsics_source, message = load_camera_intrinsics(target, size, c.hfov_deg)
            self.on_message(f"intrinsics: {message}")
            if self.source.mirrored and self.intrinsics_source.startswith("file:"):
                K = K.copy()
                K[0, 2] = size[0] - 1 - K[0, 2]  # the mirrored image's principal point
        self._K, self._K_size, self._K_inv = K, size, k_inverse(K)
        return K

    # ------------------------------------------------------------------ one frame
    def process(self, rgb: np.ndarray, capture_time: float | None = None, frame_id: int = 0,
                truth: list[TruthHand] | None = None) -> FrameResult:
        """Run detection/tracking, inference, the metric fit and the filter on one frame.
        rgb: (H, W, 3) uint8. Returns the FrameResult (timings in ms per stage)."""
        self._apply_pending()
        t_start = time.perf_counter()
        capture_time = time.time() if capture_time is None else capture_time
        h, w = rgb.shape[:2]
        size = (w, h)
        K = self.intrinsics(size)
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        if getattr(self.source, "independent_frames", False):
            self.tracker.reset()
            self.filters.reset()
        self.tracker.propagate(rgb)
        timings["track"] = (time.perf_counter() - t0) * 1e3

        if self.tracker.needs_detection():
            t0 = time.perf_counter()
            dets = self.detector.detect(rgb, self.source.mirrored)
            self.tracker.update(dets, size)
            self.stats.detections += 1
            timings["detect"] = (time.perf_counter() - t0) * 1e3

        tracks = list(self.tracker.tracks)
        hands: list[HandResult] = []
        if tracks:
            t0 = time.perf_counter()
            S = self.backend.crop_size
            cams = []
            margin = self.tracker.config.box_margin
            for i, tr in enumerate(tracks):
                cam = fast_crop_camera(K, tr.box(margin), S, self._K_inv)
                crop = cv2.warpPerspective(rgb, cam.H, (S, S), flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_CONSTANT)
                np.multiply(crop.transpose(2, 0, 1), 1.0 / 255.0, out=self._buf[i],
                            casting="unsafe")
                cams.append(cam)
            self._fusion = self._fusion_inputs(tracks, cams)
            timings["crop"] = (time.perf_counter() - t0) * 1e3

            t0 = time.perf_counter()
            out = self._infer(self._buf[:len(tracks)], cams, truth)
            timings["infer"] = (time.perf_counter() - t0) * 1e3

            t0 = time.perf_counter()
            s = self.metric.hand_size_m
            t_anatomy, fits = 0.0, {}
            for i, (tr, cam) in enumerate(zip(tracks, cams)):
                # The network's pose decides whether the track survives, as without the fit.
                rel = out.pose[i].astype(np.float64) * s  # (21, 3) m, crop camera
                obs_uv, obs_w = tr.observations()
                uv_crop = transform_points(cam.H, obs_uv)  # (21, 2) crop px
                fit = fit_root(rel, uv_crop, cam.K_virtual, obs_w, config=self.metric)
                joints_m = (rel + fit.t_m) @ cam.R.T  # (21, 3) camera frame
                uv_fit = project_px(joints_m, K) if fit.ok and np.all(joints_m[:, 2] > 0) else None
                if not self.tracker.finish(tr, uv_fit, fit.residual_px / S, size):
                    continue
                cloud = None if out.cloud is None else out.cloud[i].astype(np.float64) * s
                if self.anatomy is not None:
                    t1 = time.perf_counter()
                    rel, cloud, fits[tr.hand_id] = self._anatomical(out.pose[i], cloud, tr)
                    fit_a = fit_root(rel, uv_crop, cam.K_virtual, obs_w, config=self.metric)
                    if fit_a.ok:
                        fit, joints_m = fit_a, (rel + fit_a.t_m) @ cam.R.T
                    t_anatomy += time.perf_counter() - t1
                if cloud is not None:
                    cloud = (cloud + fit.t_m) @ cam.R.T
                hands.append(HandResult(tr.hand_id, tr.side, joints_m, tr.uv_px.copy(),
                                        tr.confidence, cloud))
            self._fits = fits
            timings["anatomy"] = t_anatomy * 1e3
            timings["metric"] = (time.perf_counter() - t0) * 1e3 - timings["anatomy"]

        t0 = time.perf_counter()
        self.tracker.remember(rgb)  # the flow window for the next frame
        timings["track"] += (time.perf_counter() - t0) * 1e3

        t0 = time.perf_counter()
        self.filters.keep_only(h.hand_id for h in hands)
        for hand in hands:
            hand.joints_m, hand.uv_px = (np.asarray(a, dtype=np.float32) for a in
                                         self.filters.apply(hand.hand_id, hand.joints_m,
                                                            hand.uv_px, capture_time))
        hands.sort(key=lambda hr: hr.hand_id)
        timings["filter"] = (time.perf_counter() - t0) * 1e3
        timings["total"] = (time.perf_counter() - t_start) * 1e3

        result = FrameResult(frame_id, capture_time, w, h, hands, timings)
        if truth is not None:
            result.ground_truth_m = self._match_truth(hands, truth)
        self.stats.frames += 1
        self.stats.hands += len(hands)
        self.stats.add_timings(timings)
        return result

    def _fusion_inputs(self, tracks, cams) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(heat (B, 21, M, M), heat_weight (B,), rgb_weight (B,)) for the 2D expert, or None
        when it does not run on this frame (--fuse rgb, or no track holds detector landmarks of
        this frame: tracks carried by optical flow use the RGB expert)."""
        if self.fuse == "rgb" or not any(tr.detected for tr in tracks):
            return None
        b = len(tracks)
        w_x, w_h = np.ones(b, np.float32), np.zeros(b, np.float32)
        heat = self._heat[:b]
        heat.fill(0.0)
        S, M = self.backend.crop_size, heat.shape[-1]
        sigma = float(getattr(self.backend, "heatmap_sigma_px", 2.0))
        for i, (tr, cam) in enumerate(zip(tracks, cams)):
            w_x[i], w_h[i] = expert_weights(self.fuse, tr.detected)
            if tr.detected:
                heat[i] = landmarks_to_heatmaps(tr.uv_px, cam.H, S, M, sigma)
        return heat, w_h, w_x

    def _infer(self, batch: np.ndarray, cams, truth):
        """The backend call; a seam for tests that substitute an oracle network. The 2D
        expert's inputs of this frame, if any, are in self._fusion."""
        if self._fusion is None:
            return self.backend.infer(batch)
        heat, w_h, w_x = self._fusion
        return self.backend.infer(batch, heat, w_h, w_x)

    def _anatomical(self, pose: np.ndarray, cloud_m: np.ndarray | None,
                    track) -> tuple[np.ndarray, np.ndarray | None, HandFit]:
        """The kinematic hand (self.anatomy) fitted to one decoded pose (21, 3) (normalised,
        crop camera), warm-started from the track's previous fit, then scaled about the root to
        a unit scale bone, as normalised poses are by definition (the decoder shrinks uncertain
        hands towards the mean, which would put them too close to the camera). Returns the
        hand in metres (21, 3) (crop camera, root-relative like the decoded pose), the cloud
        (N, 3) metres scaled the same way (or None), and the fit. A mirrored view shows each
        hand as the other side's, so the fit takes the side as it appears in the image."""
        side = 1 - track.side if self.source.mirrored else track.side
        f = fit_hand(pose, side, self.anatomy, init=self._fits.get(track.hand_id))
        unit, root, scale = normalise_pose(f.joints)
        s = self.metric.hand_size_m
        if cloud_m is not None:
            cloud_m = (cloud_m - root * s) / scale + root * s
        return (unit + root) * s, cloud_m, f

    def _match_truth(self, hands: list[HandResult], truth: list[TruthHand]) -> dict:
        """Pair ground-truth hands with tracked hands (nearest mean 2D keypoint distance, under
        half the hand's extent); record 3D errors. Keys: hand_id, or -1, -2... for ground-truth
        hands that no track matched."""
        out: dict[int, np.ndarray] = {}
        free = {h.hand_id: h for h in hands}
        missed = 0
        for k, gt in enumerate(truth):
            best, best_d = None, math.inf
            extent = float(np.ptp(gt.uv_px, axis=0).max())
            for h in free.values():
                d = float(np.linalg.norm(h.uv_px - gt.uv_px, axis=1).mean())
                if d < best_d:
                    best, best_d = h, d
            if best is None or best_d > 0.5 * extent:
                out[-1 - k] = np.asarray(gt.joints_m, dtype=np.float32)
                missed += 1
                continue
            del free[best.hand_id]
            gt_j = np.asarray(gt.joints_m, dtype=np.float64)
            out[best.hand_id] = gt_j.astype(np.float32)
            err = np.linalg.norm(best.joints_m - gt_j, axis=1).mean() * 1e3
            rel = np.linalg.norm((best.joints_m - best.joints_m[ROOT]) - (gt_j - gt_j[ROOT]),
                                 axis=1).mean() * 1e3
            self.stats.errors_mm["camera"].append(float(err))
            self.stats.errors_mm["root_aligned"].append(float(rel))
        self.stats.errors_mm["missed"].append(float(missed))
        return out

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
        missing = int(getattr(self.source, "frames_without_video", 0))
        if missing:
            total = int(getattr(self.source, "frames_total", missing))
            what = "they replay without a picture" if passthrough else \
                "they cannot be reprocessed and are skipped"
            self.on_message(f"replay: {missing} of {total} recorded frames have no video "
                            f"(the recording was interrupted or recorded without it); {what}")
        n = 0
        with self._grabber:
            while not self._stop.is_set() and (max_frames is None or n < max_frames):
                item = self._grabber.get()
                if item is None:
                    break
                frame: SourceFrame = item.frame
                self.stats.dropped = self._grabber.dropped
                if frame.rgb is None and not (passthrough and frame.recorded is not None):
                    self.stats.skipped += 1  # nothing to compute the result from
                    continue
                if passthrough and frame.recorded is not None:
                    result = frame.recorded
                    self.stats.frames += 1
                    self.stats.hands += len(result.hands)
                    self.stats.no_picture += frame.rgb is None
                else:
                    result = self.process(frame.rgb, frame.capture_time, item.frame_id,
                                          frame.truth)
                    if self.config.source.kind != "replay":  # replay keeps recorded times
                        result.timings_ms["latency"] = (time.time() - frame.capture_time) * 1e3
                        self.stats.add_timings({"latency": result.timings_ms["latency"]})
                n += 1
                yield result, frame.rgb
            self.stats.dropped = self._grabber.dropped
        self._grabber = None

    def close(self) -> None:
        """Stop and release everything this engine opened (idempotent)."""
        self.stop()
        for obj in reversed(self._owned):
            try:
                obj.close()
            except Exception as e:  # closing must not hide the original error
                self.on_message(f"while closing {type(obj).__name__}: {e}")
        self._owned.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
