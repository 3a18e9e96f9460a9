"""handtrack-synth: render a synthetic hand data set in the RHD layout, or a video sequence.

Examples:
    handtrack-synth --out data/synth --train 20000 --eval 1000 --size 320 --seed 0
    handtrack-synth --out data/synth --train 2000 --backgrounds ~/photos
    handtrack-synth --out data/seq --sequence --frames 300 --motion counting
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.synth.scene import list_images
from train.synth.sequence import MOTIONS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handtrack-synth",
        description="Render procedural articulated hands (numba, CPU). Writes the RHD layout: "
                    "OUT/{training,evaluation}/{color,depth,mask}/%05d.png and "
                    "OUT/<split>/anno_<split>.pickle ('xyz' 42x3 m, 'uv_vis' 42x3, 'K' 3x3). "
                    "Read it back with the data-set spec synth:OUT. Deterministic for a seed, "
                    "whatever the number of workers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:" + __doc__.split("Examples:")[1],
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--train", type=int, default=0, metavar="N", help="training frames")
    p.add_argument("--eval", type=int, default=0, metavar="M", help="evaluation frames")
    p.add_argument("--size", type=int, default=320, help="square image side in px (320)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--backgrounds", type=Path, default=None, metavar="DIR",
                   help="folder of photos used as backgrounds (besides procedural ones)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes (default: all cores)")
    p.add_argument("--no-sensor", action="store_true",
                   help="no blur / noise / JPEG artefacts")
    p.add_argument("--legacy-style", action="store_true",
                   help="the scene statistics of earlier versions (uniform orientations, "
                        "pattern backgrounds, flat skin, strong noise): reproduces data sets "
                        "rendered before, frame for frame")
    g = p.add_argument_group("sequence mode (a video with per-frame annotations)")
    g.add_argument("--sequence", action="store_true",
                   help="write OUT/sequence.mp4 and OUT/anno_sequence.pickle instead")
    g.add_argument("--frames", type=int, default=300, help="frames of the sequence (300)")
    g.add_argument("--motion", choices=MOTIONS, default="mix", help="hand motion (mix)")
    g.add_argument("--width", type=int, default=640, help="video width (640)")
    g.add_argument("--height", type=int, default=480, help="video height (480)")
    g.add_argument("--fps", type=float, default=30.0, help="video frame rate (30)")
    g.add_argument("--side", choices=("left", "right"), default="right", help="hand side")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.size < 32 or args.width < 32 or args.height < 32:
        raise ValueError("--size, --width and --height must be >= 32 px")
    if args.train < 0 or args.eval < 0 or args.frames < 1:
        raise ValueError("--train/--eval must be >= 0 and --frames >= 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be >= 1")
    backgrounds = tuple(list_images(args.backgrounds)) if args.backgrounds else ()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sequence:
        from train.synth.sequence import SequenceConfig, write_sequence

        cfg = SequenceConfig(width=args.width, height=args.height, fps=args.fps,
                             motion=args.motion, side=0 if args.side == "left" else 1,
                             seed=args.seed, background=backgrounds[0] if backgrounds else None)
        write_sequence(args.out, cfg, args.frames)
        print(f"wrote {args.out / 'sequence.mp4'} and {args.out / 'anno_sequence.pickle'}")
        return 0
    if args.train == 0 and args.eval == 0:
        raise ValueError("nothing to do: give --train N and/or --eval M (or --sequence)")
    from train.synth.render import LEGACY_STYLE, SynthConfig
    from train.synth.writer import write_dataset

    style = LEGACY_STYLE if args.legacy_style else {}
    cfg = SynthConfig(size=args.size, backgrounds=backgrounds, sensor=not args.no_sensor, **style)
    write_dataset(args.out, args.train, args.eval, cfg, seed=args.seed, workers=args.workers)
    print(f"wrote {args.train} training and {args.eval} evaluation frames to {args.out} "
          f"(open with synth:{args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
