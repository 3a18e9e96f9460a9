"""The layout of a recorded session folder, shared by the recorder (app.sinks) and the reader
(replay in app.engine.sources).

    DIR/meta.json        session description; "complete": true only after a clean close
    DIR/frames.csv       one row per frame and hand (a frame without hands: one row, hands = 0)
    DIR/frames_source.csv  frame, kind, index, name, time_s: where each frame is in its source
                         (FrameOrigin); optional, sessions recorded without it read as before
    DIR/interaction.csv  per frame and hand: pinch, grab, curl, palm, extension flags, gesture
                         and events (app.results.Interaction); optional, as above
    DIR/video/segment_NNNNN.mp4   camera video in segments of about `segment_s` seconds
    DIR/video/index.csv  frame, time, segment, index: where each recorded video frame is;
                         a segment is listed only after it was closed, so every listed segment
                         is a complete, playable mp4 (an unlisted one was cut by a crash)
"""

from __future__ import annotations

from model.hand import BONES, JOINT_NAMES

FORMAT = "handtrack-session-1"
META_NAME = "meta.json"
CSV_NAME = "frames.csv"
VIDEO_DIR = "video"
INDEX_NAME = "index.csv"
INDEX_COLUMNS = ("frame", "time", "segment", "index")

# frames.csv: frame id, capture time (s since epoch), frame size (px), number of hands in the
# frame, then per hand: id, side (0 left, 1 right), confidence, 21 x/y/z (m), 21 u/v (px).
# In a frame without hands the hand fields are empty.
FRAME_COLUMNS = ("frame", "time", "width", "height", "hands")
HAND_COLUMNS = ("hand_id", "side", "confidence")
JOINT_COLUMNS = tuple(f"{n}_{a}_m" for n in JOINT_NAMES for a in "xyz")  # 63
UV_COLUMNS = tuple(f"{n}_{a}_px" for n in JOINT_NAMES for a in "uv")  # 42
CSV_COLUMNS = FRAME_COLUMNS + HAND_COLUMNS + JOINT_COLUMNS + UV_COLUMNS  # 113
SOURCE_NAME = "frames_source.csv"
SOURCE_COLUMNS = ("frame", "kind", "index", "name", "time_s")  # empty name/time_s = None
# interaction.csv: one row per frame and hand with an interaction: the measures (pinch 0..1 per
# finger, index .. little; grab 0..1; curl 0..1, thumb first; palm centre (m), normal and
# direction (camera frame); hand size (m)), the debounced extension and pinch flags (0/1), the
# gesture name and code, and the frame's events as "name:code" joined by ';'. Optional.
INTERACTION_NAME = "interaction.csv"
_FINGERS = ("thumb", "index", "middle", "ring", "little")
INTERACTION_COLUMNS = (("frame", "hand_id") + tuple(f"pinch_{f}" for f in _FINGERS[1:])
                       + ("grab",) + tuple(f"curl_{f}" for f in _FINGERS)
                       + tuple(f"palm_{a}_m" for a in "xyz")
                       + tuple(f"palm_normal_{a}" for a in "xyz")
                       + tuple(f"palm_direction_{a}" for a in "xyz") + ("hand_size_m",)
                       + tuple(f"extended_{f}" for f in _FINGERS)
                       + tuple(f"pinching_{f}" for f in _FINGERS[1:])
                       + ("gesture", "gesture_code", "events"))  # 2 + 20 + 9 + 3 = 34
# rig.csv: one row per frame and hand with a rig (model.rig.HandRig): the wrist quaternion
# (camera frame) and position (m), then per bone of model.hand.BONES, named by its child joint,
# the local quaternion w x y z, then the 20 rest bone lengths (m). Optional (older sessions).
RIG_NAME = "rig.csv"
_BONE_NAMES = tuple(JOINT_NAMES[c] for _, c in BONES)
RIG_COLUMNS = (("frame", "hand_id", "wrist_qw", "wrist_qx", "wrist_qy", "wrist_qz",
                "wrist_x_m", "wrist_y_m", "wrist_z_m")
               + tuple(f"{n}_q{a}" for n in _BONE_NAMES for a in "wxyz")
               + tuple(f"{n}_bone_m" for n in _BONE_NAMES))  # 9 + 80 + 20 = 109


def segment_name(n: int) -> str:
    return f"segment_{n:05d}.mp4"
