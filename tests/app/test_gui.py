"""The desktop window (pytest-qt): frames and skeletons arrive, the panel and keys drive the
engine, problems show in the window while the app keeps running, stale frames are dropped.

Display: Qt's offscreen platform has no OpenGL, so the tests start an Xvfb server (Mesa's
software OpenGL) and use the xcb platform when Xvfb is installed (scripts/gui-test-deps.sh);
without it they run offscreen and the 3D tests skip with the reason. The 2D-only fallback is
tested in an offscreen subprocess either way. HANDTRACK_GUI_PLATFORM=offscreen forces the
offscreen platform. HANDTRACK_WRITE_SCREENSHOT=1 writes docs/screenshot.png (else the screenshot
goes to a temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt", reason="pytest-qt is not installed (pip install -e '.[dev]')")

from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from app.gui.config import GuiConfig  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.settings import PanelSettings, load_panel_settings  # noqa: E402
from app.gui.top_view import TopView  # noqa: E402
from model.hand import FINGER_COLORS  # noqa: E402
from tests.app.test_gui_fakes import DemoTruthEngine, FakeServices  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 20000  # generous: the machine running the suite may be busy


# --------------------------------------------------------------------------- display
def _free_display() -> int:
    for n in range(90, 300):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number between :90 and :299")


@pytest.fixture(scope="session")
def display():
    """"xcb" on a private Xvfb (OpenGL through Mesa), else "offscreen" (no OpenGL)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None or os.environ.get("HANDTRACK_GUI_PLATFORM") == "offscreen":
        why = "asked for by HANDTRACK_GUI_PLATFORM" if xvfb else "Xvfb is not installed"
        print(f"\nGUI tests: {why}, using Qt's offscreen platform; the 3D view tests are "
              "skipped (scripts/gui-test-deps.sh installs Xvfb, as root)")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        yield "offscreen"
        return
    n = _free_display()
    # -terminate: the server exits when its last client (this process's Qt) disconnects.
    proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp",
                             "-terminate"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
            proc.kill()
            pytest.fail(f"Xvfb :{n} did not start: {err}")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    yield "xcb"
    if QApplication.instance() is None:  # Qt never connected, so -terminate will not fire
        proc.terminate()


@pytest.fixture(scope="session")
def qapp_args(display):
    """pytest-qt builds the QApplication from this: depending on `display` makes sure the
    platform is chosen before the application exists."""
    from app.gui.gl_check import share_gl_contexts
    from app.gui.wiring import preload_inference_stack

    share_gl_contexts()  # as run_gui does; several windows open one after another here
    preload_inference_stack()  # the real-engine test imports torch after OpenGL is loaded
    return [sys.argv[0]]


