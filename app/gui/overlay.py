"""The 2D overlay drawn on the video: bones coloured per finger, joints, a box around each hand,
a label with its id, side and confidence, and under the box a readout of its interaction signals
(gesture name, pinch strengths index .. little, grab) while gestures are on. Drawing is in frame
pixels (the painter's transform maps them onto the widget), pens are cosmetic so line widths stay
in screen pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen

from app.results import FrameResult, HandResult
from model.hand import BONE_FINGER, BONES, FINGER_COLORS, SIDE_NAMES

# Box and label colour per side (left, right): distinct from the finger colours.
SIDE_COLORS = ((90, 200, 250), (250, 140, 60))


@dataclass
class OverlayConfig:
    """bone_px / joint_px: line width and joint radius in screen pixels; box_margin: the box is the
    keypoints' bounding box grown by this fraction; label_pt: label font size."""

    bone_px: float = 3.0
    joint_px: float = 3.0
    box_margin: float = 0.12
    label_pt: float = 9.0


def qcolor(rgb: tuple[int, int, int], alpha: int = 255) -> QColor:
    return QColor(rgb[0], rgb[1], rgb[2], alpha)


def hand_box(uv_px: np.ndarray, margin: float) -> QRectF:
    """Bounding box of (21, 2) pixel keypoints, grown by margin of its larger side."""
    lo, hi = uv_px.min(axis=0), uv_px.max(axis=0)
    pad = margin * float(max(hi - lo))
    return QRectF(QPointF(lo[0] - pad, lo[1] - pad), QPointF(hi[0] + pad, hi[1] + pad))


def hand_label(hand: HandResult) -> str:
    return f"#{hand.hand_id} {SIDE_NAMES[hand.side]} {hand.confidence:.0%}"


def interaction_label(hand: HandResult) -> str:
    """The readout under a hand's box, e.g. "thumbs_up  pinch .92 .10 .03 .00  grab .41";
    "" when the hand has no interaction (gestures off)."""
    inter = hand.interaction
    if inter is None:
        return ""
    m = inter.measures
    pinch = " ".join(f"{float(v):.2f}".lstrip("0") for v in m.pinch)
    grab = f"{float(m.grab):.2f}".lstrip("0")
    return f"{inter.gesture}  pinch {pinch}  grab {grab}"


def _cosmetic_pen(color: QColor, width: float) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


def draw_hand(painter: QPainter, hand: HandResult, config: OverlayConfig, px_per_screen: float):
    """Draw one hand. px_per_screen: frame pixels per screen pixel (for joint radii and text)."""
    uv = hand.uv_px
    if not np.isfinite(uv).all():
        return
    shadow = _cosmetic_pen(QColor(0, 0, 0, 150), config.bone_px + 2.0)
    painter.setPen(shadow)
    for parent, child in BONES:
        painter.drawLine(QPointF(*uv[parent]), QPointF(*uv[child]))
    for (parent, child), finger in zip(BONES, BONE_FINGER):
        painter.setPen(_cosmetic_pen(qcolor(FINGER_COLORS[finger]), config.bone_px))
        painter.drawLine(QPointF(*uv[parent]), QPointF(*uv[child]))
    radius = config.joint_px * px_per_screen
    painter.setPen(_cosmetic_pen(QColor(30, 30, 30), 1.0))
    painter.setBrush(QBrush(QColor(250, 250, 250)))
    for u, v in uv:
        painter.drawEllipse(QPointF(u, v), radius, radius)

    side_color = qcolor(SIDE_COLORS[hand.side])
    box = hand_box(uv, config.box_margin)
    box_pen = _cosmetic_pen(side_color, 1.5)
    box_pen.setStyle(Qt.PenStyle.DashLine)
    painter.setPen(box_pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(box)

    font = QFont(painter.font())
    font.setPointSizeF(config.label_pt * px_per_screen)
    font.setBold(True)
    painter.setFont(font)
    text = hand_label(hand)
    metrics = QFontMetricsF(font)
    pad = 3.0 * px_per_screen
    w, h = metrics.horizontalAdvance(text) + 2 * pad, metrics.height() + pad
    top = box.top() - h if box.top() - h >= 0 else box.top()
    tag = QRectF(box.left(), top, w, h)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(side_color))
    painter.drawRoundedRect(tag, 3 * px_per_screen, 3 * px_per_screen)
    painter.setPen(QColor(15, 15, 15))
    painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)

    readout = interaction_label(hand)
    if readout:
        font.setBold(False)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        w, h = metrics.horizontalAdvance(readout) + 2 * pad, metrics.height() + pad
        tag = QRectF(box.left(), box.bottom(), w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor(20, 20, 20, 170)))
        painter.drawRoundedRect(tag, 3 * px_per_screen, 3 * px_per_screen)
        painter.setPen(side_color)
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, readout)


def draw_overlay(painter: QPainter, result: FrameResult, config: OverlayConfig,
                 px_per_screen: float) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    for hand in result.hands:
        draw_hand(painter, hand, config, px_per_screen)
