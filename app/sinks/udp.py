"""Stream hand joints as one JSON datagram per frame over UDP.

Schema (UTF-8 JSON object, one per datagram, "format": "handtrack-udp-1"):
    {"format": "handtrack-udp-1",
     "frame": int,              frame id (gaps = dropped frames)
     "time": float,             capture time, seconds since the Unix epoch (full double precision)
     "width": int, "height": int,  frame size in pixels
     "source": {"kind": str, "index": int, "name": str | null, "time_s": float | null} | null,
                                where the frame is in its source (FrameOrigin): image file name,
                                video frame index and timestamp (s), recorded frame id and time
     "hands": [{"id": int, "side": 0 left | 1 right, "confidence": float 0..1,
                "joints_m": [[x, y, z] * 21],   metres, camera frame (x right, y down, z forward)
                "uv_px": [[u, v] * 21],         pixels
                "rot": {"wrist_wxyz": [w, x, y, z], "wrist_m": [x, y, z],
                        "local_wxyz": [[w, x, y, z] * 20], "bone_m": [float * 20]} | null}],
                                joint rotations (model.rig.HandRig, docs/osc-udp.md): the wrist's
                                rotation in the camera frame, each bone's relative to its parent
                                (BONES order), rest bone lengths (m); null without a rig
     "timings_ms": {stage: float}}
Each hand also has the interaction keys of app.sinks.interaction.interaction_json ("pinch",
"grab", "curl", "palm", "extended", "pinching", "gesture", "gesture_code", "events"), absent
when gestures are off.
Joint order is model.hand.Joint (MediaPipe). Joints are rounded to 1 um, pixels to 0.001 px.
Two hands take about 5 KB; a datagram over `max_bytes` (default 60000, under the 64 KB UDP limit)
is not sent and the problem is reported once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from app.results import FrameOrigin, FrameResult
from app.sinks.interaction import interaction_json
from app.sinks.udp_sender import DatagramSender, DatagramSink

DEFAULT_UDP_PORT = 9001
FORMAT = "handtrack-udp-1"


@dataclass
class UdpConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_UDP_PORT
    max_bytes: int = 60000  # larger datagrams are not sent


def origin_json(origin: FrameOrigin | None) -> dict | None:
    """FrameResult.origin -> the "source" object of the schema (None stays None)."""
    if origin is None:
        return None
    return {"kind": str(origin.kind), "index": int(origin.index),
            "name": None if origin.name is None else str(origin.name),
            "time_s": None if origin.time_s is None else float(origin.time_s)}


def rig_json(rig) -> dict | None:
    """HandResult.rig (model.rig.HandRig or None) -> the "rot" object of the schema, quaternions
    rounded to 1e-6, metres to 1 um."""
    if rig is None:
        return None
    def r(a):
        return np.round(np.asarray(a, np.float64), 6).tolist()
    return {"wrist_wxyz": r(rig.wrist_wxyz), "wrist_m": r(rig.wrist_m),
            "local_wxyz": r(rig.local_wxyz), "bone_m": r(rig.bone_m)}


def encode_frame(result: FrameResult) -> bytes:
    """FrameResult -> UTF-8 JSON bytes (schema in the module docstring)."""
    hands = [
        {
            "id": int(h.hand_id),
            "side": int(h.side),
            "confidence": round(float(h.confidence), 4),
            "joints_m": np.round(np.asarray(h.joints_m, np.float64), 6).tolist(),  # (21, 3)
            "uv_px": np.round(np.asarray(h.uv_px, np.float64), 3).tolist(),  # (21, 2)
            **interaction_json(h.interaction),  # pinch, grab, palm, gesture, events
            "rot": rig_json(h.rig),
        }
        for h in result.hands
    ]
    obj = {
        "format": FORMAT,
        "frame": int(result.frame_id),
        "time": float(result.capture_time),
        "width": int(result.width),
        "height": int(result.height),
        "source": origin_json(result.origin),
        "hands": hands,
        "timings_ms": {k: round(float(v), 3) for k, v in result.timings_ms.items()},
    }
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


class UdpSink(DatagramSink):
    """Sends one JSON datagram per frame. Never blocks, never raises from `write`; the first
    problem is in `error` and logged once. Raises SinkConfigError for a bad host or port."""

    def __init__(self, config: UdpConfig | None = None) -> None:
        self.config = config or UdpConfig()
        self._sender = DatagramSender(self.config.host, self.config.port, "UDP", "--udp")

    def write(self, result: FrameResult, frame_rgb: np.ndarray | None = None) -> None:
        """Send one frame. frame_rgb is ignored (accepted for the sink interface)."""
        try:
            data = encode_frame(result)
        except (ValueError, TypeError) as e:
            self._sender.report("encode", f"UDP: cannot encode frame {result.frame_id} ({e}); "
                                "frame skipped")
            return
        if len(data) > self.config.max_bytes:
            self._sender.report("size", f"UDP: frame {result.frame_id} is {len(data)} bytes, over "
                                f"the {self.config.max_bytes}-byte limit ({len(result.hands)} "
                                "hands); such frames are skipped - track fewer hands")
            return
        self._sender.send(data)