@pytest.fixture
def needs_gl(display):
    if display != "xcb":
        pytest.skip("no OpenGL on Qt's offscreen platform (Xvfb is missing, or "
                    "HANDTRACK_GUI_PLATFORM=offscreen); scripts/gui-test-deps.sh installs Xvfb")


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(services, settings=None, **GuiConfig fields) -> a shown MainWindow with its
    QSettings in tmp_path (never the user's)."""

    def make(services, settings: PanelSettings | None = None, size=(1100, 640), **config):
        """size None keeps the restored (or default) size."""
        config.setdefault("settings_file", str(tmp_path / "settings.ini"))
        window = MainWindow(services, GuiConfig(**config), initial=settings)
        qtbot.addWidget(window)  # closed (engine stopped, settings saved) at teardown
        if size is not None:
            window.resize(*size)
        window.show()
        window.activateWindow()
        return window

    return make


def demo(**kw) -> PanelSettings:
    return PanelSettings(source="demo", record_dir="", **kw)


def no_problem_shown(window: MainWindow) -> bool:
    """No banner, or only the one saying the 3D view is off (offscreen platform)."""
    return not window.banner.isVisible() or window.banner.text().startswith("3D view off")


def wait_frames(qtbot, window: MainWindow, n: int) -> None:
    start = window.frames_drawn
    qtbot.waitUntil(lambda: window.frames_drawn >= start + n, timeout=WAIT_MS)


# --------------------------------------------------------------------------- tests
def test_frames_and_skeletons_arrive(qtbot, make_window):
    services = FakeServices()
    window = make_window(services, demo(max_hands=2))
    wait_frames(qtbot, window, 5)
    assert window.video.frames_shown >= 5 and window.scene.frames_drawn >= 5
    qtbot.waitUntil(lambda: window.video.paints >= 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.scene.visible_hands() == 2, timeout=WAIT_MS)
    assert window.video._result is not None and len(window.video._result.hands) == 2
    # The status bar reports the rates of what arrived.
    qtbot.waitUntil(lambda: "fps" in window.status_labels["processing"].text(), timeout=WAIT_MS)
    fps = float(window.status_labels["camera"].text().split()[1])
    assert 5.0 < fps < 60.0, window.status_labels["camera"].text()  # the fake runs at 30 fps
    assert window.status_labels["hands"].text() == "hands 2"
    assert "fake torch" in window.status_labels["backend"].text()
    assert no_problem_shown(window)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained small network: the real pipeline runs, its poses are not meaningful."""
    pytest.importorskip("torch", reason="torch is not installed")
    from model.checkpoint import save_inference_checkpoint
    from model.inference import build_hand_pose_net
    from model.net_config import NetConfig

    net = build_hand_pose_net(NetConfig(crop_size=64, cloud_points=64), with_cloud=True)
    return save_inference_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", net)


def test_real_engine_on_demo(qtbot, make_window, tiny_checkpoint):
    """The real engine (app.engine) on the demo source: frames and hands reach both views and
    each panel control changes the running engine (no reopen)."""
    from app.engine import BackendConfig, DetectorConfig, EngineConfig, SourceConfig
    from app.gui.wiring import EngineServices

    class Services(EngineServices):
        def __init__(self, base):
            super().__init__(base)
            self.engines = []

        def open_engine(self, settings, on_message):
            self.engines.append(super().open_engine(settings, on_message))
            return self.engines[-1]

    base = EngineConfig(source=SourceConfig(kind="demo", width=320, height=240, demo_hands=2),
                        backend=BackendConfig(kind="torch", checkpoint=str(tiny_checkpoint),
                                              threads=1),
                        detector=DetectorConfig(model_complexity=0))
    services = Services(base)
    window = make_window(services, demo(max_hands=2, smoothing=0.5, mirror=False))
    qtbot.waitUntil(lambda: window.scene.visible_hands() >= 1, timeout=90000)
    assert window.video._image.width() == 320 and window.video._result.hands
    assert "torch" in window.status_labels["backend"].text()
    assert no_problem_shown(window)
    engine, panel = services.engines[-1], window.panel
    assert engine.filters.config.enabled and not engine.source.mirrored

    panel.smoothing_slider.setValue(0)
    qtbot.waitUntil(lambda: not engine.filters.config.enabled, timeout=WAIT_MS)
    panel.smoothing_slider.setValue(100)
    qtbot.waitUntil(lambda: engine.filters.config.enabled and
                    engine.filters.config.min_cutoff_hz < 0.5, timeout=WAIT_MS)
    panel.hands_spin.setValue(1)
    qtbot.waitUntil(lambda: engine.tracker.config.max_hands == 1, timeout=WAIT_MS)
    panel.mirror_check.setChecked(True)
    qtbot.waitUntil(lambda: engine.source.mirrored, timeout=WAIT_MS)
    panel.cloud_check.setChecked(True)
    qtbot.waitUntil(lambda: engine.config.backend.with_cloud, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.video._result is not None and any(
        h.cloud_m is not None for h in window.video._result.hands), timeout=WAIT_MS)
    assert len(services.engines) == 1
    assert window.scene.frames_drawn >= 3 and no_problem_shown(window)


def test_panel_changes_engine_settings(qtbot, make_window):
    services = FakeServices()
    window = make_window(services, demo(max_hands=1, smoothing=0.5))
    wait_frames(qtbot, window, 2)
    engine = services.engines[-1]
    panel = window.panel
    panel.hands_spin.setValue(2)
    panel.smoothing_slider.setValue(0)
    panel.mirror_check.setChecked(False)
    panel.cloud_check.setChecked(True)
    panel.anatomy_check.setChecked(False)
    panel.backend_combo.setCurrentIndex(1)
    panel.backend_combo.activated.emit(1)
    panel.fuse_combo.setCurrentIndex(panel.fuse_combo.findText("2d"))
    panel.fuse_combo.activated.emit(panel.fuse_combo.currentIndex())
    want = {("num_hands", 2), ("smoothing", False), ("mirror", False), ("cloud", True),
            ("backend", "onnxruntime"), ("fuse", "2d"), ("anatomy", False)}
    qtbot.waitUntil(lambda: want <= set(engine.calls), timeout=WAIT_MS)
    assert len(services.engines) == 1, "live settings must not reopen the engine"
    qtbot.waitUntil(lambda: window.scene.visible_hands() == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "onnxruntime" in window.status_labels["backend"].text(),
                    timeout=WAIT_MS)
    # A source setting reopens the engine.
    panel.source_radio["video"].click()
    qtbot.waitUntil(lambda: len(services.engines) == 2, timeout=WAIT_MS)
    assert services.engines[-1].settings.source == "video"
    assert engine._stop.is_set()


def test_lost_source_shows_banner_and_app_keeps_running(qtbot, make_window):
    services = FakeServices(lose_after=5)
    window = make_window(services, demo())
    qtbot.waitUntil(lambda: "camera 0 lost" in window.banner.text(), timeout=WAIT_MS)
    assert window.banner.level == "error"
    assert "lost" in window.statusBar().currentMessage()
    assert window.frames_drawn >= 1 and window.isVisible()
    # Still usable: another source works.
    services.engine_kwargs = {}
    window.panel.source_radio["video"].click()
    wait_frames(qtbot, window, 3)


def test_stalled_source_warns(qtbot, make_window):
    services = FakeServices(fps=0.2)  # one frame, then nothing for 5 s
    window = make_window(services, demo(), stall_s=0.5)
    qtbot.waitUntil(lambda: "no frames" in window.banner.text(), timeout=WAIT_MS)
    assert window.banner.level == "warning"


def test_no_camera_shows_message(qtbot, make_window):
    services = FakeServices(cameras=[])
    window = make_window(services, PanelSettings(source="camera", camera=0))
    qtbot.waitUntil(lambda: "stopped" in window.banner.text(), timeout=WAIT_MS)
    assert "camera 0 could not be opened" in window.banner.text()
    assert window.panel.camera_combo.currentText() == "no camera found"
    assert not window.panel.camera_combo.isEnabled()
    window.panel.source_radio["demo"].click()  # the app keeps running
    wait_frames(qtbot, window, 3)


def test_recording_folder_that_cannot_be_written(qtbot, make_window, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    services = FakeServices()
    window = make_window(services, demo())
    wait_frames(qtbot, window, 2)
    window.panel.record_dir_edit.setText(str(blocker / "sessions"))
    window.panel.record_dir_edit.editingFinished.emit()
    window.panel.record_button.click()
    assert "Cannot record" in window.banner.text() and "cannot be written" in window.banner.text()
    assert not window.panel.record_button.isChecked() and window.recording_dir is None
    wait_frames(qtbot, window, 2)  # tracking goes on


def test_record_button_writes_a_session(qtbot, make_window, tmp_path):
    from app.sinks import read_session

    services = FakeServices()
    window = make_window(services, PanelSettings(source="demo", record_dir=str(tmp_path / "rec")))
    wait_frames(qtbot, window, 2)
    window.panel.record_button.click()
    assert window.recording_dir is not None and window.status_labels["state"].text() == "● REC"
    session_dir = window.recording_dir
    wait_frames(qtbot, window, 10)
    window.panel.record_button.click()
    qtbot.waitUntil(lambda: not services.sinks or services.sinks[0]._closed, timeout=WAIT_MS)
    session = read_session(session_dir, check_video=False)
    assert len(session.frames) >= 5
    ids = [f.frame_id for f in session.frames]
    assert ids == sorted(ids) and all(len(f.hands) >= 1 for f in session.frames)


def test_sigterm_closes_the_window_and_its_recording(qtbot, make_window, tmp_path):
    """timeout / systemd / docker send SIGTERM: the window closes as by its close button, the
    recording reads back complete."""
    import signal

    from app.gui.main_window import close_on_sigterm
    from app.sinks import read_session

    services = FakeServices()
    window = make_window(services, PanelSettings(source="demo", record_dir=str(tmp_path / "rec")))
    wait_frames(qtbot, window, 2)
    window.panel.record_button.click()
    session_dir = window.recording_dir
    wait_frames(qtbot, window, 5)
    with close_on_sigterm(window) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert stopped.is_set()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    session = read_session(session_dir, check_video=False)
    assert session.meta["complete"] and len(session.frames) >= 3


def test_keyboard_shortcuts(qtbot, make_window):
    services = FakeServices()
    window = make_window(services, demo(mirror=True))
    qtbot.waitExposed(window)
    wait_frames(qtbot, window, 2)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.paused and "paused" in window.status_labels["state"].text()
    time.sleep(0.2)
    qtbot.wait(100)
    before = services.engines[-1].produced
    qtbot.wait(400)
    assert services.engines[-1].produced <= before + 1, "pause must stop the engine's loop"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.paused
    wait_frames(qtbot, window, 2)

    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.settings.mirror is False and not window.panel.mirror_check.isChecked()
    qtbot.waitUntil(lambda: ("mirror", False) in services.engines[-1].calls, timeout=WAIT_MS)

    qtbot.keyClick(window, Qt.Key.Key_F)
    assert window.video.isHidden() and window.dock.isHidden() and window.scene.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert window.video.isVisible() and window.dock.isVisible()

    qtbot.keyClick(window, Qt.Key.Key_R)  # no folder set: refused with a message
    assert not window.panel.record_button.isChecked()
    assert "no recording folder" in window.banner.text()

    # Letters typed into a text field are text, not shortcuts.
    window.panel.osc_host_edit.setEnabled(True)
    window.panel.osc_host_edit.setFocus()
    qtbot.keyClicks(window.panel.osc_host_edit, "qm")
    assert window.isVisible() and window.settings.mirror is False

    qtbot.keyClick(window, Qt.Key.Key_Q)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert window.engine is None


def test_backend_defaults_to_auto_and_old_torch_settings_migrate(tmp_path):
    """The window's backend is the command line's default, auto; settings saved before the panel
    offered auto (no version, backend "torch", the old default) migrate to it; a torch chosen
    since is kept."""
    from PyQt6.QtCore import QSettings

    from app.gui.settings import save_panel_settings

    assert PanelSettings().backend == "auto"
    old = QSettings(str(tmp_path / "old.ini"), QSettings.Format.IniFormat)
    old.setValue("panel/backend", "torch")  # what an older version wrote, with no version key
    old.setValue("panel/max_hands", 1)
    assert load_panel_settings(old).backend == "auto" and load_panel_settings(old).max_hands == 1
    new = QSettings(str(tmp_path / "new.ini"), QSettings.Format.IniFormat)
    save_panel_settings(new, PanelSettings(backend="torch"))
    assert load_panel_settings(new).backend == "torch"
    save_panel_settings(new, PanelSettings(backend="onnxruntime"))
    assert load_panel_settings(new).backend == "onnxruntime"


def test_settings_persist_between_runs(qtbot, make_window, tmp_path):
    services = FakeServices()
    window = make_window(services, demo(), size=(1150, 660))
    size = (window.width(), window.height())  # (1150, 660) unless the screen is smaller
    window.panel.hands_spin.setValue(1)
    window.panel.smoothing_slider.setValue(80)
    window.panel.osc_port_spin.setValue(9123)
    window.panel.osc_port_spin.editingFinished.emit()
    window.panel.cloud_check.setChecked(True)
    window.close()
    from app.gui.main_window import open_settings

    saved = load_panel_settings(open_settings(GuiConfig(settings_file=str(tmp_path /
                                                                          "settings.ini"))))
    assert (saved.max_hands, saved.smoothing, saved.osc_port, saved.show_cloud) == \
        (1, 0.8, 9123, True)
    again = make_window(FakeServices(), None, size=None)  # restores settings and size
    assert again.settings == saved
    assert again.panel.smoothing_slider.value() == 80 and again.panel.cloud_check.isChecked()
    screen = again.screen().availableGeometry()
    if size[0] <= screen.width() and size[1] <= screen.height():
        assert (again.width(), again.height()) == size
    else:  # Qt fits restored geometry into a smaller screen (offscreen's is 800 px wide)
        assert again.width() < size[0]


def test_stale_frames_are_dropped_not_queued(qtbot, make_window):
    """The engine runs far faster than the window draws (each draw is slowed to 40 ms): the
    window draws only the newest result, the engine is never held up, latency stays low."""
    services = FakeServices(fps=300)
    window = make_window(services, demo())
    slow_show = window.video.show_frame

    def show_slowly(result, frame):
        time.sleep(0.04)
        slow_show(result, frame)

    window.video.show_frame = show_slowly
    wait_frames(qtbot, window, 10)
    produced, drawn = services.engines[-1].produced, window.frames_drawn
    assert produced > 3 * drawn, (produced, drawn)
    assert window.frames_skipped > produced // 2
    latest = window.video._result
    # the newest, not a backlog: a queue would still be drawing frames near the start (a draw
    # takes 40 ms, the engine makes a frame every 3 ms); bounds leave room for a loaded machine
    assert latest.frame_id >= produced // 2, (latest.frame_id, produced)
    assert time.time() - latest.capture_time < 1.5


OFFSCREEN_SCRIPT = """
import json, sys, time
from PyQt6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from app.gui.config import GuiConfig
from app.gui.main_window import MainWindow
from app.gui.settings import PanelSettings
from tests.app.test_gui_fakes import FakeServices
window = MainWindow(FakeServices(), GuiConfig(settings_file=sys.argv[1]),
                    initial=PanelSettings(source="demo"))
window.resize(900, 560)
window.show()
deadline = time.monotonic() + 20
while window.frames_drawn < 5 and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.01)
print(json.dumps({"platform": app.platformName(), "scene": type(window.scene).__name__,
                  "banner": window.banner.text(), "gl_problem": window.gl_problem,
                  "frames": window.frames_drawn, "scene_frames": window.scene.frames_drawn,
                  "hands": window.scene.visible_hands()}))
