import numpy as np
import torch

from model.canonical import mirror_images, mirror_keypoints, mirror_points
from model.geometry import Box, crop_camera, project
from model.heatmaps import encode


def test_a_flipped_crop_is_the_hand_with_x_negated_in_the_crop_camera():
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    cam = crop_camera(K, Box(400.0, 200.0, 150.0), 128)
    rng = np.random.default_rng(0)
    p = rng.normal(0, 0.03, (21, 3)) + (0.0, 0.0, 0.5)  # crop camera, metres
    uv = project(p, cam.K_virtual)
    flipped = project(p * (-1.0, 1.0, 1.0), cam.K_virtual)
    np.testing.assert_allclose(flipped[:, 0], 127 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(flipped[:, 1], uv[:, 1], atol=1e-9)
    got = mirror_keypoints(uv[None], np.array([True]), 128)[0]
    np.testing.assert_allclose(got, flipped, atol=1e-9)
    np.testing.assert_array_equal(mirror_keypoints(uv[None], np.array([False]), 128)[0], uv)
    # and the heat maps of the mirrored keypoints are the flipped heat maps
    heat = encode(uv, 128, 64, 2.0)
    np.testing.assert_allclose(encode(flipped, 128, 64, 2.0), heat[..., ::-1], atol=1e-5)


def test_mirroring_only_touches_the_left_hands_numpy_and_torch():
    rng = np.random.default_rng(1)
    img = rng.random((3, 2, 4, 5)).astype(np.float32)
    pts = rng.normal(size=(3, 7, 3)).astype(np.float32)
    left = np.array([True, False, True])
    for a, p in ((img, pts), (torch.from_numpy(img), torch.from_numpy(pts))):
        mi, mp = mirror_images(a, left), mirror_points(p, left)
        mi, mp = np.asarray(mi), np.asarray(mp)
        np.testing.assert_array_equal(mi[1], img[1])
        np.testing.assert_array_equal(mi[0], img[0][..., ::-1])
        np.testing.assert_array_equal(mp[1], pts[1])
        np.testing.assert_array_equal(mp[2][:, 0], -pts[2][:, 0])
        np.testing.assert_array_equal(mp[2][:, 1:], pts[2][:, 1:])
    # twice is the identity, and the input is left alone
    np.testing.assert_array_equal(mirror_points(mirror_points(pts, left), left), pts)
    assert mirror_images(img, left) is not img
