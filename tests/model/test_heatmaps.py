"""Keypoints <-> heat maps: matched encode / decode pair, also through a crop homography."""

from __future__ import annotations

import numpy as np
import pytest

from model import heatmaps
from model.geometry import Box, crop_camera, transform_points
from model.heatmaps import landmarks_to_heatmaps


@pytest.mark.parametrize("crop,size,sigma", [(256, 64, 2.0), (128, 64, 2.0), (128, 32, 1.5)])
def test_round_trip(crop, size, sigma):
    rng = np.random.default_rng(0)
    uv = rng.uniform(8, crop - 8, size=(21, 2))
    heat = heatmaps.encode(uv, crop, size, sigma)
    assert heat.shape == (21, size, size) and heat.dtype == np.float32
    assert heat.max() <= 1.0 and heat.min() >= 0.0
    back, conf = heatmaps.decode(heat, crop)
    # exact up to float32 storage of the maps
    np.testing.assert_allclose(back, uv, atol=0.02 * crop / size)
    assert np.all(conf > 0.8)


def test_peak_location_and_pixel_convention():
    # a keypoint at the centre of crop pixel (4k + 1.5) lands on heat-map pixel k (crop 256 -> 64)
    uv = np.array([[4 * 10 + 1.5, 4 * 20 + 1.5]])
    heat = heatmaps.encode(uv, 256, 64, 2.0)
    y, x = np.unravel_index(heat[0].argmax(), heat[0].shape)
    assert (x, y) == (10, 20) and heat[0, 20, 10] == pytest.approx(1.0)


def test_far_keypoint_gives_empty_map_and_bad_shapes_raise():
    heat = heatmaps.encode(np.array([[-500.0, 900.0]]), 256, 64, 2.0)
    assert heat.max() == 0.0
    with pytest.raises(ValueError, match=r"\(J, 2\)"):
        heatmaps.encode(np.zeros((21, 3)), 256)
    with pytest.raises(ValueError, match=r"\(J, M, M\)"):
        heatmaps.decode(np.zeros((21, 64, 32)), 256)


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
