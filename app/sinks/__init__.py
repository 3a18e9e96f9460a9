"""Sinks of the real-time core (no Qt): recorder, OSC and JSON-over-UDP streaming, and the
session reader used by replay. Every sink has `write(result, frame_rgb)` and `close()` and is a
context manager; `write` never raises into the pipeline (problems go to `.error`, logged once).
"""

from app.sinks.errors import SessionError, SinkConfigError
from app.sinks.net import parse_host_port
from app.sinks.osc import OscConfig, OscSink
from app.sinks.recorder import Recorder, RecorderConfig
from app.sinks.session import Session, VideoFrame, read_session
from app.sinks.udp import UdpConfig, UdpSink

__all__ = [
    "OscConfig", "OscSink", "Recorder", "RecorderConfig", "Session", "SessionError",
    "SinkConfigError", "UdpConfig", "UdpSink", "VideoFrame", "parse_host_port", "read_session",
]
