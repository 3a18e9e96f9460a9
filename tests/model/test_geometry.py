import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import geometry as g
from model.hand import Joint

finite = dict(allow_nan=False, allow_infinity=False)


def _K(f=500.0, cx=320.0, cy=240.0):
    return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])


intrinsics = st.builds(
    _K,
    f=st.floats(200, 1500, **finite),
    cx=st.floats(100, 600, **finite),
    cy=st.floats(100, 500, **finite),
)
pixel = st.tuples(st.floats(-200, 900, **finite), st.floats(-200, 700, **finite))


@settings(max_examples=200, deadline=None)
@given(K=intrinsics, c=pixel)
def test_viewpoint_rotation_puts_centre_ray_on_optical_axis(K, c):
    R = g.viewpoint_rotation(K, c)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    d = np.linalg.solve(K, [c[0], c[1], 1.0])
    v = R.T @ d
    assert abs(v[0]) < 1e-6 * np.linalg.norm(v) and abs(v[1]) < 1e-6 * np.linalg.norm(v)
    assert v[2] > 0


@settings(max_examples=200, deadline=None)
@given(
    K=intrinsics,
    c=pixel,
    size=st.floats(40, 400, **finite),
    roll=st.floats(-math.pi, math.pi, **finite),
    seed=st.integers(0, 2**31),
)
def test_homography_agrees_with_rotated_projection(K, c, size, roll, seed):
    cam = g.crop_camera(K, g.Box(c[0], c[1], size), out_size=128, roll_rad=roll)
    rng = np.random.default_rng(seed)
    # points in front of both cameras: near the ray through the box centre
    ray = np.linalg.solve(K, [c[0], c[1], 1.0])
    X = ray / np.linalg.norm(ray) * rng.uniform(0.3, 1.0, (10, 1)) + rng.normal(0, 0.03, (10, 3))
    Xv = cam.to_virtual(X)
    keep = (X[:, 2] > 0.05) & (Xv[:, 2] > 0.05)
    X, Xv = X[keep], Xv[keep]
    if len(X) == 0:
        return
    lhs = g.project(Xv, cam.K_virtual)
    rhs = g.transform_points(cam.H, g.project(X, K))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-7, atol=1e-6)
    # and the inverse homography maps back
    np.testing.assert_allclose(g.transform_points(cam.H_inv, rhs), g.project(X, K), atol=1e-6)
    np.testing.assert_allclose(cam.from_virtual(Xv), X, atol=1e-12)


def test_box_centre_lands_on_crop_centre():
    K = _K()
    cam = g.crop_camera(K, g.Box(500.0, 100.0, 80.0), out_size=64)
    np.testing.assert_allclose(g.transform_points(cam.H, np.array([500.0, 100.0])), [31.5, 31.5],
                               atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31), batch=st.sampled_from([(), (3,)]))
def test_normalisation_round_trips(seed, batch):
    rng = np.random.default_rng(seed)
    j = rng.normal(0, 0.05, batch + (21, 3)) + [0, 0, 0.5]
    n, root, scale = g.normalise_pose(j)
    np.testing.assert_allclose(n[..., Joint.MIDDLE_MCP, :], 0.0, atol=1e-12)
    np.testing.assert_allclose(
        np.linalg.norm(n[..., Joint.MIDDLE_PIP, :] - n[..., Joint.MIDDLE_MCP, :], axis=-1), 1.0)
    np.testing.assert_allclose(g.denormalise(n, root, scale), j, atol=1e-12)
    np.testing.assert_allclose(g.normalise_points(j, root, scale), n, atol=1e-12)


# Cameras for the 64 x 48 depth image below: the principal point inside the image and fields of
# view from 24 to 94 degrees, so that some rays always hit the tilted plane (with the 640 x 480
# cameras above, a 64 x 48 corner can look past every plane and there would be nothing to test).
small_intrinsics = st.builds(
    _K,
    f=st.floats(35, 150, **finite),
    cx=st.floats(8, 56, **finite),
    cy=st.floats(6, 42, **finite),
)


