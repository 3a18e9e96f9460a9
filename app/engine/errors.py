"""The one exception type for failures a user can cause (bad camera, path, model file...)."""

from __future__ import annotations


class EngineError(RuntimeError):
    """A user-caused failure. The message is one line: what went wrong and how to fix it.
    The CLI prints it as `error: <message>` and exits with status 2."""