window.close()
"""


def test_no_opengl_falls_back_to_2d_view(tmp_path):
    """Qt's offscreen platform has no OpenGL: the window says so and shows the 2D-only view."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-c", OFFSCREEN_SCRIPT, str(tmp_path / "s.ini")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["platform"] == "offscreen"
    assert out["scene"] == "TopView" and out["gl_problem"]
    assert "3D view off" in out["banner"] and "2D-only" in out["banner"]
    assert out["frames"] >= 5 and out["scene_frames"] >= 5 and out["hands"] == 2


def test_force_2d_view(qtbot, make_window):
    window = make_window(FakeServices(), demo(), force_2d=True)
    assert isinstance(window.scene, TopView)
    assert "3D view off" in window.banner.text()
    wait_frames(qtbot, window, 3)
    assert window.scene.frames_drawn >= 3


def colour_share(image, rgb: tuple[int, int, int], tol: int = 40) -> float:
    """Fraction of the pixels of a QImage within tol of rgb (per channel)."""
    from PyQt6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits().asstring(h * image.bytesPerLine()), np.uint8)
    pixels = data.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).astype(int)
    return float((np.abs(pixels - np.array(rgb)).max(axis=2) <= tol).mean())


def test_3d_view_draws_skeletons_and_cloud(qtbot, make_window, needs_gl):
    from app.gui.gl_check import opengl_problem
    from app.gui.scene3d import Scene3D

    assert opengl_problem() is None
    window = make_window(FakeServices(), demo(max_hands=2, show_cloud=True))
    assert isinstance(window.scene, Scene3D) and not window.banner.isVisible()
    qtbot.waitUntil(lambda: window.scene.visible_hands() == 2, timeout=WAIT_MS)
    wait_frames(qtbot, window, 5)
    assert all(slot.cloud.visible() for slot in window.scene._slots[:2])
    image = window.scene.grabFramebuffer()
    for finger, rgb in enumerate(FINGER_COLORS):  # every finger's colour is on screen
        assert colour_share(image, rgb) > 1e-5, f"finger {finger} not drawn in 3D"
    assert colour_share(image, (22, 24, 30), tol=4) > 0.5  # the background, not a blank frame
    window.panel.cloud_check.setChecked(False)
    wait_frames(qtbot, window, 2)
    assert not any(slot.cloud.visible() for slot in window.scene._slots)


