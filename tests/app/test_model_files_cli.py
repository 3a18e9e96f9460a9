"""`handtrack` with a checkpoint that cannot be used, or an exported artefact that does not
belong to it: one line on stderr, no traceback."""

from __future__ import annotations

import shutil

import pytest
import torch

from app.cli import main
from model.checkpoint import onnx_path_of
from tests.app.test_engine import CROP, make_checkpoint

RUN = ["--demo", "--headless", "--frames", "1"]


class Payload:  # refused by torch.load(weights_only=True)
    pass


def _stderr_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [x for x in err.splitlines() if x.strip()]


@pytest.mark.parametrize("kind", ["truncated", "custom-class"])
def test_corrupt_checkpoint_is_one_error_line(kind, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    if kind == "truncated":
        data = make_checkpoint(tmp_path / "good.pt", CROP).read_bytes()
        bad.write_bytes(data[: len(data) // 3])
    else:
        torch.save({"format": "handtrack-ckpt-1", "payload": Payload()}, bad)
    assert main(["--checkpoint", str(bad), *RUN]) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: checkpoint ") and str(bad) in lines[0]
    assert "weights_only" not in lines[0]
    assert ("corrupt" if kind == "truncated" else "refused for safety") in lines[0]


@pytest.fixture(scope="module")
def stale(tmp_path_factory):
    """m.pt beside the ONNX file of another checkpoint (another crop size)."""
    from app.export import export_onnx

    d = tmp_path_factory.mktemp("stale")
    other, _ = export_onnx(make_checkpoint(d / "other.pt", 2 * CROP))
    ckpt = make_checkpoint(d / "m.pt", CROP)
    shutil.copy(other, onnx_path_of(ckpt))
    return ckpt


def test_stale_onnx_with_explicit_backend_is_one_error_line(stale, capsys):
    assert main(["--checkpoint", str(stale), "--backend", "onnxruntime", *RUN]) == 2
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"handtrack-export --checkpoint {stale}" in lines[0]


def test_stale_onnx_with_auto_warns_once_and_runs_torch(stale, capsys):
    assert main(["--checkpoint", str(stale), *RUN]) == 0
    lines = _stderr_lines(capsys)
    warnings = [x for x in lines if x.startswith("warning: ")]
    assert len(warnings) == 1 and f"handtrack-export --checkpoint {stale}" in warnings[0]
    assert any(x.startswith("backend: torch") for x in lines), lines
