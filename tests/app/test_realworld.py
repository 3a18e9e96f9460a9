"""app/realworld.py: anatomical checks with known answers, and the script on the shared photos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.realworld import HINGES, main, plausibility
from tests.app.test_engine import REALWORLD
from train.synth.kinematics import Skeleton, forward_kinematics, sample_pose


def test_generator_hands_are_plausible_and_broken_ones_are_not():
    rng = np.random.default_rng(0)
    for _ in range(5):
        joints, _ = forward_kinematics(sample_pose(rng), Skeleton.mean(1.1))
        p = plausibility(joints)
        # cupping moves the ring and little MCPs a little
        assert p["bones_ok"] and p["bends_ok"] and p["bone_dev"] < 0.01
    joints, _ = forward_kinematics(np.zeros(21), Skeleton.mean())
    long = joints.copy()
    long[8] = long[7] + 2.0 * (long[8] - long[7])  # index distal phalanx twice as long
    p = plausibility(long)
    assert not p["bones_ok"] and p["bone_dev"] == pytest.approx(1.0) and p["bends_ok"]
    bent = joints.copy()
    j = HINGES[3]  # middle finger PIP (10): fold the rest of the finger back on itself
    bent[j + 1:j + 3] = bent[j] - (bent[j + 1:j + 3] - bent[j])
    assert not plausibility(bent)["bends_ok"]


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
    assert "hands: mean reprojection error" in capsys.readouterr().out
    rgb_only = save_inference_checkpoint(tmp_path / "r.pt", build_hand_pose_net(
        NetConfig(crop_size=32)))
    assert main(["--images", str(REALWORLD), "--checkpoint", str(rgb_only), "--out",
                 str(out), "--fuse", "2d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "s4-2d" in err and len(err.strip().splitlines()) == 1
