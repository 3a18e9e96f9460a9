"""bench/realworld.py: the script on the shared photos, with and without the kinematic fit
(the checks themselves are tested in tests/model/test_anatomy.py)."""

from __future__ import annotations

import json

import pytest

from bench.realworld import main
from tests.app.test_engine import REALWORLD


@pytest.mark.skipif(not REALWORLD.is_dir(), reason="../shared/realworld is not available")
def test_realworld_script_on_the_shared_photos(tmp_path, capsys):
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    ckpt = save_inference_checkpoint(tmp_path / "f.pt", build_hand_pose_net(
        NetConfig(crop_size=32, heatmap_size=16), with_heat=True))
    out = tmp_path / "rw"
    assert main(["--images", str(REALWORLD), "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) >= 3 and {r["fuse"] for r in rows} == {"rgb+2d"}  # README: 5 hands
    assert all(r["reproj_rel"] is None or r["reproj_rel"] >= 0 for r in rows)
    assert len(list(out.glob("*_overlay.png"))) == 5
    for r in rows:  # the fitted hand is plausible whatever the (untrained) network says
        assert r["fit"]["bones_ok"] and r["fit"]["bends_ok"] and r["fit"]["moved_mm"] > 0
    text = capsys.readouterr().out
    assert "hands; network: mean reprojection error" in text and "after the kinematic fit" in text
    assert "kinematic fit: moved (mm)" in (out / "results.md").read_text()
    assert main(["--images", str(REALWORLD), "--checkpoint", str(ckpt), "--out", str(out),
                 "--no-fit"]) == 0
    assert all("fit" not in r for r in json.loads((out / "results.json").read_text()))
    assert "after the kinematic fit" not in capsys.readouterr().out
    rgb_only = save_inference_checkpoint(tmp_path / "r.pt", build_hand_pose_net(
        NetConfig(crop_size=32)))
    assert main(["--images", str(REALWORLD), "--checkpoint", str(rgb_only), "--out",
                 str(out), "--fuse", "2d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "s4-2d" in err and len(err.strip().splitlines()) == 1
