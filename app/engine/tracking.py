"""Hand tracks: ids, sides, IoU association, and the "lost" decision; between detector runs either
MediaPipe's own landmark tracking or optical flow.

Two modes (TrackerConfig.mode):

- "landmarks" (default): the detector is MediaPipe Hands in its video mode and runs on every
  frame: its landmark model finds this frame's 21 landmarks inside the region the previous
  frame's landmarks give (the palm detector runs only when a hand was lost). Every track holds
  this frame's landmarks (detected), so the crop, the 2D expert and the metric fit use them on
  every frame. A track that no landmark set of this frame matches (IoU of the boxes) is lost.
- "flow": the detector runs in static-image mode only now and then, and the tracks are carried
  in between by optical flow, as follows.

Flow scheme (MediaPipe's, with a cheap motion model): the detector (palm + landmark model) runs only
when no hand is tracked, a track was lost, or fewer hands are tracked than asked for (then at most
every `redetect_interval` frames, so one visible hand with max_hands=2 does not run the detector
on every frame). Between detector runs each track moves with the image: its last keypoints are
followed into the new frame with pyramidal Lucas-Kanade optical flow (forward and backward; a
point is kept when the two agree within fb_max_px), and a similarity transform (rotation, scale,
translation; RANSAC) fitted to the kept points moves all 21 keypoints. The crop for this frame is
taken around the moved keypoints; after the network has run, the engine replaces them with the
projection of the fitted 3D hand (`Tracker.finish`), which carries the new finger articulation.

In flow mode a track is lost when
- fewer than min_flow_points keypoints survive the forward-backward check, or RANSAC finds no
  transform (the hand left, was occluded or moved too fast),
- its box collapses (side < min_box_px), explodes (side > the frame's larger side) or its centre
  leaves the frame,
- the fitted 3D hand does not explain the tracked 2D keypoints: RMS reprojection residual above
  max_residual of the crop side (the crop no longer shows a hand the network recognises), or
- another track covers it (IoU > duplicate_iou; the younger one goes).
confidence = (fraction of flow points kept, 1 right after a detection) * exp(-residual / (0.5 *
max_residual)), in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from model.config_flags import option
from model.geometry import Box
from model.hand import RIGHT, Joint
from model.mediapipe_hands import Detection

# The palm's keypoints move rigidly with the hand (fingers articulate on their own): the motion
# of the hand between frames is measured on these only.
PALM = np.array([Joint.WRIST, Joint.THUMB_CMC, Joint.INDEX_MCP, Joint.MIDDLE_MCP, Joint.RING_MCP,
                 Joint.LITTLE_MCP])


TRACKING_MODES = ("landmarks", "flow")


@dataclass
class TrackerConfig:
    """mode: "landmarks" (MediaPipe's landmark tracking on every frame) or "flow" (the
    detector every few frames, optical flow in between); see the module doc. max_hands: 1 or 2.
    box_margin: crop side / keypoint extent. iou_match: least IoU for a
    detection to update a track. redetect_interval: frames between detector runs while at least
    one but fewer than max_hands hands are tracked. refresh_interval: frames after which the
    detector runs again even when every hand is tracked, to correct the drift of the optical
    flow (0 = never). flow_roi_px: side of the window the flow
    runs in, covering flow_roi_scale times the hand's box; lk_window_px, lk_levels: Lucas-Kanade
    window and pyramid levels; fb_max_px: forward-backward tolerance, in window pixels
    (flow_roi_px across). min_flow_points: keypoints that must survive. min_box_px:
    smallest crop side. max_residual: RMS reprojection residual / crop side above which a track
    is lost (0 = never). duplicate_iou: IoU above which two tracks are one hand."""

    mode: str = option("landmarks", "how hands are followed between frames: landmarks "
                       "(MediaPipe's landmark model on every frame) or flow (the detector every "
                       "few frames, optical flow in between)", flag="tracking",
                       choices=TRACKING_MODES)
    max_hands: int = option(2, "hands to track", flag="hands", choices=(1, 2))
    box_margin: float = 1.4
    iou_match: float = 0.2
    redetect_interval: int = 10
    refresh_interval: int = 15
    flow_roi_px: int = 96
    flow_roi_scale: float = 1.6
    lk_window_px: int = 9
    lk_levels: int = 2
    fb_max_px: float = 1.0
    min_flow_points: int = 3
    min_box_px: float = 24.0
    max_residual: float = 0.3
    duplicate_iou: float = 0.5


@dataclass
class Track:
    """hand_id: stable id (never reused); side: LEFT/RIGHT by majority of the detector's votes;
    uv_px: (21, 2) keypoints in the current frame; detected: uv_px came from the detector in
    this frame; obs_uv, obs_w: this frame's 2D measurements (see observations());
    flow_kept: fraction of palm keypoints the optical flow kept (1 after a detection);
    confidence in [0, 1]; age: frames since creation; world_m: (21, 3) MediaPipe's world
    landmarks of this frame (metres, hand-centred) or None; inside: the fraction of this frame's
    landmarks inside the image."""

    hand_id: int
    side: int
    uv_px: np.ndarray
    detected: bool = True
    flow_kept: float = 1.0
    confidence: float = 1.0
    age: int = 0
    right_votes: float = 0.0
    votes: float = 0.0
    obs_uv: np.ndarray | None = None
    obs_w: np.ndarray | None = None
    flow_ref: tuple | None = None
    world_m: np.ndarray | None = None
    inside: float = 1.0

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """The 2D measurements of this frame for the metric fit: (uv (21, 2) px, weights (21,)).
        After a detection all 21 detected keypoints; after optical flow the palm keypoints that
        the flow followed (weight 1; the other joints weight 0)."""
        if self.detected or self.obs_uv is None:
            return self.uv_px, np.ones(len(self.uv_px))
        return self.obs_uv, self.obs_w

    def box(self, margin: float) -> Box:
        return keypoint_box(self.uv_px, margin)

    def vote(self, side: int, score: float) -> None:
        self.votes += score
        self.right_votes += score if side == RIGHT else 0.0
        self.side = RIGHT if self.right_votes * 2.0 > self.votes else 1 - RIGHT


class Tracker:
    """Holds the tracks of one stream. Per frame: propagate(frame) ->
    needs_detection() -> [update(detections)] -> crops/inference -> finish(track, uv, residual).
    """

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        if self.config.mode not in TRACKING_MODES:
            raise ValueError(f"tracking mode must be one of {', '.join(TRACKING_MODES)}, got "
                             f"{self.config.mode!r}")
        self.tracks: list[Track] = []
        self._next_id = 0
        self._since_detection = 0
        self._lost_this_frame = False
        self.lost_total = 0

    def reset(self) -> None:
        self.tracks.clear()
        self._since_detection = 0
        self._lost_this_frame = False

    # ------------------------------------------------------------------ optical flow
    def remember(self, frame: np.ndarray) -> None:
        """Keep, per track, the small grey window of this frame around its final keypoints: the
        next frame's optical flow starts from it (the frame itself is not kept, so callers may
        draw on it). frame: (H, W, 3) RGB or (H, W) grey uint8."""
        c = self.config
        if c.mode == "landmarks":  # the landmark model follows the hands itself
            return
        R = c.flow_roi_px
        for t in self.tracks:
            b = t.box(c.box_margin)
            side = b.size * c.flow_roi_scale
            s = R / side
            x0, y0 = b.cx - side / 2.0, b.cy - side / 2.0
            M = np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]])
            t.flow_ref = (M, _grey(cv2.warpAffine(frame, M, (R, R), flags=cv2.INTER_LINEAR)),
                          t.uv_px.copy(), frame.shape)

    def propagate(self, frame: np.ndarray) -> None:
        """Move every track from the previous frame (its window kept by remember()) into this
        frame, (H, W, 3) RGB or (H, W) grey uint8. Tracks that fail the checks are dropped.

        The flow runs in a small square window around each hand (flow_roi_px, the hand's box
        enlarged by flow_roi_scale, resampled from both frames), so its cost does not depend on
        the frame size or on how large the hand appears."""
        self._lost_this_frame = False
        self._since_detection += 1
        for t in self.tracks:
            t.detected = False
            t.world_m = None
            t.age += 1
        if not self.tracks or self.config.mode == "landmarks":
            return
        c = self.config
        h, w = frame.shape[:2]
        R = c.flow_roi_px
        win = (c.lk_window_px, c.lk_window_px)
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)
        lost = []
        for t in self.tracks:
            if t.flow_ref is None or t.flow_ref[3] != frame.shape:
                lost.append(t)
                continue
            M, a, uv_prev, _ = t.flow_ref
            s, x0, y0 = M[0, 0], -M[0, 2] / M[0, 0], -M[1, 2] / M[1, 1]
            bimg = _grey(cv2.warpAffine(frame, M, (R, R), flags=cv2.INTER_LINEAR))
            t.uv_px = uv_prev
            p0 = ((t.uv_px[PALM] - (x0, y0)) * s).astype(np.float32).reshape(-1, 1, 2)
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, bimg, p0, None, winSize=win,
                                                  maxLevel=c.lk_levels, criteria=crit)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(bimg, a, p1, None, winSize=win,
                                                    maxLevel=c.lk_levels, criteria=crit)
            fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
            g = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < c.fb_max_px)
            t.flow_kept = float(g.mean())
            if g.sum() < c.min_flow_points:
                lost.append(t)
                continue
            src = p0.reshape(-1, 2)[g] / s + (x0, y0)
            dst = p1.reshape(-1, 2)[g] / s + (x0, y0)
            A, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                 ransacReprojThreshold=2.0 / s)
            if A is None or inl is None or int(inl.sum()) < c.min_flow_points:
                lost.append(t)
                continue
            t.uv_px = t.uv_px @ A[:, :2].T + A[:, 2]
            t.obs_w = np.zeros(len(t.uv_px))
            t.obs_w[PALM[g]] = 1.0
            t.obs_uv = t.uv_px.copy()
            t.obs_uv[PALM[g]] = dst
            if not self._box_ok(t, w, h):
                lost.append(t)
        self._drop(lost)

    def _box_ok(self, t: Track, w: int, h: int) -> bool:
        b = t.box(self.config.box_margin)
        return (self.config.min_box_px <= b.size <= 1.5 * max(w, h)
                and 0.0 <= b.cx < w and 0.0 <= b.cy < h and np.all(np.isfinite(t.uv_px)))

    def _drop(self, lost: list[Track]) -> None:
        if lost:
            self._lost_this_frame = True
            self.lost_total += len(lost)
            ids = {t.hand_id for t in lost}
            self.tracks = [t for t in self.tracks if t.hand_id not in ids]

    # ------------------------------------------------------------------ detection
    def needs_detection(self) -> bool:
        """True when the detector should run on this frame (see the module docstring)."""
        n = len(self.tracks)
        if n == 0 or self._lost_this_frame or self.config.mode == "landmarks":
            return True
        if self.config.refresh_interval and self._since_detection >= self.config.refresh_interval:
            return True
        return n < self.config.max_hands and self._since_detection >= self.config.redetect_interval

    def update(self, detections: list[Detection], frame_size: tuple[int, int]) -> None:
        """Associate detections with tracks by IoU of their boxes (greedy, best first); matched
        tracks take the detected keypoints; unmatched detections start new tracks while fewer
        than max_hands are tracked. In landmarks mode a track no detection matches is lost."""
        c = self.config
        self._since_detection = 0
        boxes_t = [t.box(c.box_margin) for t in self.tracks]
        boxes_d = [keypoint_box(d.uv_px, c.box_margin) for d in detections]
        pairs = sorted(((bt.iou(bd), i, j) for i, bt in enumerate(boxes_t)
                        for j, bd in enumerate(boxes_d)), reverse=True)
        used_t, used_d = set(), set()
        for iou, i, j in pairs:
            if iou < c.iou_match or i in used_t or j in used_d:
                continue
            used_t.add(i)
            used_d.add(j)
            t, d = self.tracks[i], detections[j]
            t.uv_px = d.uv_px.copy()
            t.detected, t.flow_kept = True, 1.0
            t.world_m, t.inside = d.world_m, d.inside
            t.vote(d.side, d.side_score)
        if c.mode == "landmarks":
            self._drop([t for i, t in enumerate(self.tracks) if i not in used_t])
        for j, d in enumerate(detections):
            if j in used_d or len(self.tracks) >= c.max_hands:
                continue
            if any(boxes_d[j].iou(t.box(c.box_margin)) > c.duplicate_iou for t in self.tracks):
                continue
            t = Track(self._next_id, d.side, d.uv_px.copy(), world_m=d.world_m, inside=d.inside)
            t.vote(d.side, d.side_score)
            self._next_id += 1
            self.tracks.append(t)
        w, h = frame_size
        self._drop([t for t in self.tracks if not self._box_ok(t, w, h)])
        self._dedupe()

    def _dedupe(self) -> None:
        c = self.config
        keep: list[Track] = []
        for t in sorted(self.tracks, key=lambda t: t.hand_id):
            if all(t.box(c.box_margin).iou(k.box(c.box_margin)) <= c.duplicate_iou for k in keep):
                keep.append(t)
        if len(keep) != len(self.tracks):
            self.tracks = keep

    def set_max_hands(self, n: int) -> None:
        self.config.max_hands = n
        self.tracks = sorted(self.tracks, key=lambda t: t.hand_id)[:n]

    # ------------------------------------------------------------------ after inference
    def finish(self, track: Track, uv_px: np.ndarray | None, residual_rel: float,
               frame_size: tuple[int, int]) -> bool:
        """Store this frame's final keypoints (the detector's, or the projection of the fitted 3D
        hand) and decide whether the track survives. residual_rel: RMS reprojection residual /
        crop side (inf when the fit failed). Returns False when the track was dropped."""
        c = self.config
        if not math.isfinite(residual_rel):
            if not track.detected:
                self._drop([track])
                return False
            residual_rel = c.max_residual or 1.0
        if c.max_residual and residual_rel > c.max_residual and not track.detected:
            self._drop([track])
            return False
        if uv_px is not None and not track.detected:
            track.uv_px = np.asarray(uv_px, dtype=np.float64)
        scale = 0.5 * c.max_residual if c.max_residual else 0.15
        track.confidence = float(np.clip(track.flow_kept * math.exp(-residual_rel / scale), 0, 1))
        w, h = frame_size
        if not self._box_ok(track, w, h):
            self._drop([track])
            return False
        return True


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def keypoint_box(uv_px: np.ndarray, margin: float) -> Box:
    """Square box around (21, 2) keypoints, side = margin * their larger extent (no validation;
    the hot-path twin of model.geometry.box_from_keypoints)."""
    lo, hi = uv_px.min(axis=0), uv_px.max(axis=0)
    c = (lo + hi) / 2.0
    return Box(float(c[0]), float(c[1]), float(margin * max((hi - lo).max(), 1e-6)))
