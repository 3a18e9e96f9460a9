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

Then the compiled fit (model.anatomy_fast.fit_hand_fast, compiled by warm_up() before the
timings; its compile time is printed) on the same frames: the same three ways plus the cold and
warm fit with --fast-nfev evaluations (default 20, what the compiled fit can afford in real
time), each beside a scipy reference: the same config (x scipy: its median time over the
compiled fit's), or for the --fast-nfev rows a converged scipy fit (max_nfev 100; warm-started
from its own previous fit). "cpu ms" is the compiled fit's median CPU time per hand, the
timing that other processes on the machine disturb least. Agreement is the mean and
max over the frames of the mean joint distance between the two fits, in scale bones and in mm
of a mean-size hand (scale bone 46 mm); "plausible" is the share of fits that pass
model.anatomy.plausibility (bones and bends).
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
    p.add_argument("--fast-nfev", type=int, default=20,
                   help="evaluations of the compiled fit's own rows (20)")
    args = p.parse_args(argv)
    print(describe_machine())
    if args.frames < 2 or args.noise < 0 or args.fast_nfev < 1:
        print("error: --frames must be >= 2, --noise >= 0 and --fast-nfev >= 1", file=sys.stderr)
        return 2

    from app.engine.engine import REALTIME_FIT
    from model.anatomy import FitConfig, fit_hand, plausibility
    from model.anatomy_fast import fit_hand_fast, warm_up
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

    fits: dict[tuple, list] = {}  # (solver, config, warm) -> the fits, frame by frame
    cpu_ms: dict[tuple, np.ndarray] = {}  # the same -> CPU time per fit (ms)

    def run(config: FitConfig, warm: bool, fit=fit_hand) -> tuple[np.ndarray, float]:
        times, err, prev, out = [], [], None, []
        cpu = []
        for j in seen:
            t, c = time.perf_counter(), time.process_time()
            f = fit(j, config=config, init=prev if warm else None)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            prev = f
            out.append(f)
            unit = normalise_pose(f.joints)[0]  # unit scale bone, as the engine shows it
            err.append(np.linalg.norm(unit - truth[len(err)], axis=1).mean())
        fits[fit.__name__, config, warm] = out
        cpu_ms[fit.__name__, config, warm] = np.array(cpu) * 1e3
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

    compile_s = warm_up()
    print(f"\ncompiled fit (model.anatomy_fast.fit_hand_fast): compiled in {compile_s:.1f} s; "
          f"beside scipy's on the same frames")
    fast_cfg, converged = FitConfig(max_nfev=args.fast_nfev), FitConfig(max_nfev=100)
    run(converged, True)  # the warm reference of the --fast-nfev rows
    cases = [(f"{r[0]}", FitConfig() if i == 0 else REALTIME_FIT, i == 2, None)
             for i, r in enumerate(rows)]
    cases += [(f"cold, FitConfig(max_nfev={args.fast_nfev})", fast_cfg, False, FitConfig()),
              (f"warm, FitConfig(max_nfev={args.fast_nfev})", fast_cfg, True, converged)]
    print(f"{'fit':44s} {'median ms':>10s} {'p95 ms':>8s} {'cpu ms':>7s} {'x scipy':>8s} "
          f"{'error':>7s} {'plausible':>10s} {'vs scipy: mean':>15s} {'max':>6s} {'(mm)':>6s} "
          f"{'max':>6s} {'scipy plausible':>16s}  reference")
    for name, config, warm, ref_config in cases:
        ms, err = run(config, warm, fit_hand_fast)
        ref_key = ("fit_hand", ref_config or config, warm)
        ref = fits[ref_key]
        speedup = "-" if ref_config is not None else \
            f"{np.median(next(r[1] for r in rows if r[0] == name)) / np.median(ms):.1f}"
        fast = fits["fit_hand_fast", config, warm]
        d = np.array([np.linalg.norm(a.joints - b.joints, axis=1).mean()
                      for a, b in zip(fast, ref)])  # (F,) scale bones
        ok = np.mean([_plausible(f.joints, plausibility) for f in fast]) * 100
        ok_ref = np.mean([_plausible(f.joints, plausibility) for f in ref]) * 100
        ref_name = f"scipy {'warm' if warm else 'cold'} max_nfev={ref_key[1].max_nfev}"
        cpu = np.median(cpu_ms["fit_hand_fast", config, warm])
        print(f"{'numba ' + name:44s} {np.median(ms):10.3f} {np.percentile(ms, 95):8.3f} "
              f"{cpu:7.3f} {speedup:>8s} {err:7.3f} {ok:9.1f}% {d.mean():15.4f} "
              f"{d.max():6.3f} {d.mean() * SCALE_BONE_MM:6.2f} {d.max() * SCALE_BONE_MM:6.2f} "
              f"{ok_ref:15.1f}%  {ref_name}")
    return 0


SCALE_BONE_MM = 46.0  # middle MCP -> PIP of the mean hand (model.kinematics.PHALANX_LEN)


def _plausible(joints: np.ndarray, plausibility) -> bool:
    p = plausibility(joints)
    return bool(p["bones_ok"] and p["bends_ok"])


if __name__ == "__main__":
    sys.exit(main())
