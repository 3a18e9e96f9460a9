"""Receive what handtrack streams: a starting point for your own code (docs/integrations.md).

    python examples/receive.py --osc 9000   # from: handtrack --osc 127.0.0.1:9000 [--osc-flat]
    python examples/receive.py --udp 9001   # from: handtrack --udp 127.0.0.1:9001

Prints one line per frame: frame id, time, and per hand its id, side and wrist position in
metres (camera frame: x right, y down, z forward). Port 0 picks a free port (printed first).
--osc needs python-osc (pip install python-osc); --udp needs only the standard library.
Layouts: docs/osc-udp.md.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys

SIDES = ("left", "right")


def udp_frame(data: bytes) -> dict:
    """One handtrack-udp-1 datagram -> its frame dict (the JSON object as it is)."""
    return json.loads(data.decode("utf-8"))


class OscFrames:
    """Rebuilds frames from OSC datagrams, bundled (the default) or flat (--osc-flat), into the
    same dict as the UDP JSON: {"frame", "time" (bundle timetag, epoch s, or None), "time_s",
    "hands": [{"id", "side", "confidence", "joints_m": [[x, y, z] * 21], "uv_px"}]}."""

    def __init__(self, prefix: str = "/handtrack"):
        self.prefix = prefix
        self._frame: dict | None = None
        self._expected = 0

    def feed(self, data: bytes) -> list[dict]:
        """One datagram -> the frames it completes (usually 0 or 1)."""
        from pythonosc.osc_bundle import OscBundle
        from pythonosc.osc_message import OscMessage

        if OscBundle.dgram_is_bundle(data):  # the timetag is the capture time (epoch s)
            bundle = OscBundle(data)
            timetag, messages = bundle.timestamp, [m for m in bundle if isinstance(m, OscMessage)]
        else:
            timetag, messages = None, [OscMessage(data)]
        done = []
        for msg in messages:
            if msg.address == f"{self.prefix}/frame":
                if self._frame is not None:  # a frame whose hands did not all arrive
                    done.append(self._frame)
                frame_id, time_s, hands = msg.params
                self._frame = {"frame": frame_id, "time": timetag, "time_s": time_s,
                               "hands": []}
                self._expected = hands
            elif self._frame is not None and msg.address.startswith(f"{self.prefix}/hand/"):
                self._hand_message(msg.address[len(self.prefix) + 6:].split("/"), msg.params)
        if self._frame is not None and self._complete():
            done.append(self._frame)
            self._frame = None
        return done

    def _hand(self, hand_id: int) -> dict:
        for h in self._frame["hands"]:
            if h["id"] == hand_id:
                return h
        h = {"id": hand_id}
        self._frame["hands"].append(h)
        return h

    def _hand_message(self, parts: list[str], args: list) -> None:
        try:
            h = self._hand(int(parts[0]))
        except ValueError:
            return
        what = parts[1] if len(parts) > 1 else "flat"
        if what == "flat":  # i side, f confidence, 63 f joints, 42 f uv
            h["side"], h["confidence"] = args[0], args[1]
            args = args[2:]
            h["joints_m"] = [args[i:i + 3] for i in range(0, 63, 3)]
            h["uv_px"] = [args[i:i + 2] for i in range(63, 105, 2)]
        elif what == "joints":
            h["joints_m"] = [args[i:i + 3] for i in range(0, 63, 3)]
        elif what == "uv":
            h["uv_px"] = [args[i:i + 2] for i in range(0, 42, 2)]
        elif what == "info":
            h["side"], h["confidence"] = args[0], args[1]
        # other messages (/rot, /pinch...) are not needed here

    def _complete(self) -> bool:
        hands = self._frame["hands"]
        return len(hands) >= self._expected and all(
            "side" in h and "joints_m" in h for h in hands)


def format_frame(frame: dict) -> str:
    """A one-line summary of a frame dict."""
    t = frame.get("time")
    when = f"t={t:.3f}" if t is not None else f"t+{frame.get('time_s', 0.0):.3f}s"
    hands = [f"hand {h['id']} {SIDES[h['side']]} wrist "
             f"({h['joints_m'][0][0]:+.3f}, {h['joints_m'][0][1]:+.3f}, "
             f"{h['joints_m'][0][2]:+.3f}) m" for h in frame["hands"]]
    source = frame.get("source") or {}
    where = f" [{source.get('name') or source.get('kind')} #{source.get('index')}]" \
        if source else ""
    return f"frame {frame['frame']} {when}{where}: " + ("; ".join(hands) or "no hands")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--osc", type=int, metavar="PORT", help="receive OSC on PORT (9000)")
    which.add_argument("--udp", type=int, metavar="PORT", help="receive UDP JSON on PORT (9001)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (0: run on)")
    args = p.parse_args(argv)
    osc = OscFrames() if args.osc is not None else None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((args.host, args.osc if osc is not None else args.udp))
    except OSError as e:
        print(f"error: cannot listen on {args.host} ({e}); pick another port or stop the "
              "program that uses it", file=sys.stderr)
        return 1
    kind = "OSC" if osc is not None else "UDP JSON"
    print(f"listening for {kind} on {args.host}:{sock.getsockname()[1]}", flush=True)
    n = 0
    try:
        while not args.frames or n < args.frames:
            data, _ = sock.recvfrom(65536)
            for frame in osc.feed(data) if osc is not None else [udp_frame(data)]:
                print(format_frame(frame), flush=True)
                n += 1
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
