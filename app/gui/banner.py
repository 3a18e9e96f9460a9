"""A dismissable banner across the top of the window for errors and notices that need the
user's attention (camera lost, no OpenGL, recording folder not writable)."""

from __future__ import annotations

from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

LEVEL_STYLE = {
    "error": "background: #5c1f24; color: #ffd9dc; border-bottom: 1px solid #a8434b;",
    "warning": "background: #5a4714; color: #ffeeb8; border-bottom: 1px solid #a88a2c;",
    "info": "background: #1d3b57; color: #d6ebff; border-bottom: 1px solid #3f77a8;",
}


class Banner(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.level = "info"
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setObjectName("bannerText")
        self.label.setWordWrap(True)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setStyleSheet(f"QFrame#banner {{{LEVEL_STYLE[level]}}} QLabel {{ color: inherit; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
