"""bf16 autocast against float32 over a whole training run: the same strategy, seed, data and
sample order trained twice, once per precision, their loss curves in one figure and both
checkpoints evaluated on the evaluation split.

    python -m train.experiments.precision --data synth:runs/table1-long/data --strategy s4 \\
        --steps 600 --out runs/precision --figure docs/results/precision_s4.png

Prints a markdown table (precision, samples per second, the mean loss of the last tenth of the
logged rows, the relative difference of that loss to float32, EPE and AUC on the evaluation
split) and writes the figure: the total loss of both runs against the step, and their ratio.
bf16 runs at the CPU's speed only with AVX512-BF16 or AMX (elsewhere it is emulated and slower);
the machine is printed. Finished runs are reused (their last.pt), so the command can be re-run.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.machine import describe_machine
from model.net_config import NetConfig
from train.cli_eval import evaluate_checkpoints
from train.experiments.options import add_network_size_options, run_experiment, run_finished
from train.loop import TrainConfig, train

PRECISIONS = ("fp32", "bf16")


@dataclass
class PrecisionConfig:
    data: str = ""  # synth:PATH with training and evaluation splits
    strategy: str = "s4"
    out: str = "runs/precision"
    figure: str = "docs/results/precision.png"
    steps: int = 600
    batch_size: int = 32
    lr: float = 3e-4
    seed: int = 0
    crop_size: int = 64
    cloud_points: int = 256
    heatmap_size: int = 32
    workers: int = 1
    eval_samples: int = 0  # 0: the whole evaluation split


def read_log(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps (N,), total loss (N,)) of a run's log.csv."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no logged rows")
    return (np.array([int(r["step"]) for r in rows]),
            np.array([float(r["total"]) for r in rows]))


def tail_mean(loss: np.ndarray, frac: float = 0.1) -> float:
    """Mean of the last `frac` of the logged losses (at least one row)."""
    k = max(1, int(round(len(loss) * frac)))
    return float(np.mean(loss[-k:]))


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path,
                title: str) -> Path:
    """Loss against step per precision (top) and each curve over the float32 one (bottom)."""
    from train import plots

    plt = plots.plt
    fig, (a, b) = plt.subplots(2, 1, figsize=(6.0, 5.0), sharex=True,
                               gridspec_kw={"height_ratios": [2, 1]})
    for label, (s, y) in curves.items():
        a.plot(s, y, label=label, lw=1.4)
    a.set_ylabel("training loss (total)")
    a.set_yscale("log")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    a.set_title(title)
    s0, y0 = curves["fp32"]
    for label, (s, y) in curves.items():
        if label != "fp32":
            n = min(len(y), len(y0))
            b.plot(s[:n], y[:n] / y0[:n], lw=1.2, label=f"{label} / fp32")
    b.axhline(1.0, color="k", lw=0.8)
    b.set_xlabel("step")
    b.set_ylabel("loss ratio")
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    return plots._save(fig, path)


def run(c: PrecisionConfig) -> list[dict]:
    """Train (or reuse) both precisions, evaluate both; returns one row per precision."""
    net = NetConfig(crop_size=c.crop_size, cloud_points=c.cloud_points,
                    heatmap_size=c.heatmap_size)
    rows, curves = [], {}
    for prec in PRECISIONS:
        out = Path(c.out) / prec
        ckpt = out / "last.pt"
        rate = None
        if not run_finished(ckpt, c.steps):
            cfg = TrainConfig(strategy=c.strategy, data=c.data, eval_data="none", out=str(out),
                              steps=c.steps, batch_size=c.batch_size, lr=c.lr, seed=c.seed,
                              workers=c.workers, precision=prec, resume=ckpt.exists(),
                              log_every=max(1, c.steps // 60), ckpt_every=max(50, c.steps // 6))
            print(f"== {c.strategy} in {prec}, {c.steps} steps", flush=True)
            t = time.perf_counter()
            res = train(cfg, net)
            if res["interrupted"]:
                raise KeyboardInterrupt
            rate = c.steps * c.batch_size / (time.perf_counter() - t)
        steps, loss = read_log(out / "log.csv")
        curves[prec] = (steps, loss)
        ev = evaluate_checkpoints([ckpt], c.data, "evaluation", None, labels=[prec],
                                  batch_size=c.batch_size, figures=False, progress=False,
                                  max_samples=c.eval_samples)[0]
        rows.append({"precision": prec, "rate": rate, "final_loss": tail_mean(loss),
                     "epe_mm": float(ev["metrics"]["epe_mm"]),
                     "auc": float(ev["metrics"]["auc_20_50"])})
    plot_curves(curves, c.figure, f"{c.strategy}: bf16 autocast vs float32, seed {c.seed}")
    return rows


def report(rows: list[dict], c: PrecisionConfig, command: str) -> str:
    ref = next(r for r in rows if r["precision"] == "fp32")
    lines = [f"`{command}`", "", describe_machine(), "",
             "| precision | samples/s | loss, last tenth | vs fp32 | EPE (mm) | AUC 20-50 |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        rate = "reused" if r["rate"] is None else f"{r['rate']:.1f}"
        rel = 100 * (r["final_loss"] / ref["final_loss"] - 1)
        lines.append(f"| {r['precision']} | {rate} | {r['final_loss']:.3f} | {rel:+.1f} % | "
                     f"{r['epe_mm']:.2f} | {r['auc']:.3f} |")
    lines += ["", f"![loss curves]({Path(c.figure).name})"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    d = PrecisionConfig()
    p = argparse.ArgumentParser(prog="python -m train.experiments.precision", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="synth:PATH with training and evaluation")
    p.add_argument("--strategy", default=d.strategy, help="strategy to train (%(default)s)")
    p.add_argument("--out", default=d.out, help="folder of both runs (%(default)s)")
    p.add_argument("--figure", default=d.figure, help="loss-curve PNG (%(default)s)")
    p.add_argument("--steps", type=int, default=d.steps, help="steps per run (%(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="batch (%(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (%(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of both runs (%(default)s)")
    add_network_size_options(p, d)
    p.add_argument("--workers", type=int, default=d.workers, help="data loader processes")
    p.add_argument("--eval-samples", type=int, default=d.eval_samples,
                   help="evaluate on the first N samples (0: all)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.steps < 1 or a.batch_size < 1:
        print("error: --steps and --batch-size must be at least 1", file=sys.stderr)
        return 2
    c = PrecisionConfig(data=a.data, strategy=a.strategy, out=a.out, figure=a.figure,
                        steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                        crop_size=a.crop_size, cloud_points=a.cloud_points,
                        heatmap_size=a.heatmap_size, workers=a.workers,
                        eval_samples=a.eval_samples)
    command = "python -m train.experiments.precision " + shlex.join(argv or sys.argv[1:])
    code, rows = run_experiment(lambda: run(c))
    if code == 0:
        print(report(rows, c, command))
    return code


if __name__ == "__main__":
    sys.exit(main())
