"""One Euro filter."""

from __future__ import annotations

import numpy as np

from app.engine.filters import FilterConfig, HandFilters, OneEuroFilter


def test_static_noise_is_smoothed_and_constant_passes():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0)
    out = [f(np.array([1.0 + rng.normal(scale=0.01)]), i / 30.0)[0] for i in range(300)]
    # a first-order low-pass with alpha ~0.17 (1 Hz at 30 fps) keeps sqrt(a / (2 - a)) ~0.3 of
    # the noise
    assert np.std(out[30:]) < 0.4 * 0.01
    g = OneEuroFilter(1.0, 10.0)
    assert all(g(np.full(3, 2.5), i / 30.0).tolist() == [2.5] * 3 for i in range(10))


def test_beta_reduces_lag_on_fast_motion():
    t = np.arange(60) / 30.0
    x = 0.5 * t  # 0.5 m/s ramp
    lags = []
    for beta in (0.0, 50.0):
        f = OneEuroFilter(1.0, beta)
        y = np.array([f(np.array([v]), s)[0] for v, s in zip(x, t)])
        lags.append(abs(x[-1] - y[-1]))
    assert lags[1] < 0.5 * lags[0]


def test_hand_filters_per_id_reset_and_disable():
    hf = HandFilters(FilterConfig(min_cutoff_hz=0.5, beta=0.0, beta_px=0.0))
    j, uv = np.zeros((21, 3)), np.zeros((21, 2))
    hf.apply(0, j, uv, 0.0)
    j1, _ = hf.apply(0, j + 1.0, uv + 10.0, 1 / 30)
    assert 0.0 < j1[0, 0] < 1.0  # smoothed towards the old value
    j_new, uv_new = hf.apply(1, j + 1.0, uv + 10.0, 1 / 30)  # a new id starts fresh
    assert j_new[0, 0] == 1.0 and uv_new[0, 0] == 10.0
    hf.keep_only([1])
    j0, _ = hf.apply(0, j + 5.0, uv, 2 / 30)  # id 0 was forgotten: no memory of 0
    assert j0[0, 0] == 5.0
    off = HandFilters(FilterConfig(enabled=False))
    assert off.apply(0, j + 3.0, uv, 0.0)[0] is not None
    assert off.apply(0, j + 4.0, uv, 0.1)[0][0, 0] == 4.0
