"""Kinematic-fit benchmark (not a test): time per hand of model.anatomy.fit_hand, side by side.

    .venv/bin/python -m bench.bench_anatomy               # 200 frames of a moving hand
    .venv/bin/python -m bench.bench_anatomy --frames 400 --noise 0.15

The input imitates the decoder: a generator hand moving through the pose library at 30 fps,
shrunk to 80 % and with Gaussian joint noise (--noise, in scale bones). Three ways to fit it,
on the same frames in one run: a cold fit per frame with the evaluation config (FitConfig(),
what handtrack-eval --anatomy and bench.realworld use), a cold fit with the engine's config
(app.engine.engine.REALTIME_FIT) and the engine's warm-started fit (each frame starts from the
previous one and keeps its shape). Prints the median and p95 ms per hand, the ratio to the
evaluation config and the mean distance from the truth (scale bones) after the engine's
rescaling to a unit scale bone.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.machine import describe_machine


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_anatomy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=200, help="frames (200)")
    p.add_argument("--noise", type=float, default=0.25, help="joint noise, scale bones (0.25)")
    args = p.parse_args(argv)
    print(describe_machine())
    if args.frames < 2 or args.noise < 0:
        print("error: --frames must be >= 2 and --noise >= 0", file=sys.stderr)
        return 2

    from app.engine.engine import REALTIME_FIT
    from model.anatomy import FitConfig, fit_hand
    from model.geometry import normalise_pose
    from model.kinematics import Skeleton, forward_kinematics
    from train.synth.kinematics import POSE_LIBRARY, interpolate_keyframes

    rng = np.random.default_rng(0)
    keys = [POSE_LIBRARY[k] for k in sorted(POSE_LIBRARY)]
    truth = np.stack([normalise_pose(forward_kinematics(
        interpolate_keyframes(keys, i / 30.0, 1.5), Skeleton.mean())[0])[0]
        for i in range(args.frames)])  # (F, 21, 3) scale bones
    seen = 0.8 * truth + rng.normal(0.0, args.noise, truth.shape)
    fit_hand(seen[0])  # compile the numba kernel outside the timings

    def run(config: FitConfig, warm: bool) -> tuple[np.ndarray, float]:
        times, err, prev = [], [], None
        for j in seen:
            t = time.perf_counter()
            f = fit_hand(j, config=config, init=prev if warm else None)
            times.append(time.perf_counter() - t)
            prev = f
            unit = normalise_pose(f.joints)[0]  # unit scale bone, as the engine shows it
            err.append(np.linalg.norm(unit - truth[len(err)], axis=1).mean())
        return np.array(times) * 1e3, float(np.mean(err))

    rows = [("cold, evaluation config (FitConfig())", *run(FitConfig(), False)),
            ("cold, engine config (REALTIME_FIT)", *run(REALTIME_FIT, False)),
            ("warm, engine config (as the engine runs)", *run(REALTIME_FIT, True))]
    raw = float(np.linalg.norm(seen - truth, axis=2).mean())
    base = np.median(rows[0][1])
    print(f"{args.frames} frames, noise {args.noise} scale bones; input's mean distance from "
          f"the truth {raw:.3f} scale bones")
    print(f"{'fit':44s} {'median ms':>10s} {'p95 ms':>8s} {'x eval':>7s} {'error':>7s}")
    for name, ms, err in rows:
        print(f"{name:44s} {np.median(ms):10.2f} {np.percentile(ms, 95):8.2f} "
              f"{np.median(ms) / base:7.2f} {err:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
