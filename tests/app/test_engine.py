"""End-to-end tests of the engine on the synthetic demo stream and on real photos.

The tracking tests use an oracle network (app.engine.truth.OracleEstimator: the demo's ground
truth, normalised in each crop's camera) so that they test detection, tracking, the metric fit
and ids, not a trained model (none is bundled); the plumbing tests use a randomly initialised
HandPoseNet checkpoint.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.engine import (
    BackendConfig,
    Engine,
    EngineConfig,
    EngineError,
    FilterConfig,
    SourceConfig,
    TrackerConfig,
)
from app.engine.backends import Backend, BackendOutput
from app.engine.estimate import HandEstimator
from app.engine.landmarks3d import LandmarkFusionConfig
from app.engine.truth import OracleEstimator
from model.geometry import transform_points

REPO = Path(__file__).resolve().parents[2]
REALWORLD = REPO / ".." / "shared" / "realworld"
CROP = 64  # small crops keep the random network fast


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised HandPoseNet checkpoint (crop CROP px)."""
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "rand.pt", CROP)


def make_checkpoint(path: Path, crop: int) -> Path:
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    return save_inference_checkpoint(path, build_hand_pose_net(NetConfig(crop_size=crop)))


def demo_config(checkpoint, hands: int, frames: int, tracking: str = "landmarks",
                **source) -> EngineConfig:
    """The demo through the torch backend. MediaPipe's world landmarks and the refinement with
    its 2D landmarks stay out of the 3D hand: these tests follow the network's pose (the oracle
    stands in for it)."""
    return EngineConfig(
        source=SourceConfig(kind="demo", demo_hands=hands, demo_frames=frames, realtime=False,
                            **source),
        backend=BackendConfig(kind="torch", checkpoint=str(checkpoint), device="cpu"),
        tracker=TrackerConfig(mode=tracking, max_hands=hands),
        landmarks=LandmarkFusionConfig(world_weight=0.0, snap_2d=False))


