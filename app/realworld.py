"""Real photos through the fused model: reprojection against MediaPipe and anatomical checks.

    python -m app.realworld --images ../shared/realworld --checkpoint CKPT --out docs/realworld

For every hand MediaPipe finds in the photos the script crops it as the engine does (viewpoint-
corrected crop around the landmarks, a field-of-view camera model), runs the model with the
chosen experts (--fuse; the 2D expert takes MediaPipe's landmarks as heat maps in the crop),
fits the root translation to the landmarks (app.engine.metric.fit_root) and reports per hand:
- reproj_rel: mean pixel distance between the reprojected 3D joints and MediaPipe's 21 landmarks,
  divided by the crop box side (no ground truth exists for real photos; this measures
  agreement with the detector, which the 2D expert is fed, so read it together with the next);
- bone_dev: the largest relative deviation of a bone length ratio (bone / middle MCP->PIP) from
  the synthetic generator's mean hand (train/synth/kinematics.py), and bones_ok (all within
  --bone-tol);
- bends_ok: all hinge joints (thumb IP, PIP, DIP) bend no more than the generator's flexion
  limits plus --angle-tol;
and writes one overlay PNG per photo (MediaPipe landmarks as dots, the reprojected joints as a
skeleton), results.md and results.json. It runs with any checkpoint: numbers from an untrained
one are meaningless.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from app.engine.backends import BackendConfig, open_backend
from app.engine.crops import fast_crop_camera
from app.engine.detect import DetectorConfig, MediaPipeDetector
from app.engine.engine import load_camera_intrinsics
from app.engine.errors import EngineError
from app.engine.fusion import FUSE_MODES, expert_weights, landmarks_to_heatmaps
from app.engine.metric import fit_root, project_px
from app.engine.tracking import keypoint_box
from model.geometry import transform_points
from model.hand import BONE_FINGER, BONES, FINGER_COLORS, SCALE_BONE, bone_lengths
from train.synth.kinematics import POSE_DIM, POSE_HI, POSE_LO, Skeleton, forward_kinematics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
HINGES = (3, 6, 7, 10, 11, 14, 15, 18, 19)  # thumb IP, PIP and DIP joints (= pose indices)
SCALE_INDEX = BONES.index(SCALE_BONE)


def reference_bone_ratios() -> np.ndarray:
    """(20,) bone length / middle MCP->PIP length of the generator's mean hand."""
    joints, _ = forward_kinematics(np.zeros(POSE_DIM), Skeleton.mean())
    lengths = bone_lengths(joints)
    return lengths / lengths[SCALE_INDEX]


def hinge_bends_rad(joints: np.ndarray) -> np.ndarray:
    """(len(HINGES),) unsigned bend angle at each hinge joint of (21, 3) joints: the angle
    between the bone into the joint and the bone out of it."""
    out = []
    for j in HINGES:
        a, b = joints[j] - joints[j - 1], joints[j + 1] - joints[j]
        c = a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
        out.append(float(np.arccos(np.clip(c, -1.0, 1.0))))
    return np.array(out)


def plausibility(joints: np.ndarray, bone_tol: float = 0.25,
                 angle_tol_rad: float = 0.15) -> dict:
    """Anatomical checks of (21, 3) joints against the generator's hand (see module doc)."""
    lengths = bone_lengths(np.asarray(joints, np.float64))
    ratios = lengths / max(lengths[SCALE_INDEX], 1e-12)
    dev = np.abs(ratios / reference_bone_ratios() - 1.0)
    limits = np.maximum(np.abs(POSE_LO[list(HINGES)]), np.abs(POSE_HI[list(HINGES)]))
    bends = hinge_bends_rad(joints)
    return {"bone_dev": float(dev.max()), "bones_ok": bool(np.all(dev <= bone_tol)),
            "bend_excess_rad": float(np.max(bends - limits)),
            "bends_ok": bool(np.all(bends <= limits + angle_tol_rad))}


