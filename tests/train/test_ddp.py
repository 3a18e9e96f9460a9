import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from tests.train.fakes import TINY, FakeHandDataset
from train.loop import TrainConfig, train
from train.strategies import CrossModalVAE, get_strategy


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cfg = TrainConfig(strategy="s2-c", out=out, steps=2, batch_size=4, workers=0, lr=1e-3,
                      progress=False, device="cpu", log_every=1, ckpt_every=100)
    res = train(cfg, TINY, FakeHandDataset(8, 32, 32, 8))
    params = {k: v.detach().clone() for k, v in res["model"].named_parameters()}
    torch.save(params, os.path.join(out, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_cpu_processes_hold_equal_weights(tmp_path):
    out = str(tmp_path / "ddp")
    os.makedirs(out)
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    a = torch.load(os.path.join(out, "rank0.pt"), weights_only=True)
    b = torch.load(os.path.join(out, "rank1.pt"), weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # Training changed the weights (so equality is not trivial).
    torch.manual_seed(0)
    fresh = dict(CrossModalVAE(TINY, get_strategy("s2-c")).named_parameters())
    assert not torch.equal(fresh["pose_decoder.net.0.weight"], a["pose_decoder.net.0.weight"])
    ckpt = torch.load(os.path.join(out, "last.pt"), weights_only=True)
    assert ckpt["step"] == 2 and ckpt["train"]["batch_size"] == 4
