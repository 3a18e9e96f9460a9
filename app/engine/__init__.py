"""The real-time engine (Qt-free): sources, detection & tracking, backends, metric 3D, filters.

See app/engine/engine.py and docs/contracts.md section 3.
"""

from app.engine.backends import BackendConfig
from app.engine.detect import DetectorConfig
from app.engine.engine import DEFAULT_CHECKPOINT, Engine, EngineConfig, resolve_checkpoint
from app.engine.errors import EngineError
from app.engine.filters import FilterConfig
from app.engine.rootfit import MetricConfig
from app.engine.sources import SourceConfig
from app.engine.tracking import TrackerConfig

__all__ = ["DEFAULT_CHECKPOINT", "BackendConfig", "DetectorConfig", "Engine", "EngineConfig",
           "EngineError", "FilterConfig", "MetricConfig", "SourceConfig", "TrackerConfig",
           "resolve_checkpoint"]
