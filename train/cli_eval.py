"""handtrack-eval: evaluate checkpoints (RGB -> pose) with the literature's protocol.

Mean EPE in mm (root-aligned, the normalised prediction rescaled by the ground-truth bone
length), 3D PCK from 20 to 50 mm and its AUC; one PCK plot with every checkpoint (paper Fig. 5),
a markdown table row per checkpoint (and --fuse mode), clouds decoded from RGB next to the ground
truth (Fig. 3) and a latent interpolation strip between two images (Fig. 4)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from model.checkpoint import CheckpointError, load_inference
from model.inference import FUSE_MODES
from train import metrics, plots
from train.data.noise2d import Noise2DConfig
from train.evaluate import evaluate, fit_anatomy, plausible_fraction, score
from train.mediapipe2d import mediapipe_crop_keypoints

KEYPOINTS2D = ("noisy-gt", "mediapipe")

EPILOG = """example:
  handtrack-eval --checkpoint runs/s1/last.pt runs/s4/last.pt --data synth:data/synth --out eval
  handtrack-eval --checkpoint runs/s4-2d/last.pt --data synth:data/synth --fuse rgb 2d rgb+2d
writes eval/pck.png, eval/results.md, eval/metrics.json, eval/clouds_<name>.png,
eval/interp_<name>.png; with several --fuse modes each checkpoint gives one row per mode, named
NAME[MODE]. The 2D input of --fuse 2d / rgb+2d is the ground truth with handtrack-train's noise
model (seeded by --noise-seed and the sample index), or with --keypoints2d mediapipe MediaPipe's
landmarks on the full images (samples where it finds no hand are left out of every row)."""

TABLE_HEADER = ("| checkpoint | strategy | EPE (mm) | median (mm) | AUC 20-50 | PCK@20 | "
                "PCK@30 | PCK@50 | plausible | n |\n|---|---|---|---|---|---|---|---|---|---|")


def table_row(label: str, strategy: str, m: dict) -> str:
    """One markdown row; `plausible` is the share of poses passing model.anatomy.plausibility."""
    plausible = f"{m['plausible']:.0%}" if "plausible" in m else "-"
    return (f"| {label} | {strategy} | {m['epe_mm']:.2f} | {m['median_mm']:.2f} | "
            f"{m['auc_20_50']:.3f} | {m['pck_20']:.3f} | {m['pck_30']:.3f} | {m['pck_50']:.3f} "
            f"| {plausible} | {m['n']} |")


MEAN_POSE_LABEL = "mean pose (oracle)"


def mean_pose_baseline(gt_norm: np.ndarray, scale_m: np.ndarray) -> tuple[dict, np.ndarray]:
    """Metrics of predicting the mean of gt_norm (N, 21, 3) (normalised poses) for every sample;
    scale_m (N,) the bone lengths that turn them into mm. An oracle constant predictor (it knows
    the evaluated set's mean): a network that does not beat it has learnt nothing from the
    image. Returns (summary as train.metrics.summarize, PCK curve (T,))."""
    mean = np.broadcast_to(gt_norm.mean(axis=0, keepdims=True), gt_norm.shape)
    errors = metrics.joint_errors_mm(mean, gt_norm, scale_m)
    return metrics.summarize(errors) | {"plausible": plausible_fraction(mean[:1])}, \
        metrics.pck(errors)


def _label(path: Path, taken: set[str]) -> str:
    """A short unique name for a checkpoint: its run folder (runs/s4/last.pt -> s4)."""
    name = path.parent.name if path.stem in ("last", "best") else path.stem
    base, k = name or path.stem, 2
    while name in taken:
        name = f"{base}-{k}"
        k += 1
    taken.add(name)
    return name


def evaluate_checkpoints(paths: list[str | Path], data: str, split: str = "evaluation",
                         out: str | Path | None = None, labels: list[str] | None = None,
                         batch_size: int = 32, device: str = "cpu", max_samples: int = 0,
                         figures: bool = True, interp: tuple[int, int] = (0, 1),
                         progress: bool = True, fuse: tuple[str, ...] = ("rgb",),
                         noise: Noise2DConfig | None = None,
                         noise_seed: int = 0, keypoints2d: str = "noisy-gt",
                         baseline: bool = False, anatomy: bool = False) -> list[dict]:
    """Evaluate checkpoints on one data spec, each under every --fuse mode. Returns one dict per
    (checkpoint, mode): label, path, strategy, fuse, metrics (summary), pck (T,). Writes figures
    (of the first mode) and tables under `out` if given. keypoints2d: the 2D expert's input,
    "noisy-gt" (ground truth + the training noise) or "mediapipe" (MediaPipe on the full images,
    train/mediapipe2d.py; then every mode, rgb included, is measured on the samples where
    MediaPipe found the hand, so the rows compare). baseline: add a row (label MEAN_POSE_LABEL)
    for the evaluated samples' own mean pose predicted for every image (mean_pose_baseline).
    anatomy: after each row, a row NAME+fit for the kinematic hand fitted to every prediction
    (train.evaluate.fit_anatomy; its metrics add moved_mm, the mean distance the fit moved the
    joints)."""
    if keypoints2d not in KEYPOINTS2D:
        raise ValueError(f"unknown --keypoints2d {keypoints2d!r}; use one of "
                         f"{', '.join(KEYPOINTS2D)}")
    for f in fuse:
        if f not in FUSE_MODES:
            raise ValueError(f"unknown --fuse {f!r}; use one of {', '.join(FUSE_MODES)}")
    from train.data import SampleConfig, open_dataset

    out = Path(out) if out else None
    sets: dict[tuple, object] = {}
    detected: dict[tuple, dict] = {}
    taken: set[str] = set()
    results = []
    for i, p in enumerate(paths):
        p = Path(p)
        net, meta = load_inference(p)
        if meta["has_cloud_decoder"]:
            net, meta = load_inference(p, with_cloud=True)
        label = labels[i] if labels else _label(p, taken)
        key = (meta["crop_size"], meta["cloud_points"], meta["heatmap_size"])
        if key not in sets:
            sc = SampleConfig(crop_size=key[0], cloud_points=key[1], heatmap_size=key[2],
                              augment=False)
            sets[key] = open_dataset(data, split, sc)
        ds = sets[key]
        kp, limit = None, max_samples
        if keypoints2d == "mediapipe":
            if key not in detected:
                n = min(max_samples or len(ds), len(ds))
                detected[key] = mediapipe_crop_keypoints(ds, list(range(n)), progress)
            kp, limit = detected[key], 0
            if not kp:
                raise ValueError(f"MediaPipe found no hand in the images of {data} ({split}); "
                                 "use --keypoints2d noisy-gt")
            ds = Subset(ds, sorted(kp))
        if any(f != "rgb" for f in fuse) and not meta["has_heat_encoder"]:
            raise ValueError(f"--fuse {' '.join(fuse)}: checkpoint {p} has no 2D-keypoint "
                             "expert (heat-map encoder); use --fuse rgb or train with "
                             "--strategy s4-2d")
        for k, f in enumerate(fuse):
            name = label if fuse == ("rgb",) else f"{label}[{f}]"
            summary, pred = evaluate(net, ds, batch_size=batch_size, device=device,
                                     max_samples=limit, progress=progress, fuse=f,
                                     noise=noise, noise_seed=noise_seed, keypoints2d=kp)
            results.append({"label": name, "path": str(p), "strategy": meta["strategy"],
                            "fuse": f, "keypoints2d": keypoints2d, "metrics": summary,
                            "pck": pred["pck"]})
            if anatomy:
                fitted = fit_anatomy(pred, progress=progress)
                summary_fit = score(fitted) | {"moved_mm": float(fitted["moved_mm"].mean())}
                results.append({"label": f"{name}+fit", "path": str(p),
                                "strategy": meta["strategy"], "fuse": f,
                                "keypoints2d": keypoints2d, "metrics": summary_fit,
                                "pck": fitted["pck"]})
            if out is not None and figures and k == 0:
                _figures(net, ds, pred, out, label, interp, device)
            if baseline and k == 0 and i == 0:
                summary, pck = mean_pose_baseline(pred["gt"], pred["scale_m"])
                results.append({"label": MEAN_POSE_LABEL, "path": "", "strategy": "-",
                                "fuse": "-", "keypoints2d": keypoints2d, "metrics": summary,
                                "pck": pck})
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        curves = {r["label"]: (metrics.PCK_THRESHOLDS_MM, r["pck"], r["metrics"]["auc_20_50"])
                  for r in results}
        plots.plot_pck(curves, out / "pck.png", title=f"3D PCK on {data} ({split})")
        rows = [table_row(r["label"], r["strategy"], r["metrics"]) for r in results]
        (out / "results.md").write_text(TABLE_HEADER + "\n" + "\n".join(rows) + "\n")
        js = [{k: v for k, v in r.items() if k != "pck"} | {"pck": r["pck"].tolist()}
              for r in results]
        (out / "metrics.json").write_text(json.dumps(js, indent=1))
    return results


@torch.no_grad()
def _figures(net, ds, pred: dict, out: Path, label: str, interp: tuple[int, int],
             device: str) -> None:
    n = len(pred["index"])
    k = min(4, n)
    rgb = np.stack([ds[i]["rgb"].numpy() for i in range(k)])  # (K, 3, S, S)
    if "cloud_pred" in pred:
        plots.plot_clouds(rgb, pred["cloud_pred"][:k], pred["cloud_gt"][:k],
                          out / f"clouds_{label}.png")
    a, b = (min(i, n - 1) for i in interp)
    za, zb = torch.from_numpy(pred["z"][a]), torch.from_numpy(pred["z"][b])
    t = torch.linspace(0, 1, 7).unsqueeze(1)
    z = ((1 - t) * za + t * zb).to(device)  # (7, D)
    poses = net.pose_decoder(z).cpu().numpy()
    clouds = net.cloud_decoder(z).cpu().numpy() if net.cloud_decoder is not None else None
    plots.plot_interpolation(ds[a]["rgb"].numpy(), ds[b]["rgb"].numpy(), poses, clouds,
                             out / f"interp_{label}.png")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handtrack-eval", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="one or more checkpoints written by handtrack-train")
    p.add_argument("--data", required=True, help="rhd:PATH, stb:PATH or synth:PATH")
    p.add_argument("--split", default="evaluation", choices=("training", "evaluation"),
                   help="data split (evaluation)")
    p.add_argument("--out", default="eval", help="folder for plots and tables (eval)")
    p.add_argument("--labels", nargs="+", default=None,
                   help="names for the checkpoints in plots/tables (default: run folders)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (32)")
    p.add_argument("--max-samples", type=int, default=0, help="first N samples only (0: all)")
    p.add_argument("--interp", nargs=2, type=int, default=(0, 1), metavar=("I", "J"),
                   help="sample indices of the latent interpolation (0 1)")
    p.add_argument("--no-figures", action="store_true", help="tables and PCK plot only")
    p.add_argument("--fuse", nargs="+", default=["rgb"], choices=FUSE_MODES,
                   help="experts of a fused (s4-2d) checkpoint, one table row each: rgb, 2d "
                        "(ground-truth 2D keypoints with the training noise), rgb+2d (rgb)")
    p.add_argument("--noise-seed", type=int, default=0, help="seed of the 2D input noise (0)")
    p.add_argument("--keypoints2d", choices=KEYPOINTS2D, default="noisy-gt",
                   help="2D input of --fuse 2d / rgb+2d: ground truth with the training noise, "
                        "or MediaPipe run on the full images (only samples where it finds the "
                        "hand are evaluated, in every mode) (noisy-gt)")
    p.add_argument("--baseline", action="store_true",
                   help="add a row for the evaluated samples' own mean pose, predicted for every "
                        "image (a constant oracle: a model that does not beat it has learnt "
                        "nothing from the image)")
    p.add_argument("--anatomy", action="store_true",
                   help="add a row NAME+fit per row: the kinematic hand (joint limits and bone "
                        "proportions of the synthetic generator's hand) fitted to every "
                        "prediction, as the app shows it; the 'plausible' column is the share "
                        "of poses passing the anatomical checks")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.labels and len(a.labels) != len(a.checkpoint):
        print(f"error: {len(a.labels)} --labels for {len(a.checkpoint)} checkpoints; give one "
              "label per checkpoint", file=sys.stderr)
        return 2
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    try:
        results = evaluate_checkpoints(a.checkpoint, a.data, a.split, a.out, a.labels,
                                       a.batch_size, device, a.max_samples,
                                       not a.no_figures, tuple(a.interp), not a.no_progress,
                                       tuple(dict.fromkeys(a.fuse)), None, a.noise_seed,
                                       a.keypoints2d, a.baseline, a.anatomy)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(TABLE_HEADER)
    for r in results:
        print(table_row(r["label"], r["strategy"], r["metrics"]))
    print(f"plots and tables in {a.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
