"""Is there a working OpenGL for pyqtgraph's 3D view? Qt's "offscreen" platform, a remote X
session without GLX, or a missing PyOpenGL all make GLViewWidget fail; the window then falls back
to a 2D-only view and says why."""

from __future__ import annotations

from PyQt6.QtCore import QCoreApplication, Qt
from PyQt6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext


def opengl_problem() -> str | None:
    """None when an OpenGL context can be created and made current, else a one-line reason with
    the fix. Needs a QGuiApplication."""
    platform = QGuiApplication.platformName()
    try:
        from OpenGL import GL  # noqa: F401  (pyqtgraph.opengl needs PyOpenGL)
    except ImportError as e:
        return f"PyOpenGL cannot be imported ({e}); install it with `pip install PyOpenGL`"
    context = QOpenGLContext()
    if not context.create():
        return (f"no OpenGL on the Qt platform {platform!r}; run on a desktop with OpenGL "
                "drivers (or under Xvfb with Mesa and QT_QPA_PLATFORM=xcb)")
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    try:
        if not surface.isValid() or not context.makeCurrent(surface):
            return f"an OpenGL context exists on {platform!r} but cannot be made current"
        fmt = context.format()
        if (fmt.majorVersion(), fmt.minorVersion()) < (2, 0):
            return (f"OpenGL {fmt.majorVersion()}.{fmt.minorVersion()} is too old for the 3D view "
                    "(2.0 or newer needed); update the graphics driver")
        context.doneCurrent()
    finally:
        surface.destroy()
    return None


def share_gl_contexts() -> None:
    """Call before the QApplication exists. pyqtgraph compiles each item type's shader once per
    process; with shared contexts that program stays valid for every later GL view (a second
    window, a test that opens several) instead of failing with GL_INVALID_VALUE."""
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts, True)