def test_screenshot(qtbot, make_window, needs_gl, tmp_path):
    """The window on the demo source, as a PNG (docs/screenshot.png with
    HANDTRACK_WRITE_SCREENSHOT=1). With a trained model (bundled or $HANDTRACK_CHECKPOINT) the
    hands are the engine's; without one they are the demo's ground truth (said in the print)."""
    from app.engine import EngineError, resolve_checkpoint

    try:
        resolve_checkpoint(None)
        from app.gui.wiring import EngineServices

        services, origin = EngineServices(), "the engine with the bundled model"
    except EngineError as e:
        services = FakeServices(engine_cls=DemoTruthEngine)
        origin = f"the demo's ground truth, not a network ({e})"
    window = make_window(services, demo(max_hands=2, mirror=False), size=(1400, 820))
    qtbot.waitUntil(lambda: window.scene.visible_hands() == 2, timeout=60000)
    wait_frames(qtbot, window, 10)
    out = ROOT / "docs" / "screenshot.png" if os.environ.get("HANDTRACK_WRITE_SCREENSHOT") \
        else tmp_path / "screenshot.png"
    shot = window.snapshot()
    assert shot.save(str(out))
    print(f"\nscreenshot of {origin} written to {out}")
    image = shot.toImage()
    assert (image.width(), image.height()) == (window.width(), window.height())
    for rgb in FINGER_COLORS:  # the overlay and the 3D skeleton are in the picture
        assert colour_share(image, rgb) > 1e-4


