"""train/synth/realism.py and the webcam-like scene statistics of train/synth/render.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.hand import Joint
from train.synth import realism
from train.synth.render import (
    LEGACY_STYLE,
    SynthConfig,
    SynthFrame,
    hand_pixels,
    joints_in_camera,
    project_px,
    render_hand,
    render_sample,
    sample_hand,
    skin_texture,
)
from train.synth.scene import room_background, sample_intrinsics
from train.synth.writer import sample_seed


def _frame(joints, side=1) -> SynthFrame:
    return SynthFrame(None, None, None, np.asarray(joints, float), None, None, np.eye(3), side)


def test_palm_facing_sign():
    # a right hand held up, palm towards the camera: thumb side (index) on the image's right
    j = np.zeros((21, 3))
    j[:, 2] = 0.5
    j[Joint.WRIST, :2] = (0.0, 0.08)
    j[Joint.INDEX_MCP, :2] = (0.03, 0.0)
    j[Joint.LITTLE_MCP, :2] = (-0.03, 0.0)
    assert realism.palm_facing(_frame(j)) > 0.99
    assert realism.palm_facing(_frame(j, side=0)) < -0.99  # the mirrored hand shows its back
    back = j.copy()
    back[:, 0] *= -1
    assert realism.palm_facing(_frame(back)) < -0.99


def test_webcam_views_face_the_camera_and_stay_in_view():
    S = 128
    face_web, face_uni, inside = [], [], []
    for k in range(60):
        for p, out in ((1.0, face_web), (0.0, face_uni)):
            rng = np.random.default_rng(k)
            K = sample_intrinsics(rng, S, S)
            h = sample_hand(rng, K, S, S, p_webcam_view=p)
            jc = joints_in_camera(h.pose, h.shape, h.side, h.rot, h.trans)
            out.append(abs(realism.palm_facing(_frame(jc, h.side))))
            if p == 1.0:
                uv = project_px(jc, K)
                inside.append(bool(np.all((uv >= 0) & (uv < S))) or np.ptp(uv, 0).max() > 0.9 * S)
    # webcam views show the palm or the back far more often than uniform orientations
    assert np.mean(np.array(face_web) > 0.5) > np.mean(np.array(face_uni) > 0.5) + 0.2
    assert np.mean(inside) > 0.95


def test_legacy_style_draws_no_extra_random_numbers():
    # the legacy statistics must not touch the generator where the new options would draw
    a = render_sample(SynthConfig(size=64, **LEGACY_STYLE), sample_seed(3, "evaluation", 1))
    b = render_sample(SynthConfig(size=64, **LEGACY_STYLE), sample_seed(3, "evaluation", 1))
    new = render_sample(SynthConfig(size=64), sample_seed(3, "evaluation", 1))
    # the same computation twice in one process on one CPU: bit-equal by construction
    assert np.array_equal(a.rgb, b.rgb)
    assert not np.array_equal(a.joints_m, new.joints_m)


def test_skin_texture_changes_only_the_skin():
    rng = np.random.default_rng(0)
    img = np.full((32, 32, 3), 0.5, np.float32)
    skin = np.zeros((32, 32), bool)
    skin[8:24, 8:24] = True
    before = img.copy()
    skin_texture(rng, img, skin, 0.25)
    assert np.array_equal(img[~skin], before[~skin])  # untouched pixels: no arithmetic
    d = img[skin] / before[skin] - 1.0
    assert d.std() > 0.02 and np.abs(d).max() <= 0.25 / 2 + 0.25 / 6 + 1e-6


def test_red_light_wraps_further_past_the_terminator():
    # one white light from the side: the half of the hand turned away from it is lit only by
    # the wrapped diffuse term, which the default wraps furthest in red, as skin scatters it
    S = 96
    rng = np.random.default_rng(5)
    K = sample_intrinsics(rng, S, S)
    hand = sample_hand(rng, K, S, S, p_webcam_view=1.0)
    lights = (np.zeros(3), np.array([[1.0, 0.0, 0.0]]), np.array([[1.0, 1.0, 1.0]]))
    bg, depth = np.zeros((S, S, 3), np.float32), np.full((S, S), 10.0, np.float32)

    def red_over_blue(wrap):
        img, _, mask, _, _ = render_hand(hand, K, S, S, bg, depth, lights, specular=0.0,
                                         wrap=wrap)
        skin = hand_pixels(mask)
        assert skin.sum() > 100
        return float(img[skin, 0].mean() / img[skin, 2].mean())

    flat, red = red_over_blue((0.3, 0.3, 0.3)), red_over_blue(SynthConfig().skin_wrap)
    assert red > flat * 1.05
    assert LEGACY_STYLE["skin_wrap"] == (0.3, 0.3, 0.3)


def test_room_background_is_desaturated_and_in_range():
    bg = room_background(np.random.default_rng(1), 48, 48)
    assert bg.shape == (48, 48, 3) and bg.dtype == np.float32
    assert 0.0 <= bg.min() and bg.max() <= 1.0


def test_summary_counts_and_bins():
    rs = [realism.FrameResult(0, True, 4.0, 5.0, 50.0, 0.9, 21, 1),
          realism.FrameResult(1, False, float("nan"), float("nan"), 150.0, -0.9, 5, 0),
          realism.FrameResult(2, True, 8.0, 10.0, 70.0, 0.1, 17, 1)]
    s = realism.summary(rs)
    assert (s["frames"], s["detected"]) == (3, 2)
    assert s["detected_pct"] == pytest.approx(200 / 3)
    assert s["error_px_median"] == pytest.approx(6.0)
    assert s["bins"]["palm facing"]["back (cos < -0.5)"] == {"frames": 1, "detected_pct": 0.0}
    assert s["bins"]["hand extent (px)"][">=130"]["frames"] == 1
    assert "2 of 3 renders" in realism.format_summary(s)
    json.dumps(s)


def test_scene_bins_read_the_render_record():
    rs = [realism.FrameResult(0, True, 4.0, 5.0, 50.0, 0.9, 21, 1,
                              {"skin_luma": 0.7, "forearm": "bare", "background": "room",
                               "clutter": True, "occluder": False}),
          realism.FrameResult(1, False, float("nan"), float("nan"), 60.0, 0.9, 21, 1,
                              {"skin_luma": 0.2, "forearm": "sleeve", "background": "pattern",
                               "clutter": False, "occluder": True})]
    b = realism.summary(rs)["bins"]
    assert b["skin (mean albedo)"]["light (> 0.5)"] == {"frames": 1, "detected_pct": 100.0}
    assert b["skin (mean albedo)"]["dark (<= 0.3)"] == {"frames": 1, "detected_pct": 0.0}
    assert b["forearm"]["sleeve"]["detected_pct"] == 0.0 and b["forearm"]["none"]["frames"] == 0
    assert b["background"]["room"]["detected_pct"] == 100.0
    assert b["occluder in front"]["yes"] == {"frames": 1, "detected_pct": 0.0}
    assert b["clutter behind"]["yes"]["frames"] == 1
    assert "| forearm | sleeve | 1 | 0.0 % |" in realism.format_summary(realism.summary(rs))


def test_a_render_records_its_scene():
    from train.synth.render import SynthConfig, render_sample

    config = SynthConfig(size=64, p_occluder=1.0, p_clutter=0.0, p_room=1.0)
    sc = render_sample(config, 3).scene
    assert sc["occluder"] is True and sc["clutter"] is False and sc["background"] == "room"
    assert sc["forearm"] in ("bare", "sleeve", "none") and 0.0 < sc["skin_luma"] < 1.0
    frame = render_sample(SynthConfig(size=64, p_forearm=0.0), 3)
    assert frame.scene["forearm"] == "none" and not (frame.mask == 1).any()
    sc = render_sample(SynthConfig(size=64, p_room=0.0, p_occluder=0.0), 3).scene
    assert sc["background"] == "pattern" and sc["occluder"] is False


def test_measure_with_mediapipe_on_a_few_renders(tmp_path, capsys):
    pytest.importorskip("mediapipe", reason="mediapipe is not installed")
    assert realism.main(["--frames", "6", "--size", "160", "--workers", "1",
                         "--save", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "of 6 renders" in out
    data = json.loads((tmp_path / "summary.json").read_text())
    assert len(data["frames"]) == 6
    for f in data["frames"]:
        assert f["detected"] == np.isfinite(f["error_px"])


def test_cli_errors(capsys):
    assert realism.main(["--frames", "0"]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert realism.main(["--frames", "2", "--backgrounds", "/nonexistent"]) == 2
    assert "error:" in capsys.readouterr().err


def test_finger_overlap_of_apart_and_crossing_fingers():
    from model.kinematics import forward_kinematics
    from train.synth.kinematics import POSE_DIM
    from train.synth.render import finger_overlap
    from train.synth.shape import sample_shape

    shape = sample_shape(np.random.default_rng(0))
    joints, _ = forward_kinematics(np.zeros(POSE_DIM), shape.skeleton)
    flat = finger_overlap(joints, shape.radius)
    assert 0.0 <= flat < 0.15  # a flat hand: neighbouring fingers at most touch
    crossed = joints.copy()
    crossed[Joint.MIDDLE_PIP:Joint.MIDDLE_TIP + 1] = crossed[Joint.INDEX_PIP:Joint.INDEX_TIP + 1]
    assert finger_overlap(crossed, shape.radius) > 0.9  # two fingers through each other


def test_sampled_hands_respect_the_overlap_bound():
    from model.kinematics import forward_kinematics
    from train.synth.render import finger_overlap

    over = 0
    for k in range(40):
        rng = np.random.default_rng(k)
        K = sample_intrinsics(rng, 96, 96)
        h = sample_hand(rng, K, 96, 96, max_finger_overlap=0.15)
        over += finger_overlap(forward_kinematics(h.pose, h.shape.skeleton)[0],
                               h.shape.radius) > 0.15
    assert over <= 1  # ten redraws leave almost none above the bound
