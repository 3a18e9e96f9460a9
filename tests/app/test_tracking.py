"""Tracker: optical-flow propagation, IoU association, ids, the lost decision."""

from __future__ import annotations

import cv2
import numpy as np

from app.engine.tracking import Tracker, TrackerConfig
from model.hand import LEFT, RIGHT
from model.mediapipe_hands import Detection

W, H = 320, 240


def _texture(seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((H, W)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (5, 5), 1.5)


def _hand_uv(cx, cy, size=60.0, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([cx, cy]) + rng.uniform(-size / 2, size / 2, size=(21, 2))


def _det(uv, side=RIGHT, score=0.9) -> Detection:
    return Detection(uv, side, score)


def test_flow_follows_a_moving_image():
    tr = Tracker(TrackerConfig(mode="flow", max_hands=1))
    g0 = _texture()
    uv = _hand_uv(150, 120)
    tr.update([_det(uv)], (W, H))
    shift = np.array([6.0, -4.0])
    M = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    g1 = cv2.warpAffine(g0, M, (W, H), borderMode=cv2.BORDER_REFLECT)
    tr.remember(g0)
    tr.propagate(g1)
    assert len(tr.tracks) == 1
    t = tr.tracks[0]
    assert not t.detected and t.flow_kept > 0.8
    np.testing.assert_allclose(t.uv_px, uv + shift, atol=0.5)
    obs, w = t.observations()
    assert w.sum() >= 3 and np.allclose(obs[w > 0], (uv + shift)[w > 0], atol=0.5)


def test_track_is_lost_when_the_image_changes_completely():
    tr = Tracker(TrackerConfig(mode="flow", max_hands=1))
    tr.update([_det(_hand_uv(150, 120))], (W, H))
    tr.remember(_texture(0))
    tr.propagate(_texture(99))
    assert tr.tracks == [] and tr.lost_total == 1
    assert tr.needs_detection()


def test_ids_association_and_limits():
    cfg = TrackerConfig(mode="flow", max_hands=2, redetect_interval=3, refresh_interval=0)
    tr = Tracker(cfg)
    assert tr.needs_detection()
    a, b = _hand_uv(80, 120), _hand_uv(240, 120, seed=2)
    tr.update([_det(a, RIGHT)], (W, H))
    assert [t.hand_id for t in tr.tracks] == [0]
    # one of two hands tracked: the detector runs only every redetect_interval frames
    g = _texture()
    runs = []
    for _ in range(6):
        tr.remember(g)
        tr.propagate(g)
        runs.append(tr.needs_detection())
        if runs[-1]:
            tr.update([_det(a + 1.0, RIGHT)], (W, H))
    assert runs == [False, False, True, False, False, True]
    # a detection on the tracked hand updates it; a new one elsewhere gets a new id
    tr.update([_det(b, LEFT), _det(a + 2.0, RIGHT)], (W, H))
    assert sorted(t.hand_id for t in tr.tracks) == [0, 1]
    np.testing.assert_allclose(tr.tracks[0].uv_px, a + 2.0)
    # a third hand does not fit
    tr.update([_det(_hand_uv(160, 40, seed=3))], (W, H))
    assert len(tr.tracks) == 2
    # all tracked: no detector until the refresh (off here)
    tr.remember(g)
    tr.propagate(g)
    assert not tr.needs_detection()
    # lost ids are never reused
    tr.reset()
    tr.update([_det(a)], (W, H))
    assert [t.hand_id for t in tr.tracks] == [2]


def test_side_is_a_majority_vote():
    tr = Tracker(TrackerConfig(mode="flow", max_hands=1))
    uv = _hand_uv(150, 120)
    tr.update([_det(uv, RIGHT, 0.9)], (W, H))
    tr.update([_det(uv, LEFT, 0.6)], (W, H))  # one weaker contrary vote
    assert tr.tracks[0].side == RIGHT
    tr.update([_det(uv, LEFT, 0.9)], (W, H))
    assert tr.tracks[0].side == LEFT


def test_finish_drops_tracks_whose_fit_fails_or_box_collapses():
    tr = Tracker(TrackerConfig(mode="flow", max_hands=2))
    tr.update([_det(_hand_uv(80, 120)), _det(_hand_uv(240, 120, seed=2))], (W, H))
    g = _texture()
    tr.remember(g)
    tr.propagate(g)
    t0, t1 = tr.tracks
    assert not tr.finish(t0, None, float("inf"), (W, H))
    collapsed = np.tile([240.0, 120.0], (21, 1)) + np.random.default_rng(0).normal(size=(21, 2))
    assert not tr.finish(t1, collapsed, 0.01, (W, H))
    assert tr.tracks == []


def test_fast_crop_camera_equals_model_geometry():
    from app.engine.crops import fast_crop_camera, k_inverse
    from app.engine.rootfit import solve3
    from model.geometry import Box, crop_camera, intrinsics_from_fov

    K = intrinsics_from_fov(640, 480, 60.0)
    np.testing.assert_allclose(k_inverse(K), np.linalg.inv(K), atol=1e-15)
    for box in (Box(100.0, 50.0, 80.0), Box(600.0, 400.0, 200.0), Box(320.0, 240.0, 50.0)):
        ref, fast = crop_camera(K, box, 128), fast_crop_camera(K, box, 128)
        for a, b in ((ref.R, fast.R), (ref.K_virtual, fast.K_virtual), (ref.H, fast.H)):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    rng = np.random.default_rng(0)
    M, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    np.testing.assert_allclose(solve3(M, b), np.linalg.solve(M, b), rtol=1e-10)
    assert solve3(np.ones((3, 3)), b) is None


def test_landmark_tracking_takes_every_frames_landmarks_and_loses_unmatched_hands():
    tr = Tracker(TrackerConfig(max_hands=2))  # the default: landmarks on every frame
    assert tr.config.mode == "landmarks"
    world = np.random.default_rng(3).normal(0, 0.03, (21, 3))
    a, b = _hand_uv(80, 120, seed=1), _hand_uv(240, 120, seed=2)
    tr.update([Detection(a, RIGHT, 0.9, world, 1.0), _det(b, LEFT)], (W, H))
    ids = [t.hand_id for t in tr.tracks]
    assert ids == [0, 1]
    for step in range(1, 4):  # both hands move a little each frame
        tr.propagate(_texture())
        assert tr.needs_detection()  # every frame
        assert all(not t.detected and t.world_m is None for t in tr.tracks)
        tr.update([_det(a + step), Detection(b + step, LEFT, 0.8, world, 0.7)], (W, H))
        assert [t.hand_id for t in tr.tracks] == ids
        assert all(t.detected for t in tr.tracks)
        np.testing.assert_allclose(tr.tracks[0].uv_px, a + step)
        assert tr.tracks[0].world_m is None and tr.tracks[1].world_m is world
        assert tr.tracks[1].inside == 0.7
    tr.propagate(_texture())
    tr.update([_det(a + 4)], (W, H))  # the second hand is not found: lost at once
    assert [t.hand_id for t in tr.tracks] == [0] and tr.lost_total == 1
    tr.propagate(_texture())
    tr.update([_det(a + 5), _det(b, LEFT)], (W, H))  # it comes back under a new id
    assert [t.hand_id for t in tr.tracks] == [0, 2]


def test_an_unknown_tracking_mode_is_refused():
    import pytest

    with pytest.raises(ValueError, match="landmarks, flow"):
        Tracker(TrackerConfig(mode="kalman"))
