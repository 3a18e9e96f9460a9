"""Reproduce Table 1 (six strategy rows) and Fig. 8 (weak supervision) on synthetic data.

Every run uses the same data, budget (steps, batch) and seeds; S1 and S4 are trained with every
seed, the other rows and the Fig. 8 runs with the first seed (all of them with --all-seeds: a
Fig. 8 run with another seed is named s4_m10_seed1, its cell the mean ± std). Fig. 8: S4 with the
pose label on the first m % of the samples (the rest keep RGB + cloud), and, as the baseline
without the weak label, S1 with the same m (unlabelled samples then contribute nothing but KL).
Finished runs are skipped and interrupted ones resumed, so the command can be re-run.

    python -m train.experiments.table1 --out runs/table1 --docs docs/results.md

writes docs/results.md with the command, the table, the PCK plot and the weak-supervision plot.

A budget too large for one session is spread over several: each run, once trained, is
evaluated and recorded as one small JSON file (its metrics, PCK curve, steps, wall time and the
machine) under --record (default: the docs file's figure folder, runs/); a recorded run is not
trained again when the record matches the configuration and the data (a fingerprint of the
rendered ground truth), even on a fresh checkout without the checkpoints. --only NAME ... trains
just those runs in this invocation; the report shows every recorded run and names the missing
ones. Commit the records with the report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import read_checkpoint
from model.machine import describe_machine
from model.net_config import NetConfig
from train import plots
from train.cli_eval import MEAN_POSE_LABEL, evaluate_checkpoints
from train.experiments.options import add_network_size_options, run_experiment, run_finished
from train.experiments.parallel import train_in_parallel
from train.loop import TrainConfig, resolve_precision, train
from train.metrics import PCK_THRESHOLDS_MM

ROWS = ("s1", "s2-h", "s2-c", "s2-ch", "s3", "s4")
PAPER_EPE_MM = {"s1": 16.61, "s2-h": 16.10, "s2-c": 15.91, "s2-ch": 15.49, "s3": 14.93,
                "s4": 13.14}
ROW_NAMES = {"s1": "S1: R -> P", "s2-h": "S2: R -> H + P", "s2-c": "S2: R -> C + P",
             "s2-ch": "S2: R -> C + H + P", "s3": "S3", "s4": "S4"}


@dataclass
class ExperimentConfig:
    out: str = "runs/table1"
    docs: str = "docs/results.md"
    synth_train: int = 2000
    synth_eval: int = 300
    synth_size: int = 160  # rendered image side (px); crops are cut from it
    crop_size: int = 64
    cloud_points: int = 256
    heatmap_size: int = 32
    steps: int = 500
    batch_size: int = 32
    lr: float = 1e-4
    seeds: tuple[int, ...] = (0, 1)
    all_seeds: bool = False
    fractions: tuple[float, ...] = (10.0, 50.0, 100.0)
    weak_baseline: bool = True
    workers: int = 1
    device: str = "auto"
    precision: str = "auto"  # auto, fp32 or bf16 (train.config.TrainConfig.precision)
    record: str = ""  # folder of per-run records ("": <docs stem>/runs)
    only: tuple[str, ...] = ()  # train only these runs in this invocation (() all)
    jobs: int = 1  # runs trained at the same time, each in its own process

    def record_dir(self) -> Path:
        return Path(self.record) if self.record else Path(self.docs).with_suffix("") / "runs"

    def run_key(self) -> dict:
        """What a recorded run must share with this configuration to be reused."""
        return {k: getattr(self, k) for k in (
            "synth_train", "synth_eval", "synth_size", "crop_size", "cloud_points",
            "heatmap_size", "steps", "batch_size", "lr")}


def data_fingerprint(data_dir: Path) -> str:
    """sha1 of the data set's ground-truth 3D joints rounded to 10 um (the rendered labels of
    both splits; the rounding keeps it the same on every CPU)."""
    h = hashlib.sha1()
    for split in ("training", "evaluation"):
        path = data_dir / split / f"anno_{split}.pickle"
        with open(path, "rb") as f:
            annos = pickle.load(f)
        for k in sorted(annos):
            h.update(np.round(np.asarray(annos[k]["xyz"], np.float64), 5).tobytes())
    return h.hexdigest()[:16]


def read_record(path: Path, key: dict, fingerprint: str) -> dict | None:
    """The record at path when it was made with this configuration and data, else None."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("config") != key or rec.get("data") != fingerprint:
        return None
    return rec


