"""examples/receive.py (the receiver of docs/integrations.md) parses what the OSC and UDP sinks
send: run as a program on a free port, fed by the sinks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.results import FrameOrigin, FrameResult, HandResult
from app.sinks.osc import OscConfig, OscSink
from app.sinks.udp import UdpConfig, UdpSink

RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "receive.py"


def _hand(hand_id: int, side: int, wrist: tuple[float, float, float]) -> HandResult:
    joints = np.tile(np.asarray(wrist, np.float32), (21, 1))  # (21, 3)
    return HandResult(hand_id, side, joints, np.full((21, 2), 10.0, np.float32), 0.9)


FRAMES = [
    FrameResult(5, 1000.0, 64, 48, [_hand(0, 1, (0.1, -0.05, 0.5)),
                                    _hand(3, 0, (-0.2, 0.0, 0.6))],
                origin=FrameOrigin("video", 5, "clip.mp4", 0.2)),
    FrameResult(7, 1000.1, 64, 48),
    FrameResult(8, 1000.2, 64, 48, [_hand(3, 0, (-0.25, 0.01, 0.61))]),
]


@pytest.mark.parametrize("mode", ["osc", "osc-flat", "udp"])
def test_receiver_prints_the_hands_the_sinks_send(mode):
    flag = "--udp" if mode == "udp" else "--osc"
    proc = subprocess.Popen([sys.executable, str(RECEIVER), flag, "0", "--frames",
                             str(len(FRAMES))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        first = proc.stdout.readline()  # "listening for ... on 127.0.0.1:PORT"
        assert first.startswith("listening"), first + proc.stderr.read()
        port = int(first.rsplit(":", 1)[1])
        sink = UdpSink(UdpConfig(port=port)) if mode == "udp" else \
            OscSink(OscConfig(port=port, flat=mode == "osc-flat"))
        for f in FRAMES:
            sink.write(f)
        sink.close()
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    lines = out.splitlines()
    assert proc.returncode == 0 and len(lines) == 3, out + err
    assert lines[0].startswith("frame 5 ") and "hand 0 right wrist (+0.100, -0.050, +0.500) m" \
        in lines[0] and "hand 3 left wrist (-0.200, +0.000, +0.600) m" in lines[0], lines[0]
    assert lines[1].startswith("frame 7 ") and lines[1].endswith("no hands")
    assert lines[2].startswith("frame 8 ") and "hand 3 left wrist (-0.250, +0.010, +0.610)" \
        in lines[2]
    if mode == "udp":
        assert "t=1000.000 [clip.mp4 #5]" in lines[0]  # the JSON carries the frame's source
    elif mode == "osc":
        assert "t=1000.000" in lines[0]  # the bundle timetag
    else:
        assert "t+0.000s" in lines[0] and "t+0.200s" in lines[2]  # time_s of /handtrack/frame