def test_command_line_maps_onto_panel_and_engine(tmp_path):
    """app.cli's arguments -> EngineConfig (+ --osc / --record) -> panel settings -> the
    EngineConfig the window opens."""
    from app.cli import build_parser, config_from_args, window_choices
    from app.gui.wiring import engine_config_for, panel_from_cli, smoothing_cutoff_hz

    args = build_parser().parse_args(["--demo", "--cloud", "--no-smoothing", "--osc",
                                      "127.0.0.1:9011", "--record", str(tmp_path)])
    panel = panel_from_cli(PanelSettings(source="camera", backend="torch"),
                           config_from_args(args), **window_choices(args))
    assert (panel.source, panel.show_cloud, panel.smoothing, panel.backend) == \
        ("demo", True, 0.0, "torch")  # --backend left at auto keeps the saved backend
    assert (panel.osc_enabled, panel.osc_host, panel.osc_port) == (True, "127.0.0.1", 9011)
    assert panel.record_dir == str(tmp_path) and panel.mirror is False
    config = engine_config_for(config_from_args(args), panel)
    assert config.source.kind == "demo" and config.source.loop and config.backend.with_cloud
    assert not config.filter.enabled and config.backend.kind == "torch"

    args = build_parser().parse_args(["--replay", str(tmp_path), "--backend", "onnxruntime"])
    panel = panel_from_cli(PanelSettings(), config_from_args(args), **window_choices(args))
    config = engine_config_for(config_from_args(args), panel)
    assert config.source.kind == "replay" and config.source.path == str(tmp_path)
    assert config.backend.kind == "onnxruntime" and config.fuse is None  # panel "auto"

    args = build_parser().parse_args(["--demo", "--fuse", "rgb"])
    panel = panel_from_cli(PanelSettings(fuse="rgb+2d"), config_from_args(args),
                           **window_choices(args))
    assert panel.fuse == "rgb" and engine_config_for(config_from_args(args), panel).fuse == "rgb"
    assert panel.anatomy and engine_config_for(config_from_args(args), panel).anatomy is not None

    args = build_parser().parse_args(["--demo", "--no-anatomy"])
    panel = panel_from_cli(PanelSettings(), config_from_args(args), **window_choices(args))
    assert not panel.anatomy and engine_config_for(config_from_args(args), panel).anatomy is None

    saved = PanelSettings(source="video", video_path="/x.mp4")  # nothing named: saved wins
    args = build_parser().parse_args([])
    assert panel_from_cli(saved, config_from_args(args), **window_choices(args)).source == "video"
    args = build_parser().parse_args(["--camera", "0"])  # camera 0 named: it wins over the saved
    panel = panel_from_cli(saved, config_from_args(args), **window_choices(args))
    assert panel.source == "camera" and panel.camera == 0

    cutoffs = [smoothing_cutoff_hz(s) for s in (0.01, 0.75, 1.0)]
    assert cutoffs == sorted(cutoffs, reverse=True)  # stronger smoothing, lower cutoff
    assert 0.5 < cutoffs[1] < 1.0  # about the engine's default (0.7 Hz) at the default 0.75


