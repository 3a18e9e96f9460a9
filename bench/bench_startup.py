"""Start-up time and memory of the real command (not a test): `handtrack --demo --headless`.

    .venv/bin/python -m bench.bench_startup [--runs 3] [--frames 300] [-- extra handtrack flags]

Each run starts `handtrack --demo --headless --frames N` as a new process and reports: the
seconds from starting the process to the first processed frame (the line handtrack prints when
its first result is out), the resident memory (VmRSS) of handtrack's own process and of
everything it started (the MediaPipe detector process), sampled every 20 ms, at the first frame
and at its peak, and the wall time of the whole run. Medians over the runs; the first run may
pay for cold disk caches, so it is printed apart. Variants: the default; --precision fp32;
--no-overlap (MediaPipe in-process).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.machine import describe_machine

HANDTRACK = Path(sys.executable).with_name("handtrack")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def run_once(frames: int, extra: list[str]) -> dict:
    """One handtrack run; returns first_frame_s, rss_first_mb / rss_peak_mb (own process),
    total_first_mb / total_peak_mb (with its children), wall_s."""
    env = dict(os.environ, GLOG_minloglevel="2")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(HANDTRACK), "--demo", "--headless", "--frames", str(frames),
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    out: dict = {"first_frame_s": float("nan")}
    peak = [0.0, 0.0]
    first = threading.Event()

    def sample() -> None:
        while proc.poll() is None:
            own = _rss_mb(proc.pid)
            total = own + sum(_rss_mb(c) for c in _children(proc.pid))
            peak[0], peak[1] = max(peak[0], own), max(peak[1], total)
            if first.is_set() and "rss_first_mb" not in out:
                out["rss_first_mb"], out["total_first_mb"] = own, total
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in proc.stderr:
        if line.startswith("first frame processed") and not first.is_set():
            out["first_frame_s"] = time.perf_counter() - t0
            first.set()
    proc.wait()
    out["wall_s"] = time.perf_counter() - t0
    sampler.join(1.0)
    out["rss_peak_mb"], out["total_peak_mb"] = peak
    out.setdefault("rss_first_mb", float("nan"))
    out.setdefault("total_first_mb", float("nan"))
    if proc.returncode != 0:
        raise SystemExit(f"error: handtrack {' '.join(extra)} exited with {proc.returncode}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_startup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per variant (3)")
    p.add_argument("--frames", type=int, default=300, help="frames per run (300)")
    args, extra = p.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    print(describe_machine())
    if not HANDTRACK.exists():
        print(f"error: {HANDTRACK} not found; run `make venv` first", file=sys.stderr)
        return 2
    print(f"handtrack --demo --headless --frames {args.frames} {' '.join(extra)}, "
          f"{args.runs} runs each")
    print("\n| variant | first frame s (median) | first run | own RSS MB at first frame / "
          "peak | with the detector process MB at first frame / peak | run s |")
    print("|---|---|---|---|---|---|")
    for name, flags in (("default", []), ("--precision fp32", ["--precision", "fp32"]),
                        ("--no-overlap (MediaPipe in-process)", ["--no-overlap"])):
        runs = [run_once(args.frames, [*flags, *extra]) for _ in range(args.runs)]

        def med(key: str, runs: list[dict] = runs) -> float:
            return float(np.median([r[key] for r in runs]))

        print(f"| {name} | {med('first_frame_s'):.2f} | {runs[0]['first_frame_s']:.2f} "
              f"| {med('rss_first_mb'):.0f} / {med('rss_peak_mb'):.0f} "
              f"| {med('total_first_mb'):.0f} / {med('total_peak_mb'):.0f} "
              f"| {med('wall_s'):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
