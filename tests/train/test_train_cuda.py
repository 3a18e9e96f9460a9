"""Training on a CUDA GPU: every strategy's step runs there (clouds, EMD auction, heat maps, the
2D expert), the model learns, and its checkpoint loads on a machine without one. Skipped with a
printed reason where PyTorch sees no CUDA GPU."""

from __future__ import annotations

import pytest
import torch

from model.checkpoint import load_inference, read_checkpoint
from tests.train.fakes import TINY
from tests.train.test_train import _cfg as _cpu_cfg
from tests.train.test_train import _data
from train.loop import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="training on CUDA needs a CUDA GPU; none here")


def _cfg(tmp_path, strategy, **kw):
    """test_train's small run on the GPU: batch 4 unless given."""
    return _cpu_cfg(tmp_path, strategy, strategy=strategy, device="cuda",
                    **{"batch_size": 4, **kw})


@pytest.mark.parametrize("strategy", ["s1", "s2-c", "s3", "s4", "s4-2d"])
def test_every_strategy_trains_on_cuda_and_loads_on_the_cpu(tmp_path, strategy):
    res = train(_cfg(tmp_path, strategy), TINY, _data(8), _data(4, seed=1))
    assert res["step"] == 3
    ckpt = read_checkpoint(res["checkpoint"])
    assert ckpt["strategy"] == strategy
    for k, v in ckpt["state_dict"].items():
        assert v.device.type == "cpu", k
        if v.is_floating_point():
            assert torch.isfinite(v).all(), k
    net, _ = load_inference(res["checkpoint"])
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        pose_cpu = net(x)[1]
        pose_gpu = net.to("cuda")(x.to("cuda"))[1].cpu()
    torch.testing.assert_close(pose_gpu, pose_cpu, rtol=1e-2, atol=1e-3)


def test_the_pose_loss_falls_on_cuda(tmp_path):
    """s1 on 8 fixed samples for 60 steps: the training pose loss of the last 10 steps is well
    below that of the first 10 (a broken gradient on the GPU would leave it flat)."""
    import csv

    cfg = _cfg(tmp_path, "s1", steps=60, batch_size=8)
    train(cfg, TINY, _data(8), _data(4, seed=1))
    rows = list(csv.DictReader(open(tmp_path / "s1" / "log.csv")))
    pose = [float(r["pose_x"]) for r in rows]
    assert len(pose) == 60
    first, last = sum(pose[:10]) / 10, sum(pose[-10:]) / 10
    assert last < 0.5 * first, (first, last)