def test_overlay_reads_out_the_gesture(qapp):
    """A hand with an interaction gets a readout under its box with the gesture name, the pinch
    strengths and the grab; a hand without one gets only its label."""
    from PyQt6.QtGui import QImage, QPainter

    from app.gui.overlay import OverlayConfig, draw_overlay, interaction_label
    from app.results import FrameResult
    from tests.app.test_gui_fakes import synthetic_hand
    from tests.app.test_session_data import make_interaction

    class Recording(QPainter):
        def __init__(self, device):
            super().__init__(device)
            self.texts: list[str] = []

        def drawText(self, *args):  # noqa: N802 (Qt's name)
            self.texts.append(args[-1])
            super().drawText(*args)

    with_gesture, plain = synthetic_hand(0.0, 1, 0, False), synthetic_hand(0.0, 0, 1, False)
    with_gesture.interaction = make_interaction(0, gesture="thumbs_up")
    m = with_gesture.interaction.measures
    text = interaction_label(with_gesture)
    assert text.startswith("thumbs_up") and f"grab {m.grab:.2f}".replace("0.", ".") in text
    assert interaction_label(plain) == ""
    image = QImage(640, 480, QImage.Format.Format_RGB32)
    image.fill(0)
    painter = Recording(image)
    draw_overlay(painter, FrameResult(0, 0.0, 640, 480, [with_gesture, plain]), OverlayConfig(),
                 1.0)
    painter.end()
    assert painter.texts.count(text) == 1
    assert sum("pinch" in t for t in painter.texts) == 1
    assert len(painter.texts) == 3  # two labels, one readout
