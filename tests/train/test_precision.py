"""train/experiments/precision.py at a toy size: both precisions are trained from the same
seed, their logs are read, the figure is written, the report compares them to float32 and a
second invocation reuses the finished runs."""

from __future__ import annotations

import numpy as np
import pytest

from train.experiments import precision

synth = pytest.importorskip("train.synth.writer", reason="train/synth is not available")

TOY = ["--crop-size", "32", "--cloud-points", "32", "--heatmap-size", "16", "--steps", "3",
       "--batch-size", "2", "--workers", "0", "--strategy", "s1"]


def test_both_precisions_trained_compared_and_reused(tmp_path, capsys):
    from train.synth.render import SynthConfig

    data = tmp_path / "synth"
    synth.write_dataset(data, 6, 3, SynthConfig(size=64), seed=0, workers=1, progress=False)
    fig = tmp_path / "docs" / "curve.png"
    args = TOY + ["--data", f"synth:{data}", "--out", str(tmp_path / "runs"),
                  "--figure", str(fig)]
    assert precision.main(args) == 0
    text = capsys.readouterr().out
    assert "| fp32 |" in text and "| bf16 |" in text and "+0.0 %" in text
    assert fig.is_file() and fig.stat().st_size > 0
    for p in precision.PRECISIONS:
        steps, loss = precision.read_log(tmp_path / "runs" / p / "log.csv")
        assert steps[-1] == 3 and np.isfinite(loss).all()

    assert precision.main(args) == 0  # nothing trained again
    text = capsys.readouterr().out
    assert "== s1" not in text and text.count("| reused |") == 2


def test_tail_mean_takes_the_last_tenth():
    assert precision.tail_mean(np.arange(20.0)) == pytest.approx(18.5)
    assert precision.tail_mean(np.array([4.0])) == 4.0


def test_bad_numbers_are_an_error(tmp_path, capsys):
    assert precision.main(["--data", f"synth:{tmp_path}", "--steps", "0"]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_missing_data_is_one_error_line(tmp_path, capsys):
    args = TOY + ["--data", f"synth:{tmp_path / 'nothing'}", "--out", str(tmp_path / "runs"),
                  "--figure", str(tmp_path / "f.png")]
    assert precision.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nothing" in err[0]
