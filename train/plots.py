"""Figures of the paper from evaluation results (matplotlib, Agg backend, PNG files):
PCK curves (Fig. 5), clouds decoded from RGB next to the ground truth (Fig. 3), a latent
interpolation strip (Fig. 4) and the weak-supervision curve (Fig. 8)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from model.hand import BONE_FINGER, BONES, FINGER_COLORS  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_pck(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path: str | Path,
             title: str = "3D PCK") -> Path:
    """curves: label -> (thresholds_mm (T,), pck (T,), auc). One line per label."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for label, (t, p, a) in curves.items():
        ax.plot(t, p, label=f"{label} (AUC={a:.3f})", lw=1.8)
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel("3D PCK")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _draw_skeleton(ax, pose: np.ndarray) -> None:
    """pose (21, 3), drawn in the image plane (x right, y down)."""
    for (i, j), f in zip(BONES, BONE_FINGER):
        c = np.array(FINGER_COLORS[f]) / 255.0
        ax.plot(pose[[i, j], 0], pose[[i, j], 1], color=c, lw=2)
    ax.scatter(pose[:, 0], pose[:, 1], s=6, c="k", zorder=3)


def _draw_cloud(ax, cloud: np.ndarray, lim: float) -> None:
    """cloud (N, 3): x-y scatter coloured by depth z."""
    ax.scatter(cloud[:, 0], cloud[:, 1], c=cloud[:, 2], s=3, cmap="viridis")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(lim, -lim)  # image convention: y down
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _image(rgb: np.ndarray) -> np.ndarray:
    """(3, S, S) float in [0, 1] -> (S, S, 3)."""
    return np.clip(np.transpose(rgb, (1, 2, 0)), 0, 1)


def plot_clouds(rgb: np.ndarray, cloud_pred: np.ndarray, cloud_gt: np.ndarray,
                path: str | Path) -> Path:
    """Fig. 3: per row an RGB crop (3, S, S), the cloud decoded from it and the ground truth.
    rgb (K, 3, S, S), cloud_pred (K, N, 3), cloud_gt (K, M, 3), normalised units."""
    k = len(rgb)
    lim = float(np.percentile(np.abs(cloud_gt[..., :2]), 99)) * 1.1 + 1e-6
    fig, axes = plt.subplots(k, 3, figsize=(7.5, 2.5 * k), squeeze=False)
    for r in range(k):
        axes[r, 0].imshow(_image(rgb[r]))
        axes[r, 0].axis("off")
        _draw_cloud(axes[r, 1], cloud_pred[r], lim)
        _draw_cloud(axes[r, 2], cloud_gt[r], lim)
    axes[0, 0].set_title("RGB")
    axes[0, 1].set_title("cloud from RGB")
    axes[0, 2].set_title("ground truth")
    return _save(fig, path)


def plot_interpolation(rgb_a: np.ndarray, rgb_b: np.ndarray, poses: np.ndarray,
                       clouds: np.ndarray | None, path: str | Path) -> Path:
    """Fig. 4: image A, decodings of (1 - t) z_A + t z_B for T values of t, image B.
    rgb (3, S, S); poses (T, 21, 3); clouds (T, N, 3) or None."""
    t = len(poses)
    rows = 2 if clouds is not None else 1
    fig, axes = plt.subplots(rows, t + 2, figsize=(1.6 * (t + 2), 1.8 * rows), squeeze=False)
    extent = [np.abs(poses[..., :2]).max()]
    if clouds is not None:
        extent.append(np.percentile(np.abs(clouds[..., :2]), 99))
    lim = float(max(extent)) * 1.15 + 1e-6
    for r in range(rows):
        axes[r, 0].imshow(_image(rgb_a))
        axes[r, -1].imshow(_image(rgb_b))
        axes[r, 0].axis("off")
        axes[r, -1].axis("off")
    for i in range(t):
        ax = axes[0, i + 1]
        _draw_skeleton(ax, poses[i])
        ax.set_xlim(-lim, lim)
        ax.set_ylim(lim, -lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"t={i / max(1, t - 1):.2f}", fontsize=8)
        if clouds is not None:
            _draw_cloud(axes[1, i + 1], clouds[i], lim)
    return _save(fig, path)


def plot_weak_supervision(curves: dict[str, tuple[np.ndarray, np.ndarray]],
                          path: str | Path) -> Path:
    """Fig. 8: mean EPE (mm) against the labelled fraction m (%). curves: label -> (m, epe)."""
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    for label, (m, e) in curves.items():
        ax.plot(m, e, marker="o", label=label)
    ax.set_xlabel("labelled fraction m (%)")
    ax.set_ylabel("mean EPE (mm)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
