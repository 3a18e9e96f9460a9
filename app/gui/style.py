"""The dark theme: Qt's Fusion style with a dark palette, plus a few style-sheet touches."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication, QStyleFactory

STYLE_SHEET = """
QGroupBox {
    border: 1px solid #343a45; border-radius: 6px; margin-top: 14px; padding: 8px 6px 6px 6px;
    font-weight: bold;
}
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #8fb8ff; }
QDockWidget::title { background: #23272f; padding: 6px 8px; }
QScrollArea#controlPanel { border: none; }
QPushButton#record { font-weight: bold; padding: 7px; }
QPushButton#record[recording="true"] { background: #b3262f; color: white; }
QStatusBar { background: #15171c; color: #aab2bf; }
QStatusBar QLabel { padding: 0 8px; border-left: 1px solid #2c313a; font-family: monospace; }
QLabel#status_state { color: #ff6b73; font-weight: bold; }
QLabel#hint { color: #8a93a3; font-size: 9pt; }
QSplitter::handle { background: #2c313a; }
"""

PALETTE = {
    QPalette.ColorRole.Window: "#1b1e24",
    QPalette.ColorRole.WindowText: "#dfe3ea",
    QPalette.ColorRole.Base: "#262a33",
    QPalette.ColorRole.AlternateBase: "#2b303a",
    QPalette.ColorRole.ToolTipBase: "#2d333e",
    QPalette.ColorRole.ToolTipText: "#dfe3ea",
    QPalette.ColorRole.PlaceholderText: "#6f7784",
    QPalette.ColorRole.Text: "#dfe3ea",
    QPalette.ColorRole.Button: "#2d333e",
    QPalette.ColorRole.ButtonText: "#dfe3ea",
    QPalette.ColorRole.BrightText: "#ff6b73",
    QPalette.ColorRole.Highlight: "#4f78b8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#8fb8ff",
    QPalette.ColorRole.Light: "#3a404c",
    QPalette.ColorRole.Midlight: "#333944",
    QPalette.ColorRole.Mid: "#2a2f38",
    QPalette.ColorRole.Dark: "#15171c",
    QPalette.ColorRole.Shadow: "#0b0c0f",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in PALETTE.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7280"))
    return palette


def apply_theme(app: QApplication) -> None:
    """Fusion + the dark palette for the whole application (the window is its only one)."""
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    app.setPalette(dark_palette())
