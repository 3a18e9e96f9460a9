import csv
import os
import signal
import time

import pytest
import torch

from model.checkpoint import load_inference, read_checkpoint
from model.net_config import NetConfig
from tests.train.fakes import TINY, FakeHandDataset, single_thread
from train.cli_train import main as train_main
from train.evaluate import inference_net_from
from train.loop import ConfigError, Plateau, TrainConfig, beta_at, epoch_batches, train


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


def _assert_same_state(a: dict, b: dict, where: str) -> None:
    """Two state dicts (nested: optimizer state) hold the same keys and values: integer
    tensors (BN num_batches_tracked) exactly, float tensors to float32 round-off."""
    assert a.keys() == b.keys(), where
    for k in a:
        if isinstance(a[k], dict):
            _assert_same_state(a[k], b[k], f"{where}.{k}")
        elif isinstance(a[k], torch.Tensor):
            torch.testing.assert_close(b[k], a[k], rtol=1e-6, atol=1e-7, msg=f"{where}.{k}")
        else:
            assert b[k] == a[k], f"{where}.{k}"


def _interrupt_after_forward(monkeypatch, at_call: int, how: str):
    """Interrupt step `at_call` (0-based) after its forward pass, when BN running statistics
    are already updated: `raise` a KeyboardInterrupt there, or send this process a SIGINT."""
    import os
    import signal

    import train.loop as loop

    calls = {"n": 0}
    real = loop.compute_loss

    def compute_loss(*args, **kw):
        calls["n"] += 1
        if calls["n"] == at_call + 1:
            if how == "raise":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kw)

    monkeypatch.setattr(loop, "compute_loss", compute_loss)


# The annealing length is fixed, else it would follow --steps (which the resume extends).
RESUME_KW = dict(beta_anneal_steps=10, batch_size=2)


@pytest.fixture(scope="module")
def straight_16(tmp_path_factory):
    """A run of 16 steps without a stop (shared by the resume tests)."""
    with single_thread():
        return train(_cfg(tmp_path_factory.mktemp("straight"), "a", steps=16, **RESUME_KW), TINY,
                     _data(8))


@pytest.mark.parametrize("how", ["stop", "raise", "signal"])
def test_resume_continues_exactly(tmp_path, monkeypatch, straight_16, how):
    """A run stopped after 7 steps (a finished --steps 7 run, a KeyboardInterrupt raised in step
    8 after its forward pass, or a SIGINT arriving there) and resumed to 16 steps ends in the
    state of a run that went straight to 16: parameters, BN buffers, optimizer, eval outputs.
    Same process, seed and thread count, so the two agree to float32 round-off."""
    kw, data, straight = RESUME_KW, _data(8), straight_16
    with monkeypatch.context() as m:
        if how == "stop":
            first = train(_cfg(tmp_path, "b", steps=7, **kw), TINY, data)
        else:
            _interrupt_after_forward(m, 7, how)
            first = train(_cfg(tmp_path, "b", steps=16, **kw), TINY, data)
            assert first["interrupted"]
    # a signal lets the step finish; an exception inside it drops the step
    assert first["step"] == (8 if how == "signal" else 7)
    assert read_checkpoint(first["checkpoint"])["step"] == first["step"]
    resumed = train(_cfg(tmp_path, "b", steps=16, resume=True, **kw), TINY, data)
    assert resumed["step"] == 16 and not resumed["interrupted"]
    a, b = (read_checkpoint(r["checkpoint"]) for r in (straight, resumed))
    _assert_same_state(a["state_dict"], b["state_dict"], "state_dict")
    _assert_same_state(a["optimizer"], b["optimizer"], "optimizer")
    assert a["plateau"] == b["plateau"] and a["epoch"] == b["epoch"]
    assert a["batch_in_epoch"] == b["batch_in_epoch"]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    outs = []
    for r in (straight, resumed):
        with torch.no_grad():
            outs.append(inference_net_from(r["model"])(x))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-6, atol=1e-7)
    rows = [list(csv.DictReader(open(r["checkpoint"].parent / "log.csv")))
            for r in (straight, resumed)]
    assert [r["step"] for r in rows[1]] == [str(i) for i in range(1, 17)]
    for ra, rb in zip(*rows):
        assert float(rb["total"]) == pytest.approx(float(ra["total"]), rel=1e-5), ra["step"]


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


