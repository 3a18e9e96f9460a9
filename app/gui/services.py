"""What the window needs from the rest of the app, in one place: opening an engine for the
panel's settings, applying a setting to a running engine, listing cameras, building sinks.
`app.gui.wiring.EngineServices` implements it with app.engine and app.sinks; tests may pass
their own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from app.engine.notices import Notice
from app.gui.settings import PanelSettings
from app.gui.worker import EngineLike
from app.sinks.fanout import Sink


class GuiServices(Protocol):
    backends: tuple[str, ...]  # names offered in the panel
    max_hands: int  # the panel offers 1..max_hands

    def preload(self) -> None:
        """Import what must be loaded before OpenGL (see wiring.preload_inference_stack)."""
        ...

    def list_cameras(self) -> list[tuple[int, str]]:
        """(index, description) of the cameras that exist."""
        ...

    def open_engine(self, settings: PanelSettings,
                    on_message: Callable[[Notice], None]) -> EngineLike:
        """An engine (not yet entered) for these settings; raises with a one-line reason."""
        ...

    def live_setter(self, name: str) -> Callable[[EngineLike, PanelSettings], None] | None:
        """How to apply the PanelSettings field `name` to a running engine, or None when the
        engine must be reopened for it (source, camera, resolution, video file...)."""
        ...

    def describe(self, engine: EngineLike) -> str:
        """A short description of the running engine's backend for the status bar."""
        ...

    def make_recorder(self, session_dir: Path, settings: PanelSettings,
                      engine: EngineLike) -> Sink:
        """A recorder writing a new session folder; called in the engine thread."""
        ...

    def make_osc(self, host: str, port: int) -> Sink:
        ...
