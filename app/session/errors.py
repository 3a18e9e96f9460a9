"""The error a damaged or foreign session folder raises when it is read."""

from __future__ import annotations


class SessionError(ValueError):
    """A recorded session folder cannot be read (missing or corrupt files)."""
