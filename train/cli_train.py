"""handtrack-train: train one strategy of the cross-modal VAE (see train/strategies.py)."""

from __future__ import annotations

import argparse
import sys

from model.checkpoint import CheckpointError
from model.config_flags import add_flags, from_args
from model.net_config import NetConfig
from train.config import DATA_AND_NETWORK, GROUPS, ConfigError, TrainConfig
from train.loop import train
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
    """Every TrainConfig field and the NetConfig fields made with option() (model/config_flags)."""
    p = _Parser(
        prog="handtrack-train", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    # NetConfig first: its options open the "data and network" group
    add_flags(p, (NetConfig, DATA_AND_NETWORK), TrainConfig, groups=GROUPS)
    return p


def configs_from_args(a: argparse.Namespace) -> tuple[TrainConfig, NetConfig]:
    """Raises ConfigError / ValueError (one line) for an option out of range."""
    cfg = from_args(a, TrainConfig)  # bounds first: before Noise2DConfig's own checks
    return cfg, from_args(a, NetConfig)


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
