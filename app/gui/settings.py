"""What the side panel controls, and its persistence between runs through QSettings.

`PanelSettings` is plain data; `load_panel_settings` / `save_panel_settings` read and write it
field by field (a missing or unreadable value falls back to the default)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PyQt6.QtCore import QSettings

from model.inference import FUSE_MODES

SOURCE_KINDS = ("camera", "video", "demo")
FUSE_CHOICES = ("auto", *FUSE_MODES)  # "auto": rgb+2d when the model has a 2D expert
RESOLUTIONS = ((320, 240), (640, 480), (960, 540), (1280, 720), (1920, 1080))


@dataclass
class PanelSettings:
    """source: "camera", "video" or "demo"; camera: index; width x height: requested camera mode;
    mirror: flip the image (selfie view); video_path: file for the "video" source.
    backend: inference backend name ("auto": what the command line's --backend auto picks:
    tensorrt > onnxruntime > torch among the model's up-to-date artefacts); max_hands: hands
    tracked at most; smoothing: One Euro filter
    strength in [0, 1] (0 off). record_dir: folder sessions are written to. osc_*: OSC/UDP sink.
    show_cloud: draw (and ask the engine for) the point cloud decoded from RGB.
    fuse: experts that form the latent, "auto" or one of FUSE_CHOICES (model.inference.FUSE_MODES).
    anatomy: fit the kinematic hand to each decoded pose (joint limits, bone proportions)."""

    source: str = "demo"
    camera: int = 0
    width: int = 640
    height: int = 480
    mirror: bool = True
    video_path: str = ""
    backend: str = "auto"
    max_hands: int = 2
    smoothing: float = 0.75
    record_dir: str = str(Path.home() / "handtrack-sessions")
    osc_enabled: bool = False
    osc_host: str = "127.0.0.1"
    osc_port: int = 9000
    show_cloud: bool = False
    fuse: str = "auto"
    anatomy: bool = True


def _read(settings: QSettings, key: str, default):
    value = settings.value(key, None)
    if value is None:
        return default
    try:
        if isinstance(default, bool):  # ini files store booleans as "true"/"false"
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        return type(default)(value)
    except (TypeError, ValueError):
        return default


# Settings written before the panel offered "auto" saved the old default "torch" whether or not the
# user chose it; they carry no version and migrate to "auto". Version 2 keeps what was chosen.
SETTINGS_VERSION = 2


def load_panel_settings(settings: QSettings) -> PanelSettings:
    defaults = PanelSettings()
    version = _read(settings, "panel/version", 1)
    values = {f.name: _read(settings, f"panel/{f.name}", getattr(defaults, f.name))
              for f in fields(PanelSettings)}
    out = PanelSettings(**values)
    if out.source not in SOURCE_KINDS:
        out.source = defaults.source
    out.smoothing = min(1.0, max(0.0, out.smoothing))
    out.max_hands = max(1, out.max_hands)
    if out.fuse not in FUSE_CHOICES:
        out.fuse = defaults.fuse
    if version < SETTINGS_VERSION and out.backend == "torch":
        out.backend = "auto"
    return out


def save_panel_settings(settings: QSettings, panel: PanelSettings) -> None:
    settings.setValue("panel/version", SETTINGS_VERSION)
    for f in fields(PanelSettings):
        settings.setValue(f"panel/{f.name}", getattr(panel, f.name))
