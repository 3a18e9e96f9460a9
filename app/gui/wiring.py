"""GuiServices on the real engine (app.engine) and sinks (app.sinks): how each panel setting maps
onto EngineConfig and the engine's set_* methods."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from app.engine import Engine, EngineConfig, SourceConfig
from app.engine.backends import BACKENDS
from app.engine.engine import anatomy_config
from app.engine.notices import Notice
from app.gui.settings import PanelSettings
from app.sinks import OscConfig, OscSink, Recorder, recorder_config

# Smoothing strength s in (0, 1] -> One Euro min cutoff, log-spaced from light to heavy smoothing
# (s = 0.75 gives about the engine's default of 0.7 Hz); s = 0 switches the filter off.
LIGHT_CUTOFF_HZ, HEAVY_CUTOFF_HZ = 8.0, 0.3
MAX_HANDS = 2  # the engine tracks one or two hands


def smoothing_cutoff_hz(strength: float) -> float:
    s = min(1.0, max(0.0, strength))
    return math.exp((1 - s) * math.log(LIGHT_CUTOFF_HZ) + s * math.log(HEAVY_CUTOFF_HZ))


def engine_config_for(base: EngineConfig, settings: PanelSettings) -> EngineConfig:
    """The CLI's EngineConfig with the panel's source, backend, hands, smoothing, cloud, experts
    (fuse) and kinematic fit (anatomy).
    A source the panel does not offer (--images, --replay from the command line) is kept."""
    s = settings
    source = replace(base.source, mirror=s.mirror)
    if s.source == "camera":
        source = replace(source, kind="camera", camera=s.camera, width=s.width, height=s.height)
    elif s.source == "video":
        source = replace(source, kind="video", path=s.video_path or None, loop=True)
    elif s.source == "demo":  # as many demo hands as are tracked
        source = replace(source, kind="demo", path=None, loop=True,
                         demo_hands=max(base.source.demo_hands, min(MAX_HANDS, s.max_hands)))
    backend = replace(base.backend, kind=s.backend, with_cloud=s.show_cloud)
    tracker = replace(base.tracker, max_hands=min(MAX_HANDS, max(1, s.max_hands)))
    filt = replace(base.filter, enabled=s.smoothing > 0,
                   min_cutoff_hz=smoothing_cutoff_hz(s.smoothing) if s.smoothing > 0
                   else base.filter.min_cutoff_hz)
    fuse = None if s.fuse == "auto" else s.fuse
    anatomy = anatomy_config(s.anatomy, base.anatomy)
    return replace(base, source=source, backend=backend, tracker=tracker, filter=filt, fuse=fuse,
                   anatomy=anatomy)


def panel_from_cli(saved: PanelSettings, config: EngineConfig | None, *,
                   source_named: bool = True, osc: str | None = None,
                   record_dir: str | None = None) -> PanelSettings:
    """The saved panel settings, overridden by what the command line (app.cli) set in its
    EngineConfig: the source when the command line named one (source_named: --camera / --video
    / --demo / --images / --replay), a backend other than auto, the mirror when given, the
    cloud, smoothing off, the experts (fuse) and the kinematic fit off; and by the two choices
    the EngineConfig does not hold: osc "HOST:PORT" (turned on) and record_dir (the folder
    sessions go to)."""
    if config is None:
        return saved
    out = replace(saved)
    src: SourceConfig = config.source
    if source_named:
        out.source = src.kind
        if src.kind == "camera":
            out.camera, out.width, out.height = src.camera, src.width or 640, src.height or 480
        elif src.kind == "video":
            out.video_path = src.path or ""
        out.mirror = src.mirrored
    if src.mirror is not None:
        out.mirror = bool(src.mirror)
    if config.backend.kind != "auto":
        out.backend = config.backend.kind
    if config.backend.with_cloud:
        out.show_cloud = True
    if config.fuse:
        out.fuse = config.fuse
    if not config.filter.enabled:
        out.smoothing = 0.0
    if config.anatomy is None:
        out.anatomy = False
    if osc:
        from app.sinks import parse_host_port
        from app.sinks.osc import DEFAULT_OSC_PORT

        out.osc_host, out.osc_port = parse_host_port(osc, DEFAULT_OSC_PORT, "--osc")
        out.osc_enabled = True
    if record_dir:
        out.record_dir = str(record_dir)
    return out


def _set_smoothing(engine: Engine, s: PanelSettings) -> None:
    engine.set_smoothing(s.smoothing > 0, smoothing_cutoff_hz(s.smoothing) if s.smoothing > 0
                         else None)


LIVE_SETTERS: dict[str, Callable[[Engine, PanelSettings], None]] = {
    "mirror": lambda engine, s: engine.set_mirror(s.mirror),
    "max_hands": lambda engine, s: engine.set_num_hands(min(MAX_HANDS, max(1, s.max_hands))),
    "smoothing": _set_smoothing,
    "backend": lambda engine, s: engine.set_backend(s.backend),
    "show_cloud": lambda engine, s: engine.set_cloud(s.show_cloud),
    "fuse": lambda engine, s: engine.set_fuse(s.fuse),
    "anatomy": lambda engine, s: engine.set_anatomy(s.anatomy),
}


def preload_inference_stack() -> None:
    """Import torch and torchvision's models now. torchvision pulls in triton, which bundles its
    own LLVM; loaded after Mesa's llvmpipe OpenGL driver (also LLVM) it crashes the process, so
    the window calls this before it creates any OpenGL context. Missing packages are fine here:
    the engine reports them when it opens."""
    try:
        import torch  # noqa: F401
        import torchvision.models  # noqa: F401
    except ImportError:
        pass


class EngineServices:
    """GuiServices (app/gui/services.py) on app.engine and app.sinks."""

    backends = BACKENDS
    max_hands = MAX_HANDS

    def __init__(self, base: EngineConfig | None = None):
        self.base = base or EngineConfig()

    def preload(self) -> None:
        preload_inference_stack()

    def list_cameras(self) -> list[tuple[int, str]]:
        """The /dev/video* devices on Linux; elsewhere camera 0, unchecked."""
        if sys.platform.startswith("linux"):
            found = sorted(int(p.name[5:]) for p in Path("/dev").glob("video*")
                           if p.name[5:].isdigit())
            return [(i, f"camera {i} (/dev/video{i})") for i in found]
        return [(0, "camera 0")]

    def open_engine(self, settings: PanelSettings, on_message: Callable[[Notice], None]) -> Engine:
        return Engine(engine_config_for(self.base, settings), on_message=on_message)

    def live_setter(self, name: str):
        return LIVE_SETTERS.get(name)

    def describe(self, engine: Engine) -> str:
        return engine.backend_name

    def make_recorder(self, session_dir: Path, settings: PanelSettings,
                      engine: Engine) -> Recorder:
        """The recorder the command line's --record opens too (the engine holds the settings)."""
        return Recorder(recorder_config(engine, session_dir))

    def make_osc(self, host: str, port: int) -> OscSink:
        return OscSink(OscConfig(host=host, port=port))
