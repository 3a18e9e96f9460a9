"""The engine's kinematic fit (EngineConfig.anatomy): a correct pose stays correct, a shrunken
noisy one becomes a plausible hand at a better depth, mirrored views fit the right side, and the
fit switches live."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine import Engine, FilterConfig
from app.engine.backends import BackendOutput
from app.engine.truth import OracleEstimator
from model.anatomy import plausibility
from tests.app.test_engine import checkpoint, demo_config  # noqa: F401 (fixture)


class PoorEstimator(OracleEstimator):
    """The oracle's poses shrunk to 80 % with joint noise of 0.25 scale bones: what an
    under-trained decoder gives (it shrinks uncertain hands towards the mean). The noise is
    seeded by the number of frames with hands so far."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def infer(self, batch):
        good = super().infer(batch).pose
        rng = np.random.default_rng(self.calls)
        self.calls += 1
        return BackendOutput((0.8 * good + rng.normal(0, 0.25, good.shape)).astype(np.float32))


def _run(estimator_cls, ckpt, anatomy: bool, frames: int = 12, **source):
    cfg = demo_config(ckpt, 1, frames, **source)
    cfg.filter = FilterConfig(enabled=False)  # compare the per-frame poses themselves
    if not anatomy:
        cfg.anatomy = None
    with Engine(cfg, estimator=estimator_cls) as engine:
        results = [r for r, _ in engine.run()]
        return results, engine.stats


@pytest.mark.parametrize("mirror", [False, True])
def test_a_correct_pose_stays_correct_on_either_side(checkpoint, mirror):  # noqa: F811
    results, stats = _run(OracleEstimator, checkpoint, True, mirror=mirror)
    assert np.median(stats.errors_mm["root_aligned"]) < 5.0, stats.summary()
    assert max(r.timings_ms.get("anatomy", 0.0) for r in results) > 0.0


def test_a_poor_pose_becomes_a_plausible_hand_at_a_better_depth(checkpoint):  # noqa: F811
    raw, raw_stats = _run(PoorEstimator, checkpoint, False)
    fit, fit_stats = _run(PoorEstimator, checkpoint, True)
    raw_ok = [plausibility(h.joints_m)["bones_ok"] for r in raw for h in r.hands]
    fit_ok = [plausibility(h.joints_m) for r in fit for h in r.hands]
    assert raw_ok and not any(raw_ok)
    assert fit_ok and all(p["bones_ok"] and p["bends_ok"] for p in fit_ok)
    cam_raw = np.median(raw_stats.errors_mm["camera"])
    cam_fit = np.median(fit_stats.errors_mm["camera"])
    assert cam_fit < 0.8 * cam_raw, (cam_fit, cam_raw)


def test_set_anatomy_switches_the_fit_live(checkpoint):  # noqa: F811
    with Engine(demo_config(checkpoint, 1, 6)) as engine:
        assert engine.anatomy is not None  # on by default
        engine.set_anatomy(False)
        results = [r for r, _ in engine.run()]
        assert engine.anatomy is None
        assert all(r.timings_ms.get("anatomy", 0.0) == 0.0 for r in results)
        engine.set_anatomy(True)
        engine.apply_settings()
        assert engine.anatomy is not None
