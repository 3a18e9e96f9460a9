"""OscSink against a real python-osc server on 127.0.0.1: every address and value as documented."""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_server import ThreadingOSCUDPServer

from app.sinks import OscConfig, OscSink, SinkConfigError, parse_host_port
from tests.app.test_session_data import T0, make_result


@pytest.fixture
def server():
    """A python-osc server on an ephemeral 127.0.0.1 port collecting (address, args)."""
    got: list[tuple[str, tuple]] = []
    lock = threading.Lock()

    def handler(address, *args):
        with lock:
            got.append((address, args))

    d = Dispatcher()
    d.set_default_handler(handler)
    srv = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
    th = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    th.start()
    yield srv.server_address[1], got
    srv.shutdown()
    srv.server_close()


def _wait(got, n, timeout=3.0):
    end = time.time() + timeout
    while len(got) < n and time.time() < end:
        time.sleep(0.01)
    return got


def _f32(a) -> list[float]:
    return [float(v) for v in np.asarray(a, np.float32).reshape(-1)]


def test_bundle_messages_decode_exactly(server):
    port, got = server
    results = [make_result(i) for i in range(3)]  # 0, 1, 2 hands
    with OscSink(OscConfig(port=port)) as sink:
        for r in results:
            sink.write(r, None)
            _wait(got, sum(1 + 3 * len(x.hands) for x in results[: r.frame_id + 1]))
        assert sink.error is None
    by_addr: dict[str, list[tuple]] = {}
    for address, args in got:
        by_addr.setdefault(address, []).append(args)
    frames = by_addr.pop("/handtrack/frame")
    assert len(frames) == 3
    for r, args in zip(results, frames):
        fid, t_s, hands = args
        assert isinstance(fid, int) and isinstance(hands, int)
        assert fid == r.frame_id and hands == len(r.hands)
        assert t_s == float(np.float32(r.capture_time - T0))  # float32 seconds since the first
    expected = {}
    for r in results:
        for h in r.hands:
            expected[f"/handtrack/hand/{h.hand_id}/joints"] = tuple(_f32(h.joints_m))
            expected[f"/handtrack/hand/{h.hand_id}/uv"] = tuple(_f32(h.uv_px))
            conf = float(np.float32(h.confidence))
            expected[f"/handtrack/hand/{h.hand_id}/info"] = (h.side, conf)
    assert set(by_addr) == set(expected)
    for address, args in expected.items():
        assert by_addr[address] == [args], address
    assert all(len(v[0]) == 63 for k, v in by_addr.items() if k.endswith("/joints"))
    assert all(len(v[0]) == 42 for k, v in by_addr.items() if k.endswith("/uv"))


def test_bundle_timetag_is_capture_time():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    r = make_result(2)
    with OscSink(OscConfig(port=rx.getsockname()[1])) as sink:
        sink.write(r, None)
        data = rx.recv(65536)
    rx.close()
    bundle = OscBundle(data)
    assert abs(bundle.timestamp - r.capture_time) < 2e-6  # NTP timetag, double precision
    assert bundle.num_contents == 1 + 3 * len(r.hands)
    assert next(iter(bundle)).address == "/handtrack/frame"


def test_flat_mode_one_message_per_hand(server):
    port, got = server
    r = make_result(5, n_hands=2)
    with OscSink(OscConfig(port=port, flat=True, time_origin_s=T0)) as sink:
        sink.write(r, None)
        _wait(got, 3)
    (frame,) = [a for addr, a in got if addr == "/handtrack/frame"]  # threads: any order
    assert frame == (5, float(np.float32(r.capture_time - T0)), 2)
    for h in r.hands:
        (args,) = [a for addr, a in got if addr == f"/handtrack/hand/{h.hand_id}"]
        assert len(args) == 107
        assert args[0] == h.side and isinstance(args[0], int)
        assert args[1] == float(np.float32(h.confidence))
        assert list(args[2:65]) == _f32(h.joints_m)
        assert list(args[65:]) == _f32(h.uv_px)


