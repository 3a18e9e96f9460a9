"""The main window: video with overlay | 3D view (or the 2D-only fallback), the side panel as a
dock, a banner for problems and a status bar with rates.

Frames arrive by signal from the engine thread (worker.py). The window keeps only the latest
one and draws it once per pass of the event loop, so a slow paint drops stale frames instead of
slowing the engine or queueing latency."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import QByteArray, QPoint, QRect, QSettings, Qt, QTimer
from PyQt6.QtGui import QCloseEvent, QKeySequence, QPainter, QPixmap, QShortcut
from PyQt6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.engine.notices import Notice, info
from app.gui.banner import Banner
from app.gui.config import GuiConfig
from app.gui.gl_check import opengl_problem, share_gl_contexts
from app.gui.panel import ControlPanel
from app.gui.services import GuiServices
from app.gui.settings import PanelSettings, load_panel_settings, save_panel_settings
from app.gui.style import STYLE_SHEET, apply_theme
from app.gui.top_view import TopView
from app.gui.video_view import VideoView
from app.gui.worker import EngineThread, FramePacket

SOURCE_SETTINGS = ("source", "camera", "resolution", "video_path")


def open_settings(config: GuiConfig) -> QSettings:
    if config.settings_file:
        return QSettings(config.settings_file, QSettings.Format.IniFormat)
    return QSettings(config.organisation, config.application)


def writable_problem(folder: Path) -> str | None:
    """None if sessions can be written under folder (created if missing), else the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".handtrack-write-test"):
            pass
    except OSError as e:
        return f"the recording folder {folder} cannot be written ({e.strerror or e}); " \
               "choose another folder in the panel"
    return None


