"""The child side of app.engine.detect_process: MediaPipeHands behind a socket.

    python -m model.mediapipe_server FD '{"max_hands": 2, "model_complexity": 1, ...}'

FD: a connected socket (multiprocessing.connection.Connection on it), inherited from the parent.
Protocol, one request at a time: ("detect", (H, W), mirrored) followed by the frame's H*W*3 RGB
bytes -> ("ok", [Detection]) or ("error", one line); anything else, or the socket closing, ends
the process. The first message is ("ready", (max_hands, video)) once MediaPipe is loaded, or
("error", why) when it cannot be. Imports only MediaPipe and model/ (a light process); SIGINT is
ignored (the parent decides when to stop).
"""

from __future__ import annotations

import json
import signal
import sys
from multiprocessing.connection import Connection

import numpy as np


def serve(conn: Connection, options: dict) -> None:
    """Answer detect requests on conn until it closes (module doc)."""
    try:
        from model.mediapipe_hands import MediaPipeHands

        hands = MediaPipeHands(int(options["max_hands"]), int(options["model_complexity"]),
                               float(options["min_detection_confidence"]),
                               video=bool(options["video"]),
                               min_tracking_confidence=float(options["min_tracking_confidence"]))
    except ImportError as e:
        conn.send(("error", f"mediapipe is not installed ({e}); run "
                            "`pip install mediapipe==0.10.21`"))
        return
    except Exception as e:
        conn.send(("error", f"MediaPipe Hands cannot start: {e}"))
        return
    conn.send(("ready", (hands.max_hands, hands.video)))
    buf = bytearray()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if not (isinstance(msg, tuple) and msg and msg[0] == "detect"):
                return
            (h, w), mirrored = msg[1], msg[2]
            if len(buf) != h * w * 3:
                buf = bytearray(h * w * 3)
            conn.recv_bytes_into(buf)
            rgb = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            try:
                conn.send(("ok", hands.process(rgb, mirrored)))
            except Exception as e:
                conn.send(("error", f"MediaPipe failed on a frame: {e}"))
    finally:
        hands.close()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    try:
        serve(conn, json.loads(argv[1]))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
