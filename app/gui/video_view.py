"""The live video with the 2D overlay. It keeps only the latest frame and repaints on demand."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QPainter
from PyQt6.QtWidgets import QSizePolicy, QWidget

from app.gui.overlay import OverlayConfig, draw_overlay
from app.results import FrameResult


def rgb_to_qimage(frame_rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> QImage that owns a copy of the pixels."""
    frame_rgb = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
    h, w, _ = frame_rgb.shape
    return QImage(frame_rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class VideoView(QWidget):
    """Draws the latest frame scaled to fit (aspect kept, centred) and the hands on top."""

    def __init__(self, config: OverlayConfig | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config or OverlayConfig()
        self.setObjectName("videoView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self._image: QImage | None = None
        self._result: FrameResult | None = None
        self.placeholder = "Waiting for frames…"
        self.frames_shown = 0  # frames handed to show_frame
        self.paints = 0  # repaints that drew a frame (Qt merges repaints)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    def show_frame(self, result: FrameResult, frame_rgb: np.ndarray) -> None:
        self._image = rgb_to_qimage(frame_rgb)
        self._result = result
        self.frames_shown += 1
        self.update()

    def clear(self, placeholder: str) -> None:
        self._image, self._result = None, None
        self.placeholder = placeholder
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame lands in the widget (aspect kept, centred)."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 20, 24))
        if self._image is None:
            painter.setPen(QColor(150, 155, 165))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            painter.end()
            return
        target = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, self._image)
        if self._result is not None:
            scale = target.width() / self._image.width()
            painter.save()
            painter.translate(target.left(), target.top())
            painter.scale(scale, scale)
            draw_overlay(painter, self._result, self.config, 1.0 / scale)
            painter.restore()
        painter.end()
        self.paints += 1
