"""One synthetic frame: hand parameters + camera + scene -> image, depth, mask and ground truth.

`render_sample(config, seed)` draws everything at random from one integer seed (so a data set is
the same whatever the number of workers); `render_hand(...)` renders given parameters (used by
the sequence renderer for the demo stream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from model.geometry import random_rotation, rotvec_matrix
from model.kinematics import Skeleton, forward_kinematics
from train.synth import raster
from train.synth.kinematics import sample_pose
from train.synth.primitives import PERSON_LABEL, build_primitives, joint_radii
from train.synth.scene import (
    clutter_shape,
    image_background,
    procedural_background,
    room_background,
    sample_intrinsics,
    sample_lights,
    sensor_effects,
)
from train.synth.shape import HandShape, sample_shape


@dataclass(frozen=True)
class SynthConfig:
    """Random scene generation.

    size: square image side (px); hfov_deg: range of the horizontal field of view of the
    webcam-like camera (deg); distance_m: range of the camera-to-palm distance (metres);
    p_clutter: chance of background clutter; p_occluder: chance of an object in front of the hand;
    backgrounds: image files to use as backgrounds (else procedural only); p_photo: chance of
    a photo background when backgrounds are given; sensor: blur / noise / JPEG on;
    p_webcam_view: chance of a webcam-like view (fingers up within a random roll, palm or back
    of the hand towards the camera within a random tilt), else the orientation is uniform on
    SO(3); p_room: chance of a room-like background (desaturated walls, furniture and windows,
    lit from above, out of focus) instead of a random pattern; skin_texture: strength of the
    blotchy albedo variation and fine grain on the skin (0: flat albedo); p_uniform_pose:
    chance of a pose uniform within the joint limits, else a library pose with noise
    (train.synth.kinematics.sample_pose); webcam_sensor: the milder noise and compression of
    a webcam stream (scene.sensor_effects); max_finger_overlap: poses whose fingers sink
    deeper into each other (finger_overlap) are drawn again, up to 10 times (1: never);
    p_forearm: chance that the hand has a forearm (a real one always has; the earlier renders
    left it out one time in ten); skin_wrap: (3,) how far the diffuse light wraps past the
    terminator in red, green and blue, the look of light scattered under the skin (red travels
    furthest; the earlier renders wrapped every channel by 0.3).
    LEGACY_STYLE gives the renders of earlier versions, frame for frame
    (train/experiments/table1.py keeps its data so).
    """

    size: int = 320
    hfov_deg: tuple[float, float] = (50.0, 75.0)
    distance_m: tuple[float, float] = (0.25, 0.8)
    p_clutter: float = 0.6
    p_occluder: float = 0.25
    backgrounds: tuple[Path, ...] = ()
    p_photo: float = 0.6
    sensor: bool = True
    p_webcam_view: float = 0.8
    p_room: float = 1.0
    skin_texture: float = 0.25
    p_uniform_pose: float = 0.15
    webcam_sensor: bool = True
    max_finger_overlap: float = 0.15
    p_forearm: float = 1.0
    skin_wrap: tuple[float, float, float] = (0.7, 0.4, 0.25)


# The scene statistics of earlier versions (a uniform orientation, pattern backgrounds, flat
# skin, 35 % uniform poses, strong sensor noise and JPEG, interpenetrating fingers allowed):
# SynthConfig(**LEGACY_STYLE) renders their frames exactly.
LEGACY_STYLE = {"p_webcam_view": 0.0, "p_room": 0.0, "skin_texture": 0.0, "p_uniform_pose": 0.35,
                "webcam_sensor": False, "max_finger_overlap": 1.0, "p_forearm": 0.9,
                "skin_wrap": (0.3, 0.3, 0.3)}


@dataclass
class HandParams:
    """Everything that defines one hand in the camera frame.

    pose: (POSE_DIM,) joint angles (radians); shape: HandShape; side: 0 left / 1 right;
    rot: (3, 3) hand frame -> camera rotation; trans: (3,) hand-frame origin (wrist) in the
    camera, metres; forearm_dir: (3,) forearm direction in the hand frame.
    """

    pose: np.ndarray
    shape: HandShape
    side: int
    rot: np.ndarray
    trans: np.ndarray
    forearm_dir: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0, 0.0]))


@dataclass
class SynthFrame:
    """A rendered frame and its ground truth.

    rgb: (H, W, 3) uint8 RGB; depth_m: (H, W) float32 metres (every pixel has a depth);
    mask: (H, W) uint8 RHD labels (0 bg, 1 forearm, 2-17 left hand parts, 18-33 right);
    joints_m: (21, 3) float64 metres, camera frame, canonical order (model.hand.Joint);
    uv_px: (21, 2) pixels; vis: (21,) bool; K: (3, 3); side: 0 left / 1 right; scene: what the
    scene drew (render_sample: skin_luma, the skin's mean albedo in [0, 1]; forearm "bare" or
    "sleeve", or "none" when no forearm pixel is in the image; background "photo", "room" or
    "pattern"; clutter and occluder, bools).
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    mask: np.ndarray
    joints_m: np.ndarray
    uv_px: np.ndarray
    vis: np.ndarray
    K: np.ndarray
    side: int
    scene: dict = field(default_factory=dict)


