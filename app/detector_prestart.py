"""MediaPipe's detector process, started before the rest of handtrack is imported.

    prestart()            # at the top of `handtrack` (app/launch.py): spawn the child now
    started = take()      # app.engine.detect_process.DetectorProcess: adopt it, or None

The child (`python -m model.mediapipe_server FD`, model/mediapipe_server.py) imports MediaPipe
(about 0.4 s) while this process imports numba, onnxruntime and the engine (about 0.35 s) on the
other core, then waits for its options; without this the import began only once the engine
opened its detector, and the first frame waited for it. A child nobody takes ends when this
process exits (its socket closes). Imports the standard library only: it runs before anything
else is loaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # where the child finds model/

_lock = threading.Lock()
_started: tuple[subprocess.Popen, socket.socket] | None = None


def spawn() -> tuple[subprocess.Popen, socket.socket]:
    """Start `python -m model.mediapipe_server FD` in a session of its own (the terminal's
    Ctrl+C reaches the parent only), stdin closed; returns the process and this side's end of
    the socket pair. The child imports MediaPipe, then reads ("options", {...}) from the
    socket. Raises OSError when it cannot be started."""
    ours, theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    args = [sys.executable, "-m", "model.mediapipe_server", str(theirs.fileno())]
    try:
        proc = subprocess.Popen(args, pass_fds=(theirs.fileno(),), env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return proc, ours


def prestart() -> bool:
    """Spawn the child ahead of its options (once; a failure is left for the engine to meet and
    report when it starts its own); returns whether one is waiting to be taken."""
    global _started
    with _lock:
        if _started is None:
            try:
                _started = spawn()
            except OSError:
                return False
        return True


def take() -> tuple[subprocess.Popen, socket.socket] | None:
    """The prestarted child and its socket (then no longer held here), or None: not started,
    taken already, or it has exited."""
    global _started
    with _lock:
        started, _started = _started, None
    if started is not None and started[0].poll() is not None:
        started[1].close()
        return None
    return started


def discard() -> None:
    """Close a prestarted child that nobody took (it exits when its socket closes)."""
    started = take()
    if started is not None:
        started[1].close()
        try:
            started[0].wait(timeout=10)  # it may still be importing MediaPipe
        except subprocess.TimeoutExpired:
            started[0].kill()