def test_engine_import_does_not_import_qt():
    code = ("import sys, app.engine, app.engine.engine, app.cli; "
            "bad = [m for m in sys.modules if m.startswith(('PyQt', 'pyqtgraph'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("hands", [1, 2])
def test_landmark_tracking_holds_every_hand_on_every_frame_with_stable_ids(checkpoint, hands):
    frames = 30
    with Engine(demo_config(checkpoint, hands, frames), estimator=OracleEstimator) as engine:
        assert engine.detector.video  # MediaPipe's tracking mode on a stream
        results = [r for r, _ in engine.run()]
        stats = engine.stats
    assert stats.detections == frames  # the landmark model runs on every frame
    ids = [tuple(h.hand_id for h in r.hands) for r in results]
    assert ids == [tuple(range(hands))] * frames, f"ids changed or hands were lost: {set(ids)}"
    by_u = sorted(results[-1].hands, key=lambda h: h.uv_px[:, 0].mean())
    assert [h.side for h in by_u] == [0, 1][-hands:]
    assert np.median(stats.errors_mm["root_aligned"]) < 10.0


@pytest.mark.parametrize("hands", [1, 2])
def test_demo_tracks_hands_with_stable_ids_and_few_detections(checkpoint, hands):
    frames = 60
    with Engine(demo_config(checkpoint, hands, frames, tracking="flow"),
                estimator=OracleEstimator) as engine:
        assert not engine.detector.video
        results = [r for r, _ in engine.run()]
        stats = engine.stats
    assert len(results) == frames
    ids = {tuple(h.hand_id for h in r.hands) for r in results}
    assert ids == {tuple(range(hands))}, f"ids changed during the sequence: {ids}"
    # sides: the demo's right hand is on the image's right, its left hand (if any) on the left
    by_u = sorted(results[-1].hands, key=lambda h: h.uv_px[:, 0].mean())
    assert [h.side for h in by_u] == [0, 1][-hands:]
    # the detector runs on the first frame and then only for drift refreshes
    assert stats.detections <= frames // 4, stats.summary()
    errors = np.array(stats.errors_mm["camera"])
    assert len(errors) == frames * hands
    assert np.median(errors) < 60.0, stats.summary()  # metres in the camera frame, fitted
    assert np.median(stats.errors_mm["root_aligned"]) < 10.0  # oracle pose, default hand size
    for r in results:
        for h in r.hands:
            gt = r.ground_truth_m[h.hand_id]
            assert np.abs(h.joints_m[:, 2] - gt[:, 2]).mean() < 0.15


def test_random_network_end_to_end(checkpoint):
    """The real backend path (random weights): results are well-formed every frame."""
    with Engine(demo_config(checkpoint, 1, 8)) as engine:
        results = list(engine.run())
    assert len(results) == 8
    for r, rgb in results:
        assert rgb.shape == (r.height, r.width, 3)
        assert {"track", "total", "latency"} <= set(r.timings_ms)
        for h in r.hands:
            assert h.joints_m.shape == (21, 3) and np.all(np.isfinite(h.joints_m))
            assert np.all(h.joints_m[:, 2] > 0)
            assert 0.0 <= h.confidence <= 1.0


class SlowBackend(Backend):
    """A fake backend that takes delay_s per call."""

    name = "slow"
    crop_size = CROP

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def infer(self, rgb):
        time.sleep(self.delay_s)
        return BackendOutput(np.zeros((len(rgb), 21, 3), np.float32))


def test_slow_backend_drops_frames_and_latency_does_not_grow(checkpoint):
    """A 30 fps real-time stream into a pipeline that needs > 100 ms per frame: frames are
    dropped and the latency stays bounded instead of growing."""
    from app.engine.sources import Source, SourceFrame

    class FastSource(Source):
        fps, description = 30.0, "fast"
        size = (160, 120)

        def read(self):
            return SourceFrame(np.zeros((120, 160, 3), np.uint8), time.time())

    class SlowDetector:
        def detect(self, rgb, mirrored):
            time.sleep(0.1)
            return []

    cfg = EngineConfig(source=SourceConfig(kind="video", realtime=True))
    with Engine(cfg, source=FastSource(), backend=SlowBackend(0.0),
                detector=SlowDetector()) as engine:
        results = [r for r, _ in engine.run(max_frames=12)]
    lat = np.array([r.timings_ms["latency"] for r in results])
    ids = np.array([r.frame_id for r in results])
    assert engine.stats.dropped > 0
    assert np.all(np.diff(ids) >= 2), f"frames were queued instead of dropped: {ids}"
    # latency = waiting for the newest frame (< one period) + one processing time (~100 ms)
    assert lat[-4:].max() < 300.0, lat
    assert lat[-4:].mean() < lat[:4].mean() + 100.0, lat


def test_controls_from_another_thread(checkpoint):
    with Engine(demo_config(checkpoint, 2, 400), estimator=OracleEstimator) as engine:
        seen = []

        def worker():
            for r, _ in engine.run():
                seen.append(r)

        th = threading.Thread(target=worker)
        th.start()
        deadline = time.time() + 60
        while len(seen) < 5 and time.time() < deadline:
            time.sleep(0.02)
        engine.set_num_hands(1)
        engine.set_smoothing(False)
        engine.set_hand_size(0.05)
        n = len(seen)
        while len(seen) < n + 5 and time.time() < deadline:
            time.sleep(0.02)
        engine.stop()
        th.join(timeout=10)
    assert not th.is_alive()
    assert len(seen) < 400
    assert max(len(r.hands) for r in seen[-3:]) <= 1
    assert engine.filters.config.enabled is False
    assert engine.metric.hand_size_m == 0.05


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    cfg = EngineConfig(source=SourceConfig(kind="demo"),
                       backend=BackendConfig(checkpoint=str(tmp_path / "nope.pt")))
    with pytest.raises(EngineError, match="--checkpoint"):
        Engine(cfg)


def _realworld_photos() -> list[Path]:
    photos = sorted(REALWORLD.glob("photo*.jpg")) if REALWORLD.is_dir() else []
    if not photos:
        pytest.skip(f"real photos not found in {REALWORLD.resolve()} (shared/realworld absent)")
    return photos


def test_real_photos_hands_found_where_mediapipe_finds_them(checkpoint, tmp_path):
    import cv2
    import mediapipe as mp

    photos = _realworld_photos()
    cfg = EngineConfig(source=SourceConfig(kind="images", path=str(REALWORLD), realtime=False),
                       backend=BackendConfig(kind="torch", checkpoint=str(checkpoint)),
                       filter=FilterConfig(enabled=True))
    with Engine(cfg) as engine:
        results = [r for r, _ in engine.run()]
    assert len(results) == len(photos)
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                  model_complexity=1, min_detection_confidence=0.5) as hands:
        for path, r in zip(photos, results):
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            ref = hands.process(rgb)
            ref_uv = [np.array([(p.x * r.width, p.y * r.height) for p in lm.landmark])
                      for lm in (ref.multi_hand_landmarks or [])]
            assert len(r.hands) == len(ref_uv), path.name
            for h in r.hands:  # each engine hand sits on one MediaPipe hand
                d = min(np.abs(h.uv_px - uv).max() for uv in ref_uv)
                assert d < 2.0, (path.name, d)
                assert np.all(np.isfinite(h.joints_m)) and np.all(h.joints_m[:, 2] > 0)


