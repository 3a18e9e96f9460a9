import numpy as np
import pytest

from app.engine.fusion import expert_weights, landmarks_to_heatmaps
from model.geometry import Box, crop_camera, transform_points
from train.data import heatmaps


def test_landmarks_to_crop_heatmaps_round_trip_with_a_known_homography():
    # A pure scale + shift: frame px (u, v) -> crop px (u - 100) / 2, (v - 50) / 2.
    H = np.array([[0.5, 0.0, -50.0], [0.0, 0.5, -25.0], [0.0, 0.0, 1.0]])
    uv_crop = np.random.default_rng(0).uniform(10, 54, (21, 2))
    uv_frame = uv_crop * 2 + [100.0, 50.0]
    heat = landmarks_to_heatmaps(uv_frame, H, 64, 16, sigma=1.5)
    assert heat.shape == (21, 16, 16) and heat.dtype == np.float32
    got, conf = heatmaps.decode(heat, 64)
    np.testing.assert_allclose(got, uv_crop, atol=0.05)
    assert np.all(conf > 0.5)


def test_landmarks_follow_the_viewpoint_corrected_crop():
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    cam = crop_camera(K, Box(450.0, 300.0, 120.0), 64)
    uv = np.random.default_rng(1).uniform(-40, 40, (21, 2)) + [450.0, 300.0]
    got, _ = heatmaps.decode(landmarks_to_heatmaps(uv, cam.H, 64, 32), 64)
    np.testing.assert_allclose(got, transform_points(cam.H, uv), atol=0.05)


def test_expert_weights():
    assert expert_weights("rgb+2d", True) == (1.0, 1.0)
    assert expert_weights("rgb+2d", False) == (1.0, 0.0)
    assert expert_weights("2d", True) == (0.0, 1.0)
    assert expert_weights("2d", False) == (1.0, 0.0)
    assert expert_weights("rgb", True) == (1.0, 0.0)
    with pytest.raises(ValueError, match="rgb\\+2d"):
        expert_weights("3d", True)
