"""Train several runs of an experiment at the same time, one process per run.

On a GPU one small run leaves the device mostly idle (its step is launch- and loader-bound), and
on a many-core machine one run uses a few cores well; several runs side by side use the rest.
Each run is a spawned process (not a daemon, so its DataLoader may start workers) with its share
of the CPU threads, writing its output to OUT/RUN/train.log. Ctrl+C or SIGTERM reach every run
(one process group), each saves its checkpoint at a step boundary, and the experiment resumes
them when run again.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

from model.net_config import NetConfig
from train.config import TrainConfig

POLL_S = 0.5


def _child(cfg: TrainConfig, net: NetConfig, log: str, threads: int) -> None:
    """One run in its own process: output to `log`, exit 0 (done), 130 (interrupted, saved)."""
    import torch

    from train.loop import train

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    torch.set_num_threads(threads)
    t = time.time()
    try:
        res = train(cfg, net)
    except KeyboardInterrupt:
        sys.exit(130)
    s = time.time() - t
    print(f"trained {res['new_steps']} steps in {s:.1f} s ({res['new_steps'] / s:.2f} steps/s "
          f"with start-up, {threads} CPU threads)", flush=True)
    sys.exit(130 if res["interrupted"] else 0)


def train_in_parallel(runs: list[tuple[str, TrainConfig]], net: NetConfig, jobs: int,
                      cores: int | None = None) -> dict[str, float]:
    """Train `runs` ((name, config) pairs), at most `jobs` at a time. Returns each run's wall
    time (s). Raises KeyboardInterrupt when a run was interrupted (its checkpoint is saved) and
    RuntimeError naming the run and its log when one failed; the others finish first."""
    cores = cores or len(os.sched_getaffinity(0))
    threads = max(1, cores // max(1, min(jobs, len(runs))))
    ctx = multiprocessing.get_context("spawn")
    pending = list(runs)
    active: dict[str, tuple[multiprocessing.Process, float, Path]] = {}
    timings: dict[str, float] = {}
    failed: list[str] = []
    interrupted = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        while pending or active:
            while pending and len(active) < jobs and not interrupted:
                name, cfg = pending.pop(0)
                Path(cfg.out).mkdir(parents=True, exist_ok=True)
                log = Path(cfg.out) / "train.log"
                proc = ctx.Process(target=_child, args=(cfg, net, str(log), threads),
                                   name=f"train-{name}")
                proc.start()
                active[name] = (proc, time.time(), log)
                print(f"== {name}: strategy {cfg.strategy}, seed {cfg.seed}, labelled "
                      f"{cfg.labelled_fraction:g} % (output: {log})", flush=True)
            for name, (proc, t, log) in list(active.items()):
                if proc.exitcode is None:
                    continue
                del active[name]
                if proc.exitcode == 0:
                    timings[name] = time.time() - t
                    print(f"   {name} done in {timings[name] / 60:.1f} min", flush=True)
                elif proc.exitcode == 130:
                    interrupted = True
                else:
                    failed.append(f"{name} (exit status {proc.exitcode}; see {log})")
            if interrupted:
                pending.clear()
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        # Ctrl+C reached every run (one process group); a SIGTERM to this process alone is
        # passed on. A run that gets both saves its last completed step all the same.
        for proc, _, _ in active.values():
            if proc.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc, _, _ in active.values():
            proc.join()
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
    if failed:
        raise RuntimeError("training failed for " + ", ".join(failed))
    if interrupted:
        raise KeyboardInterrupt
    return timings