def test_nothing_listening_is_reported_once(caplog):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # now nothing listens there: 127.0.0.1 answers ICMP port unreachable
    with caplog.at_level(logging.WARNING), OscSink(OscConfig(port=port)) as sink:
        end = time.time() + 2.0
        for i in range(200):
            sink.write(make_result(i), None)  # never raises
            if sink.stats["failed"] >= 3 or time.time() > end:
                break
            time.sleep(0.005)
        assert sink.stats["failed"] >= 3
        assert "nothing is listening" in sink.error
    assert sum("nothing is listening" in m for m in caplog.messages) == 1


@pytest.mark.parametrize("host, port, words", [
    ("x" * 64 + ".invalid", 9000, "does not resolve"),  # IDNA rejects it, no DNS query
    ("127.0.0.1", 0, "out of range"),
    ("127.0.0.1", 70000, "out of range"),
])
def test_bad_address_raises_clear_error(host, port, words):
    with pytest.raises(SinkConfigError, match=words):
        OscSink(OscConfig(host=host, port=port))


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:9001", ("127.0.0.1", 9001)),
    (":7000", ("127.0.0.1", 7000)),
    ("localhost", ("localhost", 9000)),
    ("[::1]:9002", ("::1", 9002)),
])
def test_parse_host_port(text, expected):
    assert parse_host_port(text, 9000) == expected


@pytest.mark.parametrize("text", ["host:abc", "host:99999", "[::1"])
def test_parse_host_port_rejects(text):
    with pytest.raises(SinkConfigError, match="--osc"):
        parse_host_port(text, 9000)


def test_bundle_bytes_match_python_osc_builder():
    from pythonosc.osc_bundle_builder import OscBundleBuilder

    from app.sinks.osc import bundle_dgram

    r = make_result(2)
    with OscSink(OscConfig(time_origin_s=T0)) as sink:
        msgs = sink.messages(r)
    builder = OscBundleBuilder(r.capture_time)
    for m in msgs:
        builder.add_content(m)
    assert bundle_dgram(r.capture_time, msgs) == builder.build().dgram


@pytest.mark.parametrize("flat", [False, True])
def test_interaction_messages(flat):
    """/pinch, /grab, /gesture and /event of a hand with an interaction, in the same bundle as
    its joints (or as plain messages in flat mode); a hand without one sends none of them."""
    from pythonosc.osc_message import OscMessage

    from tests.app.test_session_data import make_interaction

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    r = make_result(4, n_hands=2)
    h = r.hands[0]
    h.interaction = make_interaction(0, events=(("thumbs_up", 4), ("pinch_index_start", 11)))
    with OscSink(OscConfig(port=rx.getsockname()[1], flat=flat)) as sink:
        sink.write(r, None)
        if flat:
            msgs = []
            while len(msgs) < 3 + 5:  # frame, 2 hands, pinch, grab, gesture, 2 events
                msgs.append(OscMessage(rx.recv(65536)))
        else:
            msgs = list(OscBundle(rx.recv(65536)))
    rx.close()
    by_addr: dict[str, list[list]] = {}
    for m in msgs:
        by_addr.setdefault(m.address, []).append(m.params)
    a = f"/handtrack/hand/{h.hand_id}"
    inter = h.interaction
    assert by_addr[f"{a}/pinch"] == [_f32(inter.measures.pinch)]
    assert by_addr[f"{a}/grab"] == [[float(np.float32(inter.measures.grab))]]
    assert by_addr[f"{a}/gesture"] == [["thumbs_up", 4]]
    assert by_addr[f"{a}/event"] == [["thumbs_up", 4], ["pinch_index_start", 11]]
    other = f"/handtrack/hand/{r.hands[1].hand_id}"
    assert not any(k.startswith(other + "/") and k.rsplit("/", 1)[1] in
                   ("pinch", "grab", "gesture", "event") for k in by_addr)
    if not flat:
        addrs = [m.address for m in msgs]
        assert addrs.index(f"{a}/joints") < addrs.index(f"{a}/pinch")  # the hand's own block
