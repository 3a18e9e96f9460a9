"""Sinks of the real-time core (no Qt): recorder, OSC and JSON-over-UDP streaming, and the fan-out
that feeds them. Every sink has `write(result, frame_rgb)`, `error` and `close()` (the Sink
protocol) and is a context manager; `write` never raises into the pipeline (problems go to
`.error`, logged once). The session reader used by replay lives in app.session (re-exported).
"""

from app.session import Session, SessionError, VideoFrame, read_session
from app.sinks.errors import SinkConfigError
from app.sinks.fanout import Sink, SinkFanout
from app.sinks.osc import OscConfig, OscSink
from app.sinks.recorder import Recorder, RecorderConfig, recorder_config
from app.sinks.udp import UdpConfig, UdpSink
from app.sinks.udp_sender import parse_host_port

__all__ = [
    "OscConfig", "OscSink", "Recorder", "RecorderConfig", "Session", "SessionError", "Sink",
    "SinkConfigError", "SinkFanout", "UdpConfig", "UdpSink", "VideoFrame", "parse_host_port",
    "read_session", "recorder_config",
]