def draw_overlay(rgb: np.ndarray, hands: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(H, W, 3) uint8 with, per hand, MediaPipe's landmarks (white dots) and the reprojected
    joints (skeleton in finger colours)."""
    img = rgb.copy()
    r = max(2, round(min(img.shape[:2]) / 250))
    for mp_uv, fit_uv in hands:
        for (i, j), f in zip(BONES, BONE_FINGER):
            p, q = (tuple(int(round(v)) for v in fit_uv[k]) for k in (i, j))
            cv2.line(img, p, q, FINGER_COLORS[f], r, cv2.LINE_AA)
        for u, v in mp_uv:
            cv2.circle(img, (int(round(u)), int(round(v))), r + 1, (255, 255, 255), -1,
                       cv2.LINE_AA)
    return img


def run(images: Path, checkpoint: Path, out: Path, fuse: str | None = None,
        hfov_deg: float = 60.0, box_margin: float = 1.4, bone_tol: float = 0.25,
        angle_tol_rad: float = 0.15, hand_size_m: float = 0.03) -> list[dict]:
    """Process every image in `images`; returns one dict per hand found (see module doc)."""
    if not images.is_dir():
        raise EngineError(f"--images {images} is not a folder; pass a folder of photos")
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EngineError(f"--images {images} holds no .jpg/.png photos")
    backend = open_backend(BackendConfig(kind="torch", checkpoint=str(checkpoint),
                                         device="cpu"), checkpoint)
    fuse = fuse or ("rgb+2d" if backend.has_heat else "rgb")
    if fuse != "rgb" and not backend.has_heat:
        backend.close()
        raise EngineError(f"--fuse {fuse} needs the 2D-keypoint expert but {checkpoint} has no "
                          "heat-map encoder; use --fuse rgb or train with --strategy s4-2d")
    out.mkdir(parents=True, exist_ok=True)
    S = backend.crop_size
    rows: list[dict] = []
    with backend, MediaPipeDetector(DetectorConfig(box_margin=box_margin), max_hands=2) as det:
        for path in files:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                print(f"skipped {path.name}: not a readable image", file=sys.stderr)
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            K, _, _ = load_camera_intrinsics(None, (w, h), hfov_deg)
            drawn = []
            for k, d in enumerate(det.detect(rgb, mirrored=False)):
                box = keypoint_box(d.uv_px, box_margin)
                cam = fast_crop_camera(K, box, S)
                crop = cv2.warpPerspective(rgb, cam.H, (S, S), flags=cv2.INTER_LINEAR)
                x = (crop.transpose(2, 0, 1)[None] / 255.0).astype(np.float32)
                if fuse == "rgb":
                    pose = backend.infer(x).pose[0]
                else:
                    w_x, w_h = expert_weights(fuse, True)
                    heat = landmarks_to_heatmaps(d.uv_px, cam.H, S, backend.heatmap_size,
                                                 backend.heatmap_sigma_px)[None]
                    pose = backend.infer(x, heat, np.array([w_h], np.float32),
                                         np.array([w_x], np.float32)).pose[0]
                rel = pose.astype(np.float64) * hand_size_m  # (21, 3) m, crop camera
                fit = fit_root(rel, transform_points(cam.H, d.uv_px), cam.K_virtual)
                joints_m = (rel + fit.t_m) @ cam.R.T  # (21, 3) camera frame
                ok = fit.ok and bool(np.all(joints_m[:, 2] > 0))
                uv_fit = project_px(joints_m, K) if ok else np.full((21, 2), np.nan)
                err = float(np.linalg.norm(uv_fit - d.uv_px, axis=1).mean() / box.size)
                row = {"image": path.name, "hand": k, "side": int(d.side), "fuse": fuse,
                       "box_px": float(box.size), "reproj_rel": err if ok else None,
                       **plausibility(pose, bone_tol, angle_tol_rad)}
                rows.append(row)
                if ok:
                    drawn.append((d.uv_px, uv_fit))
            overlay = draw_overlay(rgb, drawn)
            cv2.imwrite(str(out / f"{path.stem}_overlay.png"),
                        cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    write_report(rows, out, checkpoint)
    return rows


def write_report(rows: list[dict], out: Path, checkpoint: Path) -> None:
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    lines = [f"checkpoint `{checkpoint}`", "",
             "| image | hand | fuse | reproj / box | max bone-ratio dev | bones ok | bends ok |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        e = "fit failed" if r["reproj_rel"] is None else f"{r['reproj_rel']:.3f}"
        lines.append(f"| {r['image']} | {r['hand']} | {r['fuse']} | {e} | {r['bone_dev']:.2f} "
                     f"| {r['bones_ok']} | {r['bends_ok']} |")
    lines += ["", summary(rows)]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def summary(rows: list[dict]) -> str:
    errs = [r["reproj_rel"] for r in rows if r["reproj_rel"] is not None]
    if not rows:
        return "no hands found"
    plaus = np.mean([r["bones_ok"] and r["bends_ok"] for r in rows])
    mean = f"{np.mean(errs):.3f}" if errs else "n/a"
    return (f"{len(rows)} hands: mean reprojection error {mean} of the box side, "
            f"{plaus:.0%} anatomically plausible")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.realworld", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, type=Path, help="folder of photos")
    p.add_argument("--checkpoint", required=True, type=Path, help="the .pt checkpoint")
    p.add_argument("--out", required=True, type=Path, help="folder for overlays and tables")
    p.add_argument("--fuse", choices=FUSE_MODES, default=None,
                   help="experts (default: rgb+2d if the model has the 2D expert, else rgb)")
    p.add_argument("--hfov", type=float, default=60.0, help="camera field of view, degrees")
    p.add_argument("--bone-tol", type=float, default=0.25,
                   help="allowed relative deviation of bone ratios (0.25)")
    p.add_argument("--angle-tol", type=float, default=0.15,
                   help="allowed bend beyond the generator's limits, radians (0.15)")
    a = p.parse_args(argv)
    try:
        rows = run(a.images, a.checkpoint, a.out, a.fuse, a.hfov, bone_tol=a.bone_tol,
                   angle_tol_rad=a.angle_tol)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(rows))
    print(f"overlays and tables in {a.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
