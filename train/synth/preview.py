"""Save a page of generated samples: RGB, depth, mask and skeleton overlay per sample.

    .venv/bin/python -m train.synth.preview --out docs/samples.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from model.hand import BONE_FINGER, BONES, FINGER_COLORS
from train.synth.render import SynthConfig, SynthFrame, hand_pixels, render_sample
from train.synth.scene import list_images


def depth_tile(frame: SynthFrame) -> np.ndarray:
    """Depth as a colour map, stretched over the hand's depth range (near = warm)."""
    d = frame.depth_m
    hand = hand_pixels(frame.mask)
    lo, hi = (np.percentile(d[hand], [1, 99]) if hand.any() else (d.min(), d.max()))
    hi = max(hi + 0.05, lo + 0.1)
    x = np.clip((d - lo) / (hi - lo), 0, 1)
    return cv2.cvtColor(cv2.applyColorMap((255 - x * 255).astype(np.uint8), cv2.COLORMAP_TURBO),
                        cv2.COLOR_BGR2RGB)


def mask_tile(frame: SynthFrame) -> np.ndarray:
    """Mask labels: black background, grey person, one colour per finger (darker towards the
    palm), white palm."""
    lut = np.zeros((256, 3), np.uint8)
    lut[1] = (90, 90, 90)
    for side in (0, 1):
        for part in range(16):
            if part == 15:
                col = (235, 235, 235)
            else:
                f, k = divmod(part, 3)
                col = tuple(int(c * (1.0 - 0.25 * k)) for c in FINGER_COLORS[f])
            lut[2 + 16 * side + part] = col
    return lut[frame.mask]


def skeleton_tile(frame: SynthFrame) -> np.ndarray:
    """RGB with the 2D skeleton: visible joints filled, hidden joints hollow."""
    img = frame.rgb.copy()
    scale = 4  # sub-pixel drawing
    pts = np.round(frame.uv_px * scale).astype(int)
    for (a, b), f in zip(BONES, BONE_FINGER):
        cv2.line(img, tuple(pts[a]), tuple(pts[b]), FINGER_COLORS[f], 1, cv2.LINE_AA, 2)
    for j, p in enumerate(pts):
        cv2.circle(img, tuple(p), 2 * scale, (255, 255, 255), -1 if frame.vis[j] else 1,
                   cv2.LINE_AA, 2)
    return img


def make_page(config: SynthConfig, n: int, seed: int, tile: int, per_row: int = 2) -> np.ndarray:
    """(rows * tile, per_row * 4 * tile, 3) uint8 RGB page of n samples."""
    strips = []
    for i in tqdm(range(n), desc="preview", unit="sample"):
        f = render_sample(config, (seed, 0, i))
        tiles = [f.rgb, depth_tile(f), mask_tile(f), skeleton_tile(f)]
        strips.append(np.concatenate(
            [cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA) for t in tiles], axis=1))
    while len(strips) % per_row:
        strips.append(np.zeros_like(strips[0]))
    rows = [np.concatenate(strips[r:r + per_row], axis=1) for r in range(0, len(strips), per_row)]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.synth.preview",
        description="Render n synthetic samples and save one PNG page with, per sample, the RGB "
                    "image, the depth map, the RHD mask labels and the skeleton overlay.")
    p.add_argument("--out", type=Path, default=Path("docs/samples.png"), help="PNG to write")
    p.add_argument("--n", type=int, default=8, help="number of samples (8)")
    p.add_argument("--size", type=int, default=320, help="rendered image side (320)")
    p.add_argument("--tile", type=int, default=240, help="tile side on the page (240)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--backgrounds", type=Path, default=None, metavar="DIR",
                   help="folder of background photos (optional)")
    args = p.parse_args(argv)
    try:
        if args.n < 1 or args.size < 32 or args.tile < 16:
            raise ValueError("--n must be >= 1, --size >= 32 and --tile >= 16")
        bgs = tuple(list_images(args.backgrounds)) if args.backgrounds else ()
        page = make_page(SynthConfig(size=args.size, backgrounds=bgs), args.n, args.seed,
                         args.tile)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.out), cv2.cvtColor(page, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {args.out}; check the folder and the .png suffix")
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
