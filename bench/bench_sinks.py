"""Cost per frame of the sinks on the pipeline thread (median ms), and the recorder's background
throughput. Run: .venv/bin/python -m bench.bench_sinks [--frames 300]"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from app.results import FrameResult, HandResult
from app.sinks import (
    OscConfig,
    OscSink,
    Recorder,
    RecorderConfig,
    SinkFanout,
    UdpConfig,
    UdpSink,
)
from bench.machine import describe_machine


def frames(n: int, width: int, height: int, hands: int = 2):
    """n (FrameResult, (H, W, 3) uint8 RGB) pairs with moving content."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    for i in range(n):
        hs = [HandResult(k, k % 2, rng.normal([0, 0, 0.5], 0.05, (21, 3)),
                         rng.uniform(0, [width, height], (21, 2)), 0.9) for k in range(hands)]
        img = np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256,
                        np.full_like(x, i % 256)], -1).astype(np.uint8)
        yield FrameResult(i, time.time(), width, height, hs), img


def _median_ms(sink, items) -> float:
    times = []
    for r, img in items:
        t = time.perf_counter()
        sink.write(r, img)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def _drain(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            sock.recv(65536)
        except TimeoutError:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="640x480", help="video frame size WxH")
    args = ap.parse_args()
    print(describe_machine())
    w, h = (int(v) for v in args.size.split("x"))
    items = list(frames(args.frames, w, h))
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    stop = threading.Event()
    threading.Thread(target=_drain, args=(rx, stop), daemon=True).start()
    port = rx.getsockname()[1]
    print(f"{args.frames} frames, 2 hands, {w}x{h}; median cost per frame on the caller thread:")
    for name, sink in [("OSC bundle", OscSink(OscConfig(port=port))),
                       ("OSC flat", OscSink(OscConfig(port=port, flat=True))),
                       ("UDP JSON", UdpSink(UdpConfig(port=port)))]:
        with sink:
            ms = _median_ms(sink, items)
        print(f"  {name:<18} {ms:7.4f} ms  (sent {sink.stats['sent']}, dropped "
              f"{sink.stats['dropped']})")
    with SinkFanout() as fanout:  # what the CLI and the window call per frame
        fanout.add("osc", OscSink(OscConfig(port=port)))
        fanout.add("udp", UdpSink(UdpConfig(port=port)))
        ms = _median_ms(fanout, items)
    print(f"  {'fan-out OSC+UDP':<18} {ms:7.4f} ms  (both sinks and the error poll)")
    stop.set()
    with tempfile.TemporaryDirectory() as tmp:
        for video in (False, True):
            rec = Recorder(RecorderConfig(path=Path(tmp) / f"s{video}", video=video,
                                          video_queue=args.frames))
            t0 = time.perf_counter()
            ms = _median_ms(rec, items)
            rec.close()
            total = time.perf_counter() - t0
            label = "record CSV+video" if video else "record CSV only"
            print(f"  {label:<18} {ms:7.4f} ms  (background: all {args.frames} frames on disk "
                  f"after {total:.2f} s = {args.frames / total:.0f} frames/s; video dropped "
                  f"{rec.video_dropped})")


if __name__ == "__main__":
    main()
