"""The README's screenshot (docs/screenshot.png) from the real window, not from a test.

    xvfb-run -a -s "-screen 0 1400x820x24" .venv/bin/python scripts/screenshot.py \
        [--after 20] [--out docs/screenshot.png] [-- handtrack flags, default --demo]

Runs `handtrack` (app.launch.main: the same command, defaults and saved-settings-free panel as
`make demo`) and saves the window, status bar included, `--after` seconds after it opened, then
closes it. Take it on an otherwise idle machine: the status bar shows the speed it ran at.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--after", type=float, default=20.0, help="seconds before the shot (20)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("flags", nargs="*", help="handtrack's flags after -- (default --demo)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from PyQt6.QtCore import QTimer

    from app.gui import main_window
    from app.launch import main as handtrack

    show = main_window.MainWindow.show

    def show_then_shoot(window) -> None:
        show(window)

        def shoot() -> None:
            window.snapshot().save(args.out)
            print(f"saved {args.out}")
            window.close()

        QTimer.singleShot(int(args.after * 1000), shoot)

    main_window.MainWindow.show = show_then_shoot
    with tempfile.TemporaryDirectory() as tmp:  # the panel's defaults, not this machine's
        os.environ["HANDTRACK_SETTINGS"] = str(Path(tmp) / "settings.ini")
        return handtrack(args.flags or ["--demo"])


if __name__ == "__main__":
    sys.exit(main())