def write_record(path: Path, rec: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    os.replace(tmp, path)


def _runs(c: ExperimentConfig) -> list[tuple[str, str, int, float]]:
    """(run name, strategy, seed, labelled fraction) of every run, in order."""
    runs = []
    for s in ROWS:
        seeds = c.seeds if (c.all_seeds or s in ("s1", "s4")) else c.seeds[:1]
        runs += [(f"{s}_seed{k}", s, k, 100.0) for k in seeds]
    for m in c.fractions:
        if m < 100:
            for k in c.seeds if c.all_seeds else c.seeds[:1]:
                runs.append((_weak_name("s4", m, k, c), "s4", k, m))
                if c.weak_baseline:
                    runs.append((_weak_name("s1", m, k, c), "s1", k, m))
    return runs


def _weak_name(row: str, m: float, seed: int, c: ExperimentConfig) -> str:
    """A weak-supervision run's name: s4_m10 with the first seed, s4_m10_seed1 with another."""
    return f"{row}_m{m:g}" if seed == c.seeds[0] else f"{row}_m{m:g}_seed{seed}"


def run(c: ExperimentConfig, command: str) -> Path:
    out = Path(c.out)
    data_dir = out / "data"
    if not (data_dir / "evaluation").exists():
        from train.synth.render import LEGACY_STYLE, SynthConfig
        from train.synth.writer import write_dataset

        print(f"rendering {c.synth_train} + {c.synth_eval} synthetic frames into {data_dir}")
        # the scene statistics every Table 1 run so far was trained on, so that runs made in
        # different sessions (each renders the data again) see the same frames
        write_dataset(data_dir, c.synth_train, c.synth_eval,
                      SynthConfig(size=c.synth_size, **LEGACY_STYLE), seed=12345)
    spec = f"synth:{data_dir}"
    net = NetConfig(crop_size=c.crop_size, cloud_points=c.cloud_points,
                    heatmap_size=c.heatmap_size)
    key, fingerprint = c.run_key(), data_fingerprint(data_dir)
    rec_dir = c.record_dir()
    fig_dir = Path(c.docs).with_suffix("")  # docs/results/
    t0 = time.time()
    todo = []  # (name, strategy, seed, m, TrainConfig or None when already trained)
    for name, strategy, seed, m in _runs(c):
        if c.only and name not in c.only:
            continue
        if read_record(rec_dir / f"{name}.json", key, fingerprint) is not None:
            continue
        ckpt = out / name / "last.pt"
        cfg = None
        if not run_finished(ckpt, c.steps):
            cfg = TrainConfig(strategy=strategy, data=spec, eval_data="none",
                              out=str(out / name), steps=c.steps, batch_size=c.batch_size,
                              lr=c.lr, seed=seed, labelled_fraction=m, workers=c.workers,
                              device=c.device, precision=c.precision, resume=ckpt.exists(),
                              log_every=10,
                              ckpt_every=250, plateau_every=max(50, c.steps // 15))
        todo.append((name, strategy, seed, m, cfg))
    to_train = [(name, cfg) for name, _, _, _, cfg in todo if cfg is not None]
    if c.jobs > 1 and len(to_train) > 1:
        timings = train_in_parallel(to_train, net, c.jobs)
    else:
        timings = {}
        for name, cfg in to_train:
            t = time.time()
            print(f"== {name}: strategy {cfg.strategy}, seed {cfg.seed}, labelled "
                  f"{cfg.labelled_fraction:g} %")
            res = train(cfg, net)
            if res["interrupted"]:
                raise KeyboardInterrupt
            timings[name] = time.time() - t
    for name, strategy, seed, m, _ in todo:
        _record_run(c, name, strategy, seed, m, out / name / "last.pt", spec, out, fig_dir,
                    key, fingerprint, timings.get(name))
    train_s = time.time() - t0
    records = {}
    for name, *_ in _runs(c):
        rec = read_record(rec_dir / f"{name}.json", key, fingerprint)
        if rec is not None:
            records[name] = rec
    return _write_docs(c, command, records, fig_dir, train_s, timings)


def _record_run(c: ExperimentConfig, name: str, strategy: str, seed: int, m: float,
                ckpt: Path, spec: str, out: Path, fig_dir: Path, key: dict, fingerprint: str,
                train_s: float | None) -> None:
    """Evaluate one trained run (with the mean-pose baseline of the split) and record it."""
    figures = name == f"s4_seed{c.seeds[0]}"
    results = evaluate_checkpoints([ckpt], spec, "evaluation", out / "eval", labels=[name],
                                   batch_size=c.batch_size, device=_device(c.device),
                                   figures=figures, baseline=True)
    by = {r["label"]: r for r in results}
    r, base = by[name], by[MEAN_POSE_LABEL]
    meta = read_checkpoint(ckpt)
    rec = {"name": name, "strategy": strategy, "seed": seed, "labelled_pct": m,
           "config": key, "data": fingerprint, "step": int(meta.get("step", 0)),
           "metrics": {k: float(v) for k, v in r["metrics"].items()
                       if isinstance(v, (int, float))},
           "pck": [float(x) for x in r["pck"]],
           "baseline": {"epe_mm": float(base["metrics"]["epe_mm"]),
                        "auc_20_50": float(base["metrics"]["auc_20_50"]),
                        "pck": [float(x) for x in base["pck"]]},
           "train_s": None if train_s is None else round(train_s, 1),
           "machine": describe_machine(), "torch": torch.__version__,
           "device": _device(c.device),
           "precision": resolve_precision(c.precision, _device(c.device)),
           "recorded": time.strftime("%Y-%m-%d %H:%M")}
    write_record(c.record_dir() / f"{name}.json", rec)
    if figures:
        fig_dir.mkdir(parents=True, exist_ok=True)
        for f in ("clouds", "interp"):
            src = out / "eval" / f"{f}_{name}.png"
            if src.exists():
                shutil.copy(src, fig_dir / f"{f}_s4.png")
    print(f"recorded {name}: EPE {rec['metrics']['epe_mm']:.2f} mm (mean pose "
          f"{rec['baseline']['epe_mm']:.2f} mm)")


def _device(name: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _write_docs(c: ExperimentConfig, command: str, records: dict[str, dict], fig_dir: Path,
                train_s: float, timings: dict) -> Path:
    """The report from the recorded runs (missing runs are named, not guessed)."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    missing = [n for n, *_ in _runs(c) if n not in records]
    base = next(iter(records.values()))["baseline"] if records else None
    # Table 1: mean (+- std over seeds) per strategy, and the distance to the mean pose.
    lines = ["| strategy | paper EPE (mm, RHD) | EPE (mm) | below mean pose | AUC 20-50 | "
             "seeds |", "|---|---|---|---|---|---|"]
    curves = {}
    epe = {}
    for row in ROWS:
        rs = [r for k, r in records.items() if k.startswith(f"{row}_seed")]
        if not rs:
            lines.append(f"| {ROW_NAMES[row]} | {PAPER_EPE_MM[row]:.2f} | not run yet | - | - "
                         f"| 0 |")
            continue
        e = np.array([r["metrics"]["epe_mm"] for r in rs])
        a = np.array([r["metrics"]["auc_20_50"] for r in rs])
        epe[row] = float(e.mean())
        pm = f" ± {e.std(ddof=1):.2f}" if len(e) > 1 else ""
        am = f" ± {a.std(ddof=1):.3f}" if len(a) > 1 else ""
        below = 100 * (1 - e.mean() / base["epe_mm"])
        lines.append(f"| {ROW_NAMES[row]} | {PAPER_EPE_MM[row]:.2f} | {e.mean():.2f}{pm} | "
                     f"{below:.1f} % | {a.mean():.3f}{am} | {len(rs)} |")
        curves[ROW_NAMES[row]] = (PCK_THRESHOLDS_MM, np.mean([r["pck"] for r in rs], axis=0),
                                  float(a.mean()))
    if base is not None:
        lines.append(f"| mean pose (oracle baseline) | - | {base['epe_mm']:.2f} | 0 % | "
                     f"{base['auc_20_50']:.3f} | - |")
        curves["mean pose"] = (PCK_THRESHOLDS_MM, np.asarray(base["pck"]), base["auc_20_50"])
    if curves:
        plots.plot_pck(curves, fig_dir / "table1_pck.png",
                       title="3D PCK, synthetic evaluation set")
    # Fig. 8.
    weak, cells = {}, {}  # label -> (fractions, mean EPE) for the plot; label -> {m: cell}
    for row, label in (("s4", "S4, cloud as weak label"), ("s1", "S1, labelled part only")):
        means = {}
        for m in c.fractions:
            keys = [f"{row}_seed{k}" if m >= 100 else _weak_name(row, m, k, c)
                    for k in c.seeds]
            e = [records[k]["metrics"]["epe_mm"] for k in keys if k in records]
            if e:
                means[m] = float(np.mean(e))
                cells.setdefault(label, {})[m] = f"{means[m]:.2f}" + (
                    f" ± {np.std(e, ddof=1):.2f} ({len(e)} seeds)" if len(e) > 1 else "")
        if means:
            weak[label] = (np.array(list(means)), np.array(list(means.values())))
    weak_md = "Not run at this budget (no --fractions below 100)."
    if any(m < 100 for m in c.fractions) and weak:
        plots.plot_weak_supervision(weak, fig_dir / "fig8_weak.png")
        wl = ["| m (%) | " + " | ".join(weak) + " |", "|---|" + "---|" * len(weak)]
        for m in c.fractions:
            row_cells = [cells[label].get(m, "-") for label in weak]
            wl.append(f"| {m:g} | " + " | ".join(row_cells) + " |")
        weak_md = "\n".join(wl) + f"\n\n![weak supervision]({fig_dir.name}/fig8_weak.png)"
    ordering = _ordering(epe)
    rel = fig_dir.name
    samples = c.steps * c.batch_size
    run_lines = ["| run | EPE (mm) | AUC 20-50 | steps | training wall time | machine | "
                 "precision | recorded |", "|---|---|---|---|---|---|---|---|"]
    for n, r in records.items():
        ts = "-" if r.get("train_s") is None else f"{r['train_s'] / 60:.0f} min"
        mach = r["machine"].removeprefix("machine: ").split(";")[0]
        run_lines.append(f"| {n} | {r['metrics']['epe_mm']:.2f} | "
                         f"{r['metrics']['auc_20_50']:.3f} | {r['step']} | {ts} | {mach} | "
                         f"{r.get('precision', '-')} | "
                         f"{r['recorded']} |")
    figs = ""
    if (fig_dir / "clouds_s4.png").exists():
        figs = f"""
## Point clouds from RGB (Fig. 3) and latent interpolation (Fig. 4), S4

![clouds]({rel}/clouds_s4.png)

![interpolation]({rel}/interp_s4.png)
"""
    text = f"""# Results: Table 1 and Fig. 8 on synthetic data

Reproduced with `train/experiments/table1.py` (the numbers below are measured, not copied; the
paper's column is RHD, ours is the synthetic set, so only the *ordering* is comparable).

Command (each invocation trains what is not recorded yet; the per-run records are in
`{c.record_dir().as_posix()}`):

```
{command}
```

Set-up: synthetic data from `handtrack-synth` with the legacy scene statistics
({c.synth_train} training / {c.synth_eval} evaluation frames, {c.synth_size} px renders), crops
{c.crop_size} px, {c.cloud_points} cloud points, heat maps {c.heatmap_size} px; every run
{c.steps} steps of batch {c.batch_size} ({samples} samples, {samples / c.synth_train:.1f}
epochs), Adam lr {c.lr:g} (/10 on plateau, twice at most), beta 1e-5 -> 1e-3, lambda_heat 0.01,
lambda_cloud 1, beta' 1; seeds {list(c.seeds)} (S1 and S4 with every seed). EMD: auction
algorithm (model/emd.py).

## Table 1 (mean EPE, evaluation split; ± = std over seeds)

{chr(10).join(lines)}

{"Runs not recorded yet: " + ", ".join(missing) + "." if missing else "Every run is recorded."}

{ordering}

![PCK curves]({rel}/table1_pck.png)

## Fig. 8: weak supervision (mean EPE in mm against the labelled fraction m)

{weak_md}
{figs}
## Runs

{chr(10).join(run_lines)}
"""
    path = Path(c.docs)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path


def _ordering(epe: dict[str, float]) -> str:
    """A sentence on the paper's ordering S1 > S2 > S3 > S4 among the rows measured so far."""
    if "s1" not in epe or "s4" not in epe:
        return "The ordering cannot be read yet: S1 and S4 are both needed."
    gain = 100 * (1 - epe["s4"] / epe["s1"])
    order = [r for r in ROWS if r in epe]
    best_first = sorted(order, key=lambda r: epe[r])
    return (f"S4 is {abs(gain):.1f} % {'below' if gain >= 0 else 'above'} S1 (the paper: 20.9 % "
            f"below; the goal: at least 15 %). Measured rows from best to worst: "
            f"{', '.join(ROW_NAMES[r] for r in best_first)}.")


def build_parser() -> argparse.ArgumentParser:
    d = ExperimentConfig()
    p = argparse.ArgumentParser(prog="python -m train.experiments.table1",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=d.out, help="folder of data, runs and evaluation")
    p.add_argument("--docs", default=d.docs, help="markdown report (figures beside it)")
    p.add_argument("--synth-train", type=int, default=d.synth_train, help="training frames")
    p.add_argument("--synth-eval", type=int, default=d.synth_eval, help="evaluation frames")
    p.add_argument("--synth-size", type=int, default=d.synth_size, help="render side (px)")
    add_network_size_options(p, d)
    p.add_argument("--steps", type=int, default=d.steps, help="steps per run")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="batch size")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds),
                   help="seeds (S1 and S4 use all; at least two)")
    p.add_argument("--all-seeds", action="store_true",
                   help="every row and every Fig. 8 run with every seed")
    p.add_argument("--fractions", type=float, nargs="+", default=list(d.fractions),
                   help="labelled fractions m (%%) of Fig. 8")
    p.add_argument("--no-weak-baseline", action="store_true",
                   help="skip the S1 runs with m %% labels")
    p.add_argument("--workers", type=int, default=d.workers, help="data loader processes")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    p.add_argument("--jobs", type=int, default=d.jobs,
                   help="runs trained at the same time, each in its own process with its "
                        "share of the cores (a GPU or a many-core machine; each run's output "
                        "goes to OUT/RUN/train.log)")
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16"],
                   help="forward-pass precision of training: auto is bf16 on CPUs with "
                        "AVX512-BF16 or AMX, fp32 elsewhere; runs to compare across machines "
                        "want the same (default %(default)s)")
    p.add_argument("--record", default=d.record, metavar="DIR",
                   help="folder of the per-run records (default: <docs without .md>/runs)")
    p.add_argument("--only", nargs="+", default=[], metavar="RUN",
                   help="train only these runs now (e.g. s1_seed0 s4_seed0); the report "
                        "still shows every recorded run")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    c = ExperimentConfig(
        out=a.out, docs=a.docs, synth_train=a.synth_train, synth_eval=a.synth_eval,
        synth_size=a.synth_size, crop_size=a.crop_size, cloud_points=a.cloud_points,
        heatmap_size=a.heatmap_size, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
        seeds=tuple(a.seeds), all_seeds=a.all_seeds, fractions=tuple(a.fractions),
        weak_baseline=not a.no_weak_baseline, workers=a.workers, device=a.device,
        precision=a.precision, record=a.record, only=tuple(a.only), jobs=a.jobs)
    if c.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if len(c.seeds) < 2:
        print("error: give at least two --seeds (Table 1 reports S1 and S4 over seeds)",
              file=sys.stderr)
        return 2
    unknown = set(c.only) - {n for n, *_ in _runs(c)}
    if unknown:
        print(f"error: --only: no run named {', '.join(sorted(unknown))}; the runs are "
              f"{', '.join(n for n, *_ in _runs(c))}", file=sys.stderr)
        return 2
    command = "python -m train.experiments.table1 " + shlex.join(argv or sys.argv[1:])
    return run_experiment(lambda: run(c, command))[0]


if __name__ == "__main__":
    sys.exit(main())