class _SignalledGroup(FakeHandDataset):
    """In a loader worker, on its 16th item: the signal to the worker and to the main process at
    once, as Ctrl-C in a terminal or `kill -- -PGID` deliver it to the whole process group."""

    signum = signal.SIGINT

    def __getitem__(self, i):
        self.calls += 1
        if self.calls == 16:
            os.kill(os.getppid(), self.signum)
            os.kill(os.getpid(), self.signum)
            time.sleep(0.2)
            self.survived.touch()  # not reached by a worker that the signal ended
        return super().__getitem__(i)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_workers_too_stops_at_a_step_and_saves(tmp_path, capsys, signum):
    ds = _SignalledGroup(24, crop_size=32, cloud_points=32, heatmap_size=8)
    ds.calls, ds.signum, ds.survived = 0, signum, tmp_path / "survived"
    res = train(_cfg(tmp_path, steps=40, workers=1), TINY, ds)
    assert ds.survived.exists()  # the worker left the signal to the main process
    assert res["interrupted"] and 1 <= res["step"] < 40
    assert read_checkpoint(res["checkpoint"])["step"] == res["step"]
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


def _cli(capsys, *args) -> tuple[int, str, str]:
    try:
        code = train_main(["--no-progress", "--device", "cpu", "--workers", "0", *args])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(code: int, err: str) -> bool:
    return code == 2 and err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("args, flag", [
    (["--lr", "nan"], "--lr"), (["--lr", "inf"], "--lr"), (["--lr", "0"], "--lr"),
    (["--lr=-1e-4"], "--lr"), (["--batch-size", "0"], "--batch-size"),
    (["--steps", "0"], "--steps"), (["--steps", "-5"], "--steps"),
    (["--lr-drops", "-1"], "--lr-drops"), (["--plateau-every", "0"], "--plateau-every"),
    (["--plateau-patience", "0"], "--plateau-patience"),
    (["--beta-start", "nan"], "--beta-start"), (["--beta-end", "0"], "--beta-end"),
    (["--beta-anneal-steps", "-1"], "--beta-anneal-steps"),
    (["--beta-prime", "inf"], "--beta-prime"), (["--lambda-heat", "-1"], "--lambda-heat"),
    (["--lambda-cloud", "nan"], "--lambda-cloud"),
    (["--labelled-fraction", "0"], "--labelled-fraction"),
    (["--labelled-fraction", "101"], "--labelled-fraction"),
    (["--labelled-fraction", "nan"], "--labelled-fraction"), (["--seed", "-1"], "--seed"),
    (["--workers", "-1"], "--workers"), (["--set-lr", "nan", "--resume"], "--set-lr"),
    (["--set-lr", "-1", "--resume"], "--set-lr"), (["--log-every", "0"], "--log-every"),
    (["--eval-every", "-1"], "--eval-every"), (["--eval-samples", "-1"], "--eval-samples"),
    (["--ckpt-every", "0"], "--ckpt-every"), (["--noise-jitter", "nan"], "--noise-jitter"),
    (["--noise-drop", "1.5"], "--noise-drop"), (["--noise-swap", "-0.1"], "--noise-swap"),
    (["--noise-offset", "-1"], "--noise-offset"), (["--noise-scale", "inf"], "--noise-scale"),
    (["--batch-size", "abc"], "--batch-size"),
])
def test_bad_numbers_are_one_error_line_before_anything_is_opened(tmp_path, capsys, args, flag):
    out = tmp_path / "o"
    code, _, err = _cli(capsys, "--strategy", "s1", "--data", f"synth:{tmp_path}/missing",
                        "--out", str(out), *args)
    assert _one_error_line(code, err), err
    assert flag in err and "missing" not in err and not out.exists()


def test_usage_errors_are_one_line(capsys):
    code, _, err = _cli(capsys, "--data", "synth:x")
    assert _one_error_line(code, err) and "--strategy" in err and "--help" in err


