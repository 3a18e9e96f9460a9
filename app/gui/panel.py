"""The side panel: source, tracking, 3D view, recording and OSC settings.

It only edits a PanelSettings and says what changed (`changed(field_name)`); the window decides
what each change does to the engine."""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.settings import FUSE_CHOICES, RESOLUTIONS, SOURCE_KINDS, PanelSettings

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm);;All files (*)"


class ControlPanel(QScrollArea):
    """Emits changed(name) with the PanelSettings field the user edited, record_toggled(on) for
    the record button and reset_view() for the 3D view's reset button."""

    changed = pyqtSignal(str)
    record_toggled = pyqtSignal(bool)
    reset_view = pyqtSignal()
    refresh_cameras = pyqtSignal()

    def __init__(self, settings: PanelSettings, backends: tuple[str, ...], max_hands: int = 2,
                 parent=None):
        super().__init__(parent)
        self.setObjectName("controlPanel")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._settings = replace(settings)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self._source_group())
        layout.addWidget(self._tracking_group(backends, max_hands))
        layout.addWidget(self._view_group())
        layout.addWidget(self._record_group())
        layout.addWidget(self._osc_group())
        keys = QLabel("Keys: Space pause · R record · M mirror · F 3D full screen · Q quit")
        keys.setWordWrap(True)
        keys.setObjectName("hint")
        layout.addWidget(keys)
        layout.addStretch(1)
        self.setWidget(body)
        self.setMinimumWidth(270)
        self.set_settings(settings)

    # --- building -------------------------------------------------------------------------
    def _source_group(self) -> QGroupBox:
        box = QGroupBox("Source")
        form = QFormLayout(box)
        kinds = QHBoxLayout()
        self.source_buttons = QButtonGroup(self)
        self.source_radio: dict[str, QRadioButton] = {}
        for i, kind in enumerate(SOURCE_KINDS):
            radio = QRadioButton({"camera": "Camera", "video": "Video", "demo": "Demo"}[kind])
            radio.setObjectName(f"source_{kind}")
            self.source_buttons.addButton(radio, i)
            self.source_radio[kind] = radio
            kinds.addWidget(radio)
        self.source_buttons.idClicked.connect(self._on_source_clicked)
        form.addRow(kinds)

        self.camera_combo = QComboBox()
        self.camera_combo.setObjectName("camera")
        self.camera_combo.activated.connect(self._on_camera)
        refresh = QToolButton()
        refresh.setText("↻")
        refresh.setToolTip("Look for cameras again")
        refresh.clicked.connect(self.refresh_cameras)
        row = QHBoxLayout()
        row.addWidget(self.camera_combo, 1)
        row.addWidget(refresh)
        form.addRow("Camera", row)

        self.resolution_combo = QComboBox()
        self.resolution_combo.setObjectName("resolution")
        for w, h in RESOLUTIONS:
            self.resolution_combo.addItem(f"{w} × {h}", (w, h))
        self.resolution_combo.activated.connect(self._on_resolution)
        form.addRow("Resolution", self.resolution_combo)

        self.mirror_check = QCheckBox("Mirror (selfie view)")
        self.mirror_check.setObjectName("mirror")
        self.mirror_check.toggled.connect(lambda on: self._set("mirror", on))
        form.addRow(self.mirror_check)

        self.video_edit, row = self._path_row("video_path", "Choose a video file",
                                              self._browse_video, placeholder="video file…")
        form.addRow("Video", row)
        return box

    def _tracking_group(self, backends: tuple[str, ...], max_hands: int) -> QGroupBox:
        box = QGroupBox("Tracking")
        form = QFormLayout(box)
        self.backend_combo = QComboBox()
        self.backend_combo.setObjectName("backend")
        self.backend_combo.addItems(backends)
        self.backend_combo.activated.connect(
            lambda _: self._set("backend", self.backend_combo.currentText()))
        form.addRow("Backend", self.backend_combo)

        self.fuse_combo = QComboBox()
        self.fuse_combo.setObjectName("fuse")
        self.fuse_combo.addItems(FUSE_CHOICES)
        self.fuse_combo.setToolTip(
            "Experts that form the latent: the RGB crop, MediaPipe's 2D keypoints, or both "
            "(auto: both when the model has the 2D expert). The 2D expert joins on every frame "
            "with MediaPipe's landmarks (with flow tracking: the frames the detector ran on).")
        self.fuse_combo.activated.connect(
            lambda _: self._set("fuse", self.fuse_combo.currentText()))
        form.addRow("Experts", self.fuse_combo)

        self.hands_spin = QSpinBox()
        self.hands_spin.setObjectName("max_hands")
        self.hands_spin.setRange(1, max_hands)
        self.hands_spin.valueChanged.connect(lambda n: self._set("max_hands", int(n)))
        form.addRow("Hands", self.hands_spin)

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setObjectName("smoothing")
        self.smoothing_slider.setRange(0, 100)
        self.smoothing_label = QLabel()
        self.smoothing_label.setMinimumWidth(32)
        self.smoothing_slider.valueChanged.connect(self._on_smoothing)
        row = QHBoxLayout()
        row.addWidget(self.smoothing_slider, 1)
        row.addWidget(self.smoothing_label)
        form.addRow("Smoothing", row)
        return box

    def _view_group(self) -> QGroupBox:
        box = QGroupBox("3D view")
        row = QHBoxLayout(box)
        self.cloud_check = QCheckBox("Point cloud")
        self.cloud_check.setObjectName("show_cloud")
        self.cloud_check.setToolTip("Show the hand surface the network decodes from RGB")
        self.cloud_check.toggled.connect(lambda on: self._set("show_cloud", on))
        self.anatomy_check = QCheckBox("Anatomical fit")
        self.anatomy_check.setObjectName("anatomy")
        self.anatomy_check.setToolTip(
            "Fit a kinematic hand (joint limits, bone proportions) to the network's 3D pose; "
            "off shows the pose as decoded")
        self.anatomy_check.toggled.connect(lambda on: self._set("anatomy", on))
        reset = QPushButton("Reset view")
        reset.clicked.connect(self.reset_view)
        row.addWidget(self.cloud_check)
        row.addWidget(self.anatomy_check, 1)
        row.addWidget(reset)
        return box

    def _path_row(self, key: str, tooltip: str, on_browse, placeholder: str = ""
                  ) -> tuple[QLineEdit, QHBoxLayout]:
        """A path field bound to setting `key` with a "…" browse button beside it."""
        edit = QLineEdit()
        edit.setObjectName(key)
        if placeholder:
            edit.setPlaceholderText(placeholder)
        edit.editingFinished.connect(lambda: self._set(key, edit.text().strip()))
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip(tooltip)
        browse.clicked.connect(on_browse)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return edit, row

    def _record_group(self) -> QGroupBox:
        box = QGroupBox("Recording")
        form = QFormLayout(box)
        self.record_dir_edit, row = self._path_row(
            "record_dir", "Choose the folder sessions are written to", self._browse_record_dir)
        form.addRow("Folder", row)
        self.record_button = QPushButton("● Record")
        self.record_button.setObjectName("record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._on_record)
        form.addRow(self.record_button)
        return box

    def _osc_group(self) -> QGroupBox:
        box = QGroupBox("OSC output")
        form = QFormLayout(box)
        self.osc_check = QCheckBox("Send joints over OSC/UDP")
        self.osc_check.setObjectName("osc_enabled")
        self.osc_check.toggled.connect(lambda on: self._set("osc_enabled", on))
        form.addRow(self.osc_check)
        self.osc_host_edit = QLineEdit()
        self.osc_host_edit.setObjectName("osc_host")
        self.osc_host_edit.editingFinished.connect(
            lambda: self._set("osc_host", self.osc_host_edit.text().strip()))
        form.addRow("Host", self.osc_host_edit)
        self.osc_port_spin = QSpinBox()
        self.osc_port_spin.setObjectName("osc_port")
        self.osc_port_spin.setRange(1, 65535)
        self.osc_port_spin.editingFinished.connect(
            lambda: self._set("osc_port", int(self.osc_port_spin.value())))
        form.addRow("Port", self.osc_port_spin)
        return box

    # --- state ----------------------------------------------------------------------------
    def settings(self) -> PanelSettings:
        return replace(self._settings)

    def set_settings(self, settings: PanelSettings) -> None:
        """Show settings without emitting changed()."""
        self._settings = replace(settings)
        s = self._settings
        widgets = (self.source_buttons, self.camera_combo, self.resolution_combo,
                   self.mirror_check, self.video_edit, self.backend_combo, self.fuse_combo,
                   self.hands_spin, self.smoothing_slider, self.cloud_check,
                   self.anatomy_check, self.record_dir_edit, self.osc_check,
                   self.osc_host_edit, self.osc_port_spin)
        for w in widgets:
            w.blockSignals(True)
        try:
            if s.source in self.source_radio:  # else a command-line source (--replay...)
                self.source_radio[s.source].setChecked(True)
            self._select_camera(s.camera)
            index = self.resolution_combo.findData((s.width, s.height))
            if index < 0:
                self.resolution_combo.addItem(f"{s.width} × {s.height}", (s.width, s.height))
                index = self.resolution_combo.count() - 1
            self.resolution_combo.setCurrentIndex(index)
            self.mirror_check.setChecked(s.mirror)
            self.video_edit.setText(s.video_path)
            index = self.backend_combo.findText(s.backend)
            if index < 0:
                self.backend_combo.addItem(s.backend)
                index = self.backend_combo.count() - 1
            self.backend_combo.setCurrentIndex(index)
            self.fuse_combo.setCurrentIndex(max(0, self.fuse_combo.findText(s.fuse)))
            self.hands_spin.setValue(s.max_hands)
            self.smoothing_slider.setValue(round(100 * s.smoothing))
            self.smoothing_label.setText(f"{s.smoothing:.2f}")
            self.cloud_check.setChecked(s.show_cloud)
            self.anatomy_check.setChecked(s.anatomy)
            self.record_dir_edit.setText(s.record_dir)
            self.record_dir_edit.setCursorPosition(0)
            self.video_edit.setCursorPosition(0)
            self.osc_check.setChecked(s.osc_enabled)
            self.osc_host_edit.setText(s.osc_host)
            self.osc_port_spin.setValue(s.osc_port)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._update_enabled()

    def set_cameras(self, cameras: list[tuple[int, str]]) -> None:
        """cameras: (index, description) of the cameras that exist."""
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        for index, name in cameras:
            self.camera_combo.addItem(name, index)
        if not cameras:
            self.camera_combo.addItem("no camera found", -1)
        self.camera_combo.blockSignals(False)
        self._select_camera(self._settings.camera)
        self.source_radio["camera"].setEnabled(bool(cameras) or self._settings.source == "camera")
        self._update_enabled()

    def set_recording(self, on: bool) -> None:
        """Show the recording state without emitting record_toggled (e.g. after a failure)."""
        self.record_button.blockSignals(True)
        self.record_button.setChecked(on)
        self.record_button.blockSignals(False)
        self._style_record(on)

    def is_recording(self) -> bool:
        return self.record_button.isChecked()

    # --- reactions ------------------------------------------------------------------------
    def _select_camera(self, camera: int) -> None:
        index = self.camera_combo.findData(camera)
        if index >= 0:
            self.camera_combo.setCurrentIndex(index)

    def _set(self, name: str, value) -> None:
        if getattr(self._settings, name) == value:
            return
        setattr(self._settings, name, value)
        self._update_enabled()
        self.changed.emit(name)

    def _update_enabled(self) -> None:
        s = self._settings
        camera = s.source == "camera"
        self.camera_combo.setEnabled(camera and self.camera_combo.itemData(0) != -1)
        self.resolution_combo.setEnabled(camera)
        self.video_edit.setEnabled(s.source == "video")
        self.osc_host_edit.setEnabled(s.osc_enabled)
        self.osc_port_spin.setEnabled(s.osc_enabled)

    def _on_source_clicked(self, button_id: int) -> None:
        self._set("source", SOURCE_KINDS[button_id])

    def _on_camera(self, index: int) -> None:
        camera = self.camera_combo.itemData(index)
        if camera is not None and camera >= 0:
            self._set("camera", int(camera))

    def _on_resolution(self, index: int) -> None:
        w, h = self.resolution_combo.itemData(index)
        if (w, h) != (self._settings.width, self._settings.height):
            self._settings.width, self._settings.height = int(w), int(h)
            self.changed.emit("resolution")

    def _on_smoothing(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self._set("smoothing", value / 100.0)

    def _on_record(self, on: bool) -> None:
        self._style_record(on)
        self.record_toggled.emit(on)

    def _style_record(self, on: bool) -> None:
        self.record_button.setText("■ Stop recording" if on else "● Record")
        self.record_button.setProperty("recording", on)
        self.record_button.style().unpolish(self.record_button)
        self.record_button.style().polish(self.record_button)

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", self.video_edit.text(),
                                              VIDEO_FILTER)
        if path:
            self.video_edit.setText(path)
            self._set("video_path", path)

    def _browse_record_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Recording folder",
                                                self.record_dir_edit.text())
        if path:
            self.record_dir_edit.setText(path)
            self._set("record_dir", path)
