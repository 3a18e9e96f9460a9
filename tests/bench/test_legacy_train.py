"""bench/legacy_train.py: the earlier forms compute the same functions as the current ones and
are put back after the block; bench_train runs a reference and a fast row on a tiny set."""

from __future__ import annotations

import torch

import model.decoders as decoders
import model.losses as losses
import train.loop as loop
import train.strategies as strategies
from bench import bench_train
from bench.legacy_train import chamfer_full_matrix, earlier_forms, fold_concatenated
from model.net_config import NetConfig


def test_chamfer_forms_agree_in_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 40, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 50, 3, generator=g, dtype=torch.float64)
    new = losses.chamfer_distance(a, b)
    (ga,) = torch.autograd.grad(new.sum(), a)
    old = chamfer_full_matrix(a, b)
    (go,) = torch.autograd.grad(old.sum(), a)
    torch.testing.assert_close(new, old)
    torch.testing.assert_close(ga, go)


def test_fold_forms_agree():
    torch.manual_seed(0)
    dec = decoders.CloudDecoder(NetConfig(cloud_points=32)).double()
    z = torch.randn(4, NetConfig().latent_dim, dtype=torch.float64)
    torch.testing.assert_close(dec(z), fold_concatenated(dec, z))


def test_earlier_forms_are_restored():
    before = (losses.chamfer_distance, strategies.chamfer_distance,
              decoders.CloudDecoder.forward, loop.adam)
    with earlier_forms():
        assert strategies.chamfer_distance is chamfer_full_matrix
        assert decoders.CloudDecoder.forward is fold_concatenated
        assert not loop.adam(torch.nn.Linear(2, 2), 1e-3).defaults.get("fused")
    assert before == (losses.chamfer_distance, strategies.chamfer_distance,
                      decoders.CloudDecoder.forward, loop.adam)


def test_bench_train_runs_both_modes(capsys):
    rc = bench_train.main(["--strategies", "s4", "--crops", "32", "--frames", "8",
                           "--steps", "1", "--warmup", "1", "--batch-size", "4"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "machine:" in out
    rows = [line for line in out.splitlines() if line.startswith("| s4 | 32 |")]
    assert len(rows) == 2 and "x |" in rows[0] + rows[1]
