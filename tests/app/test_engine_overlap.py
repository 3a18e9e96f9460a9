"""The engine's overlap (EngineConfig.overlap): MediaPipe in its own process, one frame ahead of
the network, gives the same results as the stages one after the other; its failure is an
EngineError from run(), not a hang."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from app.engine import Engine, EngineError
from app.engine.detect import MediaPipeDetector
from app.engine.detect_process import DetectorProcess
from app.engine.truth import OracleEstimator
from tests.app.test_engine import CROP, demo_config, make_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("overlap") / "rand.pt", CROP)


def _run(config):
    with Engine(config, estimator=OracleEstimator) as engine:
        kind = type(engine.detector)
        results = [r for r, _ in engine.run()]
        return kind, results, engine.stats


@pytest.mark.parametrize("hands", [1, 2])
def test_overlap_gives_the_results_of_the_stages_in_sequence(checkpoint, hands):
    base = replace(demo_config(checkpoint, hands, 12), anatomy=None)
    kind_a, ahead, stats_a = _run(replace(base, overlap=True))
    kind_s, seq, _ = _run(replace(base, overlap=False))
    assert kind_a is DetectorProcess and kind_s is MediaPipeDetector
    assert len(ahead) == len(seq) == 12 and stats_a.detections == 12
    for a, s in zip(ahead, seq):
        assert [h.hand_id for h in a.hands] == [h.hand_id for h in s.hands]
        for ha, hs in zip(a.hands, s.hands):
            np.testing.assert_allclose(ha.uv_px, hs.uv_px, atol=1e-4)
            np.testing.assert_allclose(ha.joints_m, hs.joints_m, atol=1e-5)
        assert a.timings_ms["detect"] > 0.0


def test_a_dead_detector_process_ends_run_with_an_engine_error(checkpoint):
    config = replace(demo_config(checkpoint, 1, 40), anatomy=None)
    outcome = {}

    def go():
        try:
            with Engine(config, estimator=OracleEstimator) as engine:
                for i, _ in enumerate(engine.run()):
                    if i == 2:
                        engine.detector._proc.kill()
        except EngineError as e:
            outcome["error"] = str(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60.0)
    assert not t.is_alive(), "run() hung after the detector process died"
    assert "ended unexpectedly" in outcome.get("error", ""), outcome


def test_a_run_stopped_early_leaves_nothing_with_the_detector(checkpoint):
    """run(max_frames) ends while frames are with MediaPipe's process: they are collected and
    dropped, so the next run's first detections are its own frame's."""
    config = replace(demo_config(checkpoint, 1, 30), anatomy=None)
    with Engine(config, estimator=OracleEstimator) as engine:
        for _ in range(2):
            results = [r for r, _ in engine.run(max_frames=4)]
            assert len(results) == 4
            assert engine.detector.inflight == 0
            found = [r for r in results if r.hands]  # MediaPipe may miss a frame's hand
            assert len(found) >= 2
            for r in found:  # each frame's hand is where that frame's ground truth is
                (hand,), gt = r.hands, r.ground_truth_m
                assert hand.hand_id in gt
