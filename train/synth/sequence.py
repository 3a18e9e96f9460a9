"""Animated hand sequences: the demo source of the app and `handtrack-synth --sequence`.

Usage (docs/contracts.md section 4):

    from train.synth.sequence import SequenceConfig, SequenceRenderer
    renderer = SequenceRenderer(SequenceConfig(width=640, height=480, motion="mix"))
    frame = renderer.render(i)          # frame index i (time i / fps), or render_time(t_seconds)
    frame.rgb        # (H, W, 3) uint8 RGB
    frame.joints_m   # (21, 3) metres, camera frame, canonical order (model.hand.Joint)
    frame.uv_px      # (21, 2) pixels;  frame.vis (21,) bool
    frame.K          # (3, 3);          frame.side 0 left / 1 right
    (also frame.depth_m (H, W) metres and frame.mask (H, W) RHD labels)

Rendering is deterministic in (config, frame index), so frames can be rendered in any order.
The background, lights, camera and hand shape are fixed for a renderer; only the pose and the
hand's orientation move. A 640x480 frame takes a few milliseconds on one core (see
bench/bench_data.py).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from model.geometry import intrinsics_from_fov, rot_x, rot_y, rot_z
from train.synth.kinematics import COUNT_POSES, POSE_LIBRARY, interpolate_keyframes
from train.synth.primitives import joint_radii
from train.synth.render import (
    HandParams,
    SynthFrame,
    hand_pixels,
    palm_centre,
    project_px,
    render_hand,
    visibility,
)
from train.synth.scene import image_background, kelvin_rgb, procedural_background
from train.synth.shape import mean_shape

MOTIONS = ("open_close", "counting", "waving", "wrist_rotate", "mix")


@dataclass(frozen=True)
class SequenceConfig:
    """width, height: frame size (px); fps: frames per second of the frame index; hfov_deg:
    horizontal field of view; motion: one of MOTIONS; side: 0 left / 1 right; distance_m:
    camera to palm distance; skin_tone: 0 light .. 1 dark; seed: background / lights;
    background: optional image file for the background (else procedural);
    noise: sensor noise sigma (fraction of full scale)."""

    width: int = 640
    height: int = 480
    fps: float = 30.0
    hfov_deg: float = 60.0
    motion: str = "mix"
    side: int = 1
    distance_m: float = 0.45
    skin_tone: float = 0.3
    seed: int = 0
    background: Path | None = None
    noise: float = 0.01

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise ValueError(f"motion must be one of {MOTIONS}, got {self.motion!r}")
        if self.side not in (0, 1):
            raise ValueError(f"side must be 0 (left) or 1 (right), got {self.side}")
        if self.width < 32 or self.height < 32 or self.fps <= 0:
            raise ValueError("width and height must be >= 32 px and fps > 0")


# Palm towards the camera, fingers up: hand x -> camera x, y -> -y (up), z -> -z.
PALM_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


class SequenceRenderer:
    """Renders frame i of an animated hand sequence; see the module docstring."""

    def __init__(self, config: SequenceConfig = SequenceConfig()):
        self.config = c = config
        rng = np.random.default_rng(c.seed)
        self.K = intrinsics_from_fov(c.width, c.height, c.hfov_deg)
        self.shape = mean_shape(c.skin_tone)
        if c.background is not None:
            self.background = image_background(rng, Path(c.background), c.height, c.width)
        else:
            self.background = procedural_background(rng, c.height, c.width)
        self.bg_depth = np.full((c.height, c.width), 1.6, np.float32)
        key = np.array([-0.3, -0.6, -0.75])
        fill = np.array([0.6, -0.1, -0.8])
        self.lights = (kelvin_rgb(6000) * 0.28,
                       np.stack([key / np.linalg.norm(key), fill / np.linalg.norm(fill)]),
                       np.stack([kelvin_rgb(5200) * 0.85, kelvin_rgb(6500) * 0.3]))
        self._rng_noise_seed = c.seed
        # one noise pattern, sampled at a random offset per frame (cheaper than fresh noise)
        self._noise = (rng.standard_normal((c.height + 64, c.width + 64, 3), dtype=np.float32)
                       * np.float32(c.noise * 255.0))
        centre = np.array([0.0, 0.03, c.distance_m])
        self._centre = centre

    def hand_at(self, t: float) -> HandParams:
        """Hand parameters at time t (seconds)."""
        m = self.config.motion
        roll = yaw = pitch = 0.0
        if m == "open_close":
            pose = interpolate_keyframes([POSE_LIBRARY["open"], POSE_LIBRARY["fist"]], t, 1.2)
        elif m == "counting":
            pose = interpolate_keyframes([POSE_LIBRARY[k] for k in COUNT_POSES], t, 0.9)
        elif m == "waving":
            pose = POSE_LIBRARY["open"].copy()
            roll = 0.45 * math.sin(2 * math.pi * 1.2 * t)
        elif m == "wrist_rotate":
            pose = POSE_LIBRARY["relaxed"].copy()
            yaw = 1.3 * math.sin(2 * math.pi * 0.35 * t)
        else:  # mix: counting with a slow turn of the wrist and a gentle sway
            keys = [POSE_LIBRARY[k] for k in (*COUNT_POSES, "ok", "pinch", "grasp", "rock")]
            pose = interpolate_keyframes(keys, t, 1.1)
            yaw = 0.6 * math.sin(2 * math.pi * 0.11 * t)
            pitch = 0.25 * math.sin(2 * math.pi * 0.07 * t + 1.0)
            roll = 0.25 * math.sin(2 * math.pi * 0.17 * t)
        rot = rot_z(roll) @ PALM_TO_CAMERA @ rot_y(yaw) @ rot_x(pitch)
        pc = palm_centre(self.shape)
        if self.config.side == 0:
            pc = pc * np.array([-1.0, 1.0, 1.0])
        trans = self._centre - rot @ pc
        return HandParams(pose, self.shape, self.config.side, rot, trans)

    def render(self, frame_index: int) -> SynthFrame:
        """Frame `frame_index` (time frame_index / fps)."""
        return self.render_time(frame_index / self.config.fps, frame_index)

    def render_time(self, t: float, noise_key: int | None = None) -> SynthFrame:
        """The frame at time t seconds (noise seeded by noise_key, default round(t * fps))."""
        c = self.config
        hand = self.hand_at(t)
        image, depth, mask, joints, _ = render_hand(hand, self.K, c.width, c.height,
                                                    self.background, self.bg_depth, self.lights)
        image *= np.float32(255.0)
        if c.noise > 0:
            key = int(round(t * c.fps)) if noise_key is None else int(noise_key)
            dy, dx = np.random.default_rng((self._rng_noise_seed, key)).integers(0, 64, 2)
            image += self._noise[dy:dy + c.height, dx:dx + c.width]
        rgb = np.clip(image + np.float32(0.5), 0, 255, out=image).astype(np.uint8)
        uv = project_px(joints, self.K)
        vis = visibility(joints, uv, depth, hand_pixels(mask), joint_radii(self.shape))
        return SynthFrame(rgb, depth, mask, joints, uv, vis, self.K.copy(), c.side)


def write_sequence(out: Path, config: SequenceConfig, frames: int, progress: bool = True) -> None:
    """Write out/sequence.mp4 (cv2.VideoWriter, mp4v) and out/anno_sequence.pickle:
    {frame: {'xyz' (42, 3), 'uv_vis' (42, 3), 'K' (3, 3)}} in the RHD format (a trusted
    pickle, like RHD's)."""
    from train.synth.writer import frame_annotation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sequence.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), config.fps,
                             (config.width, config.height))
    if not writer.isOpened():
        raise OSError(f"cannot open {path} for writing (OpenCV has no mp4v encoder here?)")
    renderer = SequenceRenderer(config)
    annos = {}
    try:
        for i in tqdm(range(frames), desc="sequence", unit="frame", disable=not progress):
            f = renderer.render(i)
            writer.write(cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
            annos[i] = frame_annotation(f)
    finally:
        writer.release()
    with open(out / "anno_sequence.pickle", "wb") as fh:
        pickle.dump(annos, fh, protocol=pickle.HIGHEST_PROTOCOL)
