import numpy as np
import pytest

from model import heatmaps
from train.data.noise2d import (
    NEIGHBOUR_FINGERS,
    Noise2DConfig,
    noisy_heatmaps,
    perturb_keypoints,
)

OFF = dict(jitter=0.0, drop_prob=0.0, swap_prob=0.0, offset=0.0, scale=0.0)


def _uv(seed=0):
    return np.random.default_rng(seed).uniform(20, 100, (21, 2))


def test_same_seed_same_noise_other_seed_other_noise():
    c = Noise2DConfig()
    a = noisy_heatmaps(_uv(), 128, 16, 2.0, c, np.random.default_rng(3))
    b = noisy_heatmaps(_uv(), 128, 16, 2.0, c, np.random.default_rng(3))
    d = noisy_heatmaps(_uv(), 128, 16, 2.0, c, np.random.default_rng(4))
    assert a.shape == (21, 16, 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d)


def test_no_noise_is_identity():
    uv, kept = perturb_keypoints(_uv(), 128, Noise2DConfig(**OFF), np.random.default_rng(0))
    np.testing.assert_allclose(uv, _uv())
    assert kept.all()


def test_jitter_has_the_configured_sigma():
    c = Noise2DConfig(**(OFF | {"jitter": 0.02}))
    rng = np.random.default_rng(1)
    d = np.concatenate([perturb_keypoints(_uv(), 128, c, rng)[0] - _uv() for _ in range(200)])
    assert d.std() == pytest.approx(0.02 * 128, rel=0.05)
    assert abs(d.mean()) < 0.1


def test_offset_moves_the_whole_hand_and_scale_keeps_the_centre():
    rng = np.random.default_rng(2)
    shifts = []
    for _ in range(300):
        uv, _ = perturb_keypoints(_uv(), 128, Noise2DConfig(**(OFF | {"offset": 0.03})), rng)
        d = uv - _uv()
        np.testing.assert_allclose(d, np.broadcast_to(d[0], d.shape), atol=1e-9)  # rigid shift
        shifts.append(d[0])
    assert np.std(shifts) == pytest.approx(0.03 * 128, rel=0.1)
    uv, _ = perturb_keypoints(_uv(), 128, Noise2DConfig(**(OFF | {"scale": 0.2})), rng)
    np.testing.assert_allclose(uv.mean(0), _uv().mean(0), atol=1e-9)
    ratio = np.linalg.norm(uv - uv.mean(0), axis=1) / np.linalg.norm(_uv() - _uv().mean(0), axis=1)
    np.testing.assert_allclose(ratio, ratio[0])
    assert ratio[0] != pytest.approx(1.0)


def test_drops_zero_the_maps_at_the_configured_rate():
    c = Noise2DConfig(**(OFF | {"drop_prob": 0.3}))
    rng = np.random.default_rng(5)
    kept = np.stack([perturb_keypoints(_uv(), 128, c, rng)[1] for _ in range(400)])
    assert 1 - kept.mean() == pytest.approx(0.3, abs=0.02)
    heat = noisy_heatmaps(_uv(), 128, 16, 2.0, c, np.random.default_rng(6))
    _, kept = perturb_keypoints(_uv(), 128, c, np.random.default_rng(6))
    assert (~kept).any()
    assert np.all(heat[~kept] == 0) and np.all(heat[kept].max(axis=(1, 2)) > 0)


def test_swap_exchanges_neighbouring_fingers():
    c = Noise2DConfig(**(OFF | {"swap_prob": 1.0}))
    uv, _ = perturb_keypoints(_uv(), 128, c, np.random.default_rng(0))
    changed = np.flatnonzero(np.any(np.abs(uv - _uv()) > 1e-9, axis=1))
    assert len(changed) == 8
    pair = [p for p in NEIGHBOUR_FINGERS if set(changed) == set(range(p[0], p[0] + 4))
            | set(range(p[1], p[1] + 4))]
    assert len(pair) == 1
    a, b = pair[0]
    np.testing.assert_allclose(uv[a:a + 4], _uv()[b:b + 4])


def test_noisy_maps_decode_to_the_noisy_keypoints():
    c = Noise2DConfig(**(OFF | {"jitter": 0.02}))
    heat = noisy_heatmaps(_uv(), 128, 32, 1.5, c, np.random.default_rng(9))
    uv, _ = perturb_keypoints(_uv(), 128, c, np.random.default_rng(9))
    got, _ = heatmaps.decode(heat, 128)
    np.testing.assert_allclose(got, uv, atol=0.1)
