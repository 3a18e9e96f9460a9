"""handtrack-export."""

from __future__ import annotations

import json

import onnx

from app.export import main
from tests.app.test_engine import CROP, make_checkpoint


def test_export_cli_writes_onnx_with_metadata(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "m.pt", CROP)
    assert main(["--checkpoint", str(ckpt), "--no-tensorrt"]) == 0
    out = capsys.readouterr().out
    assert "m.onnx" in out and "difference" in out
    model = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    info = json.loads(meta["handtrack"])
    assert info["crop_size"] == CROP and info["strategy"] == "untrained"
    assert [o.name for o in model.graph.output] == ["z_mu", "pose"]


def test_export_missing_checkpoint(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and "Traceback" not in err
