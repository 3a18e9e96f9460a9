"""End to end on a tiny synthetic set: handtrack-synth's Python API -> handtrack-train (two
strategies, 2 steps) -> handtrack-eval (tables, PCK plot, cloud and interpolation figures)."""

import json

import pytest

from tests.train.fakes import single_thread

synth = pytest.importorskip("train.synth.writer", reason="train/synth is not available")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    from train.synth.render import SynthConfig

    root = tmp_path_factory.mktemp("synth")
    synth.write_dataset(root, 4, 3, SynthConfig(size=96), seed=0, workers=1, progress=False)
    return root


SMALL = ["--crop-size", "32", "--cloud-points", "32", "--heatmap-size", "8", "--steps", "2",
         "--batch-size", "2", "--workers", "0", "--no-progress", "--device", "cpu",
         "--log-every", "1"]


@pytest.mark.slow
def test_train_and_eval_end_to_end(synth_dir, tmp_path, capsys):
    from train.cli_eval import main as eval_main
    from train.cli_train import main as train_main

    with single_thread():
        for s in ("s1", "s4"):
            code = train_main(["--strategy", s, "--data", f"synth:{synth_dir}",
                               "--out", str(tmp_path / s), *SMALL])
            assert code == 0, capsys.readouterr().err
        out = tmp_path / "eval"
        code = eval_main(["--checkpoint", str(tmp_path / "s1" / "last.pt"),
                          str(tmp_path / "s4" / "last.pt"), "--data", f"synth:{synth_dir}",
                          "--out", str(out), "--no-progress", "--device", "cpu",
                          "--baseline", "--anatomy"])
    assert code == 0, capsys.readouterr().err
    table = (out / "results.md").read_text().splitlines()
    assert len(table) == 7 and table[2].startswith("| s1 | s1 |") and "| s4 | s4 |" in table[5]
    assert table[4].startswith("| mean pose (oracle) | - |") and "| plausible |" in table[0]
    res = json.loads((out / "metrics.json").read_text())
    assert all(r["metrics"]["epe_mm"] > 0 and r["metrics"]["n"] == 3 for r in res)
    assert [r["label"] for r in res] == ["s1", "s1+fit", "mean pose (oracle)", "s4", "s4+fit"]
    for raw, fit in ((res[0], res[1]), (res[3], res[4])):  # barely trained nets: implausible
        assert raw["metrics"]["plausible"] < 1.0 and fit["metrics"]["plausible"] == 1.0
        assert fit["metrics"]["moved_mm"] > 0 and "moved_mm" not in raw["metrics"]
    for f in ("pck.png", "clouds_s4.png", "interp_s1.png", "interp_s4.png"):
        assert (out / f).stat().st_size > 1000, f
    assert not (out / "clouds_s1.png").exists()  # s1 has no cloud decoder


def test_eval_cli_errors(tmp_path, capsys):
    from train.cli_eval import main as eval_main

    code = eval_main(["--checkpoint", str(tmp_path / "none.pt"), "--data", "synth:x"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "does not exist" in err


@pytest.mark.slow
def test_train_s4_2d_and_eval_each_fuse_mode(synth_dir, tmp_path, capsys):
    """handtrack-train --strategy s4-2d (noisy 2D input in the loop) -> a checkpoint with the
    heat-map encoder -> handtrack-eval --fuse rgb 2d rgb+2d: one row per mode, different
    predictions; an RGB-only checkpoint with --fuse 2d is a one-line error."""
    from model.checkpoint import load_inference
    from train.cli_eval import main as eval_main
    from train.cli_train import main as train_main

    with single_thread():
        code = train_main(["--strategy", "s4-2d", "--data", f"synth:{synth_dir}",
                           "--out", str(tmp_path / "f"), *SMALL])
        assert code == 0, capsys.readouterr().err
        ckpt = tmp_path / "f" / "last.pt"
        assert load_inference(ckpt)[1]["has_heat_encoder"]
        out = tmp_path / "eval"
        code = eval_main(["--checkpoint", str(ckpt), "--data", f"synth:{synth_dir}",
                          "--out", str(out), "--no-progress", "--device", "cpu", "--no-figures",
                          "--fuse", "rgb", "2d", "rgb+2d"])
        assert code == 0, capsys.readouterr().err
        res = json.loads((out / "metrics.json").read_text())
        assert [r["label"] for r in res] == ["f[rgb]", "f[2d]", "f[rgb+2d]"]
        assert len({r["metrics"]["epe_mm"] for r in res}) == 3
        capsys.readouterr()
        code = train_main(["--strategy", "s1", "--data", f"synth:{synth_dir}",
                           "--out", str(tmp_path / "s1"), *SMALL])
        assert code == 0
        capsys.readouterr()
        code = eval_main(["--checkpoint", str(tmp_path / "s1" / "last.pt"), "--data",
                          f"synth:{synth_dir}", "--fuse", "2d", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and "s4-2d" in err
        assert len(err.strip().splitlines()) == 1


def test_mean_pose_baseline_known_values():
    """Two poses mirrored about their mean (the root fixed at 0): every other joint is 1 unit
    from the mean, i.e. the bone length (10 mm, 30 mm) -> EPE (20 * 10 + 20 * 30) / 42 mm."""
    import numpy as np

    from model.hand import ROOT
    from train.cli_eval import mean_pose_baseline

    gt = np.zeros((2, 21, 3))
    gt[0, :, 0], gt[1, :, 0] = 1.0, -1.0
    gt[:, ROOT] = 0.0
    summary, pck = mean_pose_baseline(gt, np.array([0.010, 0.030]))
    assert summary["epe_mm"] == pytest.approx(800 / 42) and summary["n"] == 2
    assert summary["pck_20"] == pytest.approx(22 / 42) and summary["pck_50"] == 1.0
    assert pck[0] == pytest.approx(22 / 42) and pck[-1] == 1.0


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_kill_saves_the_checkpoint(synth_dir, tmp_path, sig):
    """`kill` (SIGTERM) or SIGINT — which a shell's background job ignores unless the program
    installs its own handler — stops handtrack-train like Ctrl-C: last.pt is saved, exit 130."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from model.checkpoint import read_checkpoint

    out = tmp_path / "run"
    args = [a if a != "2" or i != SMALL.index("--steps") + 1 else "100000"
            for i, a in enumerate(SMALL)]
    cmd = [sys.executable, "-m", "train.cli_train", "--strategy", "s1", "--data",
           f"synth:{synth_dir}", "--out", str(out), *args, "--ckpt-every", "100000",
           "--eval-data", "none"]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[2], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    log = out / "log.csv"
    deadline = time.time() + 120
    while not (log.is_file() and len(log.read_text().splitlines()) > 3):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stdout
    assert read_checkpoint(out / "last.pt")["step"] >= 3
