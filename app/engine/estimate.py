"""The 3D hands of one frame from its tracks: viewpoint-corrected crops -> backend (with the 2D
expert's inputs) -> the decoded pose blended with MediaPipe's world landmarks
(app/engine/landmarks3d.py) -> root fit -> kinematic fit -> joints in the camera frame.

    estimator = HandEstimator(backend, metric=MetricConfig(), anatomy=REALTIME_FIT, fuse="rgb")
    hands = estimator.estimate(frame, K, tracker.tracks, keep=survives)   # list[HandEstimate]

`keep(track, uv_px, residual_rel) -> bool` decides whether a track survives from the network's
own pose (its reprojection (21, 2) px or None, and the root fit's RMS residual / crop side),
before the kinematic fit, which only shapes the hands that stay (the engine passes
Tracker.finish). The kinematic fit of each track starts from its previous frame's fit.
Tests and benchmarks substitute the network by overriding `infer(batch)` (app/engine/truth.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from app.engine.backends import Backend, BackendOutput
from app.engine.crops import fast_crop_camera, k_inverse
from app.engine.errors import EngineError
from app.engine.landmarks3d import LandmarkFusionConfig, blend_target, snap_to_rays, world_unit
from app.engine.rootfit import MetricConfig, RootFit, fit_root, project_px
from app.engine.sources import SourceFrame
from app.engine.tracking import Track
from app.results import HandResult
from model import anatomy_fast
from model.anatomy import FitConfig, HandFit, fit_hand
from model.canonical import mirror_images, mirror_points
from model.geometry import CropCamera, normalise_pose, transform_points
from model.heatmaps import landmarks_to_heatmaps
from model.inference import FUSE_MODES, expert_weights

_EYE = np.eye(3)
# keep(track, uv_px (21, 2) frame px or None, residual / crop side) -> the track survives
Keep = Callable[[Track, np.ndarray | None, float], bool]
# The 2D expert's inputs: heat (B, 21, M, M), heat_weight (B,), rgb_weight (B,)
ExpertInputs = tuple[np.ndarray, np.ndarray, np.ndarray]


def fit_kinematic(joints: np.ndarray, side: int, config: FitConfig,
                  init: HandFit | None = None) -> HandFit:
    """The kinematic fit of (21, 3) joints: compiled (model.anatomy_fast, about 0.3 ms) once its
    machine code is loaded (the engine starts that in the background; the first fit waits up to
    1.5 s for it), scipy's model.anatomy.fit_hand (the same problem, about 40 x slower) until
    then."""
    fast = anatomy_fast.compiled() or anatomy_fast.wait_compiled(1.5)
    fit = anatomy_fast.fit_hand_fast if fast else fit_hand
    return fit(joints, side, config, init=init)


def resolve_fuse(requested: str | None, backend: Backend, checkpoint=None) -> str:
    """The --fuse mode ("rgb" | "2d" | "rgb+2d") to run on this backend: requested, or None =
    "rgb+2d" when the model has the 2D expert, else "rgb". EngineError (one line with the fix)
    when it asks for a 2D expert the model does not have. checkpoint: named in that error."""
    has_heat = getattr(backend, "has_heat", False)
    if requested is None:
        return "rgb+2d" if has_heat else "rgb"
    if requested not in FUSE_MODES:
        raise EngineError(f"unknown --fuse {requested!r}; use one of {', '.join(FUSE_MODES)}")
    if requested != "rgb" and not has_heat:
        where = f"checkpoint {checkpoint}" if checkpoint else "this model"
        raise EngineError(f"--fuse {requested} needs the 2D-keypoint expert but {where} "
                          f"({backend.name}) has no heat-map encoder; use --fuse rgb, or "
                          "train with --strategy s4-2d and run handtrack-export again")
    return requested


@dataclass
class CropBatch:
    """The network's input for one frame. pixels: (B, 3, S, S) float32 in [0, 1]; cams: the B
    crop cameras (model.geometry.CropCamera); experts: the 2D expert's inputs, or None when it
    does not run on this frame."""

    pixels: np.ndarray
    cams: list[CropCamera]
    experts: ExpertInputs | None


@dataclass
class HandEstimate:
    """One hand of a frame. track: after keep() (final uv_px (21, 2) px, confidence);
    joints_m: (21, 3) metres, camera frame; cloud_m: (N, 3) metres, camera frame, or None;
    root: the root fit that placed the hand (crop camera)."""

    track: Track
    joints_m: np.ndarray
    cloud_m: np.ndarray | None
    root: RootFit

    def result(self) -> HandResult:
        t = self.track
        return HandResult(t.hand_id, t.side, self.joints_m, t.uv_px.copy(), t.confidence,
                          self.cloud_m)


class HandEstimator:
    """backend: the network; metric: the root fit's config (hand size, depth range); anatomy:
    the kinematic fit (None shows the network's pose as decoded); fuse: "rgb" | "2d" | "rgb+2d"
    (resolve_fuse); box_margin: crop side / keypoint extent (TrackerConfig.box_margin);
    landmarks: how MediaPipe's world landmarks and the experts' weights join
    (LandmarkFusionConfig)."""

    def __init__(self, backend: Backend, *, metric: MetricConfig | None = None,
                 anatomy: FitConfig | None = None, fuse: str = "rgb", box_margin: float = 1.4,
                 landmarks: LandmarkFusionConfig | None = None):
        self.backend = backend
        self.metric = metric or MetricConfig()
        self.landmarks = landmarks or LandmarkFusionConfig()
        self.anatomy = anatomy
        self.fuse = fuse
        self.box_margin = box_margin
        self._fits: dict[int, HandFit] = {}  # hand_id -> last kinematic fit (warm start)
        self._pixels = np.zeros((0, 3, 0, 0), np.float32)  # (B, 3, S, S), reused
        self._heat = np.zeros((0, 21, 0, 0), np.float32)  # (B, 21, M, M), reused
        self._K: np.ndarray | None = None
        self._K_inv = np.eye(3)

    def set_backend(self, backend: Backend, fuse: str) -> None:
        self.backend, self.fuse = backend, fuse

    def set_anatomy(self, anatomy: FitConfig | None) -> None:
        """The kinematic fit's config (None = off); the warm starts are dropped."""
        self.anatomy = anatomy
        self._fits.clear()

    def estimate(self, frame: SourceFrame, K: np.ndarray, tracks: list[Track], *, keep: Keep,
                 mirrored: bool = False,
                 timings: dict[str, float] | None = None) -> list[HandEstimate]:
        """The hands of frame.rgb (H, W, 3) uint8 seen through K (3, 3), one per track that
        keep() lets survive, in track order. mirrored: the frame is mirrored (the kinematic fit
        takes each hand as the side it appears as). timings: receives the stages' ms (crop,
        infer, anatomy, metric); nothing happens without tracks."""
        if not tracks:
            return []
        timings = {} if timings is None else timings
        t0 = time.perf_counter()
        if self.network_needed(tracks):
            batch = self.crop(frame.rgb, K, tracks)
            cams = batch.cams
            timings["crop"] = (time.perf_counter() - t0) * 1e3
            t0 = time.perf_counter()
            out = self.infer_canonical(batch, tracks, mirrored)
            timings["infer"] = (time.perf_counter() - t0) * 1e3
        else:  # the decoded pose would be replaced entirely: the network does not run
            K_inv = self._k_inverse(K)
            cams = [fast_crop_camera(K, t.box(self.box_margin), self.backend.crop_size, K_inv)
                    for t in tracks]
            out = BackendOutput(np.zeros((len(tracks), 21, 3), np.float32))
            timings["crop"] = (time.perf_counter() - t0) * 1e3
            timings["infer"] = 0.0
        t0 = time.perf_counter()
        hands, fits, t_anatomy = [], {}, 0.0
        for i, (track, cam) in enumerate(zip(tracks, cams)):
            cloud = None if out.cloud is None else out.cloud[i]
            hand, dt = self._place(out.pose[i], cloud, track, cam, K, keep, mirrored, fits)
            t_anatomy += dt
            if hand is not None:
                hands.append(hand)
        self._fits = fits
        timings["anatomy"] = t_anatomy * 1e3
        timings["metric"] = (time.perf_counter() - t0) * 1e3 - timings["anatomy"]
        return hands

    def network_needed(self, tracks: list[Track]) -> bool:
        """False when MediaPipe's world landmarks replace the decoded pose of every track
        entirely (world weight 1, this frame's landmarks all inside the image and usable) and no
        cloud is decoded: the network's output would not change a single number (the blend
        takes 0 of it), so it does not run. True otherwise."""
        if getattr(self.backend, "has_cloud", False) or self.landmarks.world_weight < 1.0:
            return True
        return not all(t.detected and t.inside >= 1.0 and world_unit(t.world_m, _EYE) is not None
                       for t in tracks)

    # ------------------------------------------------------------------ the network's input
    def crop(self, rgb: np.ndarray, K: np.ndarray, tracks: list[Track]) -> CropBatch:
        """The viewpoint-corrected crop (S px, the backend's) around each track's box."""
        S = self.backend.crop_size
        pixels = self._buffer("_pixels", (len(tracks), 3, S, S))
        K_inv = self._k_inverse(K)
        cams = []
        for i, track in enumerate(tracks):
            cam = fast_crop_camera(K, track.box(self.box_margin), S, K_inv)
            crop = cv2.warpPerspective(rgb, cam.H, (S, S), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT)
            np.multiply(crop.transpose(2, 0, 1), 1.0 / 255.0, out=pixels[i], casting="unsafe")
            cams.append(cam)
        return CropBatch(pixels, cams, self._expert_inputs(tracks, cams))

    def _expert_inputs(self, tracks: list[Track], cams: list[CropCamera]) -> ExpertInputs | None:
        """(heat (B, 21, M, M), heat_weight (B,), rgb_weight (B,)) for the 2D expert, or None
        when it does not run on this frame (--fuse rgb, or no track holds detector landmarks of
        this frame: tracks carried by optical flow use the RGB expert)."""
        if self.fuse == "rgb" or not any(tr.detected for tr in tracks):
            return None
        b = len(tracks)
        w_x, w_h = np.ones(b, np.float32), np.zeros(b, np.float32)
        M = max(1, int(getattr(self.backend, "heatmap_size", 0)))
        heat = self._buffer("_heat", (b, 21, M, M))
        heat.fill(0.0)
        S = self.backend.crop_size
        sigma = float(getattr(self.backend, "heatmap_sigma_px", 2.0))
        for i, (tr, cam) in enumerate(zip(tracks, cams)):
            w_x[i], w_h[i] = expert_weights(self.fuse, tr.detected)
            if w_h[i] > 0.0:  # the landmarks join: weighted by how much of the hand is seen
                w_x[i] *= self.landmarks.rgb_weight
                w_h[i] *= tr.inside
            if tr.detected:
                heat[i] = landmarks_to_heatmaps(tr.uv_px, cam.H, S, M, sigma)
        return heat, w_h, w_x

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The first shape[0] entries of a reused float32 array (grown when too small)."""
        buf = getattr(self, name)
        if buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:]:
            buf = np.zeros((max(shape[0], buf.shape[0]),) + shape[1:], np.float32)
            setattr(self, name, buf)
        return buf[:shape[0]]

    def _k_inverse(self, K: np.ndarray) -> np.ndarray:
        if K is not self._K:
            self._K, self._K_inv = K, k_inverse(K)
        return self._K_inv

    # ------------------------------------------------------------------ the network
    def infer_canonical(self, batch: CropBatch, tracks: list[Track],
                        mirrored: bool) -> BackendOutput:
        """infer(batch), and for a network that has seen right hands only
        (backend.canonical_side) each hand that appears as a left hand in the image (its side,
        swapped in a mirrored view) goes in as its mirror image (crop and heat maps flipped
        left-right) and its pose and cloud come back mirrored (model/canonical.py)."""
        if not getattr(self.backend, "canonical_side", False):
            return self.infer(batch)
        left = np.array([(1 - t.side if mirrored else t.side) == 0 for t in tracks])
        if not left.any():
            return self.infer(batch)
        experts = batch.experts
        if experts is not None:
            experts = (mirror_images(experts[0], left),) + tuple(experts[1:])
        out = self.infer(CropBatch(mirror_images(batch.pixels, left), batch.cams, experts))
        cloud = None if out.cloud is None else mirror_points(out.cloud, left)
        return BackendOutput(mirror_points(out.pose, left), cloud)

    def infer(self, batch: CropBatch) -> BackendOutput:
        """The backend's output for the batch: pose (B, 21, 3) normalised, crop cameras;
        cloud (B, N, 3) or None."""
        if batch.experts is None:
            return self.backend.infer(batch.pixels)
        heat, w_h, w_x = batch.experts
        return self.backend.infer(batch.pixels, heat, w_h, w_x)

    # ------------------------------------------------------------------ metric 3D
    def _place(self, pose: np.ndarray, cloud: np.ndarray | None, track: Track, cam: CropCamera,
               K: np.ndarray, keep: Keep, mirrored: bool,
               fits: dict[int, HandFit]) -> tuple[HandEstimate | None, float]:
        """One hand in the camera frame from its decoded pose (21, 3) and cloud (N, 3) or None
        (normalised, crop camera), or None when keep() drops the track; and the seconds the
        kinematic fit took. The fit is stored in fits under the track's id. The decoded pose
        is first blended with the track's MediaPipe world landmarks (LandmarkFusionConfig)."""
        s = self.metric.hand_size_m
        lm = self.landmarks
        pose = blend_target(pose, world_unit(track.world_m, cam.R, lm.world_frame),
                            lm.world_weight * track.inside)  # (21, 3) normalised, crop camera
        rel = pose.astype(np.float64) * s  # (21, 3) m, crop camera
        obs_uv, obs_w = track.observations()
        uv_crop = transform_points(cam.H, obs_uv)  # (21, 2) crop px
        fit = fit_root(rel, uv_crop, cam.K_virtual, obs_w, config=self.metric)
        joints_m = (rel + fit.t_m) @ cam.R.T  # (21, 3) camera frame
        # The network's pose decides whether the track survives, as without the kinematic fit.
        uv_fit = project_px(joints_m, K) if fit.ok and np.all(joints_m[:, 2] > 0) else None
        if not keep(track, uv_fit, fit.residual_px / cam.size):
            return None, 0.0
        cloud_m = None if cloud is None else cloud.astype(np.float64) * s
        t_fit = 0.0
        if self.anatomy is not None:
            t1 = time.perf_counter()
            rel, cloud_m, fits[track.hand_id] = self._anatomical(pose, cloud_m, track, mirrored)
            fit_a = fit_root(rel, uv_crop, cam.K_virtual, obs_w, config=self.metric)
            if fit_a.ok:
                fit, joints_m = fit_a, (rel + fit_a.t_m) @ cam.R.T
                if lm.snap_2d and track.detected and np.all(joints_m[:, 2] > 0):
                    joints_m = self._snapped(joints_m, obs_uv, K, track, mirrored, fits)
            t_fit = time.perf_counter() - t1
        if cloud_m is not None:
            cloud_m = (cloud_m + fit.t_m) @ cam.R.T
        return HandEstimate(track, joints_m, cloud_m, fit), t_fit

    def _snapped(self, joints_m: np.ndarray, uv_px: np.ndarray, K: np.ndarray, track: Track,
                 mirrored: bool, fits: dict[int, HandFit]) -> np.ndarray:
        """The placed hand (21, 3) camera frame refined with the 2D landmarks uv_px (21, 2):
        joints onto their landmarks' rays (depth kept), the kinematic hand fitted again (from
        this frame's fit, its shape kept); the refit becomes the track's warm start."""
        side = 1 - track.side if mirrored else track.side
        f = fit_kinematic(snap_to_rays(joints_m, uv_px, K), side, self.anatomy,
                          init=fits[track.hand_id])
        fits[track.hand_id] = f
        return f.joints

    def _anatomical(self, pose: np.ndarray, cloud_m: np.ndarray | None, track: Track,
                    mirrored: bool) -> tuple[np.ndarray, np.ndarray | None, HandFit]:
        """The kinematic hand (self.anatomy) fitted to one decoded pose (21, 3) (normalised,
        crop camera), warm-started from the track's previous fit, then scaled about the root to
        a unit scale bone, as normalised poses are by definition (the decoder shrinks uncertain
        hands towards the mean, which would put them too close to the camera). Returns the
        hand in metres (21, 3) (crop camera, root-relative like the decoded pose), the cloud
        (N, 3) metres scaled the same way (or None), and the fit. A mirrored view shows each
        hand as the other side's, so the fit takes the side as it appears in the image."""
        side = 1 - track.side if mirrored else track.side
        f = fit_kinematic(pose, side, self.anatomy, init=self._fits.get(track.hand_id))
        unit, root, scale = normalise_pose(f.joints)
        s = self.metric.hand_size_m
        if cloud_m is not None:
            cloud_m = (cloud_m - root * s) / scale + root * s
        return (unit + root) * s, cloud_m, f