def palm_centre(shape: HandShape) -> np.ndarray:
    """A point in the middle of the palm (hand frame, right hand), metres."""
    return 0.5 * shape.skeleton.mcp[1] + np.array([0.0, 0.0, 0.0])


def place_hand(rng: np.random.Generator, shape: HandShape, K: np.ndarray, width: int,
               height: int, distance_m=(0.25, 0.8)) -> tuple[np.ndarray, np.ndarray]:
    """A random orientation (uniform on SO(3)) and a position that puts the palm centre at
    distance_m from the camera, inside the central part of the image. Returns (rot, trans)."""
    rot = random_rotation(rng)
    dist = rng.uniform(*distance_m)
    u = rng.uniform(0.3, 0.7) * width
    v = rng.uniform(0.3, 0.7) * height
    d = np.linalg.solve(K, np.array([u, v, 1.0]))
    target = d / np.linalg.norm(d) * dist
    trans = target - rot @ palm_centre(shape)
    return rot, trans


def webcam_rotation(rng: np.random.Generator, shape: HandShape) -> np.ndarray:
    """A hand frame -> camera rotation (3, 3) as a webcam sees a hand held up in front of it:
    the fingers point up the image within a roll of N(0, 45 deg), the palm or (half of the time)
    the back of the hand faces the camera, tilted by N(0, 30 deg) about both image axes."""
    sk = shape.skeleton
    f = sk.mcp[1] / np.linalg.norm(sk.mcp[1])  # wrist -> middle MCP (the wrist is the origin)
    n = np.cross(sk.mcp[0], sk.mcp[3])  # index x little MCP: the palm's normal
    n = n - (n @ f) * f
    n /= np.linalg.norm(n)
    hand = np.stack([f, n, np.cross(f, n)], axis=1)
    towards = 1.0 if rng.random() < 0.5 else -1.0
    fc, nc = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, -towards])
    cam = np.stack([fc, nc, np.cross(fc, nc)], axis=1)
    roll = rotvec_matrix([0.0, 0.0, math.radians(rng.normal(0.0, 45.0))])
    tilt = rotvec_matrix(np.r_[np.radians(rng.normal(0.0, 30.0, 2)), 0.0])
    return roll @ tilt @ cam @ hand.T


def _forearm_ok(hand: HandParams) -> bool:
    """False when the forearm would reach the camera (the camera would sit inside the arm)."""
    d = hand.rot @ (hand.forearm_dir / np.linalg.norm(hand.forearm_dir))
    s = hand.shape.scale
    a = hand.trans
    b = a + d * 0.3 * s
    t = np.clip(-(a @ (b - a)) / max((b - a) @ (b - a), 1e-12), 0.0, 1.0)
    closest = a + t * (b - a)
    return bool(np.linalg.norm(closest) > 0.06 * s + 0.08 and min(a[2], b[2]) > 0.06)


