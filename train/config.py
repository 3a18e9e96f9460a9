"""TrainConfig: one training run's options. Each field is also its handtrack-train option
(model/config_flags.py): the flag, its help, default and bounds are written here once."""

from __future__ import annotations

from dataclasses import dataclass

from model.config_flags import OptionError, check_bounds, nested, option
from train.data.noise2d import Noise2DConfig
from train.strategies import STRATEGIES, get_strategy

# The option groups of handtrack-train, in the order --help lists them.
OPTIMISATION = "optimisation"
LOSS_WEIGHTS = "loss weights"
NOISE_2D = "s4-2d: noise on the 2D expert's input keypoints (fractions of the crop side)"
DATA_AND_NETWORK = "data and network"
LOGGING = "logging"
GROUPS = (OPTIMISATION, LOSS_WEIGHTS, NOISE_2D, DATA_AND_NETWORK, LOGGING)


class ConfigError(ValueError):
    """A user-caused problem found before (or while starting) training; one-line message."""


@dataclass
class TrainConfig:
    strategy: str = option("s1", "training strategy (paper Table 1 rows)",
                           choices=list(STRATEGIES), required=True)
    data: str = option("", "training data: rhd:PATH, stb:PATH or synth:PATH", required=True)
    eval_data: str = option("", "evaluation data spec (default: the evaluation split of --data; "
                                "'none' to skip)")
    out: str = option("runs/run", "run folder for checkpoints and logs (default {default})")
    steps: int = option(20_000, "training steps ({default})", ge=1, group=OPTIMISATION)
    batch_size: int = option(32, "global batch size, split over DDP processes ({default})",
                             ge=1, group=OPTIMISATION)
    lr: float = option(1e-4, "Adam learning rate ({default:g})", gt=0.0, group=OPTIMISATION)
    lr_drops: int = option(2, "divide the lr by 10 on plateau at most this often ({default})",
                           ge=0, group=OPTIMISATION)
    plateau_every: int = option(  # the mean training loss of each window is checked
        500, "steps per plateau check ({default})", ge=1, group=OPTIMISATION)
    plateau_patience: int = option(
        3, "checks without 1%% improvement before a drop ({default})", ge=1, group=OPTIMISATION)
    beta_start: float = option(1e-5, "KL weight at step 0 ({default:g})", gt=0.0,
                               group=LOSS_WEIGHTS)
    beta_end: float = option(1e-3, "KL weight after annealing ({default:g})", gt=0.0,
                             group=LOSS_WEIGHTS)
    beta_anneal_steps: int = option(0, "log-linear annealing length (default: all steps)", ge=0,
                                    group=LOSS_WEIGHTS)
    beta_prime: float = option(1.0, "s3: weight of KL(q(z|x,C)||q(z|x)) ({default:g})",
                               ge=0.0, group=LOSS_WEIGHTS)
    lambda_heat: float = option(0.01, "heat-map loss weight ({default:g})", ge=0.0,
                                group=LOSS_WEIGHTS)
    lambda_cloud: float = option(1.0, "Chamfer + EMD weight ({default:g})", ge=0.0,
                                 group=LOSS_WEIGHTS)
    labelled_fraction: float = option(
        100.0, "weak supervision: percent of samples (lowest data-set indices) whose pose label "
        "is used; the rest keep RGB + cloud ({default:g})", gt=0.0, le=100.0, group=LOSS_WEIGHTS)
    seed: int = option(0, "seed of weights, data order, noise", ge=0, le=2**32 - 1,
                       group=OPTIMISATION)
    augment: bool = option(True, "disable data augmentation", group=DATA_AND_NETWORK)
    workers: int = option(1, "data loader processes ({default}; one keeps up with the crop "
                             "cache)", ge=0, group=DATA_AND_NETWORK)
    cache: bool = option(True, "decode every sample from the data set's images at every step "
                               "instead of reading the crop cache (train/data/cache.py; built "
                               "once per data set, crop size and margin, beside the data or "
                               "in ~/.cache/handtrack)", group=DATA_AND_NETWORK)
    precision: str = option(
        "auto", "auto, fp32 or bf16: bf16 runs the networks' forward pass under bfloat16 "
        "autocast (float32 weights, optimiser and losses); auto picks bf16 on CPUs with "
        "AVX512-BF16 or AMX and fp32 elsewhere ({default})", choices=["auto", "fp32", "bf16"],
        group=OPTIMISATION)
    decode: str = option(
        "shared", "shared: the heat-map and cloud decoders run once per step, each sample "
        "decoded from one of the strategy's latents in turn (an unbiased estimate of every "
        "latent's terms at 1/K of the cost); all: every latent decoded for every sample "
        "({default})", choices=["shared", "all"], group=LOSS_WEIGHTS)
    init: str = option("", "the RGB trunk's start: local torchvision ResNet-18 ImageNet "
                           "weights (.pth) or a handtrack checkpoint's trunk (e.g. "
                           "app/assets/default.pt, to fine-tune it); nothing is downloaded",
                       group=OPTIMISATION)
    resume: bool = option(False, "continue from OUT/last.pt")
    set_lr: float = option(  # > 0: replaces the checkpoint's learning rate
        0.0, "with --resume: continue with this learning rate instead of the saved one (a manual "
        "drop for the last steps; logged in log.csv)", ge=0.0, metavar="LR")
    log_every: int = option(10, "steps per CSV/TB row", ge=1, group=LOGGING)
    eval_every: int = option(0, "steps per evaluation (0: at end)", ge=0, group=LOGGING)
    eval_samples: int = option(0, "evaluate on the first N samples only (0: all)", ge=0,
                               group=LOGGING)
    ckpt_every: int = option(500, "steps per checkpoint", ge=1, group=LOGGING)
    device: str = option("auto", "auto, cpu, cuda or cuda:N ({default})", group=LOGGING)
    progress: bool = option(True, "no progress bar", group=LOGGING)
    noise2d: Noise2DConfig = nested(Noise2DConfig, "noise", NOISE_2D)  # s4-2d: 2D input noise

    def check(self) -> None:
        """Every option in range (ConfigError naming the option and a valid value), before
        anything is opened or written."""
        get_strategy_or_fail(self.strategy)
        if not str(self.out).strip():
            raise ConfigError("--out is empty; pass a run folder, e.g. --out runs/s4")
        try:
            check_bounds(self)
        except OptionError as e:
            raise ConfigError(str(e)) from None
        if self.set_lr and not self.resume:
            raise ConfigError("--set-lr changes the learning rate of a resumed run: give a "
                              "positive value together with --resume (a new run uses --lr)")


def get_strategy_or_fail(name: str):
    try:
        return get_strategy(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
