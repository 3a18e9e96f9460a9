"""The one result type that flows out of the engine into every sink (GUI, recorder, OSC/UDP).

Units are in the names: joints in metres in the camera frame (x right, y down, z forward, OpenCV
convention), pixels in the full (un-mirrored as displayed) frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from model.gestures import HandMeasures
from model.hand import LEFT, RIGHT

if TYPE_CHECKING:  # model.rig compiles with numba: imported where rigs are made
    from model.rig import HandRig

# Gesture names in code order (codes for TouchDesigner and other receivers; app.engine.gestures)
GESTURES = ("none", "open_palm", "grab", "point", "thumbs_up", "victory")
GESTURE_CODES = {name: code for code, name in enumerate(GESTURES)}


@dataclass(frozen=True)
class GestureEvent:
    """A discrete event of one hand: name (e.g. "thumbs_up", "pinch_index_start") and int code."""

    name: str
    code: int


@dataclass
class Interaction:
    """Interaction signals of one hand in one frame (HandResult.interaction).

    measures: the per-frame measures (pinch (4,), curl (5,), grab, palm_m (3,), palm_normal (3,),
    palm_direction (3,), hand_size_m); extended: (5,) bools after hysteresis and debounce, thumb
    first; pinching: (4,) bools, index .. little; gesture: the debounced gesture name (GESTURES);
    events: what started or ended in this frame."""

    measures: HandMeasures
    extended: tuple[bool, ...]
    pinching: tuple[bool, ...]
    gesture: str
    events: list[GestureEvent] = field(default_factory=list)

    @property
    def gesture_code(self) -> int:
        return GESTURE_CODES[self.gesture]


@dataclass
class HandResult:
    """One tracked hand in one frame.

    hand_id: stable id while the track lives (0, 1, 2, ... never reused within a session).
    side: model.hand.Side, LEFT (0) or RIGHT (1).
    joints_m: (21, 3) float32, metres, camera frame, joint order of model.hand.Joint.
    uv_px: (21, 2) float32, pixels in the frame as delivered by the source.
    confidence: float in [0, 1].
    cloud_m: optional (N, 3) float32, metres, camera frame.
    interaction: optional Interaction (pinch, grab, palm, extension flags, debounced gesture
        and events), set by the engine (app.engine.gestures); None when gestures are off.
    rig: optional model.rig.HandRig (wrist rotation and position, 20 local bone rotations, rest
        bone lengths), set by the engine; its forward kinematics is joints_m. None in sessions
        recorded before rigs were written.
    """

    hand_id: int
    side: int
    joints_m: np.ndarray
    uv_px: np.ndarray
    confidence: float
    cloud_m: np.ndarray | None = None
    interaction: Interaction | None = None
    rig: HandRig | None = None

    def __post_init__(self) -> None:
        self.joints_m = np.asarray(self.joints_m, dtype=np.float32)
        self.uv_px = np.asarray(self.uv_px, dtype=np.float32)
        if self.joints_m.shape != (21, 3):
            raise ValueError(f"joints_m must have shape (21, 3), got {self.joints_m.shape}")
        if self.uv_px.shape != (21, 2):
            raise ValueError(f"uv_px must have shape (21, 2), got {self.uv_px.shape}")
        if self.side not in (LEFT, RIGHT):
            raise ValueError(f"side must be 0 (left) or 1 (right), got {self.side}")


@dataclass
class FrameOrigin:
    """Where a frame came from in its source.

    kind: the source kind ("camera", "video", "images", "demo", "replay").
    index: 0-based position in the source: the video frame (position in the file), the image
    (name order), the demo or camera frame, the recorded frame id of a replayed session.
    name: the image file name, the video file name, the original source's name of a replayed
    session; None when there is none (camera, demo).
    time_s: the frame's time in the source: seconds into the video (its timestamp), the recorded
    capture time (epoch seconds) of a replayed frame; None when the source has none.
    """

    kind: str
    index: int
    name: str | None = None
    time_s: float | None = None


@dataclass
class FrameResult:
    """Everything the engine knows about one processed frame.

    frame_id: index of the frame in the source (monotonic; gaps mean dropped frames).
    capture_time: seconds since the epoch (time.time()) when the frame was captured.
    width, height: frame size in pixels.
    hands: tracked hands, sorted by hand_id.
    timings_ms: per-stage latency in milliseconds (e.g. {"detect": 3.1, "infer": 9.8}).
    ground_truth_m: optional {hand_id: (21, 3) metres} from the demo source, for error reports.
    origin: where the frame came from in its source (file name, frame index, time), if known.
    """

    frame_id: int
    capture_time: float
    width: int
    height: int
    hands: list[HandResult] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    ground_truth_m: dict[int, np.ndarray] | None = None
    origin: FrameOrigin | None = None
