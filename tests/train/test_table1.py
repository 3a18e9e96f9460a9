"""train/experiments/table1.py at a toy size: runs are recorded, reused from the records on a
fresh output folder, and not reused when the configuration changes."""

from __future__ import annotations

import json

from train.experiments import table1

TOY = ["--synth-train", "8", "--synth-eval", "4", "--synth-size", "64", "--crop-size", "32",
       "--cloud-points", "32", "--heatmap-size", "16", "--steps", "2", "--batch-size", "4",
       "--fractions", "100", "--workers", "0", "--device", "cpu"]


def test_records_are_reused_across_fresh_outputs(tmp_path, capsys):
    docs, rec = tmp_path / "docs" / "long.md", tmp_path / "records"
    args = TOY + ["--docs", str(docs), "--record", str(rec)]
    assert table1.main(args + ["--out", str(tmp_path / "a"), "--only", "s1_seed0",
                               "--precision", "fp32"]) == 0
    r = json.loads((rec / "s1_seed0.json").read_text())
    assert r["precision"] == "fp32"
    assert r["step"] == 2 and r["config"]["steps"] == 2
    assert r["metrics"]["epe_mm"] > 0 and len(r["pck"]) == len(r["baseline"]["pck"])
    assert "machine:" in r["machine"]
    text = docs.read_text()
    assert "| S1: R -> P |" in text and "not run yet" in text and "s4_seed0" in text
    assert "mean pose (oracle baseline)" in text
    assert "| precision |" in text and "| fp32 |" in text
    assert (docs.parent / "long" / "table1_pck.png").is_file()

    # a fresh output folder (no checkpoints), same records: nothing is trained again
    fresh = tmp_path / "b"
    capsys.readouterr()
    assert table1.main(args + ["--out", str(fresh), "--only", "s1_seed0"]) == 0
    assert not (fresh / "s1_seed0").exists()
    assert "== s1_seed0" not in capsys.readouterr().out

    # another budget: the record does not apply, the run is trained
    other = [a if a != "2" else "3" for a in args]
    assert table1.main(other + ["--out", str(fresh), "--only", "s1_seed0"]) == 0
    assert (fresh / "s1_seed0" / "last.pt").is_file()
    assert json.loads((rec / "s1_seed0.json").read_text())["step"] == 3


def test_unknown_run_is_an_error(tmp_path, capsys):
    args = TOY + ["--docs", str(tmp_path / "d.md"), "--out", str(tmp_path / "o"),
                  "--only", "s9_seed0"]
    assert table1.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "s9_seed0" in err and "s1_seed0" in err


def test_jobs_train_runs_side_by_side_with_the_same_records(tmp_path, capsys):
    """--jobs 2 trains two runs in their own processes (each logging to its train.log) and
    records them as the sequential path does."""
    docs, rec = tmp_path / "d.md", tmp_path / "records"
    args = TOY + ["--docs", str(docs), "--record", str(rec), "--out", str(tmp_path / "o"),
                  "--precision", "fp32", "--only", "s1_seed0", "s4_seed0", "--jobs", "2"]
    assert table1.main(args) == 0
    out = capsys.readouterr().out
    for name in ("s1_seed0", "s4_seed0"):
        assert f"== {name}" in out and f"{name} done in" in out
        r = json.loads((rec / f"{name}.json").read_text())
        assert r["step"] == 2 and r["metrics"]["epe_mm"] > 0
        assert "trained 2 steps in" in (tmp_path / "o" / name / "train.log").read_text()
    assert "| S4 |" in docs.read_text()


def test_a_failing_parallel_run_is_named_with_its_log(tmp_path):
    import pytest

    from model.net_config import NetConfig
    from train.config import TrainConfig
    from train.experiments.parallel import train_in_parallel

    bad = TrainConfig(strategy="s1", data=f"synth:{tmp_path / 'missing'}", eval_data="none",
                      out=str(tmp_path / "bad"), steps=1, batch_size=2, workers=0,
                      device="cpu", progress=False)
    with pytest.raises(RuntimeError, match="bad.*train.log"):
        train_in_parallel([("bad", bad), ("bad2", bad)], NetConfig(crop_size=32), jobs=2)


def test_the_ordering_sentence_says_above_or_below_without_a_sign():
    assert "S4 is 2.0 % above S1" in table1._ordering({"s1": 50.0, "s4": 51.0})
    assert "S4 is 10.0 % below S1" in table1._ordering({"s1": 50.0, "s4": 45.0})


def _fake_record(epe: float) -> dict:
    pck = [0.5] * 31
    return {"metrics": {"epe_mm": epe, "auc_20_50": 0.4}, "pck": pck, "step": 2,
            "baseline": {"epe_mm": 50.0, "auc_20_50": 0.2, "pck": pck}, "train_s": 60.0,
            "machine": "machine: test", "precision": "fp32", "recorded": "2026-12-06 00:00"}


def test_weak_supervision_runs_take_every_seed_with_all_seeds(tmp_path):
    c = table1.ExperimentConfig(seeds=(0, 1), fractions=(10, 100))
    assert [n for n, *_ in table1._runs(c) if "_m" in n] == ["s4_m10", "s1_m10"]
    c = table1.ExperimentConfig(seeds=(0, 1), fractions=(10, 100), all_seeds=True,
                                docs=str(tmp_path / "weak.md"))
    weak = [(n, k) for n, _, k, m in table1._runs(c) if m < 100]
    assert weak == [("s4_m10", 0), ("s1_m10", 0), ("s4_m10_seed1", 1), ("s1_m10_seed1", 1)]
    records = {"s4_m10": _fake_record(40.0), "s4_m10_seed1": _fake_record(42.0),
               "s1_m10": _fake_record(45.0)}
    path = table1._write_docs(c, "cmd", records, tmp_path / "weak", 60.0, {})
    text = path.read_text()
    # the S4 cell is the mean of both seeds with their spread; S1 has one seed, so no spread
    assert "| 10 | 41.00 ± 1.41 (2 seeds) | 45.00 |" in text
    assert "s1_m10_seed1" in text  # named as not recorded yet
