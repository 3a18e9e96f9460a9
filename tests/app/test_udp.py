"""UdpSink: one JSON datagram per frame to a real socket on 127.0.0.1, decoded as documented."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from app.sinks import SinkConfigError, UdpConfig, UdpSink
from app.sinks.udp import FORMAT, encode_frame
from tests.app.test_session_data import make_result


@pytest.fixture
def receiver():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    yield rx
    rx.close()


def test_json_datagram_schema(receiver):
    results = [make_result(i) for i in range(3)]
    with UdpSink(UdpConfig(port=receiver.getsockname()[1])) as sink:
        for r in results:
            sink.write(r, None)
        assert sink.error is None
    for r in results:
        msg = json.loads(receiver.recv(65536).decode("utf-8"))
        assert msg["format"] == FORMAT
        assert msg["frame"] == r.frame_id and msg["time"] == r.capture_time  # full double
        assert (msg["width"], msg["height"]) == (r.width, r.height)
        assert msg["timings_ms"] == pytest.approx(r.timings_ms)
        assert [h["id"] for h in msg["hands"]] == [h.hand_id for h in r.hands]
        for got, h in zip(msg["hands"], r.hands):
            assert got["side"] == h.side
            assert got["confidence"] == pytest.approx(h.confidence, abs=1e-4)
            np.testing.assert_allclose(got["joints_m"], h.joints_m, atol=1e-6)  # rounded to 1 um
            np.testing.assert_allclose(got["uv_px"], h.uv_px, atol=1e-3)


def test_datagram_size_stays_small():
    two = len(encode_frame(make_result(1, n_hands=2)))
    eight = len(encode_frame(make_result(1, n_hands=8)))
    print(f"JSON datagram: {two} bytes with 2 hands, {eight} bytes with 8 hands")
    assert eight < 60000


def test_oversized_frame_is_skipped_and_reported(receiver):
    with UdpSink(UdpConfig(port=receiver.getsockname()[1], max_bytes=500)) as sink:
        sink.write(make_result(0, n_hands=0), None)  # small: sent
        sink.write(make_result(1, n_hands=2), None)  # too large: skipped, reported
        assert "over the 500-byte limit" in sink.error
        assert sink.stats["sent"] == 1
    assert json.loads(receiver.recv(65536))["frame"] == 0


def test_bad_port_raises_clear_error():
    with pytest.raises(SinkConfigError, match="--udp.*out of range"):
        UdpSink(UdpConfig(port=65536))
