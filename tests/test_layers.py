"""Dependency direction (ARCHITECTURE.md): model/ imports nothing of ours, nothing imports app/,
the real-time core (everything in app/ except app/gui) imports no Qt, and inside app/ the engine
and the sinks never import each other or the window, and the session format none of them.
import-linter checks the package layers statically (`lint-imports`, run by `make test`); this
test checks at import time, in a fresh interpreter per layer."""

import importlib
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


def _imported_after(modules: list[str]) -> set[str]:
    code = "import importlib, sys\n"
    code += "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def _top_level_imported_after(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in _imported_after(modules)}


def _within(names: set[str], packages: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in packages)}


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


def test_engine_sinks_and_session_format_stay_apart():
    """app.engine and app.sinks never import each other, the window or the entry point; the
    session format (app.session) imports none of them."""
    for layer, forbidden in (("app.engine", ("app.sinks", "app.gui", "app.cli")),
                             ("app.sinks", ("app.engine", "app.gui", "app.cli")),
                             ("app.session", ("app.engine", "app.sinks", "app.gui", "app.cli"))):
        names = _imported_after(_modules(importlib.import_module(layer)))
        assert not _within(names, forbidden), f"{layer} pulls in {_within(names, forbidden)}"
