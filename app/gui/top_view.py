"""The 2D-only stand-in for the 3D view when there is no OpenGL: the skeletons seen from above
(x right, depth z up the widget) over a 10 cm grid, with the reason the 3D view is off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QPainter, QPen
from PyQt6.QtWidgets import QWidget

from app.gui.overlay import qcolor
from app.results import FrameResult
from model.hand import BONE_FINGER, BONES, FINGER_COLORS, SIDE_NAMES


@dataclass
class TopViewConfig:
    """x_range_m: half-width shown left/right of the camera; depth_range_m: (near, far) depths."""

    x_range_m: float = 0.4
    depth_range_m: tuple[float, float] = (0.1, 0.9)
    grid_step_m: float = 0.1


class TopView(QWidget):
    def __init__(self, reason: str, config: TopViewConfig | None = None, parent=None):
        super().__init__(parent)
        self.config = config or TopViewConfig()
        self.setObjectName("topView")
        self.setMinimumSize(320, 240)
        self.reason = reason
        self.show_cloud = False
        self.frames_drawn = 0
        self._result: FrameResult | None = None

    def show_result(self, result: FrameResult) -> None:
        self._result = result
        self.frames_drawn += 1
        self.update()

    def visible_hands(self) -> int:
        return 0 if self._result is None else len(self._result.hands)

    def _mapper(self, area: QRectF):
        c = self.config
        near, far = c.depth_range_m
        scale = min(area.width() / (2 * c.x_range_m), area.height() / (far - near))
        cx, bottom = area.center().x(), area.bottom()

        def to_px(x_m: float, z_m: float) -> QPointF:
            return QPointF(cx + x_m * scale, bottom - (z_m - near) * scale)

        return to_px

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        c = self.config
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(self.rect(), QColor(22, 24, 30))
        header = QRectF(8, 6, self.width() - 16, 40)
        painter.setPen(QColor(235, 190, 90))
        painter.drawText(header, Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
                         f"2D-only view (seen from above): {self.reason}")
        area = QRectF(16, 52, self.width() - 32, self.height() - 68)
        to_px = self._mapper(area)
        near, far = c.depth_range_m
        painter.setPen(QPen(QColor(255, 255, 255, 35), 1))
        steps_x = int(round(c.x_range_m / c.grid_step_m))
        for k in range(-steps_x, steps_x + 1):
            x = k * c.grid_step_m
            painter.drawLine(to_px(x, near), to_px(x, far))
        for k in range(int(round((far - near) / c.grid_step_m)) + 1):
            z = near + k * c.grid_step_m
            painter.drawLine(to_px(-c.x_range_m, z), to_px(c.x_range_m, z))
            painter.drawText(to_px(c.x_range_m, z) + QPointF(-40, -3), f"{z:.1f} m")
        if self._result is not None:
            for hand in self._result.hands:
                joints = hand.joints_m
                if not np.isfinite(joints).all():
                    continue
                if self.show_cloud and hand.cloud_m is not None:
                    painter.setPen(QPen(QColor(140, 210, 255, 90), 2))
                    for x, _, z in hand.cloud_m[::2]:
                        painter.drawPoint(to_px(float(x), float(z)))
                for (parent, child), finger in zip(BONES, BONE_FINGER):
                    painter.setPen(QPen(qcolor(FINGER_COLORS[finger]), 3))
                    painter.drawLine(to_px(joints[parent, 0], joints[parent, 2]),
                                     to_px(joints[child, 0], joints[child, 2]))
                wrist = to_px(joints[0, 0], joints[0, 2])
                painter.setPen(QColor(230, 230, 230))
                painter.drawText(wrist + QPointF(6, 14), f"#{hand.hand_id} {SIDE_NAMES[hand.side]}")
        painter.end()
