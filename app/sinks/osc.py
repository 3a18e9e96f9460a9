"""Stream hand joints over OSC (UDP), e.g. to TouchDesigner, Max, Pure Data or Unity.

Bundled mode (default): one OSC bundle per processed frame; its timetag is the exact capture
time (NTP, about 1 us resolution as sent by python-osc). It holds
    /handtrack/frame             i frame_id, f time_s, i hands
    /handtrack/hand/{id}/joints  63 f: x0 y0 z0 ... x20 y20 z20, metres, camera frame
    /handtrack/hand/{id}/uv      42 f: u0 v0 ... u20 v20, pixels
    /handtrack/hand/{id}/info    i side (0 left, 1 right), f confidence (0..1)
    /handtrack/hand/{id}/rot     84 f: wrist quaternion w x y z (camera frame), then the 20
                                 bones' local quaternions w x y z (model.hand.BONES order,
                                 relative to the parent bone; model.rig), only with a rig
    /handtrack/hand/{id}/pinch   4 f: pinch strength 0..1, thumb to index, middle, ring, little
    /handtrack/hand/{id}/grab    f grab strength 0..1
    /handtrack/hand/{id}/gesture s name, i code (app.engine.gestures: none 0, open_palm 1,
                                 grab 2, point 3, thumbs_up 4, victory 5)
    /handtrack/hand/{id}/event   s name, i code: one message per event of this frame (gesture
                                 events carry the gesture's code, pinch_{finger}_start 11..14,
                                 pinch_{finger}_end 21..24); the four interaction addresses
                                 only while gestures are on (HandResult.interaction set)
Flat mode (`flat=True`, --osc-flat): plain messages, no bundle, one datagram each:
    /handtrack/frame             i frame_id, f time_s, i hands
    /handtrack/hand/{id}         i side, f confidence, 63 f joints, 42 f uv  (107 arguments)
    /handtrack/hand/{id}/pinch, /grab, /gesture, /event   as above (with gestures on)
    /handtrack/hand/{id}/rot     84 f as above (only with a rig)

Only int32 ('i') and float32 ('f') arguments are sent, because TouchDesigner's OSC In CHOP
and others accept nothing else; the exception are the names of /gesture and /event ('s', for an
OSC In DAT or a text receiver), which also carry the int code. time_s is float32 seconds since
the sink's time origin (the capture time of the first frame sent, or `OscConfig.time_origin_s`):
float32 keeps ~0.25 ms resolution for an hour (~8 ms after a day). The exact absolute capture
time is in the bundle timetag. Joint order is model.hand.Joint (MediaPipe). A hand that is no
longer tracked simply stops being sent; the `hands` count of /handtrack/frame tells receivers
how many are live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from app.results import FrameResult, HandResult
from app.sinks.errors import SinkConfigError
from app.sinks.udp_sender import DatagramSender, DatagramSink

DEFAULT_OSC_PORT = 9000


@dataclass
class OscConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_OSC_PORT
    flat: bool = False  # one message per hand instead of a bundle per frame
    prefix: str = "/handtrack"  # address prefix, must start with '/'
    time_origin_s: float | None = None  # epoch seconds for time_s; None = first frame sent


def _message(address: str, ints: tuple[int, ...] = (), floats=(), ints_after=(),
             text: str | None = None) -> object:
    b = OscMessageBuilder(address=address)
    if text is not None:
        b.add_arg(str(text), "s")
    for v in ints:
        b.add_arg(int(v), "i")
    for v in floats:
        b.add_arg(float(v), "f")
    for v in ints_after:
        b.add_arg(int(v), "i")
    return b.build()


def bundle_dgram(time_s: float, messages: list) -> bytes:
    """An OSC bundle datagram with timetag time_s (epoch seconds) holding the messages.

    Same bytes as pythonosc's OscBundleBuilder, without its build() step that parses the
    finished bundle again (that re-parse costs about 1 ms per frame)."""
    parts = [b"#bundle\x00", osc_types.write_date(time_s)]
    for m in messages:
        parts += [osc_types.write_int(m.size), m.dgram]
    return b"".join(parts)


class OscSink(DatagramSink):
    """Sends every FrameResult as OSC (see the module docstring for the layout).

    `write` never blocks (non-blocking UDP socket; a full buffer drops the frame) and never
    raises; the first send problem is in `error` and logged once. Raises SinkConfigError at
    construction for a host that does not resolve or a port out of range.
    """

    def __init__(self, config: OscConfig | None = None) -> None:
        self.config = config or OscConfig()
        if not self.config.prefix.startswith("/"):
            raise SinkConfigError(f"OSC prefix {self.config.prefix!r} must start with '/'")
        self._sender = DatagramSender(self.config.host, self.config.port, "OSC", "--osc")
        self._t0 = self.config.time_origin_s

    def _time_s(self, capture_time: float) -> float:
        if self._t0 is None:
            self._t0 = capture_time
        return capture_time - self._t0

    def messages(self, result: FrameResult) -> list:
        """The OscMessages for one frame, in sending order (frame first)."""
        p = self.config.prefix
        out = [_message(f"{p}/frame", (result.frame_id,), (self._time_s(result.capture_time),),
                        (len(result.hands),))]
        for h in result.hands:
            out.extend(self._hand_messages(p, h))
        return out

    def _hand_messages(self, p: str, h: HandResult) -> list:
        joints = np.asarray(h.joints_m, dtype=np.float32).reshape(-1).tolist()  # (63,)
        uv = np.asarray(h.uv_px, dtype=np.float32).reshape(-1).tolist()  # (42,)
        if self.config.flat:
            b = OscMessageBuilder(address=f"{p}/hand/{h.hand_id}")
            b.add_arg(int(h.side), "i")
            b.add_arg(float(h.confidence), "f")
            for v in joints + uv:
                b.add_arg(v, "f")
            return [b.build()] + self._interaction_messages(p, h) + self._rot_messages(p, h)
        return [
            _message(f"{p}/hand/{h.hand_id}/joints", (), joints),
            _message(f"{p}/hand/{h.hand_id}/uv", (), uv),
            _message(f"{p}/hand/{h.hand_id}/info", (h.side,), (h.confidence,)),
        ] + self._interaction_messages(p, h) + self._rot_messages(p, h)

    @staticmethod
    def _rot_messages(p: str, h: HandResult) -> list:
        """[/hand/{id}/rot] with the 84 rotation floats, or [] without a rig."""
        if h.rig is None:
            return []
        return [_message(f"{p}/hand/{h.hand_id}/rot", (), h.rig.rotations().tolist())]

    @staticmethod
    def _interaction_messages(p: str, h: HandResult) -> list:
        """/pinch, /grab, /gesture and one /event per event, or [] without an interaction."""
        inter = h.interaction
        if inter is None:
            return []
        a = f"{p}/hand/{h.hand_id}"
        m = inter.measures
        return [_message(f"{a}/pinch", (), [float(v) for v in m.pinch]),  # (4,)
                _message(f"{a}/grab", (), (float(m.grab),)),
                _message(f"{a}/gesture", (inter.gesture_code,), text=inter.gesture),
                ] + [_message(f"{a}/event", (e.code,), text=e.name) for e in inter.events]

    def write(self, result: FrameResult, frame_rgb: np.ndarray | None = None) -> None:
        """Send one frame. frame_rgb is ignored (accepted for the sink interface)."""
        try:
            msgs = self.messages(result)
            if self.config.flat:
                for m in msgs:
                    self._sender.send(m.dgram)
                return
            self._sender.send(bundle_dgram(result.capture_time, msgs))
        except Exception as e:  # a malformed result must not stop tracking
            self._sender.report("encode", f"OSC: cannot encode frame {result.frame_id} ({e}); "
                                "frame skipped")
