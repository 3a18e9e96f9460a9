"""python -m train.procedural: train the 2D expert of a checkpoint on procedural samples (no
rendering), measure a detector's 2D errors, or time the sample generator.

  train      the heat-map encoder q(z|H) against the frozen pose decoder (trainer.py)
  joint      a coordinate 2D expert and a new pose decoder together, right hands (joint.py)
  align      the RGB expert (and cloud decoder) into a joint run's latent space (align.py)
  calibrate  MediaPipe's 2D errors on an annotated real set (calibrate.py), as JSON
  bench      samples/s of the generator (poses, noise, crops and heat maps)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from model.checkpoint import CheckpointError
from model.config_flags import OptionError, add_flags, from_args
from train.procedural import align, joint, trainer
from train.procedural.align import AlignConfig
from train.procedural.joint import JointTrainConfig
from train.procedural.samples import ProceduralConfig, SampleGenerator
from train.procedural.trainer import ProceduralTrainConfig, run

EPILOG = """examples:
  python -m train.procedural train --out runs/procedural2d --samples 2000000 --minutes 45
  python -m train.procedural train --out runs/procedural2d --resume     # continue that run
  python -m train.procedural calibrate ../shared/realhands/hgc_val/annotations.json
  python -m train.procedural bench --batches 20
  handtrack-eval --checkpoint runs/procedural2d/last.pt --data synth:data/synth-fresh \\
      --fuse rgb 2d rgb+2d
The checkpoint keeps the source's keys, config and data dict (app/assets/default.pt by default:
the network the app ships), with only the heat encoder's weights changed; its "procedural" key
records what was trained, the samples seen and the noise and scene configs."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO,HI (e.g. 0.7,3)") from None
    return lo, hi


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("samples (ProceduralConfig; defaults: the bundled model's)")
    d = ProceduralConfig()
    g.add_argument("--crop-size", type=int, default=d.crop_size, help="crop side S (%(default)s)")
    g.add_argument("--heatmap-size", type=int, default=d.heatmap_size,
                   help="heat-map side M (%(default)s)")
    g.add_argument("--sigma-px", type=float, default=d.sigma_px,
                   help="heat-map Gaussian sigma, heat-map px (%(default)s)")
    g.add_argument("--noise-level", type=_pair, default=d.noise.level, metavar="LO,HI",
                   help="per-hand factor on the measured detector noise, log-uniform "
                        "(%(default)s)")
    g.add_argument("--box-margin", type=_pair, default=d.noise.box_margin, metavar="LO,HI",
                   help="crop box side / keypoint extent (%(default)s; the engine: 1.4)")
    g.add_argument("--depth-m", type=_pair, default=d.scene.depth_m, metavar="LO,HI",
                   help="palm depth in metres (%(default)s)")
    g.add_argument("--hfov-deg", type=_pair, default=d.scene.hfov_deg, metavar="LO,HI",
                   help="webcam horizontal field of view (%(default)s)")
    g.add_argument("--p-upright", type=float, default=d.scene.p_upright,
                   help="share of fingers-up webcam poses, the rest uniform on SO(3) "
                        "(%(default)s)")


def _data_config(a: argparse.Namespace) -> ProceduralConfig:
    d = ProceduralConfig()
    return ProceduralConfig(
        crop_size=a.crop_size, heatmap_size=a.heatmap_size, sigma_px=a.sigma_px,
        scene=replace(d.scene, depth_m=a.depth_m, hfov_deg=a.hfov_deg, p_upright=a.p_upright),
        noise=replace(d.noise, level=a.noise_level, box_margin=a.box_margin))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m train.procedural", description=__doc__, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train the 2D expert (heat-map encoder)",
                       description=trainer.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(t, (ProceduralTrainConfig, "training"))
    _data_args(t)
    j = sub.add_parser("joint", help="train a coordinate 2D expert with a new pose decoder",
                       description=joint.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(j, (JointTrainConfig, "training"))
    _data_args(j)
    al = sub.add_parser("align", help="move the RGB expert and cloud decoder into a joint "
                        "run's latent space", description=align.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(al, (AlignConfig, "alignment"))
    c = sub.add_parser("calibrate", help="measure MediaPipe's 2D errors on annotated images")
    c.add_argument("annotations", help="an annotations.json (../shared/realhands layout)")
    c.add_argument("--frame", type=int, nargs=2, default=(1280, 720), metavar=("W", "H"),
                   help="size of the frame crops are pasted back into (1280 720)")
    c.add_argument("--out", default="", help="also write the numbers to this JSON file")
    b = sub.add_parser("bench", help="time the sample generator")
    b.add_argument("--batches", type=int, default=10, help="batches to time (10)")
    b.add_argument("--batch-size", type=int, default=256, help="samples per batch (256)")
    b.add_argument("--keypoints", action="store_true",
                   help="time the coordinate expert's batches (joint: keypoint features, no "
                        "heat maps, half of them with the evaluation's crop noise)")
    _data_args(b)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if a.command == "train":
            cfg = replace(from_args(a, ProceduralTrainConfig), data=_data_config(a))
            run(cfg)
        elif a.command == "joint":
            joint.run(replace(from_args(a, JointTrainConfig), data=_data_config(a)))
        elif a.command == "align":
            align.run(from_args(a, AlignConfig))
        elif a.command == "calibrate":
            from train.procedural.calibrate import measure

            r = measure(a.annotations, tuple(a.frame))
            text = json.dumps(r, indent=1)
            print(text)
            if a.out:
                with open(a.out, "w") as f:
                    f.write(text + "\n")
        else:
            import torch

            torch.set_num_threads(1)
            cfg = _data_config(a)
            if a.keypoints:
                import numpy as np

                from train.data.noise2d import Noise2DConfig
                from train.procedural.samples import make_keypoint_batch

                rng = np.random.default_rng(0)
                make = lambda: make_keypoint_batch(a.batch_size, cfg, rng,  # noqa: E731
                                                   Noise2DConfig(), 0.5)
                what = "keypoint features (no heat maps)"
            else:
                gen = SampleGenerator(cfg, reuse=True)
                make = lambda: gen.batch(a.batch_size)  # noqa: E731
                what = f"heat maps {a.heatmap_size}x{a.heatmap_size}"
            make()  # compile / warm up
            t0 = time.perf_counter()
            for _ in range(a.batches):
                make()
            dt = time.perf_counter() - t0
            rate = a.batches * a.batch_size / dt
            print(f"{rate:.0f} samples/s ({rate * 3600 / 1e6:.2f} M samples/hour) with {what}, "
                  f"batch {a.batch_size}, one thread")
    except (CheckpointError, FileNotFoundError, FloatingPointError, OptionError,
            ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is in --out", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
