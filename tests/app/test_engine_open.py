"""Opening the engine: the network loads in a thread while the source opens; a failure of
either is the EngineError that names it, and whatever did open is closed again."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

import app.engine.engine as engine_module
from app.engine import Engine, EngineError
from app.engine.truth import OracleEstimator
from tests.app.test_engine import CROP, demo_config, make_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("open") / "rand.pt", CROP)


class _Opened:
    """Records what open_backend was asked for and which thread asked; wraps the real one."""

    def __init__(self, real, fail: str | None = None):
        self.real, self.fail = real, fail
        self.configs, self.threads, self.backends = [], [], []

    def __call__(self, config, checkpoint, warn=None):
        self.configs.append(config)
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise EngineError(self.fail)
        backend = self.real(config, checkpoint, warn=warn)
        closed = backend.close

        def close():
            backend.closed_by_engine = True
            closed()

        backend.close = close
        self.backends.append(backend)
        return backend


def test_the_network_opens_in_a_thread_with_the_detectors_core_left_free(checkpoint,
                                                                         monkeypatch):
    opened = _Opened(engine_module.open_backend)
    monkeypatch.setattr(engine_module, "open_backend", opened)
    monkeypatch.setattr(engine_module.os, "cpu_count", lambda: 4)
    config = replace(demo_config(checkpoint, 1, 3), anatomy=None)
    with Engine(config, estimator=OracleEstimator) as engine:
        results = [r for r, _ in engine.run()]
    assert len(results) == 3
    assert opened.threads == ["open-backend"]
    assert opened.configs[0].threads == 3  # MediaPipe's process holds the fourth core
    assert opened.backends[0].closed_by_engine

    opened = _Opened(engine_module.open_backend)
    monkeypatch.setattr(engine_module, "open_backend", opened)
    with Engine(replace(config, overlap=False), estimator=OracleEstimator):
        pass
    assert opened.configs[0].threads == 0  # MediaPipe in this process: the automatic count


def test_a_source_that_cannot_open_closes_the_network_opened_meanwhile(checkpoint, tmp_path,
                                                                      monkeypatch):
    opened = _Opened(engine_module.open_backend)
    monkeypatch.setattr(engine_module, "open_backend", opened)
    config = replace(demo_config(checkpoint, 1, 3), anatomy=None)
    missing = tmp_path / "missing.mp4"
    config = replace(config, source=replace(config.source, kind="video", path=str(missing)))
    with pytest.raises(EngineError) as e:
        Engine(config, estimator=OracleEstimator)
    assert "missing.mp4" in str(e.value)
    assert len(opened.backends) == 1 and opened.backends[0].closed_by_engine


def test_a_network_that_cannot_open_is_the_error_reported(checkpoint, monkeypatch):
    opened = _Opened(engine_module.open_backend, fail="the model cannot open: test")
    monkeypatch.setattr(engine_module, "open_backend", opened)
    config = replace(demo_config(checkpoint, 1, 3), anatomy=None)
    with pytest.raises(EngineError, match="the model cannot open: test"):
        Engine(config, estimator=OracleEstimator)
