import csv

import pytest
import torch

from model.checkpoint import load_inference, read_checkpoint
from model.net_config import NetConfig
from tests.train.fakes import FakeHandDataset, single_thread
from train.cli_train import main as train_main
from train.loop import ConfigError, Plateau, TrainConfig, beta_at, epoch_batches, train

TINY = NetConfig(crop_size=32, cloud_points=32, heatmap_size=8, fold_hidden=32,
                 heat_channels=32, respel_hidden=16, cloud_feature_dim=32)


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def _cfg(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(strategy="s2-c", out=str(tmp_path / name), steps=3, batch_size=2, workers=0,
                log_every=1, ckpt_every=100, progress=False, device="cpu", lr=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def _data(n=6, **kw):
    return FakeHandDataset(n, crop_size=32, cloud_points=32, heatmap_size=8, **kw)


def test_train_writes_checkpoint_logs_and_metrics(tmp_path):
    cfg = _cfg(tmp_path, labelled_fraction=50)
    res = train(cfg, TINY, _data(), _data(4, seed=1))
    ckpt = read_checkpoint(res["checkpoint"])
    assert ckpt["strategy"] == "s2-c" and ckpt["step"] == 3
    assert ckpt["data"]["crop_size"] == 32 and ckpt["data"]["labelled"] == 3
    assert ckpt["train"]["labelled_fraction"] == 50
    assert ckpt["metrics"]["eval_epe_mm"] > 0 and 0 <= ckpt["metrics"]["eval_auc_20_50"] <= 1
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert {"total", "pose_x", "chamfer_x", "emd_x", "kl_x", "lr", "beta"} <= set(rows[0])
    assert (tmp_path / "run" / "tb").is_dir() and (tmp_path / "run" / "eval.csv").is_file()
    net, meta = load_inference(res["checkpoint"], with_cloud=True)
    assert meta["strategy"] == "s2-c" and meta["crop_size"] == 32
    with torch.no_grad():
        z, pose, cloud = net(torch.rand(1, 3, 32, 32))
    assert pose.shape == (1, 21, 3) and cloud.shape == (1, 32, 3)


def test_resume_continues_exactly(tmp_path):
    # The annealing length is fixed, else it would follow --steps (which the resume extends).
    kw = dict(beta_anneal_steps=10)
    straight = train(_cfg(tmp_path, "a", steps=4, **kw), TINY, _data())["model"].state_dict()
    train(_cfg(tmp_path, "b", steps=2, **kw), TINY, _data())
    resumed = train(_cfg(tmp_path, "b", steps=4, resume=True, **kw), TINY, _data())
    assert resumed["step"] == 4
    for k, v in straight.items():
        torch.testing.assert_close(resumed["model"].state_dict()[k], v, msg=k)


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path):
    """A run killed after its last checkpoint logged steps 3-4; the resume redoes them once."""
    train(_cfg(tmp_path, "b", steps=2), TINY, _data())
    with open(tmp_path / "b" / "log.csv", "a") as f:
        f.write("3,0.001,0,1\n4,0.001,0,1\n")
    train(_cfg(tmp_path, "b", steps=4, resume=True), TINY, _data())
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


def test_set_lr_replaces_the_saved_learning_rate_on_resume(tmp_path):
    train(_cfg(tmp_path, "b", steps=2), TINY, _data())
    res = train(_cfg(tmp_path, "b", steps=3, resume=True, set_lr=1e-5), TINY, _data())
    assert read_checkpoint(res["checkpoint"])["optimizer"]["param_groups"][0]["lr"] == 1e-5
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [float(r["lr"]) for r in rows] == [1e-3, 1e-3, 1e-5]
    with pytest.raises(ConfigError, match="--set-lr .* together with --resume"):
        train(_cfg(tmp_path, "c", set_lr=1e-5), TINY, _data())


class _Interrupting(FakeHandDataset):
    def __getitem__(self, i):
        if self.calls == 5:
            raise KeyboardInterrupt
        self.calls += 1
        return super().__getitem__(i)


def test_ctrl_c_saves_a_checkpoint(tmp_path, capsys):
    ds = _Interrupting(6, crop_size=32, cloud_points=32, heatmap_size=8)
    ds.calls = 0
    res = train(_cfg(tmp_path, steps=10), TINY, ds)
    assert res["interrupted"] and res["step"] == 2  # two full batches of 2 before the 5th item
    assert read_checkpoint(res["checkpoint"])["step"] == 2
    assert "--resume" in capsys.readouterr().out


def test_errors_before_training(tmp_path):
    with pytest.raises(ConfigError, match="needs depth"):
        train(_cfg(tmp_path, strategy="s4"), TINY, _data(has_depth=False))
    train(_cfg(tmp_path, strategy="s1", steps=1), TINY, _data(has_depth=False))  # s1: fine
    with pytest.raises(ConfigError, match="pass --resume"):
        train(_cfg(tmp_path, strategy="s1", steps=1), TINY, _data())
    with pytest.raises(ConfigError, match="--strategy s1"):
        train(_cfg(tmp_path, strategy="s4", resume=True), TINY, _data())
    other = NetConfig(**{**TINY.__dict__, "crop_size": 64})
    with pytest.raises(ConfigError, match="--crop-size 32"):
        train(_cfg(tmp_path, strategy="s1", resume=True), other, _data())
    with pytest.raises(ConfigError, match="fewer than --batch-size"):
        train(_cfg(tmp_path, "c", batch_size=8), TINY, _data())
    with pytest.raises(ConfigError, match="no .* to resume"):
        train(_cfg(tmp_path, "d", resume=True), TINY, _data())


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = train_main(["--strategy", "s1", "--data", f"synth:{tmp_path}/missing",
                       "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    code = train_main(["--strategy", "s1", "--data", "synth:x", "--heatmap-size", "48"])
    assert code == 2 and "power of 2" in capsys.readouterr().err


def test_schedules_and_data_order():
    cfg = TrainConfig(steps=100)
    assert beta_at(cfg, 0) == pytest.approx(1e-5) and beta_at(cfg, 100) == pytest.approx(1e-3)
    assert beta_at(cfg, 50) == pytest.approx(1e-4)
    a = epoch_batches(10, 4, seed=0, epoch=0)
    assert a == epoch_batches(10, 4, seed=0, epoch=0) and a != epoch_batches(10, 4, 0, 1)
    assert len(a) == 2 and len(set(sum(a, []))) == 8
    r0, r1 = epoch_batches(10, 4, 0, 0, 0, 2), epoch_batches(10, 4, 0, 0, 1, 2)
    assert [x + y for x, y in zip(r0, r1)] == a
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    p = Plateau(patience=2, max_drops=2)
    drops = [p.step(v, opt) for v in [5, 4, 4, 4, 4, 4, 4, 4, 4, 4]]
    assert sum(drops) == 2 and opt.param_groups[0]["lr"] == pytest.approx(0.01)
