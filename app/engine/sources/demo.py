"""The synthetic demo stream: train.synth's animated hand (docs/contracts.md section 4), moving
across the frame, with ground truth for every frame.

One or two hands (right, and a left one for two) animate the generator's "mix" motion (counting
poses, ok, pinch, grasp... with a turning wrist); on top, each hand sways sideways and up and down
so that the tracker has to follow it. Two hands are drawn one after the other on the same
background, each at its own phase of the motion.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from app.engine.errors import EngineError
from app.engine.sources.base import Source, SourceConfig, SourceFrame, TruthHand
from app.results import FrameOrigin
from model.hand import LEFT, RIGHT

# Background / lighting seed of the demo when SourceConfig.seed is None: its procedural
# background is not skin-coloured, so MediaPipe finds both hands on most frames (seed 0's
# skin-toned stripes hide them).
DEMO_SEED = 6


class DemoSource(Source):
    """Renders frame i of the demo sequence on read(); ends after config.demo_frames frames
    (or loops). Intrinsics are the generator's camera (config.width x config.height, 60 deg)."""

    def __init__(self, config: SourceConfig):
        # Imported here: the generator (numba-compiled) is only needed when the demo runs.
        from train.synth.render import render_hand
        from train.synth.sequence import SequenceConfig, SequenceRenderer

        if config.demo_hands not in (1, 2):
            raise EngineError(f"the demo shows 1 or 2 hands, not {config.demo_hands}")
        self.config = config
        self.seed = DEMO_SEED if config.seed is None else int(config.seed)
        self.mirrored = config.mirrored
        self.fps = config.fps or 30.0
        self.description = f"demo ({config.demo_hands} hand{'s' * (config.demo_hands > 1)})"
        sides = [RIGHT, LEFT][:config.demo_hands]
        self._renderers = [SequenceRenderer(SequenceConfig(
            width=config.width, height=config.height, fps=self.fps, motion="mix", side=s,
            seed=self.seed, distance_m=0.5)) for s in sides]
        self._render_hand = render_hand
        self.intrinsics = self._renderers[0].K.copy()
        self._size = (config.width, config.height)
        self._i = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _offset_m(self, k: int, t: float) -> np.ndarray:
        """Lateral sway of hand k at time t (metres, camera frame)."""
        n = len(self._renderers)
        base_x = 0.0 if n == 1 else (0.11 if k == 0 else -0.11)
        return np.array([base_x + 0.06 * math.sin(2 * math.pi * 0.13 * t + 1.7 * k),
                         0.03 * math.sin(2 * math.pi * 0.09 * t + 0.5 + k), 0.0])

    def render(self, i: int) -> SourceFrame:
        """Frame i (time i / fps) with its ground truth."""
        w, h = self._size
        t = i / self.fps
        r0 = self._renderers[0]
        image, depth = r0.background, r0.bg_depth
        truth = []
        for k, r in enumerate(self._renderers):
            hand = r.hand_at(t + 7.3 * k)
            hand = replace(hand, trans=hand.trans + self._offset_m(k, t))
            image, depth, _, joints, _ = self._render_hand(hand, r.K, w, h, image, depth,
                                                           r.lights)
            z = np.maximum(joints[:, 2:3], 1e-6)
            uv = (joints[:, :2] / z) * (r.K[0, 0], r.K[1, 1]) + (r.K[0, 2], r.K[1, 2])
            truth.append(TruthHand(np.asarray(joints, np.float64), uv, hand.side))
        rng = np.random.default_rng((self.seed, i))
        image = image + rng.standard_normal(image.shape, dtype=np.float32) * 0.01
        rgb = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if self.mirrored:
            rgb = np.ascontiguousarray(rgb[:, ::-1])
            cx = self.intrinsics[0, 2]
            for gt in truth:
                gt.uv_px = gt.uv_px.copy()
                gt.uv_px[:, 0] = 2 * cx - gt.uv_px[:, 0]
                gt.joints_m = gt.joints_m.copy()
                gt.joints_m[:, 0] = -gt.joints_m[:, 0]  # K is centred: u -> 2 cx - u
        return SourceFrame(rgb, time.time(), truth=truth, origin=FrameOrigin("demo", i, None, t))

    def read(self) -> SourceFrame | None:
        if self._i >= self.config.demo_frames:
            if not self.config.loop:
                return None
            self._i = 0
        frame = self.render(self._i)
        self._i += 1
        return frame