class MainWindow(QMainWindow):
    def __init__(self, services: GuiServices, config: GuiConfig | None = None,
                 initial: PanelSettings | None = None):
        """initial: panel settings to start with instead of the saved ones (e.g. from the
        command line)."""
        super().__init__()
        self.services = services
        self.config = config or GuiConfig()
        preload = getattr(services, "preload", None)
        if preload is not None:  # before the first OpenGL context, see wiring.py
            preload()
        self.qsettings = open_settings(self.config)
        saved = load_panel_settings(self.qsettings) if self.config.restore_settings \
            else PanelSettings()
        self.settings = replace(initial) if initial is not None else saved
        self.engine: EngineThread | None = None
        self._stopping: list[EngineThread] = []  # engines that did not stop in time
        self._closed = False
        self.paused = False
        self.recording_dir: Path | None = None
        self.latest: FramePacket | None = None
        self._draw_pending = False
        self.frames_received = 0
        self.frames_drawn = 0
        self.frames_skipped = 0  # arrived but replaced by a newer one before drawing
        self._last_frame_t = 0.0
        self._stalled = False
        self._engine_frames = 0
        self._fullscreen_3d = False
        self._was_maximized = False

        self.setWindowTitle(self.config.title)
        if self.config.theme:
            apply_theme(QApplication.instance())
            self.setStyleSheet(STYLE_SHEET)
        self._build()
        self._build_shortcuts()
        if self.config.restore_settings:
            self._restore_window()
        else:
            self.resize(1400, 820)
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(500)
        self._watchdog.timeout.connect(self._check_stall)
        self._watchdog.start()
        self.refresh_cameras()
        if self.gl_problem is not None:
            self.show_problem(f"3D view off: {self.gl_problem}. Showing the 2D-only view.",
                              level="warning")
        if self.config.autostart:
            QTimer.singleShot(0, self.start_engine)

    # --- building -------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = Banner()
        self.video = VideoView(self.config.overlay)
        self.gl_problem = "switched off (force_2d)" if self.config.force_2d else opengl_problem()
        if self.gl_problem is None:
            from app.gui.scene3d import Scene3D  # imports pyqtgraph.opengl (needs PyOpenGL)

            self.scene = Scene3D(self.config.scene)
        else:
            self.scene = TopView(self.gl_problem)
        self.scene.show_cloud = self.settings.show_cloud
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("views")
        self.splitter.addWidget(self.video)
        self.splitter.addWidget(self.scene)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.panel = ControlPanel(self.settings, tuple(self.services.backends),
                                  int(self.services.max_hands))
        self.panel.changed.connect(self._on_setting_changed)
        self.panel.record_toggled.connect(self.set_recording)
        self.panel.reset_view.connect(self._reset_view)
        self.panel.refresh_cameras.connect(self.refresh_cameras)
        self.dock = QDockWidget("Settings")
        self.dock.setObjectName("settingsDock")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.dock.setWidget(self.panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

        bar = self.statusBar()
        self.status_labels: dict[str, QLabel] = {}
        for key in ("state", "camera", "processing", "latency", "backend", "hands"):
            label = QLabel()
            label.setObjectName(f"status_{key}")
            self.status_labels[key] = label
            bar.addPermanentWidget(label)
        self._update_status_labels(None)

    def _build_shortcuts(self) -> None:
        keys = {Qt.Key.Key_Space: self.toggle_pause,
                Qt.Key.Key_R: self.panel.record_button.toggle,
                Qt.Key.Key_M: self.panel.mirror_check.toggle,
                Qt.Key.Key_F: self.toggle_fullscreen_3d,
                Qt.Key.Key_Q: self.close}
        self.shortcuts = []
        for key, slot in keys.items():
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
            self.shortcuts.append(shortcut)

    def _restore_window(self) -> None:
        geometry = self.qsettings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            pass
        else:
            self.resize(1400, 820)
        state = self.qsettings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = self.qsettings.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)

    def save_settings(self) -> None:
        save_panel_settings(self.qsettings, self.settings)
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())
        self.qsettings.setValue("window/splitter", self.splitter.saveState())
        self.qsettings.sync()

    # --- engine lifecycle -----------------------------------------------------------------
    def start_engine(self) -> None:
        if self._closed:  # e.g. the autostart timer firing after an early close
            return
        self.stop_engine()
        settings = replace(self.settings)
        self.engine = EngineThread(
            lambda on_message: self.services.open_engine(settings, on_message), self)
        worker = self.engine.worker
        worker.frame.connect(self._on_frame)
        worker.message.connect(self._on_engine_message)
        worker.failed.connect(self._on_engine_failed)
        worker.finished.connect(self._on_engine_finished)
        worker.sink_started.connect(self._on_sink_started)
        worker.sink_failed.connect(self._on_sink_failed)
        self._queue_describe()
        if self.settings.osc_enabled:
            self._open_osc()
        self.paused = False
        self.latest = None
        self._last_frame_t = time.monotonic()
        self._stalled = False
        self._engine_frames = 0  # the stall warning starts after the first frame (opening is slow)
        self.video.clear(f"Opening {self._source_text()}…")
        self.engine.start()
        self._update_status_labels(None)

    def _queue_describe(self) -> None:
        worker = self.engine.worker
        worker.call(lambda engine: worker.message.emit(
            info("backend: " + self.services.describe(engine), topic="backend")))

    def stop_engine(self) -> None:
        if self.engine is None:
            return
        engine, self.engine = self.engine, None
        for qt_signal in (engine.worker.frame, engine.worker.message, engine.worker.failed,
                          engine.worker.finished, engine.worker.sink_started,
                          engine.worker.sink_failed):
            qt_signal.disconnect()
        if not engine.stop():  # keep it referenced until it ends (closeEvent waits again)
            self._stopping.append(engine)
            self.show_problem("the engine did not stop within 5 s; it is left to finish in the "
                              "background", level="warning")
        if self.recording_dir is not None:
            self.recording_dir = None
            self.panel.set_recording(False)
            self.statusBar().showMessage("Recording stopped", 5000)

    def _source_text(self) -> str:
        s = self.settings
        if s.source == "camera":
            return f"camera {s.camera} ({s.width}×{s.height})"
        if s.source == "video":
            return f"video {s.video_path or '(no file chosen)'}"
        return "the demo" if s.source == "demo" else f"the {s.source} source"

    # --- frames ---------------------------------------------------------------------------
    def _on_frame(self, packet: FramePacket) -> None:
        self.frames_received += 1
        self._engine_frames += 1
        self._last_frame_t = time.monotonic()
        if self._stalled:
            self._stalled = False
            self.banner.hide()
            self.statusBar().clearMessage()
        if self.latest is not None:
            self.frames_skipped += 1
        self.latest = packet
        if not self._draw_pending:
            self._draw_pending = True
            QTimer.singleShot(0, self._draw_latest)

    def _draw_latest(self) -> None:
        self._draw_pending = False
        packet, self.latest = self.latest, None
        if packet is None:
            return
        self.video.show_frame(packet.result, packet.frame_rgb)
        if self.scene.isVisible() or not self.video.isVisible():
            self.scene.show_result(packet.result)
        packet.rates.latency_ms = max(0.0, (time.time() - packet.result.capture_time) * 1000.0)
        self.frames_drawn += 1
        self._update_status_labels(packet)

    def _update_state_label(self) -> None:
        label = self.status_labels["state"]
        state = "⏸ paused" if self.paused else ("● REC" if self.recording_dir else "")
        label.setText(state)
        label.setVisible(bool(state))

    def _update_status_labels(self, packet: FramePacket | None) -> None:
        lab = self.status_labels
        self._update_state_label()
        if packet is None:
            for key in ("camera", "processing", "latency", "hands"):
                lab[key].setText(f"{key} –")
            lab["backend"].setText(f"backend {self.settings.backend}")
            return
        r = packet.rates
        lab["camera"].setText(f"camera {r.camera_fps:5.1f} fps")
        lab["processing"].setText(f"processing {r.processing_fps:5.1f} fps")
        lab["latency"].setText(f"latency {r.latency_ms:4.0f} ms")
        lab["hands"].setText(f"hands {r.hands}")

    def _check_stall(self) -> None:
        if self.engine is None or self.paused or not self._engine_frames or \
                not self.engine.is_running():
            return
        idle = time.monotonic() - self._last_frame_t
        if idle > self.config.stall_s and not self._stalled:
            self._stalled = True
            self.show_problem(f"no frames from {self._source_text()} for {idle:.0f} s; waiting "
                              "for the source (check the cable or pick another source)",
                              level="warning")

    # --- engine notices -------------------------------------------------------------------
    def show_problem(self, text: str, level: str = "error") -> None:
        """Banner + status bar; the app keeps running."""
        self.banner.show_message(text, level)
        self.statusBar().showMessage(text, 15000)

    def _on_engine_message(self, notice: Notice | str) -> None:
        """An engine notice (app.engine.notices): the backend in use goes to its label, errors
        and warnings to the banner, the source coming back to a short info banner, other infos
        to the status bar. Plain text (the worker's own) counts as info."""
        if not isinstance(notice, Notice):
            notice = info(str(notice))
        text = notice.text
        if notice.topic == "backend":
            self.status_labels["backend"].setText(text.replace(":", "", 1))
        elif notice.level in ("error", "warning"):
            self.show_problem(text, level=notice.level)
        elif notice.topic == "source":
            self.banner.show_message(text, "info")
            self.statusBar().showMessage(text, 5000)
            QTimer.singleShot(3000, self._hide_info_banner)
        else:
            self.statusBar().showMessage(text, 10000)

    def _hide_info_banner(self) -> None:
        if self.banner.level == "info":
            self.banner.hide()

    def _on_engine_failed(self, text: str) -> None:
        self.show_problem(f"{self._source_text()} stopped: {text}")
        self.video.clear(f"No video: {text}")

    def _on_engine_finished(self, reason: str) -> None:
        if reason == "ended":
            self.statusBar().showMessage(f"{self._source_text()} ended", 10000)
        if self.recording_dir is not None:
            self.recording_dir = None
            self.panel.set_recording(False)
        self._update_status_labels(None)

    # --- settings -------------------------------------------------------------------------
    def _on_setting_changed(self, name: str) -> None:
        self.settings = self.panel.settings()
        if name == "show_cloud":
            self.scene.show_cloud = self.settings.show_cloud
        if name in ("osc_enabled", "osc_host", "osc_port"):
            self._open_osc()
            return
        if name == "record_dir":
            return
        setter = None if name in SOURCE_SETTINGS else self.services.live_setter(name)
        if setter is None:
            self.start_engine()
        elif self.engine is not None:
            settings = replace(self.settings)
            self.engine.worker.call(lambda engine: setter(engine, settings))

    def refresh_cameras(self) -> None:
        try:
            cameras = self.services.list_cameras()
        except Exception as e:  # listing is best effort; the panel says none were found
            self.statusBar().showMessage(f"cameras cannot be listed: {e}", 10000)
            cameras = []
        self.panel.set_cameras(cameras)
        if not cameras and self.settings.source == "camera":
            self.show_problem("no camera found; connect one and press ↻, or choose the demo or a "
                              "video file in the panel", level="warning")

    def _open_osc(self) -> None:
        if self.engine is None:
            return
        s = self.settings
        factory = (lambda engine: self.services.make_osc(s.osc_host, s.osc_port)) \
            if s.osc_enabled else None
        self.engine.worker.set_sink("osc", factory)

    def set_recording(self, on: bool) -> None:
        if not on:
            if self.engine is not None:
                self.engine.worker.set_sink("recorder", None)
            if self.recording_dir is not None:
                self.statusBar().showMessage(f"Recording saved to {self.recording_dir}", 10000)
            self.recording_dir = None
            self._update_state_label()
            return
        folder = Path(self.settings.record_dir).expanduser()
        problem = writable_problem(folder) if self.settings.record_dir else \
            "no recording folder set; choose one in the panel"
        if problem is None and (self.engine is None or not self.engine.is_running()):
            problem = "nothing is running to record; choose a working source first"
        if problem is not None:
            self.panel.set_recording(False)
            self.show_problem(f"Cannot record: {problem}")
            return
        session = folder / time.strftime("session-%Y%m%d-%H%M%S")
        k = 1
        while session.exists():
            session = folder / f"{time.strftime('session-%Y%m%d-%H%M%S')}-{k}"
            k += 1
        self.recording_dir = session
        settings = replace(self.settings)
        self.engine.worker.set_sink("recorder",
                                    lambda engine: self.services.make_recorder(session, settings,
                                                                               engine))
        self.statusBar().showMessage(f"Recording to {session}", 5000)
        self._update_state_label()

    def _on_sink_started(self, name: str, description: str) -> None:
        if name == "osc":
            self.statusBar().showMessage(f"OSC: sending to {self.settings.osc_host}:"
                                         f"{self.settings.osc_port}", 5000)

    def _on_sink_failed(self, name: str, reason: str) -> None:
        if name == "recorder":
            self.recording_dir = None
            self.panel.set_recording(False)
            self.show_problem(f"Recording stopped: {reason}")
        else:
            self.show_problem(f"OSC: {reason}", level="warning")

    # --- keys -----------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        if self.engine is None:
            return
        self.paused = not self.paused
        self.engine.worker.set_paused(self.paused)
        self.statusBar().showMessage("Paused (space to resume)" if self.paused else "Running",
                                     3000)
        self._update_state_label()

    def toggle_fullscreen_3d(self) -> None:
        self._fullscreen_3d = not self._fullscreen_3d
        full = self._fullscreen_3d
        self.video.setVisible(not full)
        self.dock.setVisible(not full)
        self.statusBar().setVisible(not full)
        if full:
            self._was_maximized = self.isMaximized()
            self.showFullScreen()
        elif self._was_maximized:
            self.showMaximized()
        else:
            self.showNormal()

    def _reset_view(self) -> None:
        reset = getattr(self.scene, "reset_camera", None)
        if reset is not None:
            reset()

    def snapshot(self) -> QPixmap:
        """The window as a picture. QWidget.grab() misses what the 3D view paints with QPainter
        (its labels), so its framebuffer is grabbed separately and drawn over it."""
        pixmap = self.grab()
        grab_fb = getattr(self.scene, "grabFramebuffer", None)
        if grab_fb is not None and self.scene.isVisible():
            image = grab_fb()
            painter = QPainter(pixmap)
            top_left = self.scene.mapTo(self, QPoint(0, 0))
            painter.drawImage(QRect(top_left, self.scene.size()), image)
            painter.end()
        return pixmap

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        self._closed = True
        if self._fullscreen_3d:
            self.toggle_fullscreen_3d()
        self.save_settings()
        self._watchdog.stop()
        self.stop_engine()
        for engine in self._stopping:
            engine.stop(timeout_ms=10000)
        super().closeEvent(event)