@settings(max_examples=50, deadline=None)
@given(
    K=small_intrinsics,
    normal=st.tuples(st.floats(-0.5, 0.5, **finite), st.floats(-0.5, 0.5, **finite)),
    dist=st.floats(0.2, 3.0, **finite),
)
def test_backprojecting_a_rendered_depth_plane_recovers_the_plane(K, normal, dist):
    n = np.array([normal[0], normal[1], 1.0])
    n /= np.linalg.norm(n)
    h, w = 48, 64
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    denom = rays @ n
    ok = denom > 0.2  # rays that hit the plane in front of the camera at a sane angle
    depth = np.where(ok, dist / np.where(ok, denom, 1.0), 0.0)  # the hit's z (rays have z = 1)
    cloud = g.depth_to_cloud(depth, K)
    assert len(cloud) == int((depth > 0).sum()) > 0
    np.testing.assert_allclose(cloud @ n, dist, rtol=1e-5)
    mask = np.zeros((h, w), bool)
    mask[10:20, 5:30] = True
    part = g.depth_to_cloud(depth, K, mask)
    assert len(part) == int((mask & (depth > 0)).sum())


def test_project_backproject_round_trip():
    K = _K()
    X = np.array([[0.1, -0.05, 0.5], [0.0, 0.0, 1.0]])
    uv = g.project(X, K)
    np.testing.assert_allclose(g.backproject(uv, X[:, 2], K), X, atol=1e-12)


def test_intrinsics_from_fov_and_scaling():
    K = g.intrinsics_from_fov(640, 480, 60.0)
    assert K[0, 0] == pytest.approx(320 / math.tan(math.radians(30)))
    K2 = g.scale_intrinsics(K, (640, 480), (320, 240))
    assert K2[0, 0] == pytest.approx(K[0, 0] / 2)
    np.testing.assert_allclose(K2[:2, 2], [159.5, 119.5])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: g.project(np.zeros((5, 2)), _K()), r"points_m must have shape \(\.\.\., 3\)"),
        (lambda: g.project([[0, 0, 0.0]], _K()), "in front of the camera"),
        (lambda: g.project([[np.nan, 0, 1.0]], _K()), "NaN"),
        (lambda: g.backproject([[1.0, 2.0]], [0.0], _K()), "zero depth"),
        (lambda: g.depth_to_cloud(np.zeros((4, 4, 1)), _K()), r"depth_m must have shape \(H, W\)"),
        (lambda: g.project([[0, 0, 1.0]], np.eye(2)), r"K must have shape \(3, 3\)"),
        (lambda: g.box_from_keypoints(np.ones((21, 2))), "degenerate"),
        (lambda: g.box_from_mask(np.zeros((8, 8), bool)), "mask is empty"),
        (lambda: g.normalise_pose(np.zeros((21, 3))), "zero-length"),
        (lambda: g.intrinsics_from_fov(640, 480, 0.0), "hfov_deg"),
        (lambda: g.virtual_intrinsics(_K(), g.Box(0, 0, 0.0), 64), "box.size"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_warp_crop_shape():
    img = np.zeros((480, 640, 3), np.uint8)
    cam = g.crop_camera(_K(), g.Box(320, 240, 100), 96)
    assert g.warp_crop(img, cam).shape == (96, 96, 3)


@pytest.mark.parametrize("seed", range(5))
def test_rotations_agree_with_scipy_and_keep_the_random_stream(seed):
    """random_rotation / rotvec_matrix stand in for scipy's Rotation (so the demo's renderer
    starts without importing scipy.spatial): the same matrices to rounding, and the same draws
    from the generator (a seeded render stream stays the same)."""
    from scipy.spatial.transform import Rotation

    from model.geometry import random_rotation, rotvec_matrix

    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    R = random_rotation(a)
    np.testing.assert_allclose(R, Rotation.random(random_state=b).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    assert a.normal() == b.normal()  # both consumed the same draws: the streams are identical
    v = np.random.default_rng(seed + 100).normal(size=3) * 2.0
    np.testing.assert_allclose(rotvec_matrix(v), Rotation.from_rotvec(v).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rotvec_matrix(np.zeros(3)), np.eye(3))
