"""The child side of app.engine.detect_process: MediaPipeHands behind a socket.

    python -m model.mediapipe_server FD    # imports MediaPipe, then reads ("options", {...})

FD: a connected socket (multiprocessing.connection.Connection on it), inherited from the parent.
Protocol, one request at a time:
- ("map", path, (H, W), slot) -> ("mapped", None): the file `path` (in /dev/shm, H*W*3 bytes,
  which the parent then unlinks) is mapped as frame buffer `slot`;
- ("detect_shared", mirrored, slot) -> ("ok", [Detection]) or ("error", one line): the frame in
  buffer `slot` (the parent may queue the next request before this one is answered);
- ("detect", (H, W), mirrored) followed by the frame's H*W*3 RGB bytes -> the same, for a parent
  without shared memory;
anything else, or the socket closing, ends the process. The first message is ("ready",
(max_hands, video)) once MediaPipe is loaded, or ("error", why) when it cannot be. Imports only
MediaPipe and model/ (a light process); SIGINT is ignored (the parent decides when to stop).
"""

from __future__ import annotations

import mmap
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
    buf, mapped = bytearray(), {}
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if not (isinstance(msg, tuple) and msg):
                return
            if msg[0] == "map":
                mapped[msg[3]] = _map(msg[1], msg[2])
                conn.send(("mapped", None))
                continue
            if msg[0] == "detect_shared":
                rgb, mirrored = mapped[msg[2]], msg[1]
            elif msg[0] != "detect":
                return
            else:
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


def _map(path: str, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 view of the shared file `path` (read-only here)."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), shape[0] * shape[1] * 3, access=mmap.ACCESS_READ)
    return np.frombuffer(mm, np.uint8).reshape(shape[0], shape[1], 3)


def _options_when_told(conn: Connection) -> dict | None:
    """Import MediaPipe (while the parent imports the rest of handtrack, when it started this
    process ahead: app/detector_prestart.py), then wait for ("options", {"max_hands": 2,
    "model_complexity": 1, ...}); None when the parent closes the socket or sends anything else
    (it did not need a detector)."""
    try:
        from model.mediapipe_hands import import_mediapipe

        import_mediapipe()
    except ImportError:
        pass  # serve() reports it once the options arrive
    msg = conn.recv()
    if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "options" and \
            isinstance(msg[1], dict):
        return msg[1]
    return None


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    try:
        options = _options_when_told(conn)
        if options is not None:
            serve(conn, options)
    except (OSError, EOFError):  # the parent closed the socket first: nothing to report to
        pass
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