# ---------------------------------------------------------------- the 2D expert
@pytest.fixture(scope="module")
def fused_checkpoint(tmp_path_factory) -> Path:
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    net = build_hand_pose_net(NetConfig(crop_size=CROP, heatmap_size=16), with_heat=True)
    return save_inference_checkpoint(tmp_path_factory.mktemp("fused") / "fused.pt", net)


class RecordingEstimator(HandEstimator):
    """The real backend call, remembering the 2D expert's inputs of every frame."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen, self._tracks = [], []

    def crop(self, rgb, K, tracks):
        self._tracks = tracks
        return super().crop(rgb, K, tracks)

    def infer(self, batch):
        uv = [t.uv_px.copy() for t in self._tracks]
        self.seen.append(None if batch.experts is None else
                         tuple(a.copy() for a in batch.experts) + (batch.cams, uv))
        return super().infer(batch)


@pytest.mark.parametrize("fuse, weights", [(None, (1.0, 1.0)), ("rgb+2d", (1.0, 1.0)),
                                           ("2d", (0.0, 1.0)), ("rgb", None)])
def test_fuse_feeds_the_detector_landmarks_on_detector_frames(fused_checkpoint, fuse, weights):
    from model import heatmaps

    cfg = demo_config(fused_checkpoint, 1, 6)
    cfg.fuse = fuse
    with Engine(cfg, estimator=RecordingEstimator) as engine:
        results = [r for r, _ in engine.run()]
        assert engine.fuse == (fuse or "rgb+2d")
    assert all(np.all(np.isfinite(h.joints_m)) for r in results for h in r.hands)
    detected = ["detect" in r.timings_ms and bool(r.hands) for r in results]
    assert any(detected) and len(engine.estimator.seen) == len(results)
    for seen, det in zip(engine.estimator.seen, detected):
        if weights is None or not det:
            assert seen is None  # RGB only: the backend's plain path
            continue
        heat, w_h, w_x, cams, uv = seen
        assert (w_x[0], w_h[0]) == weights and heat.shape == (1, 21, 16, 16)
        # the maps hold the detector's landmarks of this frame, carried into the crop
        want = transform_points(cams[0].H, uv[0])  # (21, 2) crop px
        got, conf = heatmaps.decode(heat[0], CROP)
        inside = np.all((want > 2) & (want < CROP - 3), axis=1)
        assert inside.sum() > 10
        np.testing.assert_allclose(got[inside], want[inside], atol=0.3)


def test_fuse_2d_with_an_rgb_only_checkpoint_is_a_clear_error(checkpoint):
    cfg = demo_config(checkpoint, 1, 2)
    cfg.fuse = "2d"
    with pytest.raises(EngineError, match="no heat-map encoder.*--strategy s4-2d") as e:
        Engine(cfg)
    assert "\n" not in str(e.value)
    cfg.fuse = None  # the default falls back to RGB for such models
    with Engine(cfg) as engine:
        assert engine.fuse == "rgb"


def test_set_fuse_switches_the_experts_live_and_refuses_what_the_model_lacks(
        fused_checkpoint, checkpoint):
    messages: list[str] = []
    texts = lambda notice: messages.append(notice.text)  # noqa: E731
    with Engine(demo_config(fused_checkpoint, 1, 2), on_message=texts) as engine:
        assert engine.fuse == "rgb+2d"
        engine.set_fuse("2d")
        engine.apply_settings()
        assert engine.fuse == "2d" and messages[-1] == "experts: 2d"
        engine.set_fuse("auto")
        engine.apply_settings()
        assert engine.fuse == "rgb+2d"
        with pytest.raises(ValueError, match="unknown fuse mode 'both'"):
            engine.set_fuse("both")
    messages.clear()
    with Engine(demo_config(checkpoint, 1, 2), on_message=texts) as engine:
        engine.set_fuse("rgb+2d")
        engine.apply_settings()
        assert engine.fuse == "rgb" and engine.config.fuse is None
        assert messages[-1].startswith("experts unchanged: --fuse rgb+2d needs the 2D")