def render_hand(hand: HandParams, K: np.ndarray, width: int, height: int,
                background: np.ndarray, bg_depth_m: np.ndarray, lights, specular: float = 0.08,
                wrap=(0.3, 0.3, 0.3)):
    """Render one hand over a background (no sensor effects).

    background: (H, W, 3) float32 in [0, 1]; bg_depth_m: (H, W) float32 (> 0); lights: from
    scene.sample_lights. Returns (image (H, W, 3) float32, depth (H, W) float32,
    mask (H, W) uint8, joints_m (21, 3), zbuf (H, W) float64 of the hand only).
    """
    if hand.shape.forearm and not _forearm_ok(hand):
        hand = HandParams(hand.pose, _no_forearm(hand.shape), hand.side, hand.rot, hand.trans,
                          hand.forearm_dir)
    joints_h, frames_h = forward_kinematics(hand.pose, hand.shape.skeleton)
    prims, joints_cam = build_primitives(joints_h, frames_h, hand.shape, hand.side, hand.rot,
                                         hand.trans, hand.forearm_dir)
    prims[:, 22:28] = prims[:, 22:28] ** 2.2  # albedo to linear light
    zbuf, normal, pid = raster.new_buffers(height, width)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    raster.rasterise(prims, fx, fy, cx, cy, zbuf, normal, pid)
    image = np.array(background, dtype=np.float32, copy=True)
    depth = np.array(bg_depth_m, dtype=np.float32, copy=True)
    mask = np.zeros((height, width), np.uint8)
    hit = pid >= 0
    rows, cols = np.nonzero(hit.any(axis=1))[0], np.nonzero(hit.any(axis=0))[0]
    if len(rows) == 0:
        return image, depth, mask, joints_cam, zbuf
    box = np.array([cols[0], cols[-1], rows[0], rows[-1]], np.int64)
    # screen-space ambient occlusion: pixels deeper than their neighbourhood are in a crease
    hit_c = hit[box[2]:box[3] + 1, box[0]:box[1] + 1].astype(np.float32)
    z = np.where(hit_c > 0, zbuf[box[2]:box[3] + 1, box[0]:box[1] + 1], 0.0).astype(np.float32)
    k = int(max(3, 0.02 * fx / max(float(joints_cam[9, 2]), 0.05))) | 1
    zmean = cv2.blur(cv2.blur(z, (k, k)), (k, k))
    wmean = cv2.blur(cv2.blur(hit_c, (k, k)), (k, k))
    zmean = zmean / np.maximum(wmean, 1e-3)
    ao = np.clip(1.0 - 25.0 * np.maximum(z - zmean, 0.0), 0.35, 1.0).astype(np.float32)
    ambient, ldir, lcol = lights
    raster.shade(prims, pid, zbuf, normal, ao, fx, fy, cx, cy, np.asarray(ambient, np.float64),
                 np.ascontiguousarray(ldir, np.float64), np.ascontiguousarray(lcol, np.float64),
                 float(specular), np.asarray(wrap, np.float64), box, raster.GAMMA_LUT, image,
                 depth, mask)
    return image, depth, mask, joints_cam, zbuf


def _no_forearm(shape: HandShape) -> HandShape:
    return HandShape(shape.skeleton, shape.radius, shape.palm_width, shape.skin_dorsal,
                     shape.skin_palmar, shape.nail, shape.sleeve, shape.sleeve_start_m, False)


def visibility(joints_m: np.ndarray, uv_px: np.ndarray, depth_m: np.ndarray,
               hand: np.ndarray, radii: np.ndarray, tol_m: float = 0.01,
               window_px: int = 1) -> np.ndarray:
    """A joint is visible if, within window_px pixels of its projection, some pixel shows this
    hand (hand: (H, W) bool) at a depth within the joint's surface radius + tol_m of the joint.
    joints_m: (21, 3); uv_px: (21, 2); depth_m: (H, W) metres of the final frame. (21,) bool."""
    h, w = depth_m.shape
    vis = np.zeros(len(joints_m), bool)
    for j, (u, v) in enumerate(np.round(uv_px).astype(int)):
        u0, u1 = max(u - window_px, 0), min(u + window_px + 1, w)
        v0, v1 = max(v - window_px, 0), min(v + window_px + 1, h)
        if u0 >= u1 or v0 >= v1:
            continue
        d = depth_m[v0:v1, u0:u1]
        ok = hand[v0:v1, u0:u1] & (np.abs(d - joints_m[j, 2]) <= radii[j] + tol_m)
        vis[j] = bool(ok.any())
    return vis