def test_out_that_is_a_file_or_not_writable(tmp_path, capsys, monkeypatch):
    data = ["--strategy", "s1", "--data", f"synth:{tmp_path}/missing"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        code, _, err = _cli(capsys, *data, "--out", str(out))
        assert _one_error_line(code, err) and "is a file" in err and "--out" in err, err
    assert afile.read_text() == "x"
    code, _, err = _cli(capsys, *data, "--out", "")
    assert _one_error_line(code, err) and "--out is empty" in err
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    with monkeypatch.context() as m:  # root may write anywhere: pretend not to be root
        import os

        real = os.access
        m.setattr(os, "access", lambda p, mode: False if p == ro else real(p, mode))
        code, _, err = _cli(capsys, *data, "--out", str(ro / "run"))
    assert _one_error_line(code, err) and "not writable" in err and str(ro) in err, err
    # a folder that cannot be made although it looked writable (e.g. a read-only mount)
    with monkeypatch.context() as m:
        def no_mkdir(self, *a, **k):
            raise PermissionError(13, "Permission denied", str(self))

        m.setattr("train.loop.Path.mkdir", no_mkdir)
        with pytest.raises(ConfigError, match="cannot write the run folder .*Permission denied"):
            train(_cfg(tmp_path, "ro/run2"), TINY, _data())
    assert not (ro / "run").exists() and not (ro / "run2").exists()


def test_resume_with_no_more_steps_to_do(tmp_path, capsys):
    net = NetConfig(crop_size=32, cloud_points=32, heatmap_size=8)  # the CLI's other defaults
    train(_cfg(tmp_path, "b", steps=3, strategy="s1"), net, _data())
    last = tmp_path / "b" / "last.pt"
    stamp = last.stat().st_mtime_ns
    capsys.readouterr()
    with pytest.raises(ConfigError, match="already completed 3 steps; --steps 2 asks for fewer; "
                                          "pass --steps N with N > 3"):
        train(_cfg(tmp_path, "b", steps=2, resume=True, strategy="s1"), net, _data())
    res = train(_cfg(tmp_path, "b", steps=3, resume=True, strategy="s1"), net, _data())
    assert res["step"] == 3 and res["new_steps"] == 0 and not res["interrupted"]
    assert "nothing to do" in capsys.readouterr().out
    assert last.stat().st_mtime_ns == stamp
    cli = ["--strategy", "s1", "--data", f"synth:{tmp_path}/missing", "--out",
           str(tmp_path / "b"), "--resume", "--crop-size", "32", "--cloud-points", "32",
           "--heatmap-size", "8"]
    code, _, err = _cli(capsys, *cli, "--steps", "1")
    assert _one_error_line(code, err) and "already completed 3 steps" in err, err
    code, out, err = _cli(capsys, *cli, "--steps", "3")
    assert code == 0 and out.startswith("nothing to do") and not err
    assert last.stat().st_mtime_ns == stamp


def test_stop_request_defers_the_first_signal_and_never_cuts_a_commit():
    import signal

    from train.loop import StopRequest

    stop = StopRequest()
    with pytest.raises(KeyboardInterrupt):  # before the loop: nothing to save, stop at once
        stop.handle(signal.SIGTERM, None)
    stop = StopRequest()
    stop.deferring = True
    stop.handle(signal.SIGINT, None)  # in the loop: wait for the step boundary
    assert stop.signum == signal.SIGINT
    with stop.commit():
        stop.handle(signal.SIGINT, None)  # a second one inside a commit waits too
    with pytest.raises(KeyboardInterrupt):  # a second one elsewhere stops at once
        stop.handle(signal.SIGINT, None)
    before = signal.getsignal(signal.SIGTERM)
    with stop.installed():
        assert signal.getsignal(signal.SIGTERM) == stop.handle
    assert signal.getsignal(signal.SIGTERM) is before


def test_every_train_option_is_a_config_field_and_maps_back():
    """handtrack-train's options are generated from TrainConfig (and four NetConfig fields):
    every TrainConfig field (nested noise2d included) has one, and a config with every field
    changed survives config -> command line -> config."""
    from dataclasses import fields, replace

    from model.config_flags import flags_of, from_args, to_argv
    from train.cli_train import build_parser, configs_from_args
    from train.data.noise2d import Noise2DConfig

    parser = build_parser()
    dests = {a.dest for a in parser._actions} - {"help"}
    train_flags, net_flags = flags_of(TrainConfig), flags_of(NetConfig)
    assert {f.path for f in train_flags} == (
        {(f.name,) for f in fields(TrainConfig) if f.name != "noise2d"}
        | {("noise2d", f.name) for f in fields(Noise2DConfig)})
    assert dests == {f.dest for f in train_flags + net_flags}  # nothing hand-written
    cfg = TrainConfig(
        strategy="s4-2d", data="synth:a", eval_data="none", out="runs/x", steps=7, batch_size=4,
        lr=3e-4, lr_drops=1, plateau_every=50, plateau_patience=2, beta_start=2e-5,
        beta_end=2e-3, beta_anneal_steps=5, beta_prime=0.5, lambda_heat=0.02, lambda_cloud=0.5,
        labelled_fraction=50.0, seed=3, augment=False, workers=0, init="w.pth", resume=True,
        set_lr=1e-5, log_every=2, eval_every=3, eval_samples=4, ckpt_every=6, device="cpu",
        progress=False, cache=False, precision="bf16", decode="all",
        noise2d=Noise2DConfig(0.01, 0.1, 0.2, 0.04, 0.06))
    assert all(getattr(cfg, f.name) != getattr(TrainConfig(), f.name) for f in fields(cfg))
    net = replace(TINY, latent_dim=16)
    args = parser.parse_args(to_argv(cfg) + to_argv(net))
    assert configs_from_args(args) == (cfg, replace(NetConfig(), **{
        f.path[0]: getattr(net, f.path[0]) for f in net_flags}))
    defaults = parser.parse_args(["--strategy", "s1", "--data", "x"])
    assert from_args(defaults, TrainConfig) == TrainConfig(strategy="s1", data="x")
    assert from_args(defaults, NetConfig) == NetConfig()


def test_precision_auto_is_bf16_only_on_cpus_with_bf16_units(monkeypatch):
    import train.loop as loop

    monkeypatch.setattr(loop, "cpu_flags", lambda: {"avx2", "avx512f", "amx_bf16"})
    assert loop.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(loop, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert loop.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(loop, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_vnni"})
    assert loop.resolve_precision("auto", "cpu") == "fp32"
    assert loop.resolve_precision("auto", "cuda:0") == "fp32"
    assert loop.resolve_precision("bf16", "cpu") == "bf16"
    assert loop.resolve_precision("fp32", "cpu") == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_same_seed_trains_the_same_run(tmp_path, precision):
    """Two runs with one seed (shared decoding, s4-2d: all three experts) log the same losses
    and end with the same weights, in float32 and under bf16 autocast; bf16 keeps float32
    weights and its losses stay near float32's (bfloat16 rounding: a few per cent)."""
    kw = dict(strategy="s4-2d", steps=4, precision=precision, decode="shared")
    runs = [train(_cfg(tmp_path, f"{precision}{i}", **kw), TINY, _data(8)) for i in (0, 1)]
    rows = [list(csv.DictReader(open(r["checkpoint"].parent / "log.csv"))) for r in runs]
    for ra, rb in zip(*rows):
        assert float(rb["total"]) == pytest.approx(float(ra["total"]), rel=1e-5), ra["step"]
    a, b = (read_checkpoint(r["checkpoint"])["state_dict"] for r in runs)
    _assert_same_state(a, b, "state_dict")
    assert all(v.dtype in (torch.float32, torch.int64) for v in a.values())
    if precision == "bf16":
        ref = train(_cfg(tmp_path, "ref", **{**kw, "precision": "fp32"}), TINY, _data(8))
        ref_rows = list(csv.DictReader(open(ref["checkpoint"].parent / "log.csv")))
        assert float(rows[0][0]["total"]) == pytest.approx(float(ref_rows[0]["total"]),
                                                           rel=0.05)
