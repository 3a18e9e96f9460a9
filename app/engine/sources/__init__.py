"""Frame sources behind one interface: camera, video file, image folder, recorded session (replay)
and the synthetic demo, one module each; the interface is in app.engine.sources.base.

A source is opened, read frame by frame (`read() -> SourceFrame | None`, None at the end of a
file) and closed. Sources do no threading; `app.engine.capture.FrameGrabber` runs one in its own
thread and keeps only the latest frame.
"""

from __future__ import annotations

from app.engine.errors import EngineError
from app.engine.sources.base import Source, SourceConfig, SourceFrame, TruthHand
from app.engine.sources.camera import CameraSource
from app.engine.sources.demo import DemoSource
from app.engine.sources.images import ImageFolderSource
from app.engine.sources.replay import ReplaySource
from app.engine.sources.video import VideoSource

__all__ = ["CameraSource", "DemoSource", "ImageFolderSource", "ReplaySource", "Source",
           "SourceConfig", "SourceFrame", "TruthHand", "VideoSource", "open_source"]

_KINDS: dict[str, type[Source]] = {"camera": CameraSource, "video": VideoSource,
                                   "images": ImageFolderSource, "replay": ReplaySource,
                                   "demo": DemoSource}


def open_source(config: SourceConfig) -> Source:
    """Open the source that config.kind names. Raises EngineError with the fix on failure."""
    kind = _KINDS.get(config.kind)
    if kind is None:
        raise EngineError(f"unknown source kind {config.kind!r}; use camera, video, images, demo "
                          "or replay")
    return kind(config)
