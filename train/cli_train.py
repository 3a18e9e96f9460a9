"""handtrack-train: train one strategy of the cross-modal VAE (see train/strategies.py)."""

from __future__ import annotations

import argparse
import sys

from model.checkpoint import CheckpointError
from model.net_config import NetConfig
from train.data.noise2d import Noise2DConfig
from train.loop import NOISE_FIELDS, ConfigError, TrainConfig, check_numbers, train
from train.strategies import STRATEGIES

EPILOG = """examples:
  handtrack-synth --out data/synth --train 2000 --eval 200      # (train/synth) a synthetic set
  handtrack-train --strategy s4 --data synth:data/synth --out runs/s4 --crop-size 128
  handtrack-train --strategy s4 --data synth:data/synth --out runs/s4 --resume   # continue
  handtrack-train --strategy s4-2d --data synth:data/synth --out runs/s4-2d --crop-size 128
  torchrun --nproc-per-node 4 -m train.cli_train --strategy s4 --data rhd:RHD_published_v2 ...

strategies: """ + "; ".join(f"{k}: {v.paper}" for k, v in STRATEGIES.items())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """A usage mistake: one `error:` line with the fix, exit status 2."""
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    d, n = TrainConfig(), NetConfig()
    p = _Parser(
        prog="handtrack-train", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategy", required=True, choices=list(STRATEGIES),
                   help="training strategy (paper Table 1 rows)")
    p.add_argument("--data", required=True, help="training data: rhd:PATH, stb:PATH or synth:PATH")
    p.add_argument("--eval-data", default="",
                   help="evaluation data spec (default: the evaluation split of --data; "
                        "'none' to skip)")
    p.add_argument("--out", default=d.out, help=f"run folder for checkpoints and logs "
                                                f"(default {d.out})")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--set-lr", type=float, default=0.0, metavar="LR",
                   help="with --resume: continue with this learning rate instead of the saved "
                        "one (a manual drop for the last steps; logged in log.csv)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=d.steps, help=f"training steps ({d.steps})")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"global batch size, split over DDP processes ({d.batch_size})")
    g.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate ({d.lr:g})")
    g.add_argument("--lr-drops", type=int, default=d.lr_drops,
                   help=f"divide the lr by 10 on plateau at most this often ({d.lr_drops})")
    g.add_argument("--plateau-every", type=int, default=d.plateau_every,
                   help=f"steps per plateau check ({d.plateau_every})")
    g.add_argument("--plateau-patience", type=int, default=d.plateau_patience,
                   help=f"checks without 1%% improvement before a drop ({d.plateau_patience})")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of weights, data order, noise")
    g.add_argument("--init", default="",
                   help="local torchvision ResNet-18 ImageNet weights (.pth) for the RGB trunk "
                        "(nothing is downloaded)")
    g = p.add_argument_group("loss weights")
    g.add_argument("--beta-start", type=float, default=d.beta_start,
                   help=f"KL weight at step 0 ({d.beta_start:g})")
    g.add_argument("--beta-end", type=float, default=d.beta_end,
                   help=f"KL weight after annealing ({d.beta_end:g})")
    g.add_argument("--beta-anneal-steps", type=int, default=0,
                   help="log-linear annealing length (default: all steps)")
    g.add_argument("--beta-prime", type=float, default=d.beta_prime,
                   help=f"s3: weight of KL(q(z|x,C)||q(z|x)) ({d.beta_prime:g})")
    g.add_argument("--lambda-heat", type=float, default=d.lambda_heat,
                   help=f"heat-map loss weight ({d.lambda_heat:g})")
    g.add_argument("--lambda-cloud", type=float, default=d.lambda_cloud,
                   help=f"Chamfer + EMD weight ({d.lambda_cloud:g})")
    g.add_argument("--labelled-fraction", type=float, default=d.labelled_fraction,
                   help="weak supervision: percent of samples (lowest data-set indices) whose "
                        "pose label is used; the rest keep RGB + cloud (100)")
    z = Noise2DConfig()
    g = p.add_argument_group("s4-2d: noise on the 2D expert's input keypoints (fractions of the "
                             "crop side)")
    g.add_argument("--noise-jitter", type=float, default=z.jitter,
                   help=f"per-joint Gaussian sigma ({z.jitter:g})")
    g.add_argument("--noise-drop", type=float, default=z.drop_prob,
                   help=f"probability a joint's map is zeroed ({z.drop_prob:g})")
    g.add_argument("--noise-swap", type=float, default=z.swap_prob,
                   help=f"probability two neighbouring fingers swap ({z.swap_prob:g})")
    g.add_argument("--noise-offset", type=float, default=z.offset,
                   help=f"whole-hand shift sigma ({z.offset:g})")
    g.add_argument("--noise-scale", type=float, default=z.scale,
                   help=f"whole-hand log-scale sigma ({z.scale:g})")
    g = p.add_argument_group("data and network")
    g.add_argument("--crop-size", type=int, default=n.crop_size,
                   help=f"RGB crop side in px ({n.crop_size}; 128 for real time)")
    g.add_argument("--cloud-points", type=int, default=n.cloud_points,
                   help=f"points per cloud ({n.cloud_points})")
    g.add_argument("--heatmap-size", type=int, default=n.heatmap_size,
                   help=f"heat-map side, a power of 2 ({n.heatmap_size})")
    g.add_argument("--latent-dim", type=int, default=n.latent_dim,
                   help=f"latent size ({n.latent_dim})")
    g.add_argument("--no-augment", action="store_true", help="disable data augmentation")
    g.add_argument("--workers", type=int, default=d.workers,
                   help=f"data loader processes ({d.workers})")
    g = p.add_argument_group("logging")
    g.add_argument("--log-every", type=int, default=d.log_every, help="steps per CSV/TB row")
    g.add_argument("--eval-every", type=int, default=0, help="steps per evaluation (0: at end)")
    g.add_argument("--eval-samples", type=int, default=0,
                   help="evaluate on the first N samples only (0: all)")
    g.add_argument("--ckpt-every", type=int, default=d.ckpt_every, help="steps per checkpoint")
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N (auto)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def configs_from_args(a: argparse.Namespace) -> tuple[TrainConfig, NetConfig]:
    """Raises ConfigError / ValueError (one line) for an option out of range."""
    check_numbers({name: getattr(a, name) for name in NOISE_FIELDS})  # before Noise2DConfig
    net = NetConfig(latent_dim=a.latent_dim, crop_size=a.crop_size, cloud_points=a.cloud_points,
                    heatmap_size=a.heatmap_size)
    cfg = TrainConfig(
        strategy=a.strategy, data=a.data, eval_data=a.eval_data, out=a.out, steps=a.steps,
        batch_size=a.batch_size, lr=a.lr, lr_drops=a.lr_drops, plateau_every=a.plateau_every,
        plateau_patience=a.plateau_patience, beta_start=a.beta_start, beta_end=a.beta_end,
        beta_anneal_steps=a.beta_anneal_steps, beta_prime=a.beta_prime,
        lambda_heat=a.lambda_heat, lambda_cloud=a.lambda_cloud,
        labelled_fraction=a.labelled_fraction, seed=a.seed, workers=a.workers,
        augment=not a.no_augment, init=a.init, resume=a.resume, set_lr=a.set_lr,
        log_every=a.log_every,
        eval_every=a.eval_every, eval_samples=a.eval_samples, ckpt_every=a.ckpt_every,
        device=a.device, progress=not a.no_progress,
        noise2d=Noise2DConfig(jitter=a.noise_jitter, drop_prob=a.noise_drop,
                              swap_prob=a.noise_swap, offset=a.noise_offset, scale=a.noise_scale))
    return cfg, net


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg, net = configs_from_args(args)
        cfg.check()
        result = train(cfg, net)  # SIGINT / SIGTERM: saved at a step boundary (StopRequest)
    except (ConfigError, CheckpointError, FileNotFoundError, FloatingPointError, ValueError) as e:
        # ValueError: NetConfig validation (e.g. --heatmap-size 48); the others name the problem.
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system (full disk, permissions) while writing the run
        print(f"error: {e}; check free space and permissions there, or choose another --out",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a signal before the first step
        print("interrupted before the first training step; nothing was saved", file=sys.stderr)
        return 130
    if result["interrupted"]:
        return 130
    if result["new_steps"] == 0:  # a resumed run that was already complete (the loop says so)
        return 0
    m = result["metrics"]
    summary = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float))
    print(f"done: step {result['step']}, checkpoint {result['checkpoint']}; {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
