"""The layout of a recorded session folder, shared by the recorder (app.sinks) and the reader
(replay in app.engine.sources).

    DIR/meta.json        session description; "complete": true only after a clean close
    DIR/frames.csv       one row per frame and hand (a frame without hands: one row, hands = 0)
    DIR/frames_source.csv  frame, kind, index, name, time_s: where each frame is in its source
                         (FrameOrigin); optional, sessions recorded without it read as before
    DIR/video/segment_NNNNN.mp4   camera video in segments of about `segment_s` seconds
    DIR/video/index.csv  frame, time, segment, index: where each recorded video frame is;
                         a segment is listed only after it was closed, so every listed segment
                         is a complete, playable mp4 (an unlisted one was cut by a crash)
"""

from __future__ import annotations

from model.hand import JOINT_NAMES

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


def segment_name(n: int) -> str:
    return f"segment_{n:05d}.mp4"
