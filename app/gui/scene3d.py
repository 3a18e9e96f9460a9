"""The 3D view: each hand's skeleton (bones coloured per finger, as in the overlay), optionally
its point cloud and the demo's ground truth, over a metre grid with the camera's axes; the mouse
orbits (drag), pans (middle drag) and zooms (wheel). Needs OpenGL (see gl_check)."""

from __future__ import annotations

import numpy as np
import pyqtgraph.opengl as gl
from PyQt6.QtGui import QFont, QVector3D

from app.gui.config import Scene3DConfig
from app.results import FrameResult
from model.hand import BONE_FINGER, BONES, FINGER_COLORS, SIDE_NAMES

BONE_INDEX = np.array(BONES, dtype=np.int64).reshape(-1)  # (40,) parent, child, parent, ...
BONE_RGBA = np.repeat(np.array([FINGER_COLORS[f] for f in BONE_FINGER], np.float32) / 255.0, 2,
                      axis=0)  # (40, 3)
BONE_RGBA = np.concatenate([BONE_RGBA, np.ones((40, 1), np.float32)], axis=1)  # (40, 4)
CLOUD_RGBA = ((0.55, 0.85, 1.0, 0.45), (1.0, 0.7, 0.45, 0.45))  # per side (left, right)


def camera_to_view(points_m: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> view frame (X right, Y forward, Z up), so the
    grid is a floor and "up" is up. (..., 3) -> (..., 3) float32, metres."""
    p = np.asarray(points_m, dtype=np.float32)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


class _HandItems:
    """The GL items of one hand slot."""

    def __init__(self, view: gl.GLViewWidget, config: Scene3DConfig):
        self.bones = gl.GLLinePlotItem(mode="lines", width=config.bone_width_px, antialias=True,
                                       pos=np.zeros((40, 3), np.float32), color=BONE_RGBA)
        self.joints = gl.GLScatterPlotItem(pos=np.zeros((21, 3), np.float32),
                                           size=config.joint_size_px, color=(1, 1, 1, 1),
                                           pxMode=True)
        self.truth = gl.GLLinePlotItem(mode="lines", width=1.5, antialias=True,
                                       pos=np.zeros((40, 3), np.float32),
                                       color=(0.85, 0.85, 0.85, 0.45))
        self.cloud = gl.GLScatterPlotItem(pos=np.zeros((1, 3), np.float32),
                                          size=config.cloud_size_px, pxMode=True)
        self.label = gl.GLTextItem(text="", color=(235, 235, 235), font=QFont("DejaVu Sans", 9))
        self.joints.setGLOptions("translucent")
        self.cloud.setGLOptions("translucent")
        for item in (self.cloud, self.truth, self.bones, self.joints, self.label):
            item.setVisible(False)
            view.addItem(item)

    def hide(self) -> None:
        for item in (self.cloud, self.truth, self.bones, self.joints, self.label):
            item.setVisible(False)


class Scene3D(gl.GLViewWidget):
    """GLViewWidget with the static scene (grid, axes, camera) and a pool of hand slots."""

    def __init__(self, config: Scene3DConfig | None = None, parent=None):
        super().__init__(parent)
        self.config = config or Scene3DConfig()
        self.setObjectName("scene3d")
        self.setMinimumSize(320, 240)
        self.show_cloud = False
        self.frames_drawn = 0
        self.setBackgroundColor(self.config.background)
        self._build_static()
        self._slots = [_HandItems(self, self.config) for _ in range(self.config.max_hands)]
        self.reset_camera()

    def reset_camera(self) -> None:
        c = self.config
        self.setCameraPosition(pos=QVector3D(0.0, c.center_depth_m, -0.03), distance=c.distance_m,
                               elevation=c.elevation_deg, azimuth=c.azimuth_deg)

    def _build_static(self) -> None:
        c = self.config
        grid = gl.GLGridItem(color=(255, 255, 255, 40))
        grid.setSize(c.grid_m, c.grid_m)
        grid.setSpacing(c.grid_step_m, c.grid_step_m)
        grid.translate(0.0, c.grid_m / 2, -c.floor_m)
        self.addItem(grid)
        # The camera's axes at its centre, 6 cm long: x red, y green, z blue (x right, y down,
        # z forward, drawn in view coordinates).
        axis_len = 0.06
        ends = camera_to_view(np.eye(3) * axis_len)
        colors = ((0.95, 0.3, 0.3, 1.0), (0.3, 0.9, 0.4, 1.0), (0.35, 0.55, 1.0, 1.0))
        font = QFont("DejaVu Sans", 8)
        for end, color, name in zip(ends, colors, "xyz"):
            self.addItem(gl.GLLinePlotItem(pos=np.stack([np.zeros(3, np.float32), end]),
                                           color=color, width=2.5, antialias=True))
            self.addItem(gl.GLTextItem(pos=end * 1.15, text=name, font=font,
                                       color=tuple(int(255 * v) for v in color[:3])))
        # A small camera frustum (4:3, about 60 degrees wide) so the viewpoint reads at a glance.
        d, hw, hh = 0.06, 0.035, 0.026
        corners = camera_to_view(np.array([[-hw, -hh, d], [hw, -hh, d], [hw, hh, d],
                                           [-hw, hh, d]], np.float32))
        segments = []
        for i in range(4):
            segments += [np.zeros(3, np.float32), corners[i], corners[i], corners[(i + 1) % 4]]
        self.addItem(gl.GLLinePlotItem(pos=np.array(segments), mode="lines", antialias=True,
                                       color=(0.8, 0.8, 0.85, 0.7), width=1.5))
        self.addItem(gl.GLTextItem(pos=camera_to_view(np.array([0.0, 0.05, 0.0])),
                                   text="camera", font=font, color=(190, 190, 200)))
        # Depth ticks on the floor, left of the line of sight (where hands rarely are).
        step = 2 * c.grid_step_m
        for k in range(1, int(c.grid_m / step + 1e-6) + 1):
            depth = step * k
            self.addItem(gl.GLTextItem(pos=np.array([c.tick_x_m, depth, -c.floor_m]),
                                       text=f"{depth:.1f} m", font=font, color=(150, 155, 165)))

    def show_result(self, result: FrameResult) -> None:
        truth = result.ground_truth_m or {}
        for slot, hand in zip(self._slots, result.hands):
            if not np.isfinite(hand.joints_m).all():
                slot.hide()
                continue
            joints = camera_to_view(hand.joints_m)  # (21, 3)
            slot.bones.setData(pos=joints[BONE_INDEX])
            slot.bones.setVisible(True)
            slot.joints.setData(pos=joints)
            slot.joints.setVisible(True)
            top = joints[np.argmax(joints[:, 2])]
            slot.label.setData(pos=top + np.array([0.0, 0.0, 0.025], np.float32),
                               text=f"#{hand.hand_id} {SIDE_NAMES[hand.side]}")
            slot.label.setVisible(True)
            gt = truth.get(hand.hand_id)
            if gt is not None and np.shape(gt) == (21, 3):
                slot.truth.setData(pos=camera_to_view(gt)[BONE_INDEX])
                slot.truth.setVisible(True)
            else:
                slot.truth.setVisible(False)
            cloud = hand.cloud_m
            if self.show_cloud and cloud is not None and len(cloud):
                slot.cloud.setData(pos=camera_to_view(cloud), color=CLOUD_RGBA[hand.side])
                slot.cloud.setVisible(True)
            else:
                slot.cloud.setVisible(False)
        for slot in self._slots[len(result.hands):]:
            slot.hide()
        self.frames_drawn += 1
        self.update()

    def visible_hands(self) -> int:
        return sum(slot.bones.visible() for slot in self._slots)