def project_px(points_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) metres (z > 0) -> (N, 2) pixels."""
    p = points_m @ K.T
    return p[:, :2] / p[:, 2:3]


# The finger segments (joint pairs, canonical order) checked for interpenetration: the thumb
# from its MCP on (its metacarpal lies inside the palm) and the three phalanges of each finger.
_SEGMENTS = [(1 + 4 * f + k, 2 + 4 * f + k) for f in range(5) for k in range(1 if f == 0 else 0, 3)]
_SEGMENT_FINGER = np.array([a // 4 if a % 4 else a // 4 - 1 for a, _ in _SEGMENTS])
_SEGMENT_RADIUS = (1.0, 0.9, 0.83)  # of the finger's base radius, per phalanx


def finger_overlap(joints_m: np.ndarray, radius: np.ndarray, per_segment: int = 5) -> float:
    """How deep the worst pair of points on two different fingers sink into each other: the
    largest 1 - distance / (radius a + radius b) (0: no two fingers touch; 1: axes cross).
    joints_m: (21, 3) metres; radius: (5,) finger base radii (HandShape.radius)."""
    t = np.linspace(0.0, 1.0, per_segment)[:, None]
    pts, rad, fing = [], [], []
    for (a, b), f in zip(_SEGMENTS, _SEGMENT_FINGER):
        k = (a - 1) % 4 - (1 if f == 0 else 0)
        pts.append(joints_m[a] + t * (joints_m[b] - joints_m[a]))
        rad.append(np.full(per_segment, radius[f] * _SEGMENT_RADIUS[k]))
        fing.append(np.full(per_segment, f))
    p, r, fi = np.concatenate(pts), np.concatenate(rad), np.concatenate(fing)
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    other = fi[:, None] != fi[None]
    depth = 1.0 - d / (r[:, None] + r[None])
    return float(max(depth[other].max(), 0.0))


def sample_hand(rng: np.random.Generator, K: np.ndarray, width: int, height: int,
                distance_m=(0.25, 0.8), p_webcam_view: float = 0.0,
                p_uniform_pose: float = 0.35, max_finger_overlap: float = 1.0,
                p_forearm: float = 0.9) -> HandParams:
    """A random hand (pose, shape, side, placement) that lies in front of the camera; with
    probability p_webcam_view oriented as webcam_rotation (and moved into view), else
    uniformly; p_uniform_pose: as sample_pose's p_uniform; a pose whose finger_overlap exceeds
    max_finger_overlap is drawn again (up to 10 times; 1: never); p_forearm: chance of a
    forearm (sample_shape)."""
    shape = sample_shape(rng, p_forearm)
    pose = sample_pose(rng, p_uniform_pose)
    joints_h = forward_kinematics(pose, shape.skeleton)[0]
    for _ in range(10 if max_finger_overlap < 1.0 else 0):
        if finger_overlap(joints_h, shape.radius) <= max_finger_overlap:
            break
        pose = sample_pose(rng, p_uniform_pose)
        joints_h = forward_kinematics(pose, shape.skeleton)[0]
    side = int(rng.integers(0, 2))
    if side == 0:
        joints_h = joints_h * np.array([-1.0, 1.0, 1.0])
    fdir = np.array([0.0, -1.0, 0.0])
    wf, wd = rng.uniform(-0.8, 0.8), rng.uniform(-0.3, 0.3)
    fdir = np.array([math.sin(wd), -math.cos(wd) * math.cos(wf), math.cos(wd) * math.sin(wf)])
    webcam = p_webcam_view > 0 and rng.random() < p_webcam_view
    for _ in range(20):
        rot, trans = place_hand(rng, shape, K, width, height, distance_m)
        if webcam:
            centre = rot @ palm_centre(shape) + trans
            rot = webcam_rotation(rng, shape)
            trans = centre - rot @ palm_centre(shape)
            trans = _into_view(joints_h @ rot.T + trans, trans, K, width, height)
        if (joints_h @ rot.T + trans)[:, 2].min() > 0.1:
            break
    return HandParams(pose, shape, side, rot, trans, fdir)


def joints_in_camera(pose: np.ndarray, shape: HandShape, side: int, rot: np.ndarray,
                     trans: np.ndarray) -> np.ndarray:
    """(21, 3) joints in the camera frame (metres) of a hand placed by rot, trans."""
    joints_h, _ = forward_kinematics(pose, shape.skeleton)
    if side == 0:
        joints_h = joints_h * np.array([-1.0, 1.0, 1.0])
    return joints_h @ rot.T + trans


def _into_view(joints_m: np.ndarray, trans: np.ndarray, K: np.ndarray, width: int,
               height: int, margin: float = 0.04) -> np.ndarray:
    """The translation moved parallel to the image (same depth) so that the joints project
    inside the image with a margin (a fraction of its side), when the hand is small enough;
    as a webcam user keeps the hand in view."""
    if joints_m[:, 2].min() <= 0.05:
        return trans
    uv = project_px(joints_m, K)
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    m = margin * np.array([width, height])
    room = np.array([width, height]) - 2 * m
    if np.any(hi - lo > room):
        return trans
    shift = np.maximum(m - lo, 0.0) - np.maximum(hi - (np.array([width, height]) - m), 0.0)
    z = float(np.median(joints_m[:, 2]))
    return trans + np.array([shift[0] * z / K[0, 0], shift[1] * z / K[1, 1], 0.0])


def skin_texture(rng: np.random.Generator, image: np.ndarray, skin: np.ndarray,
                 strength: float) -> None:
    """Blotchy albedo variation (a coarse noise of 1/8 of the image side, +-strength / 2) and
    fine grain (+-strength / 6) on the skin pixels (skin: (H, W) bool), in place."""
    h, w = skin.shape
    cells = max(w // 8, 2)
    coarse = np.clip(cv2.resize(rng.random((cells, cells)).astype(np.float32), (w, h),
                                interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    fine = rng.random((h, w)).astype(np.float32)
    f = 1.0 + strength * (coarse - 0.5) + (strength / 3.0) * (fine - 0.5)
    image[skin] = np.clip(image[skin] * f[skin][:, None], 0.0, 1.0)


def render_sample(config: SynthConfig, seed) -> SynthFrame:
    """A fully random training frame from a seed (an int or ints, e.g. (seed, split, i))."""
    rng = np.random.default_rng(seed)
    S = config.size
    K = sample_intrinsics(rng, S, S, config.hfov_deg)
    hand = sample_hand(rng, K, S, S, config.distance_m, config.p_webcam_view,
                       config.p_uniform_pose, config.max_finger_overlap, config.p_forearm)
    lights = sample_lights(rng)

    # The background (and the clutter behind the hand) is made at half resolution and scaled
    # up: 4x cheaper, and backgrounds are out of focus anyway.
    h2 = max(S // 2, 8)
    if config.backgrounds and rng.random() < config.p_photo:
        path = config.backgrounds[int(rng.integers(len(config.backgrounds)))]
        bg, background = image_background(rng, path, h2, h2), "photo"
    elif config.p_room > 0 and rng.random() < config.p_room:
        bg, background = room_background(rng, h2, h2), "room"
    else:
        bg, background = procedural_background(rng, h2, h2), "pattern"
    hand_z = float(hand.trans[2])
    far = hand_z + rng.uniform(0.4, 2.5)
    yy, xx = np.ogrid[0:h2, 0:h2]
    gx, gy = rng.uniform(-0.3, 0.3, 2) / h2
    bg_depth = (far * (1.0 + gx * (xx - h2 / 2) + gy * (yy - h2 / 2))).astype(np.float32)
    clutter = bool(rng.random() < config.p_clutter)
    if clutter:
        for _ in range(int(rng.integers(1, 5))):
            m, col = clutter_shape(rng, h2, h2, rng.uniform(0, h2, 2), rng.uniform(0.1, 0.5) * h2)
            zc = rng.uniform(hand_z + 0.12, far)
            sel = m & (bg_depth > zc)
            bg[sel], bg_depth[sel] = col[sel], zc
    bg = cv2.resize(bg, (S, S), interpolation=cv2.INTER_LINEAR)
    bg_depth = cv2.resize(bg_depth, (S, S), interpolation=cv2.INTER_NEAREST)

    image, depth, mask, joints, _ = render_hand(hand, K, S, S, bg, bg_depth, lights,
                                                 specular=rng.uniform(0.02, 0.15),
                                                 wrap=config.skin_wrap)
    if config.skin_texture > 0:
        skin_texture(rng, image, hand_pixels(mask), config.skin_texture)
    uv = project_px(joints, K)
    arm_seen = bool((mask == PERSON_LABEL).any())

    # an occluder in front of the hand, covering part of it
    occluder = bool(rng.random() < config.p_occluder)
    if occluder:
        span = float(np.ptp(uv, axis=0).max())
        c = uv[int(rng.integers(0, 21))] + rng.normal(0, 0.3 * span, 2)
        m, col = clutter_shape(rng, S, S, c, rng.uniform(0.3, 0.7) * span)
        zc = rng.uniform(0.08, max(float(joints[:, 2].min()) - 0.03, 0.09))
        sel = m & (depth > zc)
        image[sel], depth[sel], mask[sel] = col[sel], zc, 0

    vis = visibility(joints, uv, depth, hand_pixels(mask), joint_radii(hand.shape))
    rgb = sensor_effects(rng, image, webcam=config.webcam_sensor) if config.sensor else np.clip(
        image * 255 + 0.5, 0, 255).astype(np.uint8)
    sh = hand.shape
    scene = {"skin_luma": float(np.mean(sh.skin_dorsal)),
             "forearm": "none" if not arm_seen else "bare" if sh.sleeve is None else "sleeve",
             "background": background, "clutter": clutter, "occluder": occluder}
    return SynthFrame(rgb, depth, mask, joints, uv, vis, K, hand.side, scene)


def hand_pixels(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool of the hand labels (2..33) of an RHD mask."""
    return mask > PERSON_LABEL


__all__ = ["SynthConfig", "LEGACY_STYLE", "HandParams", "SynthFrame", "render_sample",
           "render_hand", "sample_hand", "Skeleton"]
