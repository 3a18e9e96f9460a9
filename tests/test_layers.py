"""Dependency direction (ARCHITECTURE.md): model/ imports nothing of ours, nothing imports app/,
and the real-time core (everything in app/ except app/gui) imports no Qt. import-linter checks the
package layers statically (`lint-imports`, run by `make test`); this test checks at import time,
in a fresh interpreter per layer."""

import pkgutil
import subprocess
import sys

import app
import calibration
import model
import train

QT = {"PyQt6", "PyQt5", "PySide6", "pyqtgraph"}


def _modules(pkg, skip=()):
    names = [pkg.__name__]
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if not any(info.name == s or info.name.startswith(s + ".") for s in skip):
            names.append(info.name)
    return names


def _top_level_imported_after(modules: list[str]) -> set[str]:
    code = "import importlib, sys\n"
    code += "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return {m.split(".")[0] for m in out.stdout.split()}


def test_realtime_core_imports_no_qt():
    core = _modules(app, skip=("app.gui",))
    assert not _top_level_imported_after(core) & QT, f"one of {core} pulls in Qt"


def test_model_imports_nothing_of_ours():
    tops = _top_level_imported_after(_modules(model))
    assert not tops & ({"app", "train", "calibration"} | QT)


def test_train_and_calibration_never_import_app():
    mods = _modules(train) + _modules(calibration)
    tops = _top_level_imported_after(mods)
    assert "app" not in tops and not tops & QT
