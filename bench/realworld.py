"""Real photos through the fused model: reprojection against MediaPipe and anatomical checks (an
experiment on the shared photos, not part of the app).

    python -m bench.realworld --images ../shared/realworld --checkpoint CKPT --out docs/realworld

For every hand MediaPipe finds in the photos the script crops it as the engine does (viewpoint-
corrected crop around the landmarks, a field-of-view camera model), runs the model with the
chosen experts (--fuse; the 2D expert takes MediaPipe's landmarks as heat maps in the crop),
fits the root translation to the landmarks (app.engine.rootfit.fit_root) and reports per hand:
- reproj_rel: mean pixel distance between the reprojected 3D joints and MediaPipe's 21 landmarks,
  divided by the crop box side (no ground truth exists for real photos; this measures
  agreement with the detector, which the 2D expert is fed, so read it together with the next);
- bone_dev: the largest relative deviation of a bone length ratio (bone / middle MCP->PIP) from
  the generator's mean hand (model/kinematics.py), and bones_ok (all within --bone-tol);
- bends_ok: all hinge joints (thumb IP, PIP, DIP) bend no more than the generator's flexion
  limits plus --angle-tol;
first for the network's decoded pose, then (unless --no-fit) for the kinematic hand fitted to it
blended with MediaPipe's world landmarks as the engine does (--world-weight, default the engine's;
app/engine/landmarks3d.py) (model.anatomy.fit_hand: the generator's hand, its joint limits and shape
range; plausible by construction, so read it with `moved_mm`, how far the fit moved the joints on
average, and with the fitted pose's reprojection error). It writes one overlay PNG per photo
(MediaPipe landmarks as dots, the reprojected joints -- fitted unless --no-fit -- as a skeleton),
results.md and results.json. It runs with any checkpoint: numbers from an untrained one are
meaningless.
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
from app.engine.errors import EngineError
from app.engine.intrinsics import load_camera_intrinsics
from app.engine.landmarks3d import LandmarkFusionConfig, blend_target, world_unit
from app.engine.rootfit import DEFAULT_HAND_SIZE_M, fit_root, project_px
from app.engine.tracking import keypoint_box
from model.anatomy import FitConfig, fit_hand, plausibility
from model.geometry import transform_points
from model.hand import BONE_FINGER, BONES, FINGER_COLORS
from model.heatmaps import landmarks_to_heatmaps
from model.image_files import IMAGE_SUFFIXES
from model.inference import FUSE_MODES, expert_weights

DEFAULT_FIT = FitConfig()


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


def _reproject(pose: np.ndarray, d, cam, K: np.ndarray, hand_size_m: float) -> np.ndarray | None:
    """(21, 3) normalised pose in the crop camera -> (21, 2) frame pixels after fitting the root
    translation to the landmarks, or None when the fit fails."""
    rel = pose.astype(np.float64) * hand_size_m  # (21, 3) m, crop camera
    fit = fit_root(rel, transform_points(cam.H, d.uv_px), cam.K_virtual)
    joints_m = (rel + fit.t_m) @ cam.R.T  # (21, 3) camera frame
    if not (fit.ok and np.all(joints_m[:, 2] > 0)):
        return None
    return project_px(joints_m, K)


def _reproj_rel(uv: np.ndarray | None, d, box_size: float) -> float | None:
    return None if uv is None else float(np.linalg.norm(uv - d.uv_px, axis=1).mean() / box_size)


def run(images: Path, checkpoint: Path, out: Path, fuse: str | None = None,
        hfov_deg: float = 60.0, box_margin: float = 1.4, bone_tol: float = 0.25,
        angle_tol_rad: float = 0.15, hand_size_m: float = DEFAULT_HAND_SIZE_M,
        fit: FitConfig | None = DEFAULT_FIT,
        world_weight: float = LandmarkFusionConfig.world_weight) -> list[dict]:
    """Process every image in `images`; returns one dict per hand found (see module doc).
    fit: the kinematic fit (model.anatomy) applied to the decoded pose blended with
    MediaPipe's world landmarks (world_weight), None to report the network's pose alone."""
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
                raw_uv = _reproject(pose, d, cam, K, hand_size_m)
                row = {"image": path.name, "hand": k, "side": int(d.side), "fuse": fuse,
                       "box_px": float(box.size), "reproj_rel": _reproj_rel(raw_uv, d, box.size),
                       **plausibility(pose, bone_tol, angle_tol_rad)}
                uv = raw_uv
                if fit is not None:
                    target = blend_target(pose, world_unit(d.world_m, cam.R),
                                          world_weight * d.inside)
                    f = fit_hand(target, int(d.side), fit)
                    uv = _reproject(f.joints, d, cam, K, hand_size_m)
                    row["fit"] = {"reproj_rel": _reproj_rel(uv, d, box.size),
                                  "moved_mm": float(f.displacement.mean() * hand_size_m * 1e3),
                                  **plausibility(f.joints, bone_tol, angle_tol_rad)}
                rows.append(row)
                if uv is not None:
                    drawn.append((d.uv_px, uv))
            overlay = draw_overlay(rgb, drawn)
            cv2.imwrite(str(out / f"{path.stem}_overlay.png"),
                        cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    write_report(rows, out, checkpoint)
    return rows


def _cells(m: dict) -> list[str]:
    e = "fit failed" if m["reproj_rel"] is None else f"{m['reproj_rel']:.3f}"
    return [e, f"{m['bone_dev']:.2f}", str(m["bones_ok"]), str(m["bends_ok"])]


def write_report(rows: list[dict], out: Path, checkpoint: Path) -> None:
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    fitted = any("fit" in r for r in rows)
    head = ["image", "hand", "fuse", "reproj / box", "max bone-ratio dev", "bones ok",
            "bends ok"]
    if fitted:
        head[3:] = [f"network: {c}" for c in head[3:]] + [
            "kinematic fit: moved (mm)", "fit: reproj / box", "fit: max bone-ratio dev",
            "fit: bones ok", "fit: bends ok"]
    lines = [f"checkpoint `{checkpoint}`", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["image"], str(r["hand"]), r["fuse"], *_cells(r)]
        if fitted:
            cells += [f"{r['fit']['moved_mm']:.1f}", *_cells(r["fit"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", summary(rows)]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def _summary_of(rows: list[dict], what: str) -> str:
    errs = [r["reproj_rel"] for r in rows if r["reproj_rel"] is not None]
    plaus = np.mean([r["bones_ok"] and r["bends_ok"] for r in rows])
    mean = f"{np.mean(errs):.3f}" if errs else "n/a"
    failed = len(rows) - len(errs)
    failed = f" (root fit failed on {failed}: not counted)" if failed else ""
    return (f"{what}: mean reprojection error {mean} of the box side{failed}, "
            f"{plaus:.0%} anatomically plausible")


def summary(rows: list[dict]) -> str:
    if not rows:
        return "no hands found"
    text = f"{len(rows)} hands; " + _summary_of(rows, "network")
    if all("fit" in r for r in rows):
        moved = np.mean([r["fit"]["moved_mm"] for r in rows])
        text += (f"; after the kinematic fit (joints moved {moved:.1f} mm on average): "
                 + _summary_of([r["fit"] for r in rows], "fit"))
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.realworld", description=__doc__,
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
    p.add_argument("--no-fit", action="store_true",
                   help="report the network's pose only, without the kinematic fit")
    p.add_argument("--world-weight", type=float, default=LandmarkFusionConfig.world_weight,
                   help="share of MediaPipe's world landmarks in the fitted hand (default "
                        f"{LandmarkFusionConfig.world_weight:g}, the engine's)")
    a = p.parse_args(argv)
    try:
        rows = run(a.images, a.checkpoint, a.out, a.fuse, a.hfov, bone_tol=a.bone_tol,
                   angle_tol_rad=a.angle_tol, fit=None if a.no_fit else DEFAULT_FIT,
                   world_weight=a.world_weight)
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(rows))
    print(f"overlays and tables in {a.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