def run_gui(engine_config=None, *, source_named: bool = True, osc: str | None = None,
            record_dir: str | None = None) -> int:
    """Open the window and run the Qt event loop; returns the exit status.

    engine_config: the CLI's app.engine.EngineConfig (model, backend, intrinsics...); the panel
    starts from it (app.gui.wiring.panel_from_cli), its source instead of the saved one when
    the command line named one (source_named: --demo, --video, --camera). osc "HOST:PORT" and
    record_dir: the command line's --osc and --record."""
    from app.gui.wiring import EngineServices, panel_from_cli

    share_gl_contexts()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("handtrack")
    app.setOrganizationName("handtrack")
    config = GuiConfig(settings_file=os.environ.get("HANDTRACK_SETTINGS") or None)
    services = EngineServices(engine_config)
    saved = load_panel_settings(open_settings(config))
    window = MainWindow(services, config, initial=panel_from_cli(
        saved, engine_config, source_named=source_named, osc=osc, record_dir=record_dir))
    window.show()
    with close_on_sigterm(window) as stopped:
        status = app.exec()
    return 128 + signal.SIGTERM if stopped.is_set() else status


@contextmanager
def close_on_sigterm(window: QMainWindow, poll_ms: int = 200):
    """SIGTERM (timeout, systemd, docker) closes the window like its close button, so the
    engine stops and a recording is flushed and closed. Python runs signal handlers only
    between bytecodes, so an idle timer wakes the interpreter every poll_ms while Qt waits.
    Yields an Event that is set when SIGTERM arrived."""
    stopped = threading.Event()

    def on_sigterm(signum, frame) -> None:
        stopped.set()
        QTimer.singleShot(0, window.close)

    old = signal.signal(signal.SIGTERM, on_sigterm)
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(poll_ms)
    try:
        yield stopped
    finally:
        timer.stop()
        signal.signal(signal.SIGTERM, old)
